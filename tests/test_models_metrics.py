"""Metrics against hand-computed cases and against pycocotools (the reference)."""
import contextlib
import io

import numpy as np
import pytest

from monitor.metrics import BODY_SIGMAS_21, average_precision, head_pose_metrics, keypoint_metrics, oks
from monitor.metrics.headpose import bmae
from monitor.metrics.keypoints import keypoint_area


def test_head_metrics_hand_computed():
    truth = np.array([[0.0, 0.0, 0.0], [10.0, -3.0, 2.0], [-50.0, 20.0, 1.0], [179.0, 0.0, 0.0]])
    pred = truth + np.array([[1.0, -2.0, 0.5], [-1.0, 2.0, 0.5], [3.0, 0.0, -0.5], [2.0, 0.0, 0.0]])
    m = head_pose_metrics(truth, pred)
    # yaw errors 1,-1,3,2 (179+2 wraps to -179: error still +2)
    assert m.mae["yaw"] == pytest.approx(7 / 4)
    assert m.std["yaw"] == pytest.approx(np.std([1, -1, 3, 2]))
    assert m.rmse["yaw"] == pytest.approx(np.sqrt(15 / 4))
    # yaw bins by |truth|: [0,5): err 1; [10,15): 1; [50,55): 3; 179 is beyond k=120 -> not binned
    assert m.bmae["yaw"] == pytest.approx(np.mean([1, 1, 3]))
    assert m.bmae_bins["yaw"] == 3
    assert m.mae["avg"] == pytest.approx(np.mean([m.mae["yaw"], m.mae["pitch"], m.mae["roll"]]))
    all_err = (pred - truth).ravel()
    assert m.rmse["avg"] == pytest.approx(np.sqrt((all_err ** 2).mean()))
    assert "| MAE |" in m.table()


def test_bmae_equals_eq4_when_all_bins_populated():
    truth = np.arange(0.0, 125.0, 1.0)  # fills every bin i = 0..120
    err = np.abs(np.sin(truth))
    phis = [err[(truth >= i) & (truth < i + 5)].mean() for i in range(0, 121, 5)]
    value, bins = bmae(truth, err)
    assert bins == 25
    assert value == pytest.approx(np.mean(phis))


def test_head_metrics_rejects_bad_shapes():
    with pytest.raises(ValueError, match="yaw/pitch/roll"):
        head_pose_metrics(np.zeros((3, 2)), np.zeros((3, 2)))


def test_sigmas_follow_seed_001():
    assert BODY_SIGMAS_21.shape == (21,)
    assert BODY_SIGMAS_21[3] == 0.107 and BODY_SIGMAS_21[20] == 0.107  # Head, SpineShoulder
    assert BODY_SIGMAS_21[6] == 0.062 and BODY_SIGMAS_21[13] == 0.087 and BODY_SIGMAS_21[4] == 0.079


def test_oks_hand_computed():
    gt = np.zeros((21, 3))
    gt[:, 2] = 1
    gt[0, :2] = [3.0, 4.0]
    dt = np.zeros((21, 2))
    area = 100.0
    expected = (20 + np.exp(-25.0 / (2 * 100.0 * (2 * BODY_SIGMAS_21[0]) ** 2))) / 21
    assert oks(gt, area, dt) == pytest.approx(expected, abs=1e-12)


def test_ap_hand_computed():
    # two images; the higher-scored detection is right, the lower one wrong -> precision 1 up to recall .5
    ap = average_precision([np.array([[0.9]]), np.array([[0.1]])], [np.array([0.8]), np.array([0.3])],
                           thresholds=np.array([0.5]))
    assert ap[0] == pytest.approx(51 / 101)


def _coco_reference(gt, pred, conf, areas):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    n, k = gt.shape[:2]
    images = [{"id": i + 1} for i in range(n)]
    anns, dets = [], []
    for i in range(n):
        vis = gt[i, :, 2] > 0
        if not vis.any():
            continue
        kp = np.concatenate([gt[i, :, :2], np.where(vis, 2, 0)[:, None]], 1)
        anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                     "keypoints": kp.ravel().tolist(), "num_keypoints": int(vis.sum()), "area": float(areas[i]),
                     "bbox": [0, 0, 10, 10]})
        kd = np.concatenate([pred[i], np.ones((k, 1))], 1)
        dets.append({"image_id": i + 1, "category_id": 1, "keypoints": kd.ravel().tolist(),
                     "score": float(conf[i].mean())})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(k)]}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        res = coco.loadRes(dets)
        ev = COCOeval(coco, res, "keypoints")
        ev.params.kpt_oks_sigmas = BODY_SIGMAS_21.copy()
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoint_ap_agrees_with_pycocotools(seed):
    rng = np.random.default_rng(seed)
    n, k = 60, 21
    gt = np.zeros((n, k, 3))
    gt[:, :, :2] = rng.uniform(50, 400, (n, k, 2))
    gt[:, :, 2] = rng.uniform(size=(n, k)) > 0.2
    gt[0, :, 2] = 0  # an image with nothing labelled
    noise = rng.normal(0, 1, (n, 1, 1)) * rng.uniform(2, 40, (n, 1, 1))
    pred = gt[:, :, :2] + rng.normal(0, 1, (n, k, 2)) * np.abs(noise)
    conf = rng.uniform(size=(n, k))
    areas = np.array([keypoint_area(g) for g in gt])
    ours = keypoint_metrics(gt, pred, conf, areas)
    ref = _coco_reference(gt, pred, conf, areas)
    assert ours.map == pytest.approx(ref[0], abs=1e-6)
    assert ours.ap50 == pytest.approx(ref[1], abs=1e-6)
    assert ours.ap75 == pytest.approx(ref[2], abs=1e-6)
    assert 0.0 < ours.map < 1.0
    assert set(ours.per_joint) == set(__import__("monitor.estimates", fromlist=["JOINTS_21"]).JOINTS_21)


def test_perfect_predictions_score_one():
    rng = np.random.default_rng(3)
    gt = np.concatenate([rng.uniform(0, 300, (10, 21, 2)), np.ones((10, 21, 1))], 2)
    m = keypoint_metrics(gt, gt[:, :, :2], np.ones((10, 21)))
    assert m.map == pytest.approx(1.0) and all(v == pytest.approx(1.0) for v in m.per_joint.values())

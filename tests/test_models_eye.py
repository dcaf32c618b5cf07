"""Eye gaze: head-aligned IR eye crops, their labels, the eye model's contract and training, the
estimator's eye stage and the classifier's use of the eye ray."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from calib.layout import load_layout
from calib.transforms import rotation_from_vector
from exporters.export import export_model
from gaze_fakes import head_pose
from monitor.estimates import Estimates, EyeGaze
from monitor.estimator.contract import CONTRACT_KEY, ModelContract
from monitor.estimator.eye_crop import BOX_MM, CROP_HEIGHT, CROP_WIDTH, eye_angles, eye_crop, eye_direction, eye_grid
from monitor.estimator.eye_gaze import EyeSpec, estimate_eyes
from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import ModelLoadError, OnnxModel
from monitor.frames import Intrinsics
from monitor.gaze import GazeZoneClassifier
from monitor.gaze.ray import angles_to_direction, direction_to_angles
from monitor.validate import WireError, estimates_from_meta
from train.eye import angular_errors, eye_contract, eye_metrics, train_eye
from train.eye_data import frame_crops

torch.set_num_threads(2)
LAYOUTS = Path(__file__).resolve().parents[1] / "calib" / "layouts"
INTR = Intrinsics(848, 480, 446.8, 446.8, 423.5, 239.5)


def test_eye_angles_and_direction_are_inverse_and_forward_is_minus_z():
    assert np.allclose(eye_direction(0.0, 0.0), [0, 0, -1])
    for a, b in [(0, 0), (20, -10), (-35, 15), (5, 30)]:
        d = eye_direction(a, b)
        assert abs(np.linalg.norm(d) - 1) < 1e-12
        assert np.allclose(eye_angles(d), (a, b), atol=1e-9)
    assert eye_angles([0.5, 0, -1])[0] > 0 and eye_angles([0, 0.5, -1])[1] > 0  # towards +x, +y


def test_eye_grid_spans_the_box_on_the_head_plane():
    centre = np.array([30.0, -20.0, 700.0])
    rot = rotation_from_vector(np.radians([5.0, -20.0, 12.0]))
    u, v = eye_grid(INTR.fx, INTR.fy, INTR.cx, INTR.cy, centre, rot)
    assert u.shape == v.shape == (CROP_HEIGHT, CROP_WIDTH)
    # the crop's middle is the projection of the centre; its corner the projection of centre + half box
    mid = (u[CROP_HEIGHT // 2 - 1:CROP_HEIGHT // 2 + 1, CROP_WIDTH // 2 - 1:CROP_WIDTH // 2 + 1].mean(),
           v[CROP_HEIGHT // 2 - 1:CROP_HEIGHT // 2 + 1, CROP_WIDTH // 2 - 1:CROP_WIDTH // 2 + 1].mean())
    proj = lambda p: (INTR.fx * p[0] / p[2] + INTR.cx, INTR.fy * p[1] / p[2] + INTR.cy)
    assert np.allclose(mid, proj(centre), atol=0.05)
    h, w = BOX_MM
    corner = centre + rot[:, 0] * (-w / 2 + w / CROP_WIDTH / 2) + rot[:, 1] * (-h / 2 + h / CROP_HEIGHT / 2)
    assert np.allclose((u[0, 0], v[0, 0]), proj(corner), atol=1e-3)


def test_eye_crop_follows_the_head_frame_and_refuses_boxes_off_image():
    # a bright dot 20 mm along the head's x axis from the centre lands right of the crop's middle,
    # however the head is rolled
    img = np.zeros((480, 848), np.uint8)
    centre = np.array([0.0, 0.0, 600.0])
    for roll in (0.0, 30.0, -45.0):
        rot = rotation_from_vector(np.radians([0.0, 0.0, roll]))
        p = centre + 20.0 * rot[:, 0]
        img[:] = 40
        u, v = INTR.fx * p[0] / p[2] + INTR.cx, INTR.fy * p[1] / p[2] + INTR.cy
        img[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2] = 255
        crop = eye_crop(img, INTR, centre, rot)
        r, c = np.unravel_index(np.argmax(crop), crop.shape)
        assert abs(r - (CROP_HEIGHT / 2 - 0.5)) <= 1.5 and abs(c - (CROP_WIDTH / 2 - 0.5 + 20 / BOX_MM[1] * CROP_WIDTH)) <= 1.5
        assert abs(crop.mean()) < 1e-4  # normalised
    assert eye_crop(img, INTR, np.array([600.0, 0.0, 600.0]), np.eye(3)) is None


def _labels(gaze_head_deg=(12.0, -6.0), jitter_rot=np.radians([0.0, 25.0, 5.0])):
    rot = rotation_from_vector(jitter_rot)
    pos = np.array([20.0, -30.0, 700.0])
    mid = pos + rot @ np.array([0.0, 0.0, 2.0])
    return {"head": {"rotation": rot.tolist(), "position_mm": pos.tolist(),
                     "eyes_mm": [(mid + rot[:, 0] * 31).tolist(), (mid - rot[:, 0] * 31).tolist()]},
            "gaze": {"direction": (rot @ eye_direction(*gaze_head_deg)).tolist()}}


def test_eye_data_labels_are_relative_to_the_frame_each_crop_was_cut_in_or_to_the_true_head():
    labels = _labels()
    ir = np.random.default_rng(0).integers(0, 255, (480, 848), dtype=np.uint8)
    crops, angles, first, offset = frame_crops(ir, INTR, labels, np.random.default_rng(1), 5)
    assert len(crops) == 5 and first == [True, False, False, False, False]
    assert all(np.abs(c - crops[0]).mean() > 0.1 for c in crops[1:])  # jittered frames cut other crops
    assert np.allclose(angles[0], (12.0, -6.0), atol=1e-6)  # the true frame: the true eye-in-head gaze
    # jittered frames (the default, "crop"): a label of their own
    assert all(np.hypot(*(np.subtract(a, angles[0]))) > 0.1 for a in angles[1:])
    assert np.allclose(offset, [0.0, 0.0, 2.0], atol=1e-9)
    # "true-head": the same crops, all labelled with the true head's eye-in-head gaze
    crops_t, angles_t, _, _ = frame_crops(ir, INTR, labels, np.random.default_rng(1), 5, label_frame="true-head")
    assert all(np.array_equal(c, d) for c, d in zip(crops, crops_t))
    assert np.allclose(angles_t, [(12.0, -6.0)] * 5, atol=1e-6)
    with pytest.raises(ValueError, match="label_frame"):
        frame_crops(ir, INTR, labels, np.random.default_rng(1), 2, label_frame="head")


def test_angular_errors_and_metrics():
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, -5.0]])
    pred = np.array([[3.0, 0.0], [10.0, 4.0], [0.0, -5.0]])
    err = angular_errors(pred, truth)
    assert np.allclose(err, [3.0, 4.0, 0.0], atol=0.02)
    m = eye_metrics(pred, truth)
    assert m.crops == 3 and abs(m.mae_a_deg - 1.0) < 1e-9 and abs(m.angular_error_median_deg - 3.0) < 0.02


@pytest.fixture(scope="module")
def eye_onnx(tmp_path_factory):
    """A briefly trained eye model: crops whose bright pupil sits left/right of the middle as the
    label says, exported with its contract."""
    rng = np.random.default_rng(0)
    n = 256
    a = rng.uniform(-20, 20, n).astype(np.float32)
    x = np.zeros((n, CROP_HEIGHT, CROP_WIDTH), np.float32)
    for i in range(n):
        c = int(round(CROP_WIDTH / 2 + a[i] / 2))
        x[i, 12:20, c - 2:c + 2] = 3.0
    y = np.stack([a, np.zeros(n, np.float32)], 1)
    net, info = train_eye(x.astype(np.float16), y, minutes=None, max_steps=150, lr=3e-3)
    assert info["steps"] == 150
    path = tmp_path_factory.mktemp("eye") / "eye_gaze_ir.onnx"
    export_model(net, path, eye_contract(True, "test pupils", [0.0, 0.0, 2.0]), fp16=False)
    return path, x, y


def test_trained_eye_model_reads_the_label_and_carries_its_contract(eye_onnx):
    path, x, y = eye_onnx
    m = OnnxModel(path, ["cpu"])
    assert m.contract.task == "eye_gaze" and m.contract.modality == "ir"
    spec = EyeSpec.from_contract(m.contract)
    assert spec.eye_offset_mm == (0.0, 0.0, 2.0) and spec.has_spread
    assert m.contract.outputs[0]["order"] == ["a", "b", "spread"]
    pred = m.run(x[:64, None])["angles"]
    assert pred.shape == (64, 3) and np.all(pred[:, 2] > 0)
    spread = np.mean(np.abs(y[:64, 0] - y[:64, 0].mean()))
    assert np.mean(np.abs(pred[:, 0] - y[:64, 0])) < 0.5 * spread  # it learned something of a


def test_eye_contract_mismatches_are_refused(eye_onnx):
    path, _, _ = eye_onnx
    raw = json.loads(OnnxModel(path, ["cpu"]).contract.to_metadata()[CONTRACT_KEY])
    for change, match in (({"modality": "depth"}, "IR eye crops"),
                          ({"crop": {**raw["crop"], "box_mm": [40.0, 80.0]}}, "this runtime cuts"),
                          ({"task": "head_pose"}, "expected 'eye_gaze'"),
                          ({"outputs": [{**raw["outputs"][0], "order": ["b", "a"]}]}, "this runtime reads")):
        c = ModelContract.from_metadata({CONTRACT_KEY: json.dumps({**raw, **change})})
        with pytest.raises(ValueError, match=match):
            EyeSpec.from_contract(c)


def test_estimate_eyes_turns_the_model_angles_by_the_head_rotation():
    spec = EyeSpec("angles", (0.0, 0.0, 2.0))
    rot = rotation_from_vector(np.radians([0.0, 20.0, 0.0]))
    from monitor.estimates import HeadPose
    head = HeadPose(0.0, 0.0, 0.0, rot, np.array([10.0, -20.0, 650.0]), (0.0, 0.0), (0, 0, 1, 1))
    ir = np.random.default_rng(0).integers(0, 255, (480, 848), dtype=np.uint8)
    calls = []

    def run(batch):  # a fake model: a fixed reading, mirrored for the flipped crop
        calls.append(batch.shape)
        return np.array([[8.0, -3.0], [-8.0, -3.0]][:len(batch)], np.float32)

    eyes = estimate_eyes(run, spec, ir, INTR, head)
    assert calls == [(2, 1, CROP_HEIGHT, CROP_WIDTH)]
    assert eyes.in_head_deg == (8.0, -3.0)
    assert np.allclose(eyes.direction, rot @ eye_direction(8.0, -3.0))
    assert np.allclose(eyes.origin_mm, head.position_mm + rot @ [0.0, 0.0, 2.0])
    no_depth = HeadPose(0.0, 0.0, 0.0, rot, None, (0.0, 0.0), (0, 0, 1, 1))
    assert estimate_eyes(run, spec, ir, INTR, no_depth) is None
    assert eyes.spread_deg is None  # a model without the spread output

    def run_spread(batch):  # the same reading with a spread per crop
        return np.array([[8.0, -3.0, 2.0], [-8.0, -3.0, 4.0]][:len(batch)], np.float32)

    eyes = estimate_eyes(run_spread, EyeSpec("angles", (0.0, 0.0, 2.0), has_spread=True), ir, INTR, head)
    assert eyes.in_head_deg == (8.0, -3.0) and eyes.spread_deg == 3.0  # both crops' mean
    nan_spread = estimate_eyes(lambda b: np.array([[8.0, -3.0, np.nan], [-8.0, -3.0, 4.0]], np.float32),
                               EyeSpec("angles", (0.0, 0.0, 2.0), has_spread=True), ir, INTR, head)
    assert nan_spread.spread_deg is None and nan_spread.in_head_deg == (8.0, -3.0)


def test_pose_estimator_runs_the_eye_model_on_a_synthetic_frame(eye_onnx):
    from synth.scene import Scene
    path, _, _ = eye_onnx
    est = PoseEstimator.load(None, None, ["cpu"], eye_path=path)
    fs = Scene(seed=10001, scenario="drive").frameset(40)
    out = est.estimate(fs)
    assert out.head is not None and out.eyes is not None
    assert abs(np.linalg.norm(out.eyes.direction) - 1) < 1e-9
    assert "eye" in est.last_timings_ms and est.last_timings_ms["eye"] > 0
    assert [m["task"] for m in est.describe()] == ["body_joints", "head_pose", "eye_gaze"]
    # the eyes' midpoint lies within a few cm of the true one
    truth = np.mean(np.asarray(fs.truth["head"]["eyes_mm"]), axis=0)
    assert np.linalg.norm(out.eyes.origin_mm - truth) < 40
    with pytest.raises(ModelLoadError, match="not a eye_gaze model"):
        PoseEstimator.load(None, None, ["cpu"], eye_path=str(PoseEstimator.load(None, None, ["cpu"]).head.path))


def test_estimates_with_eyes_round_trip_and_bad_eyes_are_refused():
    eyes = EyeGaze(np.array([1.0, 2.0, 600.0]), np.array([0.0, 0.0, -1.0]), (3.0, -2.0))
    d = Estimates(eyes=eyes).to_json()
    back = estimates_from_meta({"estimates": json.loads(json.dumps(d))})
    assert np.allclose(back.eyes.origin_mm, eyes.origin_mm) and back.eyes.in_head_deg == (3.0, -2.0)
    assert "eyes" not in Estimates().to_json()  # no eye model: the message is as before
    with pytest.raises(WireError, match="eyes.direction"):
        estimates_from_meta({"estimates": {**d, "eyes": {**d["eyes"], "direction": [1, 2]}}})
    assert back.eyes.spread_deg is None and "spread_deg" not in d["eyes"]
    spread = Estimates(eyes=EyeGaze(eyes.origin_mm, eyes.direction, (3.0, -2.0), 2.5)).to_json()
    assert estimates_from_meta({"estimates": json.loads(json.dumps(spread))}).eyes.spread_deg == 2.5
    for bad in (-1.0, 0.0, "2", True, float("nan")):
        with pytest.raises(WireError, match="spread_deg"):
            estimates_from_meta({"estimates": {**spread, "eyes": {**spread["eyes"], "spread_deg": bad}}})


def test_classifier_follows_the_eye_ray_not_the_head():
    layout = load_layout(LAYOUTS / "synthetic_cabin.json")
    clf = GazeZoneClassifier(layout)
    cam = layout.camera_pose
    head_mm = layout.nominal_head_mm
    road = direction_to_angles(layout.zone("road").target_mm(head_mm) - head_mm)
    head = head_pose(angles_to_direction(*road), head_mm, cam)  # the face points at the road
    assert clf.classify(head).zone == "road"
    for zone in ("media_centre", "left_mirror", "dashboard"):
        target = layout.zone(zone).target_mm(head_mm) - head_mm
        eyes = EyeGaze(cam.to_camera(head_mm), cam.rotation.T @ (target / np.linalg.norm(target)), (0.0, 0.0))
        est = clf.classify(head, eyes=eyes)
        assert est.zone == zone, (zone, est.probabilities)
        assert np.allclose(est.head_angles_deg, road, atol=1e-6)  # the head's own direction is still reported
    bad = EyeGaze(np.array([np.nan, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), (0.0, 0.0))
    assert clf.classify(head, eyes=bad).zone == "road"  # an unusable eye ray falls back to the head


def test_eye_weight_blends_the_eye_ray_with_the_head_model_and_shares_the_road_offset():
    layout = load_layout(LAYOUTS / "synthetic_cabin.json")
    clf = GazeZoneClassifier(layout)
    cam, head_mm = layout.camera_pose, layout.nominal_head_mm
    head = head_pose(angles_to_direction(0.0, 0.0), head_mm, cam)
    eyes = EyeGaze(cam.to_camera(head_mm), cam.rotation.T @ angles_to_direction(20.0, 10.0), (0.0, 0.0))
    head_only = clf.classify(head).gaze_angles_deg
    clf.eye_weight = 0.5
    clf.head_offset_deg = (2.0, -1.0)
    model = clf.gaze_angles((2.0, -1.0))  # the head-only model at the offset head direction
    got = clf.classify(head, eyes=eyes).gaze_angles_deg
    assert np.allclose(got, ((model[0] + 22.0) / 2, (model[1] + 9.0) / 2), atol=1e-9)
    clf.eye_weight, clf.head_offset_deg = 0.0, (0.0, 0.0)
    assert np.allclose(clf.classify(head, eyes=eyes).gaze_angles_deg, head_only)


def test_head_spread_weighs_the_eyes_by_their_spread():
    from monitor.gaze.classifier import inverse_variance_share
    layout = load_layout(LAYOUTS / "synthetic_cabin.json")
    clf = GazeZoneClassifier(layout)
    cam, head_mm = layout.camera_pose, layout.nominal_head_mm
    head = head_pose(angles_to_direction(0.0, 0.0), head_mm, cam)
    eye_dir = cam.rotation.T @ angles_to_direction(20.0, 10.0)
    model = clf.gaze_angles((0.0, 0.0))

    def gaze(spread):
        return clf.classify(head, eyes=EyeGaze(cam.to_camera(head_mm), eye_dir, (0.0, 0.0), spread)).gaze_angles_deg

    assert np.allclose(gaze(3.0), (20.0, 10.0), atol=1e-9)  # head_spread unset: the eye weight alone
    clf.head_spread_deg = 4.0
    w = 16.0 / (16.0 + 9.0)
    assert abs(inverse_variance_share(4.0, 3.0) - w) < 1e-12
    assert np.allclose(gaze(3.0), (model[0] + w * (20.0 - model[0]), model[1] + w * (10.0 - model[1])), atol=1e-9)
    assert np.allclose(gaze(None), (20.0, 10.0), atol=1e-9)  # a model without spread: as before
    far = gaze(400.0)  # unreadable eyes: back to the head-only gaze, nearly
    assert np.hypot(far[0] - model[0], far[1] - model[1]) < 0.01


def test_stage_config_sets_and_checks_the_eye_weight():
    from monitor.gaze import GazeStateStage
    from monitor.gaze.stage import GazeStateConfig
    layout = load_layout(LAYOUTS / "synthetic_cabin.json")
    assert GazeStateStage(layout, config=GazeStateConfig(eye_weight=0.25)).classifier.eye_weight == 0.25
    with pytest.raises(ValueError, match="eye_weight"):
        GazeStateConfig(eye_weight=1.5)
    assert GazeStateStage(layout, config=GazeStateConfig(head_spread_deg=5.0)).classifier.head_spread_deg == 5.0
    assert GazeStateStage(layout).classifier.head_spread_deg is None  # chosen on the validation drives
    assert GazeStateStage(layout, config=GazeStateConfig(head_spread_deg=None)).classifier.head_spread_deg is None
    with pytest.raises(ValueError, match="head_spread_deg"):
        GazeStateConfig(head_spread_deg=0.0)


def test_spread_output_learns_which_crops_cannot_be_read():
    # readable crops: a bright pupil where the label says; unreadable: blank, with random labels
    rng = np.random.default_rng(1)
    n = 256
    a = rng.uniform(-20, 20, n).astype(np.float32)
    x = np.zeros((n, CROP_HEIGHT, CROP_WIDTH), np.float32)
    readable = np.arange(n) % 4 != 0
    for i in np.flatnonzero(readable):
        c = int(round(CROP_WIDTH / 2 + a[i] / 2))
        x[i, 12:20, c - 2:c + 2] = 3.0
    b = np.where(readable, 0.0, rng.uniform(-20, 20, n)).astype(np.float32)
    y = np.stack([a, b], 1)
    net, _ = train_eye(x.astype(np.float16), y, minutes=None, max_steps=300, lr=3e-3, batch=32)
    with torch.no_grad():
        out = net(torch.from_numpy(x[:, None])).numpy()
    assert np.median(np.abs(out[readable, 0] - a[readable])) < 3.0  # the angles were learned
    # untrained, both medians agree to 1 % (seeds 0-2); after 300 steps 1.38x apart, and still rising
    assert np.median(out[~readable, 2]) > 1.2 * np.median(out[readable, 2])


def test_spread_nll_is_least_at_the_per_axis_mean_squared_error():
    from train.eye import spread_nll
    sq = torch.tensor([0.01, 0.04, 0.25, 0.0])  # squared 2-D errors
    s = torch.linspace(0.02, 1.0, 2000)
    nll = torch.stack([spread_nll(sq, torch.full_like(sq, v)) for v in s])
    best = float(s[int(torch.argmin(nll))])
    assert abs(best ** 2 - float(sq.mean()) / 2) < 2e-3


def test_balance_weights_favour_rare_gaze_bins():
    from train.eye import balance_weights
    y = np.concatenate([np.zeros((900, 2)), np.full((100, 2), 22.0)]).astype(np.float32)
    p = balance_weights(y, 1.0)
    assert abs(p.sum() - 1) < 1e-9 and abs(p[900:].sum() - 0.5) < 1e-9  # each bin drawn alike
    assert balance_weights(y, 0.0) is None


def test_eye_data_and_train_eye_commands_write_a_set_a_model_and_its_card(tmp_path):
    from train.eye import main as eye_main
    from train.eye_data import main as data_main
    data_main(["--out", str(tmp_path / "train.npz"), "--scenes", "3", "--frames-per-scene", "2"])
    data_main(["--out", str(tmp_path / "test.npz"), "--scenes", "2", "--frames-per-scene", "2",
               "--seed-base", "10000", "--crops", "2"])
    d = np.load(tmp_path / "train.npz")
    assert d["x"].shape[1:] == (CROP_HEIGHT, CROP_WIDTH) and len(d["x"]) == len(d["y"]) == len(d["first"])
    assert d["first"].sum() <= 6 and set(d["seed"].tolist()) <= {0, 1, 2}
    eye_main(["--train", str(tmp_path / "train.npz"), "--test", str(tmp_path / "test.npz"), "--max-steps", "20",
              "--out", str(tmp_path / "models")])
    model = OnnxModel(tmp_path / "models" / "eye_gaze_ir.onnx", ["cpu"])
    assert model.contract.task == "eye_gaze" and model.contract.metrics["unjittered"]["crops"] > 0
    assert model.contract.raw["crop"]["locator"] == "eye_locate_ir.onnx"  # the default --locator
    eye_main(["--train", str(tmp_path / "train.npz"), "--test", str(tmp_path / "test.npz"), "--max-steps", "2",
              "--locator", "", "--out", str(tmp_path / "lone")])
    assert "locator" not in OnnxModel(tmp_path / "lone" / "eye_gaze_ir.onnx", ["cpu"]).contract.raw["crop"]
    card = (tmp_path / "models" / "eye_gaze_ir.md").read_text()
    assert "seeds 0-2" in card and "20 steps" in card and "| true head frame |" in card


def test_pipeline_runs_the_shipped_eye_model_by_default_and_refuses_a_wrong_one(tmp_path):
    from monitor.estimator.pipeline import DEFAULT_HEAD_MODEL
    from pipeline_helpers import results, run, summary
    out = tmp_path / "run"
    code, output = run(out, "--source", "synthetic:seed=10001,scenario=drive", "--fast", "--max-frames", "8",
                       timeout=120)  # no --eye-model: the shipped one
    assert code == 0, output
    rows = results(out)
    with_head = [r for r in rows if r["estimates"]["head"]]
    assert len(rows) == 8 and len(with_head) >= 6
    eyes = [r["estimates"]["eyes"] for r in with_head]  # a KeyError here: no eye ray with a head
    assert all(abs(np.linalg.norm(e["direction"]) - 1) < 1e-3 for e in eyes)
    from exporters.eye_net import SPREAD_BASE_DEG, SPREAD_LOG_RANGE
    lo, hi = SPREAD_BASE_DEG * np.exp(-SPREAD_LOG_RANGE), SPREAD_BASE_DEG * np.exp(SPREAD_LOG_RANGE)
    assert all(lo - 1e-3 <= e["spread_deg"] <= hi + 1e-3 for e in eyes)  # the shipped model has the spread output
    assert [m["task"] for m in summary(out)["models"]] == ["body_joints", "head_pose", "eye_gaze", "eye_locate",
                                                           "face_cover"]
    code, output = run(tmp_path / "none", "--source", "synthetic:seed=10001,scenario=drive", "--fast",
                       "--max-frames", "4", "--eye-model", "none", timeout=120)
    assert code == 0, output
    assert all("eyes" not in r["estimates"] for r in results(tmp_path / "none"))
    assert [m["task"] for m in summary(tmp_path / "none")["models"]] == ["body_joints", "head_pose", "face_cover"]
    code, output = run(tmp_path / "missing", "--source", "synthetic:seed=10001", "--fast", "--max-frames", "3",
                       "--eye-model", str(tmp_path / "no_such.onnx"), timeout=120)
    assert code == 2 and "model file not found" in output and "--eye-model none" in output
    code, output = run(tmp_path / "bad", "--source", "synthetic:seed=10001", "--fast", "--max-frames", "3",
                       "--eye-model", str(DEFAULT_HEAD_MODEL), timeout=120)
    assert code == 2 and "not a eye_gaze model" in output and "Traceback" not in output

"""Evaluate the exported ONNX models (what ships) on a held-out synthetic test set.

- head pose, per modality, AutoPOSE protocol: crop at the labelled head centre/distance, frames with
  |yaw| > 120 deg left out; AutoPOSE Table 2 layout.
- head pose end to end: crop placed by the runtime's head localisation from the *predicted* body
  joints (monitor.estimator.pipeline), frames where that finds no head counted separately.
- both head figures again with test-time flip (the runtime's ``head_flip_test`` option: each crop
  and its mirror image, yaw and roll of the mirror's angles negated, averaged).
- depth head stress tests (with flip): every test crop with a synthetic hand in front of the face,
  and every test crop turned in the image plane (up to 15 deg, labels recomputed): the training
  augmentations of train.head, fixed seeds.
- body joints: the runtime path on full frames; AP@OKS .5/.75, mAP .5:.95 and per-joint mAP (seed
  001 Tables 2-3), once with every in-image joint labelled and once with only unoccluded joints;
  and with test-time flip (the runtime's ``body_flip_test`` option) on every in-image joint.

    python -m train.evaluate --models models --test /work/data/models/test [--out models/metrics.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from monitor.estimator import body_io
from monitor.estimator.head_crop import flip_test_angles
from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import ModelLoadError, OnnxModel
from monitor.frames import FrameSet
from monitor.metrics import head_pose_metrics, keypoint_metrics
from train.body import predict
from train.data import load_records
from train.head import MAX_ROTATION_DEG, TEST_MAX_ABS_YAW, evaluate, make_crops
from train.occlusion import occlude_batch
from train.rotation import rotate_batch


HEAD_FILES = {m: f"head_poseidon_{m}.onnx" for m in ("ir", "depth")}
BODY_FILE = "body_lite.onnx"


def _checked_model(path: Path, task: str, modality: str | None = None) -> OnnxModel:
    """Load ``path`` and hold it to what its file name promises, by its contract (task, image
    modality): a depth head saved under the IR name would otherwise be scored on IR crops, and
    --write-contracts would put those figures into it."""
    m = OnnxModel(path, ["cpu"])
    c = m.contract
    if c.task != task:
        raise ValueError(f"{path} is a {c.task} model (its contract says so), not {task}; pass the right file")
    if modality is not None and c.modality != modality:
        raise ValueError(f"{path} is a head model for {c.modality} images (its contract says so), not {modality}; "
                         f"name it {HEAD_FILES.get(c.modality, c.modality)}")
    return m


def evaluate_models(models: Path, test: list[str], body_name: str = BODY_FILE,
                    e2e_frames: int | None = None) -> dict:
    """Every expected model in ``models`` (head_poseidon_ir/depth.onnx, ``body_name``), each checked
    against its contract; ValueError when the folder is missing or holds none of them, or a file is
    not the model its name says (ModelLoadError when one cannot be loaded)."""
    models = Path(models)
    if not models.is_dir():
        raise ValueError(f"--models {models}: no such folder")
    heads = {m: _checked_model(models / name, "head_pose", m) for m, name in HEAD_FILES.items()
             if (models / name).is_file()}
    body = _checked_model(models / body_name, "body_joints") if (models / body_name).is_file() else None
    if not heads and body is None:
        raise ValueError(f"--models {models} holds none of {', '.join(HEAD_FILES.values())}, {body_name}: "
                         "nothing to evaluate")
    records = list(load_records(test))
    if not records:
        raise ValueError(f"--test {' '.join(test)}: no frames")
    out: dict = {"test": test, "frames": len(records)}
    for modality, m in heads.items():
        rays: list = []  # the crops' viewing rays, for the rotation stress test
        x, y = make_crops(records, modality, dict(m.contract.normalisation), max_abs_yaw=TEST_MAX_ABS_YAW,
                          rays=rays)
        met = evaluate(lambda b: m.run(b)["angles"], x, y)
        out[f"head_{modality}"] = met.to_dict()
        out[f"head_{modality}_table"] = met.table()
        order = tuple(m.contract.outputs[0].get("order", ("yaw", "pitch", "roll")))

        def run_flipped(b: np.ndarray, m: OnnxModel = m, order: tuple[str, ...] = order) -> np.ndarray:
            both = m.run(np.concatenate([b, b[..., ::-1]]))["angles"]
            return flip_test_angles(both.reshape(2, len(b), -1), order)

        flipped = evaluate(run_flipped, x, y)
        out[f"head_{modality}_flip_test"] = flipped.to_dict()
        out[f"head_{modality}_flip_test_table"] = flipped.table()
        if modality == "depth":
            out.update(_stress_tests(run_flipped, x, y, np.asarray(rays)))
    e2e_step = max(len(records) // e2e_frames, 1) if e2e_frames else 1
    if body is not None:
        c = body.contract
        stride = int(c.outputs[0]["stride"])
        gt, pred, conf = predict(lambda x: body.run(x)[c.outputs[0]["name"]], records, (c.height, c.width), stride,
                                 dict(c.normalisation), c.modality)
        labelled = keypoint_metrics(gt, pred, conf, names=c.joint_names)
        seen = np.array([r.joints_seen for r in records if r.image(c.modality) is not None])
        gt_seen = gt.copy()
        gt_seen[:, :, 2] = seen
        areas = np.array([_area(g) for g in gt])  # same s^2 as the labelled evaluation
        seen_m = keypoint_metrics(gt_seen, pred, conf, areas, names=c.joint_names)
        out["body"] = {"labelled": labelled.to_dict(), "unoccluded": seen_m.to_dict(),
                       "labelled_table": labelled.table(), "unoccluded_table": seen_m.table()}
        # with test-time flip (PoseEstimator(body_flip_test=True)): the frame and its mirror image
        perm = body_io.flip_permutation(tuple(c.joint_names))

        def run_flipped(x: np.ndarray) -> np.ndarray:
            return body_io.flip_test_heatmaps(lambda b: body.run(b)[c.outputs[0]["name"]], x, stride, perm)[None]

        _, pred_f, conf_f = predict(run_flipped, records, (c.height, c.width), stride, dict(c.normalisation),
                                    c.modality)
        flipped = keypoint_metrics(gt, pred_f, conf_f, names=c.joint_names)
        out["body"].update(labelled_flip_test=flipped.to_dict(), labelled_flip_test_table=flipped.table())
        for modality, head in heads.items():
            out[f"end_to_end_{modality}"] = _end_to_end(body, head, records[::e2e_step])
            out[f"end_to_end_{modality}_flip_test"] = _end_to_end(body, head, records[::e2e_step], head_flip=True)
    return out


def _stress_tests(run, x: np.ndarray, y: np.ndarray, rays: np.ndarray) -> dict:
    """The depth head (with flip) on the test crops changed the way the training augmentations
    change them, with fixed seeds: every crop with a synthetic hand in front of the face
    (train/occlusion.py), and every crop turned in the image plane by up to 15 deg with its label
    recomputed (train/rotation.py). They show robustness to those two changes only; the
    occluder is the training one, not a real hand."""
    occluded = evaluate(run, occlude_batch(x, np.random.default_rng(0), 1.0), y)
    xr, yr = rotate_batch(x, y, rays, np.random.default_rng(0), 1.0, MAX_ROTATION_DEG)
    rotated = evaluate(run, xr, yr)
    return {"head_depth_occluded_flip_test": occluded.to_dict(), "head_depth_occluded_flip_test_table": occluded.table(),
            "head_depth_rotated_flip_test": rotated.to_dict(), "head_depth_rotated_flip_test_table": rotated.table()}


def _area(g: np.ndarray) -> float:
    from monitor.metrics.keypoints import keypoint_area
    return keypoint_area(g)


def _end_to_end(body: OnnxModel, head: OnnxModel, records, head_flip: bool = False) -> dict:
    est = PoseEstimator(body, head, head_flip_test=head_flip)
    truth, pred, missed, centre_err = [], [], 0, []
    for r in records:
        if abs(r.head_ypr[0]) > TEST_MAX_ABS_YAW:
            continue
        fs = FrameSet("eval", 0, 0.0, {"depth": r.depth, "ir": r.ir}, {"depth": r.intrinsics, "ir": r.intrinsics},
                      r.depth_unit_mm)
        res = est.estimate(fs)
        if res.head is None:
            missed += 1
            continue
        truth.append(r.head_ypr)
        pred.append([res.head.yaw_deg, res.head.pitch_deg, res.head.roll_deg])
        centre_err.append(float(np.hypot(*(np.array(res.head.center_px) - r.head_center_px))))
    met = head_pose_metrics(np.array(truth), np.array(pred)) if truth else None
    return {"metrics": met.to_dict() if met else None, "table": met.table() if met else "",
            "frames": len(truth) + missed, "no_head": missed,
            "head_centre_error_px_median": float(np.median(centre_err)) if centre_err else None}


def contract_metrics(res: dict) -> dict[str, dict]:
    """Model file stem -> the contract ``metrics`` entries `evaluate_models`' results give it."""
    test_set = {"shards": res["test"], "frames": res["frames"]}
    out = {f"head_poseidon_{m}": {"test": res[f"head_{m}"], "test_flip": res.get(f"head_{m}_flip_test"),
                                  "test_set": test_set}
           for m in ("ir", "depth") if f"head_{m}" in res}
    if "body" in res:
        out["body"] = {"test": res["body"]["labelled"], "test_flip": res["body"].get("labelled_flip_test"),
                       "test_set": test_set}
    return out


def write_contract_metrics(models: Path, res: dict, body_name: str = BODY_FILE) -> list[Path]:
    from exporters.export import set_contract_metrics

    written = []
    for stem, metrics in contract_metrics(res).items():
        path = models / (body_name if stem == "body" else f"{stem}.onnx")
        written += set_contract_metrics(path, {k: v for k, v in metrics.items() if v is not None})
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models")
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--body", default=None, help=f"body model file in --models (default: {BODY_FILE}, skipped "
                    "when missing)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--e2e-frames", type=int, default=None, help="end-to-end check on about this many frames")
    ap.add_argument("--write-contracts", action="store_true",
                    help="also write these test figures into each evaluated model's contract (ONNX metadata "
                         "metrics.test / test_flip / test_set; fp16 variants too), so the file states what was "
                         "measured on this test set")
    args = ap.parse_args(argv)
    body_name = args.body or BODY_FILE
    try:
        # everything is checked before the (long) evaluation, and nothing is written on bad input
        if args.body and not (Path(args.models) / body_name).is_file():
            raise ValueError(f"--body {Path(args.models) / body_name}: no such model file")
        if args.e2e_frames is not None and args.e2e_frames < 1:
            raise ValueError(f"--e2e-frames must be >= 1 (got {args.e2e_frames})")
        if args.out and (Path(args.out).is_dir() or not Path(args.out).resolve().parent.is_dir()):
            raise ValueError(f"--out {args.out}: not a file in an existing folder")
        res = evaluate_models(Path(args.models), args.test, body_name, args.e2e_frames)
    except (ValueError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.write_contracts:
        for path in write_contract_metrics(Path(args.models), res, body_name):
            print(f"wrote the test figures into {path}'s contract")
    for key, value in res.items():
        if key.endswith("_table"):
            print(f"\n## {key}\n{value}")
        elif key == "body":
            print(f"\n## body (every in-image joint labelled)\n{value['labelled_table']}")
            print(f"\n## body (unoccluded joints only)\n{value['unoccluded_table']}")
            print(f"\n## body with test-time flip (every in-image joint labelled)\n{value['labelled_flip_test_table']}")
        elif key.startswith("end_to_end"):
            print(f"\n## {key}: {value['frames']} frames, no head found in {value['no_head']}, "
                  f"median head-centre error {value['head_centre_error_px_median']} px\n{value['table']}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""Fit the Head-joint -> head-centre correction of monitor/estimator/head_locate.py.

For each training frame the runtime locates the head from the shipped body model's Head joint
(locate_head: the joint's pixel and the visible surface's depth there); the labels give the
AutoPOSE head centre C and the head rotation R (head -> camera). The model

    C = surface point + R @ in_head + in_camera

(one offset that turns with the head, one fixed in the camera frame) is linear in the six unknowns;
it is solved by least squares, the worst 10 % of frames (body-model misses) are dropped and it is
solved again. The printed vectors go into head_locate.CENTRE_IN_HEAD_MM / CENTRE_IN_CAMERA_MM.

    python -m train.head_centre --train /work/data/models/train [--body models/body_lite.onnx] [--every 8]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from monitor.estimator.head_locate import SURFACE_TO_CENTRE_MM, locate_head
from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import OnnxModel
from monitor.frames import FrameSet
from monitor.geometry import backproject, euler_to_matrix
from train.data import load_records
from train.head import TEST_MAX_ABS_YAW
from train.records import FrameRecord


@dataclass(frozen=True)
class CentreFit:
    in_head_mm: tuple[float, float, float]
    in_camera_mm: tuple[float, float, float]
    frames: int
    residual_mm_median: tuple[float, float, float]


def fit_centre(surface_mm: np.ndarray, rotations: np.ndarray, centres_mm: np.ndarray,
               drop_worst: float = 0.1) -> CentreFit:
    """Least squares of centre = surface + R @ a + b over (N, 3) points and (N, 3, 3) rotations."""
    n = len(surface_mm)
    if n < 3:
        raise ValueError(f"need at least 3 frames to fit the head centre, got {n}")
    a = np.concatenate([rotations, np.broadcast_to(np.eye(3), (n, 3, 3))], axis=2).reshape(3 * n, 6)
    y = (centres_mm - surface_mm).reshape(3 * n)
    x, *_ = np.linalg.lstsq(a, y, rcond=None)
    err = np.abs(a @ x - y).reshape(n, 3).sum(1)
    keep = np.repeat(err <= np.quantile(err, 1.0 - drop_worst), 3)
    x, *_ = np.linalg.lstsq(a[keep], y[keep], rcond=None)
    residual = np.median(np.abs(a @ x - y).reshape(n, 3), axis=0)
    return CentreFit(_mm(x[:3]), _mm(x[3:]), n, _mm(residual))


def _mm(v: np.ndarray) -> tuple[float, float, float]:
    return tuple(round(float(c), 1) for c in v)  # type: ignore[return-value]


def centre_samples(records: Iterable[FrameRecord], estimator: PoseEstimator) -> tuple[np.ndarray, ...]:
    """(surface points, rotations, labelled centres) of the frames where the runtime finds a head by depth."""
    surface, rotations, centres = [], [], []
    for r in records:
        if r.head_ypr is None or r.head_center_px is None or abs(r.head_ypr[0]) > TEST_MAX_ABS_YAW:
            continue
        it = r.intrinsics
        fs = FrameSet("fit", 0, 0.0, {"depth": r.depth}, {"depth": it}, r.depth_unit_mm)
        joints = estimator.estimate_joints(fs)
        if joints is None:
            continue
        loc = locate_head(joints.names, joints.uv, joints.confidence, it.fx, it.fy, r.depth, r.depth_unit_mm)
        if loc is None or not loc.from_depth:
            continue
        surface.append(backproject(np.array(loc.center_px), np.array(loc.distance_mm - SURFACE_TO_CENTRE_MM),
                                   it.fx, it.fy, it.cx, it.cy))
        rotations.append(euler_to_matrix(*r.head_ypr))
        centres.append(backproject(np.array(r.head_center_px), np.array(r.head_distance_mm),
                                   it.fx, it.fy, it.cx, it.cy))
    return np.array(surface), np.array(rotations), np.array(centres)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True, help="training pack files or folders (train.data)")
    ap.add_argument("--body", default="models/body_lite.onnx", help="the body model the runtime ships")
    ap.add_argument("--every", type=int, default=8, help="use every N-th training frame")
    args = ap.parse_args(argv)
    if args.every < 1:
        ap.error("--every must be >= 1")
    estimator = PoseEstimator(OnnxModel(Path(args.body), ["cpu"]))
    records = (r for i, r in enumerate(load_records(args.train)) if i % args.every == 0)
    fit = fit_centre(*centre_samples(records, estimator))
    print(f"{fit.frames} frames; median |residual| per axis {fit.residual_mm_median} mm")
    print(f"CENTRE_IN_HEAD_MM = {fit.in_head_mm}")
    print(f"CENTRE_IN_CAMERA_MM = {fit.in_camera_mm}")


if __name__ == "__main__":
    main()

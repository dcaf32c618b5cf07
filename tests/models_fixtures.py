"""Small fixture data for the models tests: stick-figure depth frames with exact joints."""
from __future__ import annotations

import cv2
import numpy as np

from monitor.frames import Intrinsics
from train.records import FrameRecord

# a seated-driver-ish template in a 212x120 image (JOINTS_21 order)
TEMPLATE = np.array([
    [106, 95], [106, 75], [106, 45], [106, 28], [88, 52], [80, 72], [84, 90], [86, 96],
    [124, 52], [132, 72], [128, 90], [126, 96], [98, 96], [95, 108], [96, 118], [96, 119],
    [114, 96], [117, 108], [116, 118], [116, 119], [106, 52]], dtype=np.float64)
BONES = [(0, 1), (1, 20), (20, 2), (2, 3), (20, 4), (4, 5), (5, 6), (6, 7), (20, 8), (8, 9), (9, 10),
         (10, 11), (0, 12), (12, 13), (13, 14), (0, 16), (16, 17), (17, 18)]


def stick_record(rng: np.random.Generator, w: int = 212, h: int = 120, head: bool = True) -> FrameRecord:
    uv = TEMPLATE * [w / 212, h / 120] + rng.normal(0, 3, TEMPLATE.shape) + rng.normal(0, 4, (1, 2))
    depth = np.full((h, w), 1800, np.uint16)
    body_z = int(rng.uniform(650, 900))
    for a, b in BONES:
        cv2.line(depth, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), body_z, 5)
    cv2.circle(depth, tuple(int(v) for v in uv[3]), 9, body_z - 40, -1)
    ir = np.clip(255 - (depth.astype(np.float32) - 500) / 6, 0, 255).astype(np.uint8)
    intr = Intrinsics(w, h, 110.0, 110.0, (w - 1) / 2, (h - 1) / 2)
    vis = np.ones(21, bool)
    rec = FrameRecord(depth=depth, ir=ir, intrinsics=intr, joints_uv=uv, joints_vis=vis)
    if head:
        rec.head_center_px = uv[3].copy()
        rec.head_distance_mm = float(body_z)
        rec.head_ypr = rng.uniform(-30, 30, 3)
    return rec

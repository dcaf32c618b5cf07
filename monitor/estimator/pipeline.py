"""Frameset -> Estimates: body joints, then a head crop around the Head joint, then head pose.

Minimal first version (argmax decoding, fixed-size crop); the models work replaces the pre- and
post-processing with the paper's dynamic crop and sub-pixel decoding behind the same interface.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from monitor.estimates import Estimates, HeadPose, Joints
from monitor.estimator.session import OnnxModel
from monitor.frames import FrameSet
from monitor.geometry import euler_to_matrix

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_BODY_MODEL = MODELS_DIR / "body_lite.onnx"
DEFAULT_HEAD_MODEL = MODELS_DIR / "head_ir.onnx"


def normalise(image: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    if spec.get("kind") == "depth_mm":
        near, far = float(spec["near_mm"]), float(spec["far_mm"])
        x = (image.astype(np.float32) - near) / (far - near)
        return np.where(image > 0, np.clip(x, 0.0, 1.0), 0.0).astype(np.float32)
    return image.astype(np.float32) / 255.0


class PoseEstimator:
    def __init__(self, body: OnnxModel, head: OnnxModel) -> None:
        self.body, self.head = body, head
        self.last_timings_ms: dict[str, float] = {}

    @classmethod
    def load(cls, body_path: str | Path, head_path: str | Path, providers: Sequence[str],
             io_binding: bool = False) -> "PoseEstimator":
        body = OnnxModel(body_path or DEFAULT_BODY_MODEL, providers, io_binding)
        head = OnnxModel(head_path or DEFAULT_HEAD_MODEL, providers, io_binding)
        return cls(body, head)

    def describe(self) -> list[dict[str, Any]]:
        return [{"path": m.info.path, "task": m.contract.task, "modality": m.contract.modality,
                 "trained": m.contract.trained, "active_providers": list(m.info.active_providers),
                 "unavailable_providers": list(m.info.unavailable_providers),
                 "warmup_ms": round(m.info.warmup_ms, 2)} for m in (self.body, self.head)]

    def estimate(self, frameset: FrameSet) -> Estimates:
        t0 = time.perf_counter()
        bc = self.body.contract
        image = frameset.images[bc.modality]
        h, w = image.shape
        x = normalise(cv2.resize(image, (bc.width, bc.height), interpolation=cv2.INTER_NEAREST), bc.normalisation)
        t1 = time.perf_counter()
        heatmaps = next(iter(self.body.run(x[None, None]).values()))[0]
        t2 = time.perf_counter()
        k, hh, hw = heatmaps.shape
        flat = heatmaps.reshape(k, -1)
        idx = flat.argmax(axis=1)
        uv = np.stack([(idx % hw + 0.5) * w / hw, (idx // hw + 0.5) * h / hh], axis=1)
        joints = Joints(bc.joint_names, uv, np.full((k, 3), np.nan), flat.max(axis=1).astype(np.float64))
        head_index = bc.joint_names.index("Head") if "Head" in bc.joint_names else 0
        cu, cv_ = uv[head_index]
        half = 0.1 * w
        box = (cu - half, cv_ - half, cu + half, cv_ + half)
        hc = self.head.contract
        head_image = frameset.images[hc.modality]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        crop = head_image[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)]
        if crop.size == 0:
            crop = head_image
        crop = cv2.resize(crop, (hc.width, hc.height))
        t3 = time.perf_counter()
        angles = next(iter(self.head.run(normalise(crop, hc.normalisation)[None, None]).values()))[0]
        t4 = time.perf_counter()
        yaw, pitch, roll = (float(a) for a in angles[:3])
        head = HeadPose(yaw, pitch, roll, euler_to_matrix(yaw, pitch, roll), None, (float(cu), float(cv_)), box)
        self.last_timings_ms = {"pre": (t1 - t0 + t3 - t2) * 1e3, "body": (t2 - t1) * 1e3, "head": (t4 - t3) * 1e3}
        return Estimates(head=head, joints=joints)

"""One labelled frame, the common currency between data sources (synthetic shards, BIWI,
Watch-n-Patch) and the training/evaluation code.

Conventions are the runtime's: image pixels with centres at integers, camera frame mm,
head angles (yaw, pitch, roll) degrees per monitor/geometry.py, joints in JOINTS_21 order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitor.frames import Intrinsics


@dataclass
class FrameRecord:
    """depth: (H, W) uint16 in depth_unit_mm units (0 = none) or None; ir: (H, W) uint8 or None.
    joints_uv (21, 2) pixels and joints_vis (21,) bool (False = not labelled); head_* None when the
    source has no head label. group: identifiers used for held-out splits (subject, seed, mount...)."""

    depth: np.ndarray | None
    ir: np.ndarray | None
    intrinsics: Intrinsics
    depth_unit_mm: float = 1.0
    joints_uv: np.ndarray | None = None
    joints_vis: np.ndarray | None = None
    head_center_px: np.ndarray | None = None
    head_distance_mm: float | None = None
    head_ypr: np.ndarray | None = None
    joints_seen: np.ndarray | None = None  # (21,) bool: labelled AND not occluded (synthetic truth)
    group: dict = field(default_factory=dict)

    def image(self, modality: str) -> np.ndarray | None:
        if modality not in ("depth", "ir"):
            raise ValueError(f"modality must be 'depth' or 'ir', got {modality!r}")
        return self.depth if modality == "depth" else self.ir

"""2D joints -> 3D camera-frame points through the depth map and the intrinsics.

Each joint takes the median of the valid depths in a small window around its pixel (robust to
edge pixels and holes); this is the depth of the visible surface, not of the joint centre inside
the body. Joints off the image, without valid depth or below a confidence floor come out NaN.
"""
from __future__ import annotations

import numpy as np

from monitor.frames import Intrinsics
from monitor.geometry import backproject


def sample_depth(depth: np.ndarray, uv: np.ndarray, depth_unit_mm: float = 1.0, radius: int = 2) -> np.ndarray:
    """Median valid depth (mm) in a (2r+1)^2 window around each (K, 2) pixel; NaN if none."""
    h, w = depth.shape
    out = np.full(len(uv), np.nan)
    for k, (u, v) in enumerate(np.asarray(uv, dtype=np.float64)):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        c, r = int(round(u)), int(round(v))
        if not (0 <= c < w and 0 <= r < h):
            continue
        patch = depth[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1]
        valid = patch[patch > 0]
        if valid.size:
            out[k] = float(np.median(valid)) * depth_unit_mm
    return out


def lift_joints(uv: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, depth_unit_mm: float = 1.0,
                confidence: np.ndarray | None = None, min_confidence: float = 0.1,
                radius: int = 2) -> np.ndarray:
    """(K, 2) image pixels -> (K, 3) mm in the depth camera's frame (NaN where unknown)."""
    if depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f"depth image is {depth.shape[1]}x{depth.shape[0]} but its intrinsics say "
                         f"{intrinsics.width}x{intrinsics.height}; pass the depth stream's intrinsics")
    z = sample_depth(depth, uv, depth_unit_mm, radius)
    if confidence is not None:
        z[np.asarray(confidence) < min_confidence] = np.nan
    return backproject(uv, z, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)

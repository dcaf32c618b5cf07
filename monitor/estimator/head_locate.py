"""Where the head is, for the crop: from the body network's Head and Neck joints (no extra detector).

With depth: the centre pixel is the Head joint; D is the median valid depth around it (the face
surface) plus ``SURFACE_TO_CENTRE_MM``: the AutoPOSE head centre (mean of the eye corners) lies
25-50 mm behind the skin seen at the Head joint on the synthetic scenes, depending on the view.
Without depth (an IR-only camera, or holes at the head): D comes from the pixel length of the
Neck->Head segment and a typical 3D length of that segment: D ~= f * NECK_HEAD_MM / |uv_head - uv_neck|.
This is coarse (the segment foreshortens when the driver leans towards the camera, and it varies
between people by ~15 %), but the crop only needs D to set the box size, and the head models are
trained with +-10 % scale jitter on the box.
Returns None when the Head joint is not confident enough or no distance can be had.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from monitor.estimator.lifting import sample_depth

SURFACE_TO_CENTRE_MM = 35.0
NECK_HEAD_MM = 160.0  # synthetic occupants measure 157-163 mm (6 subjects); check on real skeletons
MIN_CONFIDENCE = 0.2


@dataclass(frozen=True)
class HeadLocation:
    center_px: tuple[float, float]
    distance_mm: float
    from_depth: bool


def locate_head(names: Sequence[str], uv: np.ndarray, confidence: np.ndarray, fx: float, fy: float,
                depth: np.ndarray | None = None, depth_unit_mm: float = 1.0,
                min_confidence: float = MIN_CONFIDENCE) -> HeadLocation | None:
    try:
        ih, iN = names.index("Head"), names.index("Neck")
    except ValueError:
        raise ValueError(f"body model joints {tuple(names)} lack 'Head' or 'Neck'; the head crop needs both") from None
    if confidence[ih] < min_confidence or not np.isfinite(uv[ih]).all():
        return None
    center = (float(uv[ih, 0]), float(uv[ih, 1]))
    if depth is not None:
        z = sample_depth(depth, uv[ih:ih + 1], depth_unit_mm, radius=3)[0]
        if np.isfinite(z):
            return HeadLocation(center, float(z + SURFACE_TO_CENTRE_MM), True)
    if confidence[iN] < min_confidence or not np.isfinite(uv[iN]).all():
        return None
    seg = float(np.hypot(*(uv[ih] - uv[iN])))
    if seg < 1.0:
        return None
    return HeadLocation(center, 0.5 * (fx + fy) * NECK_HEAD_MM / seg, False)

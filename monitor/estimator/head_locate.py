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

The Head joint is not the AutoPOSE head centre (the mean of the eye corners): on the synthetic
scenes a crop centred on the joint is off by ~15 px at the median (a 0.07 box shift the head
models never saw in training), mostly because the centre moves with the head's rotation (it lies
towards the face). Once a first crop has given the head's rotation R, ``refine_centre`` moves the
centre to surface point + R @ CENTRE_IN_HEAD_MM + CENTRE_IN_CAMERA_MM (for a head facing the
camera the two add up to ~27 mm behind the joint's surface, as SURFACE_TO_CENTRE_MM roughly says;
turned 60 deg, ~40 mm sideways, towards where the face points) and the estimator crops again
(pipeline.PoseEstimator, with depth only: the offsets were fitted on frames located by depth). The
median crop-centre error on the held-out set (every 3rd frame) drops from 15.8 to 6.8 px,
end-to-end head MAE from 4.90 to 3.47 deg with the depth head model, 4.41 to 3.45 with the IR one
(python -m train.evaluate).
The two vectors are a least-squares fit on training frames with the shipped body model
(`python -m train.head_centre`, which prints them); refit after retraining the body model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from monitor.estimator.lifting import sample_depth
from monitor.geometry import backproject, project

SURFACE_TO_CENTRE_MM = 35.0
NECK_HEAD_MM = 160.0  # synthetic occupants measure 157-163 mm (6 subjects); check on real skeletons
MIN_CONFIDENCE = 0.2
# python -m train.head_centre --train DATA/train (every 8th training frame: 736 with a head found by
# depth; median residual 2.9 / 4.6 / 3.2 mm per axis) with models/body_lite.onnx
CENTRE_IN_HEAD_MM = (5.2, 13.8, -40.8)     # turns with the head (-z: out of the face)
CENTRE_IN_CAMERA_MM = (-5.8, -11.9, 68.3)  # fixed in the camera frame (mostly along the view ray)


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


def refine_centre(loc: HeadLocation, rotation: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                  in_head_mm: Sequence[float] = CENTRE_IN_HEAD_MM,
                  in_camera_mm: Sequence[float] = CENTRE_IN_CAMERA_MM) -> HeadLocation | None:
    """The head centre given a first estimate of the head rotation (head -> camera); None when the
    moved centre would not lie in front of the camera."""
    surface = backproject(np.array(loc.center_px), np.array(loc.distance_mm - SURFACE_TO_CENTRE_MM), fx, fy, cx, cy)
    centre = surface + np.asarray(rotation, dtype=np.float64) @ np.asarray(in_head_mm) + np.asarray(in_camera_mm)
    if not centre[2] > 0:
        return None
    u, v = project(centre, fx, fy, cx, cy)
    return HeadLocation((float(u), float(v)), float(centre[2]), loc.from_depth)

"""Eye gaze from the IR image, given the head pose: crop (eye_crop.py) -> eye model -> camera ray.

The crop is cut in the estimated head frame at the eyes' midpoint, which the contract gives in
that frame (``crop.eye_offset_mm``, measured on the training faces); the model's eye-in-head
angles, turned by the same estimated rotation, are the gaze in the camera frame. Test-time flip:
the mirrored crop's `a` is negated and averaged in, as for the head model. A model with a
``spread`` output (its expected per-axis error) passes the mean of both crops' spreads on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from monitor.estimates import EyeGaze, HeadPose
from monitor.estimator.eye_crop import BOX_MM, CROP_HEIGHT, CROP_WIDTH, eye_crop, eye_direction


@dataclass(frozen=True)
class EyeSpec:
    """What the runtime reads from an eye_gaze contract."""

    output: str
    eye_offset_mm: tuple[float, float, float]
    has_spread: bool = False

    @classmethod
    def from_contract(cls, c: Any) -> "EyeSpec":
        if c.task != "eye_gaze":
            raise ValueError(f"eye model has task {c.task!r}; expected 'eye_gaze'")
        if c.modality != "ir":
            raise ValueError(f"eye model reads {c.modality!r}; this runtime cuts IR eye crops only")
        crop = c.raw.get("crop", {})
        if (c.height, c.width) != (CROP_HEIGHT, CROP_WIDTH) or tuple(crop.get("box_mm", ())) != BOX_MM:
            raise ValueError(f"eye model wants {c.width}x{c.height} crops of {crop.get('box_mm')} mm; this runtime "
                             f"cuts {CROP_WIDTH}x{CROP_HEIGHT} of {list(BOX_MM)} mm (monitor/estimator/eye_crop.py)")
        offset = tuple(float(v) for v in crop.get("eye_offset_mm", (0.0, 0.0, 0.0)))
        if len(offset) != 3:
            raise ValueError("eye model contract: crop.eye_offset_mm must have 3 numbers")
        order = tuple(c.outputs[0].get("order", ("a", "b")))
        if order not in (("a", "b"), ("a", "b", "spread")):
            raise ValueError(f"eye model outputs {list(order)}; this runtime reads ['a', 'b'] or ['a', 'b', 'spread']")
        return cls(c.outputs[0]["name"], offset, order == ("a", "b", "spread"))


def estimate_eyes(run: Callable[[np.ndarray], np.ndarray], spec: EyeSpec, ir: np.ndarray, intrinsics,
                  head: HeadPose, flip_test: bool = True) -> EyeGaze | None:
    """``run``: (N, 1, H, W) float32 -> (N, 2) angles, or (N, 3) with the spread. None without a
    head position (no depth) or when the eye box leaves the image."""
    if head.position_mm is None or not np.all(np.isfinite(head.position_mm)):
        return None
    rot = np.asarray(head.rotation, dtype=np.float64)
    origin = np.asarray(head.position_mm, dtype=np.float64) + rot @ np.asarray(spec.eye_offset_mm)
    crop = eye_crop(ir, intrinsics, origin, rot)
    if crop is None:
        return None
    if flip_test:
        both = run(np.stack([crop, crop[:, ::-1]])[:, None].astype(np.float32))
        a, b = (float(both[0, 0]) - float(both[1, 0])) / 2.0, (float(both[0, 1]) + float(both[1, 1])) / 2.0
        spread = float(both[:, 2].mean()) if spec.has_spread else None
    else:
        out = run(crop[None, None].astype(np.float32))
        a, b = float(out[0, 0]), float(out[0, 1])
        spread = float(out[0, 2]) if spec.has_spread else None
    if spread is not None and not (np.isfinite(spread) and spread > 0):
        spread = None  # never put a value on the wire that the gaze worker would refuse with the whole message
    return EyeGaze(origin, rot @ eye_direction(a, b), (a, b), spread)

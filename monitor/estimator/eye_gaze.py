"""Eye gaze from the IR image, given the head pose: crop (eye_crop.py) -> eye model -> camera ray.

The crop is cut in the estimated head frame at the eyes' midpoint. The first guess of that point
is the estimated head centre plus the contract's ``crop.eye_offset_mm`` (measured on the training
faces); on unseen drivers it sits up to 23 mm above or below the eyes (the head centre follows where
the body model puts each person's Head joint), so with an eye locator (`locate_eyes`, its own
small model on a wider crop) the crop is cut where the locator finds the eyes. The model's eye-in-head
angles, turned by the same estimated rotation, are the gaze in the camera frame. Test-time flip:
the mirrored crop's `a` is negated and averaged in, as for the head model. A model with a
``spread`` output (its expected per-axis error) passes the mean of both crops' spreads on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from monitor.estimates import EyeGaze, HeadPose
from monitor.estimator.eye_crop import (BOX_MM, CROP_HEIGHT, CROP_WIDTH, LOCATE_BOX_MM, LOCATE_HEIGHT, LOCATE_WIDTH,
                                        eye_crop, eye_direction)


def _ir_crop_contract(c: Any, task: str, role: str, size: tuple[int, int], box_mm: tuple[float, float]) -> dict:
    """The contract's ``crop`` section once its task, modality, input size and box are the ones
    this runtime cuts (eye_crop.py); ValueError otherwise."""
    if c.task != task:
        raise ValueError(f"{role} has task {c.task!r}; expected {task!r}")
    if c.modality != "ir":
        raise ValueError(f"{role} reads {c.modality!r}; this runtime cuts IR eye crops only")
    crop = c.raw.get("crop", {})
    if (c.height, c.width) != size or tuple(crop.get("box_mm", ())) != box_mm:
        raise ValueError(f"{role} wants {c.width}x{c.height} crops of {crop.get('box_mm')} mm; this runtime cuts "
                         f"{size[1]}x{size[0]} of {list(box_mm)} mm (monitor/estimator/eye_crop.py)")
    return crop


@dataclass(frozen=True)
class EyeSpec:
    """What the runtime reads from an eye_gaze contract."""

    output: str
    eye_offset_mm: tuple[float, float, float]
    has_spread: bool = False

    @classmethod
    def from_contract(cls, c: Any) -> "EyeSpec":
        crop = _ir_crop_contract(c, "eye_gaze", "eye model", (CROP_HEIGHT, CROP_WIDTH), BOX_MM)
        offset = tuple(float(v) for v in crop.get("eye_offset_mm", (0.0, 0.0, 0.0)))
        if len(offset) != 3:
            raise ValueError("eye model contract: crop.eye_offset_mm must have 3 numbers")
        order = tuple(c.outputs[0].get("order", ("a", "b")))
        if order not in (("a", "b"), ("a", "b", "spread")):
            raise ValueError(f"eye model outputs {list(order)}; this runtime reads ['a', 'b'] or ['a', 'b', 'spread']")
        return cls(c.outputs[0]["name"], offset, order == ("a", "b", "spread"))


@dataclass(frozen=True)
class LocatorSpec:
    """What the runtime reads from an eye_locate contract: the output's name, the offsets the
    locator was trained on (per crop axis, mm; a reading beyond them is clamped to them) and
    whether it also says if the eyes are hidden (a third output, P(opaque eyewear))."""

    output: str
    max_offset_mm: tuple[float, float]
    has_hidden: bool = False

    @classmethod
    def from_contract(cls, c: Any) -> "LocatorSpec":
        crop = _ir_crop_contract(c, "eye_locate", "eye locator", (LOCATE_HEIGHT, LOCATE_WIDTH), LOCATE_BOX_MM)
        order = tuple(c.outputs[0].get("order", ()))
        if order not in (("dx", "dy"), ("dx", "dy", "hidden")):
            raise ValueError(f"eye locator outputs {c.outputs[0].get('order')}; this runtime reads ['dx', 'dy'] "
                             "or ['dx', 'dy', 'hidden']")
        limit = tuple(float(v) for v in crop.get("max_offset_mm", ()))
        if len(limit) != 2 or not all(np.isfinite(limit)) or min(limit) <= 0:
            raise ValueError("eye locator contract: crop.max_offset_mm must be two positive numbers")
        return cls(c.outputs[0]["name"], limit, len(order) == 3)


@dataclass(frozen=True)
class EyeLocation:
    """What the locator found: the eyes' midpoint (camera mm) and, with that output, the
    probability that opaque eyewear hides them."""

    centre_mm: np.ndarray
    hidden_p: float | None = None


def locate_eyes(run: Callable[[np.ndarray], np.ndarray], spec: LocatorSpec, ir: np.ndarray, intrinsics,
                guess_mm: np.ndarray, rotation: np.ndarray, flip_test: bool = True) -> EyeLocation | None:
    """The eyes' midpoint the locator finds around ``guess_mm`` (camera mm) on the plane of
    ``rotation``'s x/y axes; None when its wide crop leaves the image or it reads nothing finite.
    ``run``: (N, 1, 48, 64) float32 -> (N, 2) offsets in mm, or (N, 3) with P(hidden). Test-time
    flip: the mirrored crop's dx is negated and averaged in, P(hidden) averaged."""
    crop = eye_crop(ir, intrinsics, guess_mm, rotation, (LOCATE_HEIGHT, LOCATE_WIDTH), LOCATE_BOX_MM)
    if crop is None:
        return None
    if flip_test:
        both = run(np.stack([crop, crop[:, ::-1]])[:, None].astype(np.float32))
        dx, dy = (float(both[0, 0]) - float(both[1, 0])) / 2.0, (float(both[0, 1]) + float(both[1, 1])) / 2.0
        hidden = float(both[:, 2].mean()) if spec.has_hidden else None
    else:
        out = run(crop[None, None].astype(np.float32))
        dx, dy = float(out[0, 0]), float(out[0, 1])
        hidden = float(out[0, 2]) if spec.has_hidden else None
    if not (np.isfinite(dx) and np.isfinite(dy)):
        return None
    if hidden is not None and not 0.0 <= hidden <= 1.0:
        hidden = None  # never put a value on the wire that the gaze worker would refuse with the whole message
    lx, ly = spec.max_offset_mm
    dx, dy = min(max(dx, -lx), lx), min(max(dy, -ly), ly)
    r = np.asarray(rotation, dtype=np.float64)
    return EyeLocation(np.asarray(guess_mm, dtype=np.float64) + dx * r[:, 0] + dy * r[:, 1], hidden)


def estimate_eyes(run: Callable[[np.ndarray], np.ndarray], spec: EyeSpec, ir: np.ndarray, intrinsics,
                  head: HeadPose, flip_test: bool = True,
                  locate: Callable[[np.ndarray, np.ndarray], EyeLocation | None] | None = None) -> EyeGaze | None:
    """``run``: (N, 1, H, W) float32 -> (N, 2) angles, or (N, 3) with the spread. ``locate``:
    (guess camera mm, rotation) -> an `EyeLocation` or None (then the guess stays), e.g.
    `locate_eyes` bound to a locator model. None without a head position (no depth) or when the
    eye box leaves the image."""
    if head.position_mm is None or not np.all(np.isfinite(head.position_mm)):
        return None
    rot = np.asarray(head.rotation, dtype=np.float64)
    origin = np.asarray(head.position_mm, dtype=np.float64) + rot @ np.asarray(spec.eye_offset_mm)
    hidden = None
    if locate is not None:
        located = locate(origin, rot)
        if located is not None:
            origin, hidden = located.centre_mm, located.hidden_p
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
    return EyeGaze(origin, rot @ eye_direction(a, b), (a, b), spread, hidden)

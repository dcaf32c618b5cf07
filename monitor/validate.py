"""Content checks of decoded messages, per topic: a message can be valid on the wire (right
framing, dtypes, sizes) and still be unusable (no IR image, a rotation that is not 3x3, events
that are not objects). Workers run these checks and count a failing message as malformed on its
link, exactly like a wire error, so nothing unusable reaches a model or an output file."""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import numpy as np

from monitor.estimates import Estimates
from monitor.frames import FrameSet
from monitor.wire import Message, WireError

IMAGE_DTYPES = {"ir": np.dtype("uint8"), "depth": np.dtype("uint16")}
MAX_IMAGE_SIDE = 8192
MIN_IMAGE_SIDE = 8


def frameset_from_message(msg: Message, needed: Iterable[str] = ()) -> FrameSet:
    """The frameset of a ``frames`` message; ``needed`` images must be present and well-formed."""
    try:
        frameset = FrameSet.from_message(msg)
    except ValueError as exc:
        raise WireError("bad_frameset", str(exc)[:120]) from None
    if not math.isfinite(msg.device_ts_ms):
        raise WireError("bad_frameset", "device_ts_ms is not finite")
    for name, image in frameset.images.items():
        expected = IMAGE_DTYPES.get(name)
        if expected is not None and image.dtype != expected:
            raise WireError("bad_frameset", f"image {name!r} is {image.dtype}, must be {expected}")
        if image.ndim != 2 or not all(MIN_IMAGE_SIDE <= n <= MAX_IMAGE_SIDE for n in image.shape):
            raise WireError("bad_frameset", f"image {name!r} has shape {image.shape}; need HxW, "
                                            f"{MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} pixels a side")
    if not any(name in frameset.images for name in IMAGE_DTYPES):
        raise WireError("bad_frameset", f"no image: a frameset carries {' and/or '.join(IMAGE_DTYPES)}")
    for name in needed:
        if name not in frameset.images:
            raise WireError("bad_frameset", f"no {name!r} image (has {sorted(frameset.images)})")
    return frameset


def _probability(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return 0.0 <= float(value) <= 1.0  # NaN fails both
    except OverflowError:
        return False


def _positive_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:  # a JSON integer too large for a float
        return False


def _vector(value: Any, shape: tuple[int, ...], what: str, allow_none: bool = False) -> None:
    try:
        array = np.array(value, dtype=np.float64)  # None -> nan (unknown values travel as null)
    except (TypeError, ValueError):
        raise WireError("bad_estimates", f"{what} is not numeric") from None
    if array.shape != shape and not (allow_none and value is None):
        raise WireError("bad_estimates", f"{what} has shape {array.shape}, need {shape}")


def estimates_from_meta(meta: dict[str, Any]) -> Estimates:
    """The estimates of an ``estimates`` message (missing parts are None), shape-checked."""
    raw = meta.get("estimates")
    if raw is None:
        return Estimates()
    if not isinstance(raw, dict):
        raise WireError("bad_estimates", "meta.estimates is not an object")
    head, joints = raw.get("head"), raw.get("joints")
    if head is not None:
        if not isinstance(head, dict):
            raise WireError("bad_estimates", "head is not an object")
        for key in ("yaw_deg", "pitch_deg", "roll_deg"):
            if not isinstance(head.get(key), (int, float)) or isinstance(head.get(key), bool):
                raise WireError("bad_estimates", f"head.{key} is not a number")
        _vector(head.get("rotation"), (3, 3), "head.rotation")
        _vector(head.get("position_mm"), (3,), "head.position_mm", allow_none=True)
        _vector(head.get("center_px"), (2,), "head.center_px")
        _vector(head.get("crop_box"), (4,), "head.crop_box")
        covered = head.get("covered_p")
        if covered is not None and not _probability(covered):
            raise WireError("bad_estimates", "head.covered_p must be a number in [0, 1]")
    if joints is not None:
        if not isinstance(joints, dict) or not isinstance(joints.get("names"), list):
            raise WireError("bad_estimates", "joints is not an object with a names list")
        names = joints["names"]
        if not all(isinstance(n, str) for n in names) or not 0 < len(names) <= 64:
            raise WireError("bad_estimates", "joints.names must be 1..64 strings")
        k = len(names)
        _vector(joints.get("uv"), (k, 2), "joints.uv")
        _vector(joints.get("xyz_mm"), (k, 3), "joints.xyz_mm")
        _vector(joints.get("confidence"), (k,), "joints.confidence")
    eyes = raw.get("eyes")
    if eyes is not None:
        if not isinstance(eyes, dict):
            raise WireError("bad_estimates", "eyes is not an object")
        _vector(eyes.get("origin_mm"), (3,), "eyes.origin_mm")
        _vector(eyes.get("direction"), (3,), "eyes.direction")
        _vector(eyes.get("in_head_deg"), (2,), "eyes.in_head_deg")
        spread = eyes.get("spread_deg")
        if spread is not None and not _positive_number(spread):
            raise WireError("bad_estimates", "eyes.spread_deg must be a positive number")
        hidden = eyes.get("hidden_p")
        if hidden is not None and not _probability(hidden):
            raise WireError("bad_estimates", "eyes.hidden_p must be a number in [0, 1]")
    try:
        return Estimates.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError("bad_estimates", str(exc)[:120]) from None


def check_states_meta(meta: dict[str, Any]) -> None:
    """A ``states`` message carries gaze and state objects and a list of event objects."""
    for key in ("gaze", "state"):
        if not isinstance(meta.get(key), dict):
            raise WireError("bad_states", f"meta.{key} is missing or not an object")
    events = meta.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WireError("bad_states", "meta.events is not a list of objects")
    if meta.get("estimates") is not None and not isinstance(meta["estimates"], dict):
        raise WireError("bad_states", "meta.estimates is not an object")


def truth_from_meta(meta: dict[str, Any]) -> dict[str, Any] | None:
    """Ground truth of a frame: ``meta.truth_json`` (JSON text, passed through the stages
    unparsed), or ``meta.truth`` (an object: recordings made before truth travelled as text)."""
    if "truth_json" in meta:
        text = meta["truth_json"]
        try:
            truth = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            truth = None
        if not isinstance(truth, dict):
            raise WireError("bad_truth", "meta.truth_json is not the JSON text of an object")
        return truth
    truth = meta.get("truth")
    if truth is not None and not isinstance(truth, dict):
        raise WireError("bad_truth", "meta.truth is not an object")
    return truth

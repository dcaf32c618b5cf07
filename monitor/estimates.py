"""Typed results of the estimator stage and their JSON form on the wire (``meta["estimates"]``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Kinect v2 joint order; seed 001 uses the first 21 (all but hand tips and thumbs).
KINECT_V2_JOINTS: tuple[str, ...] = (
    "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
    "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight", "SpineShoulder",
    "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)
JOINTS_21: tuple[str, ...] = KINECT_V2_JOINTS[:21]


@dataclass
class Joints:
    """K body joints. uv: (K, 2) pixels; xyz_mm: (K, 3) camera frame (NaN where unknown);
    confidence: (K,) in [0, 1] (peak belief-map value)."""

    names: tuple[str, ...]
    uv: np.ndarray
    xyz_mm: np.ndarray
    confidence: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "uv": _nan_to_none(self.uv),
                "xyz_mm": _nan_to_none(self.xyz_mm), "confidence": _nan_to_none(self.confidence)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Joints":
        return cls(tuple(d["names"]), _array(d["uv"]), _array(d["xyz_mm"]), _array(d["confidence"]))


@dataclass
class HeadPose:
    """Head pose in the camera frame (docs/conventions.md): Euler angles in degrees, rotation
    head->camera, head centre in mm (None without depth), its pixel position and the crop used;
    ``covered_p``: the face-cover model's probability that a hand lies over the face (None without
    that model)."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    rotation: np.ndarray
    position_mm: np.ndarray | None
    center_px: tuple[float, float]
    crop_box: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels
    covered_p: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"yaw_deg": self.yaw_deg, "pitch_deg": self.pitch_deg, "roll_deg": self.roll_deg,
               "rotation": _nan_to_none(self.rotation),
               "position_mm": None if self.position_mm is None else _nan_to_none(self.position_mm),
               "center_px": list(self.center_px), "crop_box": list(self.crop_box)}
        if self.covered_p is not None:  # absent without a face-cover model: older readers see no change
            out["covered_p"] = round(float(self.covered_p), 4)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "HeadPose":
        pos, covered = d.get("position_mm"), d.get("covered_p")
        return cls(float(d["yaw_deg"]), float(d["pitch_deg"]), float(d["roll_deg"]), _array(d["rotation"]),
                   None if pos is None else _array(pos), tuple(d["center_px"]), tuple(d["crop_box"]),
                   None if covered is None else float(covered))


@dataclass
class EyeGaze:
    """Where the eyes look, camera frame: ``origin_mm`` the eyes' midpoint, ``direction`` a unit
    vector; ``in_head_deg`` the eye-in-head angles (a, b) it came from (monitor/estimator/eye_crop.py);
    ``spread_deg`` the eye model's own expected per-axis error of them, when it has that output;
    ``hidden_p`` the eye locator's probability that opaque eyewear hides the eyes, when it has that
    output (the classifier then leans on the head pose)."""

    origin_mm: np.ndarray
    direction: np.ndarray
    in_head_deg: tuple[float, float]
    spread_deg: float | None = None
    hidden_p: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"origin_mm": _nan_to_none(self.origin_mm), "direction": _nan_to_none(self.direction),
               "in_head_deg": [round(float(v), 3) for v in self.in_head_deg]}
        if self.spread_deg is not None:
            out["spread_deg"] = round(float(self.spread_deg), 3)
        if self.hidden_p is not None:
            out["hidden_p"] = round(float(self.hidden_p), 4)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "EyeGaze":
        a, b = d["in_head_deg"]
        spread, hidden = d.get("spread_deg"), d.get("hidden_p")
        return cls(_array(d["origin_mm"]), _array(d["direction"]), (float(a), float(b)),
                   None if spread is None else float(spread), None if hidden is None else float(hidden))


@dataclass
class Estimates:
    """What the estimator says about one frameset; any part may be missing (no person found, no
    eye model, eyes not in view)."""

    head: HeadPose | None = None
    joints: Joints | None = None
    eyes: EyeGaze | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"head": self.head.to_json() if self.head else None,
               "joints": self.joints.to_json() if self.joints else None}
        if self.eyes is not None:  # absent, not null, without an eye model: older readers see no change
            out["eyes"] = self.eyes.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Estimates":
        return cls(HeadPose.from_json(d["head"]) if d.get("head") else None,
                   Joints.from_json(d["joints"]) if d.get("joints") else None,
                   EyeGaze.from_json(d["eyes"]) if d.get("eyes") else None)


def _nan_to_none(a: np.ndarray) -> Any:
    """JSON has no NaN: unknown values travel as null."""
    return np.where(np.isfinite(a), np.round(np.asarray(a, dtype=np.float64), 4), None).tolist()


def _array(x: Any) -> np.ndarray:
    return np.array(x, dtype=np.float64)  # None -> nan

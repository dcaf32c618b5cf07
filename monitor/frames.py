"""Typed frame data produced by every source: one `FrameSet` per capture instant."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.wire import Message


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one image stream, pixels. ``coeffs`` are Brown-Conrady k1,k2,p1,p2,k3."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx} fy={self.fy}")

    def to_dict(self) -> dict[str, Any]:
        # spelled out: dataclasses.asdict deep-copies recursively, ~20 us per call on every frame
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy, "cx": self.cx,
                "cy": self.cy, "coeffs": list(self.coeffs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Intrinsics":
        return cls(int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]),
                   float(d["cx"]), float(d["cy"]), tuple(float(c) for c in d.get("coeffs", [0.0] * 5)))


@dataclass
class FrameSet:
    """Images captured at one instant, plus what a consumer needs to interpret them.

    images: name -> array; the standard names are ``ir`` (uint8 HxW, Y8) and ``depth`` (uint16
        HxW, units of ``depth_unit_mm`` millimetres, 0 = no data).
    intrinsics: name -> Intrinsics of that image (depth and IR of a D4xx share the left imager).
    truth: ground-truth labels when the source has them (synthetic scenes; docs/labels.md).
    """

    stream: str
    frame: int
    device_ts_ms: float
    images: dict[str, np.ndarray]
    intrinsics: dict[str, Intrinsics] = field(default_factory=dict)
    depth_unit_mm: float = 1.0
    truth: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The JSON text ``truth`` arrived as (recordings, labels files): sent on as it came instead of
    # dumped again. Set with ``truth``; whoever changes ``truth`` afterwards must reset it to None.
    truth_text: str | None = field(default=None, repr=False, compare=False)

    def to_message(self, stamps: dict[str, int]) -> Message:
        meta: dict[str, Any] = {
            "intrinsics": {k: v.to_dict() for k, v in self.intrinsics.items()},
            "depth_unit_mm": self.depth_unit_mm,
        }
        if self.truth is not None:
            # As JSON text: the estimator and gaze stages pass it on without parsing it (a 5 KB
            # label tree cost ~0.2 ms of JSON work per hop); the sink reads it (validate.truth_from_meta).
            meta["truth_json"] = self.truth_text or json.dumps(self.truth, separators=(",", ":"))
        if self.extra:
            meta["extra"] = self.extra
        return Message("frames", self.stream, self.frame, self.device_ts_ms, stamps, meta, dict(self.images))

    @classmethod
    def from_message(cls, msg: Message) -> "FrameSet":
        meta = msg.meta
        try:
            intrinsics = {k: Intrinsics.from_dict(v) for k, v in meta.get("intrinsics", {}).items()}
            depth_unit = float(meta.get("depth_unit_mm", 1.0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"frame {msg.frame}: bad camera metadata ({exc})") from None
        from monitor.validate import truth_from_meta  # validate imports this module

        try:
            truth = truth_from_meta(meta)
        except ValueError as exc:
            raise ValueError(f"frame {msg.frame}: {exc}") from None
        text = meta.get("truth_json") if truth is not None else None
        return cls(msg.stream, msg.frame, msg.device_ts_ms, dict(msg.arrays), intrinsics,
                   depth_unit, truth, meta.get("extra", {}), text)

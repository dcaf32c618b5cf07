"""Fault injection for tests and demos (``--inject-fault``): a camera that is unplugged for a
while, a model that fails on some frames. The real failure paths handle them: the capture worker
sees a `SourceError` exactly as from an unplugged RealSense, the estimator an exception from its
model call. Nothing here runs unless asked for.

Forms (repeatable option):
    source-unplug=FRAME:SECONDS   after FRAME frames the source fails; reopening it fails for SECONDS
    model-error=FRAME:COUNT       the model call fails on COUNT frames from frame FRAME on
    estimator-hang=FRAME:SECONDS  the first estimator process freezes (busy, no heartbeats) at FRAME
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from monitor.sources.base import SourceError

KINDS = {"source-unplug": "source_unplug", "model-error": "model_error", "estimator-hang": "estimator_hang"}


def parse_faults(items: list[str]) -> dict[str, list[float]]:
    """``["source-unplug=30:1.5"]`` -> ``{"source_unplug": [30, 1.5]}``; ValueError says the form.
    FRAME and a model-error's COUNT are whole numbers; each kind may be given once."""
    faults: dict[str, list[float]] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        first, colon, second = value.partition(":")
        try:
            if kind not in KINDS or not sep or not colon:
                raise ValueError
            a = int(first)
            b: float = int(second) if kind == "model-error" else float(second)
            if a < 0 or b < 0 or b != b or b == float("inf"):
                raise ValueError
        except ValueError:
            raise ValueError(f"--inject-fault {item!r}: use source-unplug=FRAME:SECONDS, model-error=FRAME:COUNT "
                             "or estimator-hang=FRAME:SECONDS (FRAME and COUNT whole numbers, all non-negative)") from None
        if KINDS[kind] in faults:
            raise ValueError(f"--inject-fault {item!r}: {kind} is given twice; each fault kind may be injected once")
        faults[KINDS[kind]] = [a, b]
    return faults


UNPLUG_STALL_S = 2.0


@dataclass
class SourceUnplug:
    """After ``after_frames`` frames the source 'disappears' for ``down_s`` seconds."""

    after_frames: int
    down_s: float
    down_until: float = 0.0
    fired: bool = False  # once per capture process (a restarted capture resumes past the frame)

    @classmethod
    def from_config(cls, faults: dict[str, Any]) -> "SourceUnplug | None":
        spec = faults.get("source_unplug")
        return cls(int(spec[0]), float(spec[1])) if spec else None

    def check_frame(self, frames_read: int) -> None:
        if frames_read == self.after_frames and not self.fired:
            self.fired = True
            # as a real camera's read does, wait for frames that do not come before giving up
            # (librealsense waits 10 s; longer than the supervisor's hang timeout either way)
            time.sleep(UNPLUG_STALL_S)
            self.down_until = time.monotonic() + self.down_s
            raise SourceError(f"injected fault: the camera was unplugged after frame {frames_read}")

    def check_open(self) -> None:
        if time.monotonic() < self.down_until:
            raise SourceError("injected fault: no camera found (still unplugged)")


@dataclass
class ModelError:
    """The model call fails on ``count`` frames starting at frame ``first``."""

    first: int
    count: int

    @classmethod
    def from_config(cls, faults: dict[str, Any]) -> "ModelError | None":
        spec = faults.get("model_error")
        return cls(int(spec[0]), int(spec[1])) if spec else None

    def check(self, frame: int) -> None:
        if self.first <= frame < self.first + self.count:
            # no frame number here: the worker logs each distinct message once, and names the frame itself
            raise RuntimeError("injected fault: the model failed (--inject-fault model-error)")


def hang_if_due(faults: dict[str, Any], frame: int, incarnation: int) -> None:
    """``estimator-hang``: spin without heartbeats, like a deadlocked or endlessly looping stage."""
    spec = faults.get("estimator_hang")
    if spec and incarnation == 0 and frame == int(spec[0]):
        end = time.monotonic() + float(spec[1])
        while time.monotonic() < end:
            pass

"""Typed results of the gaze/state stage; ``to_json`` gives what goes on the bus and into sinks."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class GazeResult:
    """Where the driver looks at time ``t_s``.

    zone: the smoothed zone (hysteresis applied), a zone name, "other" or "unknown" (no head, or
        not yet confirmed); zone_since_s: when that zone began (start of the run that confirmed it).
    raw_zone: this frame's most probable label; probabilities: label -> p for every zone and
        "other" (all 0 when the head is missing). gaze_*: the (model-corrected) gaze ray in the car
        frame; head_position_car_mm: its origin (the nominal head when the pose had no position).
    head_offset_deg: the road-ahead auto-calibration's (azimuth, elevation) offset added to the
        head direction (None when it is off; (0, 0) until it has enough history).
    head_held: a hand covered the face (the face-cover model) or lay at the head (the body
        model's hands, GazeStateConfig.hand_at_head_mm), so this frame was classified with the last
        head pose and eyes seen without it (GazeStateConfig.cover_hold_s).
    """

    t_s: float
    zone: str
    zone_since_s: float
    raw_zone: str
    probabilities: dict[str, float]
    head_valid: bool
    calibrated: bool
    head_position_car_mm: list[float] | None = None
    gaze_direction_car: list[float] | None = None
    gaze_azimuth_deg: float | None = None
    gaze_elevation_deg: float | None = None
    head_offset_deg: list[float] | None = None
    head_held: bool = False

    def to_json(self) -> dict[str, Any]:
        return _plain(self)


@dataclass
class DriverState:
    """Distraction timers at ``t_s``. on_road: the debounced road state (None before the first
    confirmation); off_road_s: length of the current off-road run (0 on the road);
    off_road_window_s: off-road time inside the trailing VATS window; head_missing_s: how long
    the head has been missing (0 when present)."""

    t_s: float
    zone: str
    on_road: bool | None
    off_road_s: float
    off_road_window_s: float
    long_distraction: bool
    vats: bool
    head_missing_s: float

    def to_json(self) -> dict[str, Any]:
        return _plain(self)


@dataclass
class DistractionEvent:
    """A distraction episode, emitted twice: phase "start" when the rule fires and phase "end"
    when it is over (same start_s, end_s filled in).

    kind: "long_distraction" (off the road for >= long_s) or "vats" (> vats_threshold_s
        cumulative off-road within vats_window_s).
    start_s: when the episode began: the onset of the off-road run (long) or of the first off-road
        glance inside the window (vats). criterion_met_s: the exact time the rule was satisfied
        (start_s + long_s for long). detected_s: time of the frame on which it was raised.
    end_s: when the driver was back on the road (long) / the window total fell back to the
        threshold (vats); None in the start phase.
    """

    kind: str
    phase: str
    start_s: float
    criterion_met_s: float
    detected_s: float
    end_s: float | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s

    def to_json(self) -> dict[str, Any]:
        return {**_plain(self), "duration_s": self.duration_s}


def _plain(result: Any) -> dict[str, Any]:
    """Fields as a JSON-ready dict, containers copied one level (they hold only numbers and
    strings). dataclasses.asdict deep-copies recursively: ~40 % of the stage's time per frame."""
    out: dict[str, Any] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        out[f.name] = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
    return out

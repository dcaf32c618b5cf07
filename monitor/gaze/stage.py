"""The gaze/state worker's single entry point: estimates in, gaze zone + driver state + events out.

    stage = GazeStateStage(load_layout("calib/layouts/synthetic_cabin.json"))
    gaze, state, events = stage.process(estimates, t_s)

``t_s`` is the frame's time in seconds (device or replay time; never read from a clock here) and
must not decrease. A missing head pose (``estimates.head is None``) gives zone "unknown"; the zone
smoother and the timers treat it as described in monitor/gaze/state.py (held for
``unknown_hold_s``, then ``unknown_policy``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from calib.layout import CabinLayout, CameraPose
from monitor.estimates import Estimates
from monitor.gaze.classifier import GazeZoneClassifier
from monitor.gaze.smoothing import Debouncer, HysteresisConfig
from monitor.gaze.state import OFF, ON, UNKNOWN, DistractionConfig, DistractionMonitor
from monitor.gaze.types import DistractionEvent, DriverState, GazeResult

if TYPE_CHECKING:  # calib.driver_calibration imports monitor.gaze itself
    from calib.driver_calibration import DriverCalibration


@dataclass(frozen=True)
class GazeStateConfig:
    """Zone smoothing and timer settings. The zone smoother uses ``hysteresis`` for zones and
    ``distraction.unknown_hold_s`` before it shows "unknown"."""

    hysteresis: HysteresisConfig = field(default_factory=HysteresisConfig)
    distraction: DistractionConfig = field(default_factory=DistractionConfig)


class GazeStateStage:
    def __init__(self, layout: CabinLayout, driver_calibration: "DriverCalibration | None" = None,
                 config: GazeStateConfig | None = None) -> None:
        self.layout = layout
        self.config = config or GazeStateConfig()
        self.calibration = driver_calibration
        self.classifier = GazeZoneClassifier(layout, driver_calibration.model if driver_calibration else None)
        h = self.config.hysteresis
        self._zone_hysteresis = HysteresisConfig(h.min_frames, h.min_duration_s,
                                                 {UNKNOWN: self.config.distraction.unknown_hold_s,
                                                  **h.min_duration_for})
        self._road = frozenset(layout.road_zones)
        self.reset()

    def reset(self) -> None:
        """Forget the smoothing and timer state (a new sequence or driver); time may restart."""
        self._zones = Debouncer(self._zone_hysteresis)
        self.monitor = DistractionMonitor(self.config.distraction)

    def set_camera_pose(self, pose: CameraPose) -> None:
        """The camera moved (or a recording states its mount): rays use the new pose from now on."""
        self.classifier.camera = pose

    def process(self, estimates: Estimates, t_s: float
                ) -> tuple[GazeResult, DriverState, list[DistractionEvent]]:
        est = (self.classifier.classify(estimates.head, estimates.joints) if estimates is not None
               else self.classifier.classify(None))
        zone, since = self._zones.update(t_s, est.zone)
        if zone is None:  # nothing confirmed yet
            zone, since = UNKNOWN, t_s
        road = UNKNOWN if not est.head_valid else (ON if est.zone in self._road else OFF)
        state, events = self.monitor.update(t_s, road, zone)
        gaze = GazeResult(
            t_s, zone, since, est.zone, est.probabilities, est.head_valid, self.calibration is not None,
            None if est.head_position_car_mm is None else [round(float(v), 2) for v in est.head_position_car_mm],
            None if est.gaze_direction_car is None else [round(float(v), 5) for v in est.gaze_direction_car],
            None if est.gaze_angles_deg is None else round(est.gaze_angles_deg[0], 3),
            None if est.gaze_angles_deg is None else round(est.gaze_angles_deg[1], 3))
        return gaze, state, events


__all__ = ["GazeStateStage", "GazeStateConfig"]

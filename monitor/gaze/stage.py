"""The gaze/state worker's single entry point: estimates in, gaze zone + driver state + events out.

    stage = GazeStateStage(load_layout("calib/layouts/synthetic_cabin.json"))
    gaze, state, events = stage.process(estimates, t_s)

``t_s`` is the frame's time in seconds (device or replay time; never read from a clock here) and
must not decrease (a frame that goes back raises ValueError and leaves the stage as it was). A
missing head pose (``estimates.head is None``) gives zone "unknown"; the zone smoother and the
timers treat it as described in monitor/gaze/state.py (held for ``unknown_hold_s``, then
``unknown_policy``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from calib.layout import CabinLayout, CameraPose
from monitor.estimates import Estimates, HeadPose, Joints
from monitor.gaze.autocal import RoadAheadCalibrator, RoadAheadConfig
from monitor.gaze.classifier import MIN_JOINT_CONFIDENCE, GazeZoneClassifier, ZoneEstimate, joint_position
from monitor.gaze.head_space import HeadSpaceConfig
from monitor.gaze.ray import angles_to_direction
from monitor.gaze.smoothing import Debouncer, HysteresisConfig
from monitor.gaze.state import OFF, ON, UNKNOWN, DistractionConfig, DistractionMonitor
from monitor.gaze.types import DistractionEvent, DriverState, GazeResult

if TYPE_CHECKING:  # calib.driver_calibration imports monitor.gaze itself
    from calib.driver_calibration import DriverCalibration


# the frames kept for the warm-up re-run (GazeStateConfig.warmup_replay_s) at most: its time limit cannot bound
# them where frame times stand still
MAX_WARMUP_FRAMES = 3000

# the held pose must be from at most this long before the hand came near (a longer gap without a head
# leaves nothing worth holding)
MAX_HELD_AGE_S = 1.0


@dataclass(frozen=True)
class GazeStateConfig:
    """Zone smoothing and timer settings. The zone smoother uses ``hysteresis`` for zones and
    ``distraction.unknown_hold_s`` before it shows "unknown"."""

    hysteresis: HysteresisConfig = field(default_factory=HysteresisConfig)
    distraction: DistractionConfig = field(default_factory=DistractionConfig)
    # Glance onset: the head (all we measure) lags the eyes, so the first off-road frame comes
    # 0.2-0.4 s after the gaze left the road. On that frame the onset is moved back to the first
    # frame of the head movement: the first one whose face direction was more than
    # max(onset_min_deg, onset_noise_k x rest spread) away from where it rested on the road (the
    # rest: on-road frames onset_rest_s before the search window) and moving steadily away from it,
    # searching back at most onset_lookback_s (0 disables); directions averaged over onset_smooth_frames. Head angles,
    # not gaze angles: the measurement noise and the driver's sway live there, whatever the model.
    onset_lookback_s: float = 0.5
    onset_rest_s: float = 0.4
    onset_min_deg: float = 1.0
    onset_noise_k: float = 3.0
    onset_smooth_frames: int = 5
    # with a driver calibration: also correct the per-target residuals of its linear model
    per_target_corrections: bool = True
    # learn this driver's road-ahead head direction while driving (monitor/gaze/autocal.py)
    road_ahead: RoadAheadConfig = field(default_factory=RoadAheadConfig)
    # with an eye-gaze estimate (--eye-model): its ray's weight against the head-only gaze model
    # (GazeZoneClassifier.eye_weight; chosen on validation drives, docs/gaze_state.md)
    eye_weight: float = 1.0
    # and, for eye models with a spread output, the head-only gaze's expected per-axis error (deg):
    # the eye weight is scaled by head^2 / (head^2 + eye spread^2) (GazeZoneClassifier.head_spread_deg);
    # None: the eye weight alone. 4 with weight 1 was the best on the validation drives (ninth
    # session); once the eye locator centred the crops, the eyes alone (None), tied with 12 and 16
    # (tenth session, docs/gaze_state.md)
    head_spread_deg: float | None = None
    # with an eye locator that says whether opaque eyewear hides the eyes: the eye weight is also
    # scaled by 1 - P(hidden), so the head-only gaze model takes over behind sunglasses
    eyes_hidden_fallback: bool = True
    # (full, zero): the eye weight is also scaled by how squarely the camera sees the eyes: 1 while the
    # face is turned less than ``full`` deg from the camera, 0 from ``zero`` on, linear in between
    # (GazeZoneClassifier.eye_view_deg). None: not scaled. The eye model reads eyes seen from more
    # than ~45 deg off badly (10-18 deg errors, on a training mount too), so the head-space scoring
    # drops them there (gaze_state_config; docs/gaze_state.md "Oblique eyes")
    eye_view_deg: tuple[float, float] | None = None
    # set: the head-only gaze is scored in head angles, allowing for the spread of the driver's head
    # share (monitor/gaze/head_space.py); None: the head-to-gaze model's ray is scored like the eyes'
    head_space: HeadSpaceConfig | None = None
    # Covered face: while the estimator's face-cover model says a hand lies over the face
    # (HeadPose.covered_p >= cover_threshold), the head model reads the hand, not the head (10-30 deg
    # off from a camera beside the driver), so the frame is classified with the last head pose and
    # eyes seen uncovered at least cover_margin_s before the first covered frame (the hand already
    # disturbs the head model on the 1-2 frames before the detector fires), preferring one whose zone the
    # smoother confirmed (not a one-frame glitch), for at most cover_hold_s
    # (and never longer than distraction.long_s) from the first covered frame; then the estimates are
    # used as they are again. 0 turns it off. 3 s: a covered face can hide no more than a long
    # distraction (not tuned; docs/gaze_state.md "Covered face"). A run ends after cover_margin_s
    # without a covered frame.
    cover_hold_s: float = 3.0
    cover_threshold: float = 0.5
    cover_margin_s: float = 0.2
    # A hand at the head counts as a covered face too: a body-model hand (HandLeft/HandRight, confidence
    # >= hand_confidence) within hand_at_head_mm of the head centre. A phone at the far ear sticks out
    # past the head's outline from a camera beside the driver, and the head model reads it as a head
    # turned 10-20 deg. None: only the face-cover model counts. 200 mm and 0.3 were set before measuring
    # (the head's radius is ~100 mm), not tuned (docs/gaze_state.md "Road-ahead scatter and a hand at
    # the head").
    hand_at_head_mm: float | None = 200.0
    hand_confidence: float = 0.3
    # The first seconds of a drive: until the road-ahead offset first exists (RoadAheadConfig.min_history_s
    # after the first head) the raw head pose is classified, biased as it is for this driver and view, and a
    # driver with the eyes hidden can read as off the road while on it. When the offset comes, the face-cover
    # hold, the zone smoother and the distraction timers are re-run over the frames since the first one,
    # classified again with it, so off-road time counted by mistake leaves the timers' history (a VATS
    # window reaches 30 s back). The outputs already sent stand. Before raising an event without an offset
    # the stage asks the calibrator for one at once (RoadAheadCalibrator.update_now); if none is found the
    # event is sent and the first seconds stand (a sent event cannot be taken back), as they do when the
    # offset comes later than warmup_replay_s after the first frame; 0 turns it off.
    warmup_replay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.onset_lookback_s < 0 or self.onset_rest_s <= 0 or self.onset_min_deg < 0 or self.onset_noise_k < 0:
            raise ValueError("onset_lookback_s, onset_min_deg and onset_noise_k must be >= 0 and onset_rest_s > 0")
        if not 0.0 <= self.eye_weight <= 1.0:
            raise ValueError(f"eye_weight must be in [0, 1], got {self.eye_weight}")
        if self.eye_view_deg is not None and not (len(self.eye_view_deg) == 2
                                                  and 0.0 <= self.eye_view_deg[0] <= self.eye_view_deg[1] <= 180.0):
            raise ValueError(f"eye_view_deg must be (full, zero) with 0 <= full <= zero <= 180, got {self.eye_view_deg}")
        if self.head_spread_deg is not None and not self.head_spread_deg > 0:
            raise ValueError(f"head_spread_deg must be > 0 or None, got {self.head_spread_deg}")
        if not self.cover_hold_s >= 0 or not self.cover_margin_s >= 0 or not 0.0 < self.cover_threshold <= 1.0:
            raise ValueError(f"cover_hold_s and cover_margin_s must be >= 0 and cover_threshold in (0, 1], got "
                             f"{self.cover_hold_s}, {self.cover_margin_s} and {self.cover_threshold}")
        bad_distance = self.hand_at_head_mm is not None and not self.hand_at_head_mm > 0
        if bad_distance or not 0.0 <= self.hand_confidence <= 1.0:
            raise ValueError(f"hand_at_head_mm must be > 0 or None and hand_confidence in [0, 1], got "
                             f"{self.hand_at_head_mm} and {self.hand_confidence}")
        if not self.warmup_replay_s >= 0:
            raise ValueError(f"warmup_replay_s must be >= 0, got {self.warmup_replay_s}")


# Named head-only scorings (run_monitor.py --gaze-scoring): "ray", the head-to-gaze model's ray
# scored against the zones (GazeStateConfig()'s own settings); "head-space", the head scored in head
# angles with the head share's spread (monitor/gaze/head_space.py) and the eyes weighed against it by
# their own spread (head_spread_deg 12: the best with it on the validation drives), counted only while
# the face is turned less than EYE_VIEW_DEG from the camera. The pipeline's default since the
# eighteenth session, when with the face-cover hold it won on validation and on the held-out runs by
# the rule written before (docs/gaze_state.md "Covered face"; the eye-view limit: "Oblique eyes").
GAZE_SCORINGS = ("ray", "head-space")
DEFAULT_GAZE_SCORING = "head-space"
# head-space only: with the ray scoring the same limit lost on two of the three validation sets (the
# ray's head-only gaze is weaker at the large turns where the eyes drop out)
EYE_VIEW_DEG = (45.0, 45.0)
# head-space only: "other" needs proportionally more where the head directions scatter more than this
# about the road ahead (the head model's noise on this view; chosen on the validation sets:
# docs/gaze_state.md "Road-ahead scatter and a hand at the head")
SCATTER_REF_DEG = 1.0


def gaze_state_config(scoring: str = DEFAULT_GAZE_SCORING, distraction: DistractionConfig | None = None
                      ) -> GazeStateConfig:
    """The stage settings of a named scoring (GAZE_SCORINGS), with these distraction rules."""
    if scoring not in GAZE_SCORINGS:
        raise ValueError(f"unknown gaze scoring {scoring!r}: use one of {', '.join(GAZE_SCORINGS)}")
    config = GazeStateConfig(distraction=distraction or DistractionConfig())
    if scoring == "head-space":
        config = replace(config, head_space=HeadSpaceConfig(scatter_ref_deg=SCATTER_REF_DEG), head_spread_deg=12.0,
                         eye_view_deg=EYE_VIEW_DEG)
    return config


@dataclass
class _Uncovered:
    """A frame the stage may hold later: its estimates, its raw zone (None: no valid head) and whether
    the smoother confirmed that zone over it (set then, or later when the zone it began is confirmed)."""

    t_s: float
    estimates: Estimates
    raw_zone: str | None = None
    agreed: bool = False


class _Warmup(NamedTuple):
    """A frame before the first road-ahead offset, as it came."""

    t_s: float
    estimates: Estimates
    camera: CameraPose


class _Trusted(NamedTuple):
    """What `GazeStateStage._trusted` decided for a frame."""

    estimates: Estimates | None  # to classify with
    held: bool                   # they are the held ones
    covered: bool                # a hand covers the face or lies at the head (held or not)
    kept: _Uncovered | None      # the uncovered frame kept for a later hold, if this is one


class _Frame(NamedTuple):
    """One frame's results inside the stage."""

    trusted: _Trusted
    est: ZoneEstimate
    zone: str             # smoothed
    since: float
    state: DriverState
    events: list[DistractionEvent]


class GazeStateStage:
    def __init__(self, layout: CabinLayout, driver_calibration: "DriverCalibration | None" = None,
                 config: GazeStateConfig | None = None) -> None:
        self.layout = layout
        self.config = config or GazeStateConfig()
        self.calibration = driver_calibration
        self.classifier = GazeZoneClassifier(
            layout, driver_calibration.model if driver_calibration else None,
            driver_calibration.corrections() if driver_calibration and self.config.per_target_corrections else None)
        h = self.config.hysteresis
        self._zone_hysteresis = HysteresisConfig(h.min_frames, h.min_duration_s,
                                                 {UNKNOWN: self.config.distraction.unknown_hold_s,
                                                  **h.min_duration_for})
        self.classifier.eye_weight = self.config.eye_weight
        self.classifier.head_spread_deg = self.config.head_spread_deg
        self.classifier.eyes_hidden_fallback = self.config.eyes_hidden_fallback
        self.classifier.eye_view_deg = self.config.eye_view_deg
        self.classifier.use_head_space(self.config.head_space)
        self._road = frozenset(layout.road_zones)
        self.reset()

    def reset(self) -> None:
        """Forget the smoothing and timer state (a new sequence or driver); time may restart."""
        self._zones = Debouncer(self._zone_hysteresis)
        self.monitor = DistractionMonitor(self.config.distraction)
        self._recent: deque[tuple[float, np.ndarray, bool]] = deque()  # (t, face direction, on road) of found heads
        self._last_road: str | None = None
        self._last_t: float | None = None
        self._uncovered: deque[_Uncovered] = deque()  # recent estimates of an uncovered face
        self._held: Estimates | None = None  # what the current covered run is classified with
        self._covered_since: float | None = None
        self._last_covered = -np.inf
        road_head = self.classifier.road_head_angles()
        road_fit = self.calibration.targets.get(self.layout.road_zones[0]) if (
            self.calibration is not None and self.layout.road_zones) else None
        if road_fit is not None:  # this driver's measured road direction (the calibrated model is exact there)
            road_head = road_fit.head_deg
        self.road_ahead = (RoadAheadCalibrator(road_head, self.config.road_ahead)
                           if self.config.road_ahead.enabled and road_head is not None else None)
        self.classifier.head_offset_deg = (0.0, 0.0)
        self.classifier.head_scatter_deg = None
        # the frames before the first road-ahead offset, to re-run once it exists (warmup_replay_s)
        self._warmup: list[_Warmup] | None = (
            [] if self.road_ahead is not None and self.config.warmup_replay_s > 0 else None)

    def set_camera_pose(self, pose: CameraPose) -> None:
        """The camera moved (or a recording states its mount): rays use the new pose from now on."""
        self.classifier.camera = pose

    def process(self, estimates: Estimates, t_s: float
                ) -> tuple[GazeResult, DriverState, list[DistractionEvent]]:
        # a late frame is rejected before it touches anything: the caller drops it and carries on
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError(f"time went backwards: {t_s} after {self._last_t}")
        self._last_t = t_s
        if self._warmup and (t_s - self._warmup[0].t_s > self.config.warmup_replay_s
                             or len(self._warmup) >= MAX_WARMUP_FRAMES):
            self._warmup = None  # too long without an offset: the first seconds stand as counted
        if self._warmup is not None:
            self._warmup.append(_Warmup(t_s, estimates, self.classifier.camera))
        frame = self._step(t_s, estimates)
        est = frame.est
        used_offset = self.classifier.head_offset_deg  # what this frame was classified with
        # a covered face teaches the road-ahead offset nothing, held or (past the hold) not
        if est.head_valid and not frame.trusted.covered and self.road_ahead is not None:  # from the next frame on
            self.classifier.head_offset_deg = self.road_ahead.add(t_s, est.head_angles_deg)
            self.classifier.head_scatter_deg = self.road_ahead.scatter_deg
        if self._warmup is not None and self.road_ahead is not None:
            if frame.events and not self.road_ahead.ready and self.road_ahead.update_now(t_s):
                # about to raise an event from head directions read without an offset: find one now
                self.classifier.head_offset_deg = self.road_ahead.offset_deg
                self.classifier.head_scatter_deg = self.road_ahead.scatter_deg
            if self.road_ahead.ready:
                frame = self._replay_warmup(t_s)
                used_offset = self.classifier.head_offset_deg
            elif frame.events:
                self._warmup = None  # sent: the history stands
        est = frame.est
        gaze = GazeResult(
            t_s, frame.zone, frame.since, est.zone, est.probabilities, est.head_valid, self.calibration is not None,
            None if est.head_position_car_mm is None else [round(float(v), 2) for v in est.head_position_car_mm],
            None if est.gaze_direction_car is None else [round(float(v), 5) for v in est.gaze_direction_car],
            None if est.gaze_angles_deg is None else round(est.gaze_angles_deg[0], 3),
            None if est.gaze_angles_deg is None else round(est.gaze_angles_deg[1], 3),
            None if self.road_ahead is None else [round(v, 3) for v in used_offset], frame.trusted.held)
        return gaze, frame.state, frame.events

    def _step(self, t_s: float, estimates: Estimates | None) -> _Frame:
        """One frame through the face-cover hold, the classifier, the zone smoother and the timers (all but
        the road-ahead calibration, which only the live frames teach)."""
        trusted = self._trusted(estimates, t_s)
        est = (self.classifier.classify(trusted.estimates.head, trusted.estimates.joints, trusted.estimates.eyes)
               if trusted.estimates is not None else self.classifier.classify(None))
        zone, since = self._zones.update(t_s, est.zone)
        if zone is None:  # nothing confirmed yet
            zone, since = UNKNOWN, t_s
        if trusted.kept is not None:
            trusted.kept.raw_zone = est.zone if est.head_valid else None
        self._mark_agreed(zone, since)
        road = UNKNOWN if not est.head_valid else (ON if est.zone in self._road else OFF)
        onset = None
        if road != UNKNOWN:
            if road == OFF and self._last_road == ON and self.config.onset_lookback_s > 0:
                onset = self._departure(t_s)
            self._remember(t_s, angles_to_direction(*est.head_angles_deg), road == ON)
            self._last_road = road
        state, events = self.monitor.update(t_s, road, zone, onset)
        return _Frame(trusted, est, zone, since, state, events)

    def _replay_warmup(self, t_s: float) -> _Frame:
        """The first road-ahead offset has come: the face-cover hold, the smoother and the timers start again
        from the first frame, every buffered frame (this one last) classified with the offset and the
        camera pose it had, as if the offset had been known from the start. Returns this frame's results;
        events found on the way are raised now (detected_s = ``t_s``)."""
        frames, self._warmup = self._warmup or [], None  # never empty: it holds this frame
        self._zones = Debouncer(self._zone_hysteresis)
        self.monitor = DistractionMonitor(self.config.distraction)
        self._recent.clear()
        self._last_road = None
        self._uncovered.clear()
        self._held, self._covered_since, self._last_covered = None, None, -np.inf
        camera = self.classifier.camera
        events: list[DistractionEvent] = []
        for buffered in frames:
            self.classifier.camera = buffered.camera
            frame = self._step(buffered.t_s, buffered.estimates)
            events += [replace(e, detected_s=t_s) for e in frame.events]
        self.classifier.camera = camera
        return frame._replace(events=events)

    def _trusted(self, estimates: Estimates | None, t_s: float) -> _Trusted:
        """The estimates to classify this frame with and whether they are the held ones (a hand over
        the face or at the head: GazeStateConfig.cover_hold_s). A covered run ends only after
        cover_margin_s without a covered frame: the uncovered frames in between (a detector miss, the hand leaving) are part
        of it, so a one-frame dip neither restarts the hold's time limit nor becomes the pose held.
        A missing head neither starts nor ends a run."""
        head = estimates.head if estimates is not None else None
        cfg = self.config
        if head is None or cfg.cover_hold_s <= 0:
            return _Trusted(estimates, False, False, None)
        margin = cfg.cover_margin_s
        covered = ((head.covered_p is not None and head.covered_p >= cfg.cover_threshold)
                   or (cfg.hand_at_head_mm is not None
                       and hand_at_head(head, estimates.joints, cfg.hand_at_head_mm, cfg.hand_confidence)))
        if covered:
            if self._covered_since is None:  # a run begins: the pose from before the hand came near
                self._covered_since = t_s
                self._held = self._pose_before(t_s - margin)
                self._uncovered.clear()
            self._last_covered = t_s
        elif self._covered_since is not None and t_s - self._last_covered < margin - 1e-6:
            pass  # still the run's tail
        else:
            self._covered_since = None
            kept = _Uncovered(t_s, estimates)
            self._uncovered.append(kept)
            while len(self._uncovered) > 1 and self._uncovered[1].t_s <= t_s - margin - MAX_HELD_AGE_S:
                self._uncovered.popleft()  # all that _pose_before may choose from
            return _Trusted(estimates, False, False, kept)
        # never longer than a long distraction takes, so a covered glance away cannot hide one
        limit = min(cfg.cover_hold_s, cfg.distraction.long_s)
        if self._held is None or t_s - self._covered_since > limit + 1e-6:
            return _Trusted(estimates, False, True, None)
        return _Trusted(replace(estimates, head=self._held.head, eyes=self._held.eyes), True, True, None)

    def _mark_agreed(self, zone: str, since: float) -> None:
        """Mark the kept uncovered frames from ``since`` (the confirmed zone's start, backdated by the
        smoother) whose raw zone is ``zone``: the smoother has confirmed them, so they are no glitch."""
        for kept in reversed(self._uncovered):
            if kept.t_s < since - 1e-6 or kept.agreed:
                break  # older ones were marked when they could be
            if kept.raw_zone == zone:
                kept.agreed = True

    def _pose_before(self, t_latest: float) -> Estimates | None:
        """The newest uncovered estimates from no later than ``t_latest`` and at most MAX_HELD_AGE_S
        before it (after a long gap without a head there is nothing worth holding) whose raw zone was
        the zone the smoother confirmed: a one-frame glitch the smoother ignored would, held, read as
        seconds of a glance (a driver whose noisy head reads flick to a mirror). With no such frame,
        the newest."""
        chosen = agreed = None
        for kept in self._uncovered:
            if t_latest - MAX_HELD_AGE_S - 1e-6 <= kept.t_s <= t_latest + 1e-6:
                chosen = kept.estimates
                agreed = kept.estimates if kept.agreed else agreed
        return agreed if agreed is not None else chosen

    def _remember(self, t_s: float, ray: np.ndarray, on_road: bool) -> None:
        self._recent.append((t_s, ray, on_road))
        keep = t_s - self.config.onset_lookback_s - self.config.onset_rest_s
        while self._recent and self._recent[0][0] < keep:
            self._recent.popleft()

    def _departure(self, t_s: float) -> float | None:
        """When the head began to leave its resting direction on the road (None: no rest seen).
        Directions are averaged over ``onset_smooth_frames`` (centred) so pose noise does not hide it."""
        if len(self._recent) < 3:
            return None
        t = np.array([x[0] for x in self._recent])
        rays = np.array([x[1] for x in self._recent])
        on = np.array([x[2] for x in self._recent])
        k = self.config.onset_smooth_frames
        if k > 1 and len(rays) >= k:
            kernel = np.ones(k) / k
            pad = np.pad(rays, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
            rays = np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(3)], axis=1)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        lo = t_s - self.config.onset_lookback_s
        rest = (t < lo) & on
        if rest.sum() < 3:
            return None
        centre = rays[rest].mean(axis=0)
        centre /= np.linalg.norm(centre)
        dist = np.degrees(np.arccos(np.clip(rays @ centre, -1.0, 1.0)))
        limit = max(self.config.onset_min_deg, self.config.onset_noise_k * float(np.sqrt(np.mean(dist[rest] ** 2))))
        onset, later = t_s, np.inf
        for i in range(len(t) - 1, -1, -1):
            if t[i] < lo or dist[i] <= limit or dist[i] > later:
                break  # at rest (or drifting back): the movement began on the frame after this one
            onset, later = float(t[i]), dist[i]
        return onset


HANDS = ("HandLeft", "HandRight")


def hand_at_head(head: HeadPose, joints: Joints | None, within_mm: float, min_confidence: float) -> bool:
    """Whether a body-model hand (HANDS, confidence >= ``min_confidence``, 3-D position known) lies
    within ``within_mm`` of the head centre (camera frame, mm; the "Head" joint where the pose has no
    position, as for the gaze ray); False without joints or either position."""
    centre = (np.asarray(head.position_mm, dtype=np.float64) if head.position_mm is not None
              else joint_position(joints, "Head", MIN_JOINT_CONFIDENCE))
    if centre is None or not np.all(np.isfinite(centre)):
        return False
    for name in HANDS:
        hand = joint_position(joints, name, min_confidence)
        if hand is not None and np.linalg.norm(hand - centre) <= within_mm:
            return True
    return False


__all__ = ["DEFAULT_GAZE_SCORING", "GAZE_SCORINGS", "GazeStateStage", "GazeStateConfig", "gaze_state_config"]

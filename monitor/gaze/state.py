"""Driver-state timers (DESIGN.md sec. 6, Euro NCAP / EU ADDW): long distraction and VATS.

Time is injected: every update carries ``t_s`` (seconds, any monotonic origin); nothing here reads
a clock. Each frame is "on" the road, "off" it, or "unknown" (no head pose). The road state is
debounced like the zones (`Debouncer`, switches backdated to the first frame of the run), then:
- long distraction: one off-road run lasting >= ``long_s``; starts at the run's onset;
- VATS: off-road time inside the trailing ``vats_window_s`` window exceeds ``vats_threshold_s``.

Unknown frames (head not found): for up to ``unknown_hold_s`` the last road state is held (a
detector miss neither starts nor resets a timer). After that ``unknown_policy`` decides:
"off_road" (default: a driver whose face cannot be seen is treated as not watching the road, from
the first missing frame on), "on_road", or "hold" (keep the last known state).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from monitor.gaze.smoothing import TIME_EPS_S, Debouncer, HysteresisConfig
from monitor.gaze.types import DistractionEvent, DriverState

ON, OFF, UNKNOWN = "on", "off", "unknown"
UNKNOWN_POLICIES = ("off_road", "on_road", "hold")


@dataclass(frozen=True)
class DistractionConfig:
    long_s: float = 3.0
    vats_window_s: float = 30.0
    vats_threshold_s: float = 10.0
    unknown_policy: str = "off_road"
    unknown_hold_s: float = 0.5
    hysteresis: HysteresisConfig = field(default_factory=HysteresisConfig)

    def __post_init__(self) -> None:
        if self.long_s <= 0 or self.vats_window_s <= 0 or self.vats_threshold_s <= 0:
            raise ValueError("long_s, vats_window_s and vats_threshold_s must be positive")
        if self.vats_threshold_s >= self.vats_window_s:
            raise ValueError(f"vats_threshold_s ({self.vats_threshold_s}) must be below vats_window_s "
                             f"({self.vats_window_s})")
        if self.unknown_policy not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown_policy must be one of {UNKNOWN_POLICIES}, got {self.unknown_policy!r}")
        if self.unknown_hold_s < 0:
            raise ValueError("unknown_hold_s must be >= 0")


class DistractionMonitor:
    def __init__(self, config: DistractionConfig | None = None) -> None:
        self.config = config or DistractionConfig()
        self._road = Debouncer(self.config.hysteresis)
        self._closed: deque[tuple[float, float]] = deque()  # finished off-road runs (start, end)
        self._off_start: float | None = None
        self._open_until = 0.0                               # the open off-road run counts up to here
        self._missing_since: float | None = None
        self._last_t: float | None = None
        self._long_start: float | None = None               # onset of the active long distraction
        self._vats: DistractionEvent | None = None           # active VATS episode

    def update(self, t_s: float, road_state: str, zone: str = "", onset_s: float | None = None
               ) -> tuple[DriverState, list[DistractionEvent]]:
        """One frame: ``road_state`` is "on", "off" or "unknown"; ``zone`` is only echoed.
        ``onset_s``: on the first off-road frame of a glance, when the caller knows the gaze
        started to leave the road earlier than this frame (GazeStateStage: the head began to
        turn); never before the current on-road run began."""
        if road_state not in (ON, OFF, UNKNOWN):
            raise ValueError(f"road_state must be 'on', 'off' or 'unknown', got {road_state!r}")
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError(f"time went backwards: {t_s} after {self._last_t}")
        t_prev = self._last_t if self._last_t is not None else t_s
        self._last_t = t_s
        events: list[DistractionEvent] = []

        state, since = self._debounce(t_s, road_state, onset_s)
        if state == OFF and self._off_start is None:
            self._off_start = since
        elif state == ON and self._off_start is not None:
            self._closed.append((self._off_start, since))
            if self._long_start is not None:
                events.append(DistractionEvent("long_distraction", "end", self._long_start,
                                               self._long_start + self.config.long_s, t_s, since))
                self._long_start = None
            self._off_start = None

        # a change of the road state still awaiting confirmation: a return to the road, or a glance
        pending = None if state is None else self._road.pending_since(OFF if state == ON else ON)
        if road_state == UNKNOWN and state is not None and self._missing_since is not None:
            # a dropout within its hold may still become the policy's state from its first frame
            becomes = {"off_road": OFF, "on_road": ON}.get(self.config.unknown_policy)
            if becomes is not None and becomes != state:
                pending = self._missing_since if pending is None else min(pending, self._missing_since)
        # an unconfirmed return to the road probably ended the run where it began: count the open
        # run only up to there (if it was a glitch, the run simply keeps counting next frame)
        self._open_until = pending if state == OFF and pending is not None else t_s
        if (self._off_start is not None and self._long_start is None
                and self._open_until - self._off_start >= self.config.long_s - TIME_EPS_S):
            self._long_start = self._off_start
            events.append(DistractionEvent("long_distraction", "start", self._off_start,
                                           self._off_start + self.config.long_s, t_s))
        events.extend(self._update_vats(t_prev, t_s, pending))

        window = self._off_in_window(t_s)
        missing = 0.0 if self._missing_since is None else t_s - self._missing_since
        return DriverState(t_s, zone, None if state is None else state == ON,
                           0.0 if self._off_start is None else self._open_until - self._off_start, window,
                           self._long_start is not None, self._vats is not None, missing), events

    def _debounce(self, t_s: float, road_state: str, onset_s: float | None) -> tuple[str | None, float | None]:
        if road_state != UNKNOWN:
            self._missing_since = None
            hint = None
            if road_state == OFF and onset_s is not None and onset_s < t_s:
                hint = max(onset_s, self._road.since) if self._road.current == ON else onset_s
            return self._road.update(t_s, road_state, start_hint_s=hint)
        if self._missing_since is None:
            self._missing_since = t_s
        policy = self.config.unknown_policy
        if (policy == "hold" or t_s - self._missing_since < self.config.unknown_hold_s - TIME_EPS_S
                or self._road.current is None):
            return self._road.current, self._road.since
        target = OFF if policy == "off_road" else ON
        return self._road.update(t_s, target, start_hint_s=self._missing_since, force=True)

    def _off_in_window(self, t: float) -> float:
        """Off-road seconds inside [t - window, t] (the open run counts up to t)."""
        lo = t - self.config.vats_window_s
        total = sum(max(0.0, min(e, t) - max(s, lo)) for s, e in self._closed)
        if self._off_start is not None:
            total += max(0.0, min(t, self._open_until) - max(self._off_start, lo))
        return total

    def _update_vats(self, t_prev: float, t: float, pending: float | None) -> list[DistractionEvent]:
        cfg = self.config
        thr = cfg.vats_threshold_s + TIME_EPS_S  # float noise on a total that sits at the threshold: no flapping
        # the window total only rises during an open off-road run and only falls on the road, so
        # searching back to the run's onset (or the last return to the road) finds the one crossing;
        # across a gap in frames the state persisted, so the search may reach back past the gap
        last_change = self._off_start if self._off_start is not None else (
            self._closed[-1][1] if self._closed else t_prev)
        lo = min(t_prev, last_change)
        while self._closed and self._closed[0][1] < lo - cfg.vats_window_s:
            self._closed.popleft()  # no longer inside any window a search will evaluate
        total = self._off_in_window(t)
        if self._vats is None:
            if total <= thr:
                return []
            met = self._crossing(lo, t, rising=True)
            self._vats = DistractionEvent("vats", "start", self._first_onset(met), met, t)
            return [self._vats]
        # a pending change may still add its frames as off-road time (a return that was a glitch, a
        # glance that is confirmed): end only once the total is at the threshold either way, so a
        # glitch neither ends nor re-raises the episode (nor does the total fall during an open run)
        if pending is not None:
            total += max(0.0, t - max(pending, t - cfg.vats_window_s))
        if total > thr:
            return []
        ev = self._vats
        self._vats = None
        return [DistractionEvent("vats", "end", ev.start_s, ev.criterion_met_s, t,
                                 self._crossing(lo, t, rising=False))]

    def _crossing(self, lo: float, hi: float, rising: bool) -> float:
        """Time in [lo, hi] where the window total crosses the threshold (bisection)."""
        thr = self.config.vats_threshold_s + TIME_EPS_S
        if (self._off_in_window(lo) > thr) == rising:
            return lo
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if (self._off_in_window(mid) > thr) == rising:
                hi = mid
            else:
                lo = mid
        return hi

    def _first_onset(self, t: float) -> float:
        lo = t - self.config.vats_window_s
        runs = list(self._closed) + ([(self._off_start, min(t, self._open_until))] if self._off_start is not None else [])
        return min(max(s, lo) for s, e in runs if e > lo)

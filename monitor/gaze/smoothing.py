"""Hysteresis on a stream of labels: a new label must persist before it replaces the current one.

A candidate label takes over only after it was seen on ``min_frames`` consecutive updates spanning
at least ``min_duration_s`` (a per-label override allows e.g. a longer hold for "unknown"), so a
single noisy frame never flips the output. The switch is backdated: the new label's ``since`` is
the time of the first frame of its run, which keeps event start times exact.

A run can be broken by labels that alternate (a zone boundary the ray sits on, a face detector
that misses every other frame): then no single candidate persists, yet the current label is
plainly gone. Once ``2 * min_frames`` updates in a row differ from the confirmed label, the label
seen most often among them takes over (it must itself have ``min_frames`` frames and its duration;
a zone beats "unknown" on a tie), backdated to its first frame in that stretch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from monitor.gaze.zones import UNKNOWN

TIME_EPS_S = 1e-6  # seconds: frame times in float do not add up exactly ((0.2 + 240/30) - (0.2 + 150/30) < 3)


@dataclass(frozen=True)
class HysteresisConfig:
    min_frames: int = 3
    min_duration_s: float = 0.05
    min_duration_for: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {self.min_frames}")
        if self.min_duration_s < 0 or any(v < 0 for v in self.min_duration_for.values()):
            raise ValueError("hysteresis durations must be >= 0")


class Debouncer:
    """Confirms label changes; ``current`` is None until the first label is confirmed."""

    def __init__(self, config: HysteresisConfig) -> None:
        self.config = config
        self.current: str | None = None
        self.since: float | None = None
        self._cand: str | None = None
        self._cand_start = 0.0
        self._cand_frames = 0
        # the stretch of updates that differ from ``current``: label -> (frames, first time)
        self._away: dict[str, tuple[int, float]] = {}

    def pending_since(self, label: str) -> float | None:
        """Start time of an unconfirmed run of ``label`` (None when ``label`` is not the candidate)."""
        return self._cand_start if self._cand == label else None

    def update(self, t_s: float, label: str, start_hint_s: float | None = None, force: bool = False
               ) -> tuple[str | None, float | None]:
        """Feed one frame; returns (confirmed label, its start time). ``start_hint_s`` backdates a
        new candidate (e.g. to a dropout's first frame); ``force`` confirms it at once."""
        if label == self.current:
            self._cand, self._away = None, {}
            return self.current, self.since
        if label == self._cand:
            self._cand_frames += 1
        else:
            self._cand, self._cand_frames = label, 1
            self._cand_start = t_s if start_hint_s is None else start_hint_s
        frames, first = self._away.get(label, (0, self._cand_start))  # new in the stretch: a new candidate too
        self._away[label] = (frames + 1, first)
        if force or (self._cand_frames >= self.config.min_frames and t_s - self._cand_start >= self._need(label)):
            self._confirm(label, self._cand_start)
        elif self.current is not None and sum(n for n, _ in self._away.values()) >= 2 * self.config.min_frames:
            ready = [(n, name != UNKNOWN, name == label, name) for name, (n, start) in self._away.items()
                     if n >= self.config.min_frames and t_s - start >= self._need(name)]
            if ready:
                name = max(ready)[3]
                self._confirm(name, self._away[name][1])
        return self.current, self.since

    def _need(self, label: str) -> float:
        """How long ``label`` must have lasted to be confirmed, less the float tolerance."""
        return self.config.min_duration_for.get(label, self.config.min_duration_s) - TIME_EPS_S

    def _confirm(self, label: str, since: float) -> None:
        self.current, self.since = label, since
        self._cand, self._away = None, {}

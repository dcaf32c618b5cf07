"""Join frames (pixels, from capture) with states (results, from gaze) by (stream, frame id).

Two links, two orders of arrival: a frame usually comes before its state, but not always (the
capture worker may still be handing the frame to the display when the estimator and gaze stages
have already produced its state). The joiner keeps small bounded dicts of recent frames and
states; when both halves of a frame are in, the pair is ready, and every older frame or state of
that stream still waiting is given up: the display shows the newest complete frame and counts
what it skipped. Pure bookkeeping, no I/O.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CAPACITY = 32
Key = tuple[str, int]


@dataclass
class JoinStats:
    """joined: pairs handed out; skipped_frames: frames received but never shown (superseded by a
    newer complete frame, evicted, late, or still waiting at the end); gaps: frame ids never
    received on the frames link (live drops upstream, seen as holes in the ids);
    unmatched_states: states whose frame never came."""

    joined: int = 0
    skipped_frames: int = 0
    gaps: int = 0
    unmatched_states: int = 0

    def to_json(self) -> dict[str, int]:
        return {"joined": self.joined, "skipped_frames": self.skipped_frames, "gaps": self.gaps,
                "unmatched_states": self.unmatched_states}


@dataclass
class FrameJoiner:
    capacity: int = DEFAULT_CAPACITY
    stats: JoinStats = field(default_factory=JoinStats)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"FrameJoiner capacity must be >= 1, got {self.capacity}")
        self._frames: OrderedDict[Key, Any] = OrderedDict()
        self._states: OrderedDict[Key, Any] = OrderedDict()
        self._last_frame: dict[str, int] = {}  # newest frame id received per stream
        self._last_joined: dict[str, int] = {}

    @property
    def frames_waiting(self) -> int:
        return len(self._frames)

    @property
    def states_waiting(self) -> int:
        return len(self._states)

    def add_frame(self, stream: str, frame: int, item: Any) -> tuple[Any, Any] | None:
        """Hold a frame; returns (frame item, state item) when its state was already in."""
        last = self._last_frame.get(stream)
        if last is not None and frame > last + 1:
            self.stats.gaps += frame - last - 1
        if last is None or frame > last:
            self._last_frame[stream] = frame
        if frame <= self._last_joined.get(stream, -1):
            self.stats.skipped_frames += 1  # older than what is already shown
            return None
        key = (stream, frame)
        if key in self._states:
            return self._join(key, item, self._states.pop(key))
        self._frames[key] = item
        while len(self._frames) > self.capacity:
            self._frames.popitem(last=False)
            self.stats.skipped_frames += 1
        return None

    def add_state(self, stream: str, frame: int, item: Any) -> tuple[Any, Any] | None:
        """Hold a state; returns (frame item, state item) when its frame was already in."""
        if frame <= self._last_joined.get(stream, -1):
            self.stats.unmatched_states += 1
            return None
        key = (stream, frame)
        if key in self._frames:
            return self._join(key, self._frames.pop(key), item)
        self._states[key] = item
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)
            self.stats.unmatched_states += 1
        return None

    def _join(self, key: Key, frame_item: Any, state_item: Any) -> tuple[Any, Any]:
        stream, frame = key
        for held, counter in ((self._frames, "skipped_frames"), (self._states, "unmatched_states")):
            older = [k for k in held if k[0] == stream and k[1] < frame]
            for k in older:
                del held[k]
            setattr(self.stats, counter, getattr(self.stats, counter) + len(older))
        self.stats.joined += 1
        self._last_joined[stream] = frame
        return frame_item, state_item

    def finish(self) -> None:
        """End of the run: whatever still waits for its other half will never be shown."""
        self.stats.skipped_frames += len(self._frames)
        self.stats.unmatched_states += len(self._states)
        self._frames.clear()
        self._states.clear()

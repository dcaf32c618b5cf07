"""Results sink: one JSON line per processed frame (results.jsonl) and events (events.jsonl)."""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from monitor.latency import stage_latencies_ms
from monitor.summary import read_results
from monitor.validate import check_states_meta, truth_from_meta
from monitor.wire import WireError
from monitor.workers.base import Worker

RESULTS_FILE = "results.jsonl"
EVENTS_FILE = "events.jsonl"
# A restarted capture resumes after the frame count of its last heartbeat, so it may send again a
# frame or two that already went through: the sink remembers the latest frames and skips repeats.
RECENT_FRAMES = 256


def result_record(msg_stream: str, frame: int, device_ts_ms: float, stamps: dict[str, int],
                  meta: dict[str, Any], truth: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.jsonl line for one frame (docs/outputs.md)."""
    record: dict[str, Any] = {
        "stream": msg_stream, "frame": frame, "device_ts_ms": device_ts_ms,
        "capture_ns": stamps.get("capture.in"),
        "estimates": meta.get("estimates"), "gaze": meta.get("gaze"), "state": meta.get("state"),
        "events": meta.get("events") or [],  # the distraction events raised on this frame (also in events.jsonl)
        "latency_ms": {k: round(v, 4) for k, v in stage_latencies_ms(stamps).items()},
        "timings_ms": meta.get("timings_ms", {}),
    }
    if truth is not None:  # validate.truth_from_meta(meta)
        record["truth"] = truth
    return record


def last_results(path: Path, tail_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The complete lines among the last ``tail_bytes`` of results.jsonl (a long run's file is
    large; a restart must stay fast)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, 2) - tail_bytes, 0))
            lines = f.read().split(b"\n")[1:-1]  # the first may be cut by the seek; the last by a crash
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records[-RECENT_FRAMES:]


def open_episodes(events: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    """The start events of ``events`` (events.jsonl lines, in order) that no end event followed,
    keyed by (kind, start_s)."""
    opened: dict[tuple[str, float], dict[str, Any]] = {}
    for e in events:
        key = (e.get("kind"), e.get("start_s"))
        if e.get("phase") == "start":
            opened[key] = e
        elif e.get("phase") == "end":
            opened.pop(key, None)
    return opened


def closing_event(start: dict[str, Any], last_t_s: float) -> dict[str, Any]:
    """The end event of an episode still open when the stream ended or the run was stopped: it
    ends at the last frame written, marked ``open_at_end`` (how long it really lasted is unknown)."""
    end_s = max(float(last_t_s), float(start["start_s"]))
    return {**start, "phase": "end", "detected_s": end_s, "end_s": end_s,
            "duration_s": end_s - float(start["start_s"]), "open_at_end": True}


def lost_end_event(start: dict[str, Any], detected_s: float) -> dict[str, Any]:
    """The end of an episode whose real end never came: the gaze/state worker was restarted (its
    new stage knows nothing of the old episode), and a frame's state says no such episode is open
    or the new stage raised one of the same kind, which the rules never allow while one is open.
    When it ended is unknown; ``detected_s`` is when the sink found out."""
    return {**start, "phase": "end", "detected_s": detected_s, "end_s": None, "duration_s": None,
            "end_lost": True}


class SinkWorker(Worker):
    role = "sink"

    def setup(self) -> None:
        out = Path(self.config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # Append: a restarted sink continues the files its previous incarnation wrote.
        self.results: TextIO = open(out / RESULTS_FILE, "a", encoding="utf-8")
        self.events: TextIO = open(out / EVENTS_FILE, "a", encoding="utf-8")
        self.recent: deque[tuple[str, int, float]] = deque(maxlen=RECENT_FRAMES)
        if self.config.incarnation:  # a restarted sink knows what its predecessors wrote
            self.recent.extend((r.get("stream"), r.get("frame"), r.get("device_ts_ms"))
                               for r in last_results(out / RESULTS_FILE))
        self.counters["duplicates"] = 0
        # every start in events.jsonl gets its end, also when the stream ends mid-episode (closed in
        # teardown); a restarted sink picks up what its predecessors left open
        self.open: dict[tuple[str, float], dict[str, Any]] = {}
        self.last_t_s: float | None = None
        if self.config.incarnation:
            self.open = open_episodes(list(read_results(out / EVENTS_FILE)))
            self.last_t_s = next((r["device_ts_ms"] / 1000.0 for r in reversed(last_results(out / RESULTS_FILE))
                                  if isinstance(r.get("device_ts_ms"), (int, float))), None)
        self.rx = self.add_receiver("gaze", topics=frozenset({"states"}))

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        try:
            check_states_meta(msg.meta)
            truth = truth_from_meta(msg.meta)
        except WireError as exc:  # decodes, but would write nonsense: malformed, like a wire error
            self.rx.reject(exc)
            return True
        key = (msg.stream, msg.frame, msg.device_ts_ms)
        if key in self.recent:
            self.counters["duplicates"] += 1
            return True
        self.recent.append(key)
        self.artificial_delay()
        record = result_record(msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, msg.meta, truth)
        self.results.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.results.flush()  # a line is either complete on disk or absent, even after SIGKILL
        self.last_t_s = msg.device_ts_ms / 1000.0
        for event in msg.meta.get("events") or []:
            self._write_event(event)
        self._end_forgotten_episodes(msg.meta.get("state") or {})
        self.counters["processed"] += 1
        return True

    def _end_forgotten_episodes(self, state: dict[str, Any]) -> None:
        """A frame whose driver state has no open episode of a kind that events.jsonl still has open:
        the gaze/state worker was restarted and its new stage never knew that episode, so its end
        will never come. It ends here, as lost (the stage's own ends arrive on the frame whose state
        clears the flag, so an episode the stage knows is never cut)."""
        for kind in ("long_distraction", "vats"):
            if state.get(kind) is False:
                for old in [e for e in self.open.values() if e.get("kind") == kind]:
                    self._write_event(lost_end_event(old, self.last_t_s))

    def _write_event(self, event: dict[str, Any]) -> None:
        if event.get("phase") == "start":
            for old in [e for e in self.open.values() if e.get("kind") == event.get("kind")]:
                self._write_event(lost_end_event(old, float(event.get("detected_s") or 0.0)))
        self.events.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.events.flush()
        self.open = open_episodes([*self.open.values(), event])

    def teardown(self) -> None:
        # only at a real end (the stream's, or a stop): a crashed sink is replaced, and its
        # successor writes the ends the gaze stage still sends
        if self.state in ("done", "stopped") and hasattr(self, "events") and self.last_t_s is not None:
            for start in list(self.open.values()):
                self._write_event(closing_event(start, self.last_t_s))
        for f in ("results", "events"):
            if hasattr(self, f):
                getattr(self, f).close()


"""Results sink: one JSON line per processed frame (results.jsonl) and events (events.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from monitor.latency import stage_latencies_ms
from monitor.workers.base import Worker

RESULTS_FILE = "results.jsonl"
EVENTS_FILE = "events.jsonl"


def result_record(msg_stream: str, frame: int, device_ts_ms: float, stamps: dict[str, int],
                  meta: dict[str, Any]) -> dict[str, Any]:
    """The results.jsonl line for one frame (docs/outputs.md)."""
    record: dict[str, Any] = {
        "stream": msg_stream, "frame": frame, "device_ts_ms": device_ts_ms,
        "capture_ns": stamps.get("capture.in"),
        "estimates": meta.get("estimates"), "gaze": meta.get("gaze"), "state": meta.get("state"),
        "latency_ms": {k: round(v, 4) for k, v in stage_latencies_ms(stamps).items()},
        "timings_ms": meta.get("timings_ms", {}),
    }
    if "truth" in meta:
        record["truth"] = meta["truth"]
    return record


class SinkWorker(Worker):
    role = "sink"

    def setup(self) -> None:
        out = Path(self.config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # Append: a restarted sink continues the files its previous incarnation wrote.
        self.results: TextIO = open(out / RESULTS_FILE, "a", encoding="utf-8")
        self.events: TextIO = open(out / EVENTS_FILE, "a", encoding="utf-8")
        self.rx = self.add_receiver("gaze")

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        self.artificial_delay()
        record = result_record(msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, msg.meta)
        self.results.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.results.flush()  # a line is either complete on disk or absent, even after SIGKILL
        for event in msg.meta.get("events") or []:
            self.events.write(json.dumps(event, separators=(",", ":")) + "\n")
            self.events.flush()
        self.counters["processed"] += 1
        return True

    def teardown(self) -> None:
        for f in ("results", "events"):
            if hasattr(self, f):
                getattr(self, f).close()

"""Capture worker: reads a source and publishes framesets to the estimator (and recorder/display)."""
from __future__ import annotations

import itertools
import time
from typing import Iterator

from monitor.bus import Policy
from monitor.frames import FrameSet
from monitor.sources import open_source
from monitor.wire import Message, encode
from monitor.workers.base import Worker


class CaptureWorker(Worker):
    role = "capture"

    def setup(self) -> None:
        cfg = self.config
        self.source = open_source(cfg.source)
        self.open_ring()
        self.add_sender("estimator")
        if cfg.record:
            # Never blocks a live pipeline; the recorder takes every message it is given.
            self.add_sender("recorder", Policy.REPLAY if self.policy is Policy.REPLAY else Policy.LIVE)
        if cfg.display:
            self.add_sender("display", Policy.LIVE)
        resume = cfg.skip_frames if not self.source.is_live else 0  # after a restart
        frames: Iterator[FrameSet] = self.source.frames_from(resume) if resume else iter(self.source)
        if cfg.max_frames:
            frames = itertools.islice(frames, max(cfg.max_frames - cfg.skip_frames, 0))
        self.frames = frames
        self.counters.update(frames_read=cfg.skip_frames, sent=0)
        self.info["source"] = self.source.name
        self._pace_origin: tuple[float, float] | None = None
        self._last_stream = ""

    def step(self) -> bool:
        if not self.go:
            time.sleep(0.01)
            return True
        try:
            frameset = next(self.frames)
        except StopIteration:
            self.send_eos()
            return False
        self.counters["frames_read"] += 1
        if self.config.realtime and not self.source.is_live:
            self._pace(frameset.device_ts_ms)
        now = time.monotonic_ns()
        self._last_stream = frameset.stream
        msg = frameset.to_message({"capture.in": now})
        self.artificial_delay()
        msg.stamps["capture.out"] = time.monotonic_ns()
        parts = encode(msg, self.ring)  # pixels written once, whatever the number of consumers
        for sender in self.senders.values():
            sender.send_parts(parts, self.should_stop, self.wait_beating)
        self.counters["sent"] = self.senders["estimator"].stats.sent
        self.counters["processed"] += 1
        self.info["last_frame"] = frameset.frame
        return True

    def _pace(self, device_ts_ms: float) -> None:
        """Replay at the recorded rate: sleep until the frame's offset from the first frame."""
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, device_ts_ms)
            return
        due = self._pace_origin[0] + (device_ts_ms - self._pace_origin[1]) / 1000.0
        while due - now > 0 and not self.stopping:
            time.sleep(min(due - now, 0.05))
            self.wait_beating()
            now = time.monotonic()

    def send_eos(self) -> None:
        self.forward_eos(Message("eos", self._last_stream or "none", -1, 0.0, {"capture.out": time.monotonic_ns()}))

    def teardown(self) -> None:
        if hasattr(self, "source"):
            self.source.close()

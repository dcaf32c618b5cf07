"""Capture worker: reads a source and publishes framesets to the estimator (and recorder/display)."""
from __future__ import annotations

import importlib
import itertools
import logging
import time
from typing import Iterator

from monitor.bus import Policy
from monitor.display.links import display_link_policy
from monitor.faults import SourceUnplug
from monitor.frames import FrameSet
from monitor.sources import FrameSource, SourceError, open_source, parse_spec
from monitor.wire import Message, encode
from monitor.workers.base import RunConfig, Worker

log = logging.getLogger(__name__)
RECONNECT_INTERVAL_S = 1.0  # how often a lost camera is looked for again


class CaptureWorker(Worker):
    role = "capture"

    @classmethod
    def preload(cls, config: RunConfig) -> None:
        from monitor.sources import _FACTORIES, parse_spec

        try:
            importlib.import_module(_FACTORIES[parse_spec(config.source)[0]].partition(":")[0])
        except (SourceError, ImportError):
            pass  # the real start reports it

    def setup(self) -> None:
        cfg = self.config
        self.unplug = SourceUnplug.from_config(cfg.faults)
        # A camera that disappears mid-run is looked for again until it is back; a file that
        # fails mid-run is broken for good (its error ends the run).
        self.reconnectable = parse_spec(cfg.source)[0] == "realsense" or self.unplug is not None
        self.counters.update(frames_read=cfg.skip_frames, sent=0, source_lost=0)
        self._lost_at = 0.0
        self._next_try = 0.0
        try:
            self.source: FrameSource | None = open_source(cfg.source)
        except SourceError as exc:
            if not (self.reconnectable and cfg.incarnation > 0):
                raise  # the run's first start: the input is wrong (exit 2)
            self.source = None  # a replacement for a worker that lost the camera: keep looking
            self._lose_source(exc)
        self.open_ring()
        if self.source is not None:
            self._lend_ring(self.source)
        self.add_sender("estimator")
        if cfg.record:
            # Never blocks a live pipeline; the recorder takes every message it is given.
            self.add_sender("recorder", Policy.REPLAY if self.policy is Policy.REPLAY else Policy.LIVE)
        if cfg.display:
            self.add_sender("display", display_link_policy(cfg))
        self.info["source"] = cfg.source if self.source is None else self.source.name
        if self.source is not None:
            self.frames = self._frames(cfg.skip_frames)
            self.info["source_state"] = {"state": "ok", "lost": 0}
        self._pace_origin: tuple[float, float] | None = None
        self._last_stream = ""

    def _lend_ring(self, source: FrameSource) -> None:
        """Sources then copy their pixels straight into a ring slot, and ``encode`` commits the
        slot instead of copying the frameset a second time."""
        if self.ring is not None:
            source.allocator = self.ring.claim

    def _frames(self, already_read: int) -> Iterator[FrameSet]:
        """The source's frames after the ``already_read`` first ones (a restart or reconnect of a
        file resumes where it stopped; a camera just goes on), up to --max-frames in all."""
        assert self.source is not None
        resume = already_read if not self.source.is_live else 0
        frames: Iterator[FrameSet] = self.source.frames_from(resume) if resume else iter(self.source)
        if self.config.max_frames:
            frames = itertools.islice(frames, max(self.config.max_frames - already_read, 0))
        return frames

    def step(self) -> bool:
        if not self.go:
            time.sleep(0.01)
            return True
        if self.source is None:
            self._reconnect()
            return True
        try:
            # A camera that stops sending makes this wait (librealsense: up to 10 s before the source
            # gives up): keep the heartbeat going meanwhile, so the supervisor does not take the wait
            # for a hang and the loss is handled here.
            with self.long_call():
                frameset = next(self.frames)
                if self.unplug is not None:
                    self.unplug.check_frame(self.counters["frames_read"])
        except StopIteration:
            warning = self.source.warning()
            if warning:
                self.info["source_warning"] = warning  # for summary.json's warnings
            self.send_eos()
            return False
        except SourceError as exc:
            if not self.reconnectable:
                raise
            self._lose_source(exc)
            return True
        self.counters["frames_read"] += 1
        if self.config.realtime and not self.source.is_live:
            self._pace(frameset.device_ts_ms)
        now = time.monotonic_ns()
        self._last_stream = frameset.stream
        msg = frameset.to_message({"capture.in": now})
        self.artificial_delay()
        msg.stamps["capture.out"] = time.monotonic_ns()
        parts = encode(msg, self.ring)  # pixels written once, whatever the number of consumers
        if self.ring is not None:
            self.counters["in_place"] = self.ring.committed  # of them, written by the source itself
        for sender in self.senders.values():
            sender.send_parts(parts, self.should_stop, self.wait_beating)
        self.counters["sent"] = self.senders["estimator"].stats.sent
        self.counters["processed"] += 1
        self.info["last_frame"] = frameset.frame
        return True

    def _lose_source(self, exc: Exception) -> None:
        """The camera went away: say so (log, heartbeat, run state) and look for it again."""
        if self.source is not None:
            try:
                self.source.close()
            except Exception as close_exc:  # a vanished device may fail to close; it is gone anyway
                log.debug("closing the lost source failed: %s", close_exc)
        self.source = None
        self._lost_at = time.monotonic()
        self._next_try = self._lost_at + RECONNECT_INTERVAL_S
        self.counters["source_lost"] += 1
        self.state = "reconnecting"
        self.info["source_state"] = {"state": "lost", "error": str(exc)[:300], "lost": self.counters["source_lost"]}
        log.warning("source lost (%s); looking for it again every %.0f s", exc, RECONNECT_INTERVAL_S)

    def _reconnect(self) -> None:
        if time.monotonic() < self._next_try:
            time.sleep(0.02)
            return
        self._next_try = time.monotonic() + RECONNECT_INTERVAL_S
        try:
            if self.unplug is not None:
                self.unplug.check_open()
            source = open_source(self.config.source)
        except SourceError as exc:
            self.info["source_state"]["error"] = str(exc)[:300]
            return
        self._lend_ring(source)
        self.source = source
        self.frames = self._frames(self.counters["frames_read"])
        self._pace_origin = None
        down_s = time.monotonic() - self._lost_at
        self.state = "ready"
        self.info["source_state"] = {"state": "ok", "lost": self.counters["source_lost"],
                                     "last_outage_s": round(down_s, 3)}
        log.warning("source back after %.1f s", down_s)

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
        if getattr(self, "source", None) is not None:
            self.source.close()

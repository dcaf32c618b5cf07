"""Gaze/state worker: estimates in; gaze zone, driver state and distraction events out."""
from __future__ import annotations

import time

from monitor.bus import Policy
from monitor.wire import Message
from monitor.workers.base import Worker


class GazeWorker(Worker):
    role = "gaze"

    def setup(self) -> None:
        self.rx = self.add_receiver("estimator")
        self.add_sender("sink")
        if self.config.display:
            self.add_sender("display", Policy.LIVE)
        self.stage = None  # the gaze-zone classifier and distraction timers plug in here

    def step(self) -> bool:
        msg = self.rx.recv(100)
        if msg is None:
            return True
        if msg.topic == "eos":
            for sender in self.senders.values():
                sender.send_blocking(msg, 5000)
            return False
        msg.stamps["gaze.in"] = time.monotonic_ns()
        self.artificial_delay()
        out = Message("states", msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, dict(msg.meta))
        out.stamps["gaze.out"] = time.monotonic_ns()
        for sender in self.senders.values():
            sender.send(out, self.should_stop, self.wait_beating)
        self.counters["processed"] += 1
        return True

"""Estimator worker: framesets in, head pose and body joints out (ONNX Runtime)."""
from __future__ import annotations

import logging
import time

from monitor.estimator.pipeline import PoseEstimator
from monitor.frames import FrameSet
from monitor.wire import Message
from monitor.workers.base import Worker

log = logging.getLogger(__name__)


class EstimatorWorker(Worker):
    role = "estimator"

    def setup(self) -> None:
        cfg = self.config
        self.estimator = PoseEstimator.load(cfg.body_model, cfg.head_model, cfg.providers, cfg.io_binding)
        self.info["models"] = self.estimator.describe()
        self.rx = self.add_receiver("capture")
        self.tx = self.add_sender("gaze")
        self._logged_failures: set[str] = set()

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        try:
            frameset = FrameSet.from_message(msg)
            estimates = self.estimator.estimate(frameset)
        except Exception as exc:  # one bad frame is dropped with its reason, the run goes on
            self.counters["errors"] += 1
            reason = f"{type(exc).__name__}: {exc}"
            if reason not in self._logged_failures:
                self._logged_failures.add(reason)
                log.warning("estimator dropped frame %d (%s)", msg.frame, reason)
            return True
        self.artificial_delay()
        meta = {"estimates": estimates.to_json(), "timings_ms": self.estimator.last_timings_ms}
        for key in ("truth", "extra"):  # ground truth and stream metadata travel on to the sinks
            if key in msg.meta:
                meta[key] = msg.meta[key]
        out = Message("estimates", msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, meta)
        out.stamps["estimator.out"] = time.monotonic_ns()
        self.tx.send(out, self.should_stop, self.wait_beating)
        self.counters["processed"] += 1
        return True

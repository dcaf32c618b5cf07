"""Estimator worker: framesets in, head pose and body joints out (ONNX Runtime)."""
from __future__ import annotations

import logging
import time

from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import ModelLoadError, _short_ort_error
from monitor.faults import ModelError, hang_if_due
from monitor.validate import frameset_from_message
from monitor.wire import Message, WireError
from monitor.workers.base import RunConfig, Worker

log = logging.getLogger(__name__)


class EstimatorWorker(Worker):
    role = "estimator"

    @classmethod
    def preload(cls, config: RunConfig) -> None:
        import onnxruntime  # noqa: F401 - imported lazily by the session, ~0.3 s

    def setup(self) -> None:
        cfg = self.config
        try:
            self.estimator = PoseEstimator.load(cfg.body_model, cfg.head_model, cfg.providers, cfg.io_binding,
                                                body_flip_test=cfg.body_flip_test,
                                                head_flip_test=cfg.head_flip_test, eye_path=cfg.eye_model or None,
                                                cover_path=cfg.cover_model or None)
        except ModelLoadError:
            raise
        except Exception as exc:  # ONNX Runtime refused the warm-up run on the contract's own input
            raise ModelLoadError(f"a model does not run on the input its contract promises ({_short_ort_error(exc)}); "
                                 "check that --body-model/--head-model were exported with their contracts") from None
        self.info["models"] = self.estimator.describe()
        # travels with every result so the live overlay can say what runs the models
        self.providers = sorted({p for m in self.info["models"] for p in m["active_providers"]})
        # One frame at a time, nothing kept: the frames are read in place from the capture ring.
        self.rx = self.add_receiver("capture", topics=frozenset({"frames"}), zero_copy=True)
        self.tx = self.add_sender("gaze")
        self.needed = {self.estimator.body.contract.modality, self.estimator.head.contract.modality}
        self.model_error = ModelError.from_config(cfg.faults)

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        try:
            frameset = frameset_from_message(msg, self.needed)
        except WireError as exc:  # decodes, but is no usable frameset: malformed, like a wire error
            self.rx.reject(exc)
            return True
        try:
            if self.model_error is not None:
                self.model_error.check(msg.frame)
            hang_if_due(self.config.faults, msg.frame, self.config.incarnation)
            with self.long_call():  # a big model on a slow CPU may take longer than the hang timeout
                estimates = self.estimator.estimate(frameset)
                self.artificial_delay()  # stands in for slower inference in tests and benchmarks
        except Exception as exc:  # one failing frame is dropped with its reason; many in a row end the run
            if not self.rx.verify(msg):
                return True  # it failed on a frame overwritten under it: counted as such, not as an error
            self.count_error(f"frame {msg.frame}", exc)
            return True
        if not self.rx.verify(msg):  # the frame changed under the models: these estimates are void
            return True
        meta = {"estimates": estimates.to_json(), "timings_ms": self.estimator.last_timings_ms,
                "providers": self.providers}
        for key in ("truth_json", "truth", "extra"):  # ground truth and stream metadata travel on to the sinks
            if key in msg.meta:
                meta[key] = msg.meta[key]
        out = Message("estimates", msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, meta)
        out.stamps["estimator.out"] = time.monotonic_ns()
        self.tx.send(out, self.should_stop, self.wait_beating)
        self.count_success()
        return True

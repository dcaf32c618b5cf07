"""Gaze/state worker: estimates in; gaze zone, driver state and distraction events out."""
from __future__ import annotations

import math
import time

from calib.driver_calibration import DriverCalibration
from calib.layout import DEFAULT_LAYOUT, CameraPose, load_layout
from monitor.display.links import display_link_policy
from monitor.validate import estimates_from_meta
from monitor.gaze import DistractionConfig, GazeStateStage
from monitor.gaze.stage import gaze_state_config
from monitor.sources.base import SourceError
from monitor.wire import Message, WireError
from monitor.workers.base import Worker



class GazeWorker(Worker):
    role = "gaze"

    def setup(self) -> None:
        cfg = self.config
        try:
            layout = load_layout(cfg.layout or DEFAULT_LAYOUT)
            calibration = DriverCalibration.load(cfg.driver_calibration) if cfg.driver_calibration else None
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot use the cabin layout / driver calibration: {exc}") from None
        self.stage = GazeStateStage(layout, calibration,
                                    gaze_state_config(cfg.gaze_scoring, DistractionConfig(**cfg.distraction)))
        self._camera_pose: dict | None = None
        self.info["layout"] = str(cfg.layout or DEFAULT_LAYOUT)
        self.rx = self.add_receiver("estimator", topics=frozenset({"estimates"}))
        self.add_sender("sink")
        if cfg.display:
            self.add_sender("display", display_link_policy(cfg))

    def _follow_camera_pose(self, pose: dict | None) -> None:
        """A stream that states its camera mount (calibrated extrinsics) overrides the layout's."""
        if pose is None or pose == self._camera_pose:
            return
        try:
            self.stage.set_camera_pose(CameraPose.from_dict(pose))
        except (KeyError, TypeError, ValueError):
            self.counters["errors"] += 1
            return
        self._camera_pose = pose

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        meta = dict(msg.meta)
        try:
            estimates = estimates_from_meta(meta)
            extra = meta.get("extra", {})
            if not isinstance(extra, dict) or not math.isfinite(msg.device_ts_ms):
                raise WireError("bad_estimates", "meta.extra is not an object or the time is not finite")
        except WireError as exc:  # decodes, but cannot be used: malformed, like a wire error
            self.rx.reject(exc)
            return True
        self._follow_camera_pose(extra.get("camera_pose"))
        try:
            gaze, state, events = self.stage.process(estimates, msg.device_ts_ms / 1000.0)
        except Exception as exc:  # one failing item is dropped with its reason; many in a row end the run
            self.count_error(f"frame {msg.frame}", exc)
            return True
        meta.update(gaze=gaze.to_json(), state=state.to_json(), events=[e.to_json() for e in events])
        self.artificial_delay()
        out = Message("states", msg.stream, msg.frame, msg.device_ts_ms, msg.stamps, meta)
        out.stamps["gaze.out"] = time.monotonic_ns()
        for sender in self.senders.values():
            sender.send(out, self.should_stop, self.wait_beating)
        self.count_success()
        return True

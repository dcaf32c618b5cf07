"""Display worker: joins frames (capture) and states (gaze) by (stream, frame), draws the overlay,
shows it in an OpenCV window and/or writes it to overlay.mp4.

Window keys: q / Esc quit (the worker sends SIGINT to the supervisor, its parent: the run stops
exactly as on Ctrl-C, every output complete, exit code 130), space pause, d IR <-> depth,
s snapshot (OUT/snapshot_<frame>.png). Pause freezes the picture; on a replay run writing
overlay.mp4 the display's links are lossless, so a pause also holds the source back.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import zmq

from calib.layout import DEFAULT_LAYOUT, load_layout
from monitor.bus import Policy
from monitor.display.join import FrameJoiner
from monitor.display.links import display_link_policy
from monitor.display.overlay import CabinDiagram, OverlayView, depth_to_bgr, format_status, ir_to_bgr, render
from monitor.display.video import OverlayVideo
from monitor.display.x11 import can_open_display
from monitor.estimates import Estimates
from monitor.gaze import DistractionConfig
from monitor.latency import stage_latencies_ms
from monitor.validate import check_states_meta, estimates_from_meta, frameset_from_message
from monitor.wire import Message, WireError
from monitor.workers.base import Worker

log = logging.getLogger(__name__)

WINDOW = "DMS monitor"
VIDEO_FILE = "overlay.mp4"
DISPLAY_STAGES = ("capture", "estimator", "gaze", "display")
MAX_DRAIN = 16  # messages read per link per step, so keys and heartbeats stay responsive
MAX_WINDOW_FPS = 60.0  # no screen shows more; a 90 fps camera is drawn at this rate (newest frame)
NICENESS = 5  # the display is the least urgent stage: under CPU contention the pipeline goes first
KEY_QUIT = (ord("q"), ord("Q"), 27)


class DisplayWorker(Worker):
    role = "display"

    def setup(self) -> None:
        cfg = self.config
        self.out_dir = Path(cfg.out_dir)
        self._cpu0 = time.process_time()
        try:
            os.nice(NICENESS)
        except OSError:
            pass
        cv2.setNumThreads(1)  # drawing is small work; OpenCV's thread pool would compete with the estimator
        try:
            layout = load_layout(cfg.layout or DEFAULT_LAYOUT)
            self.diagram: CabinDiagram | None = CabinDiagram.from_layout(layout)
        except (OSError, ValueError) as exc:  # the gaze worker reports a bad layout; draw without it
            log.warning("no cabin diagram: %s", exc)
            self.diagram = None
        timers = DistractionConfig(**self.config.distraction)  # the bars fill towards the run's thresholds
        self.long_s, self.vats_s = timers.long_s, timers.vats_threshold_s
        link_policy = display_link_policy(cfg)
        self.lossless = link_policy is Policy.REPLAY
        self.frames_rx = self.add_receiver("capture", link_policy, topics=frozenset({"frames"}))
        self.states_rx = self.add_receiver("gaze", link_policy, topics=frozenset({"states"}))
        self.poller = zmq.Poller()
        self.poller.register(self.frames_rx.socket, zmq.POLLIN)
        self.poller.register(self.states_rx.socket, zmq.POLLIN)
        # Lossless links: a full joiner stops reading frames (backpressure) instead of dropping.
        self.joiner = FrameJoiner(capacity=64 if self.lossless else 16)
        video_path = self.out_dir / VIDEO_FILE
        if cfg.incarnation:  # keep what a crashed incarnation wrote (its file may lack its index)
            video_path = video_path.with_name(f"overlay.{cfg.incarnation}.mp4")
        self.video = OverlayVideo(video_path) if cfg.video else None
        self.window = bool(cfg.window)
        self.mode = "ir"
        self.paused = False
        self.quit_requested = False
        self.eos = {"frames": False, "states": False}
        self.current: tuple[Message, Message] | None = None  # (frame, state) on screen
        self.pending: tuple[Message, Message, np.ndarray | None] | None = None  # newest, not drawn yet
        self._last_show = 0.0
        self.canvas: np.ndarray | None = None
        self._parent = os.getppid()
        self._shown_times: list[float] = []
        self.counters.update(shown=0, video_frames=0, snapshots=0, join=self.joiner.stats.to_json())
        self.info.update(window=self.window, video=bool(self.video), lossless=self.lossless)
        if self.window:
            self.window = self._open_window()
            self.info["window"] = self.window
        self._cpu0 = time.process_time()  # from here on: the cost of showing

    def _open_window(self) -> bool:
        """Open the window, or say why not and go on without it (the video and the run do not
        depend on it). Checked first because Qt aborts the process when X cannot be reached."""
        display = os.environ.get("DISPLAY", "")
        if not can_open_display(display):
            log.warning("cannot open the X display %r: no window", display)
            return False
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            cv2.moveWindow(WINDOW, 0, 0)
        except cv2.error as exc:  # e.g. an OpenCV build without GUI support (opencv-python-headless)
            log.warning("OpenCV cannot open a window (%s): no window", str(exc).strip().splitlines()[-1])
            return False
        return True

    # --- loop --------------------------------------------------------------------------------
    def step(self) -> bool:
        newest = self._drain()
        if newest is not None:
            self.pending = newest  # a newer complete frame replaces one not drawn yet
        ended = self.eos["frames"] and self.eos["states"]
        now = time.monotonic()
        if self.pending is not None and (ended or now - self._last_show >= 1.0 / MAX_WINDOW_FPS):
            self._last_show = now
            self._show(*self.pending)
            self.pending = None
        if ended:
            self.joiner.finish()
            self._update_counters()
            return False
        if self.window:
            self._handle_key(cv2.waitKey(1) & 0xFF)
            self._check_window_closed()
            if newest is not None and self.counters["shown"] % 30 == 1:  # once Qt has laid it out
                self.info["window_rect"] = list(cv2.getWindowImageRect(WINDOW))  # where the image is on screen
        if newest is None:
            if self.paused and self.lossless:
                time.sleep(0.01)  # the links are not read while paused: poll() would return at once
            else:
                self.poller.poll(5)
        self._update_counters()
        return True

    def _drain(self) -> tuple[Message, Message, np.ndarray | None] | None:
        """Read what arrived; render every complete pair for the video, return the newest for the window."""
        if self.paused and self.lossless:
            return None  # hold the (lossless) pipeline while paused
        newest = None
        cap = self.joiner.capacity
        for link, rx in (("frames", self.frames_rx), ("states", self.states_rx)):
            for _ in range(MAX_DRAIN):
                waiting = self.joiner.frames_waiting if link == "frames" else self.joiner.states_waiting
                if self.eos[link] or (self.lossless and waiting >= cap):
                    break  # lossless: a full side waits for the other (backpressure), never drops
                msg = rx.recv(0)
                if msg is None:
                    break
                if msg.topic == "eos":
                    self.eos[link] = True
                    break
                try:  # what cannot be drawn is malformed: dropped and counted, like a wire error
                    if link == "frames":
                        frameset_from_message(msg)
                    else:
                        check_states_meta(msg.meta)
                        estimates_from_meta(msg.meta)
                except WireError as exc:
                    rx.reject(exc)
                    continue
                if link == "frames":
                    pair = self.joiner.add_frame(msg.stream, msg.frame, msg)
                else:
                    msg.stamps["display.in"] = time.monotonic_ns()
                    pair = self.joiner.add_state(msg.stream, msg.frame, msg)
                if pair is None:
                    continue
                self.artificial_delay()  # test hook: a slow display (--inject-delay display=MS)
                canvas = None
                if self.video is not None:
                    canvas = self._render(*pair)
                    self.video.write(canvas, pair[1].device_ts_ms)
                newest = (pair[0], pair[1], canvas)
        return newest

    def _show(self, frame: Message, state: Message, canvas: np.ndarray | None) -> None:
        self._shown_times.append(time.monotonic())
        del self._shown_times[:-30]
        if self.paused:
            return  # keep the frozen picture; the frame still counts as handled
        self.current = (frame, state)
        if self.window:
            self.canvas = canvas if canvas is not None else self._render(frame, state)
            cv2.imshow(WINDOW, self.canvas)
            self.counters["shown"] += 1

    def _render(self, frame: Message, state: Message) -> np.ndarray:
        meta = frame.meta
        if self.mode == "depth" and "depth" in frame.arrays:
            image = depth_to_bgr(frame.arrays["depth"], float(meta.get("depth_unit_mm", 1.0)))
        else:
            image = ir_to_bgr(frame.arrays["ir"]) if "ir" in frame.arrays else depth_to_bgr(frame.arrays["depth"])
        intr = meta.get("intrinsics", {}).get("ir") or meta.get("intrinsics", {}).get("depth") or {}
        h, w = image.shape[:2]
        intrinsics = (intr.get("fx", 1.0 * w), intr.get("fy", 1.0 * w), intr.get("cx", w / 2), intr.get("cy", h / 2))
        smeta = state.meta
        est = Estimates.from_json(smeta["estimates"]) if smeta.get("estimates") else Estimates()
        latency = stage_latencies_ms(state.stamps, DISPLAY_STAGES)
        fps = self._fps()
        skipped = self.joiner.stats.skipped_frames + self.joiner.stats.gaps
        status = format_status(fps, latency, skipped, smeta.get("providers") or [], frame.frame)
        flags = [f for f, on in (("PAUSED", self.paused), ("DEPTH", self.mode == "depth")) if on]
        view = OverlayView(est.head, est.joints, smeta.get("gaze"), smeta.get("state"), status,
                           f"{frame.stream}  t={frame.device_ts_ms / 1000.0:7.2f} s", flags, est.eyes)
        return render(image, view, intrinsics, self.diagram, self.long_s, self.vats_s)

    def _fps(self) -> float | None:
        t = self._shown_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else None

    # --- keys --------------------------------------------------------------------------------
    def _handle_key(self, key: int) -> None:
        if key == 255:
            return
        if key in KEY_QUIT:
            self.request_stop()
        elif key == ord(" "):
            self.paused = not self.paused
            self._redraw()
        elif key in (ord("d"), ord("D")):
            self.mode = "depth" if self.mode == "ir" else "ir"
            self._redraw()
        elif key in (ord("s"), ord("S")):
            self.snapshot()

    def _check_window_closed(self) -> None:
        try:
            visible = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE)
        except cv2.error:
            visible = 0
        if visible < 1 and self.counters["shown"]:
            self.request_stop()

    def _redraw(self) -> None:
        if self.current is not None and self.window:
            self.canvas = self._render(*self.current)
            cv2.imshow(WINDOW, self.canvas)

    def snapshot(self) -> Path | None:
        if self.canvas is None or self.current is None:
            return None
        path = self.out_dir / f"snapshot_{self.current[0].frame:06d}.png"
        tmp = path.with_name(f".{path.stem}.tmp.png")  # renamed when complete: never half a PNG
        cv2.imwrite(str(tmp), self.canvas)
        os.replace(tmp, path)
        self.counters["snapshots"] += 1
        log.warning("snapshot: %s", path)
        return path

    def request_stop(self) -> None:
        """Ask the supervisor to end the run as on Ctrl-C (it SIGTERMs every worker, this one too)."""
        if self.quit_requested:
            return
        self.quit_requested = True
        if os.getppid() == self._parent and self._parent > 1:
            os.kill(self._parent, signal.SIGINT)
        else:
            self.stopping = True

    # --- bookkeeping -------------------------------------------------------------------------
    def _update_counters(self) -> None:
        # CPU time since setup (imports and model-free start-up excluded): what showing costs
        self.counters["cpu_s"] = round(time.process_time() - self._cpu0, 3)
        self.counters["join"] = self.joiner.stats.to_json()
        self.counters["processed"] = self.joiner.stats.joined
        if self.video is not None:
            self.counters["video_frames"] = self.video.frames

    def teardown(self) -> None:
        if hasattr(self, "joiner"):
            self.joiner.finish()
        if getattr(self, "video", None) is not None:
            self.video.close()  # writes the MP4 index: the file is playable after SIGTERM too
            self.counters["video_frames"] = self.video.frames
            self.info["video_fps"] = self.video.fps
        if getattr(self, "window", False):
            cv2.destroyAllWindows()
        if hasattr(self, "joiner"):
            self._update_counters()


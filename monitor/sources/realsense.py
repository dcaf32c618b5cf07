"""RealSense sources: a live D4xx camera and librealsense playback of ``.bag`` / ``.db3`` files.

Both read IR Y8 (infrared index 1) and depth Z16 at *sensor* level, not through ``rs.pipeline``:
the pipeline's syncer pairs each new frame with whatever it last saw of the other stream and its
output queue holds one frameset, so a non-real-time playback that outruns the reader loses frames
and mixes frame numbers. Here each frame is copied in a Python sensor callback into a bounded
queue, and IR and depth are paired by frame number (`FramePairer`). For playback the callback
blocks while the queue is full; librealsense's non-real-time playback waits for its callbacks,
so the file is read at the consumer's pace and every frame arrives once, in order.

A ``rs.frame_queue`` given to ``sensor.start`` would not do: pyrealsense2 wraps it in a Python
callable that holds the GIL while it blocks on a full queue, and the reader deadlocks.
pyrealsense2 is imported only when a source is built (`load_pyrealsense2`).
"""
from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from monitor.frames import FrameSet, Intrinsics
from monitor.sources.base import FrameSource, SourceError
from monitor.sources.labels import camera_pose_of, labels_beside

log = logging.getLogger(__name__)

IR_INDEX = 1  # the left imager, which shares the depth frame's geometry on a D4xx
RECORDING_SUFFIXES = (".bag", ".db3")
_QUEUE_FRAMES = 8  # copied frames waiting for the consumer (both streams together)
_LIVE_TIMEOUT_S = 10.0  # a camera that sends nothing this long (start-up included) is gone
_POLL_S = 0.05
_EMPTY_FILE_S = 5.0  # a playback still 'stopped' this long after start has no frames to give


class RealSenseOptionError(SourceError, ValueError):
    """A ``realsense:`` option is unknown or has a bad value; the message names the fix."""


def load_pyrealsense2() -> ModuleType:
    """Import pyrealsense2, turning a missing wheel or libusb into a `SourceError` that says what to do."""
    try:
        import pyrealsense2 as rs
    except (ImportError, OSError) as exc:
        if "libusb" in str(exc):
            raise SourceError(
                f"pyrealsense2 cannot load libusb-1.0 ({exc}): install it (Debian/Ubuntu: "
                "`apt-get install libusb-1.0-0`), or run with a synthetic source or a .dmsrec recording"
            ) from None
        raise SourceError(f"pyrealsense2 is not importable ({exc}): `pip install pyrealsense2`, or run "
                          "with a synthetic source or a .dmsrec recording") from None
    return rs


def float32_value(x: float) -> float:
    """The decimal a float32 stands for (librealsense stores intrinsics and depth units as float32):
    0.0010000000474974513 -> 0.001, so values written by `write_realsense_recording` come back equal."""
    return float(str(np.float32(x)))


def intrinsics_from_rs(intr: Any) -> Intrinsics:
    """`Intrinsics` from an ``rs.intrinsics`` (pixels)."""
    try:
        return Intrinsics(int(intr.width), int(intr.height), float32_value(intr.fx), float32_value(intr.fy),
                          float32_value(intr.ppx), float32_value(intr.ppy),
                          tuple(float32_value(c) for c in intr.coeffs))
    except ValueError as exc:
        raise SourceError(f"the camera or recording reports unusable intrinsics ({exc})") from None


_NS_EXACT_BELOW_MS = 1e9  # below this, ts * 1e6 is exact enough in float64 to find the nanosecond


def nanosecond_ms(ts_ms: float) -> float:
    """Snap a recorded timestamp back onto the nanosecond grid the file stores.

    .bag/.db3 keep frame times as whole nanoseconds, and librealsense's conversion back to
    milliseconds can be one float64 ulp off (5033.3 -> 5033.299999999999). Snapping restores the
    exact value for any timestamp that is a whole number of nanoseconds (device clocks tick in
    microseconds). Host-epoch timestamps (global time, ~1.7e12 ms) are beyond float64's nanosecond
    reach and are passed through.
    """
    if not abs(ts_ms) < _NS_EXACT_BELOW_MS:
        return ts_ms
    return round(ts_ms * 1e6) / 1_000_000  # int / int: correctly rounded


# ---------------------------------------------------------------------------------------------
# Pairing IR and depth frames (pure Python, no librealsense)


@dataclass(frozen=True)
class RawFrame:
    """One copied frame of one stream."""

    name: str  # "ir" or "depth"
    number: int
    timestamp_ms: float
    image: np.ndarray


class FramePairer:
    """Groups frames of the named streams that share a frame number, in arrival order.

    Each stream arrives in order, so when one stream's oldest frame is older than the other's,
    its partner will never come: it is dropped and counted in ``unpaired``. A stream that runs
    more than ``max_pending`` frames ahead (a frame counter that restarted) loses its oldest
    frame too, so pairing resynchronises instead of waiting forever.
    """

    def __init__(self, names: tuple[str, ...], max_pending: int = 16) -> None:
        if not names:
            raise ValueError("FramePairer needs at least one stream name")
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.names = names
        self.max_pending = max_pending
        self._pending: dict[str, deque[RawFrame]] = {n: deque() for n in names}
        self.unpaired = 0

    def push(self, frame: RawFrame) -> list[dict[str, RawFrame]]:
        """Add a frame; return the groups it completed (zero or one, oldest first)."""
        pending = self._pending[frame.name]
        pending.append(frame)
        if len(pending) > self.max_pending:
            pending.popleft()
            self.unpaired += 1
        done: list[dict[str, RawFrame]] = []
        while all(self._pending.values()):
            heads = {n: q[0] for n, q in self._pending.items()}
            newest = max(f.number for f in heads.values())
            if all(f.number == newest for f in heads.values()):
                for q in self._pending.values():
                    q.popleft()
                done.append(heads)
                continue
            for q in self._pending.values():
                if q[0].number < newest:
                    q.popleft()
                    self.unpaired += 1
        return done

    def finish(self) -> int:
        """Drop what is still waiting for a partner (end of stream); return how many."""
        left = sum(len(q) for q in self._pending.values())
        for q in self._pending.values():
            q.clear()
        self.unpaired += left
        return left


# ---------------------------------------------------------------------------------------------
# Sensor-level streaming shared by the live and the playback source


@dataclass(frozen=True)
class _Stream:
    name: str  # "ir" or "depth"
    sensor: Any  # rs.sensor
    profile: Any  # rs.video_stream_profile
    intrinsics: Intrinsics


class _SensorReader:
    """Opens the chosen profiles and copies every frame, in the sensor callback, into a bounded queue.

    ``blocking``: the callback waits for room (playback: no frame is lost); otherwise the oldest
    waiting frame is dropped (live: stay current when the consumer is slow).
    """

    def __init__(self, streams: list[_Stream], blocking: bool, snap_ns: bool) -> None:
        self._streams = streams
        self._blocking = blocking
        self._snap_ns = snap_ns
        self._names = {s.profile.unique_id(): s.name for s in streams}
        self._queue: queue.Queue[RawFrame] = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._closing = threading.Event()
        self._error: str | None = None
        self.dropped = 0
        self._sensors: list[Any] = []
        for s in streams:
            if not any(s.sensor is t for t in self._sensors):
                self._sensors.append(s.sensor)
        self._started: list[Any] = []
        self.received = 0
        self.started_at = 0.0
        self.streaming = threading.Event()

    def start(self) -> None:
        self.started_at = time.monotonic()
        for sensor in self._sensors:
            sensor.open([s.profile for s in self._streams if s.sensor is sensor])
            self._started.append(sensor)
        for sensor in self._sensors:
            sensor.start(self._on_frame)
        self.streaming.set()

    def _on_frame(self, frame: Any) -> None:
        # Runs on a librealsense thread: never raise, and release the frame before returning.
        try:
            name = self._names.get(frame.get_profile().unique_id())
            if name is None:
                return
            ts = float(frame.get_timestamp())
            item = RawFrame(name, int(frame.get_frame_number()), nanosecond_ms(ts) if self._snap_ns else ts,
                            np.array(frame.get_data(), copy=True))
            self.received += 1
        except Exception as exc:  # noqa: BLE001 - reported to the consumer instead
            self._error = f"{type(exc).__name__}: {exc}"
            return
        if self._blocking:
            while not self._closing.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    return
                except queue.Full:
                    pass
            return
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def frames(self, ended: Callable[[], bool], idle_timeout_s: float | None) -> Iterator[RawFrame]:
        """Yield copied frames until ``ended()`` and the queue is empty, or raise after idling."""
        idle = 0.0
        while True:
            if self._error is not None:
                raise SourceError(f"librealsense delivered an unreadable frame ({self._error})")
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if ended():
                    # Playback reports "stopped" only after its callbacks returned: drain and stop.
                    while True:
                        try:
                            yield self._queue.get_nowait()
                        except queue.Empty:
                            return
                idle += _POLL_S
                if idle_timeout_s is not None and idle >= idle_timeout_s:
                    raise SourceError(f"the RealSense camera sent no frame for {idle_timeout_s:.0f} s: "
                                      "check the USB 3 cable and that no other program uses the camera")
                continue
            idle = 0.0
            yield item

    def stop(self) -> None:
        self._closing.set()
        while True:  # unblock a callback waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for sensor in self._started:
            try:
                sensor.stop()
            except RuntimeError as exc:
                log.debug("sensor.stop: %s", exc)
            try:
                sensor.close()
            except RuntimeError as exc:
                log.debug("sensor.close: %s", exc)
        self._started = []


class _RealSenseSource(FrameSource):
    """Common iteration: pair frames into `FrameSet`s carrying intrinsics and the depth unit."""

    _stream_id = "realsense"

    def _setup(self, streams: list[_Stream], depth_unit_mm: float, blocking: bool, snap_ns: bool = False) -> None:
        self._streams = streams
        self.depth_unit_mm = depth_unit_mm
        self.intrinsics = {s.name: s.intrinsics for s in streams}
        self._reader = _SensorReader(streams, blocking, snap_ns)
        self._pairer = FramePairer(tuple(s.name for s in streams))
        self._iterated = False

    @property
    def streaming(self) -> threading.Event:
        """Set once the sensors run (iteration starts them); frames sent before are not seen."""
        return self._reader.streaming

    @property
    def unpaired(self) -> int:
        """Frames dropped because the other stream had no frame with the same number."""
        return self._pairer.unpaired

    @property
    def dropped(self) -> int:
        """Frames dropped because the consumer was slower than a live camera."""
        return self._reader.dropped

    def _ended(self) -> bool:
        return False

    def _idle_timeout_s(self) -> float | None:
        return None

    def __iter__(self) -> Iterator[FrameSet]:
        if self._iterated:
            raise SourceError(f"{self.name} can be iterated once; open the source again to restart")
        self._iterated = True
        try:
            self._reader.start()
        except RuntimeError as exc:
            self._reader.stop()
            raise SourceError(f"{self.name}: librealsense cannot start streaming ({exc}); is another "
                              "program using the camera or file?") from None
        try:
            for raw in self._reader.frames(self._ended, self._idle_timeout_s()):
                for group in self._pairer.push(raw):
                    first = group[self._pairer.names[0]]
                    yield FrameSet(self._stream_id, first.number, first.timestamp_ms,
                                   {n: f.image for n, f in group.items()}, dict(self.intrinsics),
                                   self.depth_unit_mm)
            if self._pairer.finish():
                log.info("%s: %d frame(s) at the end had no partner in the other stream", self.name,
                         self._pairer.unpaired)
        finally:
            self._reader.stop()

    def close(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.stop()


def _pick_streams(rs: ModuleType, sensors: list[Any], what: str,
                  accept: Callable[[Any], bool] = lambda p: True) -> list[_Stream]:
    """Choose IR Y8 (index 1, else the lowest index) and depth Z16 profiles among the sensors."""
    ir: list[tuple[int, Any, Any]] = []
    depth: list[tuple[Any, Any]] = []
    for sensor in sensors:
        for profile in sensor.get_stream_profiles():
            if not profile.is_video_stream_profile() or not accept(profile):
                continue
            st, fmt = profile.stream_type(), profile.format()
            if st == rs.stream.infrared and fmt == rs.format.y8:
                ir.append((0 if profile.stream_index() == IR_INDEX else 1 + profile.stream_index(), sensor, profile))
            elif st == rs.stream.depth and fmt == rs.format.z16:
                depth.append((sensor, profile))
    streams = []
    if ir:
        _, sensor, profile = min(ir, key=lambda t: t[0])
        streams.append(_Stream("ir", sensor, profile.as_video_stream_profile(),
                               intrinsics_from_rs(profile.as_video_stream_profile().get_intrinsics())))
    if depth:
        sensor, profile = depth[0]
        streams.append(_Stream("depth", sensor, profile.as_video_stream_profile(),
                               intrinsics_from_rs(profile.as_video_stream_profile().get_intrinsics())))
    if not streams:
        raise SourceError(f"{what} has no infrared Y8 or depth Z16 stream; record IR (Y8) and/or depth (Z16)")
    return streams


def _depth_unit_mm(rs: ModuleType, streams: list[_Stream], what: str) -> float:
    """Millimetres per depth count, from the depth sensor's ``depth_units`` option (metres)."""
    depth = [s for s in streams if s.name == "depth"]
    if not depth:
        return 1.0
    sensor = depth[0].sensor
    if sensor.supports(rs.option.depth_units):
        metres = sensor.get_option(rs.option.depth_units)
    elif sensor.is_depth_sensor():
        metres = sensor.as_depth_sensor().get_depth_scale()
    else:
        raise SourceError(f"{what} does not say its depth unit (no depth_units option on the depth sensor)")
    if not metres > 0:
        raise SourceError(f"{what} reports a depth unit of {metres} m; it must be positive")
    return float32_value(metres) * 1000.0


# ---------------------------------------------------------------------------------------------
# Playback


def _parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("0", "off", "false", "no"):
        return False
    raise RealSenseOptionError(f"{key}={value!r}: use on or off")


class RealSensePlaybackSource(_RealSenseSource):
    """Plays a ROS1 ``.bag`` or ROS2 ``.db3`` RealSense recording through librealsense.

    Every recorded IR/depth pair is delivered once, in order, with its recorded pixels, frame
    number (`FrameSet.frame`) and timestamp (`FrameSet.device_ts_ms`); with a ``PATH.labels.jsonl``
    beside it (monitor/sources/labels.py), a frame it labels also carries them as its ``truth``
    (and the camera pose they state as ``extra["camera_pose"]``). ``realtime=False`` (the
    default) reads as fast as the consumer takes frames; the capture worker paces by device
    timestamp. ``realtime=True`` lets librealsense pace, and it may then skip frames.
    """

    is_live = False

    def __init__(self, path: str, realtime: bool | str = False) -> None:
        self.path = Path(path)
        self.name = f"realsense-file:{path}"
        realtime = _parse_bool("realtime", realtime)
        if self.path.suffix.lower() not in RECORDING_SUFFIXES:
            raise SourceError(f"{path}: a RealSense recording must end in .bag (ROS1) or .db3 (ROS2)")
        if not self.path.is_file():
            raise SourceError(f"{path}: no such recording file")
        # PATH.labels.jsonl beside the file (synth.export writes one): the frames' ground truth
        self.labels_file, self._labels = labels_beside(self.path)
        self.played = 0  # frames read from the file (a resumed capture counts those it skipped too)
        self.labelled = 0  # ... of which the labels file labels
        self.first_frame: int | None = None  # the frame numbers of the first and last frames played
        self.last_frame: int | None = None
        self._first_ts_ms = 0.0  # device time of the first frame played: a label's time_s is counted from it
        rs = load_pyrealsense2()
        self._rs = rs
        self._ctx = rs.context()
        try:
            self._device = self._ctx.load_device(str(self.path))
            playback = self._device.as_playback()
            playback.set_real_time(realtime)
            sensors = list(self._device.query_sensors())
        except RuntimeError as exc:
            raise SourceError(f"{path}: librealsense cannot read this recording ({exc}); give a complete "
                              "RealSense recording (.bag ROS1 or .db3 ROS2, as written by librealsense or "
                              "the RealSense Viewer)") from None
        self._playback = playback
        streams = _pick_streams(rs, sensors, str(path))
        self._setup(streams, _depth_unit_mm(rs, streams, str(path)), blocking=True, snap_ns=True)
        self._saw_playing = False

    def __iter__(self) -> Iterator[FrameSet]:
        with contextlib.closing(super().__iter__()) as framesets:  # stops the reader when we stop
            yield from self._labelled(framesets)

    def _labelled(self, framesets: Iterator[FrameSet]) -> Iterator[FrameSet]:
        for frameset in framesets:
            self.played += 1
            if self.first_frame is None:
                self.first_frame, self._first_ts_ms = frameset.frame, frameset.device_ts_ms
            self.last_frame = frameset.frame
            text = self._labels.get(frameset.frame)
            if text is not None:
                frameset.truth, frameset.truth_text = json.loads(text), text
                if "time_s" not in frameset.truth:  # a hand-made file may leave it out: the recording's clock
                    frameset.truth["time_s"] = round((frameset.device_ts_ms - self._first_ts_ms) / 1000.0, 6)
                    frameset.truth_text = None  # sent as the labels now are
                pose = camera_pose_of(frameset.truth)
                if pose is not None:  # as the synthetic source states its (jittered) mount
                    frameset.extra["camera_pose"] = pose
                self.labelled += 1
            yield frameset

    def warning(self) -> str | None:
        if self.labels_file is not None and self.played and not self.labelled:
            span = f"frames {min(self._labels)}-{max(self._labels)}" if self._labels else "no frame"
            return (f"{self.labels_file} labels none of the {self.played} frames played: it labels {span}, the "
                    f"frames played were numbered {self.first_frame}-{self.last_frame} (labels use the recording's "
                    "own frame numbers); the run had no truth and reports no accuracy")
        return None

    def _ended(self) -> bool:
        # Polled, not a status callback: a Python callback on librealsense's reader thread can
        # deadlock against the GIL when the device is released. Before the reader thread has
        # processed the start, the status also reads "stopped", hence the extra conditions.
        status = self._playback.current_status()
        if status != self._rs.playback_status.stopped:
            self._saw_playing = True
            return False
        return (self._saw_playing or self._reader.received > 0
                or time.monotonic() - self._reader.started_at > _EMPTY_FILE_S)

    def close(self) -> None:
        super().close()
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx is not None:
            try:
                ctx.unload_device(str(self.path))
            except RuntimeError as exc:
                log.debug("unload_device: %s", exc)


# ---------------------------------------------------------------------------------------------
# Live camera


@dataclass(frozen=True)
class LiveOptions:
    """Validated options of ``realsense:width=848,height=480,fps=30,emitter=on,serial=...``."""

    width: int = 848
    height: int = 480
    fps: int = 30
    emitter: bool = True
    serial: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, object]) -> "LiveOptions":
        """Parse spec-string options (strings, or already typed values)."""
        known = ("width", "height", "fps", "emitter", "serial")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise RealSenseOptionError(f"unknown realsense option(s) {', '.join(unknown)}: "
                                       f"use {', '.join(known)}")
        values: dict[str, Any] = {}
        for key, (low, high) in {"width": (1, 4096), "height": (1, 4096), "fps": (1, 1000)}.items():
            if key in options:
                raw = options[key]
                try:
                    number = int(str(raw).strip())
                except ValueError:
                    raise RealSenseOptionError(f"realsense option {key}={raw!r} is not a whole number") from None
                if not low <= number <= high:
                    raise RealSenseOptionError(f"realsense option {key}={number} is out of range {low}..{high}")
                values[key] = number
        if "emitter" in options:
            values["emitter"] = _parse_bool("realsense option emitter", options["emitter"])
        if "serial" in options:
            serial = str(options["serial"]).strip()
            if not serial or any(c.isspace() or c in ",:=" for c in serial):
                raise RealSenseOptionError(f"realsense option serial={options['serial']!r}: give the "
                                           "camera's serial number as printed by `rs-enumerate-devices`")
            values["serial"] = serial
        return cls(**values)


class RealSenseLiveSource(_RealSenseSource):
    """A live RealSense D4xx: IR Y8 (infrared 1) + depth Z16 from the stereo module.

    Options (strings from the spec or typed): width, height, fps, emitter (on/off), serial.
    When the consumer is slower than the camera the oldest frames are dropped (``dropped``).
    """

    is_live = True

    def __init__(self, **options: object) -> None:
        self.options = LiveOptions.parse(options)
        opts = self.options
        self.name = f"realsense:{opts.serial or 'first'}"
        rs = load_pyrealsense2()
        self._rs = rs
        try:
            self._ctx = rs.context()
            devices = list(self._ctx.query_devices())
        except RuntimeError as exc:
            raise SourceError(f"librealsense cannot list cameras ({exc}): check USB permissions "
                              "(udev rules from librealsense) or play a recording (.bag/.db3)") from None
        if not devices:
            raise SourceError("no RealSense camera found: plug a D4xx camera into a USB 3 port (check "
                              "`lsusb` and the librealsense udev rules), or play a recording (PATH.bag/.db3) "
                              "or use the synthetic source")
        serials = [d.get_info(rs.camera_info.serial_number) if d.supports(rs.camera_info.serial_number)
                   else "?" for d in devices]
        if opts.serial is not None:
            if opts.serial not in serials:
                raise SourceError(f"no RealSense camera with serial {opts.serial}; connected: {', '.join(serials)}")
            device = devices[serials.index(opts.serial)]
            serial = opts.serial
        else:
            device, serial = devices[0], serials[0]
        self.name = f"realsense:{serial}"
        self._stream_id = f"realsense-{serial}"
        try:
            sensor = device.first_depth_sensor()
        except RuntimeError:
            raise SourceError(f"RealSense {serial} has no depth sensor; a D4xx camera is needed") from None

        def wanted(p: Any) -> bool:
            vp = p.as_video_stream_profile()
            return (vp.width(), vp.height(), vp.fps()) == (opts.width, opts.height, opts.fps)

        mode = f"{opts.width}x{opts.height}@{opts.fps}"
        try:
            streams = _pick_streams(rs, [sensor], f"RealSense {serial} at {mode}", wanted)
        except SourceError:
            streams = []
        missing = {"ir", "depth"} - {s.name for s in streams}
        if missing:
            modes = sorted({(p.as_video_stream_profile().width(), p.as_video_stream_profile().height(),
                             p.fps()) for p in sensor.get_stream_profiles()
                            if p.is_video_stream_profile() and p.format() == rs.format.z16})
            raise RealSenseOptionError(
                f"RealSense {serial} cannot stream {' and '.join(sorted(missing))} at {mode}; pick width, "
                f"height and fps from its depth modes: {', '.join(f'{w}x{h}@{f}' for w, h, f in modes)}")
        try:
            if sensor.supports(rs.option.emitter_enabled):
                sensor.set_option(rs.option.emitter_enabled, 1.0 if opts.emitter else 0.0)
            elif opts.emitter:
                log.warning("RealSense %s has no IR emitter option; emitter=on ignored", serial)
        except RuntimeError as exc:
            raise SourceError(f"RealSense {serial}: cannot switch the emitter {'on' if opts.emitter else 'off'} "
                              f"({exc})") from None
        self._setup(streams, _depth_unit_mm(rs, streams, f"RealSense {serial}"), blocking=False)

    def _idle_timeout_s(self) -> float | None:
        return _LIVE_TIMEOUT_S


__all__ = ["RealSenseLiveSource", "RealSensePlaybackSource", "LiveOptions", "FramePairer", "RawFrame",
           "RealSenseOptionError", "load_pyrealsense2", "nanosecond_ms", "intrinsics_from_rs", "float32_value"]

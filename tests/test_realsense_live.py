"""The live source, driven by a librealsense software_device standing in for a D4xx camera."""
from __future__ import annotations

import threading
from typing import Any, Iterator

import numpy as np
import pytest

import monitor.sources.realsense as rsmod
from monitor.sources import SourceError, open_source
from monitor.sources.realsense import RealSenseLiveSource, RealSenseOptionError

rs = pytest.importorskip("pyrealsense2")
W, H = 64, 48
MODES = (30, 60)


class FakeCamera:
    """A software_device with a stereo module offering IR Y8 (infrared 1) + depth Z16 at W x H, 30 and 60 fps."""

    def __init__(self, serial: str = "SW0001", emitter: bool = True) -> None:
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.sensor = self.device.add_sensor("Stereo Module")
        self.profiles: dict[tuple[str, int], Any] = {}
        uid = 0
        for fps in MODES:
            for name, stream, index, fmt, bpp in (("depth", rs.stream.depth, 0, rs.format.z16, 2),
                                                  ("ir", rs.stream.infrared, 1, rs.format.y8, 1)):
                intr = rs.intrinsics()
                intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = W, H, 60.5, 60.5, 31.5, 23.5
                intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.0] * 5
                vs = rs.video_stream()
                vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = stream, index, uid, W, H, fps, bpp, fmt
                vs.intrinsics = intr
                self.profiles[(name, fps)] = self.sensor.add_video_stream(vs).as_video_stream_profile()
                uid += 1
        self.sensor.add_read_only_option(rs.option.depth_units, 0.0001)
        if emitter:
            self.sensor.add_option(rs.option.emitter_enabled, rs.option_range(0, 1, 1, 1), True)

    def send(self, number: int, fps: int = 60) -> None:
        for name, dtype, bpp in (("depth", np.uint16, 2), ("ir", np.uint8, 1)):
            f = rs.software_video_frame()
            f.pixels = np.full((H, W), number % 250, dtype)
            f.bpp, f.stride, f.timestamp, f.frame_number = bpp, W * bpp, 1000.0 + number, number
            f.domain = rs.timestamp_domain.hardware_clock
            f.profile = self.profiles[(name, fps)]
            self.sensor.on_video_frame(f)


@pytest.fixture
def camera(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCamera]:
    cam = FakeCamera()

    class Context:
        def query_devices(self) -> list[Any]:
            return [cam.device]

    monkeypatch.setattr(rs, "context", Context)
    yield cam


def test_live_frames_are_paired_with_intrinsics_and_depth_unit(camera: FakeCamera) -> None:
    source = open_source("realsense:width=64,height=48,fps=60,emitter=off,serial=SW0001")
    assert isinstance(source, RealSenseLiveSource) and source.is_live
    assert camera.sensor.get_option(rs.option.emitter_enabled) == 0.0
    assert source.depth_unit_mm == pytest.approx(0.1)
    assert source.intrinsics["ir"].fx == 60.5 and source.intrinsics["depth"].cx == 31.5
    taken = threading.Semaphore(0)

    def feed() -> None:  # one pair at a time, so none is dropped for being late
        assert source.streaming.wait(5)
        for i in range(10):
            camera.send(i)
            taken.acquire(timeout=5)

    feeder = threading.Thread(target=feed)
    feeder.start()
    got = []
    with source:
        for fs in source:
            got.append(fs)
            taken.release()
            if fs.frame == 9:
                break
    feeder.join()
    assert [f.frame for f in got] == list(range(10))
    assert all(f.device_ts_ms == 1000.0 + f.frame for f in got)
    assert all(f.images["ir"].dtype == np.uint8 and f.images["depth"].dtype == np.uint16 for f in got)
    assert all(int(f.images["depth"][0, 0]) == f.frame for f in got)


def test_a_slow_consumer_gets_the_newest_frames(camera: FakeCamera) -> None:
    source = RealSenseLiveSource(width=64, height=48, fps=30)
    first_taken, burst_sent = threading.Event(), threading.Event()

    def feed() -> None:
        assert source.streaming.wait(5)
        camera.send(0, fps=30)
        first_taken.wait(5)
        for i in range(1, 41):
            camera.send(i, fps=30)
        burst_sent.set()

    with source:
        feeder = threading.Thread(target=feed)
        feeder.start()
        numbers = []
        for fs in source:
            numbers.append(fs.frame)
            if fs.frame == 0:
                first_taken.set()
                burst_sent.wait(5)
            if fs.frame == 40:
                break
        feeder.join()
    assert numbers[0] == 0 and numbers[-1] == 40 and numbers == sorted(numbers)
    assert len(numbers) < 41 and source.dropped > 0


def test_unsupported_mode_lists_the_modes(camera: FakeCamera) -> None:
    with pytest.raises(RealSenseOptionError, match=r"cannot stream depth and ir at 848x480@30; .*64x48@30, 64x48@60"):
        RealSenseLiveSource()


def test_unknown_serial(camera: FakeCamera) -> None:
    with pytest.raises(SourceError, match="no RealSense camera with serial 42; connected: SW0001"):
        RealSenseLiveSource(width="64", height="48", serial="42")


def test_a_silent_camera_raises(camera: FakeCamera, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rsmod, "_LIVE_TIMEOUT_S", 0.3)
    with RealSenseLiveSource(width=64, height=48) as source:
        with pytest.raises(SourceError, match="sent no frame"):
            next(iter(source))

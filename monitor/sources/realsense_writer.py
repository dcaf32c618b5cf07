"""Write `FrameSet`s as a RealSense recording that librealsense (and `RealSensePlaybackSource`) plays.

A ``rs.software_device`` with one "Stereo Module" sensor carries IR Y8 (infrared 1) and depth
Z16 streams with the frameset's intrinsics and depth unit; ``rs.recorder`` writes what the sensor
emits. Frame numbers and timestamps are kept. pyrealsense2 >= 2.58 writes ROS2 ``.db3`` only;
older versions write ROS1 ``.bag`` (the tests use one to make ``.bag`` fixtures).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from monitor.frames import FrameSet, Intrinsics
from monitor.sources.realsense import IR_INDEX, load_pyrealsense2

_SENSOR_NAME = "Stereo Module"
# name -> (dtype, bytes per pixel); the order fixes the stream uids
_IMAGES = {"ir": (np.dtype(np.uint8), 1), "depth": (np.dtype(np.uint16), 2)}


def _rs_intrinsics(rs: Any, intr: Intrinsics) -> Any:
    out = rs.intrinsics()
    out.width, out.height = intr.width, intr.height
    out.fx, out.fy, out.ppx, out.ppy = intr.fx, intr.fy, intr.cx, intr.cy
    out.model = rs.distortion.brown_conrady
    out.coeffs = list(intr.coeffs)
    return out


def _check_first(fs: FrameSet) -> list[str]:
    names = [n for n in _IMAGES if n in fs.images]
    if not names:
        raise ValueError(f"frame {fs.frame}: no 'ir' or 'depth' image to record (images: {sorted(fs.images)})")
    for n in names:
        if n not in fs.intrinsics:
            raise ValueError(f"frame {fs.frame}: image {n!r} has no intrinsics; set FrameSet.intrinsics[{n!r}]")
    if "depth" in names and not fs.depth_unit_mm > 0:
        raise ValueError(f"frame {fs.frame}: depth_unit_mm must be positive, got {fs.depth_unit_mm}")
    return names


def write_realsense_recording(path: str | os.PathLike[str], framesets: Iterable[FrameSet],
                              fps: int = 30) -> int:
    """Record ``framesets`` to ``path`` (.db3, or .bag with pyrealsense2 < 2.58); return the count.

    The first frameset fixes the streams (its ``ir`` and/or ``depth`` images), their sizes and
    intrinsics, and the depth unit; later framesets must match. ``fps`` is the nominal stream rate
    stored in the file's stream profiles (timestamps are the framesets' own).
    """
    path = Path(path)
    if path.suffix.lower() not in (".db3", ".bag"):
        raise ValueError(f"{path}: a RealSense recording must end in .db3 (or .bag with pyrealsense2 < 2.58)")
    if not 1 <= fps <= 1000:
        raise ValueError(f"fps must be in 1..1000, got {fps}")
    iterator = iter(framesets)
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError(f"{path}: no framesets to record; librealsense cannot write an empty recording") from None
    names = _check_first(first)
    rs = load_pyrealsense2()
    path.parent.mkdir(parents=True, exist_ok=True)

    device = rs.software_device()
    sensor = device.add_sensor(_SENSOR_NAME)
    profiles: dict[str, Any] = {}
    for uid, name in enumerate(names):
        intr = first.intrinsics[name]
        vs = rs.video_stream()
        vs.type = rs.stream.infrared if name == "ir" else rs.stream.depth
        vs.index = IR_INDEX if name == "ir" else 0
        vs.uid = uid
        vs.width, vs.height, vs.fps = intr.width, intr.height, fps
        vs.bpp = _IMAGES[name][1]
        vs.fmt = rs.format.y8 if name == "ir" else rs.format.z16
        vs.intrinsics = _rs_intrinsics(rs, intr)
        profiles[name] = sensor.add_video_stream(vs).as_video_stream_profile()
    if "depth" in names:
        sensor.add_read_only_option(rs.option.depth_units, first.depth_unit_mm / 1000.0)

    try:
        recorder = rs.recorder(str(path), device)
    except RuntimeError as exc:
        raise ValueError(f"{path}: pyrealsense2 cannot record this file ({exc}); pyrealsense2 >= 2.58 "
                         "writes only .db3, older versions only .bag") from None
    sink = rs.frame_queue(1)  # the recorder sees frames before the sensor's callback; drop them here
    sensor.open([profiles[n] for n in names])
    sensor.start(sink)
    count = 0
    complete = False
    try:
        fs = first
        while True:
            _emit(rs, sensor, profiles, names, fs, first)
            count += 1
            fs = next(iterator, None)
            if fs is None:
                break
        complete = True
    finally:
        sensor.stop()
        sensor.close()
        del recorder  # the file is complete only once the recorder is released
        if not complete:
            path.unlink(missing_ok=True)  # no half-written recording that looks valid
    return count


def _emit(rs: Any, sensor: Any, profiles: dict[str, Any], names: list[str], fs: FrameSet, first: FrameSet) -> None:
    if fs.depth_unit_mm != first.depth_unit_mm and "depth" in names:
        raise ValueError(f"frame {fs.frame}: depth_unit_mm {fs.depth_unit_mm} differs from the first frame's "
                         f"{first.depth_unit_mm}; a recording has one depth unit")
    for name in names:
        image = fs.images.get(name)
        dtype, bpp = _IMAGES[name]
        intr = first.intrinsics[name]
        if image is None or image.dtype != dtype or image.shape != (intr.height, intr.width):
            got = "missing" if image is None else f"{image.dtype} {image.shape}"
            raise ValueError(f"frame {fs.frame}: image {name!r} is {got}; expected {dtype} "
                             f"({intr.height}, {intr.width}) like the first frame")
        frame = rs.software_video_frame()
        frame.pixels = np.ascontiguousarray(image)
        frame.bpp = bpp
        frame.stride = intr.width * bpp
        frame.timestamp = float(fs.device_ts_ms)
        frame.domain = rs.timestamp_domain.hardware_clock
        frame.frame_number = int(fs.frame)
        frame.profile = profiles[name]
        sensor.on_video_frame(frame)


__all__ = ["write_realsense_recording"]

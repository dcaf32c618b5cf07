"""Option parsing, frame pairing, timestamp snapping, writer checks, and the live source without a camera."""
from __future__ import annotations

import builtins
import importlib.metadata
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from monitor.sources import SourceError, open_source
from monitor.sources.realsense import (FramePairer, LiveOptions, RawFrame, RealSenseLiveSource,
                                       RealSenseOptionError, load_pyrealsense2, nanosecond_ms)
from monitor.sources.realsense_writer import write_realsense_recording
from tests.realsense_helpers import make_framesets

# ---- options


def test_defaults() -> None:
    assert LiveOptions.parse({}) == LiveOptions(848, 480, 30, True, None)


def test_spec_strings_parse() -> None:
    opts = LiveOptions.parse({"width": "640", "height": " 360", "fps": "90", "emitter": "off",
                              "serial": "123456789012"})
    assert opts == LiveOptions(640, 360, 90, False, "123456789012")


@pytest.mark.parametrize("options,match", [
    ({"width": "abc"}, r"width='abc' is not a whole number"),
    ({"height": "0"}, r"height=0 is out of range"),
    ({"fps": "30.5"}, r"fps='30.5' is not a whole number"),
    ({"fps": "-1"}, r"fps=-1 is out of range"),
    ({"emitter": "maybe"}, r"emitter='maybe': use on or off"),
    ({"serial": ""}, r"serial=''"),
    ({"colour": "1"}, r"unknown realsense option\(s\) colour: use width, height, fps, emitter, serial"),
])
def test_bad_options_are_precise(options: dict, match: str) -> None:
    with pytest.raises(RealSenseOptionError, match=match) as info:
        LiveOptions.parse(options)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SourceError)


def test_bad_options_through_the_registry() -> None:
    with pytest.raises(SourceError, match="is not a whole number"):
        open_source("realsense:width=wide")


# ---- live source without a camera


def _camera_connected() -> bool:
    rs = load_pyrealsense2()
    return len(rs.context().query_devices()) > 0


def test_live_without_camera_says_what_to_do() -> None:
    if _camera_connected():
        pytest.skip("a RealSense camera is connected")
    with pytest.raises(SourceError, match="no RealSense camera found: plug .* or play a recording"):
        open_source("realsense:fps=30")
    with pytest.raises(SourceError, match="no RealSense camera found"):
        RealSenseLiveSource(width=848, height=480)


def test_missing_libusb_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "pyrealsense2":
            raise ImportError("libusb-1.0.so.0: cannot open shared object file: No such file or directory")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(SourceError, match=r"apt-get install libusb-1.0-0"):
        RealSenseLiveSource()
    (tmp_path / "rec.db3").write_bytes(b"x")
    with pytest.raises(SourceError, match=r"apt-get install libusb-1.0-0"):
        open_source(str(tmp_path / "rec.db3"))


def test_pyrealsense2_loads_only_when_a_source_is_built() -> None:
    code = ("import sys, monitor.sources.realsense, monitor.sources.realsense_writer, monitor.sources;"
            "assert 'pyrealsense2' not in sys.modules, 'imported too early'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr


# ---- pairing


def _raw(name: str, number: int) -> RawFrame:
    return RawFrame(name, number, number * 10.0, np.zeros((1, 1), np.uint8))


def test_pairs_by_frame_number_in_any_arrival_order() -> None:
    p = FramePairer(("ir", "depth"))
    assert p.push(_raw("depth", 1)) == []
    assert p.push(_raw("depth", 2)) == []
    (g1,) = p.push(_raw("ir", 1))
    assert (g1["ir"].number, g1["depth"].number) == (1, 1)
    (g2,) = p.push(_raw("ir", 2))
    assert g2["depth"].number == 2 and p.unpaired == 0


def test_frames_without_partner_are_dropped_and_counted() -> None:
    p = FramePairer(("ir", "depth"))
    out = []
    for name, n in [("ir", 1), ("depth", 1), ("ir", 2), ("depth", 3), ("ir", 3), ("ir", 4), ("depth", 5), ("ir", 5)]:
        out += p.push(_raw(name, n))
    assert [g["ir"].number for g in out] == [1, 3, 5]
    assert p.unpaired == 2  # ir 2, ir 4
    p.push(_raw("ir", 6))
    assert p.finish() == 1 and p.unpaired == 3


def test_a_restarted_frame_counter_resynchronises() -> None:
    p = FramePairer(("ir", "depth"), max_pending=4)
    out = []
    for n in (500, 501):
        out += p.push(_raw("ir", n)) + p.push(_raw("depth", n))
    out += p.push(_raw("depth", 502))  # ir 502 is lost, then both counters restart at 0
    for n in range(8):
        out += p.push(_raw("ir", n)) + p.push(_raw("depth", n))
    numbers = [g["ir"].number for g in out]
    assert numbers[:2] == [500, 501] and numbers[-4:] == [4, 5, 6, 7]
    assert all(g["ir"].number == g["depth"].number for g in out)


def test_single_stream_passes_through() -> None:
    p = FramePairer(("depth",))
    assert [g["depth"].number for g in p.push(_raw("depth", 7))] == [7]


# ---- timestamps


def test_snaps_float_error_back_to_the_nanosecond() -> None:
    assert nanosecond_ms(5033.299999999999) == 5033.3
    assert nanosecond_ms(6864.799999999999) == 6864.8
    assert nanosecond_ms(1.7e12 + 0.1) == 1.7e12 + 0.1  # beyond float64's ns reach: untouched


@given(st.integers(min_value=0, max_value=10**15 - 1), st.integers(min_value=-2, max_value=2))
def test_any_whole_nanosecond_value_survives_ulp_errors(ns: int, ulps: int) -> None:
    exact = ns / 1_000_000
    off = exact
    for _ in range(abs(ulps)):
        off = math.nextafter(off, math.inf if ulps > 0 else -math.inf)
    assert nanosecond_ms(off) == exact


# ---- writer checks


def test_writer_refuses_nothing_to_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no framesets"):
        write_realsense_recording(tmp_path / "x.db3", [])


def test_writer_refuses_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.db3"):
        write_realsense_recording(tmp_path / "x.mkv", make_framesets(1))


def test_writer_needs_intrinsics(tmp_path: Path) -> None:
    fs = make_framesets(1)[0]
    fs.intrinsics.pop("depth")
    with pytest.raises(ValueError, match="'depth' has no intrinsics"):
        write_realsense_recording(tmp_path / "x.db3", [fs])


def test_writer_refuses_a_changing_image_size(tmp_path: Path) -> None:
    frames = make_framesets(2)
    frames[1].images["ir"] = frames[1].images["ir"][:, :10].copy()
    with pytest.raises(ValueError, match=r"'ir' is uint8 \(48, 10\); expected uint8 \(48, 64\)"):
        write_realsense_recording(tmp_path / "x.db3", frames)
    assert not (tmp_path / "x.db3").exists()  # no half-written file left behind


def test_current_pyrealsense2_refuses_bag_with_a_clear_error(tmp_path: Path) -> None:
    version = tuple(int(x) for x in importlib.metadata.version("pyrealsense2").split(".")[:2])
    if version < (2, 58):
        pytest.skip("this pyrealsense2 still writes .bag")
    with pytest.raises(ValueError, match=r"writes only \.db3"):
        write_realsense_recording(tmp_path / "x.bag", make_framesets(1))

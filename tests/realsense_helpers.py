"""Shared pieces of the RealSense tests: framesets to record, the legacy .bag writer, comparison."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monitor.frames import FrameSet, Intrinsics
from monitor.recording import RecordingWriter

TESTS = Path(__file__).resolve().parent
LEGACY = TESTS / ".rs-legacy"
LEGACY_INSTALL = "pip install --no-deps --target tests/.rs-legacy pyrealsense2==2.57.7.10387"
needs_legacy = pytest.mark.skipif(
    not (LEGACY / "pyrealsense2").is_dir(),
    reason=f"no pyrealsense2 < 2.58 to write .bag fixtures; install it with `{LEGACY_INSTALL}`")


def make_framesets(n: int, width: int = 64, height: int = 48, seed: int = 0,
                   names: tuple[str, ...] = ("ir", "depth"), depth_unit_mm: float = 1.0) -> list[FrameSet]:
    """Random full-range images, gappy increasing frame numbers, microsecond-grid timestamps."""
    rng = np.random.default_rng(seed)
    ir = Intrinsics(width, height, 421.3, 421.7, width / 2 - 0.3, height / 2 + 0.2, (0.01, -0.02, 0.0, 0.0, 0.003))
    numbers = 1000 + np.cumsum(rng.integers(1, 3, n))  # a few numbers skipped, as after drops
    micros = 4_000_000_000 + np.cumsum(rng.integers(30_000, 36_000, n))  # a D4xx-like microsecond clock
    out = []
    for i in range(n):
        images: dict[str, np.ndarray] = {}
        if "ir" in names:
            images["ir"] = rng.integers(0, 256, (height, width), dtype=np.uint8)
        if "depth" in names:
            images["depth"] = rng.integers(0, 65536, (height, width), dtype=np.uint16)
        out.append(FrameSet("test", int(numbers[i]), float(micros[i]) / 1000.0, images,
                            {k: ir for k in names}, depth_unit_mm))
    return out


def write_legacy_bag(tmp_path: Path, framesets: list[FrameSet], name: str = "rec.bag") -> Path:
    """Write ``framesets`` as a ROS1 .bag with the legacy pyrealsense2, in a subprocess."""
    src = tmp_path / "frames.dmsrec"
    with RecordingWriter(src) as writer:
        for fs in framesets:
            writer.write(fs.to_message({}))
    out = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(LEGACY)}
    done = subprocess.run([sys.executable, str(TESTS / "rs_legacy_writer.py"), str(src), str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def assert_same_frames(expected: list[FrameSet], got: list[FrameSet]) -> None:
    """Frame-exact: same count and order, pixels, frame numbers, timestamps, intrinsics, depth unit."""
    assert [f.frame for f in got] == [f.frame for f in expected]
    assert [f.device_ts_ms for f in got] == [f.device_ts_ms for f in expected]
    for e, g in zip(expected, got):
        assert sorted(g.images) == sorted(e.images)
        for k, img in e.images.items():
            assert g.images[k].dtype == img.dtype and g.images[k].shape == img.shape
            assert np.array_equal(g.images[k], img), f"frame {e.frame}: {k} pixels differ"
        assert g.intrinsics == e.intrinsics
        assert g.depth_unit_mm == e.depth_unit_mm

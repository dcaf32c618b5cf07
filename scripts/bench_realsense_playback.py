"""Benchmark: write D4xx-sized framesets to a .db3 and read them back with RealSensePlaybackSource.

    python scripts/bench_realsense_playback.py [--frames 150] [--width 848] [--height 480]

Prints write and read rates (framesets per second, non-real-time) and checks the replay is
frame-exact. The file goes to a temporary directory and is deleted afterwards.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.frames import FrameSet, Intrinsics  # noqa: E402
from monitor.sources.realsense import RealSensePlaybackSource  # noqa: E402
from monitor.sources.realsense_writer import write_realsense_recording  # noqa: E402


def framesets(n: int, width: int, height: int) -> list[FrameSet]:
    rng = np.random.default_rng(0)
    intr = Intrinsics(width, height, 421.3, 421.3, width / 2, height / 2)
    ir = rng.integers(0, 256, (height, width), dtype=np.uint8)
    depth = rng.integers(0, 65536, (height, width), dtype=np.uint16)
    # rolled copies: distinct frames without paying for n random images; timestamps on a microsecond
    # clock like a D4xx (the file keeps whole nanoseconds)
    return [FrameSet("bench", i + 1, (1_000_000 + i * 11_111) / 1000.0, {"ir": np.roll(ir, i, axis=1), "depth": np.roll(depth, i, axis=0)},
                     {"ir": intr, "depth": intr}, 1.0) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--width", type=int, default=848)
    ap.add_argument("--height", type=int, default=480)
    args = ap.parse_args()
    frames = framesets(args.frames, args.width, args.height)
    mb = sum(im.nbytes for im in frames[0].images.values()) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db3"
        t0 = time.perf_counter()
        write_realsense_recording(path, frames, fps=90)
        t_write = time.perf_counter() - t0
        size = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        with RealSensePlaybackSource(str(path)) as source:
            got = list(source)
        t_read = time.perf_counter() - t0
    exact = len(got) == len(frames) and all(
        g.frame == e.frame and g.device_ts_ms == e.device_ts_ms
        and all(np.array_equal(g.images[k], e.images[k]) for k in e.images) for g, e in zip(got, frames))
    print(f"{args.frames} framesets of {args.width}x{args.height} IR Y8 + depth Z16 ({mb:.2f} MB each), file {size:.0f} MB")
    print(f"write: {t_write:.2f} s = {args.frames / t_write:.0f} framesets/s")
    print(f"read:  {t_read:.2f} s = {len(got) / t_read:.0f} framesets/s (non-real-time playback)")
    print(f"frame-exact: {exact} ({len(got)}/{len(frames)} framesets)")


if __name__ == "__main__":
    main()

"""Helpers the tests use to make their own inputs (recordings of plain synthetic framesets)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from monitor.frames import FrameSet, Intrinsics
from monitor.recording import RecordingWriter

INTRINSICS = Intrinsics(848, 480, 420.0, 420.0, 424.0, 240.0)


def framesets(n: int, width: int = 848, height: int = 480, fps: float = 30.0, seed: int = 0,
              stream: str = "test") -> Iterator[FrameSet]:
    """Deterministic framesets whose pixels encode the frame number (checkable after transport)."""
    rng = np.random.default_rng(seed)
    intr = Intrinsics(width, height, 420.0, 420.0, width / 2, height / 2)
    for i in range(n):
        ir = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
        depth = rng.integers(300, 3000, size=(height, width), dtype=np.uint16)
        ir[0, :4] = np.frombuffer(np.uint32(i).tobytes(), dtype=np.uint8)
        yield FrameSet(stream, i, 1000.0 + i * 1000.0 / fps, {"ir": ir, "depth": depth},
                       {"ir": intr, "depth": intr}, 1.0, truth={"frame": i})


def write_recording(path: Path, n: int, **kwargs: object) -> Path:
    with RecordingWriter(path, {"source": "tests"}) as writer:
        for fs in framesets(n, **kwargs):
            writer.write(fs.to_message({}))
    return path

"""overlay.mp4: the overlay canvases as an MPEG-4 video (OpenCV's FFmpeg backend, fourcc mp4v).

The file is opened on the second frame so its rate can come from the frames' device timestamps;
``close`` (the worker's teardown, which also runs on SIGTERM) writes the index that makes the
file playable. A hard kill (SIGKILL) leaves an unplayable file: MP4 keeps its index at the end.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FOURCC = "mp4v"  # the H.264 encoders of opencv-python's FFmpeg are not available on every machine
DEFAULT_FPS = 30.0


class OverlayVideo:
    def __init__(self, path: str | Path, fourcc: str = FOURCC) -> None:
        self.path = Path(path)
        self.fourcc = fourcc
        self.frames = 0
        self.fps: float | None = None
        self._writer: cv2.VideoWriter | None = None
        self._first: tuple[np.ndarray, float] | None = None

    def write(self, canvas: np.ndarray, device_ts_ms: float) -> None:
        if self._writer is None:
            if self._first is None:
                self._first = (canvas.copy(), device_ts_ms)
                return
            first, first_ts = self._first
            period_ms = device_ts_ms - first_ts
            self._open(first.shape, 1000.0 / period_ms if period_ms > 0 else DEFAULT_FPS)
            self._put(first)
            self._first = None
        if canvas.shape[:2] != (self._height, self._width):  # e.g. a stream of another size
            canvas = cv2.resize(canvas, (self._width, self._height))
        self._put(canvas)

    def _open(self, shape: tuple[int, ...], fps: float) -> None:
        self.fps = float(min(max(fps, 1.0), 240.0))
        self._height, self._width = shape[:2]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps,
                                 (self._width, self._height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot write {self.path} with fourcc {self.fourcc!r} (OpenCV without FFmpeg?)")
        self._writer = writer

    def _put(self, canvas: np.ndarray) -> None:
        assert self._writer is not None
        self._writer.write(np.ascontiguousarray(canvas))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (idempotent). A single frame is written at DEFAULT_FPS."""
        if self._writer is None and self._first is not None:
            self._open(self._first[0].shape, DEFAULT_FPS)
            self._put(self._first[0])
            self._first = None
        if self._writer is not None:
            self._writer.release()
            self._writer = None

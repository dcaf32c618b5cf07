"""Helpers of the display tests: a private Xvfb server, screenshots, runs with a window, videos."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from monitor.display.xvfb import Xvfb, XvfbUnavailable

ROOT = Path(__file__).resolve().parents[1]
SCREEN = (1280, 800)


@contextmanager
def xserver() -> Iterator[Xvfb]:
    """A private Xvfb server for one test module; skips when Xvfb cannot run here."""
    server = Xvfb(*SCREEN)
    try:
        server.__enter__()
    except XvfbUnavailable as exc:
        pytest.skip(f"{exc}; scripts/test.sh installs it")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


def start_window_run(out: Path, display: str, *args: str) -> subprocess.Popen:
    """run_monitor.py with the display window on (no --headless) on the given X display."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    return subprocess.Popen([sys.executable, str(ROOT / "run_monitor.py"), "--out", str(out), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ffprobe_frames(path: Path) -> int:
    """Frames ffprobe decodes in the file's video stream (fails if ffprobe cannot read it)."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (Debian package ffmpeg)")
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames,codec_name", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def opencv_frames(path: Path) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"OpenCV cannot open {path}"
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def frame_id_from_pixels(bgr_row: np.ndarray) -> int:
    """tests/fixtures.py writes the frame number into the first 4 IR pixels (uint32 bytes)."""
    grey = bgr_row[:4, 0].astype(np.uint8)
    return int(np.frombuffer(grey.tobytes(), dtype=np.uint32)[0])

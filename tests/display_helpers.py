"""Helpers of the display tests: a private Xvfb server, screenshots, runs with a window, videos."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREEN = (1280, 800)


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a free display number; skip the test when Xvfb is not installed."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; scripts/test.sh installs it)")
    for n in range(99, 140):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                return proc, f":{n}"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    pytest.skip("could not start Xvfb on any display :99..:139")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def screenshot(display: str, path: Path) -> np.ndarray | None:
    """The whole X screen as BGR, grabbed with ffmpeg's x11grab (lossless PNG)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (Debian package ffmpeg)")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size",
                    f"{SCREEN[0]}x{SCREEN[1]}", "-i", display, "-frames:v", "1", str(path)],
                   check=True, timeout=20)
    return cv2.imread(str(path))


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

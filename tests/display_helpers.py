"""Helpers of the display tests: a private Xvfb server, screenshots, runs with a window, videos."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from monitor.bench.faults import wait_for
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


def start_painted_window_run(out: Path, server: Xvfb, *args: str, attempts: int = 3,
                             paint_timeout_s: float = 15.0) -> tuple[subprocess.Popen, Path]:
    """A window run whose camera image (top left of the screen) is on screen; returns it and its folder.

    Qt 5.15 (opencv-python's) under Xvfb with no window manager now and then never paints its window
    on a loaded machine: the MapNotify event never reaches it (QT_LOGGING_RULES="qt.qpa.*=true" shows
    a ConfigureNotify and an Expose but no MapNotify) and the window stays black for the whole run,
    while the run itself goes on and reports every frame shown. Such a run is stopped and started
    again in a new folder, at most ``attempts`` runs; only a window that never paints fails here.
    """
    for attempt in range(1, attempts + 1):
        folder = out if attempt == 1 else out.with_name(f"{out.name}_try{attempt}")
        proc = start_window_run(folder, server.display, *args)
        def results_written() -> bool:
            results = folder / "results.jsonl"
            return results.exists() and len(results.read_text().splitlines()) >= 5

        started = wait_for(lambda: results_written() or proc.poll() is not None, 60) and results_written()
        if started and wait_for(lambda: camera_image_painted(server.screenshot(folder.parent / "paint.png")),
                                paint_timeout_s, interval=0.2):
            return proc, folder
        ended = proc.poll() is not None  # a run that stopped by itself is a failure, not Qt's quirk
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        if not started or ended:
            why = "wrote no results (within 60 s)" if not started else f"ended (exit {proc.returncode}) unpainted"
            raise AssertionError(f"the run {why}:\n{output}")
        # shown in the test summary: a window that now paints only sometimes should not pass unseen
        warnings.warn(f"run {attempt} of {attempts}: the window was not painted within {paint_timeout_s:.0f} s; "
                      "starting the run again")
    raise AssertionError(f"the window was never painted in {attempts} runs (screen black at the camera image)")


def camera_image_painted(screen: np.ndarray, size: tuple[int, int] = (320, 240)) -> bool:
    """True once the test recordings' noise image shows at the window's place: the top left of the
    screen, where the display worker moves it (a bare Xvfb has no window manager to place it elsewhere)."""
    return float(screen[:size[1], :size[0]].std()) > 20.0  # black: 0; uniform noise: ~74


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

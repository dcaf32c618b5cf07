"""A private virtual X server (Xvfb) for the display benchmark, screenshots and tests."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np


class XvfbUnavailable(RuntimeError):
    """Xvfb is not installed or would not start."""


class Xvfb:
    """``with Xvfb() as display:`` runs Xvfb on the first free display number from 99."""

    def __init__(self, width: int = 1600, height: int = 900) -> None:
        self.size = (width, height)
        self.proc: subprocess.Popen | None = None
        self.display = ""

    def __enter__(self) -> str:
        if shutil.which("Xvfb") is None:
            raise XvfbUnavailable("Xvfb is not installed (Debian package xvfb)")
        for n in range(99, 140):
            if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
                continue
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{self.size[0]}x{self.size[1]}x24",
                                     "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    self.proc, self.display = proc, f":{n}"
                    return self.display
                time.sleep(0.05)
            proc.kill()
            proc.wait()
        raise XvfbUnavailable("Xvfb would not start on any display :99..:139")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def screenshot(self, path: Path) -> np.ndarray:
        """The whole screen as BGR via ffmpeg's x11grab (lossless PNG at ``path``)."""
        if shutil.which("ffmpeg") is None:
            raise XvfbUnavailable("ffmpeg is not installed (Debian package ffmpeg)")
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size",
                   f"{self.size[0]}x{self.size[1]}", "-i", self.display, "-frames:v", "1", str(path)]
        for attempt in range(3):  # x11grab occasionally fails to connect on a heavily loaded machine
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"screenshot of {self.display} failed: {done.stderr.strip()}")
        image = cv2.imread(str(path))
        if image is None:
            raise RuntimeError(f"could not read the screenshot {path}")
        return image

"""The procedural in-cabin scene as a frame source (the pipeline's default).

Spec: ``synthetic[:key=value,...]``, keys (all optional):
    seed=0            scene seed (subject, cabin, camera jitter, behaviour, noise)
    scenario=drive    drive | gaze | sweeps | activities | vats | random ("drive": ~25 s scripted drive
                      that visits every gaze zone and contains one long-distraction episode)
    camera=d435       d435 (848x480) | kinect_v2 (512x424) | autopose_ir (752x480)
    mount=dashboard   dashboard | mirror | pillar
    width=, height=   render size (keeps the preset's horizontal field of view)
    fps=              frame rate, a positive finite number (default: the preset's)
    frames=, duration=  stop after this many frames / seconds, positive (default: the scenario's length)
    subject=          body/head shape seed (default: seed)
    glasses=          none | clear | sunglasses;  scarf=0|1;  daylight=0|1;  jitter=1|0
    passenger=0|1     a still front passenger (default: drawn per seed, 30% of scenes)
    loop=0            1: start over at the end (endless demo)
Frames carry ``truth`` = the label dict of docs/labels.md. Rendering is numpy-only (synth/).
"""
from __future__ import annotations

import math
from typing import Any, Iterator

from monitor.frames import FrameSet
from monitor.sources.base import FrameSource, SourceError

_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _bool(key: str, value: str) -> bool:
    try:
        return _BOOL[value.strip().lower()]
    except KeyError:
        raise SourceError(f"synthetic option {key}={value!r}: use 1/0, true/false, yes/no or on/off") from None


def _num(key: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise SourceError(f"synthetic option {key}={value!r}: expected a {kind.__name__}") from None


def _positive(key: str, value: str, unit: str, zero_ok: bool = False) -> float:
    """A positive finite number: 0 or less has no frames (a negative one made len() fail), nan and
    inf have no frame count, and fps=0 used to fall back to the preset's rate unannounced."""
    x = _num(key, value, float)
    if math.isfinite(x) and (x > 0 or (zero_ok and x == 0)):
        return x
    raise SourceError(f"synthetic option {key}={value}: must be a positive finite number of {unit}")


class SyntheticSource(FrameSource):
    """Renders the frames of one `synth.scene.Scene` on demand, in order."""

    is_live = False

    def __init__(self, scene: Any, frames: int, loop: bool = False, stream: str = "synthetic") -> None:
        self.scene = scene
        self.frames = frames
        self.loop = loop
        self.stream = stream
        self.name = f"synthetic:seed={scene.seed},scenario={scene.scenario},camera={scene.preset.name}"

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[FrameSet]:
        return self.frames_from(0)

    def frames_from(self, start: int) -> Iterator[FrameSet]:
        """Renders from the ``start``-th frame on without rendering the ones before."""
        period_ms = 1000.0 / self.scene.fps
        n = start
        if not self.loop and start >= self.frames:
            return
        while True:
            for i in range(n % self.frames, self.frames):
                # rendered straight into the arrays the capture worker lends (a ring slot)
                fs = self.scene.frameset(i, self.stream, self.allocate(self.scene.image_layout()))
                # The mount's pose in the car frame, as a calibrated camera would carry it
                # (`python -m calib pnp` on a real car); the gaze stage casts rays with it.
                fs.extra["camera_pose"] = fs.truth["camera"]["extrinsics"]
                fs.frame = n  # frame ids keep counting across loops; truth keeps the scene's frame/time
                fs.device_ts_ms = n * period_ms
                yield fs
                n += 1
            if not self.loop:
                return


def open_synthetic(**options: str) -> SyntheticSource:
    """Build the synthetic source from spec options (strings; see the module docstring)."""
    from synth.scene import Scene  # numpy-only renderer

    opts = dict(options)
    known = {"seed", "scenario", "camera", "mount", "width", "height", "fps", "frames", "duration", "subject",
             "glasses", "scarf", "daylight", "jitter", "loop", "stream", "passenger"}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise SourceError(f"unknown synthetic option(s) {unknown}: use {sorted(known)}")
    kw: dict[str, Any] = {}
    for key in ("seed", "width", "height", "subject"):
        if key in opts:
            kw[key] = _num(key, opts[key], int)
    if "fps" in opts:
        kw["fps"] = _positive("fps", opts["fps"], "frames per second")
    for key in ("scenario", "camera", "mount", "glasses"):
        if key in opts:
            kw[key] = opts[key]
    for key in ("scarf", "daylight", "jitter", "passenger"):
        if key in opts:
            kw[key] = _bool(key, opts[key])
    if "duration" in opts:
        # 0 passes here: it is refused below as a scene with no frames, like any too-short duration
        kw["duration_s"] = _positive("duration", opts["duration"], "seconds", zero_ok=True)
    try:
        scene = Scene(**kw)
    except ValueError as exc:
        raise SourceError(f"synthetic source: {exc}") from None
    frames = len(scene)
    if frames <= 0:
        raise SourceError(f"synthetic source: the scene has no frames ({scene.timeline.duration_s:g} s at "
                          f"{scene.fps:g} fps); give a longer duration or a higher fps")
    if "frames" in opts:
        frames = _num("frames", opts["frames"], int)
        if frames <= 0:
            raise SourceError(f"synthetic option frames={frames}: must be positive")
    return SyntheticSource(scene, frames, _bool("loop", opts.get("loop", "0")), opts.get("stream", "synthetic"))

"""One seeded synthetic sequence: cabin + occupant + camera + behaviour timeline -> labelled frames.

Speed (synth/bench.py): the static cabin is ray-cast once per camera; per frame only the occupant's
~60 analytic solids are cast, each inside its own screen rectangle, into a copy of the cabin
buffers; sensor noise comes from pre-made banks at random offsets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.frames import FrameSet, Intrinsics
from synth.behaviour import SCENARIOS, Timeline, build_timeline
from synth.cabin import CAR_CENTRE_X, cabin_primitives
from synth.camera import MOUNTS, PRESETS, CameraPose, mount_pose
from synth.labels import make_labels
from synth.occupant import Body, Occupant, Pose, Subject
from synth.primitives import LABEL_CABIN, LABEL_PASSENGER, LABEL_SEAT, LABEL_WHEEL, Canvas
from synth.sensors import SensorModel


@dataclass
class SynthFrame:
    """Everything the generator knows about one frame.

    ir: uint8 HxW; depth: uint16 HxW mm (0 = no data), as the sensor would deliver them;
    depth_clean: float32 HxW noise-free z-depth mm (0 = nothing within range); mask: uint8 HxW
    instance labels (synth.primitives.LABEL_NAMES); labels: the JSON-able truth (docs/labels.md).
    """

    index: int
    time_s: float
    ir: np.ndarray
    depth: np.ndarray
    depth_clean: np.ndarray
    mask: np.ndarray
    labels: dict
    body: Body


class Scene:
    """A reproducible sequence: the same arguments give the same frames, in any access order."""

    def __init__(self, seed: int = 0, scenario: str = "drive", camera: str = "d435", mount: str = "dashboard",
                 width: int | None = None, height: int | None = None, fps: float | None = None,
                 duration_s: float | None = None, subject: int | None = None, glasses: str | None = None,
                 scarf: bool | None = None, daylight: bool | None = None, jitter: bool = True,
                 passenger: bool | None = None, jitter_scale: float = 1.0) -> None:
        if camera not in PRESETS:
            raise ValueError(f"unknown camera preset {camera!r}: use one of {sorted(PRESETS)}")
        if mount not in MOUNTS:
            raise ValueError(f"unknown mount {mount!r}: use one of {sorted(MOUNTS)}")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}: use one of {SCENARIOS}")
        # None means the preset's rate / the scenario's length; 0 is not None (it used to mean the
        # preset's rate), and nan/inf/negative would give no frame count
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive finite number, got {fps}")
        if duration_s is not None and not (np.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s}")
        self.seed, self.scenario = int(seed), scenario
        self.preset = PRESETS[camera]
        self.mount = MOUNTS[mount]
        rng = np.random.default_rng([1, self.seed])
        self.subject = Subject.sample(self.seed if subject is None else int(subject), glasses, scarf)
        self.seat_offset = np.array([0.0, rng.uniform(-25, 25), rng.uniform(-60, 60)])
        self.back_deg = float(rng.uniform(14.0, 23.0))
        self.occupant = Occupant(self.subject, self.seat_offset, self.back_deg - 2.0)  # trunk leans 2 deg off the backrest
        self.intrinsics: Intrinsics = self.preset.intrinsics(width, height)
        self.fps = float(self.preset.fps if fps is None else fps)
        # mount jitter: +-25 mm and +-3 deg, times jitter_scale (training sets use wider jitter)
        self.camera_pose: CameraPose = mount_pose(self.mount, rng if jitter else None, 25.0 * jitter_scale,
                                                  3.0 * jitter_scale)
        self.r_cam_car, self.t_cam_car = self.camera_pose.car_to_cam()
        k = self.intrinsics
        self.static = Canvas.empty(k.width, k.height, k.fx, k.fy, k.cx, k.cy)
        static_prims = cabin_primitives(rng, self.seat_offset, self.back_deg)
        # optional front passenger: a second subject in a still pose, part of the static layer
        self.passenger = bool(rng.random() < 0.3) if passenger is None else bool(passenger)
        if self.passenger:
            static_prims += self._passenger_prims(rng)
        for prim in static_prims:
            self.static.draw(prim.moved(self.r_cam_car, self.t_cam_car))
        self._texture_static(np.random.default_rng([13, self.seed]))

        neutral = self.occupant.pose(Pose(wrist_left=np.zeros(3), wrist_right=np.zeros(3)))
        eye_point = neutral.eye_centers.mean(axis=0)
        self.timeline: Timeline = build_timeline(scenario, self.seed, eye_point, duration_s)
        self.n_frames = int(round(self.timeline.duration_s * self.fps))
        head_cam = self.r_cam_car @ neutral.head_center + self.t_cam_car
        day = bool(rng.random() < 0.4) if daylight is None else daylight
        target_dn = rng.uniform(150, 210)  # auto-exposure on the face
        exposure = target_dn * float(head_cam @ head_cam) * 1e-6 / (self.subject.skin * 0.9)
        self.daylight = day
        self.sensor = SensorModel(self.preset, k.width, k.height, k.fx, exposure,
                                  outside_level=float(rng.uniform(150, 255) if day else rng.uniform(2, 10)),
                                  ambient=float(rng.uniform(15, 50) if day else rng.uniform(0, 3)), seed=self.seed)

    def _texture_static(self, rng: np.random.Generator) -> None:
        """Mottle the still cabin's reflectance (fabric, grain, wear). The camera does not move
        within a scene, so an image-space texture on static surfaces stays glued to them."""
        from synth.sensors import blur_rows_cols

        h, w = self.static.albedo.shape
        coarse = blur_rows_cols(rng.standard_normal((h, w), dtype=np.float32), 9)
        fine = blur_rows_cols(rng.standard_normal((h, w), dtype=np.float32), 2)
        tex = 1.0 + 0.10 * np.clip(coarse, -2.5, 2.5) + 0.05 * np.clip(fine, -2.5, 2.5)
        still = np.isin(self.static.label, (LABEL_CABIN, LABEL_SEAT, LABEL_WHEEL))
        self.static.albedo *= np.where(still, tex, 1.0).astype(np.float32)

    def _passenger_prims(self, rng: np.random.Generator) -> list:
        other = Subject.sample(int(rng.integers(3_000_000, 4_000_000)))
        hip = np.array([2 * CAR_CENTRE_X, 0.0, 0.0])
        occ = Occupant(other, hip, float(rng.uniform(16.0, 24.0)), label=LABEL_PASSENGER, belt_side=1.0, foot_z=760.0)
        lap_l, lap_r = hip + np.array([-80.0, -90.0, 300.0]), hip + np.array([80.0, -90.0, 300.0])
        yaw = float(rng.uniform(-30, 15))
        body = occ.pose(Pose(head_ypr=(yaw, float(rng.uniform(-5, 15)), 0.0), wrist_left=lap_l, wrist_right=lap_r))
        return body.prims

    def __len__(self) -> int:
        return self.n_frames

    def render(self, index: int, out: dict[str, np.ndarray] | None = None) -> SynthFrame:
        """Frame ``index``; ``out`` may provide the ``ir`` and ``depth`` arrays to write the sensor
        images into (a shared-memory ring slot: FrameSource.allocate)."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        t = index / self.fps
        pose, info = self.timeline.sample(t)
        body = self.occupant.pose(pose)
        canvas = self.static.copy()
        cam_prims = [p.moved(self.r_cam_car, self.t_cam_car) for p in body.prims]
        for prim in cam_prims:
            canvas.draw(prim)
        depth, ir = self.sensor.apply(canvas.depth, canvas.cos, canvas.albedo, (self.seed, index),
                                      None if out is None else (out["depth"], out["ir"]))
        clean = np.where(np.isfinite(canvas.depth), canvas.depth, np.float32(0.0))
        labels = make_labels(self, index, t, body, cam_prims, info, clean, canvas.label)
        return SynthFrame(index, t, ir, depth, clean, canvas.label, labels, body)

    def image_layout(self) -> dict[str, tuple[type, tuple[int, int]]]:
        """dtype and shape of the sensor images ``render`` can write into (``out``)."""
        shape = (self.intrinsics.height, self.intrinsics.width)
        return {"ir": (np.uint8, shape), "depth": (np.uint16, shape)}

    def frameset(self, index: int, stream: str = "synthetic", out: dict[str, np.ndarray] | None = None) -> FrameSet:
        f = self.render(index, out)
        return FrameSet(stream, index, f.time_s * 1000.0, {"ir": f.ir, "depth": f.depth},
                        {"ir": self.intrinsics, "depth": self.intrinsics}, 1.0, f.labels)

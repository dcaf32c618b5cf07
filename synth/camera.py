"""Camera presets (intrinsics + sensor kind) and mounts (pose in the car frame, with jitter).

Car frame (docs/labels.md): x right, y down, z forward (driving direction), millimetres, origin at
the driver's seat reference point (hip point of the seat in its middle position).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.frames import Intrinsics


@dataclass(frozen=True)
class CameraPreset:
    """A sensor: native size, horizontal field of view and how it measures depth."""

    name: str
    width: int
    height: int
    hfov_deg: float
    depth_kind: str  # "stereo" (active stereo, D4xx) or "tof" (Kinect v2 and the IR-only camera)
    min_depth_mm: float
    max_depth_mm: float
    baseline_mm: float  # stereo baseline (right imager to the +x side of the reference imager)
    emitter: bool  # projects a dot pattern visible in IR (D4xx)
    illuminator_offset_mm: tuple[float, float, float]  # active IR light, camera frame
    fps: float

    def intrinsics(self, width: int | None = None, height: int | None = None) -> Intrinsics:
        """Square pixels; another size keeps the horizontal field of view (the sensor mode crops)."""
        # only None means native: a 0 falls through to Intrinsics, which refuses it
        w, h = self.width if width is None else width, self.height if height is None else height
        fx = (w / 2.0) / np.tan(np.radians(self.hfov_deg) / 2.0)
        return Intrinsics(w, h, float(fx), float(fx), (w - 1) / 2.0, (h - 1) / 2.0)


PRESETS: dict[str, CameraPreset] = {
    # D435: 848x480 depth/IR, HFOV ~87 deg, 50 mm baseline, min-Z ~280 mm at this mode
    "d435": CameraPreset("d435", 848, 480, 87.0, "stereo", 280.0, 6000.0, 50.0, True, (25.0, 0.0, 0.0), 30.0),
    # Kinect v2 depth/IR: 512x424, HFOV 70.6 deg, range 0.5-4.5 m, ToF illuminator next to the lens
    "kinect_v2": CameraPreset("kinect_v2", 512, 424, 70.6, "tof", 500.0, 4500.0, 0.0, False, (0.0, 20.0, 0.0), 30.0),
    # AutoPOSE dashboard IR camera: 752x480 @ 60 fps, IR-only (depth here is synthetic, ToF-like)
    "autopose_ir": CameraPreset("autopose_ir", 752, 480, 64.0, "tof", 200.0, 3000.0, 0.0, False, (0.0, 30.0, 0.0), 60.0),
}


@dataclass(frozen=True)
class Mount:
    """Nominal camera position in the car frame and the point it aims at."""

    name: str
    position_mm: tuple[float, float, float]
    aim_mm: tuple[float, float, float]


MOUNTS: dict[str, Mount] = {
    # on the dashboard below the windscreen, looking over the wheel rim at the face (AutoPOSE's dashboard view)
    "dashboard": Mount("dashboard", (0.0, -590.0, 720.0), (0.0, -610.0, -100.0)),
    # at the rear-view mirror, looking down and across at the driver (AutoPOSE's Kinect view)
    "mirror": Mount("mirror", (370.0, -860.0, 520.0), (-40.0, -420.0, -60.0)),
    # on the left A-pillar, looking across at the face (held out of training: an unseen mount)
    "pillar": Mount("pillar", (-440.0, -780.0, 560.0), (60.0, -560.0, -100.0)),
    # on the dashboard top above the media centre, looking back and across at the face from the right
    # and below (the road-ahead head reads yaw ~-25 deg): a third viewpoint for training sets (tried for
    # the head model, not in the shipped one's data: docs/models.md); the pillar stays unseen
    "console": Mount("console", (330.0, -520.0, 580.0), (-20.0, -600.0, -80.0)),
}


def look_at(position: np.ndarray, aim: np.ndarray, up: np.ndarray = np.array([0.0, -1.0, 0.0])) -> np.ndarray:
    """Rotation camera -> car whose z axis points at ``aim`` and whose image 'up' follows ``up``."""
    z = aim - position
    z = z / np.linalg.norm(z)
    x = np.cross(-up, z)  # camera x right = down x forward ... with y down: x = y cross z
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(axis_angle))
    if theta < 1e-12:
        return np.eye(3)
    k = axis_angle / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


@dataclass(frozen=True)
class CameraPose:
    """Camera pose in the car frame: rotation camera->car (columns = camera axes in car
    coordinates) and camera centre position in car coordinates (mm)."""

    rotation: np.ndarray
    position_mm: np.ndarray

    def car_to_cam(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.rotation.T
        return r, -r @ self.position_mm


def mount_pose(mount: Mount, rng: np.random.Generator | None, jitter_mm: float = 25.0,
               jitter_deg: float = 3.0) -> CameraPose:
    """Nominal mount pose, perturbed (position and aim) when an rng is given."""
    pos = np.array(mount.position_mm, dtype=np.float64)
    aim = np.array(mount.aim_mm, dtype=np.float64)
    rot = look_at(pos, aim)
    if rng is not None:
        pos = pos + rng.normal(0.0, jitter_mm / 2.0, 3).clip(-jitter_mm, jitter_mm)
        tilt = np.radians(rng.normal(0.0, jitter_deg / 2.0, 3).clip(-jitter_deg, jitter_deg))
        rot = rodrigues(tilt) @ look_at(pos, aim)
    return CameraPose(rot, pos)

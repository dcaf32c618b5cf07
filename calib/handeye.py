"""Hand-eye calibration (Tsai-Lenz, as AutoPOSE sec. 4.2, implemented in numpy): the camera -> rig transform of a camera
that carries tracked markers ("rig", the marker rigid body), from N views of a fixed calibration
target. Inputs per view: the rig's pose in the tracker frame (rig -> world, from the motion-capture
system) and the target's pose in the camera frame (target -> camera, e.g. from `calib pnp` or a
checkerboard). Residual: the target is fixed in the world, so rig_i * X * target_i must be the same
for every view; its spread (mm, degrees) is reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calib.files import read_json_list
from calib.transforms import (invert, make_transform, mean_rotation, rotation_angle_deg,
                              transform_from_json)

MIN_VIEWS = 3
MIN_MOTION_DEG = 2.0


@dataclass
class HandEyeResult:
    """camera_to_rig: 4x4 (camera frame -> rig frame). target_in_world: the mean target pose;
    residual_mm / residual_deg: per-view deviation of the implied target pose from that mean."""

    camera_to_rig: np.ndarray
    target_in_world: np.ndarray
    residual_mm: list[float]
    residual_deg: list[float]

    @property
    def rms_mm(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residual_mm))))

    @property
    def rms_deg(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residual_deg))))

    def report(self) -> str:
        t = self.camera_to_rig[:3, 3]
        return "\n".join([
            f"camera -> rig from {len(self.residual_mm)} views: translation ({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}) mm, "
            f"rotation {rotation_angle_deg(self.camera_to_rig[:3, :3]):.3f} deg",
            f"target-consistency residual: RMS {self.rms_mm:.3f} mm / {self.rms_deg:.4f} deg "
            f"(worst {max(self.residual_mm):.3f} mm / {max(self.residual_deg):.4f} deg)"])


def hand_eye(rig_to_world: list[np.ndarray], target_to_camera: list[np.ndarray]) -> HandEyeResult:
    if len(rig_to_world) != len(target_to_camera):
        raise ValueError(f"{len(rig_to_world)} rig poses but {len(target_to_camera)} target poses: "
                         "give one of each per view")
    if len(rig_to_world) < MIN_VIEWS:
        raise ValueError(f"need at least {MIN_VIEWS} views for hand-eye calibration, got {len(rig_to_world)}")
    _check_motion(rig_to_world)
    cam_to_rig = tsai_lenz(rig_to_world, target_to_camera)
    targets = [a @ cam_to_rig @ b for a, b in zip(rig_to_world, target_to_camera)]
    mean = make_transform(mean_rotation([t[:3, :3] for t in targets]), np.mean([t[:3, 3] for t in targets], axis=0))
    res_mm = [float(np.linalg.norm(t[:3, 3] - mean[:3, 3])) for t in targets]
    res_deg = [rotation_angle_deg(mean[:3, :3].T @ t[:3, :3]) for t in targets]
    return HandEyeResult(cam_to_rig, mean, res_mm, res_deg)


def tsai_lenz(rig_to_world: list[np.ndarray], target_to_camera: list[np.ndarray]) -> np.ndarray:
    """Tsai & Lenz (1989) in numpy (OpenCV 5's Python bindings lack calibrateHandEye).

    For every pair of views i < j: A = G_i^-1 G_j (rig motion), B = C_i C_j^-1 (camera motion),
    and A X = X B. Rotation first, from modified Rodrigues vectors P = 2 sin(theta/2) axis:
    skew(P_A + P_B) P' = P_B - P_A (least squares), P_X = 2 P' / sqrt(1 + |P'|^2); then the
    translation from (R_A - I) t_X = R_X t_B - t_A (least squares).
    """
    pairs = []
    for i in range(len(rig_to_world)):
        for j in range(i + 1, len(rig_to_world)):
            a = invert(rig_to_world[i]) @ rig_to_world[j]
            b = target_to_camera[i] @ invert(target_to_camera[j])
            if rotation_angle_deg(a[:3, :3]) > 1e-3:
                pairs.append((a, b))
    lhs, rhs = [], []
    for a, b in pairs:
        pa, pb = _modified_rodrigues(a[:3, :3]), _modified_rodrigues(b[:3, :3])
        lhs.append(_skew(pa + pb))
        rhs.append(pb - pa)
    p_prime = np.linalg.lstsq(np.vstack(lhs), np.concatenate(rhs), rcond=None)[0]
    p = 2.0 * p_prime / np.sqrt(1.0 + p_prime @ p_prime)
    n2 = p @ p
    r = (1.0 - n2 / 2.0) * np.eye(3) + 0.5 * (np.outer(p, p) + np.sqrt(4.0 - n2) * _skew(p))
    lhs = [a[:3, :3] - np.eye(3) for a, _ in pairs]
    rhs = [r @ b[:3, 3] - a[:3, 3] for a, b in pairs]
    t = np.linalg.lstsq(np.vstack(lhs), np.concatenate(rhs), rcond=None)[0]
    return make_transform(r, t)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _modified_rodrigues(r: np.ndarray) -> np.ndarray:
    """2 sin(theta/2) * unit axis of a rotation matrix."""
    theta = np.radians(rotation_angle_deg(r))
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-12:
        return np.zeros(3)
    return 2.0 * np.sin(theta / 2.0) * axis / norm


def _check_motion(rig_to_world: list[np.ndarray]) -> None:
    """Tsai-Lenz needs rotations about at least two different axes."""
    axes = []
    for a, b in zip(rig_to_world[:-1], rig_to_world[1:]):
        rel = invert(a) @ b
        ang = rotation_angle_deg(rel[:3, :3])
        if ang >= MIN_MOTION_DEG:
            r = rel[:3, :3]
            axes.append(np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]))
    axes = [a / np.linalg.norm(a) for a in axes if np.linalg.norm(a) > 1e-9]
    spread = max((float(np.linalg.norm(np.cross(a, b))) for a in axes for b in axes), default=0.0)
    if len(axes) < 2 or spread < np.sin(np.radians(5.0)):
        raise ValueError("the rig poses do not rotate about two different axes (by >= "
                         f"{MIN_MOTION_DEG} deg): tilt and turn the camera between views")


def load_views(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """File: {"views": [{"rig_to_world": {rotation, translation_mm},
                          "target_to_camera": {rotation, translation_mm}}, ...]}."""
    p = Path(path)
    views = read_json_list(p, "views", "hand-eye")
    rig, tgt = [], []
    for i, v in enumerate(views):
        if not isinstance(v, dict):
            raise ValueError(f"{p}: views[{i}] must be an object")
        rig.append(transform_from_json(v.get("rig_to_world"), f"{p}: views[{i}].rig_to_world"))
        tgt.append(transform_from_json(v.get("target_to_camera"), f"{p}: views[{i}].target_to_camera"))
    return rig, tgt

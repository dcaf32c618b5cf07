"""Constructed head poses and gaze scripts for the calib/gaze tests (no models involved)."""
from __future__ import annotations

import numpy as np

from calib.layout import CabinLayout, CameraPose
from monitor.estimates import Estimates, HeadPose
from monitor.gaze.ray import angles_to_direction, direction_to_angles, head_rotation_facing
from monitor.geometry import matrix_to_euler


def head_pose(direction_car: np.ndarray, head_car_mm: np.ndarray, camera: CameraPose,
              with_position: bool = True) -> HeadPose:
    """The HeadPose an ideal estimator would report for a head at ``head_car_mm`` facing ``direction_car``."""
    r_cam = camera.rotation.T @ head_rotation_facing(direction_car)
    yaw, pitch, roll = matrix_to_euler(r_cam)
    t = camera.to_camera(head_car_mm) if with_position else None
    return HeadPose(yaw, pitch, roll, r_cam, t, (0.0, 0.0), (0.0, 0.0, 1.0, 1.0))


def looking_at(layout: CabinLayout, zone: str, head_car_mm: np.ndarray | None = None,
               head_share: tuple[float, float] | None = None, noise_deg: float = 0.0,
               rng: np.random.Generator | None = None, camera: CameraPose | None = None,
               bias_deg: tuple[float, float] = (0.0, 0.0)) -> Estimates:
    """Estimates of a driver at ``head_car_mm`` looking at ``zone``, measured with ``noise_deg``
    noise. The head turns ``head_share`` of the way (azimuth, elevation); by default exactly as
    the layout's driver model assumes (the inverse of gaze = offset + gain * head + correction). ``bias_deg``:
    a constant error of the estimator on the head's (azimuth, elevation)."""
    head = layout.nominal_head_mm if head_car_mm is None else np.asarray(head_car_mm, dtype=np.float64)
    az, el = direction_to_angles(layout.zone(zone).target_mm(head) - head)
    if head_share is None:  # the inverse of the layout's default model, its per-zone corrections included
        from monitor.gaze import GazeZoneClassifier
        az, el = GazeZoneClassifier(layout).head_angles_for((az, el))
    else:
        az, el = az * head_share[0], el * head_share[1]
    if noise_deg:
        az, el = az + rng.normal(0, noise_deg), el + rng.normal(0, noise_deg)
    az, el = az + bias_deg[0], el + bias_deg[1]
    return Estimates(head_pose(angles_to_direction(az, el), head, camera or layout.camera_pose))


__all__ = ["head_pose", "looking_at"]

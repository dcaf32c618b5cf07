"""Gaze rays in the car frame: head pose (camera frame) -> head centre + viewing direction.

In the AutoPOSE head frame (monitor/geometry.py) z points out of the back of the head, so the face
looks along -z of the head frame. Angles in the car frame (x right, y down, z forward):
azimuth = atan2(x, z) (positive to the driver's right), elevation = atan2(y, hypot(x, z))
(positive downwards, because y points down).
"""
from __future__ import annotations

import numpy as np

from calib.layout import CAR_UP, CameraPose


def head_in_car(rotation_cam: np.ndarray, position_cam_mm: np.ndarray, camera: CameraPose
                ) -> tuple[np.ndarray, np.ndarray]:
    """(head->car rotation, head centre in car mm) from a head pose in the camera frame."""
    return camera.rotation @ np.asarray(rotation_cam, dtype=np.float64), camera.to_car(position_cam_mm)


def face_direction(rotation_head_to_car: np.ndarray) -> np.ndarray:
    """Unit vector the face points along: minus the head's z axis."""
    return -np.asarray(rotation_head_to_car, dtype=np.float64)[:, 2]


def direction_to_angles(direction: np.ndarray) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of a car-frame direction."""
    d = np.asarray(direction, dtype=np.float64)
    return (float(np.degrees(np.arctan2(d[0], d[2]))),
            float(np.degrees(np.arctan2(d[1], np.hypot(d[0], d[2])))))


def angles_to_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Inverse of `direction_to_angles`: a unit car-frame direction."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])


def head_rotation_facing(direction_car: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """Head->car rotation of an upright head whose face points along ``direction_car``
    (used to build test poses and by tools that aim a head at a target)."""
    f = np.asarray(direction_car, dtype=np.float64)
    z = -f / np.linalg.norm(f)                    # head z: out of the back of the head
    y = -CAR_UP - z * (-CAR_UP @ z)               # head y: down, orthogonal to z
    if np.linalg.norm(y) < 1e-9:
        raise ValueError("cannot face straight up or down")
    y /= np.linalg.norm(y)
    x = np.cross(y, z)                            # z = x cross y  <=>  x = y cross z
    r = np.stack([x, y, z], axis=1)
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    return r @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

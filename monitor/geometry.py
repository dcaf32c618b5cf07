"""Pure geometry shared by the runtime, the synthetic generator, training and calibration.

Conventions (docs/conventions.md repeats them):
- Camera frame: x right, y down, z forward (optical axis), millimetres.
- Head frame (AutoPOSE sec. 3.1, after DriveAHead): origin at the mean of the four eye corners;
  x points from the centre towards the subject's left eye; y points down towards the mean of the
  nose and mouth corners (projected onto the plane normal to x); z = x cross y points out of the
  back of the head. A driver looking straight into the camera therefore has R = identity.
- Head pose: rotation R (head -> camera, columns are the head axes in camera coordinates) and
  translation t (head centre in camera coordinates, mm).
- Euler angles (degrees): R = Ry(yaw) @ Rx(pitch) @ Rz(roll), i.e. intrinsic yaw about the head's
  vertical axis, then pitch about its ear-to-ear axis, then roll about its front-back axis.
  Positive yaw turns the face towards image left (the subject's right); positive pitch tips the
  face down; positive roll tilts the top of the head towards image right (the subject's left).
"""
from __future__ import annotations

import numpy as np


def rot_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Ry(yaw) @ Rx(pitch) @ Rz(roll), angles in degrees."""
    return rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)


def matrix_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of `euler_to_matrix`: (yaw, pitch, roll) in degrees, pitch in [-90, 90]."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = np.degrees(np.arcsin(np.clip(-r[1, 2], -1.0, 1.0)))
    if abs(r[1, 2]) < 1.0 - 1e-9:
        yaw = np.degrees(np.arctan2(r[0, 2], r[2, 2]))
        roll = np.degrees(np.arctan2(r[1, 0], r[1, 1]))
    else:  # gimbal lock: pitch = +-90, fold roll into yaw
        yaw = np.degrees(np.arctan2(-r[2, 0], r[0, 0]))
        roll = 0.0
    return float(yaw), float(pitch), float(roll)


def project(points_mm: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole projection of (..., 3) camera-frame points to (..., 2) pixels."""
    p = np.asarray(points_mm, dtype=np.float64)
    z = p[..., 2]
    return np.stack([fx * p[..., 0] / z + cx, fy * p[..., 1] / z + cy], axis=-1)


def backproject(uv: np.ndarray, depth_mm: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pixels (..., 2) with depths (...) -> camera-frame points (..., 3) in mm."""
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(depth_mm, dtype=np.float64)
    x = (uv[..., 0] - cx) * z / fx
    y = (uv[..., 1] - cy) * z / fy
    return np.stack([x, y, z], axis=-1)

"""Rigid transforms as 4x4 matrices, their JSON form and error measures (pure numpy)."""
from __future__ import annotations

from typing import Any

import numpy as np


def make_transform(rotation: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rotation
    t[:3, 3] = np.asarray(translation_mm, dtype=np.float64).ravel()
    return t


def invert(t: np.ndarray) -> np.ndarray:
    r, p = t[:3, :3], t[:3, 3]
    return make_transform(r.T, -r.T @ p)


def rotation_angle_deg(r: np.ndarray) -> float:
    """Angle of a rotation matrix (its distance from identity), degrees."""
    c = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(c)))


def rotation_from_vector(axis_angle_rad: np.ndarray) -> np.ndarray:
    """Rodrigues formula (numpy), axis * angle in radians -> rotation matrix."""
    v = np.asarray(axis_angle_rad, dtype=np.float64)
    th = np.linalg.norm(v)
    if th < 1e-12:
        return np.eye(3)
    k = v / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx


def mean_rotation(rs: list[np.ndarray]) -> np.ndarray:
    """Chordal L2 mean of rotations (projection of the arithmetic mean onto SO(3))."""
    u, _, vt = np.linalg.svd(np.sum(rs, axis=0))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def transform_from_json(d: Any, where: str) -> np.ndarray:
    """{"rotation": 3x3, "translation_mm": [x, y, z]} -> 4x4; clear errors naming ``where``."""
    if not isinstance(d, dict) or "rotation" not in d or "translation_mm" not in d:
        raise ValueError(f"{where}: needs 'rotation' (3x3) and 'translation_mm' (3 numbers)")
    try:
        r = np.array(d["rotation"], dtype=np.float64)
        t = np.array(d["translation_mm"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: rotation/translation_mm must be numbers") from None
    if r.shape != (3, 3) or t.shape != (3,) or not (np.all(np.isfinite(r)) and np.all(np.isfinite(t))):
        raise ValueError(f"{where}: rotation must be 3x3 and translation_mm 3 finite numbers")
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    if err > 1e-3 or np.linalg.det(r) < 0:
        raise ValueError(f"{where}.rotation: not a rotation matrix (|R^T R - I| = {err:.2g})")
    u, _, vt = np.linalg.svd(r)
    return make_transform(u @ vt, t)


def transform_to_json(t: np.ndarray) -> dict[str, Any]:
    return {"rotation": np.round(t[:3, :3], 9).tolist(), "translation_mm": np.round(t[:3, 3], 4).tolist()}

"""Camera pose in the car frame from a few measured 3D points and their pixels (PnP).

Measure >= 4 (better 6+) points in the car frame (e.g. mirror corners, the A-pillar base, a tape
mark on the seat), click them in a camera image, and solve for the camera->car transform.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calib.files import read_json_list
from calib.layout import CameraPose
from monitor.frames import Intrinsics

MIN_POINTS = 4


@dataclass
class PnPResult:
    """pose: camera->car. rms_px / per_point_px: reprojection errors; per_point_mm: distance of each
    measured 3D point from its pixel's viewing ray (a residual in millimetres)."""

    pose: CameraPose
    rms_px: float
    per_point_px: list[float]
    per_point_mm: list[float]
    names: list[str]

    def report(self) -> str:
        p = self.pose.position_mm
        lines = [f"camera centre in the car frame: ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm from {len(self.names)} points",
                 f"reprojection RMS {self.rms_px:.3f} px; ray distance RMS {np.sqrt(np.mean(np.square(self.per_point_mm))):.2f} mm"]
        lines += [f"  {n}: {e:.2f} px, {m:.2f} mm" for n, e, m in zip(self.names, self.per_point_px, self.per_point_mm)]
        return "\n".join(lines)


def solve_camera_pose(points_car_mm: np.ndarray, pixels: np.ndarray, intrinsics: Intrinsics,
                      names: list[str] | None = None) -> PnPResult:
    import cv2
    obj = np.asarray(points_car_mm, dtype=np.float64)
    img = np.asarray(pixels, dtype=np.float64)
    if obj.ndim != 2 or obj.shape[1] != 3 or img.ndim != 2 or img.shape[1] != 2:
        raise ValueError(f"need (N, 3) car points and (N, 2) pixels, got {obj.shape} and {img.shape}")
    if len(obj) != len(img):
        raise ValueError(f"{len(obj)} 3D points but {len(img)} pixels: every point needs its pixel")
    if len(obj) < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} points for PnP, got {len(obj)}; measure more")
    if not (np.all(np.isfinite(obj)) and np.all(np.isfinite(img))):
        raise ValueError("points and pixels must be finite numbers")
    if np.linalg.matrix_rank(obj - obj.mean(axis=0), tol=1.0) < 2:
        raise ValueError("the 3D points are (nearly) collinear: spread them over the cabin")
    names = names or [f"point {i}" for i in range(len(obj))]
    k = np.array([[intrinsics.fx, 0, intrinsics.cx], [0, intrinsics.fy, intrinsics.cy], [0, 0, 1]])
    dist = np.array(intrinsics.coeffs, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, k, dist, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise ValueError("PnP failed: check that each pixel belongs to its 3D point")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, dist, rvec, tvec,
                                      (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-12))
    r_car_to_cam, _ = cv2.Rodrigues(rvec)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, k, dist)
    err_px = np.linalg.norm(proj.reshape(-1, 2) - img, axis=1)
    # viewing rays of the (undistorted) pixels, in the camera frame
    und = cv2.undistortPoints(img.reshape(-1, 1, 2), k, dist).reshape(-1, 2)
    rays = np.hstack([und, np.ones((len(und), 1))])
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    p_cam = obj @ r_car_to_cam.T + tvec.ravel()
    along = np.sum(p_cam * rays, axis=1, keepdims=True)
    err_mm = np.linalg.norm(p_cam - along * rays, axis=1)
    if np.any(along <= 0):
        raise ValueError("PnP put some points behind the camera: the point/pixel pairs are inconsistent")
    rot = r_car_to_cam.T
    pose = CameraPose(rot, -rot @ tvec.ravel())
    return PnPResult(pose, float(np.sqrt(np.mean(err_px ** 2))), err_px.tolist(), err_mm.tolist(), list(names))


def load_points(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Points file: {"points": [{"name": str, "car_mm": [x, y, z], "pixel": [u, v]}, ...]}."""
    p = Path(path)
    pts = read_json_list(p, "points", "points")
    obj, img, names = [], [], []
    for i, q in enumerate(pts):
        try:
            obj.append([float(v) for v in q["car_mm"]])
            img.append([float(v) for v in q["pixel"]])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{p}: points[{i}] needs 'car_mm' [x, y, z] and 'pixel' [u, v]") from None
        if len(obj[-1]) != 3 or len(img[-1]) != 2:
            raise ValueError(f"{p}: points[{i}]: car_mm needs 3 numbers and pixel 2")
        names.append(str(q.get("name", f"point {i}")))
    return np.array(obj), np.array(img), names

"""Head-aligned IR eye crops and the eye-in-head gaze angles (pure numpy/OpenCV, no torch).

The crop is the IR image resampled on a plane through the eyes' midpoint spanned by the head
frame's x and y axes (monitor/geometry.py: head -> camera rotation, x to the face's left as seen
by the camera for a frontal face, y down, z out of the back of the head), so head roll and the
camera's distance are normalised away: one crop pixel is always the same number of millimetres on
the face. The eye model reads the gaze *relative to the frame the crop was cut in*; the runtime
cuts it with the estimated head pose, so the gaze in the camera frame is that rotation times the
model's direction, and a few degrees of head-pose error are the eye model's to correct.

Eye-in-head angles (degrees) of a unit direction d_h in the head frame, forward = -z:
a = atan2(d_h.x, -d_h.z) (positive towards +x), b = atan2(d_h.y, hypot(d_h.x, d_h.z))
(positive towards +y, i.e. down for an upright head).
"""
from __future__ import annotations

import cv2
import numpy as np

CROP_HEIGHT, CROP_WIDTH = 32, 64
BOX_MM = (48.0, 96.0)  # height, width on the face: both eyes (~62 mm apart) and their sockets
# the eye locator's wider view (eye_gaze.locate_eyes): 2 mm per pixel, room for the runtime's
# head-centre error (its vertical part is up to 23 mm on unseen drivers, more than the eye box allows)
LOCATE_HEIGHT, LOCATE_WIDTH = 48, 64
LOCATE_BOX_MM = (96.0, 128.0)


def eye_grid(fx: float, fy: float, cx: float, cy: float, centre_mm: np.ndarray, rotation: np.ndarray,
             size: tuple[int, int] = (CROP_HEIGHT, CROP_WIDTH), box_mm: tuple[float, float] = BOX_MM
             ) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (float32 HxW u, v) of the plane through ``centre_mm`` (camera mm) spanned by
    the head axes ``rotation[:, 0]`` (crop x) and ``rotation[:, 1]`` (crop y)."""
    h, w = size
    ys = ((np.arange(h) + 0.5) / h - 0.5) * box_mm[0]
    xs = ((np.arange(w) + 0.5) / w - 0.5) * box_mm[1]
    r = np.asarray(rotation, dtype=np.float64)
    pts = (np.asarray(centre_mm, dtype=np.float64)[None, None, :] + xs[None, :, None] * r[:, 0]
           + ys[:, None, None] * r[:, 1])
    z = np.maximum(pts[..., 2], 1.0)
    return ((fx * pts[..., 0] / z + cx).astype(np.float32), (fy * pts[..., 1] / z + cy).astype(np.float32))


def eye_crop(ir: np.ndarray, intrinsics, centre_mm: np.ndarray, rotation: np.ndarray,
             size: tuple[int, int] = (CROP_HEIGHT, CROP_WIDTH), box_mm: tuple[float, float] = BOX_MM
             ) -> np.ndarray | None:
    """(height, width) float32 crop (default the eye model's), normalised to zero mean and unit
    spread (IR brightness varies with distance, skin and illuminator), or None when the box leaves
    the image."""
    k = intrinsics
    u, v = eye_grid(k.fx, k.fy, k.cx, k.cy, centre_mm, rotation, size, box_mm)
    hgt, wid = ir.shape[:2]
    if u.min() < 0 or v.min() < 0 or u.max() > wid - 1 or v.max() > hgt - 1:
        return None
    crop = cv2.remap(ir, u, v, cv2.INTER_LINEAR).astype(np.float32)
    return (crop - crop.mean()) / (crop.std() + 4.0)


def eye_angles(direction_head: np.ndarray) -> tuple[float, float]:
    d = np.asarray(direction_head, dtype=np.float64)
    return (float(np.degrees(np.arctan2(d[0], -d[2]))),
            float(np.degrees(np.arctan2(d[1], np.hypot(d[0], d[2])))))


def eye_direction(a_deg: float, b_deg: float) -> np.ndarray:
    """Inverse of `eye_angles`: the unit head-frame direction."""
    a, b = np.radians(a_deg), np.radians(b_deg)
    return np.array([np.cos(b) * np.sin(a), np.sin(b), -np.cos(b) * np.cos(a)])

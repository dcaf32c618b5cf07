"""In-plane rotation of head crops with the matching pose labels (training augmentation).

The training mounts (dashboard, mirror) see heads with little camera roll; a camera on the A-pillar
sees them tilted by 10-13 deg while they also turn 50 deg, a combination the head model read up to
9 deg off (docs/gaze_state.md). Turning the camera about the ray through the head centre shows the
same head rotated in the image plane about the crop centre, and changes its pose in the camera frame
by that rotation: R' = Rot(ray, a) R (R: head -> camera, monitor/geometry.py). So a crop rotated on
screen by a, with the label recomputed from R', is a view the camera could have had, with any
yaw/pitch/roll the rotation produces, not just roll + a.

Signs: camera x right, y down, z forward. Rot(z, a) with a > 0 turns +x towards +y, i.e. clockwise
as the image is displayed (y down); cv2's positive angles are counter-clockwise on screen, so the
image is warped with -a. The depth values are kept: turning the camera about its centre changes no
distance along a ray, and the head-relative normalisation absorbs the small change of the centre's z.
"""
from __future__ import annotations

import cv2
import numpy as np

from calib.transforms import rotation_from_vector
from monitor.geometry import euler_to_matrix, matrix_to_euler

HOLE = 1.0  # normalised depth of holes and off-image pixels (monitor.estimator.head_crop)


def rotated_label(ypr: np.ndarray, ray: np.ndarray, deg: float) -> np.ndarray:
    """(yaw, pitch, roll) of the head after the camera turned by -deg about ``ray`` (the head seen
    rotated by +deg about the ray)."""
    axis = np.asarray(ray, dtype=np.float64) / np.linalg.norm(ray)
    r = rotation_from_vector(axis * np.radians(deg)) @ euler_to_matrix(*[float(v) for v in ypr])
    out = np.asarray(matrix_to_euler(r), dtype=np.float64)
    # the nearest equivalent angle to the old label, so a yaw of 179 turned by 3 reads 182, not -178
    out = ypr + (out - ypr + 180.0) % 360.0 - 180.0
    return out.astype(np.float32)


def rotate_crop(crop: np.ndarray, deg: float) -> np.ndarray:
    """(S, S) normalised depth crop rotated by ``deg`` about its centre (+: +x towards +y, clockwise
    on screen); nearest-neighbour so depth edges stay edges, uncovered corners read as holes."""
    s = crop.shape[-1]
    c = (s - 1) / 2.0
    m = cv2.getRotationMatrix2D((c, c), -deg, 1.0)
    return cv2.warpAffine(crop, m, (s, s), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=HOLE)


def rotate_batch(x: np.ndarray, ypr: np.ndarray, rays: np.ndarray, rng: np.random.Generator,
                 probability: float, max_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, S, S) crops, (N, 3) labels, (N, 3) rays of the crop centres -> copies in which each
    crop is, with the given probability, rotated by a uniform angle in [-max_deg, max_deg] and its
    label recomputed."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"rotation probability must be in [0, 1], got {probability}")
    if len(rays) != len(x) or len(ypr) != len(x):
        raise ValueError(f"{len(x)} crops, {len(ypr)} labels and {len(rays)} rays; they must match")
    xo = np.array(x, dtype=np.float32, copy=True)
    yo = np.array(ypr, dtype=np.float32, copy=True)
    for i in np.flatnonzero(rng.uniform(size=len(x)) < probability):
        deg = float(rng.uniform(-max_deg, max_deg))
        xo[i, 0] = rotate_crop(xo[i, 0], deg)
        yo[i] = rotated_label(yo[i], rays[i], deg)
    return xo, yo

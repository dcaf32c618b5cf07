"""The AutoPOSE head coordinate system (sec. 3.1, after DriveAHead) from eight facial landmarks.

Landmarks (3D, any one frame, e.g. camera or tracker), in this order (LANDMARKS): the four eye
corners, the two nose corners (alae) and the two mouth corners; "left"/"right" are the subject's.
- origin: mean of the four eye corners;
- x: from the origin towards the midpoint of the left eye's corners;
- y: the mean of nose and mouth corners, projected onto the plane through the origin normal to x;
  y points from the origin to that projection (down the face);
- z = x cross y (out of the back of the head): the face looks along -z.
This matches monitor/geometry.py: a subject facing the camera has R = identity.
A dict of landmarks may also use the names of the synthetic labels (docs/labels.md,
``head.landmarks_mm``: ``eye_left_outer`` ...; LABEL_NAMES), so a label's landmarks work directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calib.transforms import make_transform, mean_rotation, invert

LANDMARKS = ("right_eye_outer", "right_eye_inner", "left_eye_inner", "left_eye_outer",
             "nose_right", "nose_left", "mouth_right", "mouth_left")
# the labels' names (docs/labels.md head.landmarks_mm) -> LANDMARKS; nose and mouth names are the same
LABEL_NAMES = {"eye_right_outer": "right_eye_outer", "eye_right_inner": "right_eye_inner",
               "eye_left_inner": "left_eye_inner", "eye_left_outer": "left_eye_outer"}


@dataclass
class HeadFrame:
    rotation: np.ndarray     # head -> frame of the landmarks; columns are the head axes
    origin_mm: np.ndarray

    @property
    def transform(self) -> np.ndarray:
        return make_transform(self.rotation, self.origin_mm)


def head_frame(landmarks: np.ndarray | dict[str, list[float]]) -> HeadFrame:
    """Head frame from (8, 3) landmarks in `LANDMARKS` order, or a dict keyed by those names or
    the labels' (`LABEL_NAMES`); other keys are ignored."""
    if isinstance(landmarks, dict):
        named: dict[str, list[float]] = {}
        for key, value in landmarks.items():
            name = LABEL_NAMES.get(key, key)
            if name in named:  # both spellings of one landmark: which one is meant is unclear
                raise ValueError(f"landmark {name!r} is given twice (as {name!r} and {key!r})")
            named[name] = value
        landmarks = named
        missing = [n for n in LANDMARKS if n not in landmarks]
        if missing:
            raise ValueError(f"missing landmarks {missing}; need all of {LANDMARKS} "
                             f"(or the labels' names {tuple(LABEL_NAMES)} for the eye corners)")
        landmarks = np.array([landmarks[n] for n in LANDMARKS], dtype=np.float64)
    p = np.asarray(landmarks, dtype=np.float64)
    if p.shape != (8, 3) or not np.all(np.isfinite(p)):
        raise ValueError(f"need 8 finite 3D landmarks in the order {LANDMARKS}, got shape {p.shape}")
    origin = p[:4].mean(axis=0)
    x = p[2:4].mean(axis=0) - origin
    if np.linalg.norm(x) < 1.0:
        raise ValueError("the eye corners coincide: check the landmark order and units (mm)")
    x /= np.linalg.norm(x)
    low = p[4:].mean(axis=0) - origin
    y = low - x * (low @ x)
    if np.linalg.norm(y) < 1.0:
        raise ValueError("nose and mouth corners lie on the eye line: check the landmark order")
    y /= np.linalg.norm(y)
    return HeadFrame(np.stack([x, y, np.cross(x, y)], axis=1), origin)


def head_to_target(frames: list[HeadFrame], target_poses: list[np.ndarray]) -> tuple[np.ndarray, float, float]:
    """AutoPOSE sec. 4.3: the fixed head -> head-target transform, averaged over a calibration
    sequence. target_poses: 4x4 head-target -> tracker per frame. Returns (4x4, rms mm, rms deg)
    where the residuals compare each frame's head frame with the one the average predicts."""
    if len(frames) != len(target_poses) or not frames:
        raise ValueError(f"need one head-target pose per landmark frame, got {len(frames)} and {len(target_poses)}")
    rel = [invert(t) @ f.transform for f, t in zip(frames, target_poses)]
    avg = make_transform(mean_rotation([r[:3, :3] for r in rel]), np.mean([r[:3, 3] for r in rel], axis=0))
    err_mm, err_deg = [], []
    for f, t in zip(frames, target_poses):
        pred = t @ avg
        err_mm.append(np.linalg.norm(pred[:3, 3] - f.origin_mm))
        c = np.clip((np.trace(pred[:3, :3].T @ f.rotation) - 1) / 2, -1, 1)
        err_deg.append(np.degrees(np.arccos(c)))
    return avg, float(np.sqrt(np.mean(np.square(err_mm)))), float(np.sqrt(np.mean(np.square(err_deg))))

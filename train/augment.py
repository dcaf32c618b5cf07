"""Body-net augmentations of seed 001 sec. 4.2 as one affine map per sample: horizontal flip (with
left/right joint swap), crop (488x400 of 512x424, i.e. ~95 % of each side, at a random place),
resize back to the network input, rotation in [-4, +4] deg. Composed with the runtime's letterbox
map (monitor.estimator.body_io.resize_affine) so train and test see the same geometry."""
from __future__ import annotations

import numpy as np

from monitor.estimator.body_io import resize_affine

CROP_FRACTION = (488 / 512, 400 / 424)
MAX_ROTATION_DEG = 4.0


def _h(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def random_affine(src_hw: tuple[int, int], dst_hw: tuple[int, int], rng: np.random.Generator,
                  flip: bool | None = None) -> tuple[np.ndarray, bool]:
    """(2x3 image->input map, flipped?) for one augmented sample."""
    h, w = src_hw
    fw, fh = CROP_FRACTION
    cw, ch = w * fw, h * fh
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    # crop window -> full source frame, then the runtime's letterbox into the input
    crop = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]])
    m = _h(resize_affine(src_hw, dst_hw)) @ _h(crop)
    cx, cy = (dst_hw[1] - 1) / 2.0, (dst_hw[0] - 1) / 2.0
    a = np.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    m = np.linalg.inv(to_c) @ rot @ to_c @ m
    do_flip = bool(rng.uniform() < 0.5) if flip is None else flip
    if do_flip:
        m = np.array([[-1, 0, dst_hw[1] - 1], [0, 1, 0], [0, 0, 1.0]]) @ m
    return m[:2], do_flip

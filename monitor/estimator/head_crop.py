"""The dynamic head crop of AutoPOSE sec. 5 (after Borghi et al. 2017, POSEidon).

The box is centred on the head centre (x_H, y_H) with w_H = f_x R_x / D and h_H = f_y R_y / D,
where D is the head centre's distance along the optical axis (mm) and R_x = R_y = 320 mm, so a
head is the same size in every crop whatever its distance. A crop whose box has more than a third
of its area outside the image is discarded (None). The box is resampled to size x size and then
normalised (contract ``normalisation.kind``):
- ``ir_equalised``: histogram equalisation (cv2.equalizeHist) of the crop, then zero mean and unit
  standard deviation ("we additionally equalize and normalize the images").
- ``depth_head_relative``: v = clip((d - D) / range_mm, -1, 1), holes -> 1 (behind the head):
  depth relative to the head so the values do not depend on where the driver sits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

HEAD_EXTENT_MM = 320.0
MAX_OUTSIDE_FRACTION = 1.0 / 3.0
# A crop mirrored left-right shows the head turned and tilted the other way: yaw and roll change
# sign, pitch does not (train.head's flip augmentation uses the same rule).
FLIP_SIGN = {"yaw": -1.0, "pitch": 1.0, "roll": -1.0}


@dataclass(frozen=True)
class HeadBox:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    def inside_fraction(self, image_hw: tuple[int, int]) -> float:
        """Fraction of the box area that lies on the image (pixel edges at -0.5 .. size - 0.5)."""
        h, w = image_hw
        ix = max(0.0, min(self.x1, w - 0.5) - max(self.x0, -0.5))
        iy = max(0.0, min(self.y1, h - 0.5) - max(self.y0, -0.5))
        return ix * iy / max(self.width * self.height, 1e-12)


def head_box(center_px: tuple[float, float], distance_mm: float, fx: float, fy: float,
             extent_mm: float = HEAD_EXTENT_MM) -> HeadBox:
    if not distance_mm > 0:
        raise ValueError(f"head distance must be positive (mm), got {distance_mm}")
    w, h = fx * extent_mm / distance_mm, fy * extent_mm / distance_mm
    u, v = center_px
    return HeadBox(u - w / 2, v - h / 2, u + w / 2, v + h / 2)


def crop_affine(box: HeadBox, size: int) -> np.ndarray:
    """2x3 map from image pixels to crop pixels (box edges -> crop edges)."""
    sx, sy = size / box.width, size / box.height
    return np.array([[sx, 0.0, -box.x0 * sx - 0.5], [0.0, sy, -box.y0 * sy - 0.5]])


def crop_head(image: np.ndarray, box: HeadBox, size: int = 64,
              max_outside: float = MAX_OUTSIDE_FRACTION) -> np.ndarray | None:
    """Resample the box to (size, size), same dtype as image; None when too much is off-image."""
    if box.inside_fraction(image.shape[:2]) < 1.0 - max_outside:
        return None
    # Depth must not be blended across the head's silhouette; IR is smooth enough for bilinear.
    interp = cv2.INTER_NEAREST if image.dtype == np.uint16 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, crop_affine(box, size), (size, size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalise_crop(crop: np.ndarray, normalisation: dict[str, Any], distance_mm: float,
                   depth_unit_mm: float = 1.0) -> np.ndarray:
    """Crop (size, size) -> float32 network values (see module doc)."""
    kind = normalisation.get("kind")
    if kind == "ir_equalised":
        eq = cv2.equalizeHist(np.ascontiguousarray(crop, dtype=np.uint8)).astype(np.float32)
        return ((eq - eq.mean()) / max(float(eq.std()), 1e-3)).astype(np.float32)
    if kind == "depth_head_relative":
        rng = float(normalisation.get("range_mm", 160.0))
        d = crop.astype(np.float32) * np.float32(depth_unit_mm)
        v = np.clip((d - np.float32(distance_mm)) / rng, -1.0, 1.0)
        v[crop == 0] = 1.0
        return v.astype(np.float32)
    raise ValueError(f"unknown head normalisation {kind!r}; expected 'ir_equalised' or "
                     "'depth_head_relative' (docs/model_contract.md)")


def head_input(image: np.ndarray, center_px: tuple[float, float], distance_mm: float, fx: float, fy: float,
               normalisation: dict[str, Any], size: int = 64, extent_mm: float = HEAD_EXTENT_MM,
               depth_unit_mm: float = 1.0, max_outside: float = MAX_OUTSIDE_FRACTION
               ) -> tuple[np.ndarray, HeadBox] | None:
    """Image + head centre/distance -> ((size, size) float32 crop, box), or None if discarded."""
    box = head_box(center_px, distance_mm, fx, fy, extent_mm)
    crop = crop_head(image, box, size, max_outside)
    if crop is None:
        return None
    return normalise_crop(crop, normalisation, distance_mm, depth_unit_mm), box


def flip_test_input(crop: np.ndarray) -> np.ndarray:
    """(size, size) crop -> (2, 1, size, size): the crop and its mirror image, one batch."""
    return np.stack([crop, crop[:, ::-1]])[:, None]


def flip_test_angles(angles: np.ndarray, order: tuple[str, ...]) -> np.ndarray:
    """(2, ..., 3) network outputs for `flip_test_input` -> (..., 3): the mean of the direct angles and the
    mirrored crop's angles mapped back (yaw and roll negated). Test-time flip, as the body model's:
    on the synthetic test set it took the depth model's MAE from 2.18 to 1.96 deg (docs/models.md)."""
    if set(order) != set(FLIP_SIGN):
        raise ValueError(f"head flip test needs outputs named {sorted(FLIP_SIGN)}, the contract says {list(order)}")
    sign = np.array([FLIP_SIGN[name] for name in order])
    return 0.5 * (angles[0] + sign * angles[1])

"""Body-joint network pre/post-processing, pure numpy + OpenCV (rtmlib style, tested without ONNX).

The whole frame goes to the network through one affine map image -> network input (a letterbox
resize at run time; training composes flip/crop/rotation into the same kind of map), so that
training and runtime share one code path. Normalisations (contract field ``normalisation.kind``):
- ``depth_inverse``: v = clip((far - d) / (far - near), 0, 1) for valid depth d (mm), 0 where the
  sensor has no data: near things are bright, background and holes are 0.
- ``ir_unit``: v = ir / 255.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from monitor.estimates import JOINTS_21
from monitor.estimator.heatmaps import decode


def resize_affine(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """2x3 map from source pixels to destination pixels: an aspect-preserving resize that fits the
    whole source, centred (letterbox), so 848x480, 752x480 and 512x424 sensors all keep their
    proportions; pixel centres map to pixel centres."""
    s = min(dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1])
    tx = (dst_hw[1] - s * src_hw[1]) / 2.0 + 0.5 * s - 0.5
    ty = (dst_hw[0] - s * src_hw[0]) / 2.0 + 0.5 * s - 0.5
    return np.array([[s, 0.0, tx], [0.0, s, ty]])


def apply_affine(m: np.ndarray, uv: np.ndarray) -> np.ndarray:
    uv = np.asarray(uv, dtype=np.float64)
    return uv @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, dtype=np.float64))


def normalise_image(image: np.ndarray, normalisation: dict[str, Any], depth_unit_mm: float = 1.0) -> np.ndarray:
    """Raw image (uint16 depth or uint8 IR) -> float32 network values, per the contract."""
    kind = normalisation.get("kind")
    if kind == "depth_inverse":
        near, far = float(normalisation["near_mm"]), float(normalisation["far_mm"])
        d = image.astype(np.float32) * np.float32(depth_unit_mm)
        v = np.clip((far - d) / (far - near), 0.0, 1.0)
        v[image == 0] = 0.0
        return v.astype(np.float32)
    if kind == "ir_unit":
        return image.astype(np.float32) / 255.0
    raise ValueError(f"unknown body normalisation {kind!r}; expected 'depth_inverse' or 'ir_unit' "
                     "(docs/model_contract.md)")


def warp_image(image: np.ndarray, m: np.ndarray, dst_hw: tuple[int, int]) -> np.ndarray:
    """Resample with the image->input map; nearest neighbour so depth never blends across edges."""
    return cv2.warpAffine(image, np.asarray(m, dtype=np.float64), (dst_hw[1], dst_hw[0]),
                          flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def preprocess(image: np.ndarray, input_hw: tuple[int, int], normalisation: dict[str, Any],
               depth_unit_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Frame -> ((1, 1, H, W) float32 network input, 2x3 image->input map)."""
    if image.ndim != 2:
        raise ValueError(f"body input must be a single-channel HxW image, got shape {image.shape}")
    m = resize_affine(image.shape[:2], input_hw)
    x = normalise_image(warp_image(image, m, input_hw), normalisation, depth_unit_mm)
    return x[None, None], m


def flip_permutation(names: tuple[str, ...] = JOINTS_21) -> np.ndarray:
    """Index map that swaps Left/Right joints after a horizontal flip."""
    idx = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        other = n.replace("Left", "#").replace("Right", "Left").replace("#", "Right")
        perm.append(idx.get(other, idx[n]))
    return np.array(perm)


def flip_test_input(x: np.ndarray, stride: int) -> np.ndarray:
    """(1, C, H, W) input -> (2, C, H, W): the input and its mirror image, one batch for the
    network. The mirrored heatmaps line up cell for cell only when the width is a multiple of
    the stride (cell i's centre stride*i + (stride-1)/2 mirrors to cell W/stride - 1 - i)."""
    check_flip_test(x.shape[-1], stride)
    return np.concatenate([x, x[..., ::-1]])


def check_flip_test(input_width: int, stride: int) -> None:
    if input_width % stride:
        raise ValueError(f"flip test needs an input width that is a multiple of the heatmap stride "
                         f"({input_width} vs {stride})")


def flip_test_heatmaps(run: Any, x: np.ndarray, stride: int, perm: np.ndarray) -> np.ndarray:
    """(1, C, H, W) input -> (K, h, w) flip-test heatmaps; ``run`` maps a batch to (B, K, h, w)."""
    return flip_test_average(run(flip_test_input(x, stride)), perm)


def flip_test_average(heatmaps: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(2, K, h, w) heatmaps of `flip_test_input` -> (K, h, w): the mean of the direct maps and the
    mirrored input's maps mirrored back with Left/Right swapped (test-time flip augmentation, as
    HRNet and SimpleBaseline evaluate on COCO)."""
    return 0.5 * (heatmaps[0] + heatmaps[1][perm, :, ::-1])


def postprocess(heatmaps: np.ndarray, stride: int, image_to_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, H, W) belief maps -> (uv (K, 2) in image pixels, confidence (K,))."""
    uv_in, conf = decode(heatmaps, stride)
    return apply_affine(invert_affine(image_to_input), uv_in), conf

"""Heatmap codec shared by training targets, evaluation and the runtime (mmpose `codecs/` style),
so the encoding the network learns and the decoding the runtime applies cannot drift.

Coordinates: input-image pixels with pixel centres at integers. Heatmap cell (j, i) (row, column)
sits at input pixel (stride * i + (stride - 1) / 2, stride * j + (stride - 1) / 2).
Target (seed 001 eq. 4): H_k(p) = exp(-||p - x_k||^2 / sigma^2), sigma in input pixels (7 in the
paper), all zeros for a joint that is not labelled (its loss is masked anyway).
Decoding: arg-max cell, then a parabola through the log-heatmap on each axis around it; for a
Gaussian the log is exactly quadratic, so a clean target decodes to the joint to float precision.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-10


def cell_centres(length: int, stride: int) -> np.ndarray:
    """Input-pixel coordinate of each heatmap cell along one axis."""
    return stride * np.arange(length, dtype=np.float64) + (stride - 1) / 2.0


def encode(uv: np.ndarray, visible: np.ndarray, heatmap_hw: tuple[int, int], stride: int,
           sigma: float = 7.0) -> np.ndarray:
    """Joints (K, 2) input pixels + visibility (K,) -> (K, H, W) float32 Gaussian targets."""
    uv = np.asarray(uv, dtype=np.float64)
    vis = np.asarray(visible, dtype=bool)
    if uv.ndim != 2 or uv.shape[1] != 2 or vis.shape != (len(uv),):
        raise ValueError(f"uv must be (K, 2) and visible (K,), got {uv.shape} and {vis.shape}")
    h, w = heatmap_hw
    xs, ys = cell_centres(w, stride), cell_centres(h, stride)
    gx = np.exp(-((xs[None, :] - uv[:, :1]) ** 2) / sigma ** 2)  # separable: exp(-(dx²+dy²)/s²)
    gy = np.exp(-((ys[None, :] - uv[:, 1:]) ** 2) / sigma ** 2)
    out = gy[:, :, None] * gx[:, None, :]
    out[~vis | ~np.isfinite(uv).all(1)] = 0.0
    return out.astype(np.float32)


def decode(heatmaps: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., K, H, W) heatmaps -> (uv (..., K, 2) input pixels, confidence (..., K) peak in [0, 1])."""
    hm = np.asarray(heatmaps, dtype=np.float64)
    if hm.ndim < 3:
        raise ValueError(f"heatmaps must be (..., K, H, W), got shape {hm.shape}")
    *lead, h, w = hm.shape
    flat = hm.reshape(-1, h * w)
    idx = flat.argmax(1)
    rows, cols = idx // w, idx % w
    peak = flat[np.arange(len(flat)), idx]
    grid = hm.reshape(-1, h, w)
    n = np.arange(len(flat))
    dx = _parabola_offset(grid, n, rows, cols, axis=1)
    dy = _parabola_offset(grid, n, rows, cols, axis=0)
    u = stride * (cols + dx) + (stride - 1) / 2.0
    v = stride * (rows + dy) + (stride - 1) / 2.0
    uv = np.stack([u, v], -1).reshape(*lead, 2)
    return uv, np.clip(peak, 0.0, 1.0).reshape(lead)


def _parabola_offset(grid: np.ndarray, n: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     axis: int) -> np.ndarray:
    size = grid.shape[1 + axis]
    pos = rows if axis == 0 else cols
    inner = (pos > 0) & (pos < size - 1)
    lo = np.where(inner, pos - 1, pos)
    hi = np.where(inner, pos + 1, pos)
    if axis == 0:
        a, b, c = grid[n, lo, cols], grid[n, rows, cols], grid[n, hi, cols]
    else:
        a, b, c = grid[n, rows, lo], grid[n, rows, cols], grid[n, rows, hi]
    la, lb, lc = (np.log(np.maximum(x, _EPS)) for x in (a, b, c))
    denom = la - 2.0 * lb + lc
    ok = inner & (denom < -1e-12) & (b > _EPS)
    off = np.where(ok, 0.5 * (la - lc) / np.where(ok, denom, -1.0), 0.0)
    return np.clip(off, -1.0, 1.0)

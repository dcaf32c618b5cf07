"""Road-ahead auto-calibration: learn where this driver's "straight ahead" is while driving.

A driver spends most of a drive looking at the road, so the densest head direction of the last
minute is the road ahead. Where the head-pose model reads a driver a few degrees off (per-person
bias, an unusual seat or posture), that densest direction is off by the same amount, and the
narrow road zone (a few degrees wide) is missed on every frame. The calibrator finds the densest
direction (a 1-degree histogram, smoothed, its peak refined by the mean of the samples near it) and
returns the head-angle offset that maps it onto the head direction the gaze model expects for the
road; the classifier adds that offset to every head direction. It only shifts (the gains of the
gaze model, which the per-driver calibration measures, are untouched), and it refuses offsets
larger than ``max_offset_deg`` (then the driver was not mostly on the road, or the camera pose is
wrong). Production DMSs do the same under names like "forward gaze auto-calibration".
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoadAheadConfig:
    enabled: bool = True
    window_s: float = 60.0        # head directions remembered
    min_history_s: float = 3.0    # no offset before this much history with a head
    update_every_s: float = 0.5   # how often the offset is recomputed
    bandwidth_deg: float = 3.0    # smoothing of the histogram and radius of the refinement
    max_offset_deg: float = 12.0  # a larger offset is refused (keeps the previous one)
    min_share: float = 0.2        # the peak must hold this share of the samples

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.min_history_s < 0 or self.update_every_s <= 0 or self.bandwidth_deg <= 0:
            raise ValueError("window_s, update_every_s and bandwidth_deg must be > 0, min_history_s >= 0")
        if self.max_offset_deg <= 0 or not 0 < self.min_share <= 1:
            raise ValueError("max_offset_deg must be > 0 and min_share in (0, 1]")


class RoadAheadCalibrator:
    """Feed ``add(t_s, (azimuth, elevation))`` with the raw head direction of every frame that has
    a head; ``offset_deg`` is what to add to head angles (0, 0 until enough history)."""

    def __init__(self, expected_head_deg: tuple[float, float], config: RoadAheadConfig | None = None) -> None:
        self.expected = np.asarray(expected_head_deg, dtype=np.float64)
        self.config = config or RoadAheadConfig()
        self.offset_deg: tuple[float, float] = (0.0, 0.0)
        self._samples: deque[tuple[float, float, float]] = deque()
        self._next_update_s: float | None = None

    def add(self, t_s: float, head_deg: tuple[float, float]) -> tuple[float, float]:
        c = self.config
        if not c.enabled:
            return self.offset_deg
        self._samples.append((t_s, float(head_deg[0]), float(head_deg[1])))
        while self._samples and self._samples[0][0] < t_s - c.window_s:
            self._samples.popleft()
        if self._next_update_s is None:
            self._next_update_s = t_s + c.min_history_s
        if t_s >= self._next_update_s:
            self._next_update_s = t_s + c.update_every_s
            found = densest_direction(np.array([s[1:] for s in self._samples]), self.expected,
                                      c.max_offset_deg + 2 * c.bandwidth_deg, c.bandwidth_deg, c.min_share)
            if found is not None and np.hypot(*(self.expected - found)) <= c.max_offset_deg:
                self.offset_deg = (float(self.expected[0] - found[0]), float(self.expected[1] - found[1]))
        return self.offset_deg


def densest_direction(angles_deg: np.ndarray, around_deg: np.ndarray, reach_deg: float, bandwidth_deg: float,
                      min_share: float = 0.0) -> np.ndarray | None:
    """The (azimuth, elevation) where the (N, 2) samples are densest within ``reach_deg`` of
    ``around_deg``; None without samples or when fewer than ``min_share`` of them lie within
    ``bandwidth_deg`` of it."""
    if len(angles_deg) == 0:
        return None
    edges = [np.arange(c - reach_deg, c + reach_deg + 1.0, 1.0) for c in around_deg]
    hist, _, _ = np.histogram2d(angles_deg[:, 0], angles_deg[:, 1], bins=edges)
    hist = _blur(hist, bandwidth_deg)
    i, j = np.unravel_index(int(np.argmax(hist)), hist.shape)
    peak = np.array([edges[0][i] + 0.5, edges[1][j] + 0.5])
    for _ in range(3):  # refine: mean of the samples near the peak
        near = np.hypot(*(angles_deg - peak).T) <= bandwidth_deg
        if not near.any():
            return None
        peak = angles_deg[near].mean(axis=0)
    if near.mean() < min_share:
        return None
    return peak


def _blur(hist: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Separable Gaussian smoothing of a 2D histogram (zero outside)."""
    r = int(np.ceil(2 * sigma_bins))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_bins) ** 2)
    k /= k.sum()
    out = np.apply_along_axis(np.convolve, 0, hist, k, mode="same")
    return np.apply_along_axis(np.convolve, 1, out, k, mode="same")

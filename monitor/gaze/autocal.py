"""Road-ahead auto-calibration: learn where this driver's "straight ahead" is while driving.

A driver spends most of a drive looking at the road, so the densest head direction of the last
minute is the road ahead. Where the head-pose model reads a driver a few degrees off (per-person
bias, an unusual seat or posture), that densest direction is off by the same amount, and the
narrow road zone (a few degrees wide) is missed on every frame. The calibrator finds the densest
direction (a 0.5-degree histogram, smoothed, its peak refined by the mean of the samples near it) and
returns the head-angle offset that maps it onto the head direction the gaze model expects for the
road; the classifier adds that offset to every head direction. It only shifts (the gains of the
gaze model, which the per-driver calibration measures, are untouched), and it refuses offsets
larger than ``max_offset_deg`` (then the driver was not mostly on the road, or the camera pose is
wrong). Production DMSs do the same under names like "forward gaze auto-calibration".

With the offset it also measures how widely the head directions scatter about that peak
(``scatter_deg``: the rms per axis of the samples within ``scatter_radius_deg`` of it). The driver
holds the head nearly still on the road (about 1 deg), so a wider scatter is the head-pose model's
own noise on this driver and camera view: 1.4-2.1 deg on the unseen A-pillar mount against 1.0-1.6 on
the trained ones (validation drives), where the model's error on glances is about twice as large. It
changes only with the offset (a refused peak keeps both). The head-space scoring then needs more
before it calls a head direction "other" (monitor/gaze/head_space.py ``scatter_ref_deg``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.gaze.smoothing import TIME_EPS_S


@dataclass(frozen=True)
class RoadAheadConfig:
    enabled: bool = True
    window_s: float = 60.0        # head directions remembered
    min_history_s: float = 3.0    # no offset before this long after the first head ...
    min_samples: int = 60         # ... and before this many head directions in the window
    update_every_s: float = 0.5   # how often the offset is recomputed
    bandwidth_deg: float = 3.0    # smoothing of the histogram and radius of the refinement
    max_offset_deg: float = 12.0  # a larger offset is refused (keeps the previous one)
    min_share: float = 0.2        # the peak must hold this share of the samples
    scatter_radius_deg: float = 6.0  # samples this near the peak count towards scatter_deg

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.min_history_s < 0 or self.update_every_s <= 0 or self.bandwidth_deg <= 0:
            raise ValueError("window_s, update_every_s and bandwidth_deg must be > 0, min_history_s >= 0")
        if self.min_samples < 1:
            raise ValueError("min_samples must be >= 1")
        if self.max_offset_deg <= 0 or not 0 < self.min_share <= 1:
            raise ValueError("max_offset_deg must be > 0 and min_share in (0, 1]")
        if not self.scatter_radius_deg > 0:
            raise ValueError("scatter_radius_deg must be > 0")


BIN_DEG = 0.5


class RoadAheadCalibrator:
    """Feed ``add(t_s, (azimuth, elevation))`` with the raw head direction of every frame that has
    a head; ``offset_deg`` is what to add to head angles (0, 0 until enough history);
    ``scatter_deg`` the head directions' scatter about the road-ahead peak (None until then);
    ``ready`` whether an offset has been found yet.

    The histogram is kept up to date sample by sample (a bin up as a sample comes, down as it
    leaves the window), so an update costs one small smoothing and no pass over the samples: the
    gaze stage runs once per frame and a per-update spike would show in its p99 latency."""

    def __init__(self, expected_head_deg: tuple[float, float], config: RoadAheadConfig | None = None) -> None:
        self.expected = np.asarray(expected_head_deg, dtype=np.float64)
        self.config = c = config or RoadAheadConfig()
        self.offset_deg: tuple[float, float] = (0.0, 0.0)
        self.scatter_deg: float | None = None
        self.ready = False
        # wide enough for the peak's refinement and for the scatter's disc around a peak at the largest offset
        reach = c.max_offset_deg + max(2 * c.bandwidth_deg, c.scatter_radius_deg)
        self.grid = HistogramGrid(self.expected, reach, c.bandwidth_deg)
        self._hist = self.grid.empty()
        self._samples: deque[tuple[float, int, int]] = deque()  # (t, bin i, bin j); -1: off the grid
        self._next_update_s: float | None = None

    def add(self, t_s: float, head_deg: tuple[float, float]) -> tuple[float, float]:
        c = self.config
        if not c.enabled:
            return self.offset_deg
        i, j = self.grid.bin_of(head_deg)
        self._samples.append((t_s, i, j))
        if i >= 0:
            self._hist[i, j] += 1
        while self._samples[0][0] < t_s - c.window_s:
            _, i, j = self._samples.popleft()
            if i >= 0:
                self._hist[i, j] -= 1
        if self._next_update_s is None:
            self._next_update_s = t_s + c.min_history_s
        # (frame times in float: 90 frames at 1/30 s may add up to a hair under 3 s)
        if t_s >= self._next_update_s - TIME_EPS_S and len(self._samples) >= c.min_samples:
            self.update_now(t_s)
        return self.offset_deg

    def update_now(self, t_s: float) -> bool:
        """Look for the peak now, whatever the history's length (the gaze stage asks before it would raise
        an event from head directions read without any offset); True when an offset was found (now or
        before). The regular updates go on every ``update_every_s`` from here."""
        c = self.config
        if c.enabled and self._samples:
            self._next_update_s = t_s + c.update_every_s
            found = self.grid.peak(self._hist, len(self._samples), c.min_share)
            if found is not None and np.hypot(*(self.expected - found)) <= c.max_offset_deg:
                self.offset_deg = (float(self.expected[0] - found[0]), float(self.expected[1] - found[1]))
                self.scatter_deg = self.grid.scatter(self._hist, found, c.scatter_radius_deg)
                self.ready = True
        return self.ready


class HistogramGrid:
    """A square grid of BIN_DEG bins within ``reach_deg`` of ``centre_deg``, and its peak finder:
    Gaussian smoothing (``bandwidth_deg``, as two small matrix products), the highest bin, then
    three mean-shift steps on the raw counts within ``bandwidth_deg``."""

    def __init__(self, centre_deg: np.ndarray, reach_deg: float, bandwidth_deg: float) -> None:
        self.n = int(np.ceil(2 * reach_deg / BIN_DEG))
        self.low = np.asarray(centre_deg, dtype=np.float64) - self.n * BIN_DEG / 2
        self.centres = self.low[:, None] + (np.arange(self.n) + 0.5) * BIN_DEG  # (2, n)
        d = (np.arange(self.n)[:, None] - np.arange(self.n)[None, :]) * BIN_DEG
        self.kernel = np.exp(-0.5 * (d / bandwidth_deg) ** 2)
        self.bandwidth = bandwidth_deg

    def empty(self) -> np.ndarray:
        return np.zeros((self.n, self.n))

    def bin_of(self, angles_deg: tuple[float, float]) -> tuple[int, int]:
        i, j = (int(np.floor((angles_deg[k] - self.low[k]) / BIN_DEG)) for k in (0, 1))
        return (i, j) if 0 <= i < self.n and 0 <= j < self.n else (-1, -1)

    def peak(self, hist: np.ndarray, total: int, min_share: float = 0.0) -> np.ndarray | None:
        if total <= 0 or not hist.any():
            return None
        smooth = self.kernel @ hist @ self.kernel.T
        i, j = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
        at = np.array([self.centres[0, i], self.centres[1, j]])
        for _ in range(3):  # mean shift on the raw counts: the centroid of the window, re-centred
            near = hist * (self._distance2(at) <= self.bandwidth ** 2)
            mass = near.sum()
            if mass <= 0:
                return None
            at = np.array([near.sum(1) @ self.centres[0], near.sum(0) @ self.centres[1]]) / mass
        return at if mass >= min_share * total else None

    def scatter(self, hist: np.ndarray, at: np.ndarray, radius_deg: float) -> float | None:
        """RMS per axis of the counted directions within ``radius_deg`` of ``at`` (bin centres;
        a 0.5-deg bin adds 0.14 deg in quadrature); None when none lie there."""
        d2 = self._distance2(at)
        near = hist * (d2 <= radius_deg ** 2)
        mass = near.sum()
        return float(np.sqrt((near * d2).sum() / (2.0 * mass))) if mass > 0 else None

    def _distance2(self, at: np.ndarray) -> np.ndarray:
        """(n, n) squared distance (deg^2) of every bin centre from ``at``."""
        return (self.centres[0] - at[0])[:, None] ** 2 + (self.centres[1] - at[1])[None, :] ** 2


def densest_direction(angles_deg: np.ndarray, around_deg: np.ndarray, reach_deg: float, bandwidth_deg: float,
                      min_share: float = 0.0) -> np.ndarray | None:
    """The (azimuth, elevation) where the (N, 2) samples are densest within ``reach_deg`` of
    ``around_deg`` (to BIN_DEG / 2 at worst, better as the centroid averages); None without
    samples or when fewer than ``min_share`` of them lie within ``bandwidth_deg`` of it."""
    grid = HistogramGrid(np.asarray(around_deg, dtype=np.float64), reach_deg, bandwidth_deg)
    hist = grid.empty()
    for a in np.asarray(angles_deg).reshape(-1, 2):
        i, j = grid.bin_of(a)
        if i >= 0:
            hist[i, j] += 1
    return grid.peak(hist, len(angles_deg), min_share)

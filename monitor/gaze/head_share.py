"""Head-only zone scoring in head space, with the spread of the driver's head share.

A driver turns the head only part of the way to a target (the head share) and that share varies
from glance to glance (behaviour.py draws it per glance, sd 0.08 around a per-target mean; real
drivers vary as much). Head-only gaze (the face direction through the head-to-gaze model) therefore
errs mostly *along* the line from the road to the target, in proportion to how far the target is:
a media-centre reach made with a small head turn reads as a gaze short of the media centre, on the
dashboard's side, while a dashboard glance never reads 15 deg to the right. Scoring the
head-to-gaze model's ray against the zones with one isotropic sigma cannot tell those apart.

This scorer works where the measurement is, in head angles (azimuth, elevation, with the
road-ahead offset applied). For every zone it asks the driver model which head direction looks at
the zone's target from this head position (parallax included), and scores the measured head
direction with a Gaussian that is ``noise_deg`` wide across and
``sqrt(noise_deg^2 + (share_spread * eccentricity)^2)`` along the line from the road's head
direction to the zone's, where eccentricity is that line's length. "other" scores as a zone at
``other_sigmas`` (in units of each axis's spread: the same threshold as any zone's edge).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calib.layout import CabinLayout
from monitor.gaze.ray import direction_to_angles


@dataclass(frozen=True)
class HeadShareConfig:
    """``noise_deg``: head-pose error and zone size, across the glance; ``share_spread``: the
    relative spread of the head share (sd / mean) plus the estimator's error that grows with the
    angle; ``other_sigmas``: how far (in sigmas) "other" starts. The values were chosen on the
    validation drives (docs/gaze_state.md "Head-space scoring"). ``enabled`` False: the head-only
    gaze ray is scored against the zones like the eyes' ray (GazeStateConfig's default)."""

    enabled: bool = True
    noise_deg: float = 2.0
    share_spread: float = 0.4
    other_sigmas: float = 3.5

    def __post_init__(self) -> None:
        values = (self.noise_deg, self.share_spread, self.other_sigmas)
        if not (all(math.isfinite(v) for v in values) and self.noise_deg > 0 and self.share_spread >= 0
                and self.other_sigmas > 0):
            raise ValueError(f"head share: noise_deg and other_sigmas must be finite and > 0, share_spread finite "
                             f"and >= 0; got {values}")


class HeadShareScorer:
    """``head_angles_for``: the driver model's inverse (gaze angles -> head angles), e.g.
    `GazeZoneClassifier.head_angles_for`. Zone head directions are cached per head position on a
    ``cache_mm`` grid (they change by well under a degree within it)."""

    def __init__(self, layout: CabinLayout, head_angles_for: Callable[[tuple[float, float]], tuple[float, float]],
                 config: HeadShareConfig, cache_mm: float = 10.0) -> None:
        self.layout = layout
        self.config = config
        self._inverse = head_angles_for
        self._cache: dict[tuple[int, int, int], tuple[np.ndarray, ...]] = {}
        self._cache_mm = cache_mm

    def _zone_geometry(self, origin_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(zone head directions (n, 2), radial unit vectors (n, 2), along-spreads (n,))."""
        key = tuple(int(round(float(v) / self._cache_mm)) for v in origin_mm)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        origin = np.array(key, dtype=np.float64) * self._cache_mm
        heads = np.array([self._inverse(direction_to_angles(z.target_mm(origin) - origin)) for z in self.layout.zones])
        road_names = self.layout.road_zones
        if road_names:
            road = heads[[i for i, z in enumerate(self.layout.zones) if z.name == road_names[0]][0]]
        else:
            road = np.zeros(2)
        radial = heads - road
        ecc = np.linalg.norm(radial, axis=1)
        unit = np.where(ecc[:, None] > 1e-6, radial / np.maximum(ecc, 1e-6)[:, None], 0.0)
        along = np.sqrt(self.config.noise_deg ** 2 + (self.config.share_spread * ecc) ** 2)
        if len(self._cache) > 4096:  # a long drive visits few cells; never grow without bound
            self._cache.clear()
        self._cache[key] = (heads, unit, along)
        return heads, unit, along

    def probabilities(self, origin_mm: np.ndarray, head_deg: tuple[float, float]) -> np.ndarray:
        """(n_zones + 1,) probabilities, zones in layout order, then "other"."""
        heads, unit, along = self._zone_geometry(origin_mm)
        delta = np.asarray(head_deg, dtype=np.float64) - heads
        par = np.sum(delta * unit, axis=1)
        perp2 = np.sum(delta * delta, axis=1) - par * par
        d2 = (par / along) ** 2 + np.maximum(perp2, 0.0) / self.config.noise_deg ** 2
        # a wider Gaussian spreads its mass: normalise so a far zone does not win by width alone
        logits = -0.5 * d2 - np.log(along / self.config.noise_deg)
        logits = np.append(logits, -0.5 * self.config.other_sigmas ** 2)
        e = np.exp(logits - logits.max())
        return e / e.sum()


__all__ = ["HeadShareConfig", "HeadShareScorer"]

"""Head-only zone scoring in head angles, allowing for the spread of the driver's head share.

A driver turns the head only part of the way to a target (the head share) and that share varies
from glance to glance (behaviour.py draws it per glance, sd 0.08 around a per-target mean; real
drivers vary as much). Head-only gaze (the face direction through the head-to-gaze model) therefore
errs mostly *along* the line from the road to the target, in proportion to how far the target is:
a media-centre reach made with a small head turn reads as a gaze short of the media centre, on the
dashboard's side, while a dashboard glance never reads 15 deg to the right. Scoring the
head-to-gaze model's ray against the zones with one isotropic sigma cannot tell those apart.

`HeadSpaceScorer` works where the measurement is, in head angles (azimuth, elevation, road-ahead
offset applied). For each zone the driver model's inverse gives the head direction ``h_z`` that
looks at the zone's target from this head position (parallax included); ``r`` is the road's.
With ``u`` the unit vector from ``r`` to ``h_z`` and ``L = |h_z - r|``, a measured head direction
``h`` is split into ``a`` (along ``u``) and ``c`` (across) of ``h - h_z``, and scored

    log p(zone) = -0.5 [(a / s_a)^2 + (c / n)^2] - log(s_a / n),   s_a = sqrt(n^2 + (k L)^2)

(``n`` = ``noise_deg``, ``k`` = ``share_spread``; the last term is the Gaussian's normalisation, so
a zone does not win by being wide). Beyond the zone (``a`` > 0) the share's spread reaches only as
far as a head that turns all the way to the target would (share 1): past that, ``n`` alone.
"other" scores the fixed ``-0.5 other_sigmas^2``.

The head-pose error depends on the camera view: on the unseen A-pillar mount the head model errs
about twice as much as on the mounts it was trained on, and a head that misses every zone by a few
degrees is then no evidence of "other". With ``scatter_ref_deg`` set, "other" scores
``-0.5 (other_sigmas r)^2`` with ``r = max(1, scatter / scatter_ref_deg)``, where ``scatter`` is how
widely this driver's head directions scatter about the road ahead (monitor/gaze/autocal.py
``scatter_deg``): the head is nearly still there, so what scatters more is the model's noise on this
view. Zone against zone is scored as before (a wider ``n`` there blurs the dashboard into the road
and the media centre into the dashboard: docs/gaze_state.md "Road-ahead scatter and a hand at the
head").

Zones are scored at their target points: their size (rect size, half angles, tolerances) is not
used. That suits layouts whose glances go to small targets (mirrors, screens: the synthetic
cabin); on a layout with wide zones (a 10-degree road, the nine DMD zones) a glance near a zone's
edge can read as another zone, and the default ray scoring (zones.py) is the right one.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calib.layout import CabinLayout
from monitor.gaze.ray import direction_to_angles


@dataclass(frozen=True)
class HeadSpaceConfig:
    """``noise_deg``: head-pose error (and how far from the target a glance may land), across the
    glance; ``share_spread``: the relative spread of the head share (sd / mean), widened for the
    estimator's error that grows with the angle; ``other_sigmas``: "other"'s fixed score. Chosen on
    the validation drives (docs/gaze_state.md "Head-space scoring"). ``scatter_ref_deg``: the
    road-ahead scatter up to which ``other_sigmas`` holds; beyond it "other" needs proportionally
    more (None: fixed)."""

    noise_deg: float = 2.0
    share_spread: float = 0.4
    other_sigmas: float = 3.5
    scatter_ref_deg: float | None = None

    def __post_init__(self) -> None:
        values = (self.noise_deg, self.share_spread, self.other_sigmas)
        if not (all(math.isfinite(v) for v in values) and self.noise_deg > 0 and self.share_spread >= 0
                and self.other_sigmas > 0):
            raise ValueError(f"head-space scoring: noise_deg and other_sigmas must be finite and > 0, share_spread "
                             f"finite and >= 0; got {values}")
        if self.scatter_ref_deg is not None and not (math.isfinite(self.scatter_ref_deg) and self.scatter_ref_deg > 0):
            raise ValueError(f"head-space scoring: scatter_ref_deg must be finite and > 0 (or None), "
                             f"got {self.scatter_ref_deg}")

    def other_sigmas_for(self, scatter_deg: float | None) -> float:
        """"other"'s distance in sigmas, given the road-ahead scatter (None: not measured yet)."""
        if self.scatter_ref_deg is None or scatter_deg is None:
            return self.other_sigmas
        return self.other_sigmas * max(1.0, scatter_deg / self.scatter_ref_deg)


@dataclass(frozen=True)
class _ZoneGeometry:
    heads: np.ndarray      # (n, 2) head direction that looks at each zone's target
    unit: np.ndarray       # (n, 2) unit vector from the road's head direction to it (0 for the road)
    along: np.ndarray      # (n,) spread along that line
    room: np.ndarray       # (n,) how far past heads a head turning all the way to the target gets


class HeadSpaceScorer:
    """``head_angles_for``: the driver model's inverse (gaze angles -> head angles), e.g.
    `GazeZoneClassifier.head_angles_for`; ``gaze_angles``: the model itself. Zone geometry is
    cached per head position on a ``cache_mm`` grid (it changes by well under a degree within a
    cell), so the model must not change after the scorer is made (make a new one)."""

    MAX_CACHE = 4096  # a drive visits few cells; never grow without bound

    def __init__(self, layout: CabinLayout, head_angles_for: Callable[[tuple[float, float]], tuple[float, float]],
                 gaze_angles: Callable[[tuple[float, float]], tuple[float, float]], config: HeadSpaceConfig,
                 cache_mm: float = 10.0) -> None:
        self.layout = layout
        self.config = config
        self._inverse = head_angles_for
        self._model = gaze_angles
        self._cache: dict[tuple[int, int, int], _ZoneGeometry] = {}
        self._cache_mm = cache_mm
        self._road = next((i for i, z in enumerate(layout.zones) if z.name in layout.road_zones), None)

    def _geometry(self, origin_mm: np.ndarray) -> _ZoneGeometry:
        key = tuple(int(round(float(v) / self._cache_mm)) for v in origin_mm)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        origin = np.array(key, dtype=np.float64) * self._cache_mm
        targets = np.array([direction_to_angles(z.target_mm(origin) - origin) for z in self.layout.zones])
        heads = np.array([self._inverse((float(az), float(el))) for az, el in targets])
        road = heads[self._road] if self._road is not None else np.zeros(2)
        radial = _wrap(heads - road)
        length = np.linalg.norm(radial, axis=1)
        unit = np.where(length[:, None] > 1e-6, radial / np.maximum(length, 1e-6)[:, None], 0.0)
        along = np.sqrt(self.config.noise_deg ** 2 + (self.config.share_spread * length) ** 2)
        # a head that turns all the way (share 1) points where the gaze goes: the target's gaze angles
        # seen through the model, measured from the road's head direction along the same line
        full_turn = np.sum(_wrap(targets - np.array(self._model(tuple(road)))) * unit, axis=1)
        room = np.maximum(full_turn - length, 0.0)
        if len(self._cache) >= self.MAX_CACHE:
            self._cache.clear()
        geometry = _ZoneGeometry(heads, unit, along, room)
        self._cache[key] = geometry
        return geometry

    def probabilities(self, origin_mm: np.ndarray, head_deg: tuple[float, float],
                      scatter_deg: float | None = None) -> np.ndarray:
        """(n_zones + 1,) probabilities, zones in layout order, then "other". ``origin_mm``: the
        head centre in the car frame (finite); ``head_deg``: the head's (azimuth, elevation);
        ``scatter_deg``: the road-ahead scatter (`HeadSpaceConfig.other_sigmas_for`), None if unknown."""
        g = self._geometry(origin_mm)
        delta = _wrap(np.asarray(head_deg, dtype=np.float64) - g.heads)
        a = np.sum(delta * g.unit, axis=1)
        across2 = np.maximum(np.sum(delta * delta, axis=1) - a * a, 0.0)
        within = np.minimum(a, g.room)                      # past the zone: the share reaches this far,
        beyond = np.maximum(a - g.room, 0.0)                # then the pose error alone
        noise = self.config.noise_deg
        d2 = (within / g.along) ** 2 + (beyond / noise) ** 2 + across2 / noise ** 2
        logits = np.append(-0.5 * d2 - np.log(g.along / noise), -0.5 * self.config.other_sigmas_for(scatter_deg) ** 2)
        e = np.exp(logits - logits.max())
        return e / e.sum()


def _wrap(deg: np.ndarray) -> np.ndarray:
    """Angle differences into [-180, 180) on the azimuth column (zones behind the driver)."""
    out = np.array(deg, dtype=np.float64)
    out[..., 0] = (out[..., 0] + 180.0) % 360.0 - 180.0
    return out


__all__ = ["HeadSpaceConfig", "HeadSpaceScorer"]

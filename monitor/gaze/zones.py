"""Angular distance from a gaze ray to each zone of a layout, and zone probabilities.

The distance is the angle between the ray and the nearest point of the zone as seen from the head
(0 when the ray hits the zone), minus the zone's tolerance. Probabilities are a softmax over
-0.5 (d / sigma)^2 with "other" scored as a zone at ``scoring.other_deg``.
"""
from __future__ import annotations

import math

import numpy as np

from calib.layout import CabinLayout, Zone

OTHER = "other"
UNKNOWN = "unknown"


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in degrees between two vectors: 2 atan2(|a^ - b^|, |a^ + b^|), accurate near 0 and
    180 degrees and much cheaper than np.cross on 3-vectors."""
    ua = a / math.sqrt(float(a @ a))
    ub = b / math.sqrt(float(b @ b))
    d, s = ua - ub, ua + ub
    return math.degrees(2.0 * math.atan2(math.sqrt(float(d @ d)), math.sqrt(float(s @ s))))


def zone_distance_deg(zone: Zone, head_mm: np.ndarray, ray: np.ndarray) -> float:
    """Angle between the unit ``ray`` from ``head_mm`` and the nearest point of ``zone``."""
    if zone.kind == "direction":
        d = _angle(ray, zone.direction) - zone.half_angle_deg
    elif zone.kind == "sphere":
        to_c = zone.center_mm - head_mm
        d = _angle(ray, to_c) - math.degrees(math.asin(min(1.0, zone.radius_mm / math.sqrt(float(to_c @ to_c)))))
    elif zone.kind == "rect":
        d = _rect_distance(zone, head_mm, ray)
    else:
        d = _box_distance(zone, head_mm, ray)
    return max(0.0, d - zone.tolerance_deg)


def _rect_distance(zone: Zone, head_mm: np.ndarray, ray: np.ndarray) -> float:
    u, v, n = zone.axes
    to_c = zone.center_mm - head_mm
    denom = float(ray @ n)
    s = float(to_c @ n) / denom if abs(denom) > 1e-9 else -1.0
    # where the ray meets the panel's plane; if it never does (points away), use the point of the
    # ray as far away as the centre, which still gives the right side of the panel
    p = head_mm + ray * (s if s > 0 else math.sqrt(float(to_c @ to_c)))
    local = p - zone.center_mm
    hw, hh = 0.5 * float(zone.size_mm[0]), 0.5 * float(zone.size_mm[1])
    lu, lv = float(local @ u), float(local @ v)
    if s > 0 and abs(lu) <= hw and abs(lv) <= hh:
        return 0.0
    a, b = min(hw, max(-hw, lu)), min(hh, max(-hh, lv))
    return _angle(ray, zone.center_mm + a * u + b * v - head_mm)


def _box_distance(zone: Zone, head_mm: np.ndarray, ray: np.ndarray) -> float:
    lo, hi = zone.center_mm - zone.size_mm / 2, zone.center_mm + zone.size_mm / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - head_mm) / ray, (hi - head_mm) / ray
    t1 = np.where(np.isnan(t1), -np.inf, t1)
    t2 = np.where(np.isnan(t2), np.inf, t2)
    t_near, t_far = np.minimum(t1, t2).max(), np.maximum(t1, t2).min()
    if t_near <= t_far and t_far > 0:
        return 0.0
    p = head_mm + ray * np.linalg.norm(zone.center_mm - head_mm)
    return _angle(ray, np.clip(p, lo, hi) - head_mm)


class ZoneScorer:
    """Scores one gaze ray against every zone of a layout (the layout is read once here)."""

    def __init__(self, layout: CabinLayout) -> None:
        self.zones = layout.zones
        self.labels: tuple[str, ...] = layout.zone_names + (OTHER,)
        self._inv_sigma = 1.0 / layout.scoring.sigma_deg
        self._other = layout.scoring.other_deg

    def distances(self, head_mm: np.ndarray, ray: np.ndarray) -> np.ndarray:
        """(n_zones + 1,) angular distances in degrees, the last one for "other"."""
        d = [zone_distance_deg(z, head_mm, ray) for z in self.zones]
        return np.array(d + [self._other])

    def probabilities(self, head_mm: np.ndarray, ray: np.ndarray) -> np.ndarray:
        """(n_zones + 1,) probabilities in `labels` order."""
        logits = -0.5 * (self.distances(head_mm, ray) * self._inv_sigma) ** 2
        e = np.exp(logits - logits.max())
        return e / e.sum()

"""The car interior, authored in code, and the six AutoPOSE gaze targets, all in the car frame.

Car frame: x right, y down, z forward (driving direction), millimetres; origin at the driver's
seat reference point (hip point with the seat in its middle position). Left-hand drive: the
driver sits at x = 0, the car's centre line is at x = +370.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.geometry import rot_x
from synth.primitives import (LABEL_CABIN, LABEL_SEAT, LABEL_WHEEL, Box, Capsule, Ellipsoid,
                              Primitive)

GAZE_ZONES: tuple[str, ...] = ("left_mirror", "right_mirror", "rear_mirror", "dashboard", "road", "media_centre")
CAR_CENTRE_X = 370.0


@dataclass(frozen=True)
class GazeTarget:
    """A rectangle the driver looks at: centre, size (width, height) and the unit normal of its
    face (pointing back into the cabin, towards the driver), car frame, mm."""

    name: str
    center_mm: tuple[float, float, float]
    size_mm: tuple[float, float]
    normal: tuple[float, float, float]

    def to_json(self) -> dict:
        return {"center_mm": list(self.center_mm), "size_mm": list(self.size_mm), "normal": list(self.normal)}


def _towards(src: tuple[float, float, float], dst: tuple[float, float, float]) -> tuple[float, float, float]:
    v = np.subtract(dst, src)
    return tuple(float(x) for x in v / np.linalg.norm(v))


_EYE = (0.0, -640.0, -120.0)  # nominal driver eye point, for the target normals
GAZE_TARGETS: dict[str, GazeTarget] = {t.name: t for t in (
    GazeTarget("left_mirror", (-640.0, -520.0, 780.0), (180.0, 110.0), _towards((-640.0, -520.0, 780.0), _EYE)),
    GazeTarget("right_mirror", (1380.0, -520.0, 780.0), (180.0, 110.0), _towards((1380.0, -520.0, 780.0), _EYE)),
    GazeTarget("rear_mirror", (370.0, -880.0, 560.0), (240.0, 70.0), _towards((370.0, -880.0, 560.0), _EYE)),
    GazeTarget("dashboard", (0.0, -440.0, 620.0), (280.0, 110.0), _towards((0.0, -440.0, 620.0), _EYE)),
    GazeTarget("road", (0.0, -700.0, 20000.0), (7000.0, 3000.0), (0.0, 0.0, -1.0)),
    GazeTarget("media_centre", (370.0, -330.0, 600.0), (200.0, 140.0), _towards((370.0, -330.0, 600.0), _EYE)),
)}


@dataclass(frozen=True)
class Wheel:
    """Steering wheel: centre, unit axes of its plane (right, up) and rim radius, car frame."""

    center: np.ndarray
    right: np.ndarray
    up: np.ndarray
    radius: float
    grip: float

    def rim_point(self, clock_deg: float, inset: float = 0.0) -> np.ndarray:
        """Point on the rim at a clock angle: 0 = top, 90 = right (3 o'clock), -90 = left."""
        a = np.radians(clock_deg)
        return self.center + (self.radius - inset) * (np.sin(a) * self.right + np.cos(a) * self.up)


WHEEL_TILT_DEG = 22.0
WHEEL = Wheel(center=np.array([0.0, -370.0, 390.0]),
              right=np.array([1.0, 0.0, 0.0]),
              up=rot_x(WHEEL_TILT_DEG) @ np.array([0.0, -1.0, 0.0]),
              radius=185.0, grip=16.0)


def _box(c, half, albedo, label=LABEL_CABIN, rot=None) -> Box:
    return Box(np.array(c, float), np.eye(3) if rot is None else rot, np.array(half, float), albedo, label)


def _ell(c, radii, albedo, label=LABEL_CABIN, rot=None) -> Ellipsoid:
    return Ellipsoid(np.array(c, float), np.eye(3) if rot is None else rot, np.array(radii, float), albedo, label)


def _cap(a, b, r, albedo, label=LABEL_CABIN) -> Capsule:
    return Capsule(np.array(a, float), np.array(b, float), float(r), albedo, label)


def seat(x: float, offset: np.ndarray, albedo: float, back_deg: float = 20.0) -> list[Primitive]:
    """A bucket seat whose hip point sits at (x, 0, 0) + offset."""
    o = np.array([x, 0.0, 0.0]) + offset
    back = rot_x(back_deg)
    up = back @ np.array([0.0, -1.0, 0.0])
    fwd = back @ np.array([0.0, 0.0, 1.0])
    cushion = rot_x(-8.0)
    base = o + np.array([0.0, 150.0, 110.0])
    back_c = o + up * 330 - fwd * 150
    return [
        _ell(base, (250, 70, 280), albedo, LABEL_SEAT, cushion),
        _ell(base + np.array([-215, -40, 0]), (60, 70, 260), albedo, LABEL_SEAT, cushion),
        _ell(base + np.array([215, -40, 0]), (60, 70, 260), albedo, LABEL_SEAT, cushion),
        _ell(back_c, (250, 360, 70), albedo, LABEL_SEAT, back),
        _ell(back_c - fwd * 20 + np.array([-220, 0, 0]), (60, 300, 90), albedo, LABEL_SEAT, back),
        _ell(back_c - fwd * 20 + np.array([220, 0, 0]), (60, 300, 90), albedo, LABEL_SEAT, back),
        _ell(o + up * 780 - fwd * 150, (130, 95, 60), albedo, LABEL_SEAT, back),
        _cap(o + up * 690 - fwd * 150 + [-60, 0, 0], o + up * 730 - fwd * 150 + [-60, 0, 0], 8, 0.5, LABEL_SEAT),
        _cap(o + up * 690 - fwd * 150 + [60, 0, 0], o + up * 730 - fwd * 150 + [60, 0, 0], 8, 0.5, LABEL_SEAT),
    ]


def steering_wheel(w: Wheel = WHEEL, albedo: float = 0.18) -> list[Primitive]:
    parts: list[Primitive] = []
    n = 20
    pts = [w.rim_point(360.0 * i / n) for i in range(n + 1)]
    parts += [Capsule(pts[i], pts[i + 1], w.grip, albedo, LABEL_WHEEL) for i in range(n)]
    normal = np.cross(w.right, w.up)  # points forward, away from the driver
    hub_rot = np.stack([w.right, w.up, normal], axis=1)
    parts.append(Ellipsoid(w.center + normal * 10, hub_rot, np.array([85.0, 70.0, 38.0]), albedo * 1.2, LABEL_WHEEL))
    for clock in (-90.0, 90.0, 180.0):
        parts.append(Capsule(w.center + normal * 15, w.rim_point(clock, 5.0) + normal * 5, 14.0, albedo, LABEL_WHEEL))
    parts.append(Capsule(w.center + normal * 40, w.center + normal * 260 + w.up * 40, 45.0, 0.15, LABEL_WHEEL))
    return parts


def cabin_primitives(rng: np.random.Generator, seat_offset: np.ndarray, back_deg: float = 20.0) -> list[Primitive]:
    """Static interior around a driver's seat shifted by ``seat_offset`` (car frame)."""
    plastic = float(rng.uniform(0.12, 0.3))
    trim = float(rng.uniform(0.2, 0.45))
    fabric = float(rng.uniform(0.25, 0.6))
    headliner = float(rng.uniform(0.45, 0.75))
    cx = CAR_CENTRE_X
    windscreen_rake = rot_x(-58.0)
    prims: list[Primitive] = [
        _box((cx, -1040, -100), (1000, 30, 1150), headliner),                   # roof lining
        _box((cx, 300, 200), (1000, 30, 1100), 0.12),                           # floor
        _box((-560, -130, -50), (30, 370, 950), trim),                          # left door below the belt line
        _box((cx + 930, -130, -50), (30, 370, 950), trim),                      # right door
        _box((-505, -260, -20), (45, 22, 260), trim * 1.2),                     # left armrest
        _box((-540, -760, -430), (35, 270, 70), trim),                          # left B-pillar
        _box((cx + 910, -760, -430), (35, 270, 70), trim),                      # right B-pillar
        _cap((-560, -470, 880), (-450, -1010, 260), 45, trim),                  # left A-pillar
        _cap((cx + 930, -470, 880), (cx + 820, -1010, 260), 45, trim),          # right A-pillar
        _box((cx, -1000, 240), (940, 40, 60), trim, rot=windscreen_rake),        # windscreen header
        _box((cx, -250, 830), (950, 200, 260), plastic),                        # dashboard body
        _box((cx, -420, 600), (950, 40, 60), plastic * 1.2, rot=rot_x(-25)),     # dashboard top edge
        _ell((0, -455, 640), (200, 55, 110), plastic),                          # instrument hood
        _box((0, -420, 598), (140, 55, 5), 0.06, rot=rot_x(-12)),               # instrument display
        _box((cx, 40, 380), (120, 230, 420), plastic),                          # centre console
        _box((cx, -330, 588), (110, 75, 8), 0.05, rot=rot_x(-15)),              # media centre screen
        _box((cx, -330, 592), (125, 90, 6), plastic * 1.3, rot=rot_x(-15)),     # its bezel
        _cap((cx, -140, 330), (cx, -40, 380), 14, 0.2),                        # gear lever
        _ell((cx, -150, 330), (22, 22, 22), 0.25),                              # gear knob
        _box((cx, -880, 560), (120, 35, 12), 0.2),                              # rear-view mirror
        _cap((cx, -910, 570), (cx, -1010, 560), 10, 0.2),                       # its stem
        _box((-650, -520, 790), (90, 60, 45), plastic),                         # left mirror housing
        _box((cx + 1010, -520, 790), (90, 60, 45), plastic),                    # right mirror housing
        _box((0, -990, 330), (190, 15, 90), headliner * 0.9),                   # sun visor
        _ell((cx, -200, -1050), (720, 380, 160), fabric * 0.9, LABEL_CABIN),     # rear bench back
        _ell((cx, 120, -850), (720, 90, 260), fabric * 0.9, LABEL_CABIN),        # rear bench cushion
        _box((cx, -640, -1260), (900, 30, 60), trim),                           # parcel shelf
    ]
    prims += seat(0.0, seat_offset, fabric, back_deg)
    prims += seat(2 * cx, np.zeros(3), fabric)
    prims += steering_wheel()
    return prims


def cabin_layout_json() -> dict:
    """What the gaze/zone code needs to build a matching layout (docs/labels.md)."""
    return {
        "frame": "car: x right, y down, z forward (driving direction), mm, origin at the driver's seat reference point",
        "targets": {name: t.to_json() for name, t in GAZE_TARGETS.items()},
        "wheel": {"center_mm": WHEEL.center.tolist(), "radius_mm": WHEEL.radius, "tilt_deg": WHEEL_TILT_DEG},
        "car_centre_x_mm": CAR_CENTRE_X,
    }


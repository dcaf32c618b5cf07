"""Cabin layouts: the camera and the gaze zones of one car, in the car frame (docs/cabin_layout.md).

Car frame: x right, y down, z forward (driving direction), millimetres, origin at the driver's seat
reference point. A layout is a JSON file (``format: "dms-cabin-layout"``, ``version: 1``) holding
the camera intrinsics and pose, the driver's nominal head centre, the default head-to-gaze model and
the zones. `load_layout` validates it and raises a one-line ValueError naming the file and the field.

This module is pure numpy + json: the runtime (monitor/gaze) imports it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from calib.files import read_json
from monitor.frames import Intrinsics

FORMAT = "dms-cabin-layout"
VERSION = 1
# The layout of the synthetic cabin (the default source's car): every tool's default --layout
DEFAULT_LAYOUT = Path(__file__).resolve().parent / "layouts" / "synthetic_cabin.json"
ZONE_KINDS = ("direction", "sphere", "rect", "box")
RESERVED_ZONE_NAMES = ("other", "unknown")
_ZONE_FIELDS = {"direction": ("direction", "half_angle_deg"), "sphere": ("center_mm", "radius_mm"),
                "rect": ("center_mm", "size_mm", "normal"), "box": ("center_mm", "size_mm")}
CAR_UP = np.array([0.0, -1.0, 0.0])  # y points down in the car frame


@dataclass(frozen=True, eq=False)  # numpy fields: compare explicitly
class CameraPose:
    """Camera -> car transform: ``rotation`` columns are the camera axes in car coordinates,
    ``position_mm`` is the camera centre in the car frame. car = rotation @ cam + position."""

    rotation: np.ndarray
    position_mm: np.ndarray

    def to_car(self, points_cam: np.ndarray) -> np.ndarray:
        return np.asarray(points_cam, dtype=np.float64) @ self.rotation.T + self.position_mm

    def to_camera(self, points_car: np.ndarray) -> np.ndarray:
        return (np.asarray(points_car, dtype=np.float64) - self.position_mm) @ self.rotation

    def to_dict(self) -> dict[str, Any]:
        return {"position_mm": _r(self.position_mm), "rotation": _r(self.rotation, 9)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CameraPose":
        """From `to_dict`'s form, which is also how streams state their mount (a synthetic
        frame's truth.camera.extrinsics, FrameSet.extra["camera_pose"]). KeyError/TypeError/
        ValueError when it is not that shape."""
        return cls(np.array(d["rotation"], dtype=np.float64).reshape(3, 3),
                   np.array(d["position_mm"], dtype=np.float64).reshape(3))


@dataclass(frozen=True, eq=False)
class Zone:
    """One gaze zone. kind:
    - ``direction``: a direction at infinity (``direction``), e.g. the road ahead, ``half_angle_deg`` wide;
    - ``sphere``: a target at ``center_mm`` with ``radius_mm`` (AutoPOSE's reflective markers);
    - ``rect``: a flat panel at ``center_mm`` of ``size_mm`` = (width, height), facing ``normal``
      (default: towards the nominal head), its height along the car's up direction projected on it;
    - ``box``: an axis-aligned box at ``center_mm`` with ``size_mm`` = (sx, sy, sz).
    ``tolerance_deg`` widens any zone by that angle."""

    name: str
    kind: str
    center_mm: np.ndarray | None = None
    direction: np.ndarray | None = None
    half_angle_deg: float = 0.0
    radius_mm: float = 0.0
    size_mm: np.ndarray | None = None
    normal: np.ndarray | None = None
    tolerance_deg: float = 0.0
    description: str = ""
    # derived once at load time for rect zones: unit in-plane axes (u: width, v: height)
    axes: np.ndarray | None = field(default=None, repr=False)

    def target_mm(self, head_mm: np.ndarray, far_mm: float = 1e6) -> np.ndarray:
        """A point that stands for the zone when seen from ``head_mm`` (its centre; far along
        the direction for direction zones)."""
        if self.kind == "direction":
            return np.asarray(head_mm, dtype=np.float64) + far_mm * self.direction
        return self.center_mm

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.description:
            d["description"] = self.description
        if self.kind == "direction":
            d.update(direction=_r(self.direction, 6), half_angle_deg=self.half_angle_deg)
        else:
            d["center_mm"] = _r(self.center_mm)
        if self.kind == "sphere":
            d["radius_mm"] = self.radius_mm
        if self.kind in ("rect", "box"):
            d["size_mm"] = _r(self.size_mm)
        if self.kind == "rect" and self.normal is not None:
            d["normal"] = _r(self.normal, 6)
        if self.tolerance_deg:
            d["tolerance_deg"] = self.tolerance_deg
        return d


@dataclass(frozen=True)
class HeadGazeModel:
    """How far the eyes add to the head: gaze angle = offset + gain * head angle, per axis, with
    angles measured in the car frame (azimuth right-positive, elevation down-positive; degrees).
    gain 1 means the head points where the driver looks; a "lizard" driver has gain > 1."""

    yaw_gain: float = 1.0
    pitch_gain: float = 1.0
    yaw_offset_deg: float = 0.0
    pitch_offset_deg: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"yaw_gain": self.yaw_gain, "pitch_gain": self.pitch_gain,
                "yaw_offset_deg": self.yaw_offset_deg, "pitch_offset_deg": self.pitch_offset_deg}


@dataclass(frozen=True)
class TargetCorrection:
    """What the linear driver model still misses at one zone, for the average driver: where the
    head points while looking at ``zone`` (car-frame azimuth, elevation) and the gaze correction
    there (degrees). The classifier blends them by inverse distance (exact at each such head
    direction), as it does a calibrated driver's per-target residuals."""

    zone: str
    head_deg: tuple[float, float]
    correction_deg: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "head_deg": _r(self.head_deg), "correction_deg": _r(self.correction_deg)}


MAX_CORRECTION_DEG = 30.0


@dataclass(frozen=True)
class Scoring:
    """Zone probabilities: p(zone) ~ exp(-0.5 (d / sigma_deg)^2) with d the angle between the
    gaze ray and the zone; "other" scores as a zone at ``other_deg``."""

    sigma_deg: float = 5.0
    other_deg: float = 10.0

    def to_dict(self) -> dict[str, float]:
        return {"sigma_deg": self.sigma_deg, "other_deg": self.other_deg}


@dataclass(frozen=True, eq=False)
class CabinLayout:
    name: str
    camera_name: str
    intrinsics: Intrinsics
    camera_pose: CameraPose
    nominal_head_mm: np.ndarray
    zones: tuple[Zone, ...]
    road_zones: tuple[str, ...] = ("road",)
    driver_model: HeadGazeModel = HeadGazeModel()
    scoring: Scoring = Scoring()
    description: str = ""
    source: str = "<memory>"
    # per-zone corrections of the default driver model (empty: the linear model alone)
    driver_corrections: tuple[TargetCorrection, ...] = ()

    def correction_rows(self) -> np.ndarray:
        """(n, 4) rows (head az, head el, gaze az correction, gaze el correction) of the default
        model's corrections, as `GazeZoneClassifier(corrections=...)` takes them."""
        return np.array([(*c.head_deg, *c.correction_deg) for c in self.driver_corrections],
                        dtype=np.float64).reshape(-1, 4)

    @property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(z.name for z in self.zones)

    def zone(self, name: str) -> Zone:
        for z in self.zones:
            if z.name == name:
                return z
        raise ValueError(f"{self.source}: no zone {name!r}; zones are {', '.join(self.zone_names)}")

    def with_camera_pose(self, pose: CameraPose) -> "CabinLayout":
        """The same cabin with the camera mounted elsewhere (e.g. a per-sequence mount)."""
        return replace(self, camera_pose=pose)

    def with_driver_model(self, model: HeadGazeModel,
                          corrections: tuple[TargetCorrection, ...] = ()) -> "CabinLayout":
        """The same cabin with another default driver model (e.g. a panel of drivers' pooled fit)."""
        return replace(self, driver_model=model, driver_corrections=tuple(corrections))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "name": self.name, "description": self.description,
            "units": "mm",
            "car_frame": "x right, y down, z forward (driving direction); origin at the driver's seat reference point",
            "camera": {"name": self.camera_name, "intrinsics": self.intrinsics.to_dict(),
                       "pose": self.camera_pose.to_dict()},
            "nominal_head_mm": _r(self.nominal_head_mm),
            "driver_model": {**self.driver_model.to_dict(),
                             **({"corrections": [c.to_dict() for c in self.driver_corrections]}
                                if self.driver_corrections else {})},
            "scoring": self.scoring.to_dict(),
            "road_zones": list(self.road_zones),
            "zones": [z.to_dict() for z in self.zones],
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def look_at_rotation(position_mm: np.ndarray, target_mm: np.ndarray, roll_deg: float = 0.0,
                     up: tuple[float, float, float] = (0.0, -1.0, 0.0)) -> np.ndarray:
    """Camera->car rotation of a camera at ``position_mm`` whose optical axis (z) points at
    ``target_mm`` with image-up as close to ``up`` as possible, then rolled about z."""
    z = np.asarray(target_mm, dtype=np.float64) - np.asarray(position_mm, dtype=np.float64)
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("look_at target coincides with the camera position")
    z /= np.linalg.norm(z)
    x = np.cross(-np.asarray(up, dtype=np.float64), z)  # image y (down) = -up, x = y cross z
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("camera looks straight up or down: give 'rotation' instead of 'look_at_mm'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r = np.stack([x, y, z], axis=1)
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    return r @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def load_layout(path: str | Path) -> CabinLayout:
    """Read and validate a layout file; errors are one-line ValueErrors naming file and field."""
    p = Path(path)
    return layout_from_dict(read_json(p, "layout"), source=str(p))


def layout_from_dict(data: Any, source: str = "<memory>") -> CabinLayout:
    v = _Validator(source)
    if not isinstance(data, dict):
        v.fail("", "the file must hold a JSON object")
    if data.get("format") != FORMAT:  # before the fields: another kind of file is named as such
        hint = ("; this is a driver calibration: pass it as --driver-calibration"
                if data.get("format") == "dms-driver-calibration" else "")
        v.fail("format", f"must be {FORMAT!r}, got {data.get('format')!r}{hint}")
    v.keys(data, ("format", "version", "name", "description", "units", "car_frame", "camera", "nominal_head_mm",
                  "driver_model", "scoring", "road_zones", "zones"), "top level")
    if data.get("version") != VERSION:
        v.fail("version", f"must be {VERSION}, got {data.get('version')!r}")
    if data.get("units", "mm") != "mm":
        v.fail("units", f"must be 'mm', got {data.get('units')!r}")

    cam = v.obj(data, "camera")
    v.keys(cam, ("name", "intrinsics", "pose"), "camera")
    try:
        intr = Intrinsics.from_dict(v.obj(cam, "intrinsics", "camera."))
    except (KeyError, TypeError, ValueError) as exc:
        v.fail("camera.intrinsics", f"needs width, height, fx, fy, cx, cy (and optional coeffs): {exc}")
    pose = _camera_pose(v, v.obj(cam, "pose", "camera."))

    nominal = v.vec(data, "nominal_head_mm", 3)
    dm = data.get("driver_model", {})
    if not isinstance(dm, dict):
        v.fail("driver_model", "must be an object")
    v.keys(dm, ("yaw_gain", "pitch_gain", "yaw_offset_deg", "pitch_offset_deg", "corrections"), "driver_model")
    model = HeadGazeModel(*(v.num(dm, k, "driver_model.", default=d) for k, d in
                            (("yaw_gain", 1.0), ("pitch_gain", 1.0), ("yaw_offset_deg", 0.0), ("pitch_offset_deg", 0.0))))
    if not (0.2 <= model.yaw_gain <= 5.0 and 0.2 <= model.pitch_gain <= 5.0):
        v.fail("driver_model", "gains must lie in [0.2, 5]")
    sc = data.get("scoring", {})
    if not isinstance(sc, dict):
        v.fail("scoring", "must be an object")
    v.keys(sc, ("sigma_deg", "other_deg"), "scoring")
    scoring = Scoring(v.num(sc, "sigma_deg", "scoring.", default=5.0), v.num(sc, "other_deg", "scoring.", default=10.0))
    if scoring.sigma_deg <= 0 or scoring.other_deg <= 0:
        v.fail("scoring", "sigma_deg and other_deg must be positive")

    raw_zones = data.get("zones")
    if not isinstance(raw_zones, list) or not raw_zones:
        v.fail("zones", "must be a non-empty list of zone objects")
    zones = tuple(_zone(v, z, i, nominal) for i, z in enumerate(raw_zones))
    names = [z.name for z in zones]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        v.fail("zones", f"duplicate zone names {dup}")
    road = data.get("road_zones", ["road"])
    if not isinstance(road, list) or not road or any(r not in names for r in road):
        v.fail("road_zones", f"must list zones that exist (zones: {names}), got {road!r}")
    corrections = _corrections(v, dm.get("corrections", []), names)
    return CabinLayout(str(data.get("name", Path(source).stem)), str(cam.get("name", "ir")), intr, pose,
                       nominal, zones, tuple(road), model, scoring, str(data.get("description", "")), source,
                       corrections)


def _corrections(v: "_Validator", raw: Any, zone_names: list[str]) -> tuple[TargetCorrection, ...]:
    where = "driver_model.corrections"
    if not isinstance(raw, list):
        v.fail(where, "must be a list of {zone, head_deg: [az, el], correction_deg: [az, el]} objects")
    out = []
    for i, c in enumerate(raw):
        pre = f"{where}[{i}]"
        if not isinstance(c, dict):
            v.fail(pre, "must be an object")
        v.keys(c, ("zone", "head_deg", "correction_deg"), pre)
        if c.get("zone") not in zone_names:
            v.fail(pre + ".zone", f"must name a zone of this layout ({zone_names}), got {c.get('zone')!r}")
        head, corr = v.vec(c, "head_deg", 2, pre + "."), v.vec(c, "correction_deg", 2, pre + ".")
        if np.any(np.abs(corr) > MAX_CORRECTION_DEG):
            v.fail(pre + ".correction_deg", f"corrections beyond {MAX_CORRECTION_DEG:g} deg mean the driver model "
                   "does not fit; refit it instead")
        out.append(TargetCorrection(str(c["zone"]), (float(head[0]), float(head[1])), (float(corr[0]), float(corr[1]))))
    if len({c.zone for c in out}) != len(out):
        v.fail(where, "one correction per zone")
    return tuple(out)


def _camera_pose(v: "_Validator", d: dict[str, Any]) -> CameraPose:
    v.keys(d, ("position_mm", "rotation", "look_at_mm", "roll_deg"), "camera.pose")
    pos = v.vec(d, "position_mm", 3, "camera.pose.")
    has_rot, has_look = "rotation" in d, "look_at_mm" in d
    if has_rot == has_look:
        v.fail("camera.pose", "give exactly one of 'rotation' (3x3, camera->car) or 'look_at_mm' (+ optional roll_deg)")
    if has_look:
        try:
            rot = look_at_rotation(pos, v.vec(d, "look_at_mm", 3, "camera.pose."), v.num(d, "roll_deg", "camera.pose.", 0.0))
        except ValueError as exc:
            v.fail("camera.pose.look_at_mm", str(exc))
    else:
        rot = _rotation(v, d["rotation"], "camera.pose.rotation")
    return CameraPose(rot, pos)


def _rotation(v: "_Validator", value: Any, where: str) -> np.ndarray:
    try:
        r = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        v.fail(where, "must be a 3x3 list of numbers")
    if r.shape != (3, 3) or not np.all(np.isfinite(r)):
        v.fail(where, f"must be a 3x3 list of finite numbers, got shape {r.shape}")
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    if err > 1e-3 or np.linalg.det(r) < 0:
        v.fail(where, f"is not a rotation matrix (|R^T R - I| = {err:.2g}, det = {np.linalg.det(r):.3f})")
    u, _, vt = np.linalg.svd(r)  # re-orthonormalise rounded values
    return u @ vt


def _zone(v: "_Validator", d: Any, i: int, nominal: np.ndarray) -> Zone:
    where = f"zones[{i}]"
    if not isinstance(d, dict):
        v.fail(where, "must be an object")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        v.fail(where + ".name", "must be a non-empty string")
    where = f"zones[{i}] ({name})"
    if name in RESERVED_ZONE_NAMES:
        v.fail(where + ".name", f"{RESERVED_ZONE_NAMES} are reserved")
    kind = d.get("kind")
    if kind not in ZONE_KINDS:
        v.fail(where + ".kind", f"must be one of {ZONE_KINDS}, got {kind!r}")
    pre = where + "."
    v.keys(d, ("name", "kind", "description", "tolerance_deg") + _ZONE_FIELDS[kind], where)
    tol = v.num(d, "tolerance_deg", pre, 0.0)
    if tol < 0:
        v.fail(pre + "tolerance_deg", "must be >= 0")
    common = {"name": name, "kind": kind, "tolerance_deg": tol, "description": str(d.get("description", ""))}
    if kind == "direction":
        direction = v.vec(d, "direction", 3, pre)
        if np.linalg.norm(direction) < 1e-9:
            v.fail(pre + "direction", "must not be zero")
        half = v.num(d, "half_angle_deg", pre, 0.0)
        if not 0 <= half < 90:
            v.fail(pre + "half_angle_deg", "must lie in [0, 90)")
        return Zone(direction=direction / np.linalg.norm(direction), half_angle_deg=half, **common)
    center = v.vec(d, "center_mm", 3, pre)
    if kind == "sphere":
        radius = v.num(d, "radius_mm", pre)
        if radius < 0 or radius >= np.linalg.norm(center - nominal):
            v.fail(pre + "radius_mm", "must be >= 0 and must not contain the nominal head")
        return Zone(center_mm=center, radius_mm=radius, **common)
    if kind == "box":
        size = v.vec(d, "size_mm", 3, pre)
        if np.any(size <= 0):
            v.fail(pre + "size_mm", "all three sizes must be positive")
        if np.all(np.abs(nominal - center) <= size / 2):
            v.fail(pre + "size_mm", "the box contains the nominal head")
        return Zone(center_mm=center, size_mm=size, **common)
    size = v.vec(d, "size_mm", 2, pre)
    if np.any(size <= 0):
        v.fail(pre + "size_mm", "width and height must be positive")
    normal = v.vec(d, "normal", 3, pre) if "normal" in d else nominal - center
    if np.linalg.norm(normal) < 1e-9:
        v.fail(pre + "normal", "must not be zero")
    n = normal / np.linalg.norm(normal)
    up = CAR_UP - n * (CAR_UP @ n)
    if np.linalg.norm(up) < 1e-6:  # horizontal panel: height runs forward
        up = np.array([0.0, 0.0, 1.0]) - n * n[2]
    vaxis = up / np.linalg.norm(up)
    uaxis = np.cross(vaxis, n)
    return Zone(center_mm=center, size_mm=size, normal=n if "normal" in d else None,
                axes=np.stack([uaxis, vaxis, n]), **common)


class _Validator:
    """Field readers that fail with '<file>: <field>: <problem>'."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> None:
        raise ValueError(f"{self.source}: {where + ': ' if where else ''}{problem}")

    def keys(self, d: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        """Reject unknown keys (typos would otherwise fall back to defaults silently); keys that
        start with '_' are comments."""
        bad = [k for k in d if k not in allowed and not k.startswith("_")]
        if bad:
            self.fail(where, f"unknown field(s) {bad}; allowed: {list(allowed)} (prefix comments with '_')")

    def obj(self, d: dict[str, Any], key: str, pre: str = "") -> dict[str, Any]:
        val = d.get(key)
        if not isinstance(val, dict):
            self.fail(pre + key, "missing or not an object")
        return val

    def num(self, d: dict[str, Any], key: str, pre: str = "", default: float | None = None) -> float:
        val = d.get(key, default)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            self.fail(pre + key, f"must be a finite number, got {val!r}")
        return float(val)

    def vec(self, d: dict[str, Any], key: str, n: int, pre: str = "") -> np.ndarray:
        val = d.get(key)
        if (not isinstance(val, list) or len(val) != n
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in val)):
            self.fail(pre + key, f"must be a list of {n} numbers, got {val!r}")
        arr = np.array(val, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            self.fail(pre + key, "must be finite")
        return arr


def _r(a: np.ndarray, nd: int = 3) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()

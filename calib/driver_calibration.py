"""Per-driver gaze calibration (AutoPOSE sec. 4.5 protocol): the driver looks at each target for a
few seconds; we learn how far this driver's head turns towards a target (the head/eye share).

For every sample the head's face direction (car frame azimuth/elevation) is paired with the
direction from the head centre to the target being looked at (so head-position parallax is taken
out). Per target, the medians of the settled samples are taken; then, per axis, a line
gaze = offset + gain * head is fitted by least squares across targets. A driver who turns the head
only half as far as another ("lizard" glances) gets twice that driver's gain. The result is saved
per driver as JSON (``format: "dms-driver-calibration"``) and used by the runtime classifier
instead of the layout's default model.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calib.files import read_json
from calib.layout import CabinLayout, CameraPose, HeadGazeModel, TargetCorrection
from monitor.estimates import Estimates
from monitor.gaze.classifier import GazeZoneClassifier
from monitor.gaze.ray import angles_to_direction, direction_to_angles

FORMAT = "dms-driver-calibration"
VERSION = 1
GAIN_RANGE = (0.3, 4.0)
MIN_SPREAD_DEG = 8.0  # targets must span this much on an axis to fit its gain
DRIVER_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # a plain file name: no folders, not hidden


def check_driver_id(driver_id: str) -> str:
    """``driver_id`` if it can name a calibration file (DRIVER.json) in a folder; ValueError if not."""
    if not DRIVER_ID.fullmatch(driver_id):
        raise ValueError(f"driver id {driver_id!r} must be a plain name: letters, digits, '-', '_' and '.' "
                         "(not first), e.g. alice or driver_07")
    return driver_id


@dataclass
class TargetFit:
    """One target of a calibration. The errors are angles between the gaze the runtime derives
    from the head direction (`GazeStateStage`'s classifier: linear model and per-target
    corrections) and the direction to the target, without the calibration (the layout's default
    model with its corrections) and with it; both on the calibration session's own samples."""
    n: int
    head_deg: tuple[float, float]         # median head (azimuth, elevation)
    target_deg: tuple[float, float]       # median direction to the target
    residual_default_deg: float           # error at the median head direction, without the calibration
    residual_deg: float                   # the same with the calibration (near 0: its corrections are fitted there)
    # RMS error over this target's samples; known only right after the fit (not saved)
    frames_default_deg: float | None = None
    frames_deg: float | None = None
    frames_linear_deg: float | None = None  # the calibration's linear model alone (per_target_corrections=False)


@dataclass
class DriverCalibration:
    driver_id: str
    layout_name: str
    model: HeadGazeModel
    targets: dict[str, TargetFit] = field(default_factory=dict)

    @property
    def rms_residual_deg(self) -> float:
        return float(np.sqrt(np.mean([t.residual_deg ** 2 for t in self.targets.values()]))) if self.targets else 0.0

    @property
    def rms_residual_default_deg(self) -> float:
        return (float(np.sqrt(np.mean([t.residual_default_deg ** 2 for t in self.targets.values()])))
                if self.targets else 0.0)

    def frames_rms(self, which: str) -> float | None:
        """RMS error over all the session's samples (``which``: "default", "calibrated" or
        "linear"), or None for a calibration loaded from a file."""
        attr = {"default": "frames_default_deg", "calibrated": "frames_deg", "linear": "frames_linear_deg"}[which]
        vals = [(t.n, getattr(t, attr)) for t in self.targets.values()]
        if not vals or any(v is None for _, v in vals):
            return None
        return float(np.sqrt(sum(n * v ** 2 for n, v in vals) / sum(n for n, _ in vals)))

    def corrections(self) -> np.ndarray:
        """(n_targets, 4): per target the median head (azimuth, elevation) and what the fitted
        linear model still misses of the target direction there (degrees), for
        `GazeZoneClassifier(corrections=...)`."""
        m = self.model
        rows = [(t.head_deg[0], t.head_deg[1],
                 t.target_deg[0] - (m.yaw_offset_deg + m.yaw_gain * t.head_deg[0]),
                 t.target_deg[1] - (m.pitch_offset_deg + m.pitch_gain * t.head_deg[1])) for t in self.targets.values()]
        return np.array(rows, dtype=np.float64).reshape(-1, 4)

    def target_corrections(self) -> tuple[TargetCorrection, ...]:
        """`corrections` as a layout's default-model corrections (`CabinLayout.driver_corrections`)."""
        return tuple(TargetCorrection(name, (float(r[0]), float(r[1])), (float(r[2]), float(r[3])))
                     for name, r in zip(self.targets, self.corrections()))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "driver_id": self.driver_id, "layout": self.layout_name,
                "model": self.model.to_dict(),
                "rms_residual_deg": round(self.rms_residual_deg, 3),
                "rms_residual_default_deg": round(self.rms_residual_default_deg, 3),
                "targets": {k: {"n": t.n, "head_deg": _r(t.head_deg), "target_deg": _r(t.target_deg),
                                "residual_default_deg": round(t.residual_default_deg, 3),
                                "residual_deg": round(t.residual_deg, 3)} for k, t in self.targets.items()}}

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, d: Any, source: str = "<memory>") -> "DriverCalibration":
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ValueError(f"{source}: not a driver calibration (need format {FORMAT!r}, version {VERSION})")
        try:
            m = d["model"]
            model = HeadGazeModel(float(m["yaw_gain"]), float(m["pitch_gain"]),
                                  float(m.get("yaw_offset_deg", 0.0)), float(m.get("pitch_offset_deg", 0.0)))
            targets = {k: TargetFit(int(t["n"]), tuple(t["head_deg"]), tuple(t["target_deg"]),
                                    float(t["residual_default_deg"]), float(t["residual_deg"]))
                       for k, t in d.get("targets", {}).items()}
            return cls(str(d["driver_id"]), str(d.get("layout", "")), model, targets)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: malformed driver calibration ({exc!r})") from None

    @classmethod
    def load(cls, path: str | Path) -> "DriverCalibration":
        p = Path(path)
        return cls.from_json(read_json(p, "driver calibration"), str(p))


@dataclass(frozen=True)
class Prompt:
    target: str
    start_s: float
    end_s: float


class CalibrationSession:
    """Collects (target, head pose) samples and fits a `DriverCalibration`.

    Use `schedule` to tell the driver where to look and when, then feed every frame to `add`
    (the target is looked up from the schedule) or label samples yourself with `add_labelled`.
    The first ``settle_s`` of each target are skipped: the eyes and head are still moving.
    """

    def __init__(self, layout: CabinLayout, targets: tuple[str, ...] | None = None,
                 dwell_s: float = 4.0, settle_s: float = 1.0, pause_s: float = 1.0) -> None:
        self.layout = layout
        self.targets = tuple(targets) if targets else layout.zone_names
        for t in self.targets:
            layout.zone(t)  # raises a clear error on a typo
        if dwell_s <= settle_s:
            raise ValueError(f"dwell_s ({dwell_s}) must exceed settle_s ({settle_s})")
        self.dwell_s, self.settle_s, self.pause_s = dwell_s, settle_s, pause_s
        self._geom = GazeZoneClassifier(layout, HeadGazeModel())  # identity model: raw head angles
        self._samples: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {t: [] for t in self.targets}
        self._schedule: list[Prompt] = []

    def set_camera_pose(self, pose: CameraPose) -> None:
        """Samples added from now on were measured by a camera at ``pose`` (the car-frame zones and
        targets do not move): pools sessions recorded with different mounts, e.g. several drivers."""
        self._geom.camera = pose

    def schedule(self, t0_s: float) -> list[Prompt]:
        """The protocol: each target for ``dwell_s`` seconds, ``pause_s`` apart, from ``t0_s``."""
        step = self.dwell_s + self.pause_s
        self._schedule = [Prompt(t, t0_s + i * step, t0_s + i * step + self.dwell_s)
                          for i, t in enumerate(self.targets)]
        return list(self._schedule)

    def add(self, estimates: Estimates, t_s: float) -> str | None:
        """Feed a frame; returns the target it was counted for (None if outside a settled slot)."""
        for p in self._schedule:
            if p.start_s + self.settle_s <= t_s < p.end_s:
                return p.target if self.add_labelled(p.target, estimates) else None
        return None

    def add_labelled(self, target: str, estimates: Estimates) -> bool:
        """Add a sample known to be a look at ``target``; False if it had no usable head pose."""
        if target not in self._samples:
            raise ValueError(f"{target!r} is not a target of this session ({', '.join(self.targets)})")
        ray = None if estimates.head is None else self._geom.head_ray(estimates.head)
        if ray is None:
            return False
        origin, _, head_angles = ray
        to_target = self.layout.zone(target).target_mm(origin) - origin
        self._samples[target].append((np.array(head_angles), np.array(direction_to_angles(to_target))))
        return True

    def counts(self) -> dict[str, int]:
        return {t: len(s) for t, s in self._samples.items()}

    def fit(self, driver_id: str, min_samples: int = 10) -> DriverCalibration:
        short = {t: n for t, n in self.counts().items() if n < min_samples}
        if short:
            raise ValueError(f"too few samples for targets {short} (need {min_samples} each): "
                             "repeat those targets with the face visible")
        names = list(self.targets)
        head = np.array([np.median([h for h, _ in self._samples[t]], axis=0) for t in names])
        target = np.array([np.median([g for _, g in self._samples[t]], axis=0) for t in names])
        default = self.layout.driver_model
        gains, offsets = [default.yaw_gain, default.pitch_gain], [default.yaw_offset_deg, default.pitch_offset_deg]
        for axis, label in ((0, "yaw"), (1, "pitch")):
            x, y = head[:, axis], target[:, axis]
            if np.ptp(y) >= MIN_SPREAD_DEG and len(names) >= 2:
                gain, offset = np.polyfit(x, y, 1)
                if not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
                    raise ValueError(f"fitted {label} gain {gain:.2f} is implausible (allowed {GAIN_RANGE}): "
                                     "the driver did not look at the prompted targets, or the layout is wrong")
                gains[axis], offsets[axis] = float(gain), float(offset)
            else:  # not enough spread on this axis: keep the default gain, fit the offset only
                offsets[axis] = float(np.mean(y - gains[axis] * x))
        model = HeadGazeModel(gains[0], gains[1], offsets[0], offsets[1])
        cal = DriverCalibration(driver_id, self.layout.name, model,
                                {t: TargetFit(len(self._samples[t]), (float(head[i, 0]), float(head[i, 1])),
                                              (float(target[i, 0]), float(target[i, 1])), 0.0, 0.0)
                                 for i, t in enumerate(names)})
        # score both sides as the runtime maps head to gaze: the stage without a calibration uses the
        # layout's default model and its corrections, with one the fitted model and its corrections
        # (scoring the latter by its linear part alone made a good calibration look worse); imported
        # here because the stage imports this module
        from monitor.gaze.stage import GazeStateConfig, GazeStateStage
        default = GazeStateStage(self.layout).classifier.gaze_angles
        calibrated = GazeStateStage(self.layout, cal).classifier.gaze_angles
        linear = GazeStateStage(self.layout, cal, GazeStateConfig(per_target_corrections=False)).classifier.gaze_angles
        for t, fit in cal.targets.items():
            fit.residual_default_deg = _angle_err(default(fit.head_deg), np.array(fit.target_deg))
            fit.residual_deg = _angle_err(calibrated(fit.head_deg), np.array(fit.target_deg))
            samples = self._samples[t]
            fit.frames_default_deg, fit.frames_deg, fit.frames_linear_deg = (
                float(np.sqrt(np.mean([_angle_err(gaze((float(h[0]), float(h[1]))), g) ** 2 for h, g in samples])))
                for gaze in (default, calibrated, linear))
        return cal


def _angle_err(gaze: tuple[float, float], target: np.ndarray) -> float:
    g = angles_to_direction(gaze[0], gaze[1])
    t = angles_to_direction(target[0], target[1])
    return float(np.degrees(np.arccos(np.clip(g @ t, -1.0, 1.0))))


def _r(x: tuple[float, ...]) -> list[float]:
    return [round(float(v), 3) for v in x]

"""The synthetic cabin as a cabin-layout file (format "dms-cabin-layout" v1, docs/cabin_layout.md
on main), so the gaze stage can use exactly the geometry the generator renders.

    python -m synth.layout --out synthetic_cabin.json --camera d435 --mount dashboard --seed 0

Camera pose and intrinsics are those of ``Scene(seed, camera, mount, jitter=...)`` (no jitter by
default: the nominal mount); the nominal head is the eye-corner centre of that scene's driver looking
ahead; zones are the six AutoPOSE targets of synth/cabin.py (the road as a direction). The head-to-gaze
model is fitted by least squares to the generator's own glances (``gaze = offset + gain * head``,
car-frame azimuth/elevation), because the synthetic drivers turn the head only part of the way, with
per-target corrections (the average driver's share differs per target).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from synth.cabin import GAZE_TARGETS, GAZE_ZONES


def _angles(v: np.ndarray) -> tuple[float, float]:
    """Car-frame azimuth (right +) and elevation (down +), degrees."""
    return (float(np.degrees(np.arctan2(v[0], v[2]))),
            float(np.degrees(np.arctan2(v[1], np.hypot(v[0], v[2])))))


def fit_driver_model(seeds: tuple[int, ...] = (0, 1, 2, 3)) -> dict[str, Any]:
    """gaze angle = offset + gain * head angle per axis, over the dwell frames of 'gaze' scenes,
    and per target the median head direction and what the linear model still misses there
    (``corrections``): the generator's head share differs per target (0.35-0.8, behaviour.py), so
    one gain cannot fit the media centre and the mirrors at once."""
    from synth.scene import Scene

    head, gaze, target = [], [], []
    for seed in seeds:
        s = Scene(seed=seed, scenario="gaze", width=64, height=48, passenger=False)
        for fx in s.timeline.fixations[1:]:
            if fx.leave_s > 1e8:
                continue
            for t in np.linspace(fx.arrive_s + 0.3, fx.leave_s, 4):
                pose, _ = s.timeline.sample(float(t))
                body = s.occupant.pose(pose)
                head.append(_angles(body.head_rotation @ np.array([0, 0, -1.0])))
                gaze.append(_angles(body.gaze_dir))
                target.append(fx.target)
    h, g, target = np.array(head), np.array(gaze), np.array(target)
    out: dict[str, Any] = {}
    fitted = np.zeros_like(g)
    for axis, name in ((0, "yaw"), (1, "pitch")):
        a = np.stack([np.ones(len(h)), h[:, axis]], axis=1)
        (off, gain), *_ = np.linalg.lstsq(a, g[:, axis], rcond=None)
        out[f"{name}_gain"] = round(float(gain), 3)
        out[f"{name}_offset_deg"] = round(float(off), 3)
    for axis, name in ((0, "yaw"), (1, "pitch")):  # with the rounded coefficients the file will hold
        fitted[:, axis] = out[f"{name}_offset_deg"] + out[f"{name}_gain"] * h[:, axis]
    corrections = [{"zone": str(z), "head_deg": np.round(np.median(h[target == z], axis=0), 3).tolist(),
                    "correction_deg": np.round(np.median((g - fitted)[target == z], axis=0), 3).tolist()}
                   for z in GAZE_ZONES if np.any(target == z)]
    return {"yaw_gain": out["yaw_gain"], "pitch_gain": out["pitch_gain"],
            "yaw_offset_deg": out["yaw_offset_deg"], "pitch_offset_deg": out["pitch_offset_deg"],
            "corrections": corrections}


def layout_dict(camera: str = "d435", mount: str = "dashboard", seed: int = 0, jitter: bool = False,
                driver_model: dict[str, Any] | None = None) -> dict[str, Any]:
    from synth.occupant import Pose
    from synth.scene import Scene

    s = Scene(seed=seed, camera=camera, mount=mount, jitter=jitter, passenger=False)
    neutral = s.occupant.pose(Pose(wrist_left=np.zeros(3), wrist_right=np.zeros(3)))
    head = neutral.head_center
    zones = []
    for name in GAZE_ZONES:
        t = GAZE_TARGETS[name]
        if name == "road":
            d = np.asarray(t.center_mm) - head
            half = float(np.degrees(np.arctan(0.5 * min(t.size_mm) / np.linalg.norm(d))))
            zones.append({"name": name, "kind": "direction", "direction": np.round(d / np.linalg.norm(d), 6).tolist(),
                          "half_angle_deg": round(max(half, 4.0), 2), "description": "the road ahead"})
        else:
            zones.append({"name": name, "kind": "rect", "center_mm": list(t.center_mm), "size_mm": list(t.size_mm),
                          "normal": list(t.normal)})
    return {
        "format": "dms-cabin-layout", "version": 1, "name": "synthetic_cabin",
        "description": f"Cabin of the synthetic scenes (synth/cabin.py), camera {camera} at the {mount} mount "
                       f"(seed {seed}, jitter {'on' if jitter else 'off'}); written by python -m synth.layout.",
        "units": "mm",
        "car_frame": "x right, y down, z forward (driving direction); origin at the driver's seat reference point",
        "camera": {"name": "ir", "intrinsics": s.intrinsics.to_dict(),
                   "pose": {"position_mm": np.round(s.camera_pose.position_mm, 3).tolist(),
                            "rotation": np.round(s.camera_pose.rotation, 9).tolist()}},
        "nominal_head_mm": np.round(head, 3).tolist(),
        "driver_model": driver_model or fit_driver_model(),
        "road_zones": ["road"],
        "zones": zones,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the synthetic cabin as a dms-cabin-layout JSON file.")
    ap.add_argument("--out", required=True)
    ap.add_argument("--camera", default="d435")
    ap.add_argument("--mount", default="dashboard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", action="store_true", help="use the seed's jittered mount instead of the nominal one")
    a = ap.parse_args(argv)
    d = layout_dict(a.camera, a.mount, a.seed, a.jitter)
    Path(a.out).write_text(json.dumps(d, indent=2) + "\n")
    print(f"wrote {a.out}: driver_model {d['driver_model']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

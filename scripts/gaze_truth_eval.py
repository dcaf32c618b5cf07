#!/usr/bin/env python3
"""Gaze stage on synthetic sequences with the head pose taken from the truth (no rendering, no model).

The upper bound of the full pipeline: the same scenes (seed, mount, scenario), the same stage,
the same evaluation (monitor/gaze/evaluate_run.py) as `run_monitor.py --source synthetic:...`,
but the head pose is the generator's exact one, optionally with Gaussian error per Euler axis
(``--noise-deg``, white: a model's errors are correlated in time, which smoothing helps less).

    python scripts/gaze_truth_eval.py --seeds 100-104 --mounts dashboard,mirror,pillar --scenarios drive,vats,activities
    python scripts/gaze_truth_eval.py --seeds 100-104 --head-share 0.6 --calibrate   # lizard drivers

``--head-model ONNX`` renders every frame and replaces the truth rotation by the head-pose model's
estimate (with test-time flip, as the runtime) on the crop at the truth head centre and distance
(the model with perfect localisation;
needs monitor/estimator/head_crop.py from the models work); the position stays the truth's.

``--head-share F`` scales every glance's head share by F (a "lizard" driver turns the head less
than the synthetic drivers the layout's model was fitted to); ``--calibrate`` then runs a
per-driver calibration on the same driver's "gaze" scene (truth-labelled dwell frames, same
seat, mount and noise) and reports default and calibrated figures side by side.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calib.driver_calibration import CalibrationSession  # noqa: E402
from calib.layout import DEFAULT_LAYOUT, CameraPose, load_layout  # noqa: E402
from monitor.estimates import Estimates, HeadPose  # noqa: E402
from monitor.gaze import GazeStateStage  # noqa: E402
from monitor.gaze.evaluate_run import evaluate_gaze, format_pooled_details, format_report, pooled  # noqa: E402
from monitor.gaze.stage import DEFAULT_GAZE_SCORING, GAZE_SCORINGS, gaze_state_config  # noqa: E402
from monitor.geometry import euler_to_matrix, matrix_to_euler  # noqa: E402


class HeadModel:
    """The head-pose ONNX model on the crop at a known head centre and distance."""

    def __init__(self, path: str) -> None:
        from monitor.estimator.session import OnnxModel
        self.model = OnnxModel(path, ["CPUExecutionProvider"])
        c = self.model.contract
        self.modality, self.size, self.norm = c.modality, c.height, dict(c.normalisation)
        self.extent = float(c.raw.get("crop", {}).get("extent_mm", 320.0))
        self.order = tuple(c.outputs[0].get("order", ("yaw", "pitch", "roll")))

    def angles(self, frameset, pos_mm: np.ndarray) -> tuple[float, float, float] | None:
        from monitor.estimator.head_crop import flip_test_angles, flip_test_input, head_input
        from monitor.geometry import project
        k = frameset.intrinsics[self.modality]
        uv = project(pos_mm, k.fx, k.fy, k.cx, k.cy)
        made = head_input(frameset.images[self.modality], (float(uv[0]), float(uv[1])), float(pos_mm[2]),
                          k.fx, k.fy, self.norm, self.size, self.extent, frameset.depth_unit_mm)
        if made is None:
            return None
        # with test-time flip, as the runtime runs the head model by default
        out = flip_test_angles(next(iter(self.model.run(flip_test_input(made[0])).values())), self.order)
        d = dict(zip(self.order, (float(a) for a in out)))
        return d["yaw"], d["pitch"], d["roll"]


def scene_frames(seed: int, mount: str, scenario: str, head_share: float, noise_deg: float,
                 model: HeadModel | None = None):
    """(camera pose, [(t_s, HeadPose or None, truth zone)], scripted episodes) of one scene."""
    from synth.scene import Scene
    size = {} if model else {"width": 64, "height": 48}  # truth poses need no real render
    s = Scene(seed=seed, scenario=scenario, mount=mount, passenger=False, **size)
    if head_share != 1.0:
        s.timeline.fixations = [replace(f, head_share=f.head_share * head_share) for f in s.timeline.fixations]
    cam = CameraPose(s.camera_pose.rotation, s.camera_pose.position_mm)
    rng = np.random.default_rng([7, seed, len(scenario)])
    episodes = [e.to_json() for e in s.timeline.episodes]
    frames = []
    for i in range(len(s)):
        t = i / s.fps
        pose, info = s.timeline.sample(t)
        body = s.occupant.pose(pose)
        rot = s.r_cam_car @ body.head_rotation
        pos = s.r_cam_car @ body.head_center + s.t_cam_car
        if model is not None:
            ypr = model.angles(s.frameset(i), pos)
            if ypr is None:
                frames.append((t, None, info["zone"]))
                continue
            rot = euler_to_matrix(*ypr)
        if noise_deg:
            ypr = np.array(matrix_to_euler(rot)) + rng.normal(0, noise_deg, 3)
            rot = euler_to_matrix(*ypr)
        y, p, r = matrix_to_euler(rot)
        frames.append((t, HeadPose(y, p, r, rot, pos, (0.0, 0.0), (0.0, 0.0, 1.0, 1.0)), info["zone"]))
    return cam, frames, episodes


def run_stage(layout, cam, frames, episodes, calibration=None, scoring=DEFAULT_GAZE_SCORING):
    stage = GazeStateStage(layout, calibration, gaze_state_config(scoring))
    stage.set_camera_pose(cam)
    records, events = [], []
    for t, head, zone in frames:
        g, _, ev = stage.process(Estimates(head), t)  # head None: not found
        records.append({"device_ts_ms": t * 1000.0, "gaze": g.to_json(),
                        "truth": {"time_s": t, "gaze_zone": zone, "episodes": episodes}})
        events += [e.to_json() for e in ev]
    return evaluate_gaze(records, events, layout.road_zones)


def calibrate(layout, seed, mount, head_share, noise_deg, model=None):
    cam, frames, _ = scene_frames(seed, mount, "gaze", head_share, noise_deg, model)
    session = CalibrationSession(layout.with_camera_pose(cam))
    arrived: dict[str, float] = {}
    prev = None
    for t, head, zone in frames:
        if zone != prev:
            arrived[str(zone)] = t
            prev = zone
        if zone is not None and head is not None and t - arrived[zone] >= 0.3:  # settled on the target
            session.add_labelled(zone, Estimates(head))
    return session.fit(f"seed{seed}")


def _ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100-104")
    ap.add_argument("--mounts", default="dashboard")
    ap.add_argument("--scenarios", default="drive,vats,activities")
    ap.add_argument("--noise-deg", type=float, default=0.0)
    ap.add_argument("--head-share", type=float, default=1.0, metavar="F",
                    help="scale every glance's head share by F (0.6: a 'lizard' driver who turns the head less; "
                         "not to be confused with --gaze-scoring head-space)")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--gaze-scoring", choices=GAZE_SCORINGS, default=DEFAULT_GAZE_SCORING,
                    help="how the head-only gaze is scored (run_monitor.py --gaze-scoring; default: %(default)s)")
    ap.add_argument("--head-model", help="head-pose ONNX model run on the crop at the truth head centre")
    ap.add_argument("--layout", default=str(DEFAULT_LAYOUT))
    ap.add_argument("--verbose", action="store_true", help="one report per sequence")
    a = ap.parse_args(argv)
    layout = load_layout(a.layout)
    model = HeadModel(a.head_model) if a.head_model else None
    plain, tuned = [], []
    for seed in _ints(a.seeds):
        for mount in a.mounts.split(","):
            cal = None
            if a.calibrate:
                cal = calibrate(layout, seed, mount, a.head_share, a.noise_deg, model)
                m = cal.model
                print(f"seed {seed} {mount}: calibrated gains {m.yaw_gain:.2f} / {m.pitch_gain:.2f} "
                      f"(default {layout.driver_model.yaw_gain:.2f} / {layout.driver_model.pitch_gain:.2f}), "
                      f"gaze RMS over the session's frames {cal.frames_rms('default'):.1f} -> "
                      f"{cal.frames_rms('calibrated'):.1f} deg")
            for scenario in a.scenarios.split(","):
                cam, frames, episodes = scene_frames(seed, mount, scenario, a.head_share, a.noise_deg, model)
                r = run_stage(layout, cam, frames, episodes, scoring=a.gaze_scoring)
                plain.append(r)
                if a.verbose:
                    print(format_report(f"seed {seed} {mount} {scenario}", r))
                if cal is not None:
                    rc = run_stage(layout, cam, frames, episodes, cal, a.gaze_scoring)
                    tuned.append(rc)
                    if a.verbose:
                        print(format_report(f"seed {seed} {mount} {scenario} calibrated", rc))
    for name, results in (("default model", plain), ("calibrated", tuned)):
        if not results:
            continue
        total = pooled(results)
        source = f"model {a.head_model} on truth crops" if model else "truth"
        print(f"\n{name}: head pose from {source}, noise {a.noise_deg} deg/axis, head share x{a.head_share}: "
              f"dwell accuracy {total['dwell_accuracy']} on {total['dwell_frames']} frames, "
              f"all labelled {total['labelled_accuracy']} ({total['runs']} sequences)")
        print(format_pooled_details(total))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

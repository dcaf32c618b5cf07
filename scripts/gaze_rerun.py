#!/usr/bin/env python3
"""Re-run the gaze/state stage offline on the estimates a pipeline run saved, and evaluate it.

A run's ``results.jsonl`` keeps every frame's estimates (head pose, body joints) and the truth, so
gaze-zone and driver-state logic can be changed and measured in seconds, without rendering or
models again. The stage is the pipeline's own (monitor/gaze/stage.py) fed the same estimates at
the same device times, the camera pose the synthetic source stated (truth.camera.extrinsics);
the evaluation is monitor/gaze/evaluate_run.py's. Nothing in the run folders is changed. The
layout and calibration are the ones given here (default: the synthetic cabin, none), not read back
from the run; the distraction thresholds and the gaze scoring are the run's own (summary.json
run.distraction, run.gaze_scoring).

    python scripts/gaze_rerun.py runs/g_*                      # the stage as shipped
    python scripts/gaze_rerun.py runs/g_* --no-road-ahead      # without road-ahead auto-calibration
    python scripts/gaze_rerun.py runs/g_* --driver-calibration driver.json
    python scripts/gaze_rerun.py runs/g_* --gaze-scoring head-space   # score the head in head angles
    python scripts/gaze_rerun.py runs/g_* --cover-hold 0       # follow the head pose through a covered face
    python scripts/gaze_rerun.py runs/g_* --eye-view none      # the eyes count at every view angle
    python scripts/gaze_rerun.py runs/g_* --head-space-scatter-ref 0   # a fixed threshold for "other"
    python scripts/gaze_rerun.py runs/g_* --hand-at-head 0     # only the face-cover model holds the pose
    python scripts/gaze_rerun.py runs/g_* --warmup-replay 0    # the first seconds' timers stand as counted
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calib.driver_calibration import DriverCalibration  # noqa: E402
from calib.layout import DEFAULT_LAYOUT, CameraPose, load_layout  # noqa: E402
from monitor.gaze import GazeStateStage  # noqa: E402
from monitor.gaze.evaluate_run import (distraction_config_of, evaluate_gaze,  # noqa: E402
                                       format_pooled_details, format_pooled_line, format_report, pooled,
                                       read_jsonl)
from monitor.gaze.stage import GAZE_SCORINGS, GazeStateConfig, gaze_state_config  # noqa: E402
from monitor.gaze.state import DistractionConfig  # noqa: E402
from monitor.validate import estimates_from_meta  # noqa: E402
from monitor.wire import WireError  # noqa: E402


def rerun(records: list[dict[str, Any]], stage: GazeStateStage) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records with the new gaze/state, the new events) for one run's results.jsonl lines;
    ``stage`` must be fresh (a new one per run: reset() keeps the camera pose)."""
    pose = None
    out, events = [], []
    for r in records:
        extr = ((r.get("truth") or {}).get("camera") or {}).get("extrinsics")
        if extr is not None and extr != pose:
            stage.set_camera_pose(CameraPose.from_dict(extr))
            pose = extr
        try:
            estimates = estimates_from_meta({"estimates": r.get("estimates")})
        except WireError:
            continue  # the gaze worker drops such a message before the stage sees it
        gaze, state, new_events = stage.process(estimates, r["device_ts_ms"] / 1000.0)
        out.append({**r, "gaze": gaze.to_json(), "state": state.to_json()})
        events += [e.to_json() for e in new_events]
    return out, events


def stage_config(a: argparse.Namespace, scoring: str, thresholds: DistractionConfig) -> GazeStateConfig:
    """The stage settings of ``scoring`` with the run's thresholds and the options' overrides."""
    config = gaze_state_config(scoring, thresholds)
    if a.no_road_ahead:
        config = replace(config, road_ahead=replace(config.road_ahead, enabled=False))
    if a.no_eyes_hidden_fallback:
        config = replace(config, eyes_hidden_fallback=False)
    if a.eye_weight is not None:
        config = replace(config, eye_weight=a.eye_weight)
    if a.head_spread is not None:
        config = replace(config, head_spread_deg=a.head_spread or None)
    if a.cover_hold is not None:
        config = replace(config, cover_hold_s=a.cover_hold)
    if a.eye_view is not None:
        config = replace(config, eye_view_deg=a.eye_view or None)
    if a.hand_at_head is not None:
        config = replace(config, hand_at_head_mm=a.hand_at_head or None)
    if a.warmup_replay is not None:
        config = replace(config, warmup_replay_s=a.warmup_replay)
    overrides = head_space_options(a)
    return replace(config, head_space=replace(config.head_space, **overrides)) if overrides else config


def head_space_options(a: argparse.Namespace) -> dict[str, float | None]:
    """The HeadSpaceConfig fields the --head-space-* options set (--head-space-scatter-ref 0: None, off)."""
    options = {name: value for name, value in (("noise_deg", a.head_space_noise), ("share_spread", a.head_space_spread),
                                               ("other_sigmas", a.head_space_other)) if value is not None}
    if a.head_space_scatter_ref is not None:
        options["scatter_ref_deg"] = a.head_space_scatter_ref or None
    return options


def eye_view(text: str) -> tuple[float, float] | tuple[()]:
    """--eye-view FULL,ZERO (degrees, 0 <= FULL <= ZERO <= 180) or 'none' (an empty tuple)."""
    if text.strip().lower() == "none":
        return ()
    try:
        full, zero = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FULL,ZERO in degrees or 'none', got {text!r}") from None
    if not 0.0 <= full <= zero <= 180.0:
        raise argparse.ArgumentTypeError(f"need 0 <= FULL <= ZERO <= 180, got {text!r}")
    return full, zero


def number(low: float, high: float = math.inf, strict: bool = False):
    """An argparse type: a finite number in [low, high] (above low with ``strict``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (strict and value == low):
            bound = f"above {low:g}" if strict else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} must be a finite number {bound}"
                                             + (f" and at most {high:g}" if math.isfinite(high) else ""))
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (with results.jsonl from a synthetic source)")
    ap.add_argument("--layout", default=str(DEFAULT_LAYOUT), help="cabin layout (default: the synthetic cabin)")
    ap.add_argument("--driver-calibration", help="per-driver calibration JSON to classify with")
    ap.add_argument("--no-road-ahead", action="store_true", help="turn road-ahead auto-calibration off")
    ap.add_argument("--eye-weight", type=number(0.0, 1.0), default=None,
                    help="weight of the eye-gaze ray against the head-only gaze, 0-1 (runs made with --eye-model; "
                         "default: GazeStateConfig's)")
    ap.add_argument("--head-spread", type=number(0.0), default=None,
                    help="head-only gaze's expected per-axis error (deg) for eye models with a spread output: the eye "
                         "weight is scaled by head^2 / (head^2 + eye spread^2); 0 turns that off (default: the "
                         "scoring's, off for ray, 12 for head-space)")
    ap.add_argument("--no-eyes-hidden-fallback", action="store_true",
                    help="ignore the eye locator's P(eyes hidden) (default: the eye weight is scaled by 1 - P)")
    ap.add_argument("--eye-view", type=eye_view, default=None, metavar="FULL,ZERO",
                    help="scale the eye weight by how squarely the camera sees the eyes: 1 while the face is turned less "
                         "than FULL deg from the camera, 0 from ZERO deg on, linear in between (a step when equal); "
                         "'none' turns it off (default: the scoring's: 45,45 for head-space, none for ray)")
    ap.add_argument("--cover-hold", type=number(0.0), default=None, metavar="S",
                    help="while the face-cover model says a hand covers the face, classify with the last uncovered "
                         "head pose for up to S seconds (runs made with a --cover-model; 0 turns it off; default: "
                         "GazeStateConfig's, 3)")
    ap.add_argument("--hand-at-head", type=number(0.0), default=None, metavar="MM",
                    help="hold the pose as for a covered face while a body-model hand lies within MM of the head "
                         "centre (0 turns it off; default: GazeStateConfig's, 200)")
    ap.add_argument("--warmup-replay", type=number(0.0), default=None, metavar="S",
                    help="re-run the timers over the frames before the first road-ahead offset when it comes "
                         "within S s (0: off; default: the stage's own)")
    ap.add_argument("--gaze-scoring", choices=GAZE_SCORINGS, default=None,
                    help="how the head-only gaze is scored (run_monitor.py --gaze-scoring; default: the run's own, "
                         "summary.json run.gaze_scoring); the options above and below apply on top")
    ap.add_argument("--head-space-noise", type=number(0.0, strict=True), default=None, metavar="DEG",
                    help="head-space scoring: the head-pose error across a glance (HeadSpaceConfig.noise_deg)")
    ap.add_argument("--head-space-spread", type=number(0.0), default=None, metavar="K",
                    help="head-space scoring: relative spread of the head share (HeadSpaceConfig.share_spread)")
    ap.add_argument("--head-space-other", type=number(0.0, strict=True), default=None, metavar="SIGMAS",
                    help="head-space scoring: the score of 'other', in sigmas (HeadSpaceConfig.other_sigmas)")
    ap.add_argument("--head-space-scatter-ref", type=number(0.0), default=None, metavar="DEG",
                    help="head-space scoring: 'other' needs proportionally more where the road-ahead scatter "
                         "exceeds DEG (HeadSpaceConfig.scatter_ref_deg; 0 turns it off; default: the scoring's, 1)")
    a = ap.parse_args(argv)
    layout = load_layout(a.layout)
    calibration = DriverCalibration.load(a.driver_calibration) if a.driver_calibration else None
    results = []
    for run in a.runs:
        records = read_jsonl(run / "results.jsonl")
        if not records:
            print(f"{run}: no results.jsonl lines", file=sys.stderr)
            continue
        summary_path = run / "summary.json"
        run_info = (json.loads(summary_path.read_text()).get("run") or {}) if summary_path.exists() else {}
        thresholds = distraction_config_of(run_info)  # as the run was made (--long-distraction-s ...)
        # runs made before summary.json recorded the scoring were all scored with the ray (it was the
        # only one then), whatever the default is now
        scoring = a.gaze_scoring or run_info.get("gaze_scoring") or "ray"
        if scoring not in GAZE_SCORINGS:
            print(f"error: {run}: summary.json names an unknown gaze scoring {scoring!r}; pass --gaze-scoring",
                  file=sys.stderr)
            return 2
        if scoring != "head-space" and head_space_options(a):
            print(f"error: {run} was scored with {scoring!r}: --head-space-* options need --gaze-scoring head-space",
                  file=sys.stderr)
            return 2
        config = stage_config(a, scoring, thresholds)
        new_records, events = rerun(records, GazeStateStage(layout, calibration, config))
        result = evaluate_gaze(new_records, events, layout.road_zones, config=thresholds)
        if not result:
            print(f"{run}: no gaze truth in results.jsonl", file=sys.stderr)
            continue
        results.append(result)
        print(format_report(str(run), result))
    if not results:
        return 1
    total = pooled(results)
    print(format_pooled_line(total))
    print(format_pooled_details(total))
    return 0


if __name__ == "__main__":
    sys.exit(main())

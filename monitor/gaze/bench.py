"""Per-frame cost of the gaze/state stage: python -m monitor.gaze.bench [--frames N] [--layout PATH].

Prints the mean and p99 time of GazeStateStage.process on constructed head poses (no model;
``--gaze-scoring`` picks the head-only scoring, as run_monitor.py's option does), and
with --noise-sweep the raw per-frame zone accuracy of an ideal driver (looking at each zone centre
and turning the head exactly as the layout's driver model assumes, 30 mm seat jitter) against the
head-pose error per axis, i.e. how accurate the estimator must be for a given layout. Its last line
times the first 10 s of a drive: the frame the first road-ahead offset comes on is the slow one, because
the stage classifies every frame before it again (GazeStateConfig.warmup_replay_s).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from calib.layout import DEFAULT_LAYOUT, load_layout
from monitor.estimates import Estimates, HeadPose
from monitor.gaze.ray import angles_to_direction, head_rotation_facing
from monitor.gaze.stage import DEFAULT_GAZE_SCORING, GAZE_SCORINGS, GazeStateStage, gaze_state_config



def head_pose_facing(cam, azimuth_deg: float, elevation_deg: float, head_car_mm: np.ndarray) -> HeadPose:
    """A head pose as the estimator reports it (camera frame) for a head at ``head_car_mm`` facing
    (azimuth, elevation) in the car frame."""
    r = cam.rotation.T @ head_rotation_facing(angles_to_direction(azimuth_deg, elevation_deg))
    return HeadPose(0.0, 0.0, 0.0, r, cam.to_camera(head_car_mm), (0.0, 0.0), (0.0, 0.0, 1.0, 1.0))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5000)
    ap.add_argument("--layout", default=str(DEFAULT_LAYOUT))
    ap.add_argument("--noise-sweep", action="store_true")
    ap.add_argument("--gaze-scoring", choices=GAZE_SCORINGS, default=DEFAULT_GAZE_SCORING,
                    help="how the head-only gaze is scored (run_monitor.py --gaze-scoring; default: %(default)s)")
    a = ap.parse_args(argv)
    layout = load_layout(a.layout)
    if a.noise_sweep:
        noise_sweep(layout, a.gaze_scoring)
    cam = layout.camera_pose
    rng = np.random.default_rng(0)
    inputs = []
    for _ in range(a.frames):
        az, el = rng.uniform([-60, -15], [60, 25])
        inputs.append(Estimates(head_pose_facing(cam, az, el, layout.nominal_head_mm + rng.normal(0, 20, 3))))
    stage = GazeStateStage(layout, config=gaze_state_config(a.gaze_scoring))
    times = np.empty(a.frames)
    for i, est in enumerate(inputs):
        t0 = time.perf_counter_ns()
        stage.process(est, i / 30.0)
        times[i] = (time.perf_counter_ns() - t0) / 1000.0
    print(f"GazeStateStage.process ({a.gaze_scoring} scoring) over {a.frames} frames, {len(layout.zones)} zones: "
          f"mean {times.mean():.1f} us, p50 {np.percentile(times, 50):.1f} us, p99 {np.percentile(times, 99):.1f} us")
    warmup_cost(layout, a.gaze_scoring)


def warmup_cost(layout, scoring: str, seconds: float = 10.0) -> None:
    """The one slow frame of a drive: the one the first road-ahead offset comes on, when the stage classifies
    the frames before it again (GazeStateConfig.warmup_replay_s). A driver on the road, read 7 deg high."""
    cam = layout.camera_pose
    rng = np.random.default_rng(2)
    stage = GazeStateStage(layout, config=gaze_state_config(scoring))
    road = np.array(stage.classifier.road_head_angles()) + (0.0, 7.0)
    times, first = [], None
    for i in range(int(seconds * 30)):
        az, el = road + rng.normal(0, 1.0, 2)
        pose = head_pose_facing(cam, az, el, layout.nominal_head_mm)
        t0 = time.perf_counter_ns()
        stage.process(Estimates(pose), i / 30.0)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
        if first is None and stage.road_ahead is not None and stage.road_ahead.ready:
            first = i
    if first is None:
        print(f"no road-ahead offset within the first {seconds:.0f} s (road-ahead calibration off?)")
        return
    print(f"first {seconds:.0f} s of a drive ({scoring} scoring): median {np.median(times):.1f} us; frame {first}, "
          f"where the road-ahead offset first comes and the {first} frames before it are classified again, "
          f"{times[first]:.0f} us")


def noise_sweep(layout, scoring: str = DEFAULT_GAZE_SCORING, per_zone: int = 500) -> None:
    from monitor.gaze.classifier import GazeZoneClassifier
    from monitor.gaze.ray import direction_to_angles
    clf = GazeZoneClassifier(layout)
    clf.use_head_space(gaze_state_config(scoring).head_space)
    cam = layout.camera_pose
    for noise in (0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0):
        rng = np.random.default_rng(1)
        hits = 0
        for zone in layout.zones:
            for _ in range(per_zone):
                head = layout.nominal_head_mm + rng.normal(0, 30, 3)
                gaz, gel = direction_to_angles(zone.target_mm(head) - head)
                # the head angles this driver shows (inverse of gaze = offset + gain * head), measured with noise
                az, el = np.array(clf.head_angles_for((gaz, gel))) + rng.normal(0, noise, 2)
                pose = head_pose_facing(cam, az, el, head)
                hits += clf.classify(pose).zone == zone.name
        print(f"head-pose error {noise:3.1f} deg per axis ({scoring} scoring): raw zone accuracy {hits / (per_zone * len(layout.zones)):.3f}")


if __name__ == "__main__":
    main()

"""How well a cabin layout classifies the synthetic glances from the TRUE head pose.

    python -m synth.zone_check --layout calib/layouts/synthetic_cabin.json
    python -m synth.layout --out /tmp/synth_layout.json && python -m synth.zone_check --layout /tmp/synth_layout.json

Feeds the generator's exact head pose (no estimator) to the gaze-zone classifier of the runtime
(monitor/gaze, calib/layout.py) on the dwell frames of 'gaze' scenes, with each scene's own mount
pose, and prints the zone accuracy per target. It separates layout/model errors from estimator
errors. Needs calib/ and monitor/gaze/ (on main).
"""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Zone accuracy of a cabin layout on synthetic glances (true head pose).")
    ap.add_argument("--layout", required=True)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--camera", default="d435")
    ap.add_argument("--mount", default="dashboard")
    a = ap.parse_args(argv)

    from calib.layout import CameraPose, load_layout
    from monitor.estimates import HeadPose
    from monitor.gaze.classifier import GazeZoneClassifier
    from synth.scene import Scene

    clf = GazeZoneClassifier(load_layout(a.layout))
    per: dict[str, list[int]] = {}
    for seed in range(a.seeds):
        s = Scene(seed=seed, scenario="gaze", camera=a.camera, mount=a.mount, width=212, height=120)
        clf.camera = CameraPose(s.camera_pose.rotation, s.camera_pose.position_mm)  # the stream's mount pose
        for i in range(0, len(s), 3):
            pose, info = s.timeline.sample(i / s.fps)
            if info["zone"] is None:  # in transit
                continue
            body = s.occupant.pose(pose)
            head = HeadPose(0.0, 0.0, 0.0, s.r_cam_car @ body.head_rotation,
                            s.r_cam_car @ body.head_center + s.t_cam_car, (0.0, 0.0), (0.0, 0.0, 0.0, 0.0))
            hit = per.setdefault(info["zone"], [0, 0])
            hit[0] += clf.classify(head).zone == info["zone"]
            hit[1] += 1
    ok, n = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
    print(f"{a.layout}: zone accuracy from the true head pose {ok}/{n} = {ok / n:.3f}")
    for zone, (k, m) in sorted(per.items()):
        print(f"  {zone:13s} {k / m:.2f} ({m} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

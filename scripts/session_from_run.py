#!/usr/bin/env python3
"""A per-driver calibration session from a pipeline run on a synthetic scene (truth = the prompts).

    python run_monitor.py --source synthetic:seed=S,scenario=gaze,mount=M --fast --out runs/cal_S ...
    python scripts/session_from_run.py runs/cal_S --session cal_S.jsonl --layout-out cal_S_layout.json
    python -m calib driver-calibrate --layout cal_S_layout.json --session cal_S.jsonl --driver S --out-dir drivers
    python run_monitor.py --source synthetic:seed=S,scenario=drive,mount=M --driver-calibration drivers/S.json ...

Writes one session line (`{"t_s", "target", "estimates"}`, the format of `calib driver-calibrate`)
per frame on which the truth says the driver has been looking at a zone for at least ``--settle``
seconds (the AutoPOSE protocol's prompts, with the model's estimates), and the synthetic cabin
layout with that scene's camera mount (the estimates are in that camera's frame).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calib.layout import DEFAULT_LAYOUT, CameraPose, load_layout  # noqa: E402
from monitor.gaze.evaluate_run import read_jsonl, truth_zone  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--session", required=True, type=Path)
    ap.add_argument("--layout-out", required=True, type=Path)
    ap.add_argument("--layout", default=str(DEFAULT_LAYOUT))
    ap.add_argument("--settle", type=float, default=0.3)
    a = ap.parse_args(argv)
    records = [r for r in read_jsonl(a.run / "results.jsonl") if r.get("truth")]
    if not records:
        print(f"error: {a.run}/results.jsonl has no frames with truth", file=sys.stderr)
        return 2
    ext = records[0]["truth"]["camera"]["extrinsics"]
    pose = CameraPose.from_dict(ext)
    load_layout(a.layout).with_camera_pose(pose).save(a.layout_out)
    lines, prev, arrived = [], None, 0.0
    for r in records:
        zone, t = truth_zone(r["truth"]), float(r["truth"]["time_s"])
        if zone != prev:
            prev, arrived = zone, t
        if zone is not None and r.get("estimates") and t - arrived >= a.settle:
            lines.append(json.dumps({"t_s": t, "target": zone, "estimates": r["estimates"]}))
    a.session.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.session} ({len(lines)} frames) and {a.layout_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

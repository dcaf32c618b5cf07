"""Command line: python -m calib <command> --help."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from calib.files import read_json, read_text, write_outputs


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _pattern(s: str) -> tuple[int, int]:
    try:
        c, r = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"pattern must look like 9x6 (inner corners), got {s!r}") from None
    return c, r


def _intrinsics_arg(path: str):
    """An intrinsics JSON (as written by `calib intrinsics --out`) or a layout file."""
    from calib.layout import FORMAT, load_layout
    from monitor.frames import Intrinsics
    data = read_json(path, "intrinsics")
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return load_layout(path).intrinsics
    try:
        return Intrinsics.from_dict(data.get("intrinsics", data))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: no intrinsics (need width, height, fx, fy, cx, cy): {exc}") from None


def cmd_layout_check(a: argparse.Namespace) -> None:
    from calib.layout import load_layout
    from monitor.gaze.ray import direction_to_angles
    lay = load_layout(a.layout)
    c = lay.camera_pose.position_mm
    print(f"{a.layout}: layout {lay.name!r} is valid: {len(lay.zones)} zones, road zones {list(lay.road_zones)}")
    print(f"camera {lay.camera_name} {lay.intrinsics.width}x{lay.intrinsics.height} at ({c[0]:.0f}, {c[1]:.0f}, {c[2]:.0f}) mm")
    print("zone directions from the nominal head (azimuth right+, elevation down+):")
    for z in lay.zones:
        az, el = direction_to_angles(z.target_mm(lay.nominal_head_mm) - lay.nominal_head_mm)
        print(f"  {z.name:16s} {z.kind:9s} az {az:7.1f} deg  el {el:6.1f} deg")


def cmd_intrinsics(a: argparse.Namespace) -> None:
    from calib import intrinsics as ci
    if a.realsense or a.bag:
        intr = ci.realsense_intrinsics(a.bag, a.stream, width=a.width, height=a.height, fps=a.fps)
        print(f"RealSense factory intrinsics ({a.stream}): {intr.width}x{intr.height} fx={intr.fx:.2f} "
              f"fy={intr.fy:.2f} cx={intr.cx:.2f} cy={intr.cy:.2f} coeffs={list(intr.coeffs)}")
        report = {"source": "realsense" if not a.bag else str(a.bag)}
    else:
        if not a.images or not a.pattern or not a.square_mm:
            raise ValueError("give --images, --pattern and --square-mm (or --realsense / --bag)")
        res = ci.calibrate_from_files(a.images, a.pattern, a.square_mm, progress=_say)
        print(res.report())
        intr = res.intrinsics
        report = {"source": a.images, "rms_px": res.rms_px, "views": res.used, "rejected": res.rejected}
    if a.out:
        write_outputs([(a.out, _json_text({"intrinsics": intr.to_dict(), **report}), "--out")])
        print(f"wrote {a.out}")


def cmd_pnp(a: argparse.Namespace) -> None:
    from calib.layout import layout_from_dict, load_layout
    from calib.pnp import load_points, solve_camera_pose
    obj, img, names = load_points(a.points)
    intr = _intrinsics_arg(a.intrinsics)
    outside = [n for n, (u, v) in zip(names, img) if not (0 <= u < intr.width and 0 <= v < intr.height)]
    if outside:  # a typo, or pixels from another resolution than these intrinsics
        _say(f"warning: points {outside} lie outside the {intr.width}x{intr.height} image of these intrinsics")
    _say(f"solving PnP for {len(names)} points")
    res = solve_camera_pose(obj, img, intr, names)
    print(res.report())
    if a.layout:
        # edit the file's own JSON so its comments ('_' keys) and formatting choices survive
        load_layout(a.layout)
        data = json.loads(Path(a.layout).read_text())
        data["camera"]["pose"] = res.pose.to_dict()
        data["camera"]["intrinsics"] = intr.to_dict()  # the ones the pose was solved with
        layout_from_dict(data, a.layout)
        out = a.out or a.layout
        write_outputs([(out, _json_text(data), "--out")])
        print(f"wrote camera pose and intrinsics into {out}")
    elif a.out:
        write_outputs([(a.out, _json_text({"pose": res.pose.to_dict(), "rms_px": res.rms_px}), "--out")])
        print(f"wrote {a.out}")


def cmd_handeye(a: argparse.Namespace) -> None:
    from calib.handeye import hand_eye, load_views
    from calib.transforms import transform_to_json
    rig, tgt = load_views(a.views)
    _say(f"hand-eye (Tsai-Lenz) on {len(rig)} views")
    res = hand_eye(rig, tgt)
    print(res.report())
    if a.out:
        write_outputs([(a.out, _json_text({"camera_to_rig": transform_to_json(res.camera_to_rig),
                                           "rms_mm": res.rms_mm, "rms_deg": res.rms_deg}), "--out")])
        print(f"wrote {a.out}")


def cmd_head_frame(a: argparse.Namespace) -> None:
    from calib.head_frame import head_frame
    from monitor.geometry import matrix_to_euler
    data = read_json(a.landmarks, "landmarks")
    if isinstance(data, dict):  # a labels-file line, a synthetic label or its head object: head.landmarks_mm
        data = data["labels"] if isinstance(data.get("labels"), dict) else data  # {"frame": N, "labels": {...}}
        data = data.get("head", data) if isinstance(data.get("head"), dict) else data
        data = data.get("landmarks", data.get("landmarks_mm", data))
    try:
        hf = head_frame(data if isinstance(data, dict) else np.array(data, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{a.landmarks}: {exc}") from None
    yaw, pitch, roll = matrix_to_euler(hf.rotation)
    o = hf.origin_mm
    print(f"head centre ({o[0]:.2f}, {o[1]:.2f}, {o[2]:.2f}) mm; yaw {yaw:.2f} pitch {pitch:.2f} roll {roll:.2f} deg")
    print("rotation (columns = head x, y, z):")
    print(np.array2string(hf.rotation, precision=6, suppress_small=True))


def _json_text(data) -> str:
    return json.dumps(data, indent=2) + "\n"


def _session_lines(path: str) -> list[str]:
    """The lines of a calibration session file (JSON lines), or a one-line error naming it."""
    return read_text(path, "session", "JSON lines").splitlines()


def cmd_driver_calibrate(a: argparse.Namespace) -> None:
    from calib.driver_calibration import CalibrationSession, check_driver_id
    from calib.layout import load_layout
    from monitor.estimates import Estimates
    check_driver_id(a.driver)  # it names the output file: a path would write outside --out-dir
    if len(a.layout) not in (1, len(a.session)):
        raise ValueError(f"give one --layout for all sessions or one per session ({len(a.session)} sessions, "
                         f"{len(a.layout)} layouts)")
    layouts = [load_layout(p) for p in a.layout]
    cabin = ("nominal_head_mm", "driver_model", "scoring", "road_zones", "zones")  # all but the camera
    for path, lay in zip(a.layout[1:], layouts[1:]):
        if any(lay.to_dict()[k] != layouts[0].to_dict()[k] for k in cabin):
            raise ValueError(f"{path} describes another cabin than {a.layout[0]} (zones, head or gaze model "
                             "differ); pooled sessions may differ only in the camera pose")
    session = CalibrationSession(layouts[0], tuple(a.targets) if a.targets else None)
    n = 0
    for k, path in enumerate(a.session):
        session.set_camera_pose(layouts[min(k, len(layouts) - 1)].camera_pose)  # each session's own mount
        for i, line in enumerate(_session_lines(path), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                target, est = rec["target"], Estimates.from_json(rec["estimates"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: need {{'target': ..., 'estimates': ...}} ({exc})") from None
            if target in session.targets:
                n += session.add_labelled(target, est)
    _say(f"{n} usable samples: " + ", ".join(f"{k}={v}" for k, v in session.counts().items()))
    cal = session.fit(a.driver, min_samples=a.min_samples)
    out = Path(a.out_dir) / f"{a.driver}.json"
    outputs = [(out, _json_text(cal.to_json()), "--out-dir")]
    if a.layout_default:
        pooled = layouts[0].with_driver_model(cal.model, cal.target_corrections())
        pooled = replace(pooled, description=(pooled.description + " " if pooled.description else "") +
                         f"Default driver model: pooled fit '{a.driver}' of {len(a.session)} session(s) "
                         "(calib driver-calibrate --layout-default); refit it after changing the head model.")
        outputs.append((a.layout_default, _json_text(pooled.to_dict()), "--layout-default"))
    write_outputs(outputs, folders=((a.out_dir, "--out-dir"),))
    m = cal.model
    print(f"driver {a.driver}: yaw gain {m.yaw_gain:.3f} (offset {m.yaw_offset_deg:.2f} deg), "
          f"pitch gain {m.pitch_gain:.3f} (offset {m.pitch_offset_deg:.2f} deg)")
    # both sides as the runtime will map head to gaze, on this session's own samples
    print("gaze error on this session, as the runtime maps head to gaze (without calibration: the layout's "
          "default model and its corrections; with: this fit and its per-target corrections):")
    print(f"  over its {n} samples (RMS): without {cal.frames_rms('default'):.2f} deg -> with "
          f"{cal.frames_rms('calibrated'):.2f} deg (the fit's linear part alone: {cal.frames_rms('linear'):.2f} deg)")
    print(f"  at each target's median head direction (RMS over targets): without {cal.rms_residual_default_deg:.2f} deg"
          f" -> with {cal.rms_residual_deg:.2f} deg")
    for k, t in cal.targets.items():
        print(f"  {k:16s} n={t.n:4d}  samples {t.frames_default_deg:6.2f} -> {t.frames_deg:6.2f} deg  "
              f"median {t.residual_default_deg:6.2f} -> {t.residual_deg:6.2f} deg")
    print(f"wrote {out}")
    if a.layout_default:
        print(f"wrote {a.layout_default}: {a.layout[0]} with this fit as its default driver model")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m calib", allow_abbrev=False,
                                description="Calibration tools of the driver monitor (docs/calibration.md). "
                                            "Car frame: x right, y down, z forward, mm.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("layout-check", help="validate a cabin layout and print its zones")
    s.add_argument("layout")
    s.set_defaults(func=cmd_layout_check)

    s = sub.add_parser("intrinsics", help="camera intrinsics from checkerboard images or a RealSense")
    s.add_argument("--images", help="glob of checkerboard images, e.g. 'shots/*.png'")
    s.add_argument("--pattern", type=_pattern, help="inner corners per row x per column, e.g. 9x6")
    s.add_argument("--square-mm", type=float, help="checkerboard square size in mm")
    s.add_argument("--realsense", action="store_true", help="read the factory intrinsics of a connected camera")
    s.add_argument("--bag", help="read the factory intrinsics from a RealSense recording (.bag/.db3)")
    s.add_argument("--stream", default="infrared", choices=("infrared", "depth", "color"),
                   help="with --realsense/--bag: whose intrinsics (default: %(default)s)")
    s.add_argument("--width", type=int, default=848, help="with --realsense: stream width (default: %(default)s)")
    s.add_argument("--height", type=int, default=480, help="with --realsense: stream height (default: %(default)s)")
    s.add_argument("--fps", type=int, default=30, help="with --realsense: stream rate (default: %(default)s)")
    s.add_argument("--out", help="write the intrinsics JSON here")
    s.set_defaults(func=cmd_intrinsics)

    s = sub.add_parser("pnp", help="camera pose in the car frame from measured 3D points and their pixels")
    s.add_argument("points", help="JSON: {'points': [{'name', 'car_mm': [x,y,z], 'pixel': [u,v]}, ...]}")
    s.add_argument("--intrinsics", required=True, help="intrinsics JSON or a layout file")
    s.add_argument("--layout", help="write the pose, and the intrinsics it was solved with, into this layout "
                                  "(in place unless --out)")
    s.add_argument("--out")
    s.set_defaults(func=cmd_pnp)

    s = sub.add_parser("handeye", help="camera -> marker rig transform (Tsai-Lenz) with residuals")
    s.add_argument("views", help="JSON: {'views': [{'rig_to_world': {...}, 'target_to_camera': {...}}, ...]}")
    s.add_argument("--out")
    s.set_defaults(func=cmd_handeye)

    s = sub.add_parser("head-frame", help="AutoPOSE head coordinate system from 8 facial landmarks")
    s.add_argument("landmarks", help="JSON: {'landmarks': {name: [x,y,z]}}, an 8x3 list (calib.head_frame.LANDMARKS "
                                   "order), or a synthetic label (its head.landmarks_mm; docs/labels.md names)")
    s.set_defaults(func=cmd_head_frame)

    s = sub.add_parser("driver-calibrate", help="fit a per-driver gaze calibration from a recorded session")
    s.add_argument("--layout", required=True, nargs="+",
                   help="cabin layout with the session's camera pose; one for all sessions or one per session")
    s.add_argument("--session", required=True, nargs="+",
                   help="JSONL: one {'t_s', 'target', 'estimates'} per frame; several are pooled (e.g. a "
                        "population calibration from many drivers)")
    s.add_argument("--driver", required=True,
                   help="driver id, the file name of the result: letters, digits, '-', '_', '.' (not first)")
    s.add_argument("--targets", nargs="+", help="targets to use (default: every zone)")
    s.add_argument("--min-samples", type=int, default=10,
                   help="usable frames needed per target (default: %(default)s)")
    s.add_argument("--out-dir", default="calib/drivers",
                   help="folder for DRIVER.json, the calibration to pass as --driver-calibration (default: %(default)s)")
    s.add_argument("--layout-default", metavar="JSON",
                   help="also write the (first) layout with this fit as its default driver model: pooled "
                        "sessions of a panel of drivers, measured through the head model that will run, "
                        "give the population model used for every driver without a calibration")
    s.set_defaults(func=cmd_driver_calibrate)
    for command in sub.choices.values():
        command.allow_abbrev = False  # as run_monitor.py: an abbreviation may turn ambiguous later
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

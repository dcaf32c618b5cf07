"""A PNG grid of IR and colour-mapped depth samples with the labels drawn over them.

    python -m synth.contact_sheet                                   # contact_sheet.png here
    python -m synth.contact_sheet --out docs/img/contact_sheet.png  # the image docs/synth.md shows

Skeleton: green = visible joint, red = occluded; head axes from the label rotation:
x red, y green, z blue (AutoPOSE head frame, 80 mm long); the gaze zone and activity are printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from monitor.estimates import KINECT_V2_JOINTS

BONES = [("SpineBase", "SpineMid"), ("SpineMid", "SpineShoulder"), ("SpineShoulder", "Neck"), ("Neck", "Head"),
         ("SpineShoulder", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"),
         ("WristLeft", "HandLeft"), ("HandLeft", "HandTipLeft"), ("WristLeft", "ThumbLeft"),
         ("SpineShoulder", "ShoulderRight"), ("ShoulderRight", "ElbowRight"), ("ElbowRight", "WristRight"),
         ("WristRight", "HandRight"), ("HandRight", "HandTipRight"), ("WristRight", "ThumbRight"),
         ("SpineBase", "HipLeft"), ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("AnkleLeft", "FootLeft"),
         ("SpineBase", "HipRight"), ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"), ("AnkleRight", "FootRight")]
_IDX = {n: i for i, n in enumerate(KINECT_V2_JOINTS)}

# (seed, scenario, camera, mount, time_s): a spread of views, people and behaviours
SAMPLES = [
    (1, "drive", "d435", "dashboard", 3.0),
    (2, "drive", "d435", "mirror", 21.0),
    (3, "activities", "kinect_v2", "mirror", 9.0),
    (6, "gaze", "kinect_v2", "mirror", 6.0),
    (4, "activities", "autopose_ir", "dashboard", 3.0),
    (8, "drive", "autopose_ir", "dashboard", 9.5),
    (5, "sweeps", "d435", "dashboard", 2.0),
    (7, "activities", "d435", "pillar", 16.5),
]


def colorize_depth(depth: np.ndarray, lo: float = 300.0, hi: float = 2000.0) -> np.ndarray:
    import cv2

    d = np.clip((depth.astype(np.float32) - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    out = cv2.applyColorMap(d, cv2.COLORMAP_JET)  # near blue, far red (RealSense Viewer "Jet")
    out[depth == 0] = 0
    return out


def draw_labels(img: np.ndarray, labels: dict, text: bool = True) -> np.ndarray:
    """Skeleton, head axes and zone/activity text over a BGR image (in place, returned)."""
    import cv2

    k = labels["camera"]["intrinsics"]
    j = labels["joints"]
    uv = np.array(j["uv"], dtype=float)  # None -> nan (behind the camera)
    vis = j["visible"]
    for a, b in BONES:
        pa, pb = uv[_IDX[a]], uv[_IDX[b]]
        if np.all(np.abs(np.concatenate([pa, pb])) < 5000):  # False for nan
            cv2.line(img, tuple(int(x) for x in pa), tuple(int(x) for x in pb), (255, 255, 0), 1, cv2.LINE_AA)
    for p, v in zip(uv, vis):
        if np.all(np.abs(p) < 5000):
            cv2.circle(img, (int(p[0]), int(p[1])), 3, (0, 220, 0) if v else (0, 0, 255), -1, cv2.LINE_AA)
    h = labels["head"]
    rot, pos = np.array(h["rotation"]), np.array(h["position_mm"])
    c = np.array(h["center_px"])
    for i, col in enumerate(((0, 0, 255), (0, 255, 0), (255, 0, 0))):
        e = pos + rot[:, i] * 80.0
        if e[2] > 1:
            pe = (k["fx"] * e[0] / e[2] + k["cx"], k["fy"] * e[1] / e[2] + k["cy"])
            cv2.line(img, (int(c[0]), int(c[1])), (int(pe[0]), int(pe[1])), col, 2, cv2.LINE_AA)
    if text:
        zone = labels["gaze_zone"] or "-"
        s = f"{labels['camera']['preset']}/{labels['camera']['mount']} zone={zone} {labels['activity']}"
        s2 = f"ypr=({h['yaw_deg']:.0f},{h['pitch_deg']:.0f},{h['roll_deg']:.0f}) glasses={labels['subject']['glasses']}"
        for row, line in enumerate((s, s2)):
            y = 16 + 16 * row
            cv2.putText(img, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def make_sheet(samples=SAMPLES, cell_h: int = 216, overlay: bool = True) -> np.ndarray:
    """Rows of two samples, each an [IR | depth] pair scaled to ``cell_h`` pixels high."""
    import cv2

    from synth.scene import Scene

    pairs = []
    for seed, scenario, camera, mount, t in samples:
        scene = Scene(seed=seed, scenario=scenario, camera=camera, mount=mount)
        f = scene.render(min(int(round(t * scene.fps)), len(scene) - 1))
        ir = cv2.cvtColor(f.ir, cv2.COLOR_GRAY2BGR)
        dep = colorize_depth(f.depth)
        if overlay:
            draw_labels(ir, f.labels, text=False)
            draw_labels(dep, f.labels, text=False)
        w = int(round(cell_h * f.ir.shape[1] / f.ir.shape[0]))
        pair = np.hstack([cv2.resize(x, (w, cell_h), interpolation=cv2.INTER_AREA) for x in (ir, dep)])
        if overlay:
            _caption(pair, f.labels)
        pairs.append(pair)
    if len(pairs) % 2:
        pairs.append(np.zeros_like(pairs[0]))
    gap = np.full((cell_h, 6, 3), 255, np.uint8)
    rows = [np.hstack([pairs[i], gap, pairs[i + 1]]) for i in range(0, len(pairs), 2)]
    wmax = max(r.shape[1] for r in rows)  # centre narrower rows (Kinect's 512x424 is squarer)
    rows = [np.pad(r, ((0, 0), ((wmax - r.shape[1]) // 2, wmax - r.shape[1] - (wmax - r.shape[1]) // 2), (0, 0)),
                   constant_values=255) for r in rows]
    sep = np.full((6, rows[0].shape[1], 3), 255, np.uint8)
    out = rows[0]
    for r in rows[1:]:
        out = np.vstack([out, sep, r])
    return out


def _caption(img: np.ndarray, labels: dict) -> None:
    import cv2

    h = labels["head"]
    zone = labels["gaze_zone"] or "in transit"
    lines = (f"{labels['camera']['preset']} @ {labels['camera']['mount']}  t={labels['time_s']:.1f}s",
             f"zone: {zone}  {labels['activity']}",
             f"yaw {h['yaw_deg']:.0f} pitch {h['pitch_deg']:.0f} roll {h['roll_deg']:.0f}  glasses: {labels['subject']['glasses']}")
    for row, line in enumerate(lines):
        y = 14 + 14 * row
        cv2.putText(img, line, (5, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, line, (5, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def main(argv: list[str] | None = None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description="Render a contact sheet of labelled synthetic frames.")
    # the default is not docs/img/contact_sheet.png: a plain run must not rewrite a tracked file
    ap.add_argument("--out", default="contact_sheet.png",
                    help="PNG to write (default: contact_sheet.png in the working folder; "
                         "docs/img/contact_sheet.png is the image docs/synth.md shows)")
    ap.add_argument("--cell-height", type=int, default=216, help="pixel height of each sample (default: 216)")
    ap.add_argument("--no-overlay", action="store_true", help="pixels only, no labels drawn")
    a = ap.parse_args(argv)
    # checked before the minute of rendering; cv2 would raise on another suffix
    bad = (f"--out {a.out!r}: give a path ending in .png" if not a.out.lower().endswith(".png") else
           f"--cell-height {a.cell_height}: give at least 1 pixel" if a.cell_height < 1 else None)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    sheet = make_sheet(cell_h=a.cell_height, overlay=not a.no_overlay)
    try:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(a.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    except OSError:  # a file where a folder should be
        ok = False
    if not ok:  # imwrite reports an unwritable path by returning False
        print(f"error: cannot write {a.out}; choose another --out", file=sys.stderr)
        return 2
    print(f"wrote {a.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

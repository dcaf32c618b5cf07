"""Pure drawing functions of the live overlay: numpy/OpenCV in, a BGR canvas out, no window.

Canvas layout (one frame):

    +---------------------------+-----------+
    | camera image (1:1 pixels) |  panel:   |
    | head axes, crop box,      |  cabin    |
    | skeleton                  |  zones    |
    |                           |  timers   |
    +---------------------------+-----------+
    | status line                           |
    +---------------------------------------+

The camera image is drawn at the canvas origin without scaling, so a pixel (u, v) of the results
is pixel (u, v) of the canvas (tests and snapshots rely on it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

from monitor.estimates import EyeGaze, HeadPose, Joints

PANEL_WIDTH = 300
STATUS_HEIGHT = 40
MIN_PANEL_HEIGHT = 440
FONT = cv2.FONT_HERSHEY_SIMPLEX

# BGR colours
WHITE = (255, 255, 255)
GREY = (150, 150, 150)
DARK = (40, 40, 40)
RED = (60, 60, 230)
GREEN = (80, 200, 80)
AMBER = (0, 190, 255)
YELLOW = (0, 255, 255)
AXIS_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))  # head x red, y green, z blue
ORIGIN_COLOUR = (255, 0, 255)  # magenta dot at the head centre (tests look for it)
EYE_RAY_COLOUR = (0, 165, 255)  # orange: the eye-gaze ray (with an eye model: the default)
EYE_RAY_MM = 150.0
CROP_COLOUR = (255, 255, 0)

AXIS_LENGTH_MM = 80.0
NOMINAL_HEAD_DISTANCE_MM = 700.0  # axis scale when the pose has no depth (weak perspective)

# Kinect v2 bones, by joint name (joints not in the model's list are skipped)
BONES: tuple[tuple[str, str], ...] = (
    ("SpineBase", "SpineMid"), ("SpineMid", "SpineShoulder"), ("SpineShoulder", "Neck"), ("Neck", "Head"),
    ("SpineShoulder", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"),
    ("WristLeft", "HandLeft"), ("SpineShoulder", "ShoulderRight"), ("ShoulderRight", "ElbowRight"),
    ("ElbowRight", "WristRight"), ("WristRight", "HandRight"), ("SpineBase", "HipLeft"),
    ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("AnkleLeft", "FootLeft"), ("SpineBase", "HipRight"),
    ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"), ("AnkleRight", "FootRight"),
)


# --- camera image --------------------------------------------------------------------------
def ir_to_bgr(ir: np.ndarray) -> np.ndarray:
    """Y8 infrared -> grey BGR (pixel values unchanged)."""
    return cv2.cvtColor(np.ascontiguousarray(ir), cv2.COLOR_GRAY2BGR)


def depth_to_bgr(depth: np.ndarray, depth_unit_mm: float = 1.0, near_mm: float = 300.0,
                 far_mm: float = 2500.0) -> np.ndarray:
    """Depth -> colour map (near warm, far cool); pixels without data (0) are black."""
    mm = depth.astype(np.float32) * float(depth_unit_mm)
    scaled = np.clip((mm - near_mm) * (255.0 / (far_mm - near_mm)), 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(255 - scaled, cv2.COLORMAP_JET)
    bgr[depth == 0] = 0
    return bgr


# --- head and skeleton ---------------------------------------------------------------------
def head_axes_px(head: HeadPose, fx: float, fy: float, cx: float, cy: float,
                 length_mm: float = AXIS_LENGTH_MM) -> tuple[tuple[float, float], np.ndarray]:
    """Origin and the three axis end points (3, 2) in pixels. The origin is ``center_px`` (the
    estimator's head centre); with a 3-D position the axes are projected exactly, without one
    they are drawn at a nominal distance (weak perspective)."""
    origin = (float(head.center_px[0]), float(head.center_px[1]))
    rot = np.asarray(head.rotation, dtype=np.float64)
    pos = None if head.position_mm is None else np.asarray(head.position_mm, dtype=np.float64)
    if pos is not None and np.all(np.isfinite(pos)) and pos[2] > length_mm:
        ends = pos[None, :] + length_mm * rot.T  # rows: head axes in camera coordinates
        u = fx * ends[:, 0] / ends[:, 2] + cx
        v = fy * ends[:, 1] / ends[:, 2] + cy
        centre = (fx * pos[0] / pos[2] + cx, fy * pos[1] / pos[2] + cy)
        return origin, np.stack([u - centre[0] + origin[0], v - centre[1] + origin[1]], axis=1)
    scale = length_mm / NOMINAL_HEAD_DISTANCE_MM
    ends = np.stack([origin[0] + fx * scale * rot[0, :], origin[1] + fy * scale * rot[1, :]], axis=1)
    return origin, ends


def draw_head(img: np.ndarray, head: HeadPose, intrinsics: Sequence[float]) -> None:
    """Crop box, head axes (x red, y green, z blue: out of the back of the head) and the origin."""
    x0, y0, x1, y1 = (int(round(v)) for v in head.crop_box)
    cv2.rectangle(img, (x0, y0), (x1, y1), CROP_COLOUR, 1, cv2.LINE_AA)
    origin, ends = head_axes_px(head, *intrinsics)
    o = (int(round(origin[0])), int(round(origin[1])))
    for end, colour in zip(ends, AXIS_COLOURS):
        if np.all(np.isfinite(end)):
            cv2.line(img, o, (int(round(end[0])), int(round(end[1]))), colour, 2, cv2.LINE_AA)
    cv2.circle(img, o, 4, ORIGIN_COLOUR, -1)  # not anti-aliased: an exact colour to find
    label = f"yaw {head.yaw_deg:+.0f} pitch {head.pitch_deg:+.0f} roll {head.roll_deg:+.0f}"
    _text(img, label, (max(x0, 2), max(y0 - 6, 12)), 0.4, CROP_COLOUR)


def draw_eye_ray(img: np.ndarray, eyes: EyeGaze, intrinsics: Sequence[float]) -> None:
    """The eye-gaze ray, EYE_RAY_MM long from the eyes' midpoint, projected; not drawn when the
    eye locator says opaque eyewear hides the eyes (P >= 0.5: the classifier then follows the head)."""
    if eyes.hidden_p is not None and eyes.hidden_p >= 0.5:
        return
    fx, fy, cx, cy = intrinsics[:4]
    o = np.asarray(eyes.origin_mm, dtype=np.float64)
    e = o + EYE_RAY_MM * np.asarray(eyes.direction, dtype=np.float64)
    if not (np.all(np.isfinite(o)) and np.all(np.isfinite(e)) and o[2] > 1 and e[2] > 1):
        return
    p = [(int(round(fx * q[0] / q[2] + cx)), int(round(fy * q[1] / q[2] + cy))) for q in (o, e)]
    cv2.arrowedLine(img, p[0], p[1], EYE_RAY_COLOUR, 2, cv2.LINE_AA, tipLength=0.15)


def confidence_colour(c: float) -> tuple[int, int, int]:
    """Red (0) -> amber -> green (1)."""
    c = float(np.clip(c if np.isfinite(c) else 0.0, 0.0, 1.0))
    return (int(60 + 20 * c), int(60 + 140 * c), int(230 * (1.0 - c) + 80 * c))


def draw_skeleton(img: np.ndarray, joints: Joints, min_confidence: float = 0.0) -> None:
    """Bones in grey, joints as dots coloured by confidence; unknown joints are skipped."""
    index = {n: i for i, n in enumerate(joints.names)}
    uv = np.asarray(joints.uv, dtype=np.float64)
    conf = np.asarray(joints.confidence, dtype=np.float64)
    ok = np.all(np.isfinite(uv), axis=1) & (np.nan_to_num(conf, nan=0.0) >= min_confidence)
    for a, b in BONES:
        ia, ib = index.get(a), index.get(b)
        if ia is None or ib is None or not (ok[ia] and ok[ib]):
            continue
        cv2.line(img, _pt(uv[ia]), _pt(uv[ib]), GREY, 2, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        cv2.circle(img, _pt(uv[i]), 4, confidence_colour(conf[i]), -1, cv2.LINE_AA)


# --- cabin diagram -------------------------------------------------------------------------
@dataclass
class CabinDiagram:
    """The zones as the driver sees them, computed once from a layout: each zone at its azimuth
    (right positive) and elevation (down positive) from the nominal head, so the road, the
    dashboard below it and the mirrors to the sides are where a driver expects them."""

    zone_names: tuple[str, ...]
    zone_px: dict[str, tuple[int, int]]
    size: tuple[int, int]
    centre_deg: tuple[float, float]
    px_per_deg: float

    @classmethod
    def from_layout(cls, layout: Any, size: tuple[int, int] = (PANEL_WIDTH - 20, 150)) -> "CabinDiagram":
        head = np.asarray(layout.nominal_head_mm, dtype=np.float64)
        angles = {z.name: azimuth_elevation_deg(np.asarray(z.target_mm(head), dtype=np.float64) - head)
                  for z in layout.zones}
        a = np.array(list(angles.values()))
        lo, hi = a.min(axis=0), a.max(axis=0)
        w, h = size
        margin = 24
        px_per_deg = min((w - 2 * margin) / max(hi[0] - lo[0], 10.0), (h - 2 * margin) / max(hi[1] - lo[1], 10.0))
        centre = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)
        diagram = cls(tuple(angles), {}, size, (float(centre[0]), float(centre[1])), float(px_per_deg))
        diagram.zone_px = {n: diagram.to_px(*ae) for n, ae in angles.items()}
        return diagram

    def to_px(self, azimuth_deg: float, elevation_deg: float) -> tuple[int, int]:
        w, h = self.size
        return (int(round(w / 2 + (azimuth_deg - self.centre_deg[0]) * self.px_per_deg)),
                int(round(h / 2 + (elevation_deg - self.centre_deg[1]) * self.px_per_deg)))


def azimuth_elevation_deg(v: np.ndarray) -> tuple[float, float]:
    """Car-frame direction -> (azimuth right-positive, elevation down-positive), degrees (the
    convention of GazeResult.gaze_azimuth_deg / gaze_elevation_deg)."""
    return (math.degrees(math.atan2(v[0], v[2])), math.degrees(math.atan2(v[1], math.hypot(v[0], v[2]))))


def draw_cabin(panel: np.ndarray, diagram: CabinDiagram, origin: tuple[int, int], zone: str | None,
               probabilities: dict[str, float] | None, gaze_deg: tuple[float, float] | None = None) -> None:
    """The cabin sketch at ``origin`` of ``panel``: each zone a disc whose fill grows with its
    probability; the active (smoothed) zone is lit; a cross marks the current gaze direction."""
    ox, oy = origin
    w, h = diagram.size
    cv2.rectangle(panel, (ox, oy), (ox + w, oy + h), DARK, 1)
    probs = probabilities or {}
    for name in diagram.zone_names:
        c = (ox + diagram.zone_px[name][0], oy + diagram.zone_px[name][1])
        p = float(probs.get(name, 0.0) or 0.0)
        active = name == zone
        cv2.circle(panel, c, 10, (90, 90, 90), -1, cv2.LINE_AA)
        if p > 0:
            cv2.circle(panel, c, max(2, int(round(10 * math.sqrt(min(p, 1.0))))), AMBER, -1, cv2.LINE_AA)
        if active:
            cv2.circle(panel, c, 13, YELLOW, 2, cv2.LINE_AA)
        _text(panel, name.replace("_", " "), (c[0] - 22, c[1] + 23), 0.33, YELLOW if active else GREY)
    if gaze_deg is not None and all(v is not None and math.isfinite(v) for v in gaze_deg):
        gx, gy = diagram.to_px(*gaze_deg)
        gx, gy = min(max(gx, 4), w - 4), min(max(gy, 4), h - 4)  # pinned to the edge when outside
        cv2.drawMarker(panel, (ox + gx, oy + gy), WHITE, cv2.MARKER_CROSS, 12, 2)


def draw_probabilities(panel: np.ndarray, origin: tuple[int, int], width: int,
                       probabilities: dict[str, float] | None, zone: str | None) -> int:
    """One bar per label (zones and "other"); returns the y below the last bar."""
    x, y = origin
    for name, p in (probabilities or {}).items():
        p = float(p or 0.0)
        bar = int(round((width - 110) * min(max(p, 0.0), 1.0)))
        colour = YELLOW if name == zone else AMBER
        _text(panel, name.replace("_", " ")[:14], (x, y + 9), 0.35, colour if name == zone else WHITE)
        cv2.rectangle(panel, (x + 95, y), (x + 95 + max(bar, 1), y + 10), colour, -1)
        _text(panel, f"{p:.2f}", (x + width - 12 - 24, y + 9), 0.33, GREY)
        y += 14
    return y


def draw_timer_bar(panel: np.ndarray, origin: tuple[int, int], width: int, label: str, value_s: float,
                   limit_s: float, alarm: bool) -> None:
    """A bar that fills as ``value_s`` approaches ``limit_s``; red once the rule has fired."""
    x, y = origin
    frac = min(max(value_s / limit_s, 0.0), 1.0) if limit_s > 0 else 0.0
    colour = RED if alarm else (AMBER if frac > 0.66 else GREEN)
    _text(panel, f"{label} {value_s:4.1f}/{limit_s:.0f} s", (x, y + 10), 0.38, RED if alarm else WHITE)
    cv2.rectangle(panel, (x, y + 15), (x + width, y + 27), DARK, 1)
    cv2.rectangle(panel, (x + 1, y + 16), (x + 1 + int((width - 2) * frac), y + 26), colour, -1)


def draw_state(panel: np.ndarray, origin: tuple[int, int], width: int, state: dict[str, Any] | None,
               long_s: float, vats_threshold_s: float) -> None:
    """Road state, long-distraction and VATS timer bars."""
    x, y = origin
    state = state or {}
    on_road = state.get("on_road")
    text, colour = {True: ("ON ROAD", GREEN), False: ("OFF ROAD", AMBER), None: ("ROAD: ?", GREY)}[on_road]
    alarms = [k for k in ("long_distraction", "vats") if state.get(k)]
    if alarms:
        text, colour = "DISTRACTED: " + " + ".join(a.replace("_", " ") for a in alarms), RED
    _text(panel, text, (x, y + 14), 0.5, colour, 1)
    draw_timer_bar(panel, (x, y + 22), width, "off road", float(state.get("off_road_s") or 0.0), long_s,
                   bool(state.get("long_distraction")))
    draw_timer_bar(panel, (x, y + 54), width, "VATS window", float(state.get("off_road_window_s") or 0.0),
                   vats_threshold_s, bool(state.get("vats")))
    missing = float(state.get("head_missing_s") or 0.0)
    if missing > 0:
        _text(panel, f"head missing {missing:.1f} s", (x, y + 98), 0.38, AMBER)


# --- whole canvas --------------------------------------------------------------------------
@dataclass
class OverlayView:
    """Everything one canvas shows besides the image. ``estimates``, ``gaze`` and ``state`` are
    the JSON forms of the results (docs/outputs.md)."""

    head: HeadPose | None = None
    joints: Joints | None = None
    gaze: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    status: str = ""
    title: str = ""
    flags: list[str] = field(default_factory=list)
    eyes: EyeGaze | None = None


def render(image_bgr: np.ndarray, view: OverlayView, intrinsics: Sequence[float],
           diagram: CabinDiagram | None, long_s: float = 3.0, vats_threshold_s: float = 10.0) -> np.ndarray:
    """The full overlay canvas for one frame (a new array; ``image_bgr`` is not modified)."""
    h, w = image_bgr.shape[:2]
    panel_h = max(h, MIN_PANEL_HEIGHT)
    canvas = np.zeros((panel_h + STATUS_HEIGHT, w + PANEL_WIDTH, 3), np.uint8)
    canvas[:h, :w] = image_bgr
    img = canvas[:h, :w]  # a view: drawing on it draws on the canvas, clipped to the image
    if view.joints is not None:
        draw_skeleton(img, view.joints)
    # the eye ray before the head: it starts next to the head origin, whose marker stays on top
    if view.eyes is not None:
        draw_eye_ray(img, view.eyes, intrinsics)
    if view.head is not None:
        draw_head(img, view.head, intrinsics)
    panel = canvas[:panel_h, w:]
    px = 10
    gaze = view.gaze or {}
    zone = gaze.get("zone")
    _text(panel, view.title, (px, 18), 0.45, WHITE)
    _text(panel, f"zone: {zone or '-'}", (px, 40), 0.55, YELLOW, 1)
    if diagram is not None:
        draw_cabin(panel, diagram, (px, 50), zone, gaze.get("probabilities"),
                   (gaze.get("gaze_azimuth_deg"), gaze.get("gaze_elevation_deg")))
        y = 50 + diagram.size[1] + 8
    else:
        y = 56
    y = draw_probabilities(panel, (px, y), PANEL_WIDTH - 2 * px, gaze.get("probabilities"), zone)
    draw_state(panel, (px, y + 6), PANEL_WIDTH - 2 * px, view.state, long_s, vats_threshold_s)
    status = canvas[panel_h:, :]
    cv2.rectangle(status, (0, 0), (status.shape[1], status.shape[0]), (25, 25, 25), -1)
    _text(status, view.status, (6, 16), 0.42, WHITE)
    if view.flags:
        _text(status, "  ".join(view.flags), (6, 34), 0.42, AMBER)
    return canvas


def format_status(fps: float | None, latency_ms: dict[str, float], skipped: int, providers: Sequence[str],
                  frame: int) -> str:
    """Status line: display fps, end-to-end and per-stage latency, skipped frames, providers."""
    parts = [f"frame {frame}", f"fps {fps:.1f}" if fps else "fps -"]
    if "end_to_end" in latency_ms:
        parts.append(f"e2e {latency_ms['end_to_end']:.1f} ms")
    stages = [f"{k} {v:.1f}" for k, v in latency_ms.items() if k in ("capture", "estimator", "gaze")]
    if stages:
        parts.append("(" + ", ".join(stages) + ")")
    parts.append(f"skipped {skipped}")
    if providers:
        parts.append("/".join(p.replace("ExecutionProvider", "") for p in providers))
    return "  ".join(parts)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int],
          thickness: int = 1) -> None:
    if text:
        cv2.putText(img, text, org, FONT, scale, colour, thickness, cv2.LINE_AA)

"""Pure drawing functions of the overlay, checked on the pixels they produce (no window)."""
from pathlib import Path

import numpy as np
import pytest

from calib.layout import load_layout
from monitor.display.overlay import (AXIS_COLOURS, EYE_RAY_COLOUR, ORIGIN_COLOUR, PANEL_WIDTH, STATUS_HEIGHT, YELLOW,
                                     CabinDiagram, OverlayView, confidence_colour, depth_to_bgr,
                                     draw_cabin, format_status, head_axes_px, ir_to_bgr, render)
from monitor.estimates import JOINTS_21, EyeGaze, HeadPose, Joints
from monitor.geometry import euler_to_matrix, project

ROOT = Path(__file__).resolve().parents[1]
INTR = (420.0, 420.0, 160.0, 120.0)


@pytest.fixture(scope="module")
def diagram():
    return CabinDiagram.from_layout(load_layout(ROOT / "calib" / "layouts" / "synthetic_cabin.json"))


def head(yaw=0.0, pitch=0.0, roll=0.0, centre=(150.0, 100.0), position=None):
    return HeadPose(yaw, pitch, roll, euler_to_matrix(yaw, pitch, roll),
                    None if position is None else np.asarray(position, dtype=np.float64), centre,
                    (centre[0] - 30, centre[1] - 30, centre[0] + 30, centre[1] + 30))


def mask_of(canvas, colour):
    return np.all(canvas == np.array(colour), axis=2)


def test_canvas_layout_keeps_the_image_pixels_one_to_one():
    ir = np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8)
    canvas = render(ir_to_bgr(ir), OverlayView(status="hello"), INTR, None)
    assert canvas.shape == (440 + STATUS_HEIGHT, 320 + PANEL_WIDTH, 3)
    np.testing.assert_array_equal(canvas[:240, :320, 0], ir)  # nothing drawn: the image as is


def test_head_origin_is_drawn_at_the_head_centre_and_axes_point_along_the_rotation():
    ir = np.full((240, 320), 60, np.uint8)
    h = head(yaw=0.0, centre=(150.0, 100.0))
    canvas = render(ir_to_bgr(ir), OverlayView(head=h), INTR, None)
    ys, xs = np.nonzero(mask_of(canvas[:240, :320], ORIGIN_COLOUR))
    assert (xs.mean(), ys.mean()) == pytest.approx((150.0, 100.0), abs=0.5)
    # identity rotation: head x axis -> image right (red), y -> image down (green)
    red = mask_of(canvas[:240, :320], AXIS_COLOURS[0])
    green = mask_of(canvas[:240, :320], AXIS_COLOURS[1])
    assert np.nonzero(red)[1].mean() > 160 and abs(np.nonzero(red)[0].mean() - 100) < 2
    assert np.nonzero(green)[0].mean() > 110 and abs(np.nonzero(green)[1].mean() - 150) < 2


def test_axes_with_a_position_are_the_projection_of_the_head_frame():
    pos = np.array([-30.0, 20.0, 600.0])
    centre = tuple(project(pos, *INTR))
    h = head(yaw=30.0, pitch=-10.0, roll=5.0, centre=centre, position=pos)
    origin, ends = head_axes_px(h, *INTR, length_mm=80.0)
    expected = project(pos + 80.0 * h.rotation.T, *INTR)
    np.testing.assert_allclose(origin, centre)
    np.testing.assert_allclose(ends, expected, atol=1e-9)


def test_eye_ray_is_drawn_from_the_eyes_along_their_direction():
    ir = np.full((240, 320), 60, np.uint8)
    origin = np.array([0.0, 0.0, 600.0])
    direction = np.array([0.6, 0.0, -0.8])  # to the image's right (and towards the camera)
    canvas = render(ir_to_bgr(ir), OverlayView(eyes=EyeGaze(origin, direction, (0.0, 0.0))), INTR, None)
    ys, xs = np.nonzero(mask_of(canvas[:240, :320], EYE_RAY_COLOUR))
    start = project(origin, *INTR)
    assert len(xs) > 20 and xs.min() >= start[0] - 3 and xs.max() > start[0] + 50
    assert abs(np.median(ys) - start[1]) < 3


def test_skeleton_joints_are_coloured_by_confidence():
    uv = np.full((21, 2), np.nan)
    conf = np.zeros(21)
    uv[3], conf[3] = (40.0, 40.0), 1.0  # Head, confident
    uv[2], conf[2] = (40.0, 90.0), 0.0  # Neck, not
    j = Joints(JOINTS_21, uv, np.full((21, 3), np.nan), conf)
    canvas = render(ir_to_bgr(np.zeros((240, 320), np.uint8)), OverlayView(joints=j), INTR, None)
    assert tuple(canvas[40, 40]) == confidence_colour(1.0)
    assert tuple(canvas[90, 40]) == confidence_colour(0.0)
    assert confidence_colour(1.0)[1] > confidence_colour(1.0)[2] and confidence_colour(0.0)[2] > confidence_colour(0.0)[1]
    assert canvas[65, 40].any()  # the Neck-Head bone between them


def test_cabin_diagram_places_zones_as_the_driver_sees_them(diagram):
    px = diagram.zone_px
    assert px["left_mirror"][0] < px["road"][0] < px["right_mirror"][0]
    assert px["dashboard"][1] > px["road"][1] > px["rear_mirror"][1]  # below / above the road
    w, h = diagram.size
    assert all(0 <= x <= w and 0 <= y <= h for x, y in px.values())


def test_active_zone_is_lit(diagram):
    panel = np.zeros((200, PANEL_WIDTH, 3), np.uint8)
    draw_cabin(panel, diagram, (10, 10), "right_mirror", {"right_mirror": 0.9, "road": 0.1})
    x, y = diagram.zone_px["right_mirror"]
    ring = mask_of(panel[10 + y - 15:10 + y + 16, 10 + x - 15:10 + x + 16], YELLOW)
    assert ring.sum() > 40
    x, y = diagram.zone_px["road"]
    assert mask_of(panel[10 + y - 15:10 + y + 16, 10 + x - 15:10 + x + 16], YELLOW).sum() == 0


def test_full_canvas_with_results_draws_without_error(diagram):
    probs = {"road": 0.1, "left_mirror": 0.0, "right_mirror": 0.0, "rear_mirror": 0.0, "dashboard": 0.85,
             "media_centre": 0.0, "other": 0.05}
    state = {"on_road": False, "off_road_s": 3.4, "off_road_window_s": 7.0, "long_distraction": True,
             "vats": False, "head_missing_s": 0.0}
    view = OverlayView(head=head(), gaze={"zone": "dashboard", "probabilities": probs, "gaze_azimuth_deg": 1.0,
                                          "gaze_elevation_deg": 20.0}, state=state, status="s", flags=["PAUSED"])
    canvas = render(ir_to_bgr(np.zeros((480, 848), np.uint8)), view, INTR, diagram)
    assert canvas.shape == (480 + STATUS_HEIGHT, 848 + PANEL_WIDTH, 3)
    assert canvas[:480, 848:].any() and canvas[480:].any()


def test_depth_colour_map_marks_missing_depth_black_and_separates_near_from_far():
    depth = np.array([[0, 400, 2400]], np.uint16)
    bgr = depth_to_bgr(depth)
    assert not bgr[0, 0].any()
    assert not np.array_equal(bgr[0, 1], bgr[0, 2])
    assert bgr[0, 1, 2] > bgr[0, 1, 0] and bgr[0, 2, 0] > bgr[0, 2, 2]  # near red, far blue


def test_status_line_says_fps_latency_skips_and_providers():
    text = format_status(29.5, {"end_to_end": 12.34, "estimator": 5.0, "gaze": 0.2}, 7,
                         ["CPUExecutionProvider"], 42)
    for part in ("frame 42", "fps 29.5", "e2e 12.3 ms", "estimator 5.0", "skipped 7", "CPU"):
        assert part in text

"""Dynamic head crop geometry (AutoPOSE sec. 5) and head localisation from joints."""
import numpy as np
import pytest

from monitor.estimates import JOINTS_21
from monitor.estimator.head_crop import crop_head, head_box, head_input, normalise_crop
from monitor.estimator.head_locate import NECK_HEAD_MM, SURFACE_TO_CENTRE_MM, HeadLocation, locate_head, refine_centre
from monitor.geometry import euler_to_matrix
from train.head_centre import fit_centre


def test_box_size_follows_focal_length_and_distance():
    box = head_box((400.0, 200.0), 800.0, fx=600.0, fy=580.0)
    assert box.width == pytest.approx(600 * 320 / 800) and box.height == pytest.approx(580 * 320 / 800)
    assert ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2) == pytest.approx((400.0, 200.0))
    far = head_box((400.0, 200.0), 1600.0, 600.0, 580.0)
    assert far.width == pytest.approx(box.width / 2)
    with pytest.raises(ValueError, match="positive"):
        head_box((0, 0), 0.0, 1, 1)


def test_crop_discarded_when_more_than_a_third_outside():
    img = np.zeros((480, 848), np.uint8)
    box_in = head_box((100.0, 240.0), 800.0, 400.0, 400.0)  # 160 px box, fully inside
    assert crop_head(img, box_in).shape == (64, 64)
    # centre 20 px from the left edge: 100/160 of the width is off-image -> discard
    assert crop_head(img, head_box((-20.0, 240.0), 800.0, 400.0, 400.0)) is None
    # centre 50 px inside: (80 - 50.5) / 160 ~ 18 % off -> kept
    assert crop_head(img, head_box((50.0, 240.0), 800.0, 400.0, 400.0)) is not None


def test_crop_keeps_head_centred_and_same_size_at_any_distance():
    for dist in (600.0, 1000.0):
        img = np.zeros((480, 848), np.uint8)
        r = 400.0 * 100.0 / dist  # a 200 mm wide disc
        yy, xx = np.mgrid[:480, :848]
        img[(xx - 500) ** 2 + (yy - 260) ** 2 < r ** 2] = 255
        crop = crop_head(img, head_box((500.0, 260.0), dist, 400.0, 400.0))
        ys, xs = np.nonzero(crop > 127)
        assert xs.mean() == pytest.approx(31.5, abs=0.6) and ys.mean() == pytest.approx(31.5, abs=0.6)
        assert (xs.max() - xs.min()) == pytest.approx(64 * 200 / 320, abs=2)


def test_normalisations():
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 120, (64, 64)).astype(np.uint8)
    x = normalise_crop(ir, {"kind": "ir_equalised"}, 800.0)
    assert x.dtype == np.float32 and abs(x.mean()) < 1e-4 and x.std() == pytest.approx(1.0, abs=1e-3)
    d = np.full((64, 64), 900, np.uint16)
    d[0, 0] = 0
    v = normalise_crop(d, {"kind": "depth_head_relative", "range_mm": 160.0}, 820.0)
    assert v[1, 1] == pytest.approx(0.5) and v[0, 0] == 1.0
    with pytest.raises(ValueError, match="head normalisation"):
        normalise_crop(d, {"kind": "nope"}, 800.0)
    out = head_input(np.full((480, 848), 900, np.uint16), (400, 240), 800, 400, 400,
                     {"kind": "depth_head_relative"})
    assert out is not None and out[0].shape == (64, 64)


def _joints(head_uv, neck_uv, conf=0.9):
    uv = np.zeros((21, 2))
    uv[JOINTS_21.index("Head")] = head_uv
    uv[JOINTS_21.index("Neck")] = neck_uv
    return uv, np.full(21, conf)


def test_locate_head_with_depth_and_fallback():
    uv, conf = _joints((400.0, 150.0), (400.0, 230.0))
    depth = np.full((480, 848), 700, np.uint16)
    loc = locate_head(JOINTS_21, uv, conf, 400.0, 400.0, depth)
    assert loc.from_depth and loc.distance_mm == pytest.approx(700 + SURFACE_TO_CENTRE_MM)
    assert loc.center_px == (400.0, 150.0)
    no_depth = locate_head(JOINTS_21, uv, conf, 400.0, 400.0, None)
    assert not no_depth.from_depth and no_depth.distance_mm == pytest.approx(400 * NECK_HEAD_MM / 80)
    holes = locate_head(JOINTS_21, uv, conf, 400.0, 400.0, np.zeros((480, 848), np.uint16))
    assert not holes.from_depth
    assert locate_head(JOINTS_21, uv, np.full(21, 0.05), 400.0, 400.0, depth) is None
    with pytest.raises(ValueError, match="Head"):
        locate_head(("A", "B"), uv[:2], conf[:2], 400.0, 400.0)


def test_refine_centre_moves_the_centre_with_the_head():
    loc = HeadLocation((400.0, 200.0), 735.0, True)  # surface at 700 mm
    surface = np.array([(400 - 424) * 700 / 420, (200 - 240) * 700 / 420, 700.0])
    in_head, in_camera = (0.0, 10.0, -40.0), (0.0, 0.0, 70.0)
    for yaw in (0.0, 40.0, -60.0):
        rot = euler_to_matrix(yaw, 10.0, 0.0)
        want = surface + rot @ np.array(in_head) + np.array(in_camera)
        got = refine_centre(loc, rot, 420.0, 420.0, 424.0, 240.0, in_head, in_camera)
        assert got.distance_mm == pytest.approx(want[2])
        assert got.center_px == pytest.approx((420 * want[0] / want[2] + 424, 420 * want[1] / want[2] + 240))
        assert got.from_depth
    # facing the camera (R = I) the forward offset pulls the centre towards it
    assert refine_centre(loc, np.eye(3), 420.0, 420.0, 424.0, 240.0, in_head, in_camera).distance_mm == pytest.approx(730.0)
    assert refine_centre(loc, np.eye(3), 420.0, 420.0, 424.0, 240.0, (0, 0, -2000.0), (0, 0, 0)) is None
    # by hand: surface (-40, -66.67, 700) mm; yaw +90 turns the face (head -z) to camera -x, so the
    # 40 mm towards the face go to -x: centre (-80, -66.67, 770) -> pixels (380.36, 203.64)
    turned = refine_centre(loc, euler_to_matrix(90.0, 0.0, 0.0), 420.0, 420.0, 424.0, 240.0, (0, 0, -40.0), (0, 0, 70.0))
    assert turned.center_px == pytest.approx((424 - 420 * 80 / 770, 240 - 420 * (200 / 3) / 770))
    assert turned.distance_mm == pytest.approx(770.0)


def test_fit_centre_recovers_known_offsets_and_ignores_outliers():
    rng = np.random.default_rng(3)
    n = 300
    rotations = np.array([euler_to_matrix(*rng.uniform([-80, -30, -20], [80, 30, 20])) for _ in range(n)])
    surface = rng.uniform([-200, -200, 500], [200, 100, 900], (n, 3))
    a, b = np.array([5.0, 13.0, -41.5]), np.array([-5.5, -12.8, 69.0])
    centres = surface + rotations @ a + b + rng.normal(0, 0.5, (n, 3))
    centres[:10] += 300.0  # body-model misses
    fit = fit_centre(surface, rotations, centres)
    assert np.allclose(fit.in_head_mm, a, atol=0.3) and np.allclose(fit.in_camera_mm, b, atol=0.3)
    assert fit.frames == n and max(fit.residual_mm_median) < 1.0
    with pytest.raises(ValueError, match="at least 3"):
        fit_centre(surface[:2], rotations[:2], centres[:2])

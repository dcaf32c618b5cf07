"""Head-only zone scoring in head angles (monitor/gaze/head_space.py) on constructed head poses;
tests/test_gaze_classifier.py also runs its per-zone and user-layout checks with it."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from calib.layout import HeadGazeModel, load_layout
from monitor.estimates import Estimates, EyeGaze
from monitor.gaze import GazeZoneClassifier
from monitor.gaze.classifier import oblique_view_share, view_angle_deg
from monitor.gaze.head_space import HeadSpaceConfig, HeadSpaceScorer
from monitor.gaze.ray import angles_to_direction, direction_to_angles
from monitor.gaze.stage import (EYE_VIEW_DEG, SCATTER_REF_DEG, GazeStateConfig, GazeStateStage,
                                gaze_state_config)
from gaze_fakes import head_pose

LAYOUTS = Path(__file__).resolve().parents[1] / "calib" / "layouts"


@pytest.fixture(scope="module")
def layout():
    return load_layout(LAYOUTS / "synthetic_cabin.json")


def classifiers(layout):
    """(plain ray scoring, head-space scoring) with the layout's default driver model."""
    plain = GazeZoneClassifier(layout)
    scored = GazeZoneClassifier(layout)
    scored.use_head_space(HeadSpaceConfig())
    return plain, scored


def short_turn(layout, zone, fraction, head_mm=None):
    """A head that turns ``fraction`` of the way from the road to where the driver model expects
    the head for ``zone`` (a glance made more with the eyes than the average driver's)."""
    clf = GazeZoneClassifier(layout)
    head_mm = layout.nominal_head_mm if head_mm is None else head_mm
    road = np.array(clf.road_head_angles())
    target = np.array(clf.head_angles_for(direction_to_angles(layout.zone(zone).target_mm(head_mm) - head_mm)))
    az, el = road + fraction * (target - road)
    return head_pose(angles_to_direction(az, el), head_mm, layout.camera_pose)


def test_a_short_head_turn_to_the_media_centre_is_not_the_dashboard(layout):
    """The case it is for: a reach to the media centre with 60 % of the expected head turn. As a
    ray through the head-to-gaze model it falls short, on the dashboard's side; in head space it
    lies on the line from the road to the media centre, where the head share's spread reaches."""
    plain, scored = classifiers(layout)
    pose = short_turn(layout, "media_centre", 0.6)
    assert plain.classify(pose).zone != "media_centre"
    assert scored.classify(pose).zone == "media_centre"


@pytest.mark.parametrize("fraction", [0.6, 0.8, 1.2, 1.4])
def test_dashboard_glances_with_any_head_share_stay_dashboard(layout, fraction):
    """The spread is along each zone's own line: a dashboard glance made with more or less head
    turn is still the dashboard, and does not drift into the media centre."""
    _, scored = classifiers(layout)
    assert scored.classify(short_turn(layout, "dashboard", fraction)).zone == "dashboard"


def test_looking_far_away_from_every_zone_is_other(layout):
    _, scored = classifiers(layout)
    pose = head_pose(angles_to_direction(-75.0, 0.0), layout.nominal_head_mm, layout.camera_pose)
    assert scored.classify(pose).zone == "other"
    pose = head_pose(angles_to_direction(10.0, -35.0), layout.nominal_head_mm, layout.camera_pose)
    assert scored.classify(pose).zone == "other"  # up at the roof


def test_eyes_mix_by_their_weight(layout):
    """Visible eyes (P(hidden) 0) give the eyes' ray scored against the zones exactly; hidden
    eyes (P 1) give the head-space scores exactly; in between, the mixture."""
    plain, scored = classifiers(layout)
    pose = short_turn(layout, "media_centre", 0.6)
    origin = pose.position_mm
    to_mirror = layout.zone("left_mirror").target_mm(layout.nominal_head_mm) - layout.nominal_head_mm
    direction = layout.camera_pose.rotation.T @ (to_mirror / np.linalg.norm(to_mirror))
    visible = EyeGaze(origin, direction, (0.0, 0.0), hidden_p=0.0)
    hidden = EyeGaze(origin, direction, (0.0, 0.0), hidden_p=1.0)
    half = EyeGaze(origin, direction, (0.0, 0.0), hidden_p=0.5)
    p_eyes = plain.classify(pose, eyes=visible).probabilities
    assert scored.classify(pose, eyes=visible).probabilities == pytest.approx(p_eyes)
    assert scored.classify(pose, eyes=visible).zone == "left_mirror"
    p_head = scored.classify(pose).probabilities
    assert scored.classify(pose, eyes=hidden).probabilities == pytest.approx(p_head)
    p_half = scored.classify(pose, eyes=half).probabilities
    assert p_half == pytest.approx({k: 0.5 * p_eyes[k] + 0.5 * p_head[k] for k in p_head})


def test_the_stage_scores_in_head_space_when_asked(layout):
    """The stage's default is the ray ("ray"); gaze_state_config("head-space") turns the scorer on
    and weighs the eyes by their spread."""
    from monitor.estimates import Estimates
    pose = short_turn(layout, "media_centre", 0.6)
    ray = GazeStateStage(layout)
    share = GazeStateStage(layout, config=gaze_state_config("head-space"))
    assert ray.classifier.head_space is None and share.classifier.head_space is not None
    assert share.config.head_spread_deg == 12.0 and ray.config.head_spread_deg is None
    assert gaze_state_config("ray") == GazeStateConfig()
    assert share.process(Estimates(pose), 0.0)[0].raw_zone == "media_centre"
    assert ray.process(Estimates(pose), 0.0)[0].raw_zone != "media_centre"
    with pytest.raises(ValueError, match="unknown gaze scoring"):
        gaze_state_config("nearest")


@pytest.mark.parametrize("bad", [dict(noise_deg=0), dict(share_spread=-0.1), dict(other_sigmas=0),
                                 dict(noise_deg=float("nan")), dict(share_spread=float("inf")),
                                 dict(scatter_ref_deg=0.0), dict(scatter_ref_deg=float("nan"))])
def test_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        HeadSpaceConfig(**bad)


def test_a_head_turned_past_the_target_is_other(layout):
    """Nobody turns the head further than where they look: past a head turned all the way to the
    right mirror (share 1, ~61 deg) only the pose error counts, so a head 75 deg to the right (looking
    out of the side window) is "other", not the right mirror; the mirror itself still is."""
    _, scored = classifiers(layout)
    far = head_pose(angles_to_direction(75.0, 4.0), layout.nominal_head_mm, layout.camera_pose)
    assert scored.classify(far).zone == "other"  # without the cap: the right mirror (p 0.69)
    assert scored.classify(short_turn(layout, "right_mirror", 1.0)).zone == "right_mirror"
    assert scored.classify(short_turn(layout, "right_mirror", 1.25)).zone == "right_mirror"  # share 0.87


def test_the_road_ahead_offset_moves_the_head_before_scoring(layout):
    """The scorer sees the head with the road-ahead offset added, as the ray does."""
    _, scored = classifiers(layout)
    pose = short_turn(layout, "media_centre", 0.6)
    az, el = direction_to_angles(scored.head_ray(pose)[1])
    moved = head_pose(angles_to_direction(az - 6.0, el + 3.0), layout.nominal_head_mm, layout.camera_pose)
    plain = scored.classify(pose).probabilities
    assert scored.classify(moved).zone != "media_centre"
    scored.head_offset_deg = (6.0, -3.0)
    assert scored.classify(moved).probabilities == pytest.approx(plain, abs=1e-9)


def test_the_eyes_weight_position_and_reported_ray(layout):
    """With eyes the mixture uses the eye weight (eye_weight x spread share x (1 - P hidden)), the
    reported origin is the eyes' and the reported ray the blend of the head-only and eye rays."""
    plain, scored = classifiers(layout)
    pose = short_turn(layout, "media_centre", 0.6)
    to_mirror = layout.zone("left_mirror").target_mm(layout.nominal_head_mm) - layout.nominal_head_mm
    eye_origin_car = layout.nominal_head_mm + np.array([0.0, 30.0, 80.0])
    eyes = EyeGaze(layout.camera_pose.to_camera(eye_origin_car),
                   layout.camera_pose.rotation.T @ (to_mirror / np.linalg.norm(to_mirror)), (0.0, 0.0),
                   spread_deg=4.0, hidden_p=0.2)
    scored.eye_weight, scored.head_spread_deg = 0.5, 4.0
    w = 0.5 * 0.5 * 0.8  # eye weight x 4^2 / (4^2 + 4^2) x (1 - 0.2)
    p_head = scored.classify(pose).probabilities
    head_only_angles = scored.classify(pose).gaze_angles_deg
    clear = EyeGaze(eyes.origin_mm, eyes.direction, (0.0, 0.0), spread_deg=None, hidden_p=0.0)
    p_eyes = plain.classify(pose, eyes=clear).probabilities  # the eyes' ray alone, scored as a ray
    got = scored.classify(pose, eyes=eyes)
    assert got.probabilities == pytest.approx({k: w * p_eyes[k] + (1 - w) * p_head[k] for k in p_head})
    assert np.allclose(got.head_position_car_mm, eye_origin_car)
    eye_angles = direction_to_angles(to_mirror)
    expected = [h + w * (e - h) for h, e in zip(head_only_angles, eye_angles)]
    assert got.gaze_angles_deg == pytest.approx(expected)
    assert np.allclose(got.gaze_direction_car, angles_to_direction(*expected))


def test_a_calibrated_model_scores_with_its_own_inverse(layout):
    """A driver calibration's model (here: twice the default gains, a "lizard") sets where each
    zone's head direction is: its own glances score right with it, not with the default model."""
    m = layout.driver_model
    lizard = HeadGazeModel(2 * m.yaw_gain, 2 * m.pitch_gain, m.yaw_offset_deg, m.pitch_offset_deg)
    calibrated = GazeZoneClassifier(layout, lizard)
    calibrated.use_head_space(HeadSpaceConfig())
    _, default = classifiers(layout)
    head = layout.nominal_head_mm
    mine, theirs = calibrated.head_space._geometry(head).heads, default.head_space._geometry(head).heads
    for i, zone in enumerate(layout.zone_names):
        az, el = calibrated.head_angles_for(direction_to_angles(layout.zone(zone).target_mm(head) - head))
        assert mine[i] == pytest.approx((az, el), abs=0.2)  # the zone sits where this driver's head points
        if zone != "road":
            assert np.hypot(*(mine[i] - theirs[i])) > 1.5
        pose = head_pose(angles_to_direction(az, el), head, layout.camera_pose)
        assert calibrated.classify(pose).zone == zone


@pytest.mark.parametrize("position", [1.797e308, 5e4])
def test_an_unusable_head_position_falls_back_to_the_nominal_head(layout, position):
    """A position no seat allows (50 m away, or one that overflows to inf in the car frame) must not
    reach the scorer's position cache or the ray: the nominal head is used, as without a position."""
    plain, scored = classifiers(layout)
    pose = short_turn(layout, "media_centre", 0.6)
    pose.position_mm = np.full(3, position)
    for clf in (plain, scored):
        got = clf.classify(pose)
        assert np.allclose(got.head_position_car_mm, layout.nominal_head_mm)
    assert scored.classify(pose).zone == "media_centre"


def test_zone_geometry_is_cached_per_cell_and_bounded(layout):
    clf = GazeZoneClassifier(layout)
    scorer = HeadSpaceScorer(layout, clf.head_angles_for, clf.gaze_angles, HeadSpaceConfig())
    scorer.MAX_CACHE = 3
    head = layout.nominal_head_mm
    first = scorer._geometry(head)
    assert scorer._geometry(head + 2.0) is first  # the same 10 mm cell
    for dx in (40.0, 80.0, 120.0):
        scorer._geometry(head + np.array([dx, 0.0, 0.0]))
    assert len(scorer._cache) <= 3 and scorer._geometry(head) is not first  # cleared once full


def test_the_score_is_the_documented_one(layout):
    """docs/gaze_state.md step 6, written out: the line runs from the road's head direction to the
    zone's, the spread along it is sqrt(n^2 + (k L)^2), the Gaussian's normalisation is in the score
    and "other" scores -0.5 other_sigmas^2."""
    clf = GazeZoneClassifier(layout)
    config = HeadSpaceConfig()
    scorer = HeadSpaceScorer(layout, clf.head_angles_for, clf.gaze_angles, config)
    head_mm = layout.nominal_head_mm
    g = scorer._geometry(head_mm)
    road = g.heads[layout.zone_names.index("road")]
    n, k = config.noise_deg, config.share_spread
    h = np.array([9.0, 8.0])
    logits = []
    for i, zone in enumerate(layout.zone_names):
        line = g.heads[i] - road
        length = np.linalg.norm(line)
        u = line / length if length > 1e-6 else np.zeros(2)
        assert g.unit[i] == pytest.approx(u)
        s = np.hypot(n, k * length)
        d = h - g.heads[i]
        a = float(d @ u)
        c2 = float(d @ d) - a * a
        d2 = (min(a, g.room[i]) / s) ** 2 + (max(a - g.room[i], 0.0) / n) ** 2 + c2 / n ** 2
        logits.append(-0.5 * d2 - np.log(s / n))
    logits.append(-0.5 * config.other_sigmas ** 2)
    p = np.exp(np.array(logits) - max(logits))
    assert scorer.probabilities(head_mm, tuple(h)) == pytest.approx(p / p.sum())


# --- eyes seen from the side (GazeStateConfig.eye_view_deg) ------------------------------------------
def test_the_view_angle_is_the_faces_turn_away_from_the_camera():
    eyes = np.array([0.0, 0.0, 800.0])  # on the optical axis, 0.8 m away
    assert view_angle_deg(np.array([0.0, 0.0, -1.0]), eyes) == pytest.approx(0.0)  # facing the camera
    assert view_angle_deg(np.array([1.0, 0.0, 0.0]), eyes) == pytest.approx(90.0)  # in profile
    turned = np.array([np.sin(np.radians(30.0)), 0.0, -np.cos(np.radians(30.0))])
    assert view_angle_deg(turned, eyes) == pytest.approx(30.0)
    off_axis = np.array([400.0, 0.0, 400.0])  # 45 deg off the optical axis: facing -z is 45 deg off it
    assert view_angle_deg(np.array([0.0, 0.0, -1.0]), off_axis) == pytest.approx(45.0)


def test_the_oblique_view_share_steps_or_ramps():
    assert [oblique_view_share(a, 45.0, 45.0) for a in (0.0, 44.9, 45.0, 80.0)] == [1.0, 1.0, 0.0, 0.0]
    assert [oblique_view_share(a, 40.0, 50.0) for a in (39.0, 40.0, 45.0, 50.0, 51.0)] == \
        pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])


def eyes_and_head_turned_from_camera(layout, angle_deg):
    """A head at the nominal position whose face is turned ``angle_deg`` (about the car's vertical)
    away from the camera, and eyes at its centre looking at the left mirror."""
    head_mm = layout.nominal_head_mm
    to_camera = layout.camera_pose.position_mm - head_mm
    az, el = direction_to_angles(to_camera)
    pose = head_pose(angles_to_direction(az + angle_deg, el), head_mm, layout.camera_pose)
    to_mirror = layout.zone("left_mirror").target_mm(head_mm) - head_mm
    eyes = EyeGaze(layout.camera_pose.to_camera(head_mm),
                   layout.camera_pose.rotation.T @ (to_mirror / np.linalg.norm(to_mirror)), (0.0, 0.0))
    return pose, eyes


@pytest.mark.parametrize("angle", [30.0, 50.0])
def test_eyes_seen_past_the_view_limit_get_no_weight(layout, angle):
    """With eye_view_deg (45, 45) eyes on a face turned 50 deg from the camera leave exactly the
    head-only scores; at 30 deg the eyes count as without the limit."""
    _, limited = classifiers(layout)
    _, unlimited = classifiers(layout)
    limited.eye_view_deg = (45.0, 45.0)
    pose, eyes = eyes_and_head_turned_from_camera(layout, angle)
    head_only = unlimited.classify(pose).probabilities
    with_eyes = unlimited.classify(pose, eyes=eyes).probabilities
    assert with_eyes["left_mirror"] > head_only["left_mirror"] + 0.5  # the eyes matter on this frame
    expected = head_only if angle > 45.0 else with_eyes
    assert limited.classify(pose, eyes=eyes).probabilities == pytest.approx(expected, abs=1e-12)


def test_the_stage_passes_the_eye_view_limit_to_its_classifier(layout):
    """Through GazeStateStage.process: eyes on a face turned 50 deg from the camera change nothing
    with the head-space settings, and move the zone without the limit."""
    pose, eyes = eyes_and_head_turned_from_camera(layout, 50.0)
    head_only = Estimates(head=pose)
    with_eyes = Estimates(head=pose, eyes=eyes)
    results = {}
    for name, config in (("limited", gaze_state_config("head-space")),
                         ("unlimited", replace(gaze_state_config("head-space"), eye_view_deg=None))):
        for label, est in (("head", head_only), ("eyes", with_eyes)):
            stage = GazeStateStage(layout, config=config)
            results[name, label] = stage.process(est, 0.0)[0].probabilities
    assert results["limited", "eyes"] == pytest.approx(results["limited", "head"], abs=1e-12)
    assert results["unlimited", "eyes"]["left_mirror"] > results["unlimited", "head"]["left_mirror"] + 0.1


def test_the_head_space_scoring_limits_the_eye_view_and_the_ray_does_not():
    assert gaze_state_config("head-space").eye_view_deg == EYE_VIEW_DEG == (45.0, 45.0)
    assert gaze_state_config("ray").eye_view_deg is None and GazeStateConfig().eye_view_deg is None
    for bad in ((50.0, 40.0), (-1.0, 45.0), (45.0, 181.0), (40.0, 45.0, 50.0), (45.0,)):
        with pytest.raises(ValueError, match="eye_view_deg"):
            GazeStateConfig(eye_view_deg=bad)


def test_other_needs_more_where_the_head_scatters_more_about_the_road(layout):
    """A head 8 deg above the road ahead misses every zone: "other" while the head model is as
    precise as the reference scatter says, the road once the road-ahead scatter is twice that.
    Zone against zone is scored as before: the zones' probability ratios do not change."""
    clf = GazeZoneClassifier(layout)
    clf.use_head_space(HeadSpaceConfig(scatter_ref_deg=1.0))
    az, el = clf.road_head_angles()
    pose = head_pose(angles_to_direction(az, el - 8.0), layout.nominal_head_mm, layout.camera_pose)
    found = {}
    for scatter in (None, 0.7, 1.0, 2.0):
        clf.head_scatter_deg = scatter
        found[scatter] = clf.classify(pose)
    assert [found[s].zone for s in (None, 0.7, 1.0)] == ["other"] * 3
    assert found[None].probabilities == found[0.7].probabilities == found[1.0].probabilities
    assert found[2.0].zone == "road"
    ratio = {s: found[s].probabilities["road"] / found[s].probabilities["dashboard"] for s in (None, 2.0)}
    assert ratio[2.0] == pytest.approx(ratio[None], rel=1e-9)
    fixed = GazeZoneClassifier(layout)
    fixed.use_head_space(HeadSpaceConfig())  # no reference: the scatter changes nothing
    fixed.head_scatter_deg = 2.0
    assert fixed.classify(pose).zone == "other"


def test_other_sigmas_grow_in_proportion_past_the_reference():
    config = HeadSpaceConfig(other_sigmas=3.5, scatter_ref_deg=1.25)
    assert config.other_sigmas_for(None) == config.other_sigmas_for(1.0) == 3.5
    assert config.other_sigmas_for(2.5) == pytest.approx(7.0)
    assert HeadSpaceConfig(other_sigmas=3.5).other_sigmas_for(2.5) == 3.5


def test_the_stage_feeds_the_road_ahead_scatter_to_the_scoring(layout):
    """The head-space default reads the scatter: after a few seconds on the road the classifier
    has the calibrator's scatter; reset() forgets it. The ray scoring has no head-space scorer."""
    assert gaze_state_config("head-space").head_space.scatter_ref_deg == SCATTER_REF_DEG == 1.0
    assert gaze_state_config("ray").head_space is None
    stage = GazeStateStage(layout, config=gaze_state_config("head-space"))
    rng = np.random.default_rng(0)
    az, el = stage.classifier.road_head_angles()
    for i in range(150):  # 5 s on the road, the head swaying 1.5 deg per axis
        d = rng.normal(0.0, 1.5, 2)
        stage.process(Estimates(head_pose(angles_to_direction(az + d[0], el + d[1]), layout.nominal_head_mm,
                                          layout.camera_pose)), i / 30.0)
    assert stage.classifier.head_scatter_deg == stage.road_ahead.scatter_deg
    assert stage.classifier.head_scatter_deg == pytest.approx(1.5, rel=0.25)
    stage.reset()
    assert stage.classifier.head_scatter_deg is None and stage.road_ahead.scatter_deg is None

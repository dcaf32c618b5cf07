"""Head-only zone scoring in head space (monitor/gaze/head_share.py) on constructed head poses;
tests/test_gaze_classifier.py also runs its per-zone and user-layout checks with it."""
from pathlib import Path

import numpy as np
import pytest

from calib.layout import load_layout
from monitor.estimates import EyeGaze
from monitor.gaze import GazeZoneClassifier
from monitor.gaze.head_share import HeadShareConfig
from monitor.gaze.ray import angles_to_direction, direction_to_angles
from monitor.gaze.stage import GazeStateConfig, GazeStateStage, gaze_state_config
from gaze_fakes import head_pose

LAYOUTS = Path(__file__).resolve().parents[1] / "calib" / "layouts"


@pytest.fixture(scope="module")
def layout():
    return load_layout(LAYOUTS / "synthetic_cabin.json")


def classifiers(layout):
    """(plain ray scoring, head-space scoring) with the layout's default driver model."""
    plain = GazeZoneClassifier(layout)
    scored = GazeZoneClassifier(layout)
    scored.use_head_share(HeadShareConfig())
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
    assert ray.classifier.head_share is None and share.classifier.head_share is not None
    assert share.config.head_spread_deg == 12.0 and ray.config.head_spread_deg is None
    assert gaze_state_config("ray") == GazeStateConfig()
    assert share.process(Estimates(pose), 0.0)[0].raw_zone == "media_centre"
    assert ray.process(Estimates(pose), 0.0)[0].raw_zone != "media_centre"
    with pytest.raises(ValueError, match="unknown gaze scoring"):
        gaze_state_config("nearest")


@pytest.mark.parametrize("bad", [dict(noise_deg=0), dict(share_spread=-0.1), dict(other_sigmas=0),
                                 dict(noise_deg=float("nan")), dict(share_spread=float("inf"))])
def test_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        HeadShareConfig(**bad)

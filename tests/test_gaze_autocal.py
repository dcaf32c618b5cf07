"""Road-ahead auto-calibration (monitor/gaze/autocal.py) on constructed head directions."""
import numpy as np
import pytest

from monitor.gaze.autocal import RoadAheadCalibrator, RoadAheadConfig, densest_direction


def _samples(rng, n, centre, share=0.7, noise=2.0):
    road = rng.normal(centre, noise, (int(n * share), 2))
    glances = rng.uniform([-40, -30], [40, 10], (n - len(road), 2))
    return rng.permutation(np.vstack([road, glances]))


def test_densest_direction_finds_the_road_cluster_among_glances():
    rng = np.random.default_rng(0)
    s = _samples(rng, 900, (2.0, -3.0))
    found = densest_direction(s, np.array([0.0, 0.0]), 16.0, 3.0)
    assert np.allclose(found, (2.0, -3.0), atol=0.3)
    assert densest_direction(np.empty((0, 2)), np.zeros(2), 16.0, 3.0) is None
    # no cluster holding the required share: no answer
    flat = rng.uniform(-15, 15, (900, 2))
    assert densest_direction(flat, np.zeros(2), 16.0, 3.0, min_share=0.5) is None


def test_calibrator_waits_for_history_then_maps_the_mode_onto_the_expected_direction():
    rng = np.random.default_rng(1)
    cal = RoadAheadCalibrator((1.0, -2.0), RoadAheadConfig(min_history_s=3.0, update_every_s=0.5))
    offsets = [cal.add(i / 30.0, tuple(a)) for i, a in enumerate(_samples(rng, 600, (4.0, 2.0)))]
    assert offsets[80] == (0.0, 0.0)  # 2.7 s: too early
    assert np.allclose(offsets[-1], (-3.0, -4.0), atol=0.4)


def test_calibrator_looks_for_the_peak_early_when_asked_and_counts_frame_times_in_float():
    rng = np.random.default_rng(5)
    cal = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(min_history_s=3.0, min_samples=60))
    assert not cal.update_now(0.0) and not cal.ready  # nothing seen yet
    samples = _samples(rng, 120, (2.0, 1.0), share=0.9, noise=1.0)
    for i, a in enumerate(samples[:45]):
        cal.add(i / 15.0, tuple(a))
    assert not cal.ready and cal.offset_deg == (0.0, 0.0)  # 3 s at 15 fps: 45 directions, not 60
    assert cal.update_now(3.0) and np.allclose(cal.offset_deg, (-2.0, -1.0), atol=0.5)
    assert cal.scatter_deg is not None
    # 90 frames of 1/30 s that add up to a hair under the 3 s of history still update
    hair = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(min_history_s=3.0, min_samples=60))
    for i, a in enumerate(samples[:91]):
        hair.add(10.0 + i / 30.0 - (1e-7 if i == 90 else 0.0), tuple(a))
    assert hair.ready
    off = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(enabled=False))
    off.add(0.0, (2.0, 1.0))
    assert not off.update_now(5.0)


def test_calibrator_refuses_large_offsets_and_can_be_disabled():
    rng = np.random.default_rng(2)
    far = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(max_offset_deg=5.0))
    for i, a in enumerate(_samples(rng, 300, (9.0, 0.0), share=0.9)):
        far.add(i / 30.0, tuple(a))
    assert far.offset_deg == (0.0, 0.0)
    off = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(enabled=False))
    for i, a in enumerate(_samples(rng, 300, (3.0, 0.0))):
        off.add(i / 30.0, tuple(a))
    assert off.offset_deg == (0.0, 0.0)


def test_old_samples_leave_the_window():
    cal = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(window_s=10.0, min_history_s=1.0))
    rng = np.random.default_rng(3)
    for i in range(900):  # 30 s: first 15 s around (3, 0), then around (-3, 0)
        centre = (3.0, 0.0) if i < 450 else (-3.0, 0.0)
        cal.add(i / 30.0, tuple(rng.normal(centre, 1.0)))
    assert np.allclose(cal.offset_deg, (3.0, 0.0), atol=0.4)


@pytest.mark.parametrize("bad", [dict(window_s=0), dict(bandwidth_deg=-1), dict(min_share=0), dict(max_offset_deg=0)])
def test_config_is_checked(bad):
    with pytest.raises(ValueError):
        RoadAheadConfig(**bad)


def test_no_offset_from_a_handful_of_samples_however_long_ago_the_first_was():
    """One head at t=0, then a few glance samples 3 s later: too little history for an offset."""
    cal = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(min_history_s=3.0, min_samples=60))
    cal.add(0.0, (0.0, 0.0))
    for k in range(5):
        cal.add(3.0 + 0.1 * k, (9.0, -6.0))
    assert cal.offset_deg == (0.0, 0.0)


@pytest.mark.parametrize("sway", [0.8, 1.5, 2.5])
def test_the_scatter_about_the_road_ahead_is_the_heads_rms_per_axis_there(sway):
    """Head directions about the road with per-axis sd ``sway``, and glances far off it: the
    scatter is that sd (the glances lie outside its radius), None before the first offset."""
    rng = np.random.default_rng(4)
    cal = RoadAheadCalibrator((0.0, 0.0), RoadAheadConfig(min_history_s=3.0))
    road = rng.normal((2.0, -1.0), sway, (1400, 2))
    glances = rng.uniform([15, -25], [40, -12], (600, 2))  # media centre, right mirror: > 6 deg away
    for i, a in enumerate(rng.permutation(np.vstack([road, glances]))):
        if i == 60:
            assert cal.scatter_deg is None  # 2 s: no offset yet, so no scatter either
        cal.add(i / 30.0, tuple(a))
    # a 2-D normal cut at radius R = 6 deg keeps E[r^2 | r < R] = 2 sd^2 (1 - h e^-h / (1 - e^-h)),
    # h = R^2 / (2 sd^2); 0.5-deg bins add 0.5 / sqrt(12) = 0.14 deg in quadrature
    h = 6.0 ** 2 / (2 * sway ** 2)
    truncated = sway * np.sqrt(1 - h * np.exp(-h) / (1 - np.exp(-h)))
    assert cal.scatter_deg == pytest.approx(np.hypot(truncated, 0.5 / np.sqrt(12)), rel=0.05)


def test_the_scatter_radius_is_checked():
    with pytest.raises(ValueError, match="scatter_radius_deg"):
        RoadAheadConfig(scatter_radius_deg=0.0)

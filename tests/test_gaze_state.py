"""Hysteresis and distraction timers with an injected clock."""
import numpy as np
import pytest

from monitor.gaze import Debouncer, DistractionConfig, DistractionMonitor, HysteresisConfig

FPS = 30.0


def frames(script, fps=FPS, t0=100.0):
    """[(label, seconds), ...] -> [(t, label)] at ``fps``; t0 != 0 so nothing relies on t = 0."""
    labels = [label for label, dur in script for _ in range(int(round(dur * fps)))]
    return [(t0 + i / fps, label) for i, label in enumerate(labels)]


def run(script, config=None, fps=FPS):
    mon = DistractionMonitor(config)
    events, states = [], []
    for t, label in frames(script, fps):
        st, ev = mon.update(t, label)
        states.append(st)
        events += ev
    return events, states


def test_single_frame_glitch_never_flips():
    deb = Debouncer(HysteresisConfig(min_frames=3, min_duration_s=0.05))
    seq = ["road"] * 10 + ["left_mirror"] + ["road"] * 5 + ["other", "other"] + ["road"] * 5 + ["dashboard"] * 4
    out = []
    for i, z in enumerate(seq):
        out.append(deb.update(i / FPS, z))
    zones = [z for z, _ in out]
    assert zones[2:23] == ["road"] * 21
    assert zones[-1] == "dashboard" and out[-1][1] == pytest.approx(23 / FPS)  # backdated to the run's start


def test_debouncer_needs_first_confirmation():
    deb = Debouncer(HysteresisConfig(min_frames=3, min_duration_s=0.0))
    assert deb.update(0.0, "road") == (None, None)
    assert deb.update(0.1, "road") == (None, None)
    assert deb.update(0.2, "road") == ("road", 0.0)


def test_long_distraction_start_time_exact():
    events, states = run([("on", 5.0), ("off", 4.0), ("on", 5.0)])
    assert [(e.kind, e.phase) for e in events] == [("long_distraction", "start"), ("long_distraction", "end")]
    start, end = events
    t_off = 100.0 + 150 / FPS  # first off frame
    assert start.start_s == pytest.approx(t_off, abs=1e-9)
    assert start.criterion_met_s == pytest.approx(t_off + 3.0, abs=1e-9)
    assert t_off + 3.0 <= start.detected_s < t_off + 3.0 + 1.0 / FPS + 1e-9
    assert end.end_s == pytest.approx(t_off + 4.0, abs=1e-9) and end.start_s == start.start_s
    assert end.duration_s == pytest.approx(4.0, abs=1e-9)
    assert any(s.long_distraction for s in states) and not states[-1].long_distraction


def test_glance_just_under_threshold_is_not_long():
    events, _ = run([("on", 5.0), ("off", 2.9), ("on", 5.0)])
    assert events == []


def test_vats_cumulative_window():
    # five 2.5 s glances 2 s apart: never >= 3 s, but > 10 s off-road within 30 s
    script = [("on", 5.0)] + [("off", 2.5), ("on", 2.0)] * 5 + [("on", 40.0)]
    events, states = run(script)
    kinds = [(e.kind, e.phase) for e in events]
    assert kinds == [("vats", "start"), ("vats", "end")]
    start = events[0]
    first_glance = 105.0
    # four glances make exactly 10 s; the criterion is "> 10 s", met as the fifth glance begins
    met = first_glance + 4 * (2.5 + 2.0)
    assert start.start_s == pytest.approx(first_glance, abs=1e-6)
    assert start.criterion_met_s == pytest.approx(met, abs=1e-5)
    # it ends when the first glance has left the window: 12.5 s - 2.5 s is back to 10 s
    assert events[1].end_s == pytest.approx(107.5 + 30.0, abs=1e-5)
    assert start.detected_s - met < 2.0 / FPS
    assert max(s.off_road_window_s for s in states) == pytest.approx(12.5, abs=0.05)
    assert not states[-1].vats


def test_clean_drive_no_event():
    rng = np.random.default_rng(1)
    script = []
    for _ in range(20):  # 20 x 10 s: 1 s mirror/dashboard glance per 10 s, with single-frame glitches
        script += [("on", float(rng.uniform(8.0, 8.8))), ("off", float(rng.uniform(0.6, 1.4)))]
    labelled = frames(script)
    mon = DistractionMonitor()
    events = []
    for i, (t, label) in enumerate(labelled):
        if i % 37 == 0:
            label = "off" if label == "on" else "on"  # one-frame classifier glitch
        if i % 53 == 0:
            label = "unknown"                       # one-frame detector miss
        events += mon.update(t, label)[1]
    assert events == []


def test_unknown_policies():
    script = [("on", 5.0), ("unknown", 4.0), ("on", 2.0)]
    ev_off, st = run(script)  # default: off_road after the hold, backdated to the first missing frame
    assert [(e.kind, e.phase) for e in ev_off] == [("long_distraction", "start"), ("long_distraction", "end")]
    assert ev_off[0].start_s == pytest.approx(105.0, abs=1e-9)
    assert max(s.head_missing_s for s in st) == pytest.approx(4.0 - 1 / FPS, abs=1e-6)
    assert run(script, DistractionConfig(unknown_policy="on_road"))[0] == []
    assert run(script, DistractionConfig(unknown_policy="hold"))[0] == []
    # a short dropout is held, whatever the policy
    assert run([("on", 5.0), ("unknown", 0.4), ("on", 5.0)])[0] == []


def test_configurable_thresholds():
    cfg = DistractionConfig(long_s=1.5, vats_window_s=10.0, vats_threshold_s=4.0)
    events, _ = run([("on", 2.0), ("off", 2.0), ("on", 2.0), ("off", 2.5), ("on", 12.0)], cfg)
    kinds = sorted({e.kind for e in events})
    assert kinds == ["long_distraction", "vats"]


@pytest.mark.parametrize("kwargs", [dict(long_s=0), dict(vats_threshold_s=30, vats_window_s=30),
                                    dict(unknown_policy="maybe"), dict(unknown_hold_s=-1)])
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        DistractionConfig(**kwargs)


def test_time_must_not_go_backwards():
    mon = DistractionMonitor()
    mon.update(1.0, "on")
    with pytest.raises(ValueError, match="backwards"):
        mon.update(0.5, "on")
    with pytest.raises(ValueError, match="road_state"):
        mon.update(2.0, "road")

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


@pytest.mark.parametrize("away, expect, since_frame", [
    (["left_mirror", "unknown"], "left_mirror", 5),  # a face detector that misses every other frame
    (["media_centre", "dashboard"], "dashboard", 6),  # a ray on the boundary of two zones: a tie, the latest wins
    (["media_centre", "media_centre", "dashboard"], "media_centre", 5),  # the most frequent wins
])
def test_alternating_labels_do_not_leave_a_stale_zone(away, expect, since_frame):
    """No label persists for min_frames in a row, yet the zone has plainly left the road: after
    2 x min_frames differing frames the most frequent label takes over (a zone before "unknown"),
    backdated to its first frame; one noisy frame still never flips it back."""
    deb = Debouncer(HysteresisConfig(min_frames=3, min_duration_s=0.05, min_duration_for={"unknown": 0.5}))
    seq = ["road"] * 5 + [away[i % len(away)] for i in range(40)] + ["road"]
    out = [deb.update(i / FPS, z) for i, z in enumerate(seq)]
    assert [z for z, _ in out[3:10]] == ["road"] * 7  # 5 away frames are not yet enough
    assert out[-2] == (expect, pytest.approx(since_frame / FPS)) and out[-1][0] == expect
    assert [z for z, _ in out[11:]] == [expect] * (len(seq) - 11)


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


def feed(timed, config=None):
    """[(t, label)] -> (events, states)."""
    mon = DistractionMonitor(config)
    events, states = [], []
    for t, label in timed:
        st, ev = mon.update(t, label)
        states.append(st)
        events += ev
    return events, states


def vats(events):
    return [e for e in events if e.kind == "vats"]


def test_the_documented_boundaries_hold():
    # exactly 10 s off-road in 30 s is not "more than 10 s"
    assert run([("on", 5.0)] + [("off", 2.5), ("on", 2.0)] * 4 + [("on", 40.0)])[0] == []
    # 89 frames (2.967 s) is not a 3 s glance
    assert run([("on", 5.0), ("off", 89 / FPS), ("on", 5.0)])[0] == []
    # one 12 s glance: long distraction at +3 s, VATS at +10 s
    events, _ = run([("on", 5.0), ("off", 12.0), ("on", 40.0)])
    assert [(e.kind, e.phase) for e in events] == [("long_distraction", "start"), ("vats", "start"),
                                                   ("long_distraction", "end"), ("vats", "end")]
    assert events[0].criterion_met_s == pytest.approx(108.0, abs=1e-9)
    assert events[1].start_s == pytest.approx(105.0, abs=1e-9)
    assert events[1].criterion_met_s == pytest.approx(115.0, abs=1e-5)
    assert events[3].end_s == pytest.approx(137.0, abs=1e-5)
    # VATS re-arms once it has ended
    events, _ = run([("on", 5.0), ("off", 11.0), ("on", 15.0)] + [("off", 2.5), ("on", 2.0)] * 6 + [("on", 40.0)])
    assert [(e.phase, round(e.start_s, 4), round(e.criterion_met_s, 4)) for e in vats(events)] == [
        ("start", 105.0, 115.0), ("end", 105.0, 115.0), ("start", 131.0, 149.0), ("end", 131.0, 149.0)]


@pytest.mark.parametrize("hysteresis, b_frame", [(HysteresisConfig(3, 0.05), 839), (HysteresisConfig(3, 0.5), 831)])
def test_vats_that_ends_while_the_return_is_pending(hysteresis, b_frame):
    """Off [0, 8), then a second glance from b until 31.0: the window total sits at 38 - b > 10
    while the first glance leaves the window, and falls back to 10 at 59 - b, after the return
    (still pending confirmation at that moment)."""
    b = b_frame / FPS
    timed = [(i / FPS, "off" if i < 240 or b_frame <= i < 930 else "on") for i in range(1300)]
    events, _ = feed(timed, DistractionConfig(hysteresis=hysteresis))
    start, end = vats(events)
    assert (start.phase, end.phase) == ("start", "end")
    assert start.start_s == pytest.approx(0.0, abs=1e-9)
    assert start.criterion_met_s == pytest.approx(b + 2.0, abs=1e-5)
    assert end.end_s == pytest.approx(59.0 - b, abs=1e-5)
    assert end.end_s > end.criterion_met_s


@pytest.mark.parametrize("glitch_frames", [1, 2])
def test_a_glitch_back_to_the_road_neither_ends_nor_reraises_vats(glitch_frames):
    """As above, but the "return" lasts 1-2 frames (never confirmed) and the glance goes on to
    frame 1000: one VATS, ending when the window total falls back to 10 after the real return."""
    glitch = range(930, 930 + glitch_frames)
    timed = [(i / FPS, "off" if (i < 240 or 839 <= i < 1000) and i not in glitch else "on") for i in range(1400)]
    events, states = feed(timed)
    assert [e.phase for e in vats(events)] == ["start", "end"]
    assert not any(s.on_road for s in states[845:1000])
    assert vats(events)[1].end_s == pytest.approx(38.0 + (1000 - 839) / FPS - 10.0, abs=1e-5)


def test_a_glance_pending_confirmation_keeps_vats_going():
    """Off [0, 8) and [20, 23): 11 s in the window, falling to 10 at 31.0 as the first glance
    leaves it; a third glance starting at 30.967 holds the total at 10.033, so the episode goes
    on (it must not end while the glance awaits confirmation and start again when it is confirmed)."""
    t0 = 100.0
    timed = [(t0 + i / FPS, "off" if i < 240 or 600 <= i < 690 or 929 <= i < 1200 else "on") for i in range(2000)]
    events, _ = feed(timed)
    start, end = vats(events)
    assert (start.phase, end.phase) == ("start", "end")
    assert start.criterion_met_s == pytest.approx(t0 + 22.0, abs=1e-5)
    # window total 3 + (40 - 929/30) = 12.033 when the last glance ends; the [20, 23) glance leaves from 50 on
    assert end.end_s == pytest.approx(t0 + 50.0 + (3.0 + 40.0 - 929 / FPS) - 10.0, abs=1e-5)


def _span(a, b, label, t0):
    return [(t0 + i / FPS, label) for i in range(a, b)]


@pytest.mark.parametrize("case", ["falling", "rising"])
def test_a_gap_in_frames_counts_as_the_state_persisting(case):
    """No frames for a while: the state held through the gap, so the VATS crossing times must be
    those of a stream with frames all through it."""
    if case == "falling":  # off [5, 17), on: VATS from 15 to 37 s; frames stop at 18 s, resume at 118 s
        head = _span(0, 150, "on", 0.0) + _span(150, 510, "off", 0.0) + _span(510, 540, "on", 0.0)
        gap = head + [(head[-1][0] + 100.0 + i / FPS, "on") for i in range(3)]
        full = head + [(18.0 + i / FPS, "on") for i in range(3100)]
        expected = dict(start_s=5.0, criterion_met_s=15.0, end_s=37.0)
    else:  # off [0, 8), on [8, 10), off from 10; frames stop at 10.5 s, resume at 50 s (still off)
        head = _span(0, 240, "off", 0.0) + _span(0, 60, "on", 8.0) + _span(0, 16, "off", 10.0)
        gap = head + [(50.0, "off"), (50.0 + 1 / FPS, "off")]
        full = head + _span(16, 1202, "off", 10.0)
        expected = dict(start_s=0.0, criterion_met_s=12.0)
    for timed in (full, gap):
        ev = vats(feed(timed)[0])
        ev = ev[-1] if case == "falling" else ev[0]
        assert {k: getattr(ev, k) for k in expected} == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("t0, fps", [(0.2, 30.0), (0.2, 25.0), (0.2, 10.0), (100.0, 30.0)])
def test_glance_of_exactly_long_s_is_long(t0, fps):
    """3 s of off-road frames (first on frame exactly 3 s after the first off frame), whatever
    float rounding does to the frame times."""
    k, n = int(5 * fps), int(3 * fps)
    timed = [(t0 + i / fps, "off" if k <= i < k + n else "on") for i in range(k + n + int(3 * fps))]
    events, _ = feed(timed)
    assert [(e.kind, e.phase) for e in events] == [("long_distraction", "start"), ("long_distraction", "end")]
    assert events[0].start_s == pytest.approx(t0 + k / fps, abs=1e-9)
    assert events[0].criterion_met_s == pytest.approx(t0 + k / fps + 3.0, abs=1e-9)


def test_glance_of_exactly_long_s_on_device_millisecond_times():
    base = 1_017_072  # ms: 1022.072 s -> 1025.072 s differ by 2.9999999999998863 as floats
    timed = [((base + round(i * 1000 / 30)) / 1000.0, "off" if 150 <= i < 240 else "on") for i in range(300)]
    events, _ = feed(timed)
    assert [e.kind for e in events] == ["long_distraction", "long_distraction"]


@pytest.mark.parametrize("t0, fps, n", [(0.2, 30.0, 3), (0.4, 25.0, 3), (0.1, 30.0, 15)])
def test_debouncer_min_duration_is_exact(t0, fps, n):
    """A run of exactly min_duration_s is confirmed on its frame, not one frame later."""
    deb = Debouncer(HysteresisConfig(min_frames=1, min_duration_s=0.0, min_duration_for={"mirror": round(n / fps, 6)}))
    for i in range(5):
        deb.update(t0 + i / fps, "road")
    out = [deb.update(t0 + i / fps, "mirror") for i in range(5, 5 + n + 1)]
    assert out[n - 1][0] == "road" and out[n] == ("mirror", pytest.approx(t0 + 5 / fps))


def test_unknown_hold_is_exact():
    """A dropout of exactly unknown_hold_s (0.5 s: 15 frames after the first missing one) ends the hold."""
    t0 = 3.2
    mon = DistractionMonitor()
    for i in range(10):
        mon.update(t0 + i / FPS, "on")
    on_road = [mon.update(t0 + i / FPS, "unknown")[0].on_road for i in range(10, 30)]
    assert on_road.index(False) == 15


def test_a_dropout_at_the_end_of_a_vats_neither_ends_nor_reraises_it():
    """Off for 12 s, then on the road: the window total falls back to 10 s 32 s after the glance
    began. A face dropout from 31.8 s to 32.6 s (longer than unknown_hold_s, so off-road from its
    first frame under the default policy) keeps the total over 10 s: one VATS, not an end during
    the hold and a second start when the hold expires."""
    t0 = 100.0
    timed = [(t0 + i / FPS, "off" if i < 360 else "unknown" if 954 <= i < 978 else "on") for i in range(2400)]
    events, _ = feed(timed)
    assert [e.phase for e in vats(events)] == ["start", "end"]
    start, end = vats(events)
    assert start.start_s == pytest.approx(t0, abs=1e-9)
    # off [0, 12) and the dropout [31.8, 32.6): the total 42 - t + 0.8 is back at 10 at t = 32.8
    assert end.end_s == pytest.approx(t0 + 32.8, abs=1e-5)

"""GazeStateStage end to end on constructed head-pose sequences (an ideal estimator plus noise)."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from calib.driver_calibration import CalibrationSession
from calib.layout import CameraPose, load_layout, look_at_rotation
from monitor.estimates import Estimates
from monitor.gaze import GazeZoneClassifier, DistractionConfig, GazeStateConfig, GazeStateStage
from gaze_fakes import head_pose, looking_at
from monitor.gaze.ray import angles_to_direction
from pipeline_helpers import results, run, summary

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0


@pytest.fixture(scope="module")
def layout():
    return load_layout(ROOT / "calib/layouts/synthetic_cabin.json")


def drive(layout, script, seed=0, stage=None, share=None, noise_deg=2.0, glitch_every=0,
          drop_every=0, t0=50.0, bias_deg=(0.0, 0.0), fps=FPS, drop_frames=()):
    """Feed ``script`` = [(zone, seconds)] through a stage; returns (gazes, states, events).
    ``share``: the driver's head share (azimuth, elevation); None = as the layout's driver model assumes.
    ``drop_every`` / ``drop_frames``: frames without a head (every n-th / these indices)."""
    rng = np.random.default_rng(seed)
    stage = stage or GazeStateStage(layout)
    gazes, states, events = [], [], []
    zones = [z for z, d in script for _ in range(int(round(d * fps)))]
    for i, zone in enumerate(zones):
        t = t0 + i / fps
        if (drop_every and i % drop_every == drop_every - 1) or i in drop_frames:
            est = Estimates(None)
        else:
            if glitch_every and i % glitch_every == glitch_every - 1:
                zone = "right_mirror" if zone != "right_mirror" else "road"  # one wild frame
            est = looking_at(layout, zone, layout.nominal_head_mm + rng.normal(0, 15, 3), share, noise_deg, rng,
                             bias_deg=bias_deg)
        g, s, e = stage.process(est, t)
        gazes.append(g)
        states.append(s)
        events += e
    return gazes, states, events


def test_scripted_episodes_and_dwell_accuracy(layout):
    script = [("road", 5.0), ("left_mirror", 1.0), ("road", 4.0), ("media_centre", 4.0),  # long at 60.0
              ("road", 35.0)] + [("dashboard", 2.5), ("road", 1.5)] * 5 + [("road", 35.0)]
    gazes, states, events = drive(layout, script, glitch_every=41, drop_every=97)
    t_long = 50.0 + 10.0
    starts = [e for e in events if e.phase == "start"]
    assert [e.kind for e in starts] == ["long_distraction", "vats"]
    assert abs(starts[0].start_s - t_long) < 0.3
    t_vats_first = t_long + 4.0 + 35.0
    assert abs(starts[1].start_s - t_vats_first) < 0.3
    assert abs(starts[1].criterion_met_s - (t_vats_first + 4 * 4.0)) < 0.3
    assert [e.kind for e in events if e.phase == "end"] == ["long_distraction", "vats"]
    # dwell accuracy: frames at least 0.3 s inside a segment
    truth = [z for z, d in script for _ in range(int(round(d * FPS)))]
    edges = np.cumsum([0] + [int(round(d * FPS)) for _, d in script])
    dwell = [i for a, b in zip(edges[:-1], edges[1:]) for i in range(a + 9, b)]
    acc = np.mean([gazes[i].zone == truth[i] for i in dwell])
    print(f"\nsmoothed zone accuracy on dwell frames (2 deg noise, glitches, dropouts): {acc:.3f}")
    assert acc > 0.97
    json.dumps([g.to_json() for g in gazes[:5]] + [s.to_json() for s in states[:5]] + [e.to_json() for e in events])


def test_clean_drive_has_no_event(layout):
    rng = np.random.default_rng(5)
    script = []
    for _ in range(12):  # two minutes: mirror and dashboard checks of about a second
        script += [("road", float(rng.uniform(7.0, 9.0))),
                   (str(rng.choice(["left_mirror", "rear_mirror", "dashboard", "right_mirror"])), float(rng.uniform(0.6, 1.5)))]
    _, states, events = drive(layout, script, seed=6, glitch_every=29, drop_every=61)
    assert events == [] and not any(s.long_distraction or s.vats for s in states)


def test_single_noisy_frame_does_not_flip_the_zone(layout):
    gazes, _, _ = drive(layout, [("road", 3.0)], noise_deg=0.0, glitch_every=20)
    raw = {g.raw_zone for g in gazes}
    assert "right_mirror" in raw and {g.zone for g in gazes[5:]} == {"road"}


def test_head_missing(layout):
    stage = GazeStateStage(layout)
    drive(layout, [("road", 2.0)], stage=stage)
    g, s, e = stage.process(Estimates(None), 52.0)
    assert g.raw_zone == "unknown" and g.zone == "road" and not g.head_valid  # held at first
    for k in range(1, 120):
        g, s, e2 = stage.process(Estimates(None), 52.0 + k / FPS)
        e += e2
    assert g.zone == "unknown" and g.zone_since_s == pytest.approx(52.0)
    assert [x.kind for x in e] == ["long_distraction"] and e[0].start_s == pytest.approx(52.0)
    on_road = GazeStateStage(layout, config=GazeStateConfig(distraction=DistractionConfig(unknown_policy="on_road")))
    drive(layout, [("road", 2.0)], stage=on_road)
    assert all(not on_road.process(Estimates(None), 52.0 + k / FPS)[2] for k in range(150))


def test_calibrated_stage_for_a_lizard(layout):
    m = layout.driver_model  # the head turns 50% / 60% of what the default model assumes
    lizard = (0.5 / m.yaw_gain, 0.6 / m.pitch_gain)
    rng = np.random.default_rng(9)
    session = CalibrationSession(layout)
    for target in layout.zone_names:
        for _ in range(60):
            session.add_labelled(target, looking_at(layout, target, None, lizard, 2.0, rng))
    cal = session.fit("lizard")
    script = [("road", 2.0), ("left_mirror", 2.0), ("road", 2.0), ("media_centre", 2.0), ("road", 2.0)]
    plain, _, _ = drive(layout, script, share=lizard)
    tuned, _, _ = drive(layout, script, share=lizard, stage=GazeStateStage(layout, cal))
    truth = [z for z, d in script for _ in range(int(round(d * FPS)))]
    acc_plain = np.mean([g.zone == t for g, t in zip(plain, truth)])
    acc_tuned = np.mean([g.zone == t for g, t in zip(tuned, truth)])
    print(f"\nlizard through the stage: default {acc_plain:.3f}, calibrated {acc_tuned:.3f}")
    assert acc_tuned > 0.9 and acc_tuned > acc_plain + 0.2 and tuned[0].calibrated


def test_camera_mount_can_change(layout):
    pos = np.array([350.0, -700.0, 600.0])
    cam = CameraPose(look_at_rotation(pos, layout.nominal_head_mm), pos)
    stage = GazeStateStage(layout)
    stage.set_camera_pose(cam)
    rng = np.random.default_rng(0)
    zones = []
    for i in range(30):
        g, _, _ = stage.process(looking_at(layout, "rear_mirror", None, noise_deg=1.0, rng=rng, camera=cam), i / FPS)
        zones.append(g.zone)
    assert zones[-1] == "rear_mirror"


def test_reset_starts_a_new_sequence(layout):
    stage = GazeStateStage(layout)
    drive(layout, [("road", 1.0), ("media_centre", 4.0)], stage=stage)
    assert stage.monitor.update(60.0, "off")[0].long_distraction
    stage.reset()
    g, s, e = stage.process(looking_at(layout, "road"), 0.0)  # time restarts at 0: allowed after reset
    assert g.zone == "unknown" and not s.long_distraction and e == []


def test_glance_onset_is_where_the_head_began_to_turn(layout):
    """The head turns smoothly (0.6 s, minimum jerk) from the road to the media centre and stays
    4 s: the first off-road frame comes well after the turn began; the event starts at the turn.
    The linear driver model alone: the default per-zone corrections make the road/dashboard band
    steeper in elevation (the dashboard is looked at mostly with the eyes), so 1.5 deg of pitch
    noise then sends single road frames off the road before the turn; this test is about the
    onset search, not about that model."""
    from dataclasses import replace
    from monitor.gaze.ray import angles_to_direction, direction_to_angles
    from gaze_fakes import head_pose
    layout = replace(layout, driver_corrections=())
    head = layout.nominal_head_mm
    g_road = direction_to_angles(layout.zone("road").target_mm(head) - head)
    g_media = direction_to_angles(layout.zone("media_centre").center_mm - head)
    model = GazeZoneClassifier(layout)  # the layout's default driver model, its corrections included
    h0, h1 = np.array(model.head_angles_for(g_road)), np.array(model.head_angles_for(g_media))
    t_turn = 3.0

    def run(config, noise_deg, seed):
        rng = np.random.default_rng(seed)
        stage = GazeStateStage(layout, config=config)
        starts, first_off = [], None
        for i in range(int(9 * FPS)):
            t = i / FPS
            x = min(max((t - t_turn) / 0.6, 0.0), 1.0)
            a = h0 + (h1 - h0) * x ** 3 * (10 - 15 * x + 6 * x * x)
            if t > t_turn + 4.0:
                a = h0
            a = a + rng.normal(0, noise_deg, 2)
            g, _, ev = stage.process(Estimates(head_pose(angles_to_direction(*a), head, layout.camera_pose)), t)
            if first_off is None and t > 1.0 and g.raw_zone != "road":
                first_off = t
            starts += [e.start_s for e in ev if e.phase == "start"]
        return starts, first_off

    late, first_off = run(GazeStateConfig(onset_lookback_s=0.0), 0.0, 0)
    assert late == [pytest.approx(first_off)] and first_off - t_turn > 0.15
    for noise, seed, within in ((0.0, 0, 0.15), (1.5, 1, 0.2), (1.5, 2, 0.2)):
        starts, first_off = run(GazeStateConfig(), noise, seed)
        assert len(starts) == 1 and t_turn <= starts[0] < min(t_turn + within, first_off - 0.05), (noise, starts, first_off)


def test_road_ahead_auto_calibration_absorbs_an_estimator_bias(layout):
    """An estimator that reads the head 7 deg too high puts every road frame off the (narrow) road
    zone; the stage learns the driver's road-ahead direction within seconds and corrects it."""
    from monitor.gaze.autocal import RoadAheadConfig
    script = [("road", 6.0), ("dashboard", 1.5), ("road", 5.0), ("left_mirror", 1.0), ("road", 6.0)]
    late = int(round(8 * FPS))  # frames after the first 8 s
    truth = [z for z, d in script for _ in range(int(round(d * FPS)))][late:]

    def accuracy(gazes):
        return np.mean([g.raw_zone == z for g, z in zip(gazes[late:], truth)])

    off = GazeStateStage(layout, config=GazeStateConfig(road_ahead=RoadAheadConfig(enabled=False)))
    biased_off, _, _ = drive(layout, script, stage=off, bias_deg=(0.0, 7.0))
    biased_on, _, _ = drive(layout, script, bias_deg=(0.0, 7.0))
    unbiased_on, _, _ = drive(layout, script)
    assert biased_off[-1].head_offset_deg is None
    assert np.allclose(biased_on[-1].head_offset_deg, (0.0, -7.0), atol=0.7)
    assert np.allclose(unbiased_on[-1].head_offset_deg, (0.0, 0.0), atol=0.7)
    assert biased_on[int(2.5 * FPS)].head_offset_deg == [0.0, 0.0]  # not before 3 s of history
    assert accuracy(biased_off) < 0.5
    assert accuracy(biased_on) >= 0.95 and accuracy(unbiased_on) >= 0.95


@pytest.mark.parametrize("fps, drop_frames", [(30.0, ()), (30.0, (90,)), (15.0, ())],
                         ids=["30fps", "no-head-on-the-offset-frame", "15fps"])
def test_the_first_seconds_are_re_run_once_the_road_ahead_offset_exists(layout, fps, drop_frames):
    """A driver the estimator reads 7 deg high is off the road zone on every frame until the first
    road-ahead offset (3 s): counted as it came, that is a long distraction from the first frame and a
    VATS episode that starts there. Re-run with the offset, the timers start from the truth: the VATS
    episode at the first glance (2 s), no long distraction. Also where the offset would come after the
    long distraction (no head on the frame it is due, or 60 head directions take 4 s at 15 fps): the
    stage looks for it before raising the event."""
    script = [("road", 2.0)] + [("dashboard", 2.5), ("road", 1.5)] * 5 + [("road", 15.0)]
    t0 = 50.0

    def starts(events):
        return [(e.kind, e.start_s - t0) for e in events if e.phase == "start"]

    kw = dict(bias_deg=(0.0, 7.0), t0=t0, fps=fps, drop_frames=drop_frames)
    off = GazeStateStage(layout, config=GazeStateConfig(warmup_replay_s=0.0))
    _, _, counted = drive(layout, script, stage=off, **kw)
    gazes, states, replayed = drive(layout, script, **kw)
    assert starts(counted)[0] == ("long_distraction", pytest.approx(0.0, abs=0.05))
    assert [kind for kind, _ in starts(replayed)] == ["vats"]
    assert starts(replayed)[0][1] == pytest.approx(2.0, abs=0.3)
    assert [e.kind for e in replayed if e.phase == "end"] == ["vats"]
    # the frame the offset came on: classified with it, its timers already re-run (off the road only
    # since the first glance at 2 s)
    first = next(i for i, g in enumerate(gazes) if g.head_offset_deg != [0.0, 0.0])
    assert first == int(3.0 * fps)  # found before the long distraction it would have raised at 3 s
    assert states[first].off_road_window_s == pytest.approx(1.0, abs=0.3)
    assert states[first - 1].off_road_window_s > 2.5  # as it was counted (sent before the offset came)


def test_the_re_run_gives_what_the_offset_known_from_the_start_gives(layout):
    """On the frame the offset comes, the re-run (face-cover hold included: its choice of the pose to hold
    depends on the zones) leaves the stage as if the offset had been known from the first frame."""
    from monitor.gaze.autocal import RoadAheadConfig
    script = [("road", 1.0), ("left_mirror", 0.8), ("road", 1.0), ("dashboard", 0.6)] * 3
    for bias, cover in (((-5.0, 0.0), (2.0, 2.6)), ((0.0, 4.0), (0.5, 1.5)), ((4.0, 0.0), (2.6, 3.05))):
        rng = np.random.default_rng(1)
        frames = []
        for i, zone in enumerate(z for z, d in script for _ in range(int(round(d * FPS)))):
            est = looking_at(layout, zone, layout.nominal_head_mm + rng.normal(0, 15, 3), None, 2.0, rng,
                             bias_deg=bias)
            if cover[0] <= i / FPS < cover[1]:
                est = _covered(est)
            frames.append((est, 50.0 + i / FPS))
        stage = GazeStateStage(layout)
        for k, (est, t) in enumerate(frames):
            gaze, state, events = stage.process(est, t)
            if stage.road_ahead.ready:
                break
        known = GazeStateStage(layout, config=GazeStateConfig(road_ahead=RoadAheadConfig(enabled=False)))
        known.classifier.head_offset_deg = stage.classifier.head_offset_deg
        known.classifier.head_scatter_deg = stage.classifier.head_scatter_deg
        for est, t in frames[:k + 1]:
            gaze_k, state_k, _ = known.process(est, t)
        assert state.to_json() == state_k.to_json(), bias
        assert {**gaze.to_json(), "head_offset_deg": None} == gaze_k.to_json(), bias
        assert events == []


def test_no_re_run_after_an_event_or_when_the_offset_comes_late(layout):
    """An event already sent cannot be taken back, and a late offset is past warmup_replay_s: both
    leave the first seconds as they were counted."""
    rng = np.random.default_rng(4)
    # read 14 deg high for 4 s (an offset beyond max_offset_deg: none is found, so the long distraction
    # at 3 s is sent), then 7 deg: the offset comes at about 8.5 s, inside warmup_replay_s
    frames = [(looking_at(layout, "road", None, None, 1.5, rng, bias_deg=(0.0, 14.0 if i < 120 else 7.0)),
               50.0 + i / FPS) for i in range(int(12 * FPS))]

    def outputs(config):
        stage = GazeStateStage(layout, config=config)
        out = [[x.to_json() for x in (g, s, *e)] for g, s, e in (stage.process(est, t) for est, t in frames)]
        return out, stage

    sent, stage = outputs(GazeStateConfig())
    assert stage.road_ahead.ready and sent[int(9 * FPS)][0]["head_offset_deg"] != [0.0, 0.0]
    assert sent == outputs(GazeStateConfig(warmup_replay_s=0.0))[0]
    assert [x["kind"] for row in sent for x in row[2:]] == ["long_distraction"] * 2
    # an offset at 3 s past a 2 s limit: as counted
    late = [(looking_at(layout, "road", None, None, 1.5, rng, bias_deg=(0.0, 7.0)), 50.0 + i / FPS)
            for i in range(int(6 * FPS))]
    frames[:] = late
    assert outputs(GazeStateConfig(warmup_replay_s=2.0))[0] == outputs(GazeStateConfig(warmup_replay_s=0.0))[0]
    assert [x["kind"] for row in outputs(GazeStateConfig(warmup_replay_s=2.0))[0] for x in row[2:]] == [
        "long_distraction"] * 2
    assert [x for row in outputs(GazeStateConfig())[0] for x in row[2:]] == []
    with pytest.raises(ValueError, match="warmup_replay_s"):
        GazeStateConfig(warmup_replay_s=-1.0)


def test_a_frame_rejected_for_going_back_in_time_changes_nothing(layout):
    """The worker drops a late frame and carries on: the stage must go on exactly as if it had
    never seen it (zone smoother, glance-onset history, road-ahead calibration, timers)."""
    rng = np.random.default_rng(3)
    road = [looking_at(layout, "road", None, None, 1.0, rng) for _ in range(150)]
    mirror = [looking_at(layout, "left_mirror", None, None, 1.0, rng) for _ in range(150)]
    frames = [(est, 10.0 + i / FPS) for i, est in enumerate(road + mirror + road)]

    def outputs(stage, items):
        return [[x.to_json() for x in (g, s, *e)] for g, s, e in (stage.process(est, t) for est, t in items)]

    clean = outputs(GazeStateStage(layout), frames)
    stage = GazeStateStage(layout)
    late = outputs(stage, frames[:150])
    with pytest.raises(ValueError, match="backwards"):
        stage.process(mirror[0], 5.0)
    late += outputs(stage, frames[150:])
    assert late == clean
    assert clean[151][0]["zone"] == "road" and clean[152][0]["zone"] == "left_mirror"
    assert clean[152][0]["zone_since_s"] == pytest.approx(15.0)


@pytest.mark.slow
def test_the_run_uses_the_distraction_thresholds_it_is_given(tmp_path):
    """--long-distraction-s reaches the gaze/state worker, results.jsonl, events.jsonl and the
    evaluation: the default drive's scripted long distraction (from 18.3 s) fires 2 s after its
    start instead of 3 (shipped models, the real pipeline)."""
    out = tmp_path / "run"
    code, output = run(out, "--max-frames", "660", "--fast", "--long-distraction-s", "2", "--vats-s", "8",
                       "--vats-window-s", "20", timeout=300)
    assert code == 0, output
    s = summary(out)
    assert s["run"]["distraction"] == {"long_s": 2.0, "vats_threshold_s": 8.0, "vats_window_s": 20.0,
                                       "unknown_policy": "off_road"}
    starts = [e for e in results_events(out) if e["phase"] == "start" and e["kind"] == "long_distraction"]
    assert len(starts) == 1 and starts[0]["criterion_met_s"] - starts[0]["start_s"] == pytest.approx(2.0)
    on_frames = [e for r in results(out) for e in r["events"] if e["phase"] == "start"]
    assert starts[0] in on_frames  # the same event on the frame that raised it
    assert s["accuracy"]["events"]["long_distraction"]["matched"]


def results_events(out):
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def _covered(est, p=0.9):
    """The same estimates with the face-cover model's probability set."""
    return Estimates(replace(est.head, covered_p=p), est.joints, est.eyes)


def test_a_covered_face_is_classified_with_the_last_uncovered_head(layout):
    """A hand over the face makes the head model read the hand: while the face-cover model says so the
    stage keeps the last head pose seen uncovered, for at most cover_hold_s, and says it held it."""
    stage = GazeStateStage(layout)
    road = looking_at(layout, "road")
    wrong = _covered(looking_at(layout, "left_mirror"))  # what the head model reads through the hand
    t = 50.0
    for k in range(60):
        g, _, _ = stage.process(_covered(road, 0.1), t + k / FPS)  # low P: not covered
    assert g.zone == "road" and not g.head_held
    offset_before = stage.classifier.head_offset_deg
    held = [stage.process(wrong, t + 2.0 + k / FPS) for k in range(int(2.5 * FPS))]
    assert all(g.zone == "road" and g.raw_zone == "road" and g.head_held for g, _, _ in held)
    assert not any(e for _, _, e in held)  # no distraction raised behind the hand
    assert stage.classifier.head_offset_deg == offset_before  # held frames teach the road-ahead offset nothing
    # past cover_hold_s (3 s from the first covered frame) the estimates are used as read again
    late = [stage.process(wrong, t + 2.0 + k / FPS) for k in range(int(2.5 * FPS), int(4.0 * FPS))]
    assert late[-1][0].raw_zone == "left_mirror" and not late[-1][0].head_held
    assert sum(g.head_held for g, _, _ in late) == int(round(0.5 * FPS)) + 1  # held up to and including t0 + 3 s
    # uncovered frames for longer than cover_margin_s end the run: the next covered one is held
    # again, from a pose seen at least cover_margin_s before it
    for k in range(15):
        stage.process(road, t + 6.0 + k / FPS)
    g, _, _ = stage.process(wrong, t + 6.5)
    assert g.head_held and g.raw_zone == "road"


def test_a_detector_dip_neither_restarts_the_hold_nor_is_held(layout):
    """One uncovered frame inside a covered run (a detector miss, the hand still there) stays part of
    the run: its pose is not held next, and the 3-s limit still counts from the run's first frame."""
    stage = GazeStateStage(layout)
    t = 20.0
    for k in range(30):
        stage.process(looking_at(layout, "road"), t + k / FPS)
    wrong = _covered(looking_at(layout, "left_mirror"))
    dip = _covered(looking_at(layout, "dashboard"), 0.2)  # missed by the detector, the hand still misleads
    frames = [wrong] * 45 + [dip] + [wrong] * 60 + [dip] + [wrong] * 30
    out = [stage.process(est, t + 1.0 + k / FPS)[0] for k, est in enumerate(frames)]
    held = [g.head_held for g in out]
    assert all(held[:int(3 * FPS) + 1]) and not any(held[int(3 * FPS) + 2:])  # one limit from the first frame
    assert all(g.raw_zone == "road" for g in out[:int(3 * FPS) + 1])  # the dip's dashboard is never held


def test_no_hold_after_a_long_gap_or_beyond_the_long_distraction_threshold(layout):
    gap = GazeStateStage(layout)
    gap.process(looking_at(layout, "road"), 10.0)
    for k in range(1, 60):  # two seconds without a head
        gap.process(Estimates(None), 10.0 + k / FPS)
    g, _, _ = gap.process(_covered(looking_at(layout, "left_mirror")), 12.0)
    assert not g.head_held and g.raw_zone == "left_mirror"  # nothing recent enough to hold
    short = GazeStateStage(layout, config=GazeStateConfig(distraction=DistractionConfig(long_s=2.0)))
    for k in range(30):
        short.process(looking_at(layout, "road"), 10.0 + k / FPS)
    covered = [short.process(_covered(looking_at(layout, "left_mirror")), 11.0 + k / FPS) for k in range(150)]
    assert sum(g.head_held for g, _, _ in covered) == int(2.0 * FPS) + 1  # the 2-s threshold caps the 3-s hold
    # a glance away behind a hand is still raised, counted from where the hold ended: late by the hold
    starts = [e for _, _, es in covered for e in es if e.phase == "start"]
    assert [e.kind for e in starts] == ["long_distraction"] and 12.9 < starts[0].start_s < 13.1


def test_covered_face_hold_is_off_at_zero_and_needs_an_uncovered_frame_first(layout):
    wrong = _covered(looking_at(layout, "left_mirror"))
    first = GazeStateStage(layout)  # covered from the first frame: nothing to hold
    g, _, _ = first.process(wrong, 10.0)
    assert g.raw_zone == "left_mirror" and not g.head_held
    off = GazeStateStage(layout, config=GazeStateConfig(cover_hold_s=0.0))
    off.process(looking_at(layout, "road"), 10.0)
    g, _, _ = off.process(wrong, 10.0 + 1 / FPS)
    assert g.raw_zone == "left_mirror" and not g.head_held
    no_model = GazeStateStage(layout)  # covered_p None (no face-cover model): the pose as read
    no_model.process(looking_at(layout, "road"), 10.0)
    g, _, _ = no_model.process(looking_at(layout, "left_mirror"), 10.0 + 1 / FPS)
    assert g.raw_zone == "left_mirror" and not g.head_held
    with pytest.raises(ValueError, match="cover_hold_s"):
        GazeStateConfig(cover_hold_s=-1.0)
    with pytest.raises(ValueError, match="cover_threshold"):
        GazeStateConfig(cover_threshold=0.0)


def test_the_held_pose_is_from_before_the_hand_came_near(layout):
    """The head model reads the approaching hand on the frame or two before the detector fires: the
    held pose is the last one at least cover_margin_s before the first covered frame."""
    stage = GazeStateStage(layout)
    t = 10.0
    for k in range(30):
        stage.process(looking_at(layout, "road"), t + k / FPS)
    # 5 frames (0.17 s): long enough for the smoother to confirm them, shorter than the margin (0.2 s)
    disturbed = _covered(looking_at(layout, "dashboard"), 0.3)  # below the threshold, yet already off
    for k in range(30, 35):
        g, _, _ = stage.process(disturbed, t + k / FPS)
    assert g.zone == "dashboard"  # confirmed: only the margin keeps them from being held
    g, _, _ = stage.process(_covered(looking_at(layout, "left_mirror")), t + 35 / FPS)
    assert g.head_held and g.raw_zone == "road"
    no_margin = GazeStateStage(layout, config=GazeStateConfig(cover_margin_s=0.0))
    for k in range(30):
        no_margin.process(looking_at(layout, "road"), t + k / FPS)
    for k in range(30, 35):
        no_margin.process(disturbed, t + k / FPS)
    g, _, _ = no_margin.process(_covered(looking_at(layout, "left_mirror")), t + 35 / FPS)
    assert g.head_held and g.raw_zone == "dashboard"  # the frame just before, hand and all
    with pytest.raises(ValueError, match="cover_margin_s"):
        GazeStateConfig(cover_margin_s=-0.1)


def _with_hand(est, offset_mm, confidence=0.8, name="HandRight"):
    """The same estimates with body joints whose ``name`` hand lies ``offset_mm`` from the head centre."""
    from monitor.estimates import Joints
    names = ("Head", "HandLeft", "HandRight")
    centre = np.asarray(est.head.position_mm, dtype=float)
    xyz = np.array([centre, centre + (600.0, 200.0, 0.0), centre + (-600.0, 200.0, 0.0)])
    conf = np.array([0.9, 0.9, 0.9])
    k = names.index(name)
    xyz[k] = centre + np.asarray(offset_mm, dtype=float)
    conf[k] = confidence
    return Estimates(est.head, Joints(names, np.zeros((3, 2)), xyz, conf), est.eyes)


def test_a_hand_at_the_head_holds_the_pose_like_a_covered_face(layout):
    """A phone at the far ear sticks out past the head's outline from a camera beside the driver and
    the head model reads a turned head; the face-cover model does not fire (the hand is not over the
    face). A body-model hand within hand_at_head_mm (200) of the head centre holds the pose instead."""
    from monitor.gaze.stage import hand_at_head
    road, wrong = looking_at(layout, "road"), looking_at(layout, "left_mirror")
    assert wrong.head.covered_p is None
    stage = GazeStateStage(layout)
    assert stage.config.hand_at_head_mm == 200.0
    for k in range(60):
        g, _, _ = stage.process(_with_hand(road, (400.0, 0.0, 0.0)), 50.0 + k / FPS)  # hand on the wheel
    assert g.zone == "road" and not g.head_held
    phone = [stage.process(_with_hand(wrong, (-90.0, 0.0, 120.0)), 52.0 + k / FPS)[0] for k in range(60)]
    assert all(g.head_held and g.raw_zone == "road" for g in phone)
    off = GazeStateStage(layout, config=GazeStateConfig(hand_at_head_mm=None))
    off.process(_with_hand(road, (400.0, 0.0, 0.0)), 50.0)
    g, _, _ = off.process(_with_hand(wrong, (-90.0, 0.0, 120.0)), 50.0 + 1 / FPS)
    assert g.raw_zone == "left_mirror" and not g.head_held
    # what counts as a hand at the head
    assert hand_at_head(wrong.head, _with_hand(wrong, (0.0, 0.0, 199.0)).joints, 200.0, 0.3)
    assert hand_at_head(wrong.head, _with_hand(wrong, (0.0, 150.0, 0.0), name="HandLeft").joints, 200.0, 0.3)
    assert not hand_at_head(wrong.head, _with_hand(wrong, (0.0, 0.0, 201.0)).joints, 200.0, 0.3)
    assert not hand_at_head(wrong.head, _with_hand(wrong, (0.0, 0.0, 50.0), confidence=0.2).joints, 200.0, 0.3)
    assert not hand_at_head(wrong.head, _with_hand(wrong, (np.nan, 0.0, 0.0)).joints, 200.0, 0.3)
    assert not hand_at_head(wrong.head, None, 200.0, 0.3)
    # a pose without a position measures from the "Head" joint (here at the head centre), as the gaze ray does
    no_position = replace(wrong.head, position_mm=None)
    assert hand_at_head(no_position, _with_hand(wrong, (0.0, 0.0, 50.0)).joints, 200.0, 0.3)
    assert not hand_at_head(no_position, _with_hand(wrong, (0.0, 0.0, 250.0)).joints, 200.0, 0.3)
    nan_centre = replace(wrong.head, position_mm=(np.nan, 0.0, 700.0))
    assert not hand_at_head(nan_centre, _with_hand(wrong, (0.0, 0.0, 50.0)).joints, 200.0, 0.3)
    for bad in (dict(hand_at_head_mm=0.0), dict(hand_at_head_mm=float("nan")), dict(hand_confidence=1.5),
                dict(hand_at_head_mm=None, hand_confidence=-0.1)):
        with pytest.raises(ValueError, match="hand_at_head_mm"):
            GazeStateConfig(**bad)


def test_the_pose_held_is_never_a_glitch_the_smoother_ignored(layout):
    """A driver whose noisy head reads flick to a mirror for one frame: the smoother keeps the road,
    and when a hand comes to the head just after, the pose held is the last one the smoother agreed
    with, not the flick (held for 3 s it would read as a 3-s glance and a false long distraction)."""
    stage = GazeStateStage(layout)
    road, flick = looking_at(layout, "road"), looking_at(layout, "left_mirror")
    t = 30.0
    for k in range(60):
        stage.process(road, t + k / FPS)
    g, _, _ = stage.process(flick, t + 2.0)  # one wild frame
    assert g.raw_zone == "left_mirror" and g.zone == "road"
    covered = _covered(flick)
    out = [stage.process(covered, t + 2.0 + cover_t)[0] for cover_t in np.arange(1, 40) / FPS + 0.2]
    assert all(g.head_held and g.raw_zone == "road" for g in out)
    assert not any(g.zone == "left_mirror" for g in out)


def test_the_pose_held_is_the_newest_the_smoother_confirmed_even_late(layout):
    """The first frames of a new zone are confirmed only a few frames later (backdated): they count as
    confirmed then. A driver back on the road for 7 frames when the hand comes: the road is held, not
    the glance just left (which, held for 3 s, would raise a false long distraction); and of two
    confirmed zones in the window the newer wins."""
    for glance in ("media_centre", "left_mirror"):
        stage = GazeStateStage(layout)
        t = 40.0
        road = looking_at(layout, "road")
        frames = [road] * 60 + [looking_at(layout, glance)] * 30 + [road] * 7
        for k, est in enumerate(frames):
            stage.process(est, t + k / FPS)
        out = [stage.process(_covered(looking_at(layout, glance)), t + (len(frames) + k) / FPS) for k in range(90)]
        assert all(g.head_held and g.raw_zone == "road" for g, _, _ in out)
        assert not [e for _, _, es in out for e in es if e.phase == "start"]


def test_a_covered_face_teaches_the_road_ahead_offset_nothing_after_the_hold(layout):
    """A phone call outlasts the 3-s hold: past it the misread head is classified as read, but it
    must not move the road-ahead offset (a minute of calls would drag the road away)."""
    stage = GazeStateStage(layout)
    road = looking_at(layout, "road")
    for k in range(300):  # 10 s on the road
        stage.process(road, 10.0 + k / FPS)
    before = stage.classifier.head_offset_deg
    az, el = stage.classifier.road_head_angles()  # the head misread 8 deg to the left: within the offset's reach
    misread = _covered(Estimates(head_pose(angles_to_direction(az - 8.0, el), layout.nominal_head_mm,
                                           layout.camera_pose)))
    out = [stage.process(misread, 20.0 + k / FPS)[0] for k in range(900)]  # 30 s covered
    assert not out[-1].head_held and out[-1].raw_zone != "road"  # past the hold: as read
    assert stage.classifier.head_offset_deg == before
    g, _, _ = stage.process(road, 50.5)
    assert g.raw_zone == "road"

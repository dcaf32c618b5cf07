"""Run-level gaze evaluation: confusion matrix on dwell frames and event matching in summary.json."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.layout import load_layout
from monitor.gaze import GazeStateStage
from monitor.gaze.evaluate_run import evaluate_gaze, evaluate_run_dir, pooled, rule_events_on_truth
from monitor.summary import build_summary
from gaze_fakes import looking_at

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0


@pytest.fixture(scope="module")
def layout():
    return load_layout(ROOT / "calib/layouts/synthetic_cabin.json")


def timeline(script):
    """[(zone or None, seconds)] -> per-frame (t, zone); None = gaze in transit."""
    zones = [z for z, d in script for _ in range(int(round(d * FPS)))]
    return [(i / FPS, z) for i, z in enumerate(zones)]


def run_records(layout, script, episodes, t0_device=0.0, seed=0, shown=None):
    """results.jsonl-like records and events.jsonl-like events of the real stage. The driver's head
    points at the truth zone (in transit: at the zone being left), or at ``shown(t, zone)``."""
    rng = np.random.default_rng(seed)
    stage = GazeStateStage(layout)
    records, events, last = [], [], "road"
    for t, zone in timeline(script):
        last = zone or last
        target = shown(t, last) if shown else last
        g, _, ev = stage.process(looking_at(layout, target, None, None, 1.0, rng), t0_device + t)
        records.append({"device_ts_ms": (t0_device + t) * 1000.0, "gaze": g.to_json(),
                        "truth": {"time_s": t, "gaze_zone": zone, "episodes": episodes}})
        events += [e.to_json() for e in ev]
    return records, events


LONG = [("road", 5.0), (None, 0.2), ("media_centre", 3.5), (None, 0.2), ("road", 4.0)]
LONG_EPISODE = [{"kind": "long_distraction", "start_s": 5.0, "end_s": 8.9}]


def test_dwell_confusion_and_long_distraction_match(layout):
    records, events = run_records(layout, LONG, LONG_EPISODE, t0_device=100.0)  # device clock != scene clock
    r = evaluate_gaze(records, events)
    g, e = r["gaze"], r["events"]
    assert g["dwell_accuracy"] == 1.0 and g["confusion"]["labels"][:2] == ["media_centre", "road"]
    # dwell frames: from 0.3 s after arrival to 0.1 s before leaving, never transit frames
    segments = [d for z, d in LONG if z]
    assert g["labelled_frames"] == round(sum(segments) * FPS) < g["frames"]
    assert abs(g["dwell_frames"] - round((sum(segments) - 0.4 * len(segments)) * FPS)) <= len(segments)
    assert e["long_distraction"]["matched"] and e["long_distraction"]["max_start_error_s"] <= 0.3
    assert e["all_scripted_matched_no_false"] and not e["clean_drive"] and e["false_events"] == 0
    json.dumps(r)


def test_wrong_zones_show_in_the_matrix(layout):
    records, events = run_records(layout, LONG, LONG_EPISODE, shown=lambda t, z: "dashboard" if z == "media_centre" else z)
    g = evaluate_gaze(records, events)["gaze"]
    labels, m = g["confusion"]["labels"], g["confusion"]["matrix"]
    row = m[labels.index("media_centre")]
    assert row[labels.index("dashboard")] == sum(row) > 0 and g["recall"]["media_centre"] == 0.0
    assert 0 < g["dwell_accuracy"] < 1


def test_missed_and_false_events_on_a_clean_drive(layout):
    clean = [("road", 6.0), (None, 0.2), ("left_mirror", 1.0), (None, 0.2), ("road", 6.0)]
    records, events = run_records(layout, clean, [])
    r = evaluate_gaze(records, events)["events"]
    assert r["clean_drive"] and r["false_events"] == 0 and r["all_scripted_matched_no_false"]
    # the head stays on the mirror for 4 s although the truth says the driver looked back: a false event
    records, events = run_records(layout, clean, [], shown=lambda t, z: "left_mirror" if 6.2 <= t < 10.2 else z)
    r = evaluate_gaze(records, events)["events"]
    assert r["clean_drive"] and r["false_events"] == 1 and r["long_distraction"]["unexplained"] == [pytest.approx(6.2)]
    assert not r["all_scripted_matched_no_false"]
    # a scripted episode the stage never raised is missed
    records, events = run_records(layout, clean, LONG_EPISODE)
    r = evaluate_gaze(records, events)["events"]
    assert r["long_distraction"]["missed"] == [5.0] and not r["clean_drive"]
    # a run cut before its scene's episode (--max-frames): clean as far as it went
    records, events = run_records(layout, clean, [{"kind": "long_distraction", "start_s": 30.0, "end_s": 34.0}])
    r = evaluate_gaze(records, events)["events"]
    assert r["clean_drive"] and r["long_distraction"]["scripted"] == 0


def test_rules_on_truth_find_unscripted_vats():
    script = ([("road", 1.0)] + [(None, 0.2), ("dashboard", 1.8), (None, 0.2), ("road", 1.0)] * 8)
    tl = timeline(script)
    ev = rule_events_on_truth([z for _, z in tl], [t for t, _ in tl], ["road"])
    starts = [e for e in ev if e.phase == "start"]
    assert [e.kind for e in starts] == ["vats"] and starts[0].start_s == pytest.approx(1.0)


def test_summary_and_cli_carry_the_gaze_figures(layout, tmp_path):
    records, events = run_records(layout, LONG, LONG_EPISODE)
    with open(tmp_path / "results.jsonl", "w") as f:
        for r in records:
            r["truth"]["head"] = None  # no head truth: only the gaze part is scored
            f.write(json.dumps(r) + "\n")
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    summary = build_summary(tmp_path, {}, 0, {"source": "test"})
    acc = summary["accuracy"]
    assert acc["gaze"]["dwell_accuracy"] == 1.0 and acc["events"]["long_distraction"]["matched"]
    (tmp_path / "summary.json").write_text(json.dumps({"run": {}, "frames": {}}))
    p = subprocess.run([sys.executable, "-m", "monitor.gaze.evaluate_run", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "dwell accuracy 1.0" in p.stdout and "pooled over 1 runs" in p.stdout
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accuracy"]["gaze"]["confusion"] == acc["gaze"]["confusion"]
    assert pooled([acc, acc])["dwell_frames"] == 2 * acc["gaze"]["dwell_frames"]
    # --json: a folder without truth is skipped and the others keep their own names
    empty = tmp_path / "no_truth"
    empty.mkdir()
    (empty / "results.jsonl").write_text("")
    p = subprocess.run([sys.executable, "-m", "monitor.gaze.evaluate_run", str(empty), str(tmp_path), "--json",
                        "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert list(json.loads(p.stdout)["runs"]) == [str(tmp_path)]


@pytest.mark.parametrize("case, expect", [
    ("no such folder", "no results.jsonl there"),
    ("missing layout", "--layout nowhere.json: layout file not found"),
    ("corrupt layout", "not valid JSON"),
])
def test_evaluate_run_refuses_what_it_cannot_score(tmp_path, case, expect):
    """A run folder without results or a --layout that cannot be read is an error (exit 2), never
    a silent default: the road zones decide which glances count as distraction."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text("")
    args = {"no such folder": [str(tmp_path / "nope")],
            "missing layout": [str(run_dir), "--layout", "nowhere.json"],
            "corrupt layout": [str(run_dir), "--layout", str(tmp_path / "cut.json")]}[case]
    (tmp_path / "cut.json").write_text('{"format": ')
    p = subprocess.run([sys.executable, "-m", "monitor.gaze.evaluate_run", *args, "--no-write"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("error:") and expect in p.stderr, p.stderr


def test_looped_truth_is_refused(layout):
    records, events = run_records(layout, LONG, LONG_EPISODE)
    records[5]["truth"]["time_s"] = 0.0
    with pytest.raises(ValueError, match="one pass"):
        evaluate_gaze(records, events)


@pytest.mark.slow
def test_pipeline_run_with_truth_gets_the_gaze_figures(tmp_path):
    """The real pipeline on a short synthetic clip (untrained models): summary.json carries them."""
    from pipeline_helpers import run, summary
    from tests.onnx_factory import body_model, head_model
    models = ["--body-model", str(body_model(tmp_path / "body.onnx")), "--head-model", str(head_model(tmp_path / "head.onnx"))]
    code, output = run(tmp_path / "run", "--source", "synthetic:seed=3,scenario=activities,frames=40,width=212,height=120",
                       "--fast", *models, timeout=240)
    assert code == 0, output
    acc = summary(tmp_path / "run")["accuracy"]
    assert acc["gaze"]["frames"] == 40 and acc["gaze"]["confusion"]["labels"]
    assert acc["events"]["clean_drive"] is True and "gaze vs truth" in output


def test_offline_rerun_reproduces_the_pipeline_stage(tmp_path):
    """scripts/gaze_rerun.py feeds a run's saved estimates through the stage again: with the same
    settings it must give the pipeline's zones, frame for frame (else offline tuning would lie)."""
    from pipeline_helpers import results, run
    sys.path.insert(0, str(ROOT / "scripts"))
    from gaze_rerun import rerun
    code, output = run(tmp_path / "run", "--source", "synthetic:seed=20001,scenario=drive,frames=90", "--fast",
                       timeout=240)
    assert code == 0, output
    records = results(tmp_path / "run")
    assert any(r["estimates"]["head"] for r in records)  # shipped models: real head poses to classify
    from monitor.gaze.stage import gaze_state_config
    again, _ = rerun(records, GazeStateStage(load_layout(ROOT / "calib/layouts/synthetic_cabin.json"),
                                             config=gaze_state_config()))  # the pipeline's default settings
    assert [r["gaze"] for r in again] == [r["gaze"] for r in records]
    assert [r["state"] for r in again] == [r["state"] for r in records]
    cli = subprocess.run([sys.executable, str(ROOT / "scripts/gaze_rerun.py"), str(tmp_path / "run"),
                          "--no-road-ahead"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "pooled over 1 runs: dwell accuracy" in cli.stdout


def test_the_run_scores_the_gaze_as_it_is_told_and_rerun_follows(tmp_path):
    """--gaze-scoring ray (head-space is the default) reaches the gaze worker and summary.json;
    scripts/gaze_rerun.py then rescores with the run's own scoring and reproduces it frame for frame.
    Seed 20001 wears sunglasses, so the eyes weigh little and the two scorings give different
    probabilities."""
    from pipeline_helpers import results, run, summary
    sys.path.insert(0, str(ROOT / "scripts"))
    from gaze_rerun import rerun
    from monitor.gaze.stage import gaze_state_config
    code, output = run(tmp_path / "run", "--source", "synthetic:seed=20001,scenario=drive,frames=60", "--fast",
                       "--gaze-scoring", "ray", timeout=240)
    assert code == 0, output
    assert summary(tmp_path / "run")["run"]["gaze_scoring"] == "ray"
    records = results(tmp_path / "run")
    layout = load_layout(ROOT / "calib/layouts/synthetic_cabin.json")
    share, _ = rerun(records, GazeStateStage(layout, config=gaze_state_config("head-space")))
    ray, _ = rerun(records, GazeStateStage(layout, config=gaze_state_config("ray")))
    assert [r["gaze"] for r in ray] == [r["gaze"] for r in records]
    assert [r["gaze"]["probabilities"] for r in share] != [r["gaze"]["probabilities"] for r in records]
    cli = subprocess.run([sys.executable, str(ROOT / "scripts/gaze_rerun.py"), str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120)
    again = subprocess.run([sys.executable, str(ROOT / "scripts/gaze_rerun.py"), str(tmp_path / "run"),
                            "--gaze-scoring", "ray"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == again.returncode == 0, cli.stderr + again.stderr
    assert cli.stdout == again.stdout  # the run's own scoring is the default


def test_a_run_is_rescored_with_the_layout_it_ran_with(layout, tmp_path):
    """evaluate_run reads the run's layout from its summary.json: the road zones decide whether an
    unscripted event is implied by where the driver looked or unexplained."""
    records, events = run_records(layout, LONG, [])  # the glance raises an event no episode scripts
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    cabin = json.loads((ROOT / "calib/layouts/synthetic_cabin.json").read_text())
    own = tmp_path / "media_is_road.json"  # a car whose media centre counts as looking ahead
    own.write_text(json.dumps({**cabin, "road_zones": ["road", "media_centre"]}))
    (tmp_path / "summary.json").write_text(json.dumps({"run": {"layout": "default"}}))
    default = evaluate_run_dir(tmp_path, write=False)["events"]["long_distraction"]
    (tmp_path / "summary.json").write_text(json.dumps({"run": {"layout": str(own)}}))
    with_own = evaluate_run_dir(tmp_path, write=False)["events"]["long_distraction"]
    assert len(default["false"]) == len(default["implied_by_truth"]) == 1 and not default["unexplained"]
    assert len(with_own["false"]) == len(with_own["unexplained"]) == 1 and not with_own["implied_by_truth"]
    own.unlink()
    with pytest.raises(ValueError, match="pass it with --layout"):
        evaluate_run_dir(tmp_path, write=False)


def test_rerun_reads_the_eye_view_limit(tmp_path):
    """--eye-view FULL,ZERO sets GazeStateConfig.eye_view_deg, 'none' clears it, bad values are refused;
    --head-space-scatter-ref, --hand-at-head and --warmup-replay likewise (0: off)."""
    import argparse
    sys.path.insert(0, str(ROOT / "scripts"))
    from gaze_rerun import eye_view, stage_config
    from monitor.gaze.state import DistractionConfig
    assert eye_view("40,50") == (40.0, 50.0) and eye_view("45,45") == (45.0, 45.0) and eye_view("None") == ()
    for bad in ("50,40", "45", "a,b", "-5,10"):
        with pytest.raises(argparse.ArgumentTypeError):
            eye_view(bad)
    options = dict(no_road_ahead=False, no_eyes_hidden_fallback=False, eye_weight=None, head_spread=None,
                   cover_hold=None, hand_at_head=None, warmup_replay=None, head_space_noise=None,
                   head_space_spread=None, head_space_other=None, head_space_scatter_ref=None)
    for given, expected in ((None, (45.0, 45.0)), ((), None), ((30.0, 60.0), (30.0, 60.0))):
        config = stage_config(argparse.Namespace(**options, eye_view=given), "head-space", DistractionConfig())
        assert config.eye_view_deg == expected
    # --head-space-scatter-ref DEG sets HeadSpaceConfig.scatter_ref_deg, 0 turns it off
    for given, expected in ((None, 1.0), (0.0, None), (1.5, 1.5)):
        config = stage_config(argparse.Namespace(**{**options, "head_space_scatter_ref": given}, eye_view=None),
                              "head-space", DistractionConfig())
        assert config.head_space.scatter_ref_deg == expected
    # --hand-at-head MM sets GazeStateConfig.hand_at_head_mm, 0 turns it off
    for given, expected in ((None, 200.0), (0.0, None), (150.0, 150.0)):
        config = stage_config(argparse.Namespace(**{**options, "hand_at_head": given}, eye_view=None),
                              "head-space", DistractionConfig())
        assert config.hand_at_head_mm == expected
    # --warmup-replay S sets GazeStateConfig.warmup_replay_s (0: off)
    for given, expected in ((None, 10.0), (0.0, 0.0), (5.0, 5.0)):
        config = stage_config(argparse.Namespace(**{**options, "warmup_replay": given}, eye_view=None),
                              "head-space", DistractionConfig())
        assert config.warmup_replay_s == expected
    cli = subprocess.run([sys.executable, str(ROOT / "scripts/gaze_rerun.py"), str(tmp_path), "--eye-view", "50,40"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "need 0 <= FULL <= ZERO <= 180" in cli.stderr


def test_pooled_figures_split_by_driver_and_mount(layout):
    """Each run names its driver and mount (from the truth); the pooled figures give the dwell
    accuracy per driver and per mount, so one driver's bad run shows instead of hiding in the pool."""
    from monitor.gaze.evaluate_run import format_pooled_line
    good, good_events = run_records(layout, LONG, LONG_EPISODE)
    bad, bad_events = run_records(layout, LONG, LONG_EPISODE,
                                  shown=lambda t, z: "dashboard" if z == "media_centre" else z)
    results = []
    for (records, events), driver, mount in (((good, good_events), 7, "dashboard"), ((bad, bad_events), 8, "pillar"),
                                             ((good, good_events), 8, "dashboard")):
        for r in records:
            r["truth"] = {**r["truth"], "subject": {"id": driver}, "camera": {"mount": mount}}
        results.append(evaluate_gaze(records, events))
    assert [(r["driver"], r["mount"]) for r in results] == [(7, "dashboard"), (8, "pillar"), (8, "dashboard")]
    total = pooled(results)
    bad_acc, n = results[1]["gaze"]["dwell_accuracy"], results[0]["gaze"]["dwell_frames"]
    assert 0 < bad_acc < 1 and results[1]["gaze"]["dwell_frames"] == n
    assert total["by_driver"] == {"7": {"dwell_frames": n, "dwell_accuracy": 1.0},
                                  "8": {"dwell_frames": 2 * n, "dwell_accuracy": pytest.approx((1 + bad_acc) / 2, abs=1e-4)}}
    assert total["by_mount"]["pillar"]["dwell_accuracy"] == pytest.approx(bad_acc, abs=1e-4)
    assert total["by_mount"]["dashboard"] == {"dwell_frames": 2 * n, "dwell_accuracy": 1.0}
    line = format_pooled_line(total)
    assert line.startswith("pooled over 3 runs: dwell accuracy") and "\n  by driver: 7 1.0 (" in line
    assert "\n  by mount: dashboard 1.0 (" in line
    # runs without a subject or mount in their truth: no such lines
    plain = pooled([evaluate_gaze(*run_records(layout, LONG, LONG_EPISODE))])
    assert plain["by_driver"] == plain["by_mount"] == {} and "by driver" not in format_pooled_line(plain)

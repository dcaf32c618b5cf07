"""scripts/eval_sets.py: the named evaluation sets, and real (short) pipeline runs of one of them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from eval_sets import EVAL_SETS  # noqa: E402
from synth.behaviour import SCENARIOS  # noqa: E402
from synth.camera import MOUNTS  # noqa: E402

SCRIPT = [sys.executable, str(ROOT / "scripts/eval_sets.py")]


def _names(set_name: str) -> list[str]:
    return [s.name for s in EVAL_SETS[set_name]]


def test_sets_are_the_documented_sequences_and_never_training_or_test_drivers():
    assert _names("validation") == [f"{s}_{m}_drive" for s in range(30000, 30004) for m in ("dashboard", "mirror")]
    assert _names("validation_pillar") == [f"{s}_pillar_drive" for s in range(30000, 30004)]
    assert sorted(_names("validation_activities")) == sorted(
        f"{s}_{m}_{sc}" for s in range(30000, 30004) for m in ("dashboard", "pillar") for sc in ("vats", "activities"))
    assert sorted(_names("held_out")) == sorted(
        [f"{s}_{m}_drive" for s in (20000, 20001, 20002) for m in ("dashboard", "pillar")]
        + [f"{s}_{m}_{sc}" for s in (20000, 20001) for m in ("dashboard", "pillar") for sc in ("vats", "activities")])
    assert sorted(_names("validation_more")) == sorted(
        [f"{s}_{m}_drive" for s in range(30004, 30012) for m in ("dashboard", "mirror", "pillar")]
        + [f"{s}_{m}_{sc}" for s in range(30004, 30012) for m in ("dashboard", "pillar") for sc in ("vats", "activities")])
    assert sorted(_names("held_out_fresh")) == sorted(n.replace("2000", "5000", 1) for n in _names("held_out"))
    seeds = {name: {s.seed for s in specs} for name, specs in EVAL_SETS.items()}
    assert not seeds["held_out_fresh"] & (seeds["held_out"] | seeds["validation"] | seeds["validation_more"])
    assert sorted(_names("held_out_third")) == sorted(n.replace("2000", "6000", 1) for n in _names("held_out"))
    assert not seeds["held_out_third"] & (seeds["held_out"] | seeds["held_out_fresh"] | seeds["validation"]
                                          | seeds["validation_more"])
    assert sorted(_names("held_out_fourth")) == sorted(n.replace("2000", "7000", 1) for n in _names("held_out"))
    others = set().union(*(v for k, v in seeds.items() if k != "held_out_fourth"))
    assert not seeds["held_out_fourth"] & others
    assert sorted(_names("held_out_fifth")) == sorted(n.replace("2000", "8000", 1) for n in _names("held_out"))
    others = set().union(*(v for k, v in seeds.items() if k != "held_out_fifth"))
    assert not seeds["held_out_fifth"] & others
    assert not seeds["validation_more"] & (seeds["validation"] | seeds["held_out"])  # new drivers
    # the validation drivers in sunglasses: their own scenes, only the eyewear differs
    sunglasses = EVAL_SETS["validation_sunglasses"]
    assert sorted(s.name for s in sunglasses) == sorted(
        f"{s}_{m}_{sc}_sunglasses" for s in (30000, 30001, 30003) for m in ("dashboard", "pillar")
        for sc in ("drive", "vats", "activities"))
    assert all(s.source.endswith(",glasses=sunglasses") for s in sunglasses)
    assert all(s.glasses is None and "glasses" not in s.source for k, v in EVAL_SETS.items()
               if k != "validation_sunglasses" for s in v)
    for specs in EVAL_SETS.values():
        for s in specs:
            assert s.seed >= 20000, s  # training < 10000, the models' test scenes 10000-10059
            assert s.mount in MOUNTS and s.scenario in SCENARIOS, s


def test_a_sequence_in_other_eyewear_is_the_seed_s_scene_with_that_eyewear():
    """validation_sunglasses renders the validation driver in sunglasses; the rest is the seed's own scene."""
    from monitor.sources import open_source
    spec = EVAL_SETS["validation_sunglasses"][0]
    own = next(iter(open_source(spec.source.replace(",glasses=sunglasses", "")))).truth
    worn = next(iter(open_source(spec.source))).truth
    assert worn["subject"]["glasses"] == "sunglasses" != own["subject"]["glasses"]
    assert worn["head"] == own["head"] and worn["camera"] == own["camera"] and worn["gaze"] == own["gaze"]


def _call(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*SCRIPT, *args], capture_output=True, text=True, timeout=timeout)


def test_runs_a_set_resumes_it_and_redoes_an_unfinished_run(tmp_path):
    out = tmp_path / "pillar"
    first = _call("validation_pillar", "--out", str(out), "--", "--max-frames", "12")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pooled over 4 runs: dwell accuracy" in first.stdout
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in runs] == [f"{seed}_pillar_drive" for seed in range(30000, 30004)]
    for run in runs:  # the options after -- reached every run
        assert json.loads((run / "summary.json").read_text())["frames"]["processed"] == 12, run
    # a run cut off by Ctrl-C leaves a summary with its exit code: it must be made again, not kept
    summary = runs[1] / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "exit_code": 130}))
    again = _call("validation_pillar", "--out", str(out), "--", "--max-frames", "12")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("kept (finished before)") == 3, again.stdout
    assert "30001_pillar_drive: removing an unfinished earlier run" in again.stdout
    assert json.loads(summary.read_text())["exit_code"] == 0
    other = _call("validation_pillar", "--out", str(out), "--", "--max-frames", "20")
    assert other.returncode == 2 and "choose another --out" in other.stderr, other.stderr


def test_a_failing_set_is_not_evaluated(tmp_path):
    bad = _call("validation_pillar", "--out", str(tmp_path / "bad"), "--", "--head-model", str(tmp_path / "no.onnx"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "1 run(s) failed: 30000_pillar_drive" in bad.stderr  # exit 2 (bad input) stops the set
    assert "pooled" not in bad.stdout


def test_dry_run_prints_one_command_per_sequence_with_the_extra_options(tmp_path):
    r = _call("held_out", "--out", str(tmp_path), "--dry-run", "--", "--eye-model", "none", timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 14, r.stdout + r.stderr
    assert all("--fast --headless" in line and line.endswith("--eye-model none") for line in lines), lines
    assert "synthetic:seed=20001,scenario=vats,mount=pillar" in r.stdout
    wrong = _call("held_out", "--out", str(tmp_path), "--head-model", "x.onnx", timeout=60)
    assert wrong.returncode == 2 and "options go after --" in wrong.stderr
    clash = _call("held_out", "--out", str(tmp_path), "--dry-run", "--", "--out", "elsewhere", timeout=60)
    assert clash.returncode == 2 and "set per run by the set" in clash.stderr  # every run would share one folder
    typo = _call("held_out", "--out", str(tmp_path), "--dry-run", "--", "--head-modle", "x.onnx", timeout=60)
    assert typo.returncode == 2 and "--head-modle" in typo.stderr and not typo.stdout  # run_monitor's parser


def test_a_folder_begun_under_other_gaze_settings_is_refused(tmp_path):
    """eval_set.json keeps the gaze stage's default settings: runs made before one changed (here the
    eye-view limit) are not finished with the new one."""
    from eval_sets import _check_options
    out = tmp_path / "set"
    assert _check_options(out, "validation", []) is None
    record = json.loads((out / "eval_set.json").read_text())
    assert record["defaults"]["gaze_settings"]["eye_view_deg"] == [45.0, 45.0]
    assert _check_options(out, "validation", []) is None  # the same settings: resumed
    record["defaults"]["gaze_settings"]["eye_view_deg"] = None
    (out / "eval_set.json").write_text(json.dumps(record))
    assert "choose another --out" in _check_options(out, "validation", [])
    # the settings the options give, not only the defaults: ray scoring, a longer long distraction
    ray = tmp_path / "ray"
    assert _check_options(ray, "validation", ["--gaze-scoring", "ray", "--long-distraction-s", "4"]) is None
    settings = json.loads((ray / "eval_set.json").read_text())["defaults"]["gaze_settings"]
    assert settings["eye_view_deg"] is None and settings["head_space"] is None
    assert settings["distraction"]["long_s"] == 4.0
    assert "long" in _check_options(tmp_path / "bad", "validation", ["--long-distraction-s", "-1"])

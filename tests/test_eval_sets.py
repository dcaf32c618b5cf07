"""scripts/eval_sets.py: the named evaluation sets, and a real (short) pipeline run of one of them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from eval_sets import EVAL_SETS  # noqa: E402
from synth.behaviour import SCENARIOS  # noqa: E402
from synth.camera import MOUNTS  # noqa: E402

SCRIPT = [sys.executable, str(ROOT / "scripts/eval_sets.py")]


def test_sets_are_the_documented_sequences_and_never_training_or_test_drivers():
    assert {k: len(v) for k, v in EVAL_SETS.items()} == {"validation": 8, "validation_pillar": 4, "held_out": 14}
    for specs in EVAL_SETS.values():
        assert len({s.name for s in specs}) == len(specs)
        for s in specs:
            assert s.seed >= 20000  # training < 10000, the models' test scenes 10000-10059
            assert s.mount in MOUNTS and s.scenario in SCENARIOS
    validation_seeds = {s.seed for k in ("validation", "validation_pillar") for s in EVAL_SETS[k]}
    assert validation_seeds.isdisjoint({s.seed for s in EVAL_SETS["held_out"]})
    assert {s.mount for s in EVAL_SETS["validation"]} == {"dashboard", "mirror"}  # the training mounts
    assert {s.mount for s in EVAL_SETS["validation_pillar"]} == {"pillar"}


def test_runs_a_set_resumes_it_and_refuses_to_evaluate_a_failed_one(tmp_path):
    out = tmp_path / "pillar"
    first = subprocess.run([*SCRIPT, "validation_pillar", "--out", str(out), "--", "--max-frames", "12"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pooled over 4 runs: dwell accuracy" in first.stdout
    assert sorted(p.name for p in out.iterdir() if (p / "summary.json").is_file()) == [
        f"{seed}_pillar_drive" for seed in range(30000, 30004)]
    again = subprocess.run([*SCRIPT, "validation_pillar", "--out", str(out)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and again.stdout.count("kept (has summary.json)") == 4
    bad = subprocess.run([*SCRIPT, "validation_pillar", "--out", str(tmp_path / "bad"), "--",
                          "--head-model", str(tmp_path / "missing.onnx")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "4 run(s) failed" in bad.stderr and "pooled" not in bad.stdout


def test_dry_run_prints_one_command_per_sequence_with_the_extra_options():
    r = subprocess.run([*SCRIPT, "held_out", "--out", "/tmp/unused", "--dry-run", "--", "--eye-model", "none"],
                       capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 14
    assert all("--fast --headless" in line and line.endswith("--eye-model none") for line in lines)
    assert "synthetic:seed=20001,scenario=vats,mount=pillar" in r.stdout

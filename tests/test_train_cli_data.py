"""The data, evaluation, card and export command lines on bad or odd input: one `error:` line,
exit 2, nothing left behind or overwritten; and the data they write is the data they read back.
Tiny data (one rendered frame, untrained or copied shipped models), so each runs in seconds."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from exporters.export import export_model, head_contract
from exporters.poseidon import PoseidonNet
from monitor.estimator.pipeline import DEFAULT_BODY_MODEL
from train import data as train_data

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
torch.set_num_threads(2)


def refused(capsys, main, argv, expect: str) -> None:
    """``main(argv)`` ends with exit 2 and one `error:` line on stderr that contains ``expect``."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and expect in err, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    """A one-frame train.data folder."""
    out = tmp_path_factory.mktemp("data") / "test"
    train_data.main(["--out", str(out), "--scenes", "1", "--frames-per-scene", "1", "--seed-base", "10000"])
    return out


# ---- 1. train.data: no stale packs read, no silent mixing, bad counts refused ---------------------

def test_data_refuses_a_folder_with_packs_and_overwrite_replaces_them(tmp_path, capsys):
    out = tmp_path / "d"
    train_data.main(["--out", str(out), "--scenes", "3", "--frames-per-scene", "1"])  # 3 cameras: 3 packs
    before = snapshot(out)
    assert len([n for n in before if n.endswith(".npz")]) == 3 and "INCOMPLETE" not in before
    capsys.readouterr()
    refused(capsys, train_data.main, ["--out", str(out), "--scenes", "1", "--frames-per-scene", "1"], "--overwrite")
    assert snapshot(out) == before
    train_data.main(["--out", str(out), "--scenes", "1", "--frames-per-scene", "1", "--overwrite"])
    assert sorted(p.name for p in out.iterdir()) == ["pack_0000.npz", "specs.json"]
    specs = json.loads((out / "specs.json").read_text())
    assert len(specs["scenes"]) == 1 and specs["packs"] == ["pack_0000.npz"] and specs["frames"] == 1
    assert len(list(train_data.load_records([out]))) == 1


def test_a_bad_gaze_zone_with_overwrite_leaves_a_finished_folder_as_it_was(tmp_path, capsys):
    out = tmp_path / "d"
    train_data.main(["--out", str(out), "--scenes", "1", "--frames-per-scene", "1"])
    before = snapshot(out)
    capsys.readouterr()
    refused(capsys, train_data.main, ["--out", str(out), "--scenes", "1", "--overwrite", "--gaze-zone", "dash"],
            "not a gaze zone")
    assert snapshot(out) == before


def test_loader_reads_only_the_packs_specs_json_lists(tmp_path):
    out = tmp_path / "d"
    train_data.main(["--out", str(out), "--scenes", "2", "--frames-per-scene", "1"])
    shutil.copy(out / "pack_0001.npz", out / "pack_0007.npz")  # what an earlier, bigger run leaves
    assert len(list(train_data.load_records([out]))) == 2


def test_an_interrupted_run_is_refused_by_the_loader_and_rewritten_with_overwrite(tmp_path, capsys):
    out = tmp_path / "d"
    # a run killed after its first pack (per_pack=1): no cleanup, as after SIGKILL or a power cut
    script = textwrap.dedent(f"""
        import os, signal
        from train import data
        real = data.synth_records
        def dying(*a, **k):
            for i, rec in enumerate(real(*a, **k)):
                if i == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield rec
        data.synth_records = dying
        data.write_packs(data.scene_specs(2), 1, {str(out)!r}, per_pack=1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert (out / "pack_0000.npz").is_file() and not (out / "specs.json").exists()
    with pytest.raises(ValueError, match="did not finish"):
        train_data.load_records([out])
    refused(capsys, train_data.main, ["--out", str(out), "--scenes", "1", "--frames-per-scene", "1"], "--overwrite")
    train_data.main(["--out", str(out), "--scenes", "1", "--frames-per-scene", "1", "--overwrite"])
    assert len(list(train_data.load_records([out]))) == 1


@pytest.mark.parametrize("args, expect", [
    (["--scenes", "1", "--frames-per-scene", "-1"], "--frames-per-scene"),
    (["--scenes", "1", "--frames-per-scene", "0"], "--frames-per-scene"),
    (["--scenes", "0"], "--scenes"),
    (["--scenes", "1", "--gaze-zone", "dash"], "not a gaze zone"),
])
def test_data_refuses_bad_counts_before_making_the_folder(tmp_path, capsys, args, expect):
    out = tmp_path / "d"
    refused(capsys, train_data.main, ["--out", str(out), *args], expect)
    assert not out.exists()


def test_train_all_rewrites_unfinished_data_folders_with_overwrite(tmp_path, monkeypatch):
    """train.all reruns train.data only where specs.json is missing (an interrupted run, whose packs
    train.data now refuses to mix with): it must pass --overwrite."""
    from train import all as train_all

    calls = []

    class Stop(Exception):
        pass

    def fake_run(args):
        if args[1] != "train.data":
            raise Stop
        calls.append(args)

    monkeypatch.setattr(train_all, "_run", fake_run)
    with pytest.raises(Stop):
        train_all.main(["--data", str(tmp_path), "--out", str(tmp_path / "models")])
    assert len(calls) == 2 + len(train_all.EXTRA_SETS) and all("--overwrite" in c for c in calls)


# ---- 2. train.evaluate: models checked against their contracts ------------------------------------

@pytest.fixture
def models_copy(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    for name in ("body_lite.onnx", "head_poseidon_ir.onnx", "head_poseidon_depth.onnx"):
        shutil.copy(MODELS / name, d)
    return d


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such folder"),
    ("empty", "nothing to evaluate"),
    ("depth_named_ir", "for depth images"),
    ("head_as_body", "not body_joints"),
])
def test_evaluate_refuses_missing_empty_or_misnamed_models(tmp_path, capsys, test_set, models_copy, case, expect):
    models, extra = models_copy, []
    if case == "missing":
        models = tmp_path / "nosuch"
    elif case == "empty":
        models = tmp_path / "empty"
        models.mkdir()
    elif case == "depth_named_ir":
        shutil.copy(models / "head_poseidon_depth.onnx", models / "head_poseidon_ir.onnx")
        extra = ["--write-contracts"]
    else:
        extra = ["--body", "head_poseidon_ir.onnx"]
    out = tmp_path / "metrics.json"
    out.write_text('{"kept": true}')  # e.g. the shipped metrics.json
    before = snapshot(models) if models.is_dir() else None
    from train.evaluate import main
    refused(capsys, main, ["--models", str(models), "--test", str(test_set), "--out", str(out), *extra], expect)
    assert out.read_text() == '{"kept": true}'
    assert (snapshot(models) if models.is_dir() else None) == before


def test_evaluate_refuses_a_test_set_that_is_not_a_pack(tmp_path, capsys, models_copy):
    eyes = tmp_path / "eyes.npz"
    np.savez(eyes, x=np.zeros((2, 4, 4), np.float16), y=np.zeros((2, 2), np.float32))
    from train.evaluate import main
    refused(capsys, main, ["--models", str(models_copy), "--test", str(eyes)], "not a train.data pack")


# ---- 3. train.cards on odd run and metrics files -----------------------------------------------

@pytest.mark.parametrize("case, expect", [
    ("final_loss_none", "training.final_loss is None"),
    ("metrics_without_figures", "no head_ir figures"),
    ("no_metrics", "metrics.json: missing"),
])
def test_cards_give_one_line_and_keep_the_old_cards(tmp_path, capsys, case, expect):
    d = tmp_path / "models"
    d.mkdir()
    for p in list(MODELS.glob("*.json")) + list(MODELS.glob("*.md")):
        shutil.copy(p, d)
    if case == "final_loss_none":
        run = json.loads((d / "head_poseidon_ir.metrics.json").read_text())
        run["training"]["final_loss"] = None
        (d / "head_poseidon_ir.metrics.json").write_text(json.dumps(run))
    elif case == "metrics_without_figures":  # what train.evaluate wrote for an empty models folder
        (d / "metrics.json").write_text(json.dumps({"test": ["t"], "frames": 12}))
    else:
        (d / "metrics.json").unlink()
    before = snapshot(d)
    from train.cards import main
    refused(capsys, main, ["--models", str(d)], expect)
    assert snapshot(d) == before


# ---- 4./5. exporters.export: a closed stdout, a failed export -------------------------------------

def test_export_completes_when_its_reader_goes_away(tmp_path):
    """`python -m exporters.export ... | head -1`: the export goes on and writes every model (the VGG
    body is left out here only to keep the test short)."""
    script = ("from exporters import body_net; body_net.CONFIGS = {'body_lite': body_net.LITE}; "
              "from exporters.export import main; main()")
    proc = subprocess.Popen([sys.executable, "-c", script, "--untrained", "--no-fp16", "--out", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ,
                                                                                            "OMP_NUM_THREADS": "2"})
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "BrokenPipeError" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body_lite.onnx", "head_poseidon_depth.onnx",
                                                         "head_poseidon_ir.onnx"]


@pytest.mark.parametrize("stage", ["parity", "fp16"])
def test_a_failed_export_leaves_the_previous_files(tmp_path, monkeypatch, stage):
    import exporters.export as export

    path = tmp_path / "head_poseidon_depth.onnx"
    torch.manual_seed(0)
    export_model(PoseidonNet(), path, head_contract("depth", False, "good"))
    before = snapshot(tmp_path)
    assert sorted(before) == ["head_poseidon_depth.fp16.onnx", "head_poseidon_depth.onnx"]
    if stage == "parity":
        real = export._run
        monkeypatch.setattr(export, "_run", lambda p, x: real(p, x) + 1.0)  # an export that changed the function
    else:
        def broken(model):
            raise RuntimeError("fp16 conversion failed")
        monkeypatch.setattr(export, "to_fp16", broken)
    torch.manual_seed(1)  # other weights: a replaced file would differ
    with pytest.raises(RuntimeError, match="parity|fp16"):
        export_model(PoseidonNet(), path, head_contract("depth", False, "bad"))
    assert snapshot(tmp_path) == before  # nor any temporary file left


# ---- 6./8. eye crop sets: the file written is the file named ----------------------------------------

@pytest.mark.parametrize("module", ["train.eye_data", "train.eye_locate_data"])
def test_crop_sets_report_the_file_they_write(tmp_path, capsys, module):
    import importlib
    main = importlib.import_module(module).main
    main(["--out", str(tmp_path / "noext"), "--scenes", "1", "--frames-per-scene", "1", "--crops", "1"])
    out = capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["noext.npz"]
    assert f"to {tmp_path / 'noext.npz'}" in out, out
    refused(capsys, main, ["--out", str(tmp_path / "x.npz"), "--scenes", "1", "--crops", "0"], "--crops")
    assert not (tmp_path / "x.npz").exists()


def test_eye_data_docstring_builds_the_shipped_test_set():
    """The docstring's test-set command is the one train.all and the eye card use (2 crops a frame)."""
    from train import eye_data
    test_line = next(line for line in eye_data.__doc__.splitlines() if "eyes_test.npz" in line)
    assert test_line.split()[-2:] == ["--crops", "2"]


# ---- 7. exporters.bench ------------------------------------------------------------------------------

@pytest.mark.parametrize("case, expect", [
    ("runs0", "--runs"), ("runs-3", "--runs"), ("nosuch", "no such folder"), ("eye_pack", "not a train.data pack"),
])
def test_bench_refuses_bad_input_without_a_table(tmp_path, capsys, case, expect):
    from exporters import bench
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(DEFAULT_BODY_MODEL, models)
    args = ["--models", str(models), "--runs", "2", "--full", str(tmp_path / "none.onnx")]
    if case.startswith("runs"):
        args[3] = case[4:]
    elif case == "nosuch":
        args[1] = str(tmp_path / "nosuch")
    else:
        eyes = tmp_path / "eyes.npz"
        np.savez(eyes, x=np.zeros((2, 4, 4), np.float16), y=np.zeros((2, 2), np.float32))
        args += ["--pack", str(eyes)]
    with pytest.raises(SystemExit) as exc:
        bench.main(args)
    cap = capsys.readouterr()
    assert exc.value.code == 2 and cap.out == "", cap
    assert cap.err.startswith("error: ") and cap.err.count("\n") == 1 and expect in cap.err, cap.err

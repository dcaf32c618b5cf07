"""The trainers' command lines (train.head, train.body, train.eye, train.eye_locate) refuse bad input
with one line and exit 2 before any training starts, leaving nothing behind; training stops at
whichever budget comes first; a run without --out never touches models/."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models_fixtures import stick_record

torch.set_num_threads(2)
TRAINERS = ("head", "body", "eye", "eye_locate")
TRAIN_FN = {"head": "train_head", "body": "train_body", "eye": "train_eye", "eye_locate": "train_locator"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """A train.data pack of stick figures, an eye crop set and a locator crop set, all tiny."""
    from monitor.estimator.eye_crop import CROP_HEIGHT, CROP_WIDTH, LOCATE_HEIGHT, LOCATE_WIDTH
    from train.data import save_pack

    d = tmp_path_factory.mktemp("trainer_data")
    rng = np.random.default_rng(0)
    recs = [stick_record(rng) for _ in range(6)]
    for i, r in enumerate(recs):
        r.joints_seen, r.group = r.joints_vis.copy(), {"seed": i}
    (d / "folder").mkdir()
    save_pack(recs, d / "folder" / "pack_0000.npz")
    n = 16
    np.savez(d / "eyes.npz", x=rng.normal(size=(n, CROP_HEIGHT, CROP_WIDTH)).astype(np.float16),
             y=rng.normal(0, 5, (n, 2)).astype(np.float32), first=np.arange(n) % 2 == 0,
             seed=np.arange(n) // 2, eye_offset_mm=np.zeros(3, np.float32), label_frame=np.array("crop"))
    np.savez(d / "locate.npz", x=rng.normal(size=(n, LOCATE_HEIGHT, LOCATE_WIDTH)).astype(np.float16),
             y=rng.normal(0, 5, (n, 2)).astype(np.float32), seed=np.arange(n) // 2, hidden=np.arange(n) % 3 == 0)
    (d / "notes.txt").write_text("not a model\n")
    (d / "notes.onnx").write_text("not a model either\n")
    return {"pack": d / "folder" / "pack_0000.npz", "folder": d / "folder", "eyes": d / "eyes.npz",
            "locate": d / "locate.npz", "text": d / "notes.txt", "text_onnx": d / "notes.onnx"}


def _argv(kind: str, data: dict[str, Path], out: Path | None, *extra: str) -> list[str]:
    sets = {"head": ["--train", str(data["pack"]), "--test", str(data["pack"]), "--modality", "depth"],
            "body": ["--train", str(data["pack"]), "--test", str(data["pack"])],
            "eye": ["--train", str(data["eyes"]), "--test", str(data["eyes"])],
            "eye_locate": ["--train", str(data["locate"]), "--test", str(data["locate"])]}[kind]
    return [*sets, "--batch", "4", "--max-steps", "2", *(["--out", str(out)] if out else []), *extra]


def _main(kind: str):
    import importlib
    return importlib.import_module(f"train.{kind}").main


def _no_training(monkeypatch, kind: str) -> None:
    """Bad input must stop the run before this; the old code trained first and failed after."""
    import importlib

    def trained(*a, **k):
        raise AssertionError("training started despite bad input")
    monkeypatch.setattr(importlib.import_module(f"train.{kind}"), TRAIN_FN[kind], trained)


def _refused(kind: str, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        _main(kind)(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


BAD_NUMBERS = [
    *[(k, ["--minutes", v], "--minutes") for k in ("head", "body", "eye") for v in ("-1", "0", "nan")],
    ("eye_locate", ["--minutes", "0"], "--minutes"),  # its new wall-clock cap
    *[(k, ["--batch", v], "--batch") for k in TRAINERS for v in ("0", "1", "-1")],
    *[(k, ["--max-steps", "0"], "--max-steps") for k in TRAINERS],
    *[(k, ["--lr", v], "--lr") for k in TRAINERS for v in ("0", "-0.001", "inf")],
    *[(k, ["--threads", "-1"], "--threads") for k in TRAINERS],
    *[(k, ["--seed", "-1"], "--seed") for k in TRAINERS],
    ("head", ["--jitter", "-1"], "--jitter"), ("head", ["--dropout", "1"], "--dropout"),
    ("head", ["--scale-range", "1.5"], "--scale-range"), ("head", ["--centre-sd", "-0.1"], "--centre-sd"),
    ("head", ["--balance", "nan"], "--balance"), ("head", ["--max-rotation", "-5"], "--max-rotation"),
    ("body", ["--max-frames", "0"], "--max-frames"), ("body", ["--max-test", "0"], "--max-test"),
    ("body", ["--oversample", "0"], "--oversample"), ("eye", ["--balance", "-1"], "--balance"),
]


@pytest.mark.parametrize("kind, extra, expect", BAD_NUMBERS)
def test_nonsense_numbers_are_refused_before_training(tmp_path, capsys, monkeypatch, data, kind, extra, expect):
    """--minutes -1 trained forever (eye) or 0 steps into a 'trained' model (head/body), --batch 0 a NaN
    loss, --batch 1/-1 tracebacks, --max-steps 0 meant no limit (eye), --threads -1 a RuntimeError."""
    _no_training(monkeypatch, kind)
    out = tmp_path / "new" / "out"
    line = _refused(kind, _argv(kind, data, out, *extra), capsys)
    assert expect in line
    assert not (tmp_path / "new").exists()


def _bad_inputs(data: dict[str, Path], tmp: Path) -> list[tuple[str, list[str], str]]:
    missing = str(tmp / "missing")
    pack, folder, eyes, locate = (str(data[k]) for k in ("pack", "folder", "eyes", "locate"))
    return [
        ("head", ["--train", eyes], "eye crop set"), ("head", ["--test", locate], "eye-locator crop set"),
        ("body", ["--train", eyes], "eye crop set"), ("body", ["--test", eyes], "eye crop set"),
        ("head", ["--train", missing], "no such"), ("body", ["--test", missing], "no such"),
        ("body", ["--test", str(data["text"])], "not a readable .npz"),
        ("eye", ["--train", locate], "eye-locator crop set"), ("eye", ["--test", pack], "train.data pack"),
        ("eye", ["--train", folder], "a folder"), ("eye", ["--test", missing], "no such"),
        ("eye_locate", ["--train", eyes], "eye crop set"), ("eye_locate", ["--test", folder], "a folder"),
        ("head", ["--init", str(data["text"])], "--init"), ("head", ["--init", str(data["text_onnx"])], "--init"),
        ("body", ["--init", str(data["text_onnx"])], "--init"), ("head", ["--init", missing], "--init"),
    ]


@pytest.mark.parametrize("case", range(17))
def test_wrong_or_missing_inputs_are_refused_before_training(tmp_path, capsys, monkeypatch, data, case):
    """Eye data to train.head/body was KeyError 'depth', locator data to train.eye a KeyError, a folder an
    IsADirectoryError, a text --init a protobuf DecodeError; train.body read --test only after training."""
    cases = _bad_inputs(data, tmp_path)
    assert len(cases) == 17
    kind, extra, expect = cases[case]
    _no_training(monkeypatch, kind)
    argv = _argv(kind, data, tmp_path / "out", "--threads", "1")
    for i in range(0, len(extra), 2):  # replace the option's value (argparse keeps the last one)
        argv += extra[i:i + 2]
    line = _refused(kind, argv, capsys)
    assert expect in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", TRAINERS)
@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, monkeypatch, data, kind, where):
    if where == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    _no_training(monkeypatch, kind)
    (tmp_path / "taken").write_text("a file")
    out = {"file": tmp_path / "taken", "under_file": tmp_path / "taken" / "sub", "proc": Path("/proc/x")}[where]
    line = _refused(kind, _argv(kind, data, out, "--threads", "1"), capsys)
    assert "--out" in line
    assert (tmp_path / "taken").read_text() == "a file" and not Path("/proc/x").exists()


class _FakeClock:
    """time.monotonic that runs 20 s per call: a wall-clock budget of a minute lasts a few steps."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 20.0
        return self.t


def _tiny_train(kind: str, data: dict[str, Path], minutes, max_steps):
    if kind == "head":
        from exporters.export import HEAD_NORMALISATION
        from train.data import load_pack
        from train.head import make_crops, train_head
        x, y = make_crops(load_pack(data["pack"]), "depth", HEAD_NORMALISATION["depth"])
        return train_head(x, y, minutes, max_steps=max_steps, batch=4, log=lambda *_: None)[1]
    if kind == "body":
        from exporters.export import BODY_NORMALISATION
        from test_models_train import TINY
        from train.body import reduce_records, train_body
        from train.data import load_pack
        arrays = reduce_records(load_pack(data["pack"]), TINY.input_hw)
        return train_body(arrays, TINY, BODY_NORMALISATION, minutes, max_steps=max_steps, batch=4,
                          log=lambda *_: None)[1]
    with np.load(data["eyes" if kind == "eye" else "locate"]) as z:
        x, y = z["x"], z["y"]
        hidden = z["hidden"] if kind == "eye_locate" else None
    if kind == "eye":
        from train.eye import train_eye
        return train_eye(x, y, minutes, batch=4, max_steps=max_steps, log=lambda *_, **__: None)[1]
    from train.eye_locate import train_locator
    return train_locator(x, y, hidden, batch=4, max_steps=max_steps, minutes=minutes, log=lambda *_, **__: None)[1]


@pytest.mark.parametrize("kind", TRAINERS)
def test_training_stops_at_whichever_budget_comes_first(monkeypatch, data, kind):
    """--max-steps overrode --minutes (train.eye --max-steps 100000 --minutes 0.05 ran past 45 s), while
    train.all and the eye card treat --minutes as a cap."""
    monkeypatch.setattr(time, "monotonic", _FakeClock())
    info = _tiny_train(kind, data, minutes=1.0, max_steps=40)  # the clock runs out after a few steps
    assert 1 <= info["steps"] < 40 and info["stopped_by"] == "minutes"
    monkeypatch.setattr(time, "monotonic", _FakeClock())
    info = _tiny_train(kind, data, minutes=600.0, max_steps=3)  # the steps run out first
    assert info["steps"] == 3 and info["stopped_by"] == "steps"
    assert math.isfinite(info["final_loss"])


def test_the_help_says_which_budget_wins(capsys):
    for kind in TRAINERS:
        with pytest.raises(SystemExit):
            _main(kind)(["--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "whichever comes first" in text and "runs/train-" in text, kind
        assert "0: torch's default" in text, kind


@pytest.mark.parametrize("kind", TRAINERS)
def test_a_run_without_out_leaves_models_alone_and_threads_0_is_torchs_default(tmp_path, monkeypatch, capsys,
                                                                                data, kind):
    """The default --out was models/: a trial run replaced the shipped models; --threads 0 was a
    RuntimeError in train.head/train.body while train.eye documented it as torch's default."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    _main(kind)(_argv(kind, data, None, "--threads", "0"))
    out = capsys.readouterr().out
    assert list((tmp_path / "models").iterdir()) == []
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("train-") and any(runs[0].glob("*.onnx"))
    assert str(runs[0].relative_to(tmp_path)) in out.strip().splitlines()[-1 if kind != "eye" else -2]
    if kind == "eye":  # the contract names a locator that is not in the fresh folder: say so
        assert out.strip().splitlines()[-1].startswith("note: ") and "eye_locate_ir.onnx" in out.splitlines()[-1]


def test_eye_prints_no_locator_note_when_the_locator_is_there_or_none_is_named(tmp_path, capsys, data):
    from train.eye import main
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "eye_locate_ir.onnx").write_bytes(b"stand-in")
    main(_argv("eye", data, tmp_path / "a"))
    main(_argv("eye", data, tmp_path / "b", "--locator", ""))
    assert "note:" not in capsys.readouterr().out


@pytest.mark.parametrize("kind, default", [("head", 10.0), ("body", 20.0), ("eye", 20.0)])
def test_max_steps_alone_has_no_clock_cap_and_neither_gives_the_default_minutes(monkeypatch, tmp_path, data,
                                                                                 kind, default):
    """--max-steps alone meant the steps alone before the budget was shared; the default --minutes
    must not become a cap then (it would change the steps and the learning-rate schedule)."""
    import importlib
    seen = []

    class Stop(Exception):
        pass

    def trained(*a, **k):
        seen.append(a[3] if kind == "body" else a[2])  # the minutes argument
        raise Stop
    monkeypatch.setattr(importlib.import_module(f"train.{kind}"), TRAIN_FN[kind], trained)
    argv = _argv(kind, data, tmp_path / "out")  # gives --max-steps 2, no --minutes
    for args in (argv, [a for a in argv if a not in ("--max-steps", "2")], [*argv, "--minutes", "5"]):
        with pytest.raises(Stop):
            _main(kind)(args)
    assert seen == [None, default, 5.0]

"""The synth command lines refuse bad input with one line and exit 2, leaving nothing behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.sources.labels import labels_path


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("args, expect", [
    (["--size", "424by240"], "WIDTHxHEIGHT"),
    (["--size", "0x0"], "WIDTHxHEIGHT"),
    (["--cameras", "d455"], "autopose_ir, d435, kinect_v2"),
    (["--mounts", "roof"], "console, dashboard, mirror, pillar"),
    (["--scenario", "drvie"], "drive, gaze, sweeps, activities, vats, random"),
    (["--frames", "0"], "--frames 0"),
    (["--per-scene", "0"], "--per-scene 0"),  # planned empty scenes forever
    (["--workers", "0"], "--workers 0"),
])
def test_dataset_refuses_bad_options_before_making_the_folder(tmp_path, capsys, args, expect):
    from synth.dataset import main

    out = tmp_path / "new" / "train"
    argv = ["--out", str(out), "--frames", "2", "--size", "64x48", *args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert expect in _one_error_line(captured.err) and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_dataset_refuses_an_out_that_is_a_file(tmp_path, capsys):
    from synth.dataset import main

    (tmp_path / "taken").write_text("not a folder")
    assert main(["--out", str(tmp_path / "taken"), "--frames", "2"]) == 2
    assert "is a file" in _one_error_line(capsys.readouterr().err)
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_dataset_failing_while_rendering_removes_the_folders_it_made(tmp_path, monkeypatch):
    import synth.dataset

    def fail(job):
        (Path(job["out"]) / "shard_00000.npz").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(synth.dataset, "_write_shard", fail)
    with pytest.raises(KeyboardInterrupt):
        synth.dataset.write_dataset(tmp_path / "a" / "b", frames=2, progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder that was there before stays
    with pytest.raises(KeyboardInterrupt):
        synth.dataset.write_dataset(tmp_path / "kept" / "b", frames=2, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and list((tmp_path / "kept").iterdir()) == []

    def other_run_finishes_beside(job):  # e.g. the test split rendered in parallel into a sibling folder
        (tmp_path / "sd" / "data" / "test").mkdir()
        (tmp_path / "sd" / "data" / "test" / "index.json").write_text("{}")
        raise KeyboardInterrupt
    monkeypatch.setattr(synth.dataset, "_write_shard", other_run_finishes_beside)
    with pytest.raises(KeyboardInterrupt):
        synth.dataset.write_dataset(tmp_path / "sd" / "data" / "train", frames=2, progress=False)
    assert (tmp_path / "sd" / "data" / "test" / "index.json").exists()  # the other run's output stays
    assert not (tmp_path / "sd" / "data" / "train").exists()


def test_dataset_still_writes_with_good_options(tmp_path, capsys):
    from synth.dataset import main

    out = tmp_path / "set"
    assert main(["--out", str(out), "--frames", "2", "--size", "64x48", "--cameras", "d435,kinect_v2,",
                 "--mounts", "mirror", "--scenario", "gaze", "--per-scene", "1"]) == 0
    assert "wrote 2 frames in 2 shards" in capsys.readouterr().out
    assert (out / "index.json").exists()


EXPORT = ["--spec", "seed=1,width=64,height=48"]


def test_export_refuses_an_existing_recording_unless_overwrite(tmp_path, capsys):
    from synth.export import main, read_labels

    out = tmp_path / "drive.dmsrec"
    assert main(["--out", str(out), "--frames", "3", *EXPORT]) == 0
    before, labels_before = out.read_bytes(), labels_path(out).read_text()
    capsys.readouterr()
    assert main(["--out", str(out), "--frames", "2", *EXPORT]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "already exists" in line and "--overwrite" in line
    assert out.read_bytes() == before and labels_path(out).read_text() == labels_before
    # the labels file alone is enough to refuse: it would be replaced
    out.unlink()
    assert main(["--out", str(out), "--frames", "2", *EXPORT]) == 2
    assert "labels.jsonl already exists" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()
    assert main(["--out", str(out), "--frames", "2", "--overwrite", *EXPORT]) == 0
    assert len(read_labels(out)) == 2


def test_export_help_names_overwrite(capsys):
    from synth.export import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--overwrite" in capsys.readouterr().out


def test_contact_sheet_defaults_to_the_working_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("cv2")
    import synth.contact_sheet

    monkeypatch.setattr(synth.contact_sheet, "make_sheet", lambda **kw: np.zeros((8, 8, 3), np.uint8))
    monkeypatch.chdir(tmp_path)
    assert synth.contact_sheet.main([]) == 0
    # before, a plain run wrote docs/img/contact_sheet.png, a tracked file of the repository
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contact_sheet.png"]
    with pytest.raises(SystemExit):
        synth.contact_sheet.main(["--help"])
    assert "default: contact_sheet.png" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


@pytest.mark.parametrize("args, expect", [(["--out", "sheet.jpg"], "--out"), (["--cell-height", "0"], "--cell-height")])
def test_contact_sheet_refuses_bad_options_before_rendering(tmp_path, monkeypatch, capsys, args, expect):
    pytest.importorskip("cv2")
    import synth.contact_sheet

    monkeypatch.setattr(synth.contact_sheet, "make_sheet", lambda **kw: pytest.fail("rendered"))
    monkeypatch.chdir(tmp_path)
    assert synth.contact_sheet.main(args) == 2
    assert expect in _one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []

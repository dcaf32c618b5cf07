"""`python -m monitor.bench.display` leaves no temporary folder behind: the rendered input and the
runs (tens of MB) go when it ends, also on an error or Ctrl-C; --keep DIR keeps them."""
import json
import tempfile

import pytest

import monitor.bench.display as display
from monitor.display.xvfb import XvfbUnavailable


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    """mkdtemp's folders go under tmp_path, where the test can see what is left."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setattr(display, "render_source", lambda spec, frames, path: path.write_bytes(b"x" * 1000))
    return root


class FakeXvfb:
    proc = None

    def __enter__(self):
        return ":99"

    def __exit__(self, *exc):
        return None


def fake_run(recording, out, disp, model_args, policy, shot=None):
    out.mkdir()
    (out / "results.jsonl").write_text("".join(json.dumps({"frame": i, "latency_ms": {"end_to_end": 10.0 + i}}) + "\n"
                                               for i in range(5)))
    summary = {"frames": {"processed": 5}, "latency_ms": {"end_to_end": {"p50": 12.0, "p99": 14.0}},
               "display": {"frames_shown": 5, "dropped_upstream": 0, "skipped_by_display": 0, "cpu_s": 0.01}}
    (out / "summary.json").write_text(json.dumps(summary))
    return summary


def test_the_temporary_folder_is_removed_after_a_run(tmp_root, monkeypatch, capsys):
    monkeypatch.setattr(display, "Xvfb", FakeXvfb)
    monkeypatch.setattr(display, "run_once", fake_run)
    assert display.main(["--frames", "5", "--repeats", "1"]) == 0
    assert "target" in capsys.readouterr().out
    assert list(tmp_root.iterdir()) == []


def test_the_temporary_folder_is_removed_on_error_and_ctrl_c(tmp_root, monkeypatch, capsys):
    def no_xvfb():
        raise XvfbUnavailable("Xvfb is not installed")

    monkeypatch.setattr(display, "Xvfb", no_xvfb)
    assert display.main(["--frames", "5"]) == 2
    assert capsys.readouterr().err == "error: Xvfb is not installed\n"
    assert list(tmp_root.iterdir()) == []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(display, "Xvfb", FakeXvfb)
    monkeypatch.setattr(display, "run_once", interrupted)
    with pytest.raises(KeyboardInterrupt):
        display.main(["--frames", "5"])
    assert list(tmp_root.iterdir()) == []


def test_keep_keeps_the_runs(tmp_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(display, "Xvfb", FakeXvfb)
    monkeypatch.setattr(display, "run_once", fake_run)
    keep = tmp_path / "kept"
    assert display.main(["--frames", "5", "--repeats", "1", "--keep", str(keep)]) == 0
    assert sorted(p.name for p in keep.iterdir()) == ["display0", "headless0", "input.dmsrec"]
    assert f"runs in {keep}" in capsys.readouterr().out
    assert list(tmp_root.iterdir()) == []


def test_a_child_run_is_stopped_before_its_folder_goes(tmp_path, monkeypatch):
    """Ctrl-C while a run_monitor.py child runs: the child ends before main removes its folder."""
    started = []
    real_popen = display.subprocess.Popen

    def popen(args, **kwargs):
        proc = real_popen(["sleep", "60"])
        started.append(proc)
        return proc

    def interrupt(self, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(display.subprocess, "Popen", popen)
    monkeypatch.setattr(real_popen, "communicate", interrupt)
    with pytest.raises(KeyboardInterrupt):
        display.run_once(tmp_path / "in.dmsrec", tmp_path / "out", None, [], "live")
    assert started and started[0].poll() is not None

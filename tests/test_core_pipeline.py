"""The whole pipeline as users run it: real processes, real ipc sockets, real ONNX Runtime."""
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from monitor.recording import RecordingReader
from pipeline_helpers import results, run, start_run, summary, wait_for, worker_pids
from tests.fixtures import framesets, write_recording
from tests.onnx_factory import body_model


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return write_recording(tmp_path_factory.mktemp("rec") / "clip.dmsrec", 90, width=320, height=240)


def test_replay_is_lossless_and_ordered_with_a_slow_stage(tmp_path, models, recording):
    code, output = run(tmp_path, "--source", str(recording), "--fast", "--inject-delay", "estimator=15", *models)
    assert code == 0, output
    frames = [r["frame"] for r in results(tmp_path)]
    assert frames == list(range(90))
    s = summary(tmp_path)
    assert s["frames"] == {"captured": 90, "processed": 90, "lost": 0}
    assert all(st["send_dropped"] + st["stale_dropped"] + st["malformed"] == 0 for st in s["stages"].values())
    assert "UNTRAINED" in output and any("UNTRAINED" in w for w in s["warnings"])
    # the injected 15 ms shows up in the estimator's own latency (busy-wait, so never less)
    assert s["latency_ms"]["estimator"]["p50"] >= 15.0


def test_live_mode_keeps_latency_flat_with_a_slow_stage_and_counts_drops(tmp_path, models, recording):
    code, output = run(tmp_path, "--source", str(recording), "--realtime", "--policy", "live",
                       "--inject-delay", "estimator=100", *models)
    assert code == 0, output
    s = summary(tmp_path)
    records = results(tmp_path)
    # at 30 fps with a 100 ms stage most frames cannot be processed: they are dropped, and counted
    assert s["frames"]["processed"] < 60
    assert s["stages"]["capture"]["stale_dropped"] > 0
    assert s["frames"]["processed"] + s["stages"]["capture"]["stale_dropped"] >= 85
    # a processed frame is never older than ~one stage time plus one frame period at its start:
    # latency stays bounded instead of growing with the backlog (replay would reach seconds)
    e2e = [r["latency_ms"]["end_to_end"] for r in records]
    assert max(e2e) < 400, e2e
    frames = [r["frame"] for r in records]
    assert frames == sorted(frames)


def test_a_killed_worker_is_restarted_and_the_run_continues(tmp_path, models, recording):
    proc = start_run(tmp_path, "--source", str(recording), "--realtime", *models)
    try:
        assert wait_for(lambda: tmp_path.joinpath("results.jsonl").exists()
                        and len(tmp_path.joinpath("results.jsonl").read_text().splitlines()) >= 15, 30)
        (victim,) = worker_pids(tmp_path)["estimator"]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic_ns()
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    s = summary(tmp_path)
    assert s["stages"]["estimator"]["restarts"] == 1
    after = [r for r in results(tmp_path) if r["capture_ns"] > killed_at]
    assert len(after) >= 30  # frames captured after the kill went through the new estimator
    assert s["frames"]["processed"] + s["frames"]["lost"] == 90


def test_sigint_stops_everything_quickly_and_leaves_complete_outputs(tmp_path, models):
    long_recording = write_recording(tmp_path / "long.dmsrec", 600, width=320, height=240)
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(long_recording), "--realtime", "--record", *models)
    try:
        assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                        and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 10, 30)
        pids = [p for ps in worker_pids(out).values() for p in ps]
        run_dir = json.loads(Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")[4])["endpoints"]["directory"]
        assert Path(run_dir).is_dir() and any(Path(run_dir).glob("*.sock"))
        assert list(Path("/dev/shm").glob(Path(run_dir).name + "-capture-*")), "frames should use the ring"
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        proc.wait(timeout=10)
        stop_s = time.monotonic() - signalled
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stop_s < 2.0, f"stop took {stop_s:.2f} s"
    assert not any(Path(f"/proc/{p}").exists() for p in pids), "a worker outlived the supervisor"
    assert not Path(run_dir).exists(), "ipc socket files left behind"
    assert not list(Path("/dev/shm").glob(Path(run_dir).name + "*")), "shared-memory ring left behind"
    records = results(out)  # every line parses
    s = summary(out)
    assert s["exit_code"] == 130 and s["frames"]["processed"] == len(records) >= 10
    recorded = list(RecordingReader(out / "recording.dmsrec"))  # complete, readable
    assert len(recorded) >= len(records)


@pytest.mark.parametrize("after", ["start-up", "running"])
def test_terminal_ctrl_c_to_the_process_group_is_a_clean_stop(tmp_path, models, after):
    """A terminal's Ctrl-C goes to every process of the foreground group, workers and spares
    included, at any moment: the run still stops as on a Ctrl-C to the supervisor alone (exit 130,
    complete outputs), with no traceback and no worker counted as crashed or restarted."""
    long_recording = write_recording(tmp_path / "long.dmsrec", 600, width=320, height=240)
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(long_recording), "--realtime", "--record", *models, own_group=True)
    try:
        if after == "start-up":  # the workers have been started and are still in their imports
            assert wait_for(lambda: len(_group_pids(proc.pid)) >= 3, 30)
        else:
            assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                            and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 60, 60)
        group = _group_pids(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "died" not in output and "restarting" not in output, output
    assert not any(Path(f"/proc/{p}").exists() for p in group - {proc.pid}), "a process outlived the supervisor"
    s = summary(out)
    assert s["exit_code"] == 130
    assert all(stage.get("restarts", 0) == 0 and not stage.get("faults") for stage in s["stages"].values()), s["stages"]
    assert s["frames"]["processed"] == len(results(out))  # every line parses


def _group_pids(pgid: int) -> set[int]:
    """The live processes of process group ``pgid`` (from /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.add(int(stat.parent.name))
    return pids


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_before_the_supervisor_runs_cancels_the_start(tmp_path, capsys, monkeypatch, signum):
    """A Ctrl-C or SIGTERM held back between the output folder's creation and the supervisor's
    start (the window run_monitor.py defers them in) cancels the run: exit 130/143, no output
    folder and no private socket folder left behind."""
    from monitor.bus import Endpoints
    from monitor.cli import build_parser, run_pipeline
    made = []
    create = Endpoints.create_private.__func__
    monkeypatch.setattr(Endpoints, "create_private",
                        classmethod(lambda cls, *a, **k: made.append(create(cls, *a, **k)) or made[-1]))
    out = tmp_path / "nested" / "run"
    args = build_parser().parse_args(["--out", str(out), "--headless", "--eye-model", "none"])
    args.eye_model = ""
    assert run_pipeline(args, "synthetic", out, {}, {}, [signum]) == 128 + signum
    assert not (tmp_path / "nested").exists()
    assert len(made) == 1 and not Path(made[0].directory).exists()
    assert "nothing was written" in capsys.readouterr().err


def test_stop_signals_are_held_back_while_the_outputs_are_written():
    """run_monitor.py holds SIGINT and SIGTERM back from the output folder's creation to the end of
    the exports (the supervisor handles them while it runs): a SIGTERM then cannot cut summary.json."""
    from monitor.cli import deferred_stop
    before = signal.getsignal(signal.SIGTERM)
    with deferred_stop() as got:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert got == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGTERM) is before


def test_runs_from_any_working_directory(tmp_path, models, recording):
    """The workers find the package although run_monitor.py is started from another folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, output = run(tmp_path / "run", "--source", str(recording), "--fast", *models, cwd=elsewhere)
    assert code == 0, output
    assert [r["frame"] for r in results(tmp_path / "run")] == list(range(90))


def test_realsense_db3_replays_frame_exactly_through_the_pipeline(tmp_path, models):
    pytest.importorskip("pyrealsense2")
    from monitor.sources.realsense_writer import write_realsense_recording
    original = list(framesets(20, width=160, height=120))
    db3 = tmp_path / "clip.db3"
    write_realsense_recording(db3, original)
    out = tmp_path / "run"
    code, output = run(out, "--source", str(db3), "--fast", "--record", *models)
    assert code == 0, output
    recorded = list(RecordingReader(out / "recording.dmsrec"))
    assert [m.frame for m in recorded] == [f.frame for f in original]
    for msg, fs in zip(recorded, original):
        assert msg.device_ts_ms == pytest.approx(fs.device_ts_ms, abs=1e-6)
        np.testing.assert_array_equal(msg.arrays["ir"], fs.images["ir"])
        np.testing.assert_array_equal(msg.arrays["depth"], fs.images["depth"])
    assert [r["frame"] for r in results(out)] == [f.frame for f in original]


@pytest.mark.parametrize("args, expect", [
    (["--source", "nonsense:x=1"], "unknown source"),
    (["--source", "synthetic:duration=0"], "the scene has no frames"),
    (["--source", "missing.dmsrec"], "no such recording"),
    (["--source", "RECORDING", "--body-model", "/nonexistent/body.onnx"], "not found"),
    (["--inject-delay", "estimator"], "STAGE=MS"),
])
def test_bad_input_stops_with_a_clear_one_line_error(tmp_path, recording, args, expect):
    args = [str(recording) if a == "RECORDING" else a for a in args]
    code, output = run(tmp_path / "run", *args, "--fast", "--max-frames", "5", timeout=60)
    assert code == 2, output
    assert expect in output and "Traceback" not in output


def test_corrupt_recording_is_refused(tmp_path, models):
    bad = tmp_path / "bad.dmsrec"
    bad.write_bytes(b"DMSREC\x00\x01" + b"\xff" * 64)
    code, output = run(tmp_path / "run", "--source", str(bad), "--fast", *models, timeout=60)
    assert code == 2 and "corrupt" in output and "Traceback" not in output


def test_model_without_contract_is_refused(tmp_path, models, recording):
    no_contract = body_model(tmp_path / "plain.onnx", contract=False)
    code, output = run(tmp_path / "run", "--source", str(recording), "--body-model", str(no_contract),
                       "--head-model", models[3], "--fast", "--max-frames", "3", timeout=60)
    assert code == 2 and "dms_contract" in output


def test_a_slow_model_is_not_mistaken_for_a_hung_worker(tmp_path, models):
    """Inference longer than the hang timeout (a big model on a slow CPU) keeps the heart beating."""
    from monitor.supervisor import HANG_TIMEOUT_S
    short = write_recording(tmp_path / "three.dmsrec", 3, width=64, height=48)
    delay_ms = int(HANG_TIMEOUT_S * 1000 * 1.5)
    code, output = run(tmp_path / "run", "--source", str(short), "--fast", "--inject-delay",
                       f"estimator={delay_ms}", *models, timeout=120)
    assert code == 0, output
    s = summary(tmp_path / "run")
    assert s["stages"]["estimator"]["restarts"] == 0 and s["frames"]["processed"] == 3
    assert s["latency_ms"]["estimator"]["p50"] >= delay_ms


@pytest.mark.parametrize("ring", [True, False], ids=["ring", "no-shm"])
def test_synthetic_frames_written_into_the_ring_arrive_bit_identical(tmp_path, models, ring):
    """The synthetic source renders straight into the capture worker's ring slots (loaned slots);
    the frames that reach the recorder are the ones rendered in private arrays, bit for bit."""
    from monitor import shm
    from monitor.sources import open_source

    spec = "synthetic:seed=5,frames=12,width=320,height=240"
    code, output = run(tmp_path, "--source", spec, "--fast", "--record", *([] if ring else ["--no-shm"]), *models)
    assert code == 0, output
    recorded = list(RecordingReader(tmp_path / "recording.dmsrec"))
    with open_source(spec) as source:  # no allocator: np.empty arrays
        expected = list(source)
    assert [m.frame for m in recorded] == [fs.frame for fs in expected] == list(range(12))
    for msg, fs in zip(recorded, expected):
        np.testing.assert_array_equal(msg.arrays["ir"], fs.images["ir"])
        np.testing.assert_array_equal(msg.arrays["depth"], fs.images["depth"])
    in_place = summary(tmp_path)["stages"]["capture"].get("in_place", 0)
    assert in_place == (12 if ring and shm.available() else 0)


def test_a_dmsrec_replay_read_into_the_ring_is_frame_exact(tmp_path, models, recording):
    from monitor import shm

    code, output = run(tmp_path, "--source", str(recording), "--fast", "--record", *models)
    assert code == 0, output
    original = list(RecordingReader(recording))
    replayed = list(RecordingReader(tmp_path / "recording.dmsrec"))
    assert [m.frame for m in replayed] == [m.frame for m in original]
    for got, want in zip(replayed, original):
        np.testing.assert_array_equal(got.arrays["ir"], want.arrays["ir"])
        np.testing.assert_array_equal(got.arrays["depth"], want.arrays["depth"])
    assert summary(tmp_path)["stages"]["capture"].get("in_place", 0) == (90 if shm.available() else 0)

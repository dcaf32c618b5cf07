"""Fault injection on the real pipeline: killed and frozen workers, a camera that disappears, a
model that fails. Recovery times are printed (run with -s) and measured by
`python -m monitor.bench.faults`; the tests assert what must hold whatever the machine's speed."""
import signal

import pytest

from monitor.bench.faults import inject_faults
from pipeline_helpers import results, run, summary
from tests.fixtures import write_recording


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory):
    return write_recording(tmp_path_factory.mktemp("rec") / "long.dmsrec", 1800, width=160, height=120)


def check_recovery(tmp_path, models, recording, faults):
    out = tmp_path / "run"
    found, code, output = inject_faults(out, ["--source", str(recording), "--realtime", "--record", *models], faults,
                                        settle_frames=10)
    assert code == 130, output  # stopped by the test's SIGINT, not by a failure
    s = summary(out)
    records = results(out)  # every line complete
    frames = [r["frame"] for r in records]
    assert len(frames) == len(set(frames)), "a frame was written twice"
    assert frames == sorted(frames)
    for f in found:
        print(f"{f.role:>9} {f.signal}: detected as {f.why!r}, ready after {f.ready_s} s, frames flow "
              f"again after {f.flow_s} s, {f.after} frames captured after recovery processed")
        assert f.why == ("exit code -9" if f.signal == "SIGKILL" else "stopped"), f
        assert f.ready_s is not None and f.after > 0, f
    for role in {f.role for f in found}:
        assert s["stages"][role]["restarts"] == sum(f.role == role for f in found)
    # what was lost is what was in flight inside a killed worker; everything else went through
    assert s["frames"]["processed"] + s["frames"]["lost"] == s["frames"]["captured"]


def test_killed_and_frozen_workers_are_replaced_and_the_run_goes_on(tmp_path, models, long_recording):
    check_recovery(tmp_path, models, long_recording, [("estimator", signal.SIGKILL), ("sink", signal.SIGSTOP)])


@pytest.mark.slow
def test_every_worker_kind_recovers_from_sigkill_and_sigstop(tmp_path, models, long_recording):
    roles = ("capture", "recorder", "estimator", "gaze", "sink")
    check_recovery(tmp_path, models, long_recording, [(r, s) for r in roles for s in (signal.SIGKILL, signal.SIGSTOP)])


def test_a_stage_that_hangs_without_heartbeats_is_replaced(tmp_path, models):
    recording = write_recording(tmp_path / "clip.dmsrec", 120, width=160, height=120)
    code, output = run(tmp_path / "run", "--source", str(recording), "--realtime",
                       "--inject-fault", "estimator-hang=30:30", *models)
    assert code == 0, output
    assert "(hung): killing it" in output
    s = summary(tmp_path / "run")
    (fault,) = s["stages"]["estimator"]["faults"]
    assert fault["why"] == "hung" and "recovered_ns" in fault
    frames = [r["frame"] for r in results(tmp_path / "run")]
    assert 30 not in frames and frames[-1] == 119  # the frozen frame is lost, the run goes on to the end


def test_a_camera_that_disappears_is_looked_for_until_it_is_back(tmp_path, models):
    recording = write_recording(tmp_path / "clip.dmsrec", 60, width=160, height=120)
    code, output = run(tmp_path / "run", "--source", str(recording), "--realtime",
                       "--inject-fault", "source-unplug=20:1.5", *models, "--log-level", "INFO")
    assert code == 0, output
    assert "source lost (injected fault: the camera was unplugged after frame 20)" in output
    assert "source back after" in output and "Traceback" not in output
    s = summary(tmp_path / "run")
    assert s["stages"]["capture"]["source_lost"] == 1 and s["stages"]["capture"]["restarts"] == 0
    records = results(tmp_path / "run")
    assert [r["frame"] for r in records] == list(range(60))  # a file source resumes where it stopped
    gap_s = (records[20]["capture_ns"] - records[19]["capture_ns"]) / 1e9
    assert gap_s >= 1.5  # the outage really happened, and the run waited it out


def test_a_model_failing_on_some_frames_drops_them_with_the_reason(tmp_path, models):
    recording = write_recording(tmp_path / "clip.dmsrec", 40, width=160, height=120)
    code, output = run(tmp_path / "run", "--source", str(recording), "--fast",
                       "--inject-fault", "model-error=10:5", *models)
    assert code == 0, output
    # logged once, with the first frame it hit and the role named once
    assert "estimator: dropped frame 10 (RuntimeError: injected fault: the model failed" in output
    assert output.count("injected fault: the model failed") == 1 and "estimator: estimator:" not in output
    s = summary(tmp_path / "run")
    assert s["stages"]["estimator"]["errors"] == 5 and s["stages"]["estimator"]["restarts"] == 0
    assert [r["frame"] for r in results(tmp_path / "run")] == [*range(10), *range(15, 40)]


def test_a_model_failing_on_every_frame_ends_the_run_with_a_clear_message(tmp_path, models):
    recording = write_recording(tmp_path / "clip.dmsrec", 200, width=160, height=120)
    code, output = run(tmp_path / "run", "--source", str(recording), "--fast",
                       "--inject-fault", "model-error=5:1000", *models)
    assert code == 1, output
    assert "error: estimator failed on 30 items in a row" in output and "Traceback" not in output
    s = summary(tmp_path / "run")
    assert s["exit_code"] == 1 and s["stages"]["estimator"]["restarts"] == 0
    # Frames 0-4 were estimated; the run is stopped as soon as the estimator gives up, so those still
    # on their way to the sink may be lost (a fatal failure does not drain the pipeline), never others.
    written = [r["frame"] for r in results(tmp_path / "run")]
    assert written == list(range(len(written))) and len(written) <= 5


def test_a_replacement_capture_that_finds_no_camera_keeps_looking(tmp_path):
    """A capture worker restarted while the camera is gone (incarnation > 0) looks for it again
    instead of ending the run as bad input; the run's first start still fails at once (exit 2)."""
    pytest.importorskip("pyrealsense2")
    from monitor.bus import Endpoints
    from monitor.sources import SourceError
    from monitor.workers.base import RunConfig
    from monitor.workers.capture import CaptureWorker

    endpoints = Endpoints.create_private("ipc")
    try:
        for incarnation in (0, 1):
            worker = CaptureWorker(RunConfig(endpoints=endpoints.to_json(), source="realsense", shm=False,
                                             incarnation=incarnation))
            try:
                if incarnation == 0:
                    with pytest.raises(SourceError):
                        worker.setup()
                    continue
                worker.setup()
                assert worker.source is None and worker.state == "reconnecting"
                assert worker.info["source_state"]["state"] == "lost" and worker.counters["source_lost"] == 1
                worker.go = True
                worker._next_try = 0.0
                assert worker.step() is True and worker.source is None  # looked again, still no camera
            finally:
                for sender in worker.senders.values():
                    sender.close()
                worker.ctx.destroy(linger=0)
    finally:
        endpoints.remove()

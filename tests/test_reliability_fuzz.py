"""Fuzzing every socket kind of the real workers: 10,000 malformed messages each (random bytes,
truncated multipart, wrong dtypes/shapes, huge declared sizes, wrong schema versions, wrong
topics, unusable content). No worker crashes, every message is counted as dropped, and valid
messages sent afterwards still go through."""
import json
import signal
from pathlib import Path

import pytest
import zmq

from fuzz_helpers import VALID, WorkerHarness, fuzzed, fuzzed_commands, fuzzed_control, fuzzed_credits
from monitor.recording import RecordingReader
from monitor.wire import Message, encode
from pipeline_helpers import results, start_run, summary, wait_for, worker_pids
from tests.fixtures import write_recording
from tests.onnx_factory import body_model, head_model

N = 10_000
VALID_AFTER = 5


@pytest.fixture(scope="module")
def model_paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {"body_model": str(body_model(d / "body.onnx")), "head_model": str(head_model(d / "head.onnx"))}


def eos() -> list:
    return encode(Message("eos", "fuzz", -1, 0.0, {}))


@pytest.mark.parametrize("role, producer, topic, consumer", [
    ("estimator", "capture", "frames", "gaze"),
    ("recorder", "capture", "frames", None),
    ("gaze", "estimator", "estimates", "sink"),
    ("sink", "gaze", "states", None),
    ("display", "capture", "frames", None),
    ("display", "gaze", "states", None),
])
def test_fuzzed_link_messages_are_all_counted_and_nothing_breaks(tmp_path, model_paths, role, producer, topic, consumer):
    config = {**model_paths, "providers": ["cpu"]} if role == "estimator" else {}
    other = {"capture": "gaze", "gaze": "capture"}[producer] if role == "display" else None
    if role == "display":
        config = {"display": True, "window": False, "video": False}
    h = WorkerHarness(tmp_path, role, producer, [consumer] if consumer else [],
                      other_producers=(other,) if other else (), **config)
    try:
        h.wait_ready()
        commands = fuzzed_commands(N, seed=1)
        prefix = f"{Path(h.endpoints.directory).name}-{producer}"  # the producer's own ring name
        for i, parts in enumerate(fuzzed(topic, N, seed=7, shm_prefix=prefix)):
            h.send(parts)
            h.command.send_multipart(next(commands))  # the command socket gets its share too
            if i % 500 == 0:
                h.pump()
        for msg in VALID[topic](VALID_AFTER):
            h.send(encode(msg))
        h.send(eos())
        for sock in h.others.values():  # the display ends when both of its inputs have ended
            sock.send_multipart(eos())
        outputs = [h.receive(consumer) for _ in range(VALID_AFTER + 1)] if consumer else []
        code = h.finish()
        output = h.output()
    finally:
        h.close()
    assert code == 0, output
    assert "Traceback" not in output
    assert h.bad(f"in:{producer}") == N, h.last_beat["links"]
    assert h.bad("in:command") == N, h.last_beat["links"]
    if role != "display":  # the display counts what it drew; with one input only, nothing pairs up
        assert h.last_beat["counters"]["processed"] == VALID_AFTER and h.last_beat["counters"]["errors"] == 0
    if consumer:
        assert [o[0] for o in outputs] == [b"estimates" if role == "estimator" else b"states"] * VALID_AFTER + [b"eos"]
    if role == "sink":
        assert [r["frame"] for r in results(tmp_path)] == list(range(VALID_AFTER))
        assert (tmp_path / "events.jsonl").read_text() == ""
    if role == "recorder":
        assert [m.frame for m in RecordingReader(tmp_path / "recording.dmsrec")] == list(range(VALID_AFTER))
    # a kind of error is logged once, then only counted: the log stays readable
    assert output.count("dropped malformed message") < 30


def test_fuzzed_credits_grant_nothing_and_are_all_counted(tmp_path):
    recording = write_recording(tmp_path / "clip.dmsrec", 900, width=32, height=24)
    h = WorkerHarness(tmp_path, "capture", None, ["estimator"], policy="live", source=str(recording), realtime=True)
    fuzz = h.ctx.socket(zmq.PUSH)
    fuzz.setsockopt(zmq.SNDTIMEO, 10_000)
    fuzz.connect(h.credit_out["estimator"].getsockopt(zmq.LAST_ENDPOINT).decode())
    try:
        h.wait_ready()
        for i, parts in enumerate(fuzzed_credits(N, seed=3)):
            fuzz.send_multipart(parts)
            if i % 500 == 0:
                h.pump()
        assert wait_for(lambda: (h.pump(), h.bad("out:estimator") >= N)[1], 20), h.last_beat
        # only garbage so far: not one frame may have been released
        assert not h.consumers["estimator"].poll(0)
        assert h.receive("estimator")[0] == b"frames"  # a real credit releases the newest frame
        h.proc.terminate()  # the stage stops cleanly on SIGTERM and reports its final counts
        code = h.finish()
        output = h.output()
    finally:
        h.close()
    assert code == 0, output
    assert h.bad("out:estimator") == N
    assert h.last_beat["links"]["out:estimator"]["stale_dropped"] > 0  # frames went by while no one asked


def test_fuzzed_control_messages_are_counted_by_the_supervisor(tmp_path, model_paths):
    recording = write_recording(tmp_path / "clip.dmsrec", 3000, width=32, height=24)
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(recording), "--realtime", "--body-model", model_paths["body_model"],
                     "--head-model", model_paths["head_model"])
    ctx = zmq.Context()
    try:
        assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                        and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 5, 60)
        pids = worker_pids(out)
        some_pid = next(iter(pids.values()))[0]
        run_dir = json.loads(Path(f"/proc/{some_pid}/cmdline").read_bytes().split(b"\0")[4])["endpoints"]["directory"]
        sock = ctx.socket(zmq.PUSH)
        sock.connect(f"ipc://{run_dir}/control.sock")
        for parts in fuzzed_control(N, [p for ps in pids.values() for p in ps], seed=5):
            sock.send_multipart(parts)
        before = len(out.joinpath("results.jsonl").read_text().splitlines())
        # the forged "I am done" beats changed nothing: the run is still going; and give the
        # supervisor time to read the last of the 10,000 before the run is stopped. The socket stays
        # open until then: libzmq drops the last batch a receiver has read but not yet queued
        # (its queue was full) when the sender disconnects, so closing it now would lose some.
        assert wait_for(lambda: len(out.joinpath("results.jsonl").read_text().splitlines()) > before + 150, 60)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output  # stopped by the test, not by the forged messages
    s = summary(out)
    assert s["stages"]["supervisor"]["malformed"] == N, (s["stages"]["supervisor"], output[-3000:])
    assert all(st["restarts"] == 0 and st["malformed"] == 0 for role, st in s["stages"].items() if role != "supervisor")

"""Network mode: tcp links need the run's CURVE keys. A peer without them (no CURVE, or another
key pair) gets no frames and cannot inject any; the refusal is logged and counted. ipc runs live
in a directory only the user can enter."""
import json
import os
import random
import stat
import time
from pathlib import Path

import zmq

from monitor.security import generate_keys
from monitor.wire import Message, encode
from pipeline_helpers import results, run, start_run, summary, wait_for, worker_pids
from tests.fixtures import write_recording


def free_base_port() -> int:
    return random.Random(os.getpid() ^ time.time_ns()).randrange(20000, 38000, 16)


def test_keys_command_makes_a_private_key_pair(tmp_path):
    public, secret = generate_keys(tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert b"secret-key" in secret.read_bytes() and b"secret-key" not in public.read_bytes()


def test_a_peer_without_the_right_key_gets_no_frames_and_cannot_inject_any(tmp_path, models):
    keys = tmp_path / "keys"
    public_file, _ = generate_keys(keys)
    server_public = zmq.auth.load_certificate(str(public_file))[0]
    recording = write_recording(tmp_path / "clip.dmsrec", 150, width=64, height=48)
    port = free_base_port()
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(recording), "--realtime", "--transport", "tcp", "--keys", str(keys),
                     "--tcp-port", str(port), *models)
    ctx = zmq.Context()
    try:
        assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                        and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 5, 60)
        frames_port, control_port = port + 2, port  # cli.TCP_NAMES: control, command, capture-to-estimator
        thieves, injectors = [], []
        for curve in (False, True):
            thief = ctx.socket(zmq.PULL)
            injector = ctx.socket(zmq.PUSH)
            for s in (thief, injector):
                s.setsockopt(zmq.LINGER, 0)
                if curve:  # a well-formed CURVE client that knows the public server key, with its own key pair
                    s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
                    s.curve_serverkey = server_public
            thief.connect(f"tcp://127.0.0.1:{frames_port}")
            injector.connect(f"tcp://127.0.0.1:{control_port}")
            thieves.append(thief)
            injectors.append(injector)
        forged = json.dumps({"worker": "sink", "pid": 1, "incarnation": 0, "state": "done"}).encode()
        frame = encode(Message("eos", "evil", -1, 0.0, {}))
        stolen = 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for thief in thieves:
                while thief.poll(0):
                    thief.recv_multipart()
                    stolen += 1
            for injector in injectors:
                for parts in ([forged], frame):
                    try:
                        injector.send_multipart(parts, zmq.NOBLOCK)
                    except zmq.Again:
                        pass  # no connection was ever accepted, so nothing can be queued
            time.sleep(0.05)
        output, _ = proc.communicate(timeout=60)
    finally:
        ctx.destroy(linger=0)
        if proc.poll() is None:
            proc.kill()
    assert stolen == 0
    assert proc.returncode == 0, output
    s = summary(out)
    # nothing was diverted (a connected PULL would take every other frame) and nothing got in
    assert s["frames"] == {"captured": 150, "processed": 150, "lost": 0}
    assert [r["frame"] for r in results(out)] == list(range(150))
    assert s["stages"]["supervisor"]["malformed"] == 0  # the forged beats never reached the supervisor
    assert s["stages"]["capture"].get("refused_peers", 0) > 0 and s["stages"]["supervisor"].get("refused_peers", 0) > 0
    assert "refused a CURVE peer with an unknown key" in output
    assert "refused a peer on tcp://" in output or "refused a peer on control" in output


def test_ipc_run_directory_is_private(tmp_path, models):
    recording = write_recording(tmp_path / "clip.dmsrec", 150, width=64, height=48)
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(recording), "--realtime", *models)
    try:
        assert wait_for(lambda: worker_pids(out).get("sink"), 60)
        pid = worker_pids(out)["sink"][0]
        run_dir = Path(json.loads(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[4])["endpoints"]["directory"])
        assert wait_for(lambda: any(run_dir.glob("*.sock")), 30)
        mode = stat.S_IMODE(run_dir.stat().st_mode)
        assert mode == 0o700, oct(mode)  # other users cannot reach the sockets inside
        assert run_dir.stat().st_uid == os.getuid()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_tcp_run_without_keys_is_refused(tmp_path):
    code, output = run(tmp_path / "run", "--transport", "tcp", timeout=30)
    assert code == 2 and "needs --keys DIR" in output

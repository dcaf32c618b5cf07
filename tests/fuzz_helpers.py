"""Fuzzed messages (each invalid by construction) and a harness that runs one real worker process
with the test playing its supervisor, its producer and its consumers on real ipc sockets."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import zmq

from monitor.bus import Endpoints, credit_address
from monitor.frames import FrameSet, Intrinsics
from monitor.wire import Message, encode
from monitor.workers.base import COMMAND, CONTROL, RunConfig, link_name

ROOT = Path(__file__).resolve().parents[1]
INTR = Intrinsics(32, 24, 30.0, 30.0, 16.0, 12.0)


def valid_frames(n: int, start: int = 0) -> Iterator[Message]:
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        images = {"ir": rng.integers(0, 256, (24, 32), dtype=np.uint8),
                  "depth": rng.integers(300, 3000, (24, 32), dtype=np.uint16)}
        yield FrameSet("fuzz", i, 1000.0 + i * 33.3, images, {"ir": INTR, "depth": INTR}, 1.0).to_message({})


def valid_estimates(n: int, start: int = 0) -> Iterator[Message]:
    head = {"yaw_deg": 5.0, "pitch_deg": -3.0, "roll_deg": 1.0, "rotation": np.eye(3).tolist(),
            "position_mm": None, "center_px": [16.0, 8.0], "crop_box": [10.0, 2.0, 22.0, 14.0]}
    for i in range(start, start + n):
        yield Message("estimates", "fuzz", i, 1000.0 + i * 33.3, {}, {"estimates": {"head": head, "joints": None}})


def valid_states(n: int, start: int = 0) -> Iterator[Message]:
    for i in range(start, start + n):
        yield Message("states", "fuzz", i, 1000.0 + i * 33.3, {"capture.in": time.monotonic_ns()},
                      {"estimates": None, "gaze": {"zone": "road"}, "state": {"attentive": True}, "events": []})


VALID = {"frames": valid_frames, "estimates": valid_estimates, "states": valid_states}


def _header(parts: list[Any]) -> dict[str, Any]:
    return json.loads(bytes(parts[1]))


def _with_header(parts: list[Any], header: dict[str, Any]) -> list[Any]:
    return [parts[0], json.dumps(header).encode(), *parts[2:]]


def fuzzed(topic: str, n: int, seed: int = 0, shm_prefix: str = "dms-run-x-capture") -> Iterator[list[bytes]]:
    """``n`` malformed multipart messages for a link that carries ``topic``: random bytes,
    truncated multipart, wrong dtypes and shapes, huge declared sizes, wrong schema versions,
    broken JSON, the wrong topic, shared-memory references that are not the link's, and
    well-framed messages whose content is unusable."""
    rng = np.random.default_rng(seed)
    base = [bytes(memoryview(p).cast("B")) if not isinstance(p, bytes) else p
            for p in encode(next(VALID[topic](1)))]
    other_topic = b"states" if topic != "states" else b"frames"
    semantic = SEMANTIC[topic]
    for i in range(n):
        kind, j = i % 15, i // 15  # j varies the variant within a kind
        h = _header(base)
        if kind == 0:
            yield [rng.bytes(int(rng.integers(0, 64)))]
        elif kind == 1:
            yield [rng.bytes(int(rng.integers(1, 16))) for _ in range(int(rng.integers(2, 5)))]
        elif kind == 2:  # truncated multipart: topic only, header without its buffers, a buffer cut short
            if not base[2:]:
                yield base[:1]
            else:
                yield base[:2] if rng.random() < 0.5 else [*base[:2], base[2][: len(base[2]) // 2], *base[3:]]
        elif kind == 3:  # header cut short: not JSON any more
            yield [base[0], base[1][: int(rng.integers(0, len(base[1])))], *base[2:]]
        elif kind == 4:
            h["buffers"] = [{"name": "ir", "dtype": str(rng.choice(["float16", "complex64", "object", "<U4", "int64"])),
                             "shape": [24, 32]}]
            yield _with_header(base, h)[:2] + [bytes(24 * 32 * 2)]
        elif kind == 5:
            h["buffers"] = [{"name": "ir", "dtype": "uint8", "shape": [[-1, 32], [1, 2, 3, 4, 5], ["24", 32], [2.5, 3]][j % 4]}]
            yield _with_header(base, h)[:2] + [bytes(64)]
        elif kind == 6:  # huge declared sizes
            h["buffers"] = [{"name": "ir", "dtype": "uint16", "shape": [100000, 100000 + j]}]
            yield _with_header(base, h)[:2] + [bytes(16)]
        elif kind == 7:
            h["schema"] = [0, 2, "1", None, 1.5][j % 5]
            yield _with_header(base, h)
        elif kind == 8:
            yield [base[0], json.dumps([1, 2, 3]).encode(), *base[2:]]
        elif kind == 9:
            del h[["stream", "frame", "device_ts_ms", "stamps", "meta", "buffers"][j % 6]]
            yield _with_header(base, h)
        elif kind == 10:
            yield [other_topic, *base[1:]]
        elif kind == 11:  # header bigger than allowed
            h["meta"] = {"pad": "x" * 300_000}
            yield _with_header(base, h)
        elif kind in (12, 13):  # frames well formed on the wire, unusable to the stage
            yield semantic(base, h, 2 * j + kind - 12)
        else:  # shared-memory references that must not be honoured
            ref = [None, "slot 3", {"segment": "../../etc/passwd", "slot": 0, "seq": 1, "offset": 0},
                   {"segment": f"{shm_prefix}-99", "slot": 0, "seq": 1, "offset": 0},
                   {"segment": "dms-run-other-capture-1", "slot": 0, "seq": 1, "offset": 0},
                   {"segment": f"{shm_prefix}-1", "slot": -1, "seq": 1, "offset": 0}][j % 6]
            h["buffers"] = [{"name": "ir", "dtype": "uint8", "shape": [240, 320], "shm": ref}]
            yield _with_header(base, h)[:2]


def _semantic_frames(base: list[bytes], h: dict[str, Any], i: int) -> list[bytes]:
    choice = i % 5
    if choice == 0:  # no images at all
        h["buffers"] = []
        return _with_header(base, h)[:2]
    if choice == 1:  # the IR image as float32
        h["buffers"] = [{"name": "ir", "dtype": "float32", "shape": [24, 32]}, h["buffers"][1]]
        return [*_with_header(base, h)[:2], bytes(24 * 32 * 4), base[3]]
    if choice == 2:  # images that are not HxW
        h["buffers"] = [{"name": "ir", "dtype": "uint8", "shape": [768]}, h["buffers"][1]]
        return [*_with_header(base, h)[:2], base[2], base[3]]
    if choice == 3:
        h["meta"]["intrinsics"] = {"ir": {"width": "wide"}}
        return _with_header(base, h)
    h["buffers"] = [{"name": "depth", "dtype": "uint16", "shape": [2, 2]}]  # far too small
    return [*_with_header(base, h)[:2], bytes(8)]


def _semantic_estimates(base: list[bytes], h: dict[str, Any], i: int) -> list[bytes]:
    est = h["meta"]["estimates"]
    choice = i % 5
    if choice == 0:
        est["head"]["rotation"] = [[1, 0], [0, 1]]
    elif choice == 1:
        est["head"]["yaw_deg"] = "left"
    elif choice == 2:
        est["joints"] = {"names": "Head", "uv": [], "xyz_mm": [], "confidence": []}
    elif choice == 3:
        h["meta"]["estimates"] = [1, 2]
    else:
        h["meta"]["extra"] = "not an object"
    return _with_header(base, h)


def _semantic_states(base: list[bytes], h: dict[str, Any], i: int) -> list[bytes]:
    choice = i % 3
    if choice == 0:
        h["meta"]["events"] = "boom"
    elif choice == 1:
        del h["meta"]["gaze"]
    else:
        h["meta"]["estimates"] = 7
    return _with_header(base, h)


SEMANTIC = {"frames": _semantic_frames, "estimates": _semantic_estimates, "states": _semantic_states}


def fuzzed_credits(n: int, seed: int = 0) -> Iterator[list[bytes]]:
    """Anything but the one-byte credit b"1" (at most 64 bytes, the credit socket's limit)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 3 == 0:
            yield [b"1", b"1"]
        else:
            data = rng.bytes(int(rng.integers(0, 65)))
            yield [data if data != b"1" else b"2"]


def fuzzed_control(n: int, pids: list[int], seed: int = 0) -> Iterator[list[bytes]]:
    """Heartbeat-shaped garbage, and well-formed beats from processes the supervisor did not start."""
    rng = np.random.default_rng(seed)
    foreign = max(pids) + 100_000
    for i in range(n):
        kind = i % 5
        if kind == 0:
            yield [rng.bytes(int(rng.integers(0, 100)))]
        elif kind == 1:
            yield [b'{"worker": "estimator"}', b"x"]
        elif kind == 2:
            yield [json.dumps({"worker": "nobody", "pid": 1, "incarnation": 0, "state": "done"}).encode()]
        elif kind == 3:
            yield [json.dumps({"worker": "estimator", "pid": "1", "incarnation": 0, "state": "done"}).encode()]
        else:  # a perfect-looking "I am done" from a stranger: would end the stage if believed
            yield [json.dumps({"worker": "sink", "pid": foreign + i, "incarnation": 0, "state": "done",
                               "counters": {}, "links": {}, "info": {}}).encode()]


def fuzzed_commands(n: int, seed: int = 0) -> Iterator[list[bytes]]:
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield [rng.bytes(int(rng.integers(0, 48)))]
        elif kind == 1:
            yield [b'{"go": "yes", "finished": []}']
        elif kind == 2:
            yield [b'{"go": true, "finished": [1, 2]}', b"extra"]
        else:
            yield [json.dumps({"go": True, "finished": "sink", "source": []}).encode()]


class WorkerHarness:
    """One real worker process; the test is its supervisor, producer and consumers."""

    def __init__(self, tmp: Path, role: str, producer: str | None, consumers: list[str], policy: str = "replay",
                 other_producers: tuple[str, ...] = (), **config: Any) -> None:
        self.ctx = zmq.Context()
        self.endpoints = Endpoints.create_private("ipc")
        self.role = role
        self.control = self._bind(zmq.PULL, CONTROL)
        self.command = self._bind(zmq.PUB, COMMAND)
        # A PUB drops what a subscriber cannot take (HWM): the tests count every fuzzed command, so
        # the queue here is unbounded (the supervisor sends ~20 small commands a second).
        self.command.setsockopt(zmq.SNDHWM, 0)
        self.producer = self._bind(zmq.PUSH, link_name(producer, role)) if producer else None
        self.others = {p: self._bind(zmq.PUSH, link_name(p, role)) for p in other_producers}
        self.consumers = {}
        for consumer in consumers:
            s = self.ctx.socket(zmq.PULL)
            s.connect(self.endpoints.address(link_name(role, consumer)))
            self.consumers[consumer] = s
        self.credit_out: dict[str, zmq.Socket] = {}
        if policy == "live":
            for consumer in consumers:
                s = self.ctx.socket(zmq.PUSH)
                s.connect(credit_address(self.endpoints.address(link_name(role, consumer))))
                self.credit_out[consumer] = s
        cfg = RunConfig(endpoints=self.endpoints.to_json(), policy=policy, out_dir=str(tmp), **config)
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.workers", role, cfg.to_json()], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.last_beat: dict[str, Any] = {}
        self.finished: list[str] = []

    def _bind(self, kind: int, name: str) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.bind(self.endpoints.address(name))
        return s

    def pump(self, go: bool = True) -> None:
        """Read heartbeats and publish the run state (what a supervisor does every loop)."""
        while self.control.poll(0):
            beat = json.loads(self.control.recv())
            if beat.get("worker") == self.role:
                self.last_beat = beat
        self.command.send(json.dumps({"go": go, "finished": self.finished}).encode())

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while self.last_beat.get("state") != "ready":
            assert time.monotonic() < end and self.proc.poll() is None, self.output()
            self.pump()
            time.sleep(0.02)

    def send(self, parts: list[Any]) -> None:
        assert self.producer is not None
        while not self.producer.poll(100, zmq.POLLOUT):
            assert self.proc.poll() is None, self.output()
            self.pump()
        self.producer.send_multipart(parts, copy=False)

    def receive(self, consumer: str, timeout: float = 30) -> list[bytes]:
        sock = self.consumers[consumer]
        end = time.monotonic() + timeout
        while not sock.poll(20):
            assert time.monotonic() < end, f"nothing from {self.role} to {consumer}"
            if consumer in self.credit_out:
                self.credit_out[consumer].send(b"1")
            self.pump()
        return sock.recv_multipart()

    def finish(self, timeout: float = 30) -> int:
        """Everyone downstream has finished: the worker may leave; returns its exit code."""
        self.finished = [*self.consumers, self.role]
        end = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < end, self.output()
            self.pump()
            time.sleep(0.02)
        time.sleep(0.1)
        self.pump()
        return self.proc.returncode

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate()[0]

    def bad(self, link: str) -> int:
        return sum(self.last_beat.get("links", {}).get(link, {}).get("bad", {}).values())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.ctx.destroy(linger=0)
        self.endpoints.remove()

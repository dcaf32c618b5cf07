"""The alternatives the multi-process pipeline is compared with, on the same cached frames.

- Transport: the project's bus (PUSH/PULL, lossless replay policy, pipelined within its
  high-water marks; with the shared-memory frame ring as the pipeline uses it on ipc, and
  without) against an imagezmq-style link: a REQ/REP pair, each frameset sent as one
  request (a JSON header part describing the arrays, then the raw buffers, copy=False, as
  imagezmq's ``send_array`` does) and the sender waiting for the ``OK`` reply before the next
  one. imagezmq proper sends one image per request; IR + depth in one request is the kinder
  variant for the baseline (one round trip per frameset instead of two). Both receivers do the
  same work per frameset: parse the header, wrap the buffers as arrays, build a `FrameSet`.
- In-process single loop: read -> estimate -> gaze/state in one process (same `PoseEstimator`,
  same `GazeStateStage`, same pacing as the capture worker), no serialisation at all.

Each sender or loop runs as its own process (``python -m monitor.bench.baselines ...``) so the
benchmark can sample its CPU and memory.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import zmq

from monitor import shm
from monitor.bus import Endpoints, Policy, Receiver, Sender
from monitor.childenv import child_env
from monitor.frames import FrameSet
from monitor.latency import percentiles
from monitor.recording import RecordingReader
from monitor.shm import FrameRing
from monitor.wire import Message, decode

# "bus+shm": the pipeline's default on ipc (buffers through the shared-memory ring of
# monitor/shm.py, headers over the socket); "bus": buffers through the socket (--no-shm).
TRANSPORTS = ("bus+shm", "bus", "imagezmq")
CONNECT_WAIT_S = 0.5
RECV_TIMEOUT_MS = 20000


def _load_pool(recording: Path, limit: int = 64) -> list[Message]:
    with RecordingReader(recording) as reader:
        pool = []
        for parts in reader.iter_parts():
            if bytes(parts[0]) == b"frames":
                pool.append(decode(parts))
            if len(pool) >= limit:
                break
    if not pool:
        raise ValueError(f"{recording} holds no framesets")
    return pool


def _pace(start: float, i: int, fps: float) -> None:
    if fps:
        due = start + i / fps
        while (left := due - time.monotonic()) > 0:
            time.sleep(min(left, 0.01))


# --- senders (run in their own process) -------------------------------------------------------
def send_bus(address: str, pool: list[Message], count: int, fps: float, shm_prefix: str = "") -> None:
    ctx = zmq.Context()
    ring = FrameRing(shm_prefix) if shm_prefix else None
    tx = Sender(ctx, address, Policy.REPLAY, ring=ring)
    time.sleep(CONNECT_WAIT_S)  # let the receiver connect
    start = time.monotonic()
    for i in range(count):
        _pace(start, i, fps)
        msg = pool[i % len(pool)]
        msg.frame, msg.stamps = i, {"capture.out": time.monotonic_ns()}
        tx.send(msg)
    tx.send(Message("eos", "bench", -1, 0.0, {}))
    time.sleep(1.0)  # libzmq drops what the receiver still has queued if we close at once
    tx.close(linger_ms=5000)
    if ring is not None:
        ring.close()
    ctx.term()


def izmq_header(msg: Message) -> bytes:
    arrays = [{"name": k, "dtype": str(a.dtype), "shape": list(a.shape)} for k, a in msg.arrays.items()]
    return json.dumps({"msg": {"stream": msg.stream, "frame": msg.frame, "device_ts_ms": msg.device_ts_ms,
                               "stamps": msg.stamps, "meta": msg.meta}, "arrays": arrays}).encode()


def send_imagezmq(address: str, pool: list[Message], count: int, fps: float) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)  # imagezmq's ImageSender: REQ connects, the hub's REP binds
    sock.setsockopt(zmq.LINGER, 1000)
    sock.connect(address)
    start = time.monotonic()
    for i in range(count):
        _pace(start, i, fps)
        msg = pool[i % len(pool)]
        msg.frame, msg.stamps = i, {"capture.out": time.monotonic_ns()}
        sock.send_multipart([izmq_header(msg), *(np.ascontiguousarray(a) for a in msg.arrays.values())],
                            copy=False)
        sock.recv()  # the reply; the next frameset leaves only after it
    sock.send_multipart([json.dumps({"eos": True}).encode()])
    sock.recv()
    sock.close()
    ctx.term()


# --- receivers (in the benchmark process) -----------------------------------------------------
# Each returns a function: next frameset as (FrameSet, sender's stamp ns), or None at the end.
Receive = Callable[[], "tuple[FrameSet, int] | None"]


def _receive_bus(address: str, shm_prefix: str = "") -> Receive:
    ctx = zmq.Context()
    rx = Receiver(ctx, address, Policy.REPLAY, shm_prefix=shm_prefix or None)

    def recv() -> tuple[FrameSet, int] | None:
        msg = rx.recv(RECV_TIMEOUT_MS)
        if msg is None:
            raise RuntimeError("bus baseline: the sender went silent")
        if msg.topic == "eos":
            rx.close()
            ctx.term()
            return None
        return FrameSet.from_message(msg), msg.stamps["capture.out"]
    return recv


def _receive_imagezmq(address: str) -> Receive:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    sock.bind(address)

    def recv() -> tuple[FrameSet, int] | None:
        try:
            parts = sock.recv_multipart(copy=False)
        except zmq.Again:
            raise RuntimeError("imagezmq baseline: the sender went silent") from None
        header = json.loads(parts[0].bytes)
        if header.get("eos"):
            sock.send(b"OK")
            sock.close()
            ctx.term()
            return None
        arrays = {spec["name"]: np.frombuffer(part.buffer, dtype=spec["dtype"]).reshape(spec["shape"])
                  for spec, part in zip(header["arrays"], parts[1:])}
        m = header["msg"]
        msg = Message("frames", m["stream"], m["frame"], m["device_ts_ms"], m["stamps"], m["meta"], arrays)
        frameset = FrameSet.from_message(msg)
        sock.send(b"OK")  # imagezmq's hub replies once it has the image
        return frameset, m["stamps"]["capture.out"]
    return recv


TRANSPORT_SKIP = 10  # first framesets of a transport case, not timed (sockets and caches warming up)


def transport_case(kind: str, recording: Path, count: int, fps: float, skip: int = TRANSPORT_SKIP) -> dict[str, Any]:
    """Send ``count`` framesets of ``recording`` from a sender process to this one over ``kind``
    (``fps`` 0: as fast as the link goes). One-way latency = arrival (after decoding into a
    FrameSet) minus the sender's stamp just before sending; the same monotonic clock."""
    if kind not in TRANSPORTS:
        raise ValueError(f"transport {kind!r}: use one of {TRANSPORTS}")
    endpoints = Endpoints.create_private("ipc")
    address = endpoints.address("baseline")
    prefix = f"{Path(str(endpoints.directory)).name}-baseline" if kind == "bus+shm" and shm.available() else ""
    try:
        # the binding side first: the bus sender binds, the imagezmq hub (receiver) binds
        recv = _receive_imagezmq(address) if kind == "imagezmq" else None
        sender = subprocess.Popen([sys.executable, "-m", "monitor.bench.baselines", "send", kind, address,
                                   str(recording), str(count), str(fps), prefix], stdin=subprocess.DEVNULL,
                                  env=child_env())
        if recv is None:
            recv = _receive_bus(address, prefix)
        latencies, arrivals, nbytes = [], [], 0
        try:
            while (got := recv()) is not None:
                now = time.monotonic_ns()
                frameset, sent_ns = got
                latencies.append((now - sent_ns) / 1e6)
                arrivals.append(now)
                nbytes += sum(a.nbytes for a in frameset.images.values())
        finally:
            try:
                sender.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sender.kill()
                sender.wait()
    finally:
        endpoints.remove()
        if prefix:
            shm.remove_segments(prefix)
    n = len(arrivals)
    span = (arrivals[-1] - arrivals[skip]) / 1e9 if n > skip + 1 else 0.0
    return {"transport": kind, "shm": bool(prefix), "fps_asked": fps, "frames": n,
            "frameset_bytes": nbytes // max(n, 1),
            "throughput_fps": round((n - 1 - skip) / span, 1) if span else None,
            "throughput_MBps": round(nbytes / n * (n - 1 - skip) / span / 1e6, 1) if span else None,
            "one_way_ms": percentiles(latencies[skip:]),
            "one_way_samples": [round(v, 4) for v in latencies[skip:]]}


# --- in-process single loop (its own process) -------------------------------------------------
def inprocess_loop(recording: Path, out: Path, body: str, head: str, providers: list[str],
                   io_binding: bool, realtime: bool, layout: str = "", head_flip: bool = True, eye: str = "",
                   cover: str = "") -> None:
    """capture -> infer -> classify in one loop; one JSON line per frame like results.jsonl."""
    from calib.layout import DEFAULT_LAYOUT, load_layout
    from monitor.estimator.pipeline import PoseEstimator
    from monitor.gaze import GazeStateStage, gaze_state_config
    from monitor.sources.recording import RecordingSource

    estimator = PoseEstimator.load(body, head, providers, io_binding, head_flip_test=head_flip, eye_path=eye or None,
                                   cover_path=cover or None)
    stage = GazeStateStage(load_layout(layout or DEFAULT_LAYOUT), config=gaze_state_config())  # the pipeline's
    source = RecordingSource(str(recording))
    origin: tuple[float, float] | None = None
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps({"models": estimator.describe()}) + "\n")
        for frameset in source:
            if realtime:  # the capture worker's pacing: sleep until the frame's recorded offset
                now = time.monotonic()
                if origin is None:
                    origin = (now, frameset.device_ts_ms)
                due = origin[0] + (frameset.device_ts_ms - origin[1]) / 1000.0
                while (left := due - time.monotonic()) > 0:
                    time.sleep(min(left, 0.05))
            t0 = time.monotonic_ns()
            estimates = estimator.estimate(frameset)
            t1 = time.monotonic_ns()
            stage.process(estimates, frameset.device_ts_ms / 1000.0)
            t2 = time.monotonic_ns()
            f.write(json.dumps({"frame": frameset.frame, "device_ts_ms": frameset.device_ts_ms, "capture_ns": t0,
                                "latency_ms": {"estimator": (t1 - t0) / 1e6, "gaze": (t2 - t1) / 1e6,
                                               "end_to_end": (t2 - t0) / 1e6},
                                "timings_ms": estimator.last_timings_ms}) + "\n")
    source.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="benchmark baselines (started by monitor.bench.pipeline)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("kind", choices=TRANSPORTS)
    s.add_argument("address")
    s.add_argument("recording")
    s.add_argument("count", type=int)
    s.add_argument("fps", type=float)
    s.add_argument("shm_prefix", nargs="?", default="")
    i = sub.add_parser("inprocess")
    i.add_argument("config", help="JSON: recording, out, body, head, eye, cover, providers, io_binding, realtime")
    args = p.parse_args(argv)
    if args.cmd == "send":
        pool = _load_pool(Path(args.recording))
        if args.kind == "imagezmq":
            send_imagezmq(args.address, pool, args.count, args.fps)
        else:
            send_bus(args.address, pool, args.count, args.fps, args.shm_prefix)
    else:
        c = json.loads(args.config)
        inprocess_loop(Path(c["recording"]), Path(c["out"]), c["body"], c["head"], c["providers"],
                       c["io_binding"], c["realtime"], c.get("layout", ""), c.get("head_flip", True), c.get("eye", ""),
                       c.get("cover", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

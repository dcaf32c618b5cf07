"""Transport benchmark: one-way latency and sustained throughput of RealSense-sized framesets
(IR uint8 + depth uint16) between two processes over the project's bus.

    python -m monitor.bench.transport [--width 848 --height 480 --fps 60 --seconds 10 --transport ipc]

One-way latency = receiver's monotonic clock after decode minus the sender's just before send
(CLOCK_MONOTONIC is shared by all processes of a host). Four ways a frameset can travel over ipc:
  shared-memory ring, written in place: the producer claims a slot (FrameRing.claim) and copies
    the frame into it, standing in for a source's own copy out of the camera or file buffer
    (FrameSource.allocate), then stamps and sends: the send commits the slot without a copy. The
    consumer reads in place. The clock starts at publish as in the other cases, so the copy into
    the slot is not in the one-way figure; its own time (claim + copy, p50) is printed beside it.
    In the pipeline that copy replaces the copy a source makes anyway;
  shared-memory ring, zero-copy: the frame is copied into the ring inside send (after the clock
    starts); the consumer reads the arrays in place (what the estimator does);
  shared-memory ring, copied: as above, and the consumer gets private copies (display, recorder);
  through the socket: the pixels are in the message (--no-shm, or tcp).
A zero-copy message is checked after "use" (bus.Receiver.verify); overruns are reported.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq

from monitor.bus import Endpoints, Policy, Receiver, Sender
from monitor.childenv import child_env
from monitor.shm import FrameRing
from monitor.latency import percentiles
from monitor.wire import Message


def make_frameset(width: int, height: int, i: int) -> Message:
    rng = np.random.default_rng(i)
    return Message("frames", "bench", i, i * 1.0, {}, {}, {
        "ir": rng.integers(0, 256, (height, width), dtype=np.uint8),
        "depth": rng.integers(0, 4000, (height, width), dtype=np.uint16)})


def produce(address: str, width: int, height: int, fps: float, count: int, shm_prefix: str,
            in_place: bool = False) -> None:
    """Sender process: ``count`` framesets at ``fps`` (0 = as fast as backpressure allows).
    ``in_place``: each frameset is copied into a claimed ring slot first (stamp ``slot.claim``)."""
    ctx = zmq.Context()
    ring = FrameRing(shm_prefix) if shm_prefix else None
    tx = Sender(ctx, address, Policy.REPLAY, ring=ring)
    pool = [make_frameset(width, height, i) for i in range(8)]  # pixels made once, not per frame
    time.sleep(0.5)  # let the receiver connect
    start = time.monotonic()
    for i in range(count):
        if fps:
            due = start + i / fps
            while time.monotonic() < due:
                time.sleep(max(min(due - time.monotonic() - 0.0005, 0.01), 0))
        msg = pool[i % len(pool)]
        if in_place and ring is not None:
            claimed = time.monotonic_ns()
            lent = ring.claim({k: (a.dtype, a.shape) for k, a in msg.arrays.items()})
            for name, array in msg.arrays.items():
                np.copyto(lent[name], array)  # the source's copy out of the camera buffer
            msg = Message("frames", "bench", i, msg.device_ts_ms, {"slot.claim": claimed}, {}, lent)
        msg.frame = i
        msg.stamps["capture.out"] = time.monotonic_ns()
        tx.send(msg)
    tx.send(Message("eos", "bench", -1, 0.0, {}))
    time.sleep(1.0)  # libzmq drops what the receiver has queued if we close now (see Worker.wait_for_consumers)
    tx.close(linger_ms=5000)
    ctx.term()
    if ring is not None:
        committed = ring.committed
        ring.close()  # first: the segment must not outlive a failed check
        if in_place and committed != count:
            raise RuntimeError(f"{count - committed} of {count} claimed framesets were copied again")


def consume(address: str, shm_prefix: str, zero_copy: bool) -> tuple[list[float], list[float], int, float, int]:
    """(one-way latencies ms, producer's claim + copy into the slot ms, bytes, span s, overruns)."""
    ctx = zmq.Context()
    rx = Receiver(ctx, address, Policy.REPLAY, shm_prefix=shm_prefix or None, zero_copy=zero_copy)
    overruns = 0
    latencies: list[float] = []
    copies: list[float] = []
    nbytes = 0
    first = last = 0.0
    expected = 0
    while True:
        msg = rx.recv(10000)
        if msg is None:
            raise RuntimeError(f"sender went silent after {expected} framesets")
        if msg.topic == "eos":
            break
        now = time.monotonic_ns()
        if msg.frame != expected:
            raise RuntimeError(f"frame {msg.frame} arrived, expected {expected}")
        expected += 1
        latencies.append((now - msg.stamps["capture.out"]) / 1e6)
        if "slot.claim" in msg.stamps:
            copies.append((msg.stamps["capture.out"] - msg.stamps["slot.claim"]) / 1e6)
        nbytes += sum(a.nbytes for a in msg.arrays.values())
        overruns += not rx.verify(msg)
        first = first or now / 1e9
        last = now / 1e9
    rx.close()
    ctx.term()
    return latencies, copies, nbytes, last - first, overruns


def run_case(transport: str, width: int, height: int, fps: float, count: int, shm: bool,
             zero_copy: bool = False, in_place: bool = False) -> dict:
    endpoints = Endpoints.create_private(transport, base_port=5790)
    address = endpoints.address("bench")
    prefix = f"{Path(endpoints.directory).name}-bench" if shm and transport == "ipc" else ""
    args = [sys.executable, "-m", "monitor.bench.transport", "--produce", address, "--shm-prefix", prefix,
            "--width", str(width), "--height", str(height), "--fps", str(fps), "--count", str(count)]
    producer = subprocess.Popen(args + (["--in-place"] if in_place and prefix else []), env=child_env())
    try:
        latencies, copies, nbytes, span, overruns = consume(address, prefix, zero_copy)
    finally:
        producer.wait(timeout=30)
        endpoints.remove()
    if producer.returncode:
        raise RuntimeError(f"producer failed (exit code {producer.returncode})")
    frames = len(latencies)
    skip = min(10, frames // 10)  # connection warm-up
    return {"transport": transport, "shm": bool(prefix), "zero_copy": zero_copy and bool(prefix),
            "in_place": bool(copies),
            # claim + copy into the slot, before the clock starts (written-in-place case only)
            "producer_copy_ms": percentiles(copies[skip:]) if copies else None,
            "overruns": overruns, "fps_asked": fps, "frames": frames,
            "frameset_bytes": nbytes // max(frames, 1),
            "throughput_fps": round((frames - 1) / span, 1) if span else None,
            "throughput_MBps": round(nbytes / span / 1e6, 1) if span else None,
            "one_way_ms": percentiles(latencies[skip:])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=848)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=60.0, help="paced rate for the latency case")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the paced latency case")
    p.add_argument("--transport", choices=["ipc", "tcp"], default="ipc")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--produce", metavar="ADDRESS", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--shm-prefix", default="", help=argparse.SUPPRESS)
    p.add_argument("--in-place", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.produce:
        produce(args.produce, args.width, args.height, args.fps, args.count, args.shm_prefix, args.in_place)
        return 0
    results = {}
    print(f"{args.width}x{args.height} IR u8 + depth u16 framesets, {args.transport}, replay policy (lossless), "
          f"two processes")
    # (shm, zero_copy, in_place)
    cases = {"shared-memory ring, written in place": (True, True, True),
             "shared-memory ring, zero-copy": (True, True, False), "shared-memory ring, copied": (True, False, False),
             "through the socket": (False, False, False)}
    if args.transport != "ipc":  # shared memory is for processes of one host
        cases = {"through the socket": (False, False, False)}
    for label, (shm, zero_copy, in_place) in cases.items():
        paced = run_case(args.transport, args.width, args.height, args.fps, int(args.fps * args.seconds), shm,
                         zero_copy, in_place)
        flat_out = run_case(args.transport, args.width, args.height, 0, 600, shm, zero_copy, in_place)
        results[label] = {"paced": paced, "max_throughput": flat_out}
        lat = paced["one_way_ms"]
        overruns = f", {paced['overruns'] + flat_out['overruns']} overwritten in use" if zero_copy else ""
        print(f"[{label}] paced at {args.fps:g} fps, {paced['frames']} framesets: one-way latency ms "
              f"p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
        if paced["producer_copy_ms"]:
            copy = paced["producer_copy_ms"]
            print(f"[{label}] producer's claim + copy into the slot, before the clock starts (the copy a "
                  f"source makes anyway): p50 {copy['p50']}  p99 {copy['p99']} ms")
        print(f"[{label}] as fast as possible, {flat_out['frames']} framesets: {flat_out['throughput_fps']} "
              f"framesets/s ({flat_out['throughput_MBps']} MB/s){overruns}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

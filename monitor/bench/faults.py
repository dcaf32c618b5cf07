"""Fault injection against a real run: SIGKILL and SIGSTOP each worker in turn, measure recovery.

    python -m monitor.bench.faults [--source SRC] [--body-model ONNX --head-model ONNX] [--roles ...]

One pipeline run (real processes, real sockets, camera rate) gets every fault in sequence; the
next fault comes once the previous one is over and frames flow again. Per fault it prints
- ``ready_s``: from the signal until the replacement worker reported ready (the supervisor's own
  record, CLOCK_MONOTONIC like the signal time);
- ``flow_s``: from the signal until the sink wrote the first frame after the outage (the end of
  the longest pause of the sink before the next fault, or its first frame after the signal when
  no pause was longer than ``GAP_S``: the data path never stopped);
- ``after``: frames captured after the replacement was ready that reached results.jsonl.
"""
from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("capture", "recorder", "estimator", "gaze", "sink")
SIGNALS = (signal.SIGKILL, signal.SIGSTOP)
GAP_S = 0.25  # at 30 fps frames reach the sink every 33 ms; a longer pause is the outage


@dataclass
class FaultResult:
    role: str
    signal: str
    pid: int
    fault_ns: int
    ready_s: float | None = None
    flow_s: float | None = None
    after: int = 0
    why: str = ""


def worker_pids(out: Path) -> dict[str, list[int]]:
    """Live worker processes of the run writing to ``out`` (from /proc, by their config)."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv[-2:] == [b"--standby", b""] and (entry / "comm").read_text().strip() != f"dms-{argv[3].decode()}":
                continue  # an idle spare (a spare that took over calls itself dms-ROLE)
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in ("Z", "X"):
            continue
        if len(argv) >= 5 and argv[1:3] == [b"-m", b"monitor.workers"] and f'"out_dir": "{out}"'.encode() in argv[4]:
            found.setdefault(argv[3].decode(), []).append(int(entry.name))
    return found


def read_records(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def sink_in_ns(record: dict[str, Any]) -> int:
    return int(record["capture_ns"] + record["latency_ms"]["end_to_end"] * 1e6)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False


def start_run(out: Path, args: Sequence[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "run_monitor.py"), "--out", str(out), "--headless", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def inject_faults(out: Path, args: Sequence[str], faults: Sequence[tuple[str, signal.Signals]],
                  settle_frames: int = 15, timeout: float = 30.0, warmup_s: float = 0.0,
                  ) -> tuple[list[FaultResult], int, str]:
    """Run the pipeline, inject ``faults`` one after another, stop it with SIGINT; returns the
    per-fault results, the run's exit code and its output. ``warmup_s``: time after the first
    results before the first fault (the supervisor starts its spares during the first seconds)."""
    proc = start_run(out, args)
    results: list[FaultResult] = []
    try:
        if not wait_for(lambda: len(read_records(out)) >= settle_frames, 60):
            raise RuntimeError("the run produced no results")
        time.sleep(warmup_s)
        for role, sig in faults:
            (pid,) = worker_pids(out)[role]
            fault_ns = time.monotonic_ns()
            os.kill(pid, sig)
            results.append(FaultResult(role, sig.name, pid, fault_ns))
            # over when a new process has the role and frames captured after the fault keep coming
            if not wait_for(lambda: (worker_pids(out).get(role, [pid]) != [pid]
                                     and sum(r["capture_ns"] > fault_ns for r in read_records(out)) >= settle_frames),
                            timeout):
                raise RuntimeError(f"no recovery from {sig.name} of {role} within {timeout} s")
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    summary = json.loads((out / "summary.json").read_text())
    records = read_records(out)
    _measure(results, summary, records)
    return results, proc.returncode, output


def _measure(results: list[FaultResult], summary: dict[str, Any], records: list[dict[str, Any]]) -> None:
    arrivals = sorted(sink_in_ns(r) for r in records)
    by_role: dict[str, list[dict[str, Any]]] = {}
    for role, stage in summary["stages"].items():
        by_role[role] = list(stage.get("faults", []))
    ends = [r.fault_ns for r in results[1:]] + [arrivals[-1] + 1 if arrivals else 0]
    for result, next_fault_ns in zip(results, ends):
        fault = next((f for f in by_role.get(result.role, []) if f["detected_ns"] >= result.fault_ns), None)
        if fault is None:
            continue
        by_role[result.role].remove(fault)
        result.why = fault["why"]
        if "recovered_ns" in fault:
            result.ready_s = round((fault["recovered_ns"] - result.fault_ns) / 1e9, 3)
            result.after = sum(r["capture_ns"] > fault["recovered_ns"] for r in records)
        # the outage: the longest pause of the sink between the last frame before this fault
        # and the next fault; none longer than GAP_S means the data path never stopped
        first_after = bisect.bisect_right(arrivals, result.fault_ns)
        window = [t for t in arrivals[max(first_after - 1, 0):] if t < next_fault_ns]
        gaps = [(b - a, b) for a, b in zip(window, window[1:]) if b > result.fault_ns]
        if gaps and max(gaps)[0] > GAP_S * 1e9:
            result.flow_s = round((max(gaps)[1] - result.fault_ns) / 1e9, 3)
        elif first_after < len(arrivals):
            result.flow_s = round((arrivals[first_after] - result.fault_ns) / 1e9, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m monitor.bench.faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="synthetic:width=320,height=240,loop=1", help="frame source (realtime)")
    p.add_argument("--body-model", default="")
    p.add_argument("--head-model", default="")
    p.add_argument("--roles", nargs="+", default=list(ROLES), choices=ROLES)
    p.add_argument("--out", default="", help="run folder (default: a new one under runs/)")
    p.add_argument("--warmup", type=float, default=6.0, help="seconds of normal running before the first fault")
    p.add_argument("--json", default="", help="also write the results here")
    args = p.parse_args(argv)
    out = Path(args.out or f"runs/faults-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    run_args = ["--source", args.source, "--realtime", "--record"]
    run_args += ["--body-model", args.body_model] if args.body_model else []
    run_args += ["--head-model", args.head_model] if args.head_model else []
    faults = [(role, sig) for role in args.roles for sig in SIGNALS]
    results, code, output = inject_faults(out, run_args, faults, warmup_s=args.warmup)
    print(f"run exit code {code} (130: stopped with SIGINT at the end, as intended); outputs in {out}")
    print(f"{'worker':>10} {'signal':>8} {'detected as':>14} {'ready_s':>8} {'flow_s':>7} {'frames after':>12}")
    for r in results:
        print(f"{r.role:>10} {r.signal:>8} {r.why:>14} {r.ready_s!s:>8} {r.flow_s!s:>7} {r.after:>12}")
    summary = json.loads((out / "summary.json").read_text())
    print(f"frames: {summary['frames']}; restarts: { {k: v['restarts'] for k, v in summary['stages'].items()} }")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0 if code == 130 and all(r.ready_s is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Soak: run the whole pipeline for a long time at camera rate and watch it age.

    python run_monitor.py soak --minutes 30 [--source SRC] [--body-model ONNX --head-model ONNX --eye-model ONNX|none
                                             --cover-model ONNX|none]
    python -m monitor.bench.soak --minutes 30 ...

Every ``--sample-s`` seconds it records the resident memory (VmRSS from /proc) of the supervisor
and of every worker and spare. At the end (SIGINT after ``--minutes``) it reads summary.json and
results.jsonl and reports, per process, the memory growth from the end of the warm-up to the end;
drops and restarts per stage; frames lost; and the p99 end-to-end latency per time window, with
its drift from the first window after warm-up to the last. Figures go to OUT/soak.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from monitor.latency import percentiles
from monitor.preflight import make_out_dir

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = "synthetic:width=320,height=240,loop=1,fps=30"


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def process_name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    role = argv[3].decode() if len(argv) > 3 and argv[1:3] == [b"-m", b"monitor.workers"] else "?"
    # a spare is started with --standby and renames itself dms-ROLE when it takes over
    return f"spare:{role}" if b"--standby" in argv and comm != f"dms-{role}" else role


def sample(supervisor: int) -> dict[str, dict[str, int]]:
    """name -> {"pid", "rss_kib"} for the supervisor and each of its children."""
    procs = {"supervisor": {"pid": supervisor, "rss_kib": rss_kib(supervisor) or 0}}
    for pid in children(supervisor):
        kib = rss_kib(pid)
        if kib is not None:
            procs[f"{process_name(pid)}"] = {"pid": pid, "rss_kib": kib}
    return procs


def memory_report(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """Per process (same name and pid throughout): RSS after warm-up, at the end, growth in %."""
    report: dict[str, Any] = {}
    names = {name for s in samples for name in s["procs"]}
    for name in sorted(names):
        series = [(s["t_s"], s["procs"][name]) for s in samples if name in s["procs"]]
        last_pid = series[-1][1]["pid"]
        same = [(t, p["rss_kib"]) for t, p in series if p["pid"] == last_pid]
        after = [(t, kib) for t, kib in same if t >= warmup_s] or same[-1:]
        start, end = after[0][1], after[-1][1]
        report[name] = {"pid": last_pid, "rss_mib_after_warmup": round(start / 1024, 1),
                        "rss_mib_end": round(end / 1024, 1), "rss_mib_max": round(max(k for _, k in after) / 1024, 1),
                        "growth_pct": round(100.0 * (end - start) / start, 2) if start else None,
                        "from_s": after[0][0], "samples": len(after),
                        "restarted": len({p["pid"] for _, p in series}) > 1}
    return report


def latency_report(out: Path, windows: int, warmup_s: float) -> dict[str, Any]:
    stamps, e2e = [], []
    with open(out / "results.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                continue
            r = json.loads(line)
            stamps.append(r["capture_ns"])
            e2e.append(r["latency_ms"].get("end_to_end"))
    if not stamps:
        return {}
    t0 = stamps[0]
    span = (stamps[-1] - t0) / 1e9
    width = max((span - warmup_s) / windows, 1e-9)
    rows = []
    for w in range(windows):
        lo, hi = warmup_s + w * width, warmup_s + (w + 1) * width
        values = [v for s, v in zip(stamps, e2e) if v is not None and lo <= (s - t0) / 1e9 < hi]
        if values:
            rows.append({"from_s": round(lo, 1), "to_s": round(hi, 1), **percentiles(values)})
    drift = None
    if len(rows) >= 2 and rows[0]["p99"]:
        drift = round(100.0 * (rows[-1]["p99"] - rows[0]["p99"]) / rows[0]["p99"], 2)
    return {"windows": rows, "p99_drift_pct": drift, "frames": len(stamps), "span_s": round(span, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="run_monitor.py soak", allow_abbrev=False, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, required=True, help="how long to run")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="frame source, paced at its rate (default: %(default)s)")
    p.add_argument("--policy", choices=["live", "replay"], default="replay",
                   help="replay (default): every frame must go through, so any loss shows; live: camera behaviour")
    p.add_argument("--body-model", default="")
    p.add_argument("--head-model", default="")
    p.add_argument("--eye-model", default="", help="as run_monitor.py: default the shipped model, 'none' without")
    p.add_argument("--cover-model", default="", help="as run_monitor.py: default the shipped model, 'none' without")
    p.add_argument("--sample-s", type=float, default=10.0, help="memory sampling period (default: %(default)s)")
    p.add_argument("--warmup-s", type=float, default=0.0, help="warm-up excluded from growth and drift "
                   "(default: 10%% of the run, at least 30 s)")
    p.add_argument("--windows", type=int, default=10, help="latency windows after warm-up (default: %(default)s)")
    p.add_argument("--out", default="", help="run folder (default: runs/soak-<time>)")
    args = p.parse_args(argv)
    duration = args.minutes * 60.0
    warmup = args.warmup_s or max(30.0, 0.1 * duration)
    if warmup >= duration:
        print(f"error: --minutes {args.minutes} leaves no time after the {warmup:.0f} s warm-up", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/soak-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        make_out_dir(out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = [sys.executable, str(ROOT / "run_monitor.py"), "--out", str(out), "--headless", "--source", args.source,
           "--realtime", "--policy", args.policy]
    cmd += ["--body-model", args.body_model] if args.body_model else []
    cmd += ["--head-model", args.head_model] if args.head_model else []
    cmd += ["--eye-model", args.eye_model] if args.eye_model else []
    cmd += ["--cover-model", args.cover_model] if args.cover_model else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    try:
        while time.monotonic() - started < duration and proc.poll() is None:
            samples.append({"t_s": round(time.monotonic() - started, 1), "procs": sample(proc.pid)})
            time.sleep(min(args.sample_s, max(duration - (time.monotonic() - started), 0.0)))
        samples.append({"t_s": round(time.monotonic() - started, 1), "procs": sample(proc.pid)})
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if not (out / "summary.json").exists():
        print(output)
        if not any(out.iterdir()):
            out.rmdir()  # bad input: the run wrote nothing, so no folder is left behind either
            return proc.returncode or 1
        print("error: the run left no summary", file=sys.stderr)
        return 1
    summary = json.loads((out / "summary.json").read_text())
    report = {
        "command": cmd, "minutes": args.minutes, "warmup_s": warmup, "exit_code": proc.returncode,
        "frames": summary["frames"], "fps": summary.get("fps"),
        "stages": {role: {k: v for k, v in st.items() if k != "faults"} for role, st in summary["stages"].items()},
        "memory": memory_report(samples, warmup), "latency": latency_report(out, args.windows, warmup),
        "samples": samples,
    }
    (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    print_report(report, out)
    return 0 if proc.returncode == 130 else 1


def print_report(report: dict[str, Any], out: Path) -> None:
    print(f"soak: {report['minutes']} min, warm-up {report['warmup_s']:.0f} s, run exit code {report['exit_code']} "
          "(130: stopped by the soak, as intended)")
    print(f"frames: {report['frames']}; fps {report['fps']}")
    print(f"{'process':>18} {'RSS MiB after warm-up':>22} {'end':>8} {'max':>8} {'growth %':>9}")
    for name, m in report["memory"].items():
        flag = " (restarted)" if m["restarted"] else ""
        print(f"{name:>18} {m['rss_mib_after_warmup']:>22} {m['rss_mib_end']:>8} {m['rss_mib_max']:>8} "
              f"{m['growth_pct']!s:>9}{flag}")
    for role, st in report["stages"].items():
        print(f"{role:>18}: processed {st['processed']}, errors {st['errors']}, restarts {st['restarts']}, "
              f"drops send {st['send_dropped']} stale {st['stale_dropped']} malformed {st['malformed']}")
    lat = report["latency"]
    for w in lat.get("windows", []):
        print(f"  latency {w['from_s']:>7}-{w['to_s']:<7} s: p50 {w['p50']:>7} p99 {w['p99']:>7} max {w['max']:>7} ms (n={w['n']})")
    print(f"p99 end-to-end drift first -> last window: {lat.get('p99_drift_pct')} %")
    print(f"details: {out}/soak.json")


if __name__ == "__main__":
    sys.exit(main())

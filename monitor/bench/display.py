"""Display benchmark: what the live overlay costs the rest of the pipeline.

    python -m monitor.bench.display [--frames 450 --repeats 2 --body-model B --head-model H]

Renders the synthetic drive once into a recording (848x480 IR + depth), then replays it through the
whole pipeline at its recorded rate (30 fps, live policy, as with a camera), alternating headless
runs and runs with the overlay window open on a private Xvfb server. It prints, per latency key of
results.jsonl, the p99 over all frames of each mode (runs pooled) and the change; the target is
that end-to-end p99 rises by no more than 10% with the display on. ``--screenshot PNG`` also saves
one grab of the window (docs/img/overlay_synthetic.png is made this way).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from monitor.display.xvfb import Xvfb, XvfbUnavailable
from monitor.recording import RecordingWriter
from monitor.sources import open_source
from monitor.summary import read_results

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("capture", "transport.capture>estimator", "estimator", "transport.estimator>gaze", "gaze",
        "transport.gaze>sink", "end_to_end")
TARGET_RISE = 0.10


def render_source(spec: str, frames: int, path: Path) -> Path:
    """Render ``frames`` framesets of ``spec`` once, so both modes replay identical input."""
    source = open_source(spec)
    with RecordingWriter(path, {"source": spec}) as writer:
        for i, fs in enumerate(source):
            if i >= frames:
                break
            writer.write(fs.to_message({}))
    source.close()
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(recording: Path, out: Path, display: str | None, model_args: list[str], policy: str,
             screenshot: tuple[Xvfb, Path, int] | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    args = [sys.executable, str(ROOT / "run_monitor.py"), "--source", str(recording), "--realtime",
            "--policy", policy, "--out", str(out), *model_args]
    if display:
        env["DISPLAY"] = display
    else:
        args.append("--headless")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if screenshot is not None:
            server, path, after_frames = screenshot
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:  # mid-run, once the window is up
                results = out / "results.jsonl"
                if results.exists() and len(results.read_text().splitlines()) >= after_frames:
                    server.screenshot(path)
                    break
                time.sleep(0.2)
        output, _ = proc.communicate(timeout=600)
    except BaseException:  # Ctrl-C, a timeout: the run must be gone before its folder is removed
        _stop(proc)
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}):\n{output}")
    summary = json.loads((out / "summary.json").read_text())
    if screenshot is not None and screenshot[1].exists() and "window_rect" in summary.get("display", {}):
        x, y, w, h = summary["display"]["window_rect"]  # keep just the window's image
        cv2.imwrite(str(screenshot[1]), cv2.imread(str(screenshot[1]))[y:y + h, x:x + w])
    return summary


def _stop(proc: subprocess.Popen) -> None:
    """End a run_monitor.py child: it finishes its files on SIGTERM, and is killed if it hangs."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pooled_percentiles(runs: list[Path]) -> dict[str, tuple[float, float]]:
    """Per latency key: (p50, p99) over every frame of the given runs."""
    samples: dict[str, list[float]] = {}
    for out in runs:
        for record in read_results(out / "results.jsonl"):
            for key, value in (record.get("latency_ms") or {}).items():
                samples.setdefault(key, []).append(value)
    return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="synthetic:scenario=drive,seed=0", help="frame source to render once")
    p.add_argument("--frames", type=int, default=450, help="frames per run (default: %(default)s, 15 s at 30 fps)")
    p.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating (default: %(default)s)")
    p.add_argument("--policy", default="live", choices=["live", "replay"])
    p.add_argument("--body-model", default="")
    p.add_argument("--head-model", default="")
    p.add_argument("--screenshot", metavar="PNG", help="save one screen grab of the overlay window")
    p.add_argument("--keep", metavar="DIR",
                   help="keep the runs and the rendered input in DIR (default: a temporary folder, removed at the end)")
    args = p.parse_args(argv)
    model_args = [*(["--body-model", args.body_model] if args.body_model else []),
                  *(["--head-model", args.head_model] if args.head_model else [])]
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
        return measure(args, work, model_args)
    work = Path(tempfile.mkdtemp(prefix="dms-bench-display-"))
    try:  # the runs and the rendered input are tens of MB: not left in /tmp, also after an error or Ctrl-C
        return measure(args, work, model_args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, model_args: list[str]) -> int:
    """Render the input into ``work``, run both modes there and print the comparison."""
    recording = work / "input.dmsrec"
    if not recording.exists():
        t0 = time.monotonic()
        render_source(args.source, args.frames, recording)
        print(f"rendered {args.frames} frames of {args.source} in {time.monotonic() - t0:.1f} s", flush=True)
    runs: dict[str, list[Path]] = {"headless": [], "display": []}
    displays: list[dict[str, Any]] = []
    run_p99: dict[str, list[float]] = {"headless": [], "display": []}
    xvfb_cpu_s = 0.0
    try:
        xvfb = Xvfb()
        with xvfb as display:
            for i in range(args.repeats):
                # ABBA order: a slow first run (cold caches) or a drift in the machine's load
                # does not favour one mode
                for mode in (("headless", "display") if i % 2 == 0 else ("display", "headless")):
                    out = work / f"{mode}{i}"
                    if out.exists():
                        raise SystemExit(f"{out} exists: use an empty --keep folder")
                    shot = None
                    if mode == "display" and args.screenshot and i == 0:
                        shot = (xvfb, Path(args.screenshot), args.frames // 2)
                    xvfb_before = cpu_seconds(xvfb.proc.pid) if xvfb.proc else 0.0
                    summary = run_once(recording, out, display if mode == "display" else None, model_args,
                                       args.policy, shot)
                    if mode == "display" and xvfb.proc:
                        xvfb_cpu_s += cpu_seconds(xvfb.proc.pid) - xvfb_before
                    runs[mode].append(out)
                    if mode == "display":
                        displays.append(summary["display"])
                    e2e = summary["latency_ms"].get("end_to_end", {})
                    run_p99[mode].append(float(e2e.get("p99", float("nan"))))
                    print(f"  {mode:8s} run {i}: {summary['frames']['processed']} frames, "
                          f"end-to-end p50 {e2e.get('p50')} p99 {e2e.get('p99')} ms", flush=True)
    except XvfbUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base, disp = pooled_percentiles(runs["headless"]), pooled_percentiles(runs["display"])
    print(f"\nlatency (ms), {args.repeats} runs x {args.frames} frames per mode pooled, "
          f"{args.policy} policy, 30 fps recorded rate")
    print(f"{'stage':30s} {'p50 headless':>12s} {'p50 display':>12s} {'p99 headless':>12s} {'p99 display':>12s} "
          f"{'p99 change':>10s}")
    for key in KEYS:
        if key in base and key in disp:
            change = disp[key][1] / base[key][1] - 1.0 if base[key][1] > 0 else float("nan")
            print(f"{key:30s} {base[key][0]:12.3f} {disp[key][0]:12.3f} {base[key][1]:12.3f} {disp[key][1]:12.3f} "
                  f"{change:+10.1%}")
    shown = sum(d["frames_shown"] for d in displays)
    lost = sum(d["dropped_upstream"] + d["skipped_by_display"] for d in displays)
    cpu = sum(d.get("cpu_s", 0.0) for d in displays)
    print(f"display: {shown} frames shown, {lost} skipped (newest-only); CPU per frame shown: display worker "
          f"{1000 * cpu / max(shown, 1):.2f} ms, X server {1000 * xvfb_cpu_s / max(shown, 1):.2f} ms")
    for mode in ("headless", "display"):
        values = run_p99[mode]
        print(f"end-to-end p99 per run, {mode:8s}: {', '.join(f'{v:.1f}' for v in values)} ms "
              f"(median {float(np.median(values)):.1f})")
    rise = disp["end_to_end"][1] / base["end_to_end"][1] - 1.0
    verdict = "within" if rise <= TARGET_RISE else "ABOVE"
    print(f"end-to-end p99 {base['end_to_end'][1]:.3f} -> {disp['end_to_end'][1]:.3f} ms ({rise:+.1%}): "
          f"{verdict} the +{TARGET_RISE:.0%} target")
    if args.keep:
        print(f"runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench.json (everything, machine-readable), bench.md (tables) and the PNG plots."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitor.bench import stats

# acceptance targets of the CPU reference configuration (issue 7)
TARGET_E2E_P99_MS = 50.0
TARGET_OVERHEAD_P99_MS = 5.0
TARGET_TRANSPORT_RATIO = 1.5


def machine_info() -> dict[str, Any]:
    import cv2
    import numpy
    import onnxruntime
    import zmq

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu": {"model": cpu_model or platform.processor(), "logical_cores": os.cpu_count(),
                "usable_cores": affinity},
        "memory_gib": mem_gib,
        "load_average": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
        if Path("/proc/loadavg").exists() else [],
        "gpu": gpu_info(),
        "os": platform.platform(),
        "versions": {"python": sys.version.split()[0], "numpy": numpy.__version__,
                     "onnxruntime": onnxruntime.__version__, "onnxruntime_device": onnxruntime.get_device(),
                     "onnxruntime_providers_built": onnxruntime.get_available_providers(),
                     "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version(), "opencv": cv2.__version__},
    }


def gpu_info() -> list[dict[str, str]]:
    """GPUs as nvidia-smi reports them (name, driver, memory); empty without one."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        text = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in text.strip().splitlines():
        name, driver, memory = ([*(x.strip() for x in line.split(",")), "", ""])[:3]
        gpus.append({"name": name, "driver": driver, "memory": memory})
    return gpus


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _lat(entry: dict[str, Any], key: str) -> dict[str, Any]:
    return entry.get("latency_ms", {}).get(key, {})


def acceptance(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, checked on the configurations and baselines that match them."""
    checks: list[dict[str, Any]] = []
    for c in result["configs"]:
        p = c["params"]
        if (p["provider"] == "cpu" and p["body"] == "lite" and p["fps"] == 30
                and p.get("precision", "fp32") == "fp32" and c["status"] != "unavailable"
                and p["resolution"] == "640x480" and p.get("policy") == "replay" and p.get("realtime", True)):
            ran = c["status"] == "ok"  # a run that failed or timed out fails every check
            e2e, over = _lat(c, stats.E2E).get("p99"), _lat(c, stats.OVERHEAD).get("p99")
            # every frame a stage dropped is also a frame that never reached the sink: count frames once
            lost = c.get("frames", {}).get("lost")
            counted = sum(c.get("drops", {}).values())
            note = "" if ran else f" (run {c['status']})"
            checks.append({"config": c["name"], "check": f"end-to-end p99 <= {TARGET_E2E_P99_MS:g} ms{note}",
                           "value": e2e, "pass": ran and e2e is not None and e2e <= TARGET_E2E_P99_MS})
            checks.append({"config": c["name"], "check": f"no drops (replay; frames lost, warm-up included){note}",
                           "value": lost, "pass": ran and lost == 0 and counted == 0})
            checks.append({"config": c["name"], "check": f"overhead p99 <= {TARGET_OVERHEAD_P99_MS:g} ms{note}",
                           "value": over, "pass": ran and over is not None and over <= TARGET_OVERHEAD_P99_MS})
    for t in result.get("baselines", {}).get("transport", []):
        ratio = t.get("throughput_ratio_bus_over_imagezmq")
        if t["resolution"] == "848x480" and ratio is not None:
            checks.append({"config": f"transport {t['resolution']}",
                           "check": f"{t.get('pipeline_link', 'bus')} throughput >= {TARGET_TRANSPORT_RATIO:g} x imagezmq-style",
                           "value": ratio, "pass": ratio >= TARGET_TRANSPORT_RATIO})
    return checks


def _warmup_words(warmup: object) -> str:
    """--warmup as given: 30 (frames) or '6s' (seconds of frames at each configuration's rate)."""
    text = str(warmup)
    return f"{text[:-1]} s of frames" if text.endswith("s") else f"{text} frames"


def markdown(result: dict[str, Any], plots: list[str] | None = None) -> str:
    """bench.md; ``plots`` are the PNGs written (relative to the output folder), listed under "Plots"."""
    m = result["machine"]
    lines = ["# Pipeline latency benchmark", "",
             f"Machine: {m['cpu']['model']}, {m['cpu']['logical_cores']} logical cores "
             f"({m['cpu']['usable_cores']} usable), {m['memory_gib']} GiB; GPU: "
             + (", ".join(f"{g['name']} (driver {g['driver']})" for g in m["gpu"]) or "none"),
             f"Load average at start {m['load_average']}, at end {m.get('load_average_end')} "
             "(other jobs share this machine: compare figures within one run).",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()
                                      if k != "onnxruntime_providers_built"),
             f"Settings: {result['settings']['frames']} measured frames after a warm-up of "
             f"{_warmup_words(result['settings']['warmup'])} per configuration, policy {result['settings']['policy']}; "
             f"wall {result.get('wall_s')} s.",
             f"Command: `python {result.get('command', 'run_monitor.py bench')}`", ""]
    models = {m["path"]: m for c in result["configs"] for m in c.get("models", [])}
    if models:
        lines += ["Models: " + "; ".join(f"{p} ({m['task']}, {m['modality']}"
                                          + (", test-time flip: 2 inputs a run" if m.get("flip_test") else "")
                                          + (", UNTRAINED: speed figures only" if not m.get("trained") else "") + ")"
                                          for p, m in models.items()), ""]
    checks = acceptance(result)
    if checks:
        lines += ["## Acceptance targets", "", "| configuration | target | measured | |", "|---|---|---|---|"]
        lines += [f"| {c['config']} | {c['check']} | {_f(c['value'], 3)} | {'pass' if c['pass'] else 'FAIL'} |"
                  for c in checks]
        lines.append("")
    lines += ["## Configurations (ms; end to end = capture to arrival at the sink)", "",
              "| configuration | status | frames | fps out | e2e p50 | e2e p90 | e2e p99 | e2e max | overhead p50 "
              "| overhead p99 | inference (mean) | schedule lag p99 | e2e from schedule p99 | drops (lost, restarts) | providers used |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in result["configs"]:
        if c["status"] == "unavailable":
            lines.append(f"| {c['name']} | unavailable: {c['reason']} | | | | | | | | | | | | | |")
            continue
        e2e, over = _lat(c, stats.E2E), _lat(c, stats.OVERHEAD)
        infer = sum(v for k, v in c["breakdown_mean_ms"].items() if k.startswith("infer."))
        drops = str(sum(c["drops"].values()))
        lost, restarts = c["frames"].get("lost", 0), sum(c.get("restarts", {}).values())
        if lost or restarts:
            drops += f" ({lost} lost, {restarts} restarts)"
        lines.append(f"| {c['name']} | {c['status']} | {c['frames']['processed']}/{c['frames']['captured']} "
                     f"| {_f(c['rates']['output_fps'], 1)} | {_f(e2e.get('p50'))} | {_f(e2e.get('p90'))} "
                     f"| {_f(e2e.get('p99'))} | {_f(e2e.get('max'))} | {_f(over.get('p50'))} | {_f(over.get('p99'))} "
                     f"| {_f(infer)} | {_f(_lat(c, stats.SCHEDULE_LAG).get('p99'))} "
                     f"| {_f(_lat(c, stats.E2E_SCHEDULED).get('p99'))} | {drops} "
                     f"| {', '.join(p.replace('ExecutionProvider', '') for p in c['providers_used'])} |")
    lines.append("")
    ran = [c for c in result["configs"] if c["status"] != "unavailable" and c.get("latency_ms")]
    for c in ran:
        lines += stage_table(c)
    base = result.get("baselines") or {}
    if base.get("transport"):
        links = list(dict.fromkeys(c["transport"] for t in base["transport"] for c in t["cases"]))
        turns = _alternated(links, result["settings"].get("baseline_repeats"))
        lines += ["## Transport: the bus against an imagezmq-style REQ/REP link (same frames)", "",
                  "One-way latency from just before sending to the frameset decoded at the receiver; "
                  f"unpaced rows ({turns}) measure throughput, the ratio is of their medians.", "",
                  "| frames | link | paced at | framesets | throughput fps | MB/s | one-way p50 | p90 | p99 | max |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for t in base["transport"]:
            names = {"bus+shm": "bus, shared-memory ring (pipeline default)", "bus": "bus, buffers in the socket",
                     "imagezmq": "imagezmq-style (REQ/REP)"}
            for c in t["cases"]:
                o = c["one_way_ms"]
                lines.append(f"| {t['resolution']} | {names.get(c['transport'], c['transport'])} "
                             f"| {_f(c['fps_asked'], 0) if c['fps_asked'] else 'unpaced'} | {c['frames']} "
                             f"| {_f(c['throughput_fps'], 1) if not c['fps_asked'] else '–'} "
                             f"| {_f(c['throughput_MBps'], 1) if not c['fps_asked'] else '–'} | {_f(o.get('p50'), 3)} "
                             f"| {_f(o.get('p90'), 3)} | {_f(o.get('p99'), 3)} | {_f(o.get('max'), 3)} |")
            med = t.get("throughput_median_fps", {})
            for kind, ratio in t.get("throughput_ratio_over_imagezmq", {}).items():
                lines.append(f"| {t['resolution']} | **median throughput {names[kind]} {_f(med.get(kind), 1)} / "
                             f"imagezmq-style {_f(med.get('imagezmq'), 1)}** | | | **{_f(ratio, 2)}x** | | | | | |")
        lines.append("")
    if base.get("single_loop"):
        lines += ["## Multi-process pipeline against an in-process single loop (same frames, same models)", "",
                  "| pipeline configuration | paced | design | fps out | e2e p50 | e2e p99 | e2e from schedule p50 "
                  "| e2e from schedule p99 | overhead p50 | overhead p99 | CPU % (all processes) | memory MiB (sum of RSS) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        by_name = {c["name"]: c for c in result["configs"]}
        for pair in base["single_loop"]:
            pipe = pair.get("pipeline_run") or by_name.get(pair["pipeline"])
            for design, e in (("multi-process", pipe), ("single loop", pair["single_loop"])):
                if not e or e.get("status") == "unavailable":
                    continue
                e2e, over, sched = _lat(e, stats.E2E), _lat(e, stats.OVERHEAD), _lat(e, stats.E2E_SCHEDULED)
                if not pair["realtime"]:
                    sched = {}  # unpaced: frames have no due time
                procs = e.get("processes", {})
                cpu = sum(p.get("cpu_percent", 0.0) for p in procs.values())
                mem = sum(p.get("rss_mib_mean", 0.0) for p in procs.values())
                lines.append(f"| {pair['pipeline']} | {'yes' if pair['realtime'] else 'no (as fast as possible)'} "
                             f"| {design} | {_f(e['rates']['output_fps'], 1)} | {_f(e2e.get('p50'))} | {_f(e2e.get('p99'))} "
                             f"| {_f(sched.get('p50'))} | {_f(sched.get('p99'))} | {_f(over.get('p50'))} | {_f(over.get('p99'))} | {_f(cpu, 0)} | {_f(mem, 0)} |")
        delays = result["settings"].get("inject_delay") or []
        lines += ["", "Unpaced rows measure throughput: the replay policy's backpressure keeps every queue full, so "
                  "their latency is queueing, not processing. CPU and memory of the multi-process rows include "
                  "the supervisor (the benchmark process) and the idle spare workers."
                  + (f" The multi-process rows include the injected delays ({', '.join(delays)}); the single loop "
                     "runs without them, so this comparison is not like for like." if delays else ""), ""]
    if plots:  # only files that exist: --no-plots, or nothing that ran, writes none
        what = {"stacked": "mean ms per stage, paced configurations", "cdf": "latency CDF per stage",
                "timeline": "end to end and inference per frame over time"}
        lines += ["## Plots", ""]
        lines += [f"- `{p}` ({what.get(Path(p).name.split('_')[0], 'plot')})" for p in plots]
        lines.append("")
    return "\n".join(lines)


def _alternated(links: list[str], repeats: int | None) -> str:
    """How the unpaced transport cases ran, naming every link measured (bus+shm, bus, imagezmq)."""
    names = [{"imagezmq": "imagezmq-style"}.get(k, k) for k in links]
    rounds = f", {repeats} round{'s' if repeats != 1 else ''}" if repeats else ""
    if len(names) < 2:
        return f"{''.join(names) or 'no link'}{rounds}"
    return f"{', '.join(names[:-1])} and {names[-1]} taken in turn{rounds}"


def stage_table(c: dict[str, Any]) -> list[str]:
    lines = [f"### {c['name']}", "",
             "| stage | p50 | p90 | p99 | max | mean |", "|---|---|---|---|---|---|"]
    for key in [*stats.stage_order(c["latency_ms"]), stats.E2E, stats.OVERHEAD, stats.SCHEDULE_LAG,
                stats.E2E_SCHEDULED]:
        s = c["latency_ms"].get(key)
        if s and s.get("n"):
            lines.append(f"| {key} | {_f(s['p50'], 3)} | {_f(s['p90'], 3)} | {_f(s['p99'], 3)} | {_f(s['max'], 3)} "
                         f"| {_f(s['mean'], 3)} |")
    procs = c.get("processes", {})
    if procs:
        lines += ["", "| process | CPU % of one core | RSS MiB mean | RSS MiB max | peak RSS MiB (whole life) |",
                  "|---|---|---|---|---|"]
        for role, p in procs.items():
            lines.append(f"| {role} | {_f(p.get('cpu_percent'), 1)} | {_f(p.get('rss_mib_mean'), 1)} "
                         f"| {_f(p.get('rss_mib_max'), 1)} | {_f(p.get('peak_rss_mib'), 1)} |")
        lines += ["", "Over the measured frames. `supervisor` is the benchmark process, which runs the supervisor "
                  "and also holds what the benchmark itself imports (more memory than `run_monitor.py`'s "
                  "supervisor); `spare <role>` are the idle replacement workers the supervisor keeps ready."]
    drops = {k: v for k, v in c.get("drops", {}).items()}
    lines += ["", f"Drops per stage {drops}; errors {c.get('errors')}; restarts {c.get('restarts')}; "
              f"frames lost {c['frames'].get('lost')}; providers used {c.get('providers_used')}."
              + (f" WARNING: {c['warning']}" if c.get("warning") else ""), ""]
    return lines


def write_outputs(out: Path, result: dict[str, Any], plots: bool = True) -> list[Path]:
    out = Path(out)
    result["acceptance"] = acceptance(result)
    paths = [out / "bench.json", out / "bench.md"]
    paths[0].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    drawn: list[Path] = []
    if plots:  # before bench.md, which lists them
        from monitor.bench.plots import write_plots
        drawn = write_plots(out / "plots", result)
        if not drawn and (out / "plots").is_dir() and not any((out / "plots").iterdir()):
            (out / "plots").rmdir()  # no configuration ran: no empty folder either
    paths[1].write_text(markdown(result, [p.relative_to(out).as_posix() for p in drawn]), encoding="utf-8")
    return paths + drawn


def main(argv: list[str] | None = None) -> int:
    """Re-write bench.md (and the plots) of an earlier run from its bench.json."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m monitor.bench.report", description=main.__doc__)
    ap.add_argument("bench_json")
    ap.add_argument("--no-plots", dest="plots", action="store_false")
    args = ap.parse_args(argv)
    path = Path(args.bench_json)
    result = json.loads(path.read_text())
    for p in write_outputs(path.parent, result, plots=args.plots):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

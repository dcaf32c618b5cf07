"""``python run_monitor.py bench``: latency of the real pipeline per stage, swept over execution
providers, IO binding, precision, model variants, frame rates and resolutions, side by side with
an imagezmq-style transport and an in-process single loop on the same frames.

Every configuration runs the real thing: the supervisor and its worker processes, ipc sockets,
ONNX Runtime sessions, replaying pre-rendered frames at the chosen rate (docs/benchmark.md).
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from monitor.bench import baselines, stats
from monitor.bench.cache import cached_frames, paced_recording
from monitor.bench.procstat import ProcSampler
from monitor.bus import Endpoints, Policy
from monitor.childenv import child_env
from monitor.estimator.model_files import DEFAULT_COVER_MODEL, resolve_cover_model
from monitor.estimator.pipeline import (DEFAULT_BODY_MODEL, DEFAULT_EYE_MODEL, DEFAULT_HEAD_MODEL, MODELS_DIR,
                                       eye_locator_of, missing_locator_message, resolve_eye_model)
from monitor.estimator.session import (ENV_THREADS, ENV_TRT_CACHE, _short_ort_error, provider_usable,
                                      resolve_providers)
from monitor.console import say
from monitor.preflight import make_out_dir, scan_recording
from monitor.recording import RecordingError
from monitor.sources import SourceError, parse_spec
from monitor.summary import build_summary, read_results, stage_counts, write_summary
from monitor.supervisor import RunFailed, Supervisor
from monitor.workers.base import RunConfig

# Body model variants by name; "full" is the Watch-R-Patch VGG-19 / 6-stage network.
DEFAULT_BODY_MODELS = {"lite": DEFAULT_BODY_MODEL, "full": MODELS_DIR / "body_vgg19_t6.onnx"}
ROLES = ["capture", "estimator", "gaze", "sink"]

EPILOG = """\
Each axis takes a comma-separated list; the sweep is their product, one configuration per
combination, each run as a real pipeline (supervisor + worker processes). Providers that cannot
run here (no GPU, libraries missing) and default models without a file (e.g. no .fp16.onnx) appear
in the tables as "unavailable" with the reason; a model file or --source you name that is missing
or unreadable stops the benchmark before it starts.

examples:
  python run_monitor.py bench                                     # CPU/CUDA/TensorRT, lite, 30 fps, 640x480, 1 thread
  python run_monitor.py bench --fps 30,60,90 --resolution 640x480,848x480 --body lite,full \\
      --io-binding off,on --precision fp32,fp16 --out runs/bench-gpu
  python run_monitor.py bench --body-model lite=PATH.onnx --head-model PATH.onnx --providers cpu
"""


@dataclass(frozen=True)
class Case:
    """One configuration of the sweep."""

    width: int
    height: int
    fps: float
    body: str
    precision: str
    provider: str
    io_binding: bool
    threads: int
    shm: bool = True
    head_flip: bool = True  # head test-time flip (the runtime's default)

    @property
    def name(self) -> str:
        return (f"{self.provider}-{self.precision}-{self.body}-{'iob' if self.io_binding else 'nob'}"
                f"-t{self.threads}{'' if self.shm else '-noshm'}{'' if self.head_flip else '-noflip'}"
                f"-{self.width}x{self.height}@{self.fps:g}")

    def params(self) -> dict[str, Any]:
        return {"resolution": f"{self.width}x{self.height}", "fps": self.fps, "body": self.body,
                "precision": self.precision, "provider": self.provider, "io_binding": self.io_binding,
                "intra_op_threads": self.threads or "ort default", "shm": self.shm, "head_flip": self.head_flip}


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_resolutions(text: str) -> list[tuple[int, int]]:
    out = []
    for item in _list(text):
        w, sep, h = item.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit():
            raise ValueError(f"--resolution {item!r}: use WIDTHxHEIGHT, e.g. 640x480")
        out.append((int(w), int(h)))
    return out


def parse_onoff(text: str, option: str) -> list[bool]:
    table = {"off": False, "on": True, "0": False, "1": True, "no": False, "yes": True}
    try:
        return [table[t.lower()] for t in _list(text)]
    except KeyError:
        raise ValueError(f"{option} {text!r}: use off, on or off,on") from None


def parse_body_models(items: list[str]) -> dict[str, Path]:
    """``--body-model [NAME=]PATH`` entries over the defaults (a bare PATH names the lite model)."""
    return {**DEFAULT_BODY_MODELS, **dict(map(_body_model_item, items))}


def _body_model_item(item: str) -> tuple[str, Path]:
    name, sep, path = item.partition("=")
    return (name.strip(), Path(path)) if sep else ("lite", Path(item))


def variant_path(path: Path, precision: str) -> Path:
    """fp16 files sit next to the fp32 ones as NAME.fp16.onnx (docs/model_contract.md)."""
    if precision == "fp32":
        return path
    return path.with_name(path.name[:-len(".onnx")] + f".{precision}.onnx") if path.name.endswith(".onnx") else path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_monitor.py bench", allow_abbrev=False, description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", help="output folder (default: a new runs/bench-<time>)")
    p.add_argument("--providers", default="cpu,cuda,tensorrt", metavar="LIST",
                   help="execution providers to sweep, each alone (default: %(default)s)")
    p.add_argument("--io-binding", default="off", metavar="off|on|off,on", help="IO binding (default: off)")
    p.add_argument("--precision", default="fp32", metavar="LIST",
                   help="fp32 and/or fp16 (uses NAME.fp16.onnx next to each model; default: fp32)")
    p.add_argument("--body", default="lite", metavar="LIST", help="body model variants: lite, full (default: lite)")
    p.add_argument("--body-model", action="append", default=[], metavar="[NAME=]PATH",
                   help=f"body model file of a variant (default: lite={DEFAULT_BODY_MODELS['lite']}, "
                        f"full={DEFAULT_BODY_MODELS['full']}); repeatable")
    p.add_argument("--head-model", default=str(DEFAULT_HEAD_MODEL), metavar="PATH",
                   help="head-pose model (default: %(default)s)")
    p.add_argument("--eye-model", default=str(DEFAULT_EYE_MODEL), metavar="PATH|none",
                   help="eye-gaze model, fp32 in every case (it has no fp16 file); 'none' measures without the eye "
                        "stage (default: %(default)s, as run_monitor.py)")
    p.add_argument("--cover-model", default=str(DEFAULT_COVER_MODEL), metavar="PATH|none",
                   help="face-cover model on the head crop; 'none' measures without it (default: %(default)s, as "
                        "run_monitor.py)")
    p.add_argument("--fps", default="30", metavar="LIST", help="replay rates (default: %(default)s)")
    p.add_argument("--resolution", default="640x480", metavar="LIST",
                   help="frame sizes WxH (default: %(default)s)")
    # 1 as run_monitor.py runs the pipeline (monitor/cli.py); 0 would time a setting users do not run
    p.add_argument("--threads", default="1", metavar="LIST",
                   help="ONNX Runtime intra-op threads per session, 0 = its default of one per core "
                        f"(sets {ENV_THREADS} for the workers; default: %(default)s, as run_monitor.py; "
                        "1,0 measures both)")
    p.add_argument("--shm", default="on", metavar="on|off|on,off",
                   help="frame buffers through the shared-memory ring (on, the pipeline's default) or the "
                        "sockets (off, run_monitor.py --no-shm) (default: %(default)s)")
    p.add_argument("--head-flip-test", default="on", metavar="on|off|on,off",
                   help="head model with test-time flip (on, the runtime's default) or without (off, "
                        "run_monitor.py --no-head-flip-test); on,off measures both (default: %(default)s)")
    p.add_argument("--frames", type=int, default=300,
                   help="measured frames per configuration, at least 12 with the baselines (default: %(default)s)")
    p.add_argument("--warmup", default="6s", metavar="N|Ns",
                   help="run before measuring, after the models' own warm-up: N frames, or N seconds of "
                        "frames at each configuration's rate. The default covers the start of the supervisor's "
                        "spare workers (one a second per role, ~1 s of CPU each), which is start-up, not "
                        "steady state (default: %(default)s)")
    p.add_argument("--policy", choices=[x.value for x in Policy], default=Policy.REPLAY.value,
                   help="delivery policy (default: %(default)s: lossless, backpressure)")
    p.add_argument("--cache", default="runs/bench-cache", metavar="DIR",
                   help="pre-rendered frames, reused across runs (default: %(default)s)")
    p.add_argument("--cache-frames", type=int, default=90,
                   help="distinct synthetic frames rendered per resolution, cycled (default: %(default)s)")
    p.add_argument("--source", default="", metavar="PATH.dmsrec",
                   help="replay this recording's frames instead of synthetic ones (all resolutions: its own)")
    p.add_argument("--trt-cache", default="", metavar="DIR",
                   help=f"TensorRT engine cache (sets {ENV_TRT_CACHE}; default: CACHE/trt-engines)")
    p.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="skip the imagezmq-style and in-process baselines")
    p.add_argument("--baseline-frames", type=int, default=600,
                   help="framesets per unpaced transport case (default: %(default)s)")
    p.add_argument("--baseline-repeats", type=int, default=3,
                   help="unpaced transport cases per link, alternated (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="stop a configuration that runs longer than this many seconds (default: %(default)s)")
    p.add_argument("--inject-delay", action="append", default=[], metavar="STAGE=MS",
                   help="add a known busy-wait per item to capture, estimator or gaze (checks the figures "
                        "themselves; the sink's and display's time is in no figure, and the in-process "
                        "baseline runs without delays)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    return p


class Bench:
    def __init__(self, args: argparse.Namespace, out: Path, argv: list[str] | None = None) -> None:
        from monitor.cli import parse_delays

        self.args = args
        self.argv = list(argv or [])
        self.out = out
        self.cache = Path(args.cache)
        self.delays = parse_delays(args.inject_delay)
        unseen = sorted(set(self.delays) - {"capture", "estimator", "gaze"})
        if unseen:  # end to end stops where the sink receives: a delay there would change no figure
            raise ValueError(f"--inject-delay {', '.join(unseen)}: bench figures end where the sink receives a "
                             "result; inject into capture, estimator or gaze")
        self.resolutions = parse_resolutions(args.resolution)
        self.fps = [float(f) for f in _list(args.fps)]
        self.providers = _list(args.providers)
        resolve_providers(self.providers)  # unknown names fail here, before any work
        self.io_binding = parse_onoff(args.io_binding, "--io-binding")
        self.precisions = _list(args.precision)
        self.bodies = _list(args.body)
        self.body_models = parse_body_models(args.body_model)
        self.threads = [int(t) for t in _list(args.threads)]
        self.shm = parse_onoff(args.shm, "--shm")
        self.head_flip = parse_onoff(args.head_flip_test, "--head-flip-test")
        for b in self.bodies:
            if b not in self.body_models:
                raise ValueError(f"--body {b!r}: no model file for it; add --body-model {b}=PATH")
        for pr in self.precisions:
            if pr not in ("fp32", "fp16"):
                raise ValueError(f"--precision {pr!r}: use fp32 and/or fp16")
        if not self.fps or min(self.fps) <= 0:
            raise ValueError("--fps: give positive rates, e.g. 30,60,90")
        self.warmup = parse_warmup(args.warmup)
        if args.frames <= 1:
            raise ValueError("--frames must be > 1")
        least = baselines.TRANSPORT_SKIP + 2  # the transport cases time all but their first framesets
        if args.baselines and args.frames < least:  # the paced ones run --frames framesets
            raise ValueError(f"--frames must be >= {least} (or run with --no-baselines)")
        if args.baselines and args.baseline_frames < least:
            raise ValueError(f"--baseline-frames must be >= {least}")
        self.paced_dir = self.out / "inputs"
        self.log_lines: list[str] = []

    def log(self, text: str) -> None:
        say(text)  # a closed stdout (`| head`) does not stop the benchmark before its files

    # --- inputs ----------------------------------------------------------------------------
    def frames_for(self, width: int, height: int) -> Path:
        if self.args.source:
            return Path(self.args.source)
        return cached_frames(self.cache, width, height, self.args.cache_frames, log=self.log)

    def warmup_frames(self, fps: float) -> int:
        count, unit = self.warmup
        return count if unit == "frames" else max(round(count * fps), 1)

    def paced_for(self, width: int, height: int, fps: float) -> Path:
        count = self.warmup_frames(fps) + self.args.frames
        path = self.paced_dir / f"{width}x{height}@{fps:g}_{count}.dmsrec"
        if not path.is_file():
            paced_recording(self.frames_for(width, height), path, fps, count)
        return path

    # --- one pipeline run -------------------------------------------------------------------
    def unavailable(self, case: Case) -> str | None:
        full = resolve_providers([case.provider])[0]
        if not provider_usable(full):
            import onnxruntime as ort
            if full not in ort.get_available_providers():
                return f"{full} is not part of this onnxruntime build ({ort.__version__})"
            return f"{full} is built in but cannot run here (no CUDA device, or CUDA/cuDNN/TensorRT libraries missing)"
        eye = [("eye", Path(self.eye_model))] if self.eye_model else []
        eye += [("eye locator", self.eye_locator)] if self.eye_locator is not None else []
        eye += [("face-cover", Path(self.cover_model))] if self.cover_model else []
        for label, path in (("body", self.body_path(case)), ("head", self.head_path(case)), *eye):
            if not path.is_file():
                return f"{label} model {path} not found"
        return None

    @property
    def eye_model(self) -> str:
        """The eye model's path, "" for none, read as run_monitor.py reads --eye-model."""
        return resolve_eye_model(self.args.eye_model)

    @property
    def cover_model(self) -> str:
        """The face-cover model's path, "" for none, read as run_monitor.py reads --cover-model."""
        return resolve_cover_model(self.args.cover_model)

    @functools.cached_property
    def eye_locator(self) -> Path | None:
        """The locator the eye model's contract names (read once, not per case), or None."""
        return eye_locator_of(self.eye_model) if self.eye_model and Path(self.eye_model).is_file() else None

    def body_path(self, case: Case) -> Path:
        return variant_path(self.body_models[case.body], case.precision)

    def head_path(self, case: Case) -> Path:
        return variant_path(Path(self.args.head_model), case.precision)

    def run_case(self, case: Case, realtime: bool = True, label: str = "") -> dict[str, Any]:
        name = label or case.name
        entry: dict[str, Any] = {"name": name, "params": {**case.params(), "realtime": realtime,
                                                          "policy": self.args.policy}}
        why = self.unavailable(case)
        if why:
            self.log(f"[{name}] unavailable: {why}")
            return {**entry, "status": "unavailable", "reason": why}
        warmup = self.warmup_frames(case.fps)
        run_dir = self.out / "runs" / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        recording = self.paced_for(case.width, case.height, case.fps)
        endpoints = Endpoints.create_private("ipc")
        config = RunConfig(endpoints=endpoints.to_json(), policy=self.args.policy, out_dir=str(run_dir),
                           source=str(recording), realtime=realtime, body_model=str(self.body_path(case)),
                           head_model=str(self.head_path(case)),
                           eye_model=self.eye_model, cover_model=self.cover_model,
                           providers=[case.provider],
                           io_binding=case.io_binding, shm=case.shm, head_flip_test=case.head_flip,
                           delay_ms=dict(self.delays))
        supervisor = Supervisor(config, ROLES, endpoints)

        def pids() -> dict[str, int]:
            found = {"supervisor": os.getpid()}  # the benchmark process runs the supervisor
            for role, handle in supervisor.workers.items():
                if handle.process is not None and handle.process.poll() is None:
                    found[role] = handle.process.pid
            for role, spare in list(supervisor.spares.items()):  # idle replacements: part of the design's cost
                if spare.poll() is None:
                    found[f"spare {role}"] = spare.pid
            return found

        def stop() -> None:
            supervisor.stop_signal = signal.SIGTERM

        self.log(f"[{name}] running {warmup}+{self.args.frames} frames"
                 f"{f' at {case.fps:g} fps' if realtime else ' as fast as possible'}")
        timer = threading.Timer(self.args.timeout, stop)
        with _env(ENV_THREADS, str(case.threads) if case.threads else None), ProcSampler(pids) as sampler:
            timer.start()
            try:
                code = supervisor.run()
            except RunFailed as exc:
                code, entry["error"] = exc.exit_code, str(exc)
            finally:
                timer.cancel()
        timed_out = supervisor.stop_signal is not None
        reports = supervisor.worker_reports()
        summary = build_summary(run_dir, reports, code, {"source": str(recording), "bench": name})
        write_summary(run_dir, summary)
        records = list(read_results(run_dir / "results.jsonl"))
        samples = stats.collect(records, warmup, realtime)
        window = _window(records, warmup)
        counts = stage_counts(reports)
        status = "timeout" if timed_out else ("ok" if code == 0 else "failed")
        if status == "ok" and not samples.get(stats.E2E):
            status, entry["error"] = "failed", "no measured frame reached the sink (all lost or dropped)"
        entry.update({
            "status": status, "exit_code": code, "run_dir": str(run_dir),
            "frames": {**summary["frames"], "measured": len(samples.get(stats.E2E, []))},
            "rates": stats.rates(records, warmup),
            "latency_ms": stats.summarise(samples),
            "breakdown_mean_ms": stats.mean_breakdown(samples),
            "drops": {role: c["send_dropped"] + c["stale_dropped"] + c["malformed"] for role, c in counts.items()},
            "errors": {role: c["errors"] for role, c in counts.items()},
            "restarts": {role: c["restarts"] for role, c in counts.items()},
            "processes": sampler.usage(*window),
            "models": summary["models"],
            "providers_used": summary["providers"],
            "series": _series(records, warmup),
            "samples": _rounded(samples),
        })
        asked = resolve_providers([case.provider])[0]
        if summary["models"] and any(asked not in m.get("active_providers", []) for m in summary["models"]):
            entry["warning"] = f"{asked} asked for, but the sessions ran on {summary['providers']}"
        e2e = entry["latency_ms"].get(stats.E2E, {})
        self.log(f"[{name}] {status}: {entry['frames']['processed']}/{entry['frames']['captured']} frames, "
                 f"end to end p50 {e2e.get('p50')} p99 {e2e.get('p99')} ms, overhead p99 "
                 f"{entry['latency_ms'].get(stats.OVERHEAD, {}).get('p99')} ms")
        return entry

    # --- baselines --------------------------------------------------------------------------
    def inprocess(self, case: Case, realtime: bool, label: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": label, "params": {**case.params(), "realtime": realtime}}
        warmup = self.warmup_frames(case.fps)
        recording = self.paced_for(case.width, case.height, case.fps)
        run_dir = self.out / "runs" / label
        run_dir.mkdir(parents=True, exist_ok=True)
        out = run_dir / "frames.jsonl"
        config = {"recording": str(recording), "out": str(out), "body": str(self.body_path(case)),
                  "head": str(self.head_path(case)), "eye": self.eye_model, "cover": self.cover_model,
                  "providers": [case.provider],
                  "io_binding": case.io_binding, "head_flip": case.head_flip, "realtime": realtime}
        self.log(f"[{label}] in-process single loop{f' at {case.fps:g} fps' if realtime else ', as fast as possible'}")
        with _env(ENV_THREADS, str(case.threads) if case.threads else None):
            proc = subprocess.Popen([sys.executable, "-m", "monitor.bench.baselines", "inprocess", json.dumps(config)],
                                    stdin=subprocess.DEVNULL, env=child_env())
        with ProcSampler(lambda: {"single_loop": proc.pid} if proc.poll() is None else {}) as sampler:
            try:
                code = proc.wait(timeout=self.args.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        lines = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
        records = [r for r in lines if "frame" in r]
        samples = stats.collect(records, warmup, realtime)
        status = "ok" if code == 0 and samples.get(stats.E2E) else "failed"
        entry.update({"status": status, "exit_code": code,
                      "frames": {"processed": len(records), "measured": len(samples.get(stats.E2E, []))},
                      "rates": stats.rates(records, warmup),
                      "latency_ms": stats.summarise(samples),
                      "breakdown_mean_ms": stats.mean_breakdown(samples),
                      "processes": sampler.usage(*_window(records, warmup)),
                      "models": lines[0].get("models", []) if lines else [],
                      "series": _series(records, warmup),
                      "samples": _rounded(samples)})
        e2e = entry["latency_ms"].get(stats.E2E, {})
        self.log(f"[{label}] end to end p50 {e2e.get('p50')} p99 {e2e.get('p99')} ms, "
                 f"{entry['rates']['output_fps']} fps")
        return entry

    def transport(self, width: int, height: int, fps: float) -> dict[str, Any]:
        """Unpaced throughput, alternating bus and imagezmq-style ``--baseline-repeats`` times so
        both see the same machine load (the median counts), then one paced latency case each."""
        frames = self.frames_for(width, height)
        out: dict[str, Any] = {"resolution": f"{width}x{height}", "cases": [], "repeats": {k: [] for k in baselines.TRANSPORTS}}
        for r in range(self.args.baseline_repeats):
            for kind in baselines.TRANSPORTS:
                case = baselines.transport_case(kind, frames, self.args.baseline_frames, 0.0)
                case["repeat"] = r
                out["repeats"][kind].append(case["throughput_fps"])
                out["cases"].append(case)
                self.log(f"[transport {kind} {width}x{height}] unpaced, repeat {r + 1}: "
                         f"{case['throughput_fps']} framesets/s")
        for kind in baselines.TRANSPORTS:
            case = baselines.transport_case(kind, frames, self.args.frames, fps)
            out["cases"].append(case)
            self.log(f"[transport {kind} {width}x{height}] at {fps:g} fps: one-way p50 "
                     f"{case['one_way_ms'].get('p50')} p99 {case['one_way_ms'].get('p99')} ms")
        med = {k: float(np.median([v for v in vs if v])) if any(vs) else None for k, vs in out["repeats"].items()}
        out["throughput_median_fps"] = med
        out["throughput_ratio_over_imagezmq"] = {k: round(med[k] / med["imagezmq"], 3) for k in ("bus+shm", "bus")
                                                 if med.get(k) and med.get("imagezmq")}
        shm_used = any(c["shm"] for c in out["cases"] if c["transport"] == "bus+shm")
        # the link the swept pipeline used: the ring unless --shm off (or no /dev/shm here)
        headline = "bus+shm" if shm_used and any(self.shm) else "bus"
        out["pipeline_link"] = headline
        if headline in out["throughput_ratio_over_imagezmq"]:
            out["throughput_ratio_bus_over_imagezmq"] = out["throughput_ratio_over_imagezmq"][headline]
        self.log(f"[transport {width}x{height}] median throughput framesets/s {med}; ratios over imagezmq-style "
                 f"{out['throughput_ratio_over_imagezmq']}")
        return out

    # --- the whole sweep --------------------------------------------------------------------
    def cases(self) -> list[Case]:
        return [Case(w, h, fps, body, prec, prov, iob, th, sh, hf)
                for (w, h), fps, body, prec, prov, iob, th, sh, hf in
                itertools.product(self.resolutions, self.fps, self.bodies, self.precisions, self.providers,
                                  self.io_binding, self.threads, self.shm, self.head_flip)]

    def run(self) -> dict[str, Any]:
        from monitor.bench.report import machine_info

        started = time.time()
        info = machine_info()
        self.log(f"machine: {info['cpu']['model']} ({info['cpu']['logical_cores']} cores), "
                 f"load average {info['load_average']}; GPU: {info['gpu'] or 'none'}")
        trt_cache = self.args.trt_cache or str(self.cache / "trt-engines")
        result: dict[str, Any] = {"machine": info, "command": " ".join(["run_monitor.py", "bench", *self.argv]),
                                  "settings": {**vars(self.args), "trt_cache": trt_cache},
                                  "configs": [], "baselines": {}}
        with _env(ENV_TRT_CACHE, trt_cache):
            for case in self.cases():
                result["configs"].append(self.run_case(case))
            if self.args.baselines:
                result["baselines"] = self.run_baselines(result["configs"])
        result["machine"]["load_average_end"] = _loadavg()
        result["wall_s"] = round(time.time() - started, 1)
        shutil.rmtree(self.paced_dir, ignore_errors=True)  # large and cheap to make again
        return result

    def run_baselines(self, configs: list[dict[str, Any]]) -> dict[str, Any]:
        """Per resolution, on the same frames: transport vs imagezmq-style; per rate, the pipeline
        (first configuration that ran) against the in-process loop, paced and as fast as possible."""
        ran = [c for c in self.cases() if not self.unavailable(c)]
        out: dict[str, Any] = {"transport": [], "single_loop": []}
        for w, h in self.resolutions:
            out["transport"].append(self.transport(w, h, self.fps[0]))
            ref = next((c for c in ran if (c.width, c.height) == (w, h)), None)
            if ref is None:
                continue
            for fps in self.fps:
                case = replace(ref, fps=fps)
                pipeline = next((c for c in configs if c["name"] == case.name), None)
                single = self.inprocess(case, True, f"single-loop-{case.name}")
                out["single_loop"].append({"pipeline": case.name, "realtime": True, "single_loop": single,
                                           "pipeline_entry": None if pipeline is None else pipeline["name"]})
            fast_pipe = self.run_case(ref, realtime=False, label=f"fast-{ref.name}")
            fast_single = self.inprocess(ref, False, f"single-loop-fast-{ref.name}")
            out["single_loop"].append({"pipeline": ref.name, "realtime": False, "single_loop": fast_single,
                                       "pipeline_run": fast_pipe})
        return out


def parse_warmup(text: str) -> tuple[int, str]:
    """'30' -> (30, 'frames'); '6s' -> (6, 'seconds')."""
    value = str(text).strip()
    unit = "seconds" if value.endswith("s") else "frames"
    try:
        count = int(float(value[:-1])) if unit == "seconds" else int(value)
    except ValueError:
        raise ValueError(f"--warmup {text!r}: give frames (30) or seconds (6s)") from None
    if count < 0:
        raise ValueError("--warmup must be >= 0")
    return count, unit


def _window(records: list[dict[str, Any]], warmup: int) -> tuple[int | None, int | None]:
    """Monotonic ns span of the measured frames: first capture to last arrival at the end."""
    measured = stats.measured(records, warmup)
    if not measured:
        return None, None
    end = max(r["capture_ns"] + int((r.get("latency_ms") or {}).get(stats.E2E, 0.0) * 1e6) for r in measured)
    return measured[0]["capture_ns"], end


def _series(records: list[dict[str, Any]], warmup: int) -> dict[str, list[float]]:
    """Per measured frame: time since the first (s), end to end and inference (ms), for plots."""
    measured = stats.measured(records, warmup)
    if not measured:
        return {}
    t0 = measured[0]["capture_ns"]
    figs = [stats.frame_figures(r) for r in measured]
    infer = [sum(v for k, v in f.items() if k.startswith("infer.")) for f in figs]
    return {"t_s": [round((r["capture_ns"] - t0) / 1e9, 4) for r in measured],
            "end_to_end": [round(f.get(stats.E2E, float("nan")), 3) for f in figs],
            "inference": [round(v, 3) for v in infer]}


def _rounded(samples: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: [round(v, 4) for v in vs] for k, vs in samples.items()}


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


class _env:
    """Set (or with None, unset) an environment variable for the processes started inside."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name, self.value = name, value

    def __enter__(self) -> None:
        self.old = os.environ.get(self.name)
        if self.value is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.value

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.old


def check_inputs(args: argparse.Namespace) -> None:
    """Raise ValueError with one line for the first bad file the user named, before anything is
    created: a sweep of "unavailable" rows or a traceback from a worker is no answer to a typo.
    Default models that are missing stay "unavailable" rows (so do fp16 variants)."""
    if args.source:
        try:
            kind = parse_spec(args.source)[0]
        except SourceError:
            kind = ""
        if kind != "dmsrec":  # the paced copies are cut from a recording's framesets
            raise ValueError(f"--source {args.source}: bench replays a .dmsrec recording "
                             "(record one with run_monitor.py --record)")
        try:
            scan_recording(args.source)  # missing, empty or damaged: one line that says which
        except RecordingError as exc:
            raise ValueError(f"--source {exc}") from None
    cache = Path(args.cache)
    if cache.exists() and not cache.is_dir():
        raise ValueError(f"--cache {cache} is a file, not a folder; choose another --cache")
    parent = next((p for p in cache.absolute().parents if p.exists()), None)
    if not cache.exists() and parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        raise ValueError(f"--cache {cache}: cannot create the folder under {parent}; choose another --cache")
    defaults = build_parser().parse_args([])
    checks = [("--body-model", _body_model_item(item)[1], "body_joints") for item in args.body_model]
    if args.head_model != defaults.head_model:
        checks.append(("--head-model", Path(args.head_model), "head_pose"))
    eye = resolve_eye_model(args.eye_model)
    if eye and eye != resolve_eye_model(defaults.eye_model):
        checks.append(("--eye-model", Path(eye), "eye_gaze"))
    cover = resolve_cover_model(args.cover_model)
    if cover and cover != resolve_cover_model(defaults.cover_model):
        checks.append(("--cover-model", Path(cover), "face_cover"))
    for option, path, task in checks:
        _check_model(option, path, task)
        if task == "eye_gaze":
            locator = eye_locator_of(path)
            if locator is not None and not locator.is_file():
                raise ValueError(missing_locator_message(path, locator))


def _check_model(option: str, path: Path, task: str) -> None:
    """The file exists, ONNX Runtime reads it and its contract is of the role it is given for."""
    if not path.is_file():
        raise ValueError(f"{option}: model file {path} not found")
    import onnxruntime as ort
    from monitor.estimator.contract import ModelContract, ModelContractError
    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types for files it cannot read
        raise ValueError(f"{option}: {path} is not a loadable ONNX model ({_short_ort_error(exc)})") from None
    try:
        contract = ModelContract.from_metadata(meta.custom_metadata_map, str(path))
    except ModelContractError as exc:
        raise ValueError(f"{option}: {exc}") from None
    if contract.task != task:
        raise ValueError(f"{option}: {path} is a model of task {contract.task}; {option} takes one of task {task}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else Path("runs") / time.strftime("bench-%Y%m%d-%H%M%S")
    if (out / "bench.json").exists():
        print(f"error: {out} already holds a benchmark; choose another --out", file=sys.stderr)
        return 2
    try:
        bench = Bench(args, out, argv)
        check_inputs(args)
        make_out_dir(out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = bench.run()
    from monitor.bench.report import write_outputs

    paths = write_outputs(out, result, plots=args.plots)
    say(f"outputs: {', '.join(str(p) for p in paths)}")
    return 0 if all(c["status"] in ("ok", "unavailable") for c in result["configs"]) else 1

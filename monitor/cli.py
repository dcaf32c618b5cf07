"""Command line of ``run_monitor.py``."""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from monitor.bus import Endpoints, Policy
from monitor.estimator.session import ENV_THREADS, resolve_providers
from monitor.display.export import write_exports
from monitor.display.stats import display_report, format_display
from monitor.display.x11 import can_open_display
from monitor.sources import DEFAULT_SOURCE, SourceError, parse_spec
from monitor.sources.labels import sidecar_of
from monitor.summary import SUMMARY_FILE, build_summary, format_summary, write_summary
from monitor.faults import parse_faults
from monitor.gaze.stage import DEFAULT_GAZE_SCORING, GAZE_SCORINGS
from monitor.gaze.state import UNKNOWN_POLICIES, DistractionConfig
from monitor.console import say
from monitor.preflight import check_inputs, make_out_dir, remove_unstarted_run
from monitor.supervisor import RunFailed, Supervisor
from monitor.workers.base import COMMAND, CONTROL, FATAL_EXIT_CODE, RunConfig, link_name

DESCRIPTION = """\
Real-time driver monitoring: capture -> ONNX estimator (body joints, head pose) -> gaze zones and
distraction timers -> results, each stage its own process on a ZeroMQ bus. With no options it
replays the built-in synthetic drive and writes results.jsonl and summary.json under runs/.
"""
EPILOG = """\
sources (--source):
  synthetic[:key=value,...]   procedural in-cabin drive with ground truth (default)
  PATH.dmsrec                 a recording made with --record (bit-exact replay)
  PATH.bag | PATH.db3         a RealSense recording (librealsense playback); with PATH.labels.jsonl
                              beside it (drive.db3.labels.jsonl or drive.labels.jsonl), evaluated
                              against those labels (docs/labels.md)
  realsense[:width=848,height=480,fps=30,emitter=on,serial=...]   a live RealSense camera

other commands:
  run_monitor.py bench ...        latency benchmark of the whole pipeline and its alternatives
                                  (`python run_monitor.py bench --help`, docs/benchmark.md)
  run_monitor.py keys --out DIR   make the CURVE key pair that --transport tcp needs (copy DIR to both boxes)
  run_monitor.py soak --minutes M run the pipeline for M minutes and report memory, drops, restarts, latency drift

exit codes:
  0    done
  1    the run could not go on: a worker kept crashing (restarted 5 times in a row), or a stage
       failed on 30 items in a row (e.g. the model on every frame); the message names it
  2    bad input, nothing written: bad option, missing/corrupt/wrong-format recording, missing,
       corrupt or mismatched model, invalid cabin layout or calibration file, missing keys
  130  stopped by SIGINT (Ctrl-C), 143 by SIGTERM
  A run that started (exit 0, 1, 130, 143) leaves complete outputs: every results line is whole.
"""


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line that says what is wrong and where to look, exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # no abbreviations: a prefix that matches today may become ambiguous when options are added
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


# tcp ports are handed out by position in this list; every process must see the same list
# (a name missing here would get a port that depends on the order a process asks for it)
TCP_NAMES = [CONTROL, COMMAND, *(link_name(p, c) for p, c in (
    ("capture", "estimator"), ("capture", "recorder"), ("capture", "display"),
    ("estimator", "gaze"), ("gaze", "sink"), ("gaze", "display")))]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="run_monitor.py", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=DEFAULT_SOURCE, metavar="SRC",
                   help="where frames come from (see 'sources' below; default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")
    p.add_argument("--max-frames", type=int, default=0, metavar="N",
                   help="stop after N frames (default 0: the whole source; a live camera runs until Ctrl-C)")
    p.add_argument("--headless", action="store_true",
                   help="no display window (automatic when there is no $DISPLAY)")
    p.add_argument("--video", action="store_true",
                   help="also write the overlay to OUT/overlay.mp4 (works headless; on a replay run "
                        "it holds every frame)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true", default=True,
                      help="replay recordings and synthetic scenes at their recorded rate (default)")
    pace.add_argument("--fast", dest="realtime", action="store_false",
                      help="replay as fast as the pipeline goes")
    p.add_argument("--policy", choices=[x.value for x in Policy],
                   help="live: every stage takes only the newest item, stale ones are dropped and "
                        "counted; replay: lossless, ordered, with backpressure "
                        "(default: live for a camera, replay otherwise)")
    p.add_argument("--providers", default="tensorrt,cuda,cpu", metavar="LIST",
                   help="ONNX Runtime execution providers in order of preference; unavailable ones "
                        "are reported and skipped (default: %(default)s)")
    p.add_argument("--io-binding", action="store_true", help="use ONNX Runtime IO binding")
    p.add_argument("--ort-threads", type=int, metavar="N",
                   help="intra-op threads per ONNX Runtime session (default: $DMS_ORT_THREADS, else 1, "
                        "because the pipeline's processes share the CPU; 0 = one per core)")
    p.add_argument("--body-model", default="", metavar="ONNX", help="body-joint model (default: shipped model)")
    p.add_argument("--head-model", default="", metavar="ONNX", help="head-pose model (default: shipped model)")
    p.add_argument("--eye-model", default="", metavar="ONNX|none",
                   help="eye-gaze model on IR eye crops: gaze zones from the eyes' ray, or from the head pose "
                        "where sunglasses hide the eyes (default: the shipped models/eye_gaze_ir.onnx, with the "
                        "eye locator its contract names next to it, eye_locate_ir.onnx; 'none': zones from the "
                        "head pose alone; docs/gaze_state.md)")
    p.add_argument("--cover-model", default="", metavar="ONNX|none",
                   help="face-cover model on the depth head crop: while a hand lies over the face the gaze "
                        "stage keeps the last head pose seen uncovered, for up to 3 s (default: the shipped "
                        "models/face_cover_depth.onnx; 'none': the head pose is used as read; docs/gaze_state.md)")
    p.add_argument("--body-flip-test", action="store_true",
                   help="run the body model on the frame and its mirror image and average (test-time flip: "
                        "better joints, twice the body inference; docs/models.md)")
    p.add_argument("--head-flip-test", action=argparse.BooleanOptionalAction, default=True,
                   help="run the head model on each crop and its mirror image and average the angles "
                        "(test-time flip: ~10%% lower head error for twice the head inference; "
                        "docs/models.md; default: on)")
    p.add_argument("--layout", default="", metavar="JSON",
                   help="cabin layout: camera pose and gaze zones (default: calib/layouts/synthetic_cabin.json; "
                        "see docs/cabin_layout.md)")
    p.add_argument("--driver-calibration", default="", metavar="JSON",
                   help="per-driver gaze calibration from `python -m calib driver-calibrate`")
    p.add_argument("--long-distraction-s", type=float, default=3.0, metavar="S",
                   help="off the road ahead this long in one glance raises a long distraction "
                        "(default: %(default)s, Euro NCAP)")
    p.add_argument("--vats-s", type=float, default=10.0, metavar="S",
                   help="off-road seconds, added up within --vats-window-s, that raise a VATS short "
                        "distraction (default: %(default)s)")
    p.add_argument("--vats-window-s", type=float, default=30.0, metavar="S",
                   help="the sliding window of --vats-s (default: %(default)s)")
    p.add_argument("--unknown-policy", choices=UNKNOWN_POLICIES, default="off_road",
                   help="a face not seen for over 0.5 s counts as off_road (default), on_road, or keeps the "
                        "last state (hold) in the distraction timers (docs/gaze_state.md)")
    p.add_argument("--gaze-scoring", choices=GAZE_SCORINGS, default=DEFAULT_GAZE_SCORING,
                   help="how the head-only gaze (no eyes, or eyes hidden behind sunglasses) is scored: head-space "
                        "(default: in head angles, allowing for how much a driver's head turn varies per glance, "
                        "with the eyes weighed by their own spread; zones are scored at their targets, which suits "
                        "small zones such as the synthetic cabin's) or ray (the head-to-gaze model's ray against "
                        "the zones; keep it for layouts with wide zones); docs/gaze_state.md")
    p.add_argument("--record", action="store_true",
                   help="also save the raw stream to OUT/recording.dmsrec for exact replay")
    p.add_argument("--no-shm", dest="shm", action="store_false",
                   help="ipc runs: send frame buffers through the sockets instead of the "
                        "shared-memory ring in /dev/shm")
    p.add_argument("--transport", choices=["ipc", "tcp"], default="ipc",
                   help="ipc sockets in a private run folder (default) or tcp on --tcp-host")
    p.add_argument("--tcp-host", default="127.0.0.1", help="tcp address to bind (default: %(default)s)")
    p.add_argument("--tcp-port", type=int, default=5550, help="first tcp port to use (default: %(default)s)")
    p.add_argument("--keys", default="", metavar="DIR",
                   help="CURVE key folder from `run_monitor.py keys --out DIR`; required with --transport tcp: "
                        "links are then authenticated and encrypted and other peers are refused")
    p.add_argument("--inject-delay", action="append", default=[], metavar="STAGE=MS",
                   help="add a known busy-wait of MS milliseconds per item to STAGE (capture, "
                        "estimator, gaze, sink, display); used to check the latency figures themselves")
    p.add_argument("--inject-fault", action="append", default=[], metavar="FAULT",
                   help="test a failure path: source-unplug=FRAME:SECONDS (the camera disappears after "
                        "FRAME frames for SECONDS), model-error=FRAME:COUNT (the model fails on COUNT frames) or "
                        "estimator-hang=FRAME:SECONDS (the estimator freezes)")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def parse_delays(items: list[str]) -> dict[str, float]:
    delays = {}
    for item in items:
        stage, sep, ms = item.partition("=")
        if not sep or stage not in ("capture", "estimator", "gaze", "sink", "display"):
            raise ValueError(f"--inject-delay {item!r}: use STAGE=MS with STAGE one of capture, estimator, gaze, "
                             "sink, display")
        try:
            delays[stage] = float(ms)
        except ValueError:
            raise ValueError(f"--inject-delay {item!r}: {ms!r} is not a number of milliseconds") from None
    return delays


def default_out_dir() -> Path:
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from monitor.bench.pipeline import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["keys"]:
        from monitor.security import keys_main
        return keys_main(argv[1:])
    if argv[:1] == ["soak"]:
        from monitor.bench.soak import main as soak_main
        return soak_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s supervisor: %(message)s", datefmt="%H:%M:%S")
    try:
        kind, _ = parse_spec(args.source)
        if args.max_frames < 0:
            raise ValueError("--max-frames must be >= 0")
        if args.ort_threads is not None and args.ort_threads < 0:
            raise ValueError("--ort-threads must be >= 0")
        providers = [p.strip() for p in args.providers.split(",") if p.strip()]
        if not providers:
            raise ValueError("--providers needs at least one provider, e.g. cpu")
        try:
            resolve_providers(providers)
        except ValueError as exc:
            raise ValueError(f"--providers: {exc}") from None
        args.providers = ",".join(providers)  # checked and without blanks from here on
        distraction_thresholds(args)  # checked before anything is made; run_pipeline takes them again
        delays = parse_delays(args.inject_delay)
        faults = parse_faults(args.inject_fault)
        from monitor.estimator.model_files import resolve_cover_model, resolve_eye_model
        args.eye_model = resolve_eye_model(args.eye_model)
        args.cover_model = resolve_cover_model(args.cover_model)
        check_inputs(args, kind)
    except (SourceError, ValueError) as exc:  # RecordingError, layout and key errors are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Workers inherit the environment: that is how the setting reaches every session.
    if args.ort_threads is not None:
        os.environ[ENV_THREADS] = str(args.ort_threads)
    os.environ.setdefault(ENV_THREADS, "1")
    out = Path(args.out) if args.out else default_out_dir()
    if (out / "results.jsonl").exists():
        print(f"error: {out} already holds a run; choose another --out", file=sys.stderr)
        return 2
    # From here until the run's files are complete a Ctrl-C or SIGTERM is held back (deferred_stop):
    # before the supervisor runs it cancels the start; while it runs the supervisor handles it (the
    # workers stop, exit 130/143); after it, the summary and the exports are still written whole.
    with deferred_stop() as interrupted:
        return run_pipeline(args, kind, out, delays, faults, interrupted)


def distraction_thresholds(args: argparse.Namespace) -> dict[str, Any]:
    """The distraction rules' settings the options give (DistractionConfig's fields), checked."""
    thresholds = {"long_s": args.long_distraction_s, "vats_threshold_s": args.vats_s,
                  "vats_window_s": args.vats_window_s, "unknown_policy": args.unknown_policy}
    if not all(math.isfinite(v) for v in thresholds.values() if isinstance(v, float)):
        raise ValueError("--long-distraction-s, --vats-s and --vats-window-s must be finite numbers of seconds")
    try:
        DistractionConfig(**thresholds)
    except ValueError as exc:
        raise ValueError(f"distraction thresholds (--long-distraction-s, --vats-s, --vats-window-s): {exc}") from None
    return thresholds


@contextlib.contextmanager
def deferred_stop() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are recorded in the yielded list instead of stopping the process."""
    got: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_pipeline(args: argparse.Namespace, kind: str, out: Path, delays: dict[str, float],
                 faults: dict[str, list[float]], interrupted: list[int]) -> int:
    """Create the output folder, run the supervisor and write the summary and exports (``delays``
    and ``faults``: the parsed --inject-delay and --inject-fault)."""
    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        make_out_dir(out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in ("results.jsonl", "events.jsonl"):
        (out / name).touch()
    policy = args.policy or (Policy.LIVE.value if kind == "realsense" else Policy.REPLAY.value)
    endpoints = Endpoints.create_private(args.transport, host=args.tcp_host, base_port=args.tcp_port,
                                         keys=str(Path(args.keys).resolve()) if args.keys else None,
                                         names=TCP_NAMES)
    config = RunConfig(
        endpoints=endpoints.to_json(), policy=policy, out_dir=str(out), source=args.source,
        realtime=args.realtime, max_frames=args.max_frames, body_model=args.body_model,
        head_model=args.head_model, eye_model=args.eye_model, cover_model=args.cover_model,
        providers=args.providers.split(","),
        io_binding=args.io_binding, body_flip_test=args.body_flip_test,
        head_flip_test=args.head_flip_test, shm=args.shm, record=args.record,
        delay_ms=delays, layout=args.layout, driver_calibration=args.driver_calibration, faults=faults,
        distraction=distraction_thresholds(args), gaze_scoring=args.gaze_scoring)
    config.window = not args.headless and bool(os.environ.get("DISPLAY"))
    if config.window and not can_open_display(os.environ["DISPLAY"]):
        print(f"warning: cannot open the X display {os.environ['DISPLAY']!r}: no overlay window "
              "(use --headless to silence this)", file=sys.stderr)
        config.window = False
    config.video = args.video
    config.display = config.window or config.video
    roles = ["capture", *(["recorder"] if args.record else []), "estimator", "gaze", "sink",
             *(["display"] if config.display else [])]
    supervisor = Supervisor(config, roles, endpoints)
    if interrupted:  # a Ctrl-C or SIGTERM before any worker started: the run does not start
        supervisor.ctx.term()
        endpoints.remove()
        remove_unstarted_run(out, created)
        print("interrupted before the run started; nothing was written", file=sys.stderr)
        return 128 + interrupted[0]
    say(f"running {args.source} -> {out} ({policy} mode, {args.transport})")
    try:
        code = supervisor.run()
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    if code == FATAL_EXIT_CODE and remove_unstarted_run(out, created):
        return code  # bad input found by a worker before any frame went through: nothing is left behind
    run_info = {"source": args.source, "policy": policy, "realtime": args.realtime,
                "layout": args.layout or "default", "driver_calibration": args.driver_calibration or None,
                "distraction": config.distraction, "gaze_scoring": config.gaze_scoring,
                "transport": args.transport, "wall_s": round((supervisor.ended_at or time.monotonic())
                                                             - supervisor.started_at, 3)}
    if kind == "rsfile" and (sidecar := sidecar_of(args.source)) is not None:
        run_info["labels"] = str(sidecar)  # the labels file the replay carried as truth
    reports = supervisor.worker_reports()
    summary = build_summary(out, reports, code, run_info)
    if config.display:
        summary["display"] = display_report(reports)
    write_summary(out, summary)
    write_exports(out, summary)  # before anything is printed: a closed stdout must not cost a file
    # every file the run left (exports, recording, video, snapshots), the main ones first
    order = {name: i for i, name in enumerate(("results.jsonl", "events.jsonl", SUMMARY_FILE))}
    files = sorted((p for p in out.iterdir() if p.is_file()), key=lambda p: (order.get(p.name, len(order)), p.name))
    report = [format_summary(summary), *([format_display(summary["display"])] if config.display else []),
              "outputs: " + ", ".join(str(p) for p in files)]
    say("\n".join(report))  # piped into `head`, say: the run and its files are complete all the same
    return code


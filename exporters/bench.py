"""Speed of the shipped models through ONNX Runtime (CPU by default), opencv_zoo style: every model
behind the same `OnnxModel.run`, one loop times them all.

    python -m exporters.bench [--models models] [--full runs/untrained/body_vgg19_t6.onnx] [--providers cpu]

Prints per-model inference latency (batch 1, median and p90 over --runs) and the whole per-frame
estimator (`PoseEstimator.estimate`: pre-processing, body net, decoding, 3D lifting, head crop,
head net; no eye stage) on an 848x480 depth + IR frameset: the synthetic drive's first frame (a
driver in the seat, so the head runs), or the first frame of a train.data pack with --pack. The
first line records the command. Figures depend on the machine and on its load.
"""
from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import ModelLoadError, OnnxModel
from monitor.frames import FrameSet


def _time(fn, runs: int, warmup: int = 5) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1000.0)
    return float(np.median(t)), float(np.percentile(t, 90))


def bench_frameset(width: int = 848, height: int = 480, seed: int = 0) -> FrameSet:
    """The synthetic drive's first frame (~0.4 s to render): a driver the body model finds, so
    estimate() times the head path too (a depth blob, used before, found no body and skipped it)."""
    from monitor.sources import open_source

    source = open_source(f"synthetic:seed={seed},width={width},height={height},frames=1")
    try:
        return next(iter(source))
    finally:
        source.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models", help="folder with body_lite.onnx and head_poseidon_*.onnx")
    ap.add_argument("--full", default="runs/untrained/body_vgg19_t6.onnx",
                    help="full VGG body model (python -m exporters.export --untrained writes one)")
    ap.add_argument("--providers", default="cpu")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = its default)")
    ap.add_argument("--pack", default=None, help="time estimate() on the first frame of this train.data pack "
                    "instead of the synthetic drive's first frame")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    providers = [p.strip() for p in args.providers.split(",")]
    models = Path(args.models)
    paths = sorted(models.glob("*.onnx")) if models.is_dir() else []
    if Path(args.full).is_file():
        paths.append(Path(args.full))
    frameset = None
    try:
        # checked before the header: bad input gives one line and no (empty) table
        if args.runs < 1:
            raise ValueError(f"--runs must be >= 1 (got {args.runs})")
        if args.threads < 0:
            raise ValueError(f"--threads must be >= 0 (got {args.threads})")
        if not models.is_dir():
            raise ValueError(f"--models {models}: no such folder")
        if not paths:
            raise ValueError(f"--models {models} holds no .onnx models (and --full {args.full} is missing)")
        if args.pack:
            from train.data import load_pack
            if not Path(args.pack).is_file():
                raise ValueError(f"--pack {args.pack}: no such file")
            r = next(iter(load_pack(args.pack)), None)
            if r is None or r.depth is None:
                raise ValueError(f"--pack {args.pack} holds no depth frame")
            frameset = FrameSet("bench", 0, 0.0, {"depth": r.depth, "ir": r.ir},
                                {"depth": r.intrinsics, "ir": r.intrinsics}, r.depth_unit_mm)
        loaded = {path.name: OnnxModel(path, providers, intra_op_threads=args.threads) for path in paths}
    except (ValueError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # the command goes in the header, so a table pasted into models/bench.md says how to remake it
    print(f"# exporters.bench on {platform.processor() or platform.machine()}, providers={providers}, "
          f"threads={args.threads or 'default'}, runs={args.runs}, frame: "
          f"{f'first of {args.pack}' if args.pack else 'synthetic drive seed 0, frame 0'}; "
          f"`{shlex.join(['python', '-m', 'exporters.bench', *argv])}`")
    print("| model | input | median ms | p90 ms |")
    print("|---|---|---|---|")
    for path in paths:
        m = loaded[path.name]
        x = np.random.default_rng(0).uniform(0, 1, m.input_shape()).astype(np.float32)
        med, p90 = _time(lambda: m.run(x), args.runs if "vgg" not in path.name else max(args.runs // 10, 10))
        c = m.contract
        print(f"| {path.name} | {c.width}x{c.height} | {med:.2f} | {p90:.2f} |")
    if frameset is None:
        frameset = bench_frameset()
    for head_name in ("head_poseidon_ir.onnx", "head_poseidon_depth.onnx"):
        for body_name in ("body_lite.onnx", Path(args.full).name):
            if body_name not in loaded or head_name not in loaded:
                continue
            for head_flip in (True, False):  # the runtime's default (test-time flip) and without
                est = PoseEstimator(loaded[body_name], loaded[head_name], head_flip_test=head_flip)
                out = est.estimate(frameset)
                if out.head is None and not head_flip:
                    continue  # the head did not run: the same figure as the row above
                runs = args.runs if "vgg" not in body_name else max(args.runs // 10, 10)
                med, p90 = _time(lambda: est.estimate(frameset), runs)
                print(f"| estimate(): {body_name} + {head_name} (head {'ran' if out.head else 'skipped'}"
                      f"{', flip' if head_flip else ', no flip'}) | "
                      f"{frameset.images['depth'].shape[1]}x{frameset.images['depth'].shape[0]} frame | "
                      f"{med:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()

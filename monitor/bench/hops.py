"""What the per-frame Python work between the models costs, back to back and after idling.

    python -m monitor.bench.hops [--rounds 300 --idle-ms 33.3 --seed 0]

Times, in one process, the steps a frame's results go through after inference (docs/performance.md):
encoding the estimates message, decoding and checking it (the gaze worker's side), the gaze/state
stage, encoding the states message and decoding it (the sink's side), on messages of the real shape
and size (a synthetic drive's frames, its truth standing in for the estimates, its label tree
carried as the pipeline carries it). Each round is timed twice: right after the previous round
(warm) and with a sleep of ``--idle-ms`` before every step, as each step's process idles between
frames at 30 fps. The ratio of the two is the after-idle penalty that makes the pipeline's overhead
about twice its warm-loop figures on a shared VM. ZeroMQ itself is not in these figures
(`python -m monitor.bench.transport`).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import numpy as np

from calib.layout import DEFAULT_LAYOUT, load_layout
from monitor.estimates import JOINTS_21, Estimates, EyeGaze, HeadPose, Joints
from monitor.gaze.stage import GazeStateStage
from monitor.latency import percentiles
from monitor.validate import estimates_from_meta
from monitor.wire import Message, decode, encode

STEPS = ("estimates encode", "estimates decode + check", "gaze stage", "states encode", "states decode")


def estimates_from_truth(truth: dict[str, Any]) -> Estimates:
    """Estimates shaped as the estimator's, filled from a synthetic frame's labels."""
    h, j, g = truth["head"], truth["joints"], truth["gaze"]
    u, v = h["center_px"]
    head = HeadPose(h["yaw_deg"], h["pitch_deg"], h["roll_deg"], np.array(h["rotation"], float),
                    np.array(h["position_mm"], float), (u, v), (u - 100.0, v - 100.0, u + 100.0, v + 100.0))
    uv = np.array([[np.nan, np.nan] if p[0] is None else p for p in j["uv"][:21]], float)
    joints = Joints(JOINTS_21, uv, np.array(j["xyz_mm"][:21], float), np.ones(21))
    eyes = EyeGaze(np.array(g["origin_mm"], float), np.array(g["direction"], float), (0.0, 0.0), 3.8, 0.01)
    return Estimates(head, joints, eyes)


class HopSteps:
    """One frame's post-inference steps as separate callables, over a cycle of prepared frames."""

    def __init__(self, frames: list[tuple[Estimates, str]], fps: float) -> None:
        self.frames, self.period_s = frames, 1.0 / fps
        self.stage = GazeStateStage(load_layout(DEFAULT_LAYOUT))
        self.n = 0
        self._parts: list[Any] = []
        self._meta: dict[str, Any] = {}

    def run(self, idle_s: float = 0.0) -> dict[str, float]:
        """One round: every step in order, each timed (seconds); with ``idle_s``, a sleep before
        each step (untimed), as each runs in a process of its own that idled since its last frame."""
        estimates, truth_text = self.frames[self.n % len(self.frames)]
        times: dict[str, float] = {}
        timed: list[tuple[str, Callable[[], None]]] = [
            ("estimates encode", lambda: self._encode_estimates(estimates, truth_text)),
            ("estimates decode + check", self._decode_estimates),
            ("gaze stage", self._gaze),
            ("states encode", self._encode_states),
            ("states decode", lambda: decode(self._parts)),
        ]
        for name, step in timed:
            if idle_s:
                time.sleep(idle_s)
            t0 = time.perf_counter()
            step()
            times[name] = time.perf_counter() - t0
        self.n += 1
        return times

    def _encode_estimates(self, estimates: Estimates, truth_text: str) -> None:
        meta = {"estimates": estimates.to_json(), "timings_ms": {"body": 4.5, "head": 2.5, "pre_post": 1.8},
                "providers": ["CPUExecutionProvider"], "truth_json": truth_text}
        stamps = {"capture.in": 1, "capture.out": 2, "estimator.in": 3, "estimator.out": 4}
        self._parts = encode(Message("estimates", "synthetic", self.n, self.n * self.period_s * 1000.0, stamps, meta))

    def _decode_estimates(self) -> None:
        msg = decode(self._parts)
        self._meta = dict(msg.meta)
        self._estimates = estimates_from_meta(self._meta)

    def _gaze(self) -> None:
        self._result = self.stage.process(self._estimates, self.n * self.period_s)

    def _encode_states(self) -> None:
        gaze, state, events = self._result
        self._meta.update(gaze=gaze.to_json(), state=state.to_json(), events=[e.to_json() for e in events])
        self._parts = encode(Message("states", "synthetic", self.n, 0.0, {}, self._meta))


def measure(rounds: int, idle_s: float, seed: int = 0, frames: int = 30) -> dict[str, dict[str, dict[str, float]]]:
    """p50/p99/... per step in microseconds, ``warm`` (back to back) and ``after_idle``."""
    from monitor.sources.synthetic import open_synthetic

    source = open_synthetic(seed=str(seed), scenario="drive", frames=str(frames))
    prepared = [(estimates_from_truth(fs.truth), json.dumps(fs.truth, separators=(",", ":"))) for fs in source]
    steps = HopSteps(prepared, source.scene.fps)
    for _ in range(20):  # imports, first calls
        steps.run()
    samples: dict[str, dict[str, list[float]]] = {"warm": {s: [] for s in STEPS}, "after_idle": {s: [] for s in STEPS}}
    for _ in range(rounds):
        steps.run()  # makes the next round's caches warm
        for name, t in steps.run().items():
            samples["warm"][name].append(t * 1e6)
        for name, t in steps.run(idle_s).items():
            samples["after_idle"][name].append(t * 1e6)
    return {mode: {name: percentiles(v) for name, v in per_step.items()} for mode, per_step in samples.items()}


def format_table(result: dict[str, dict[str, dict[str, float]]], idle_ms: float) -> str:
    lines = [f"| step (us) | warm p50 | warm p99 | after {idle_ms:.1f} ms idle p50 | after idle p99 | ratio p50 |",
             "|---|---|---|---|---|---|"]
    totals = {"warm": 0.0, "after_idle": 0.0}
    for name in STEPS:
        w, a = result["warm"][name], result["after_idle"][name]
        totals["warm"] += w["p50"]
        totals["after_idle"] += a["p50"]
        lines.append(f"| {name} | {w['p50']:.0f} | {w['p99']:.0f} | {a['p50']:.0f} | {a['p99']:.0f} | "
                     f"{a['p50'] / max(w['p50'], 1e-9):.1f}x |")
    lines.append(f"| all steps (sum of p50) | {totals['warm']:.0f} | | {totals['after_idle']:.0f} | | "
                 f"{totals['after_idle'] / max(totals['warm'], 1e-9):.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + " (see the module docstring).")
    ap.add_argument("--rounds", type=int, default=300, help="timed rounds per mode (default: %(default)s)")
    ap.add_argument("--idle-ms", type=float, default=1000.0 / 30.0,
                    help="sleep before each step of an after-idle round, ms (default: one 30 fps period, 33.3)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic drive whose frames are used (default: 0)")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.idle_ms < 0:
        ap.error("--rounds must be >= 1 and --idle-ms >= 0")
    result = measure(a.rounds, a.idle_ms / 1000.0, a.seed)
    print(format_table(result, a.idle_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pure functions: per-frame benchmark figures from results.jsonl records.

The per-stage columns partition the end-to-end latency exactly (capture + transports + estimator +
gaze = sink.in - capture.in), and the estimator is split again into model inference (one column
per model, from the estimator's ``timings_ms``) and its own pre/post-processing. "Overhead" is
everything but model inference: end to end minus the inference times of that frame.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from monitor.latency import percentiles

# timings_ms keys that are not a model's inference (the rest are: one key per model)
NON_INFERENCE_KEYS = frozenset({"pre", "post", "pre_post", "total", "decode"})
CAPTURE = "capture"
PRE_POST = "estimator.pre_post"
E2E = "end_to_end"
OVERHEAD = "overhead"
SCHEDULE_LAG = "schedule_lag"
E2E_SCHEDULED = "end_to_end_from_schedule"
# the stages in data-flow order; inference columns ("infer.<model>") go after PRE_POST
FLOW_BEFORE = (CAPTURE, "transport.capture>estimator", PRE_POST)
FLOW_AFTER = ("transport.estimator>gaze", "gaze", "transport.gaze>sink")


def inference_ms(timings: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in timings.items() if k not in NON_INFERENCE_KEYS}


def frame_figures(record: dict[str, Any]) -> dict[str, float]:
    """One frame's figures (ms): every stage, each model's inference, end to end, overhead."""
    lat = record.get("latency_ms") or {}
    out = {k: float(v) for k, v in lat.items() if k != "estimator"}
    infer = inference_ms(record.get("timings_ms") or {})
    for name, ms in infer.items():
        out[f"infer.{name}"] = ms
    if "estimator" in lat:
        out[PRE_POST] = float(lat["estimator"]) - sum(infer.values())
    if E2E in lat:
        out[OVERHEAD] = float(lat[E2E]) - sum(infer.values())
    return out


def stage_order(keys: Iterable[str]) -> list[str]:
    """Component stages in data-flow order (the ones that add up to end to end)."""
    keys = set(keys)
    infer = sorted(k for k in keys if k.startswith("infer."))
    return [k for k in (*FLOW_BEFORE[:2], *infer, FLOW_BEFORE[2], *FLOW_AFTER) if k in keys]


def is_measured(record: dict[str, Any], warmup: int) -> bool:
    """A frame after the warm-up, by its frame id (the paced recordings number frames 0.. in
    order): not by its line in results.jsonl, which would count later frames as warm-up whenever
    a warm-up frame was lost (live policy, an error)."""
    return int(record.get("frame", -1)) >= warmup and record.get("capture_ns") is not None


def measured(records: Sequence[dict[str, Any]], warmup: int) -> list[dict[str, Any]]:
    return [r for r in records if is_measured(r, warmup)]


def collect(records: Sequence[dict[str, Any]], warmup: int, paced: bool = True) -> dict[str, list[float]]:
    """Per-figure samples over the measured frames (`is_measured`: frame ids from ``warmup`` on).
    Adds the schedule lag: how late each frame was captured against its recorded time, which
    grows when a replayed pipeline cannot keep up with the rate (backpressure slows the source),
    and end to end counted from that due time, the latency a camera's frame would see: a design
    that falls behind shows it there whether its frames wait in a queue (multi-process) or
    before the loop picks them up (single loop). Unpaced runs (``paced=False``) have no due times."""
    samples: dict[str, list[float]] = {}
    origin = None
    for record in records:
        cap, ts = record.get("capture_ns"), record.get("device_ts_ms")
        if origin is None and cap is not None and ts is not None:
            origin = (cap, ts)
        if not is_measured(record, warmup):
            continue
        for key, value in frame_figures(record).items():
            samples.setdefault(key, []).append(value)
        if paced and origin is not None and cap is not None and ts is not None:
            lag = (cap - origin[0]) / 1e6 - (ts - origin[1])
            samples.setdefault(SCHEDULE_LAG, []).append(lag)
            e2e = (record.get("latency_ms") or {}).get(E2E)
            if e2e is not None:  # what a camera would see: result time minus the frame's due time
                samples.setdefault(E2E_SCHEDULED, []).append(float(e2e) + lag)
    return samples


def rates(records: Sequence[dict[str, Any]], warmup: int) -> dict[str, float | None]:
    """Frames per second in (capture) and out (arrival at the sink) over the measured frames."""
    frames = measured(records, warmup)
    if len(frames) < 2:
        return {"capture_fps": None, "output_fps": None}
    cap = np.array([r["capture_ns"] for r in frames], dtype=np.float64)
    e2e = np.array([(r.get("latency_ms") or {}).get(E2E, 0.0) for r in frames]) * 1e6
    done = cap + e2e
    span_in, span_out = cap.max() - cap.min(), done.max() - done.min()
    return {"capture_fps": round((len(cap) - 1) / span_in * 1e9, 2) if span_in > 0 else None,
            "output_fps": round((len(cap) - 1) / span_out * 1e9, 2) if span_out > 0 else None}


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {k: percentiles(v) for k, v in sorted(samples.items())}


def mean_breakdown(samples: dict[str, list[float]]) -> dict[str, float]:
    """Mean ms per component stage over all measured frames (a model that did not run on a frame,
    e.g. no head found, counts 0 there), so the means add up to the mean end to end."""
    n = len(samples.get(E2E, []))
    if not n:
        return {}
    return {k: float(np.sum(samples[k])) / n for k in stage_order(samples) if samples[k]}

"""Pure functions turning per-stage monotonic stamps into latency figures.

Stamps are named ``<stage>.in`` (item received or grabbed) and ``<stage>.out`` (about to be
sent). A stage's own latency is out - in; the transport between consecutive stages is
next.in - previous.out; end to end is the last stage's ``in`` minus ``capture.in``.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

PIPELINE_STAGES = ("capture", "estimator", "gaze", "sink")


def stage_latencies_ms(stamps: Mapping[str, int], stages: Sequence[str] = PIPELINE_STAGES) -> dict[str, float]:
    out: dict[str, float] = {}
    previous: str | None = None
    for stage in stages:
        t_in, t_out = stamps.get(f"{stage}.in"), stamps.get(f"{stage}.out")
        if t_in is None:
            continue
        if previous is not None and f"{previous}.out" in stamps:
            out[f"transport.{previous}>{stage}"] = (t_in - stamps[f"{previous}.out"]) / 1e6
        if t_out is not None:
            out[stage] = (t_out - t_in) / 1e6
        previous = stage
    if previous is not None and "capture.in" in stamps:
        out["end_to_end"] = (stamps[f"{previous}.in"] - stamps["capture.in"]) / 1e6
    return out


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of a sample (ms), rounded to microseconds; empty -> n=0 only."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(a.max()), 3), "mean": round(float(a.mean()), 3)}

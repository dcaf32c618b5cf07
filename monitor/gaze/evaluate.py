"""Scoring gaze/state output against ground truth (for summaries such as summary.json).

Pure functions over plain sequences: per-frame zone labels with times, and event start times.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from monitor.gaze.types import DistractionEvent


def dwell_mask(truth: Sequence[str | None], times_s: Sequence[float], margin_s: float = 0.5,
               end_margin_s: float | None = None) -> np.ndarray:
    """True for frames at least ``margin_s`` after the start and ``end_margin_s`` (default: the
    same) before the end of their constant-truth segment: where the driver dwells on a zone
    rather than moving between zones."""
    t = np.asarray(times_s, dtype=np.float64)
    if len(truth) != len(t):
        raise ValueError(f"{len(truth)} labels but {len(t)} times")
    end = margin_s if end_margin_s is None else end_margin_s
    mask = np.zeros(len(t), dtype=bool)
    start = 0
    for i in range(1, len(t) + 1):
        if i == len(t) or truth[i] != truth[start]:
            seg_start, seg_end = t[start], t[i - 1]
            mask[start:i] = (t[start:i] >= seg_start + margin_s) & (t[start:i] <= seg_end - end)
            start = i
    return mask


def confusion_matrix(truth: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None,
                     mask: np.ndarray | None = None) -> dict[str, Any]:
    """{"labels": [...], "matrix": rows = truth, columns = prediction, "accuracy": float, "n": int}.
    Predicted labels not in ``labels`` (e.g. "other", "unknown") get their own columns and rows."""
    if len(truth) != len(pred):
        raise ValueError(f"{len(truth)} truth labels but {len(pred)} predictions")
    keep = np.ones(len(truth), bool) if mask is None else np.asarray(mask, bool)
    pairs = [(a, b) for a, b, k in zip(truth, pred, keep) if k]
    names = list(labels) if labels is not None else []
    for a, b in pairs:
        for x in (a, b):
            if x not in names:
                names.append(x)
    index = {n: i for i, n in enumerate(names)}
    m = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, b in pairs:
        m[index[a], index[b]] += 1
    n = int(m.sum())
    return {"labels": names, "matrix": m.tolist(), "n": n,
            "accuracy": float(np.trace(m) / n) if n else float("nan")}


@dataclass
class EventMatch:
    matched: list[tuple[float, float]]   # (truth start, predicted start)
    missed: list[float]                  # truth starts without a prediction
    false: list[float]                   # predicted starts without a truth episode

    @property
    def max_start_error_s(self) -> float:
        return max((abs(p - t) for t, p in self.matched), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {"matched": [list(x) for x in self.matched], "missed": self.missed, "false": self.false,
                "max_start_error_s": self.max_start_error_s}


def match_events(pred: Sequence[DistractionEvent], truth_starts_s: Sequence[float], kind: str,
                 tol_s: float = 0.3, field: str = "start_s") -> EventMatch:
    """Greedy one-to-one matching of predicted ``kind`` start events (by ``field``: "start_s" or
    "criterion_met_s") to truth start times within ``tol_s``."""
    starts = sorted(getattr(e, field) for e in pred if e.kind == kind and e.phase == "start")
    free = list(starts)
    matched, missed = [], []
    for t in sorted(truth_starts_s):
        best = min(free, key=lambda p: abs(p - t), default=None)
        if best is not None and abs(best - t) <= tol_s:
            matched.append((float(t), float(best)))
            free.remove(best)
        else:
            missed.append(float(t))
    return EventMatch(matched, missed, [float(p) for p in free])

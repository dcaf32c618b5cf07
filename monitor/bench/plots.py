"""PNG plots drawn with OpenCV and numpy (no plotting library): latency CDF per stage, stacked
per-stage bars across configurations, latency over time."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from monitor.bench import stats

W, H = 1100, 620
MARGIN = (90, 60, 60, 250)  # left, top, bottom, right (legend)
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140),
           (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]  # BGR, tab10
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _nice_ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    span = max(hi - lo, 1e-9)
    step = 10 ** np.floor(np.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    return np.arange(np.ceil(lo / step) * step, hi + step * 0.001, step)


class Axes:
    """A canvas with linear axes; data -> pixel mapping, ticks, labels and a legend."""

    def __init__(self, title: str, xlabel: str, ylabel: str, xlim: tuple[float, float],
                 ylim: tuple[float, float], log_x: bool = False) -> None:
        self.img = np.full((H, W, 3), 255, np.uint8)
        self.x0, self.y0 = MARGIN[0], H - MARGIN[2]
        self.x1, self.y1 = W - MARGIN[3], MARGIN[1]
        self.xlim, self.ylim = xlim, ylim
        cv2.rectangle(self.img, (self.x0, self.y1), (self.x1, self.y0), (0, 0, 0), 1)
        cv2.putText(self.img, title, (self.x0, 22), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(self.img, xlabel, ((self.x0 + self.x1) // 2 - 60, H - 15), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(self.img, ylabel, (5, self.y1 - 8), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for t in _nice_ticks(*xlim):
            x = self.px(t, ylim[0])[0]
            cv2.line(self.img, (x, self.y0), (x, self.y1), (230, 230, 230), 1)
            cv2.putText(self.img, f"{t:g}", (x - 12, self.y0 + 18), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for t in _nice_ticks(*ylim):
            y = self.px(xlim[0], t)[1]
            cv2.line(self.img, (self.x0, y), (self.x1, y), (230, 230, 230), 1)
            cv2.putText(self.img, f"{t:g}", (self.x0 - 55, y + 4), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.rectangle(self.img, (self.x0, self.y1), (self.x1, self.y0), (0, 0, 0), 1)
        self.legend_y = self.y1 + 10

    def px(self, x: float, y: float) -> tuple[int, int]:
        fx = (x - self.xlim[0]) / max(self.xlim[1] - self.xlim[0], 1e-12)
        fy = (y - self.ylim[0]) / max(self.ylim[1] - self.ylim[0], 1e-12)
        return (int(round(self.x0 + fx * (self.x1 - self.x0))), int(round(self.y0 - fy * (self.y0 - self.y1))))

    def line(self, xs: Sequence[float], ys: Sequence[float], color: tuple[int, int, int], thickness: int = 2) -> None:
        pts = np.array([self.px(x, y) for x, y in zip(xs, ys) if np.isfinite(x) and np.isfinite(y)], np.int32)
        if len(pts) > 1:
            cv2.polylines(self.img, [pts.clip([self.x0, self.y1], [self.x1, self.y0])], False, color, thickness,
                          cv2.LINE_AA)

    def legend(self, label: str, color: tuple[int, int, int]) -> None:
        y = self.legend_y
        cv2.rectangle(self.img, (self.x1 + 12, y - 9), (self.x1 + 28, y + 3), color, -1)
        cv2.putText(self.img, label[:32], (self.x1 + 34, y + 2), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        self.legend_y += 20


def cdf_plot(entry: dict[str, Any]) -> np.ndarray:
    samples = entry.get("samples", {})
    keys = [*stats.stage_order(samples), stats.E2E, stats.OVERHEAD]
    keys = [k for k in keys if samples.get(k)]
    hi = max((float(np.percentile(samples[k], 99.9)) for k in keys), default=1.0) * 1.05
    ax = Axes(f"latency CDF per stage: {entry['name']}", "latency (ms)", "fraction of frames", (0.0, hi), (0.0, 1.0))
    for i, k in enumerate(keys):
        v = np.sort(np.asarray(samples[k], dtype=np.float64))
        color = PALETTE[i % len(PALETTE)]
        ax.line(v, np.arange(1, len(v) + 1) / len(v), color, 3 if k == stats.E2E else 2)
        ax.legend(k, color)
    return ax.img


def stacked_bars(entries: list[dict[str, Any]]) -> np.ndarray:
    keys: list[str] = []
    for e in entries:
        for k in e["breakdown_mean_ms"]:
            if k not in keys:
                keys.append(k)
    keys = stats.stage_order(keys)
    totals = [sum(e["breakdown_mean_ms"].values()) for e in entries]
    p99 = [e["latency_ms"].get(stats.E2E, {}).get("p99", 0.0) for e in entries]
    hi = max([*totals, *p99, 1.0]) * 1.1
    ax = Axes("mean ms per stage (bars) and end-to-end p99 (dash)", "configuration", "ms", (0, len(entries)), (0, hi))
    width = 0.6
    for j, e in enumerate(entries):
        bottom = 0.0
        for i, k in enumerate(keys):
            v = e["breakdown_mean_ms"].get(k, 0.0)
            a, b = ax.px(j + 0.5 - width / 2, bottom), ax.px(j + 0.5 + width / 2, bottom + v)
            cv2.rectangle(ax.img, (a[0], b[1]), (b[0], a[1]), PALETTE[i % len(PALETTE)], -1)
            bottom += v
        y = ax.px(0, p99[j])[1]
        cv2.line(ax.img, (ax.px(j + 0.2, 0)[0], y), (ax.px(j + 0.8, 0)[0], y), (0, 0, 0), 2)
        label = str(j + 1)
        cv2.putText(ax.img, label, (ax.px(j + 0.5, 0)[0] - 5, ax.y0 + 36), FONT, 0.45, (0, 0, 120), 1, cv2.LINE_AA)
    for i, k in enumerate(keys):
        ax.legend(k, PALETTE[i % len(PALETTE)])
    ax.legend_y += 10
    for j, e in enumerate(entries):
        if ax.legend_y > H - 20:
            break
        cv2.putText(ax.img, f"{j + 1}: {e['name']}"[:40], (ax.x1 + 12, ax.legend_y), FONT, 0.36, (0, 0, 120), 1,
                    cv2.LINE_AA)
        ax.legend_y += 16
    return ax.img


def timeline(entry: dict[str, Any]) -> np.ndarray:
    s = entry.get("series", {})
    t, e2e, inf = (np.asarray(s.get(k, []), dtype=np.float64) for k in ("t_s", "end_to_end", "inference"))
    hi = float(np.nanmax(e2e)) * 1.1 if e2e.size else 1.0
    ax = Axes(f"latency over time: {entry['name']}", "time since first measured frame (s)", "ms",
              (0.0, float(t.max()) if t.size else 1.0), (0.0, hi))
    ax.line(t, e2e, PALETTE[0])
    ax.legend("end to end", PALETTE[0])
    ax.line(t, inf, PALETTE[1])
    ax.legend("model inference", PALETTE[1])
    return ax.img


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def write_plots(folder: Path, result: dict[str, Any]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    entries = [c for c in result["configs"] if c.get("status") != "unavailable" and c.get("breakdown_mean_ms")]
    for pair in (result.get("baselines") or {}).get("single_loop", []):
        for e in (pair.get("single_loop"), pair.get("pipeline_run")):
            if e and e.get("breakdown_mean_ms"):
                entries.append(e)
    paths = []
    paced = [e for e in entries if e["params"].get("realtime", True)]  # unpaced runs are queue-bound
    if paced:
        path = folder / "stacked_stages.png"
        cv2.imwrite(str(path), stacked_bars(paced))
        paths.append(path)
    for e in entries:
        for kind, draw in (("cdf", cdf_plot), ("timeline", timeline)):
            path = folder / f"{kind}_{_safe(e['name'])}.png"
            cv2.imwrite(str(path), draw(e))
            paths.append(path)
    return paths

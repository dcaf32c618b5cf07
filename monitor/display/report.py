"""report.html: one self-contained page per run with inline SVG plots (no plotting library).

Plots: head yaw/pitch/roll over time with gaze-zone bands (and ground truth when the source has
it), latency over time per stage, the end-to-end latency distribution; tables: frames and drops
per stage, latency percentiles, accuracy against ground truth, distraction events.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MAX_POINTS = 1500  # per series; longer runs are reduced to a min/max envelope per bucket
ZONE_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
                "#9c755f", "#bab0ac")
SERIES_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


# --- SVG primitives ------------------------------------------------------------------------
def envelope(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ~max_points points keeping each bucket's min and max (spikes stay visible)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size <= max_points:
        return x, y
    buckets = np.array_split(np.arange(x.size), max_points // 2)
    idx: list[int] = []
    for b in buckets:
        yb = y[b]
        if np.all(np.isnan(yb)):
            idx.append(int(b[0]))
            continue
        lo, hi = int(b[np.nanargmin(yb)]), int(b[np.nanargmax(yb)])
        idx.extend(sorted({lo, hi}))
    return x[idx], y[idx]


class SvgPlot:
    """A line chart with axes, ticks, optional background bands and a legend."""

    def __init__(self, title: str, x_range: tuple[float, float], y_range: tuple[float, float],
                 xlabel: str, ylabel: str, width: int = 900, height: int = 260) -> None:
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.w, self.h = width, height
        self.left, self.right, self.top, self.bottom = 60, 150, 28, 40
        x0, x1 = x_range
        y0, y1 = y_range
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1.0)
        self.y0, self.y1 = y0, (y1 if y1 > y0 else y0 + 1.0)
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, str]] = []

    def sx(self, x: np.ndarray | float) -> Any:
        return self.left + (np.asarray(x) - self.x0) / (self.x1 - self.x0) * (self.w - self.left - self.right)

    def sy(self, y: np.ndarray | float) -> Any:
        return self.h - self.bottom - (np.asarray(y) - self.y0) / (self.y1 - self.y0) * (self.h - self.top - self.bottom)

    def band(self, x0: float, x1: float, colour: str, y_frac: tuple[float, float] = (0.0, 1.0),
             opacity: float = 0.18) -> None:
        top = self.top + (1 - y_frac[1]) * (self.h - self.top - self.bottom)
        height = (y_frac[1] - y_frac[0]) * (self.h - self.top - self.bottom)
        self.parts.append(f'<rect x="{self.sx(x0):.1f}" y="{top:.1f}" width="{max(self.sx(x1) - self.sx(x0), 0.5):.1f}" '
                          f'height="{height:.1f}" fill="{colour}" fill-opacity="{opacity}"/>')

    def line(self, x: Sequence[float], y: Sequence[float], colour: str, label: str, dashed: bool = False) -> None:
        xs, ys = envelope(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        # NaN splits the line into separate runs (missing estimates are gaps, not zeros)
        runs, current = [], []
        for px, py, ok in zip(self.sx(xs), self.sy(ys), np.isfinite(ys)):
            if ok:
                current.append(f"{px:.1f},{py:.1f}")
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
        for run in runs:
            self.parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3"{dash} points="{" ".join(run)}"/>')
        self.legend.append((label, colour, "line"))

    def vline(self, x: float, colour: str, label: str) -> None:
        px = self.sx(x)
        self.parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{self.top}" y2="{self.h - self.bottom}" '
                          f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="4,3"/>')
        self.legend.append((label, colour, "line"))

    def bars(self, edges: np.ndarray, counts: np.ndarray, colour: str, label: str) -> None:
        for a, b, c in zip(edges[:-1], edges[1:], counts):
            if c <= 0:
                continue
            x, y = self.sx(a), self.sy(c)
            self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(self.sx(b) - x - 0.5, 0.5):.1f}" '
                              f'height="{self.sy(self.y0) - y:.1f}" fill="{colour}"/>')
        self.legend.append((label, colour, "box"))

    def key(self, label: str, colour: str) -> None:
        self.legend.append((label, colour, "box"))

    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
               f'viewBox="0 0 {self.w} {self.h}" font-family="sans-serif" font-size="11">',
               f'<text x="{self.left}" y="16" font-size="13" font-weight="bold">{_e(self.title)}</text>',
               *self.parts]
        x_axis, y_axis = self.h - self.bottom, self.left
        out.append(f'<line x1="{y_axis}" x2="{self.w - self.right}" y1="{x_axis}" y2="{x_axis}" stroke="#333"/>')
        out.append(f'<line x1="{y_axis}" x2="{y_axis}" y1="{self.top}" y2="{x_axis}" stroke="#333"/>')
        for t in nice_ticks(self.x0, self.x1):
            px = self.sx(t)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{x_axis}" y2="{x_axis + 4}" stroke="#333"/>'
                       f'<text x="{px:.1f}" y="{x_axis + 15}" text-anchor="middle">{_num(t)}</text>')
        for t in nice_ticks(self.y0, self.y1):
            py = self.sy(t)
            out.append(f'<line x1="{y_axis - 4}" x2="{self.w - self.right}" y1="{py:.1f}" y2="{py:.1f}" stroke="#ddd"/>'
                       f'<text x="{y_axis - 6}" y="{py + 4:.1f}" text-anchor="end">{_num(t)}</text>')
        out.append(f'<text x="{(self.left + self.w - self.right) / 2:.0f}" y="{self.h - 6}" text-anchor="middle">{_e(self.xlabel)}</text>')
        out.append(f'<text x="14" y="{(self.top + x_axis) / 2:.0f}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {(self.top + x_axis) / 2:.0f})">{_e(self.ylabel)}</text>')
        lx = self.w - self.right + 12
        for i, (label, colour, kind) in enumerate(self.legend):
            y = self.top + 6 + 15 * i
            mark = (f'<line x1="{lx}" x2="{lx + 16}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
                    if kind == "line" else f'<rect x="{lx}" y="{y - 5}" width="16" height="10" fill="{colour}" fill-opacity="0.6"/>')
            out.append(mark + f'<text x="{lx + 22}" y="{y + 4}">{_e(label)}</text>')
        out.append("</svg>")
        return "\n".join(out)


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        return [lo]
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def segments(times: np.ndarray, labels: Sequence[Any]) -> list[tuple[float, float, Any]]:
    """Runs of equal labels as (start, end, label); a run ends where the next one starts."""
    out: list[tuple[float, float, Any]] = []
    if len(labels) == 0:
        return out
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            end = times[i] if i < len(labels) else times[-1]
            out.append((float(times[start]), float(end), labels[start]))
            start = i
    return out


# --- the report ----------------------------------------------------------------------------
def _column(records: list[dict[str, Any]], *path: str) -> np.ndarray:
    values = []
    for r in records:
        v: Any = r
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        values.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan)
    return np.asarray(values, dtype=np.float64)


def head_plot(records: list[dict[str, Any]], t: np.ndarray) -> str:
    yaw, pitch, roll = (_column(records, "estimates", "head", k) for k in ("yaw_deg", "pitch_deg", "roll_deg"))
    truth = [_column(records, "truth", "head", k) for k in ("yaw_deg", "pitch_deg", "roll_deg")]
    finite = np.concatenate([a[np.isfinite(a)] for a in (yaw, pitch, roll, *truth)] + [np.zeros(1)])
    lim = float(min(max(np.abs(finite).max() * 1.1, 10.0), 180.0))
    plot = SvgPlot("Head pose (estimate; dashed: ground truth) with gaze-zone bands", (t[0], t[-1]), (-lim, lim),
                   "time (s)", "degrees")
    zones = [(r.get("gaze") or {}).get("zone") for r in records]
    has_truth_zone = any("gaze_zone" in (r.get("truth") or {}) for r in records)
    upper = (0.5, 1.0) if has_truth_zone else (0.0, 1.0)
    colours = _zone_colours(zones + [(r.get("truth") or {}).get("gaze_zone") for r in records])
    for a, b, z in segments(t, zones):
        if z not in (None, "unknown"):
            plot.band(a, b, colours[z], upper)
    if has_truth_zone:
        for a, b, z in segments(t, [(r.get("truth") or {}).get("gaze_zone") for r in records]):
            if z is not None:
                plot.band(a, b, colours[z], (0.0, 0.5), opacity=0.35)
    for series, name, colour in zip((yaw, pitch, roll), ("yaw", "pitch", "roll"), SERIES_COLOURS):
        plot.line(t, series, colour, name)
    for series, name, colour in zip(truth, ("yaw", "pitch", "roll"), SERIES_COLOURS):
        if np.isfinite(series).any():
            plot.line(t, series, colour, f"{name} truth", dashed=True)
    for z, colour in colours.items():
        plot.key(f"zone {z}", colour)
    note = ("<p class=note>Bands: upper half the estimated (smoothed) zone, lower half the true zone.</p>"
            if has_truth_zone else "<p class=note>Bands: the estimated (smoothed) gaze zone.</p>")
    return plot.svg() + note


def _zone_colours(labels: Sequence[Any]) -> dict[str, str]:
    names = sorted({z for z in labels if z not in (None, "unknown")})
    return {z: ZONE_COLOURS[i % len(ZONE_COLOURS)] for i, z in enumerate(names)}


def latency_plots(records: list[dict[str, Any]], t: np.ndarray) -> str:
    keys: list[str] = []
    for r in records:
        for k in r.get("latency_ms") or {}:
            if k not in keys:
                keys.append(k)
    if not keys:
        return "<p>No latency figures.</p>"
    columns = {k: _column(records, "latency_ms", k) for k in keys}
    top = max(float(np.nanmax(c)) if np.isfinite(c).any() else 0.0 for c in columns.values())
    plot = SvgPlot("Latency per frame", (t[0], t[-1]), (0.0, top * 1.05 or 1.0), "time (s)", "ms")
    shown = ["end_to_end", *[k for k in keys if not k.startswith("transport") and k != "end_to_end"]]
    for k, colour in zip([k for k in shown if k in columns], SERIES_COLOURS):
        plot.line(t, columns[k], colour, k)
    out = plot.svg()
    e2e = columns.get("end_to_end")
    if e2e is not None and np.isfinite(e2e).any():
        v = e2e[np.isfinite(e2e)]
        p50, p99 = np.percentile(v, [50, 99])
        hi = max(float(p99) * 1.5, float(p50) * 3.0, 1e-3)  # the body of the distribution, not one spike
        beyond = int((v > hi).sum())
        counts, edges = np.histogram(v[v <= hi], bins=50, range=(0.0, hi))
        title = f"End-to-end latency distribution (n={v.size}" + (f"; {beyond} above {hi:.0f} ms not shown)" if beyond else ")")
        hist = SvgPlot(title, (0.0, float(edges[-1])),
                       (0.0, float(counts.max()) * 1.1), "ms", "frames", height=220)
        hist.bars(edges, counts, "#4e79a7", "frames")
        for q, colour in ((50, "#2ca02c"), (99, "#d62728")):
            hist.vline(float(np.percentile(v, q)), colour, f"p{q} {np.percentile(v, q):.2f} ms")
        out += hist.svg()
    return out


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(_num(c) if isinstance(c, float) else c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def zone_accuracy(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Share of frames whose estimated zone equals the true zone (frames with a true zone only)."""
    pairs = [((r.get("gaze") or {}).get("zone"), (r.get("truth") or {}).get("gaze_zone")) for r in records]
    pairs = [(p, t) for p, t in pairs if t is not None]
    if not pairs:
        return None
    hits = sum(p == t for p, t in pairs)
    return {"frames": len(pairs), "accuracy": round(hits / len(pairs), 4)}


def _phase(event: dict[str, Any]) -> str:
    """An event's phase for the table; an end the sink wrote at the end of the run says so (the
    episode's real end, and so its duration, is unknown)."""
    phase = str(event.get("phase"))
    if event.get("end_lost"):
        return f"{phase} (lost: the gaze stage restarted)"
    return f"{phase} (still open when the run ended)" if event.get("open_at_end") else phase


def render_report(records: list[dict[str, Any]], events: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    run = summary.get("run", {})
    frames = summary.get("frames", {})
    parts = [f"<h1>DMS run report</h1><p>source <b>{_e(run.get('source', '?'))}</b>, {_e(run.get('policy', '?'))} mode, "
             f"exit code {_e(summary.get('exit_code', '?'))}; frames: {frames.get('captured', '?')} captured, "
             f"{frames.get('processed', len(records))} processed, {frames.get('lost', '?')} lost; "
             f"fps {summary.get('fps') or '-'}; providers: {_e(', '.join(summary.get('providers', [])) or '-')}</p>"]
    parts += [f"<p class=warn>WARNING: {_e(w)}</p>" for w in summary.get("warnings", [])]
    if records:
        t0 = records[0].get("device_ts_ms") or 0.0
        t = (_column(records, "device_ts_ms") - t0) / 1000.0
        t = np.where(np.isfinite(t), t, np.arange(len(records)) / 30.0)
        parts += ["<h2>Head pose and gaze zones</h2>", head_plot(records, t),
                  "<h2>Latency</h2>", latency_plots(records, t)]
    else:
        parts.append("<p>No frames were processed.</p>")
    lat = summary.get("latency_ms", {})
    if lat:
        parts += ["<h2>Latency percentiles (ms)</h2>",
                  _table(["stage", "n", "p50", "p90", "p99", "max", "mean"],
                         [[k, v.get("n"), v.get("p50"), v.get("p90"), v.get("p99"), v.get("max"), v.get("mean")]
                          for k, v in lat.items()])]
    stages = summary.get("stages", {})
    if stages:
        parts += ["<h2>Frames and drops per stage</h2>",
                  _table(["stage", "processed", "errors", "restarts", "send dropped", "stale dropped", "malformed"],
                         [[k, s.get("processed"), s.get("errors"), s.get("restarts"), s.get("send_dropped"),
                           s.get("stale_dropped"), s.get("malformed")] for k, s in stages.items()])]
    if "display" in summary:
        d = summary["display"]
        parts.append(_table(["display", "value"], [[k, v] for k, v in d.items()]))
    accuracy = summary.get("accuracy") or {}
    zacc = zone_accuracy(records)
    if accuracy or zacc:
        rows = [[k, v] for k, v in accuracy.items()]
        if zacc:
            rows.append(["gaze zone accuracy (frames with a true zone)", f"{zacc['accuracy']:.3f} of {zacc['frames']}"])
        parts += ["<h2>Accuracy against ground truth</h2>", _table(["measure", "value"], rows)]
    parts.append("<h2>Distraction events</h2>")
    if events:
        parts.append(_table(["kind", "phase", "start (s)", "criterion met (s)", "end (s)", "duration (s)"],
                            [[e.get("kind"), _phase(e), e.get("start_s"), e.get("criterion_met_s"),
                              e.get("end_s"), e.get("duration_s")] for e in events]))
    else:
        parts.append("<p>None.</p>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
             "font-size:13px;text-align:right}th{background:#eee}.warn{color:#b00}.note{color:#666;font-size:12px}"
             "svg{display:block;margin:.5em 0}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>DMS run report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(path: Path, records: list[dict[str, Any]], events: list[dict[str, Any]],
                 summary: dict[str, Any]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(records, events, summary), encoding="utf-8")
    tmp.replace(path)  # atomic: complete or absent
    return path


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)


def _e(v: Any) -> str:
    return html.escape(str(v))

"""Gaze zones and distraction events of a run against the source's ground truth.

    python -m monitor.gaze.evaluate_run RUN_DIR [RUN_DIR ...] [--no-write] [--json]

Reads ``results.jsonl`` (per frame: the smoothed ``gaze.zone`` and ``truth``) and ``events.jsonl``
of each run, adds ``accuracy.gaze`` and ``accuracy.events`` to its ``summary.json`` (the pipeline
does the same at the end of every run with truth, via monitor/summary.py) and prints a report;
with several runs also the pooled figures.

- Zones: truth ``gaze_zone`` (null while the gaze is in transit or during head sweeps) against
  the output zone. "Dwell" frames are labelled frames at least ``start_margin_s`` after the gaze
  arrived on the zone and ``end_margin_s`` before it leaves (the head, which the classifier sees,
  keeps turning for 0.2-0.4 s after the eyes arrived; the output switches after the hysteresis).
  Accuracy on all labelled frames is reported too.
- Events: start-phase events against the scripted ``episodes`` of the truth, one-to-one, start
  time within ``tol_s``. The scripted episodes are not the only moments the Euro NCAP rules are
  met (e.g. many glances in the "gaze" scenario add up to a VATS), so the rules are also run on
  the truth zones (null = off the road); an unscripted event that matches one of those is
  "implied_by_truth", not unexplained. A run with neither scripted nor implied episodes is a
  clean drive: every event there is false.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from monitor.gaze.evaluate import confusion_matrix, dwell_mask, match_events
from monitor.gaze.state import OFF, ON, DistractionConfig, DistractionMonitor
from monitor.gaze.types import DistractionEvent

START_MARGIN_S = 0.3
END_MARGIN_S = 0.1
TOL_S = 0.3
EVENT_KINDS = ("long_distraction", "vats")
_EVENT_FIELDS = tuple(f.name for f in fields(DistractionEvent))


def truth_zone(truth: dict[str, Any]) -> str | None:
    if "gaze_zone" in truth:
        return truth["gaze_zone"]
    return (truth.get("gaze") or {}).get("zone")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines of a file (a line cut by a crash is skipped); [] if it is missing."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def event_from_json(d: dict[str, Any]) -> DistractionEvent:
    return DistractionEvent(**{k: d[k] for k in _EVENT_FIELDS if k in d})


def rule_events_on_truth(zones: Sequence[str | None], times_s: Sequence[float], road_zones: Iterable[str],
                         config: DistractionConfig | None = None) -> list[DistractionEvent]:
    """The distraction rules applied to the truth zone sequence (null counts as off the road)."""
    road = frozenset(road_zones)
    monitor = DistractionMonitor(config)
    events: list[DistractionEvent] = []
    for z, t in zip(zones, times_s):
        events += monitor.update(float(t), ON if z in road else OFF)[1]
    return events


def evaluate_gaze(records: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]],
                  road_zones: Iterable[str] = ("road",), start_margin_s: float = START_MARGIN_S,
                  end_margin_s: float = END_MARGIN_S, tol_s: float = TOL_S,
                  config: DistractionConfig | None = None) -> dict[str, Any]:
    """{"gaze": zone figures, "events": event matching} for one run; {} without zone truth.

    ``records``: results.jsonl lines in frame order; ``events``: events.jsonl lines."""
    rows = [r for r in records if r.get("truth") and r.get("gaze") and "time_s" in r["truth"]]
    if not rows or not any(truth_zone(r["truth"]) is not None for r in rows):
        return {}
    t = np.array([float(r["truth"]["time_s"]) for r in rows])
    if np.any(np.diff(t) < 0):
        raise ValueError("truth time goes backwards (a looped source, or labels whose time_s is out of order?): "
                         "evaluate one pass of the sequence")
    # the stage runs on device time; events are mapped back to the truth's scene time
    offset = float(np.median([r["device_ts_ms"] / 1000.0 - float(r["truth"]["time_s"]) for r in rows]))
    truth = [truth_zone(r["truth"]) for r in rows]
    pred = [str(r["gaze"].get("zone")) for r in rows]
    raw = [str(r["gaze"].get("raw_zone")) for r in rows]
    labelled = np.array([z is not None for z in truth])
    dwell = dwell_mask(truth, t, start_margin_s, end_margin_s) & labelled
    zone_names = sorted({z for z in truth if z is not None})
    cm = confusion_matrix(truth, pred, zone_names, dwell)
    recall = {}
    for i, name in enumerate(cm["labels"]):
        n = sum(cm["matrix"][i])
        if n:
            recall[name] = round(cm["matrix"][i][i] / n, 4)
    gaze = {
        "definition": f"truth gaze_zone vs output zone on frames >= {start_margin_s} s after the gaze arrived "
                      f"and >= {end_margin_s} s before it left",
        "frames": len(rows),
        "dwell_frames": int(dwell.sum()),
        "dwell_accuracy": _round(cm["accuracy"]),
        "dwell_raw_accuracy": _round(_acc(truth, raw, dwell)),
        "labelled_accuracy": _round(_acc(truth, pred, labelled)),
        "labelled_frames": int(labelled.sum()),
        "head_found": _round(float(np.mean([bool(r["gaze"].get("head_valid")) for r in rows]))),
        "recall": recall,
        "confusion": {"labels": cm["labels"], "matrix": cm["matrix"]},
    }

    predicted = [event_from_json(e) for e in events if e.get("phase") == "start"]
    predicted = [DistractionEvent(e.kind, e.phase, e.start_s - offset, e.criterion_met_s - offset,
                                  e.detected_s - offset, None) for e in predicted]
    episodes = rows[0]["truth"].get("episodes") or []
    implied = [e for e in rule_events_on_truth(truth, t, road_zones, config) if e.phase == "start"]
    by_kind: dict[str, Any] = {}
    unexplained = 0
    for kind in EVENT_KINDS:
        eps = [e for e in episodes if e.get("kind") == kind and t[0] <= e["start_s"] <= t[-1]]
        m = match_events(predicted, [e["start_s"] for e in eps], kind, tol_s)
        left = [e for e in predicted if e.kind == kind and e.start_s in m.false]
        implied_starts = [e.start_s for e in implied if e.kind == kind
                          and all(abs(e.start_s - s) > tol_s for s, _ in m.matched)]
        m2 = match_events(left, implied_starts, kind, tol_s)
        entry = {"scripted": len(eps), **m.to_json(), "implied_by_truth": [list(x) for x in m2.matched],
                 "implied_missed": m2.missed, "unexplained": m2.false}
        if kind == "vats":  # when the 10 s were reached, against the script's trigger time
            crit = {round(e.start_s, 6): e.criterion_met_s for e in predicted if e.kind == kind}
            entry["criterion_met_error_s"] = [round(crit[round(p, 6)] - ep["trigger_s"], 3)
                                              for ep in eps if ep.get("trigger_s") is not None
                                              for tt, p in m.matched if tt == ep["start_s"]]
        by_kind[kind] = entry
        unexplained += len(m2.false)
    # clean: no scripted episode overlaps the frames this run has (a run cut short of its scene's
    # episodes is a clean drive as far as it went) and the rules find none in its truth
    overlapping = [e for e in episodes if e["start_s"] <= t[-1] and e.get("end_s", e["start_s"]) >= t[0]]
    clean = not overlapping and not implied
    scripted_ok = all(not v["missed"] and not v["false"] for v in by_kind.values())
    result_events = {
        "tolerance_s": tol_s,
        "clean_drive": clean,
        "all_scripted_matched_no_false": scripted_ok,
        "false_events": sum(len(v["false"]) for v in by_kind.values()),
        "unexplained_events": unexplained,
        **by_kind,
    }
    first = rows[0]["truth"]
    return {"gaze": gaze, "events": result_events, "driver": (first.get("subject") or {}).get("id"),
            "mount": (first.get("camera") or {}).get("mount")}


def _acc(truth: Sequence[str | None], pred: Sequence[str], mask: np.ndarray) -> float:
    n = int(mask.sum())
    return float(sum(a == b for a, b, k in zip(truth, pred, mask) if k) / n) if n else float("nan")


def _round(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def road_zones_of(layout_path: str | Path | None) -> tuple[str, ...]:
    """The road zones of a layout file (default: the shipped synthetic cabin's); a missing or
    invalid file raises its one-line ValueError (a silent default could score the wrong zones)."""
    from calib.layout import DEFAULT_LAYOUT, load_layout
    return load_layout(layout_path or DEFAULT_LAYOUT).road_zones


def layout_of_run(summary: dict[str, Any]) -> str | None:
    """The layout file a run used, as its summary.json states it (None: the default cabin). A path
    that is gone raises ValueError: scoring the run against other road zones would be wrong."""
    stated = (summary.get("run") or {}).get("layout")
    if not stated or stated == "default":
        return None
    if not Path(stated).is_file():
        raise ValueError(f"the run used the layout {stated}, which is not there (relative paths are read from "
                         "the working folder); pass it with --layout")
    return str(stated)


def distraction_config_of(run_info: dict[str, Any]) -> DistractionConfig:
    """The distraction rules a run used (summary.json run.distraction; the defaults for runs that
    predate it): the truth's implied episodes are found with the same thresholds."""
    return DistractionConfig(**(run_info.get("distraction") or {}))


def evaluate_run_dir(run_dir: Path, write: bool = True, layout: str | Path | None = None) -> dict[str, Any]:
    """Evaluate one run folder; with ``write`` the figures go into its summary.json. Its road zones
    are those of ``layout``, by default of the layout the run itself used (summary.json run.layout)."""
    from monitor.summary import SUMMARY_FILE, write_summary
    from monitor.workers.sink import EVENTS_FILE, RESULTS_FILE
    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    result = evaluate_gaze(read_jsonl(run_dir / RESULTS_FILE), read_jsonl(run_dir / EVENTS_FILE),
                           road_zones_of(layout if layout is not None else layout_of_run(summary)),
                           config=distraction_config_of(summary.get("run") or {}))
    if write and result and summary:
        summary.setdefault("accuracy", {}).update(result)
        write_summary(run_dir, summary)
    return result


def pooled(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled dwell confusion matrix and event counts over several runs."""
    labels: list[str] = []
    for r in results:
        labels += [x for x in r["gaze"]["confusion"]["labels"] if x not in labels]
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for r in results:
        c = r["gaze"]["confusion"]
        idx = [labels.index(x) for x in c["labels"]]
        m[np.ix_(idx, idx)] += np.array(c["matrix"], dtype=np.int64).reshape(len(idx), len(idx))
    n = int(m.sum())
    ev = {k: {"scripted": sum(r["events"][k]["scripted"] for r in results),
              "matched": sum(len(r["events"][k]["matched"]) for r in results),
              "missed": sum(len(r["events"][k]["missed"]) for r in results),
              "false": sum(len(r["events"][k]["false"]) for r in results),
              "implied_by_truth": sum(len(r["events"][k]["implied_by_truth"]) for r in results),
              "unexplained": sum(len(r["events"][k]["unexplained"]) for r in results),
              "max_start_error_s": max((r["events"][k]["max_start_error_s"] for r in results), default=0.0)}
          for k in EVENT_KINDS}
    clean = [r for r in results if r["events"]["clean_drive"]]
    return {"runs": len(results), "dwell_frames": n, "dwell_accuracy": round(float(np.trace(m) / n), 4) if n else None,
            "labelled_accuracy": round(float(np.average([r["gaze"]["labelled_accuracy"] for r in results],
                                                        weights=[r["gaze"]["labelled_frames"] for r in results])), 4),
            "confusion": {"labels": labels, "matrix": m.tolist()}, "events": ev,
            "clean_runs": len(clean), "false_events_on_clean_runs": sum(r["events"]["false_events"] for r in clean),
            "by_driver": dwell_accuracy_by(results, "driver"), "by_mount": dwell_accuracy_by(results, "mount")}


def dwell_accuracy_by(results: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Pooled dwell accuracy per value of a run's ``key`` ("driver": the synthetic subject, "mount": the
    camera mount), in first-seen order; {} when no run names one. A pooled figure over a few drivers
    hides how far apart they are: this shows it."""
    groups: dict[str, list[int]] = {}
    for r in results:
        if r.get(key) is None:
            continue
        matrix = np.array(r["gaze"]["confusion"]["matrix"], dtype=np.int64)
        total = groups.setdefault(str(r[key]), [0, 0])
        total[0] += int(np.trace(matrix)) if matrix.size else 0
        total[1] += int(matrix.sum())
    return {name: {"dwell_frames": n, "dwell_accuracy": round(c / n, 4) if n else None}
            for name, (c, n) in groups.items()}


def format_pooled_line(total: dict[str, Any]) -> str:
    """The pooled headline for the terminal: accuracy, then per driver and per mount when known."""
    lines = [f"pooled over {total['runs']} runs: dwell accuracy {total['dwell_accuracy']} on {total['dwell_frames']} "
             f"frames, all labelled {total['labelled_accuracy']}"]
    for key, title in (("by_driver", "driver"), ("by_mount", "mount")):
        if total.get(key):
            lines.append(f"  by {title}: " + ", ".join(f"{name} {v['dwell_accuracy']} ({v['dwell_frames']})"
                                                      for name, v in total[key].items()))
    return "\n".join(lines)


def format_report(name: str, r: dict[str, Any]) -> str:
    g, e = r["gaze"], r["events"]
    if g["dwell_frames"]:
        dwell = f"dwell accuracy {g['dwell_accuracy']} on {g['dwell_frames']} frames (raw {g['dwell_raw_accuracy']})"
    else:  # e.g. a run cut short: no frame settled 0.3 s into a zone yet
        dwell = "no dwell frames to score (none at least 0.3 s into a zone and 0.1 s before leaving it)"
    lines = [f"{name}: {dwell}, all labelled {g['labelled_accuracy']}, head found {g['head_found']}"]
    if g["recall"]:
        lines.append("  recall " + ", ".join(f"{k} {v:.3f}" for k, v in g["recall"].items()))
    for kind in EVENT_KINDS:
        k = e[kind]
        lines.append(f"  {kind}: scripted {k['scripted']}, matched {len(k['matched'])} (max start error "
                     f"{k['max_start_error_s']:.3f} s), missed {len(k['missed'])}, false {len(k['false'])} "
                     f"(implied by truth {len(k['implied_by_truth'])}, unexplained {len(k['unexplained'])})")
    scripted = "no distraction scripted or implied by the truth (a clean drive)" if e["clean_drive"] else \
        "distractions scripted or implied by the truth"
    lines.append(f"  {scripted}; every scripted episode matched and no false event: "
                 f"{e['all_scripted_matched_no_false']}")
    return "\n".join(lines)


def format_confusion(c: dict[str, Any]) -> str:
    """Rows: the truth; columns: what the pipeline said. Whole zone names, right-aligned."""
    labels = c["labels"]
    w = max(len(x) for x in labels) + 1
    col = max(w, max((len(str(v)) for row in c["matrix"] for v in row), default=1) + 1)
    head = " " * w + "".join(f"{x:>{col}}" for x in labels)
    return "\n".join([head] + [f"{a:<{w}}" + "".join(f"{v:{col}d}" for v in row) for a, row in zip(labels, c["matrix"])])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (with results.jsonl)")
    ap.add_argument("--no-write", action="store_true", help="do not update summary.json")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--layout", help="cabin layout whose road zones score the events (default: the one each run "
                    "used, as its summary.json says; the synthetic cabin for runs without one)")
    a = ap.parse_args(argv)
    try:
        road_zones_of(a.layout)
    except ValueError as exc:
        print(f"error: --layout {exc}", file=sys.stderr)
        return 2
    missing = [run for run in a.runs if not (run / "results.jsonl").is_file()]
    if missing:
        print(f"error: {', '.join(map(str, missing))}: no results.jsonl there; pass run folders of run_monitor.py",
              file=sys.stderr)
        return 2
    results, evaluated = [], []
    for run in a.runs:
        try:
            r = evaluate_run_dir(run, write=not a.no_write, layout=a.layout)
        except ValueError as exc:
            print(f"error: {run}: {exc}", file=sys.stderr)
            return 2
        if not r:
            print(f"{run}: no gaze truth in results.jsonl", file=sys.stderr)
            continue
        results.append(r)
        evaluated.append(run)
        if not a.json:
            print(format_report(str(run), r))
    if not results:
        return 1
    total = pooled(results)
    if a.json:
        # keyed by the runs that had truth: a skipped folder must not shift the others' names
        print(json.dumps({"runs": {str(p): r for p, r in zip(evaluated, results)}, "pooled": total}, indent=1))
    else:
        print(format_pooled_line(total))
        print(format_pooled_details(total))
    return 0


def format_pooled_details(total: dict[str, Any]) -> str:
    """Confusion matrix, events and clean-run figures of `pooled` results, for the terminal."""
    return "\n".join([format_confusion(total["confusion"]), f"events: {total['events']}",
                      f"clean runs {total['clean_runs']}, false events on them {total['false_events_on_clean_runs']}"])


if __name__ == "__main__":
    raise SystemExit(main())

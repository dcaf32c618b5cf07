"""Per-run exports written after the run from results.jsonl: results.csv and report.html.

Pure functions of the run's files (no workers involved), so they run after Ctrl-C too and can be
re-run on an old run folder: ``python -m monitor.display.export RUN_DIR``.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from monitor.summary import SUMMARY_FILE, read_results

CSV_FILE = "results.csv"
REPORT_FILE = "report.html"
HEAD_KEYS = ("yaw_deg", "pitch_deg", "roll_deg")
STATE_KEYS = ("on_road", "off_road_s", "off_road_window_s", "long_distraction", "vats", "head_missing_s")


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One results.jsonl record as a flat dict of plain cells (missing values are empty)."""
    row: dict[str, Any] = {"stream": record.get("stream"), "frame": record.get("frame"),
                           "device_ts_ms": record.get("device_ts_ms"), "capture_ns": record.get("capture_ns")}
    head = (record.get("estimates") or {}).get("head") or {}
    for k in HEAD_KEYS:
        row[f"head_{k}"] = head.get(k)
    centre = head.get("center_px") or [None, None]
    row["head_u_px"], row["head_v_px"] = centre[0], centre[1]
    pos = head.get("position_mm") or [None, None, None]
    row["head_x_mm"], row["head_y_mm"], row["head_z_mm"] = pos
    gaze = record.get("gaze") or {}
    for k in ("zone", "zone_since_s", "raw_zone", "gaze_azimuth_deg", "gaze_elevation_deg"):
        row[f"gaze_{k}" if not k.startswith("gaze_") else k] = gaze.get(k)
    for zone, p in (gaze.get("probabilities") or {}).items():
        row[f"p_{zone}"] = p
    state = record.get("state") or {}
    for k in STATE_KEYS:
        row[f"state_{k}"] = state.get(k)
    for k, v in (record.get("latency_ms") or {}).items():
        row[f"latency_{k}_ms"] = v
    truth = record.get("truth") or {}
    truth_head = truth.get("head") if isinstance(truth.get("head"), dict) else {}
    for k in HEAD_KEYS:
        if k in truth_head:
            row[f"truth_head_{k}"] = truth_head[k]
    if "gaze_zone" in truth:
        row["truth_gaze_zone"] = truth.get("gaze_zone")
    return row


def write_csv(records: Iterable[dict[str, Any]], path: Path) -> int:
    """results.csv: one row per frame, columns in first-seen order; returns the row count.
    Written to a temporary name and renamed, so a reader never sees half a file."""
    rows = [flat_row(r) for r in records]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    tmp.replace(path)
    return len(rows)


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return round(v, 4)
    return "" if v is None else v


def write_exports(out_dir: Path, summary: dict[str, Any] | None = None) -> list[Path]:
    """results.csv and report.html of the run in ``out_dir``; returns the paths written."""
    from monitor.display.report import write_report  # keeps `import export` light

    out_dir = Path(out_dir)
    records = list(read_results(out_dir / "results.jsonl"))
    if summary is None:
        summary_path = out_dir / SUMMARY_FILE
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    events = list(read_results(out_dir / "events.jsonl"))
    csv_path = out_dir / CSV_FILE
    write_csv(records, csv_path)
    report_path = write_report(out_dir / REPORT_FILE, records, events, summary)
    return [csv_path, report_path]


def main(argv: list[str]) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m monitor.display.export", allow_abbrev=False,
                                 description=f"Write {CSV_FILE} and {REPORT_FILE} of a run folder again from its "
                                             "results.jsonl and summary.json (run_monitor.py writes them at the end of "
                                             "every run).")
    ap.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder of run_monitor.py")
    run_dir = ap.parse_args(argv).run_dir
    if not (run_dir / "results.jsonl").exists():
        print(f"error: {run_dir} holds no results.jsonl", file=sys.stderr)
        return 2
    for path in write_exports(run_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

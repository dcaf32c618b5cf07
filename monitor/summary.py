"""summary.json: what a run did, computed from results.jsonl and the workers' final counters."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from monitor.latency import percentiles

SUMMARY_FILE = "summary.json"


def read_results(path: Path) -> Iterator[dict[str, Any]]:
    """Complete lines of results.jsonl (a line cut by a crash is skipped)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def stage_counts(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker: processed items, errors, restarts and drops, summed over its incarnations."""
    stages: dict[str, dict[str, Any]] = {}
    for role, report in reports.items():
        totals: dict[str, Any] = {"received": 0, "processed": 0, "errors": 0, "restarts": report["restarts"],
                                  "send_dropped": 0, "stale_dropped": 0, "malformed": 0}
        for beat in report["incarnations"]:
            counters = beat.get("counters", {})
            totals["processed"] += int(counters.get("processed", 0))
            totals["errors"] += int(counters.get("errors", 0))
            for name, link in beat.get("links", {}).items():
                if name.startswith("in:"):
                    totals["received"] += link.get("received", 0)
                totals["send_dropped"] += link.get("send_dropped", 0)
                totals["stale_dropped"] += link.get("stale_dropped", 0)
                totals["malformed"] += sum(link.get("bad", {}).values())
        refused = [sum(beat.get("info", {}).get("network_refused", {}).values()) for beat in report["incarnations"]]
        if any(refused):
            totals["refused_peers"] = sum(refused)  # tcp peers without the run's CURVE key
        if report.get("faults"):
            totals["faults"] = report["faults"]  # why each restart happened and how long recovery took
        lost = sum(int(beat.get("counters", {}).get("source_lost", 0)) for beat in report["incarnations"])
        if lost:
            totals["source_lost"] = lost  # times the camera disappeared and was looked for again
        duplicates = sum(int(beat.get("counters", {}).get("duplicates", 0)) for beat in report["incarnations"])
        if duplicates:
            totals["duplicates"] = duplicates  # frames sent again by a restarted capture, written once
        in_place = sum(int(beat.get("counters", {}).get("in_place", 0)) for beat in report["incarnations"])
        if in_place:
            totals["in_place"] = in_place  # framesets the source wrote straight into the shared-memory ring
        if role == "capture" and report["incarnations"]:
            totals["frames_read"] = int(report["incarnations"][-1].get("counters", {}).get("frames_read", 0))
        stages[role] = totals
    return stages


def model_info(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    for beat in reversed(reports.get("estimator", {}).get("incarnations", [])):
        if beat.get("info", {}).get("models"):
            return beat["info"]["models"]
    return []


def build_summary(out_dir: Path, reports: dict[str, dict[str, Any]], exit_code: int,
                  run_info: dict[str, Any]) -> dict[str, Any]:
    records = list(read_results(out_dir / "results.jsonl"))
    latency_samples: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.get("latency_ms", {}).items():
            latency_samples.setdefault(key, []).append(value)
    stamps = [r["capture_ns"] for r in records if r.get("capture_ns")]
    span_s = (max(stamps) - min(stamps)) / 1e9 if len(stamps) > 1 else 0.0
    models = model_info(reports)
    warnings = [f"model {m['path']} is UNTRAINED: its estimates are not results" for m in models
                if not m.get("trained", False)]
    warnings += sorted({w for beat in reports.get("capture", {}).get("incarnations", [])
                        if (w := beat.get("info", {}).get("source_warning"))})
    stages = stage_counts(reports)
    captured = stages.get("capture", {}).get("frames_read", 0)
    summary: dict[str, Any] = {
        "exit_code": exit_code,
        "run": run_info,
        "frames": {"captured": captured, "processed": len(records),
                   "lost": max(captured - len(records), 0)},
        "fps": round((len(records) - 1) / span_s, 2) if span_s > 0 else None,
        "stages": stages,
        "latency_ms": {k: percentiles(v) for k, v in sorted(latency_samples.items())},
        "models": models,
        "providers": sorted({p for m in models for p in m.get("active_providers", [])}),
        "warnings": warnings,
    }
    accuracy = evaluate_against_truth(records)
    if accuracy:
        from monitor.gaze.evaluate_run import distraction_config_of, evaluate_gaze, read_jsonl, road_zones_of
        layout = next((b.get("info", {}).get("layout") for b in reversed(reports.get("gaze", {}).get("incarnations", []))
                       if b.get("info", {}).get("layout")), None)
        try:  # zone confusion matrix and event matching where the truth has gaze zones
            accuracy.update(evaluate_gaze(records, read_jsonl(out_dir / "events.jsonl"), road_zones_of(layout),
                                          config=distraction_config_of(run_info)))
        except ValueError as exc:
            accuracy["gaze_error"] = str(exc)
        summary["accuracy"] = accuracy
    return summary


def evaluate_against_truth(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Head-pose and joint errors on frames whose source carried ground truth."""
    errors: dict[str, list[float]] = {"yaw": [], "pitch": [], "roll": []}
    joint_px: list[float] = []
    with_truth = missed_heads = 0
    for record in records:
        truth = record.get("truth")
        if not truth:
            continue
        with_truth += 1
        est = record.get("estimates") or {}
        # A labels file of a user's own may hold only some keys: what a frame lacks is not scored.
        head_truth, head_est = _angles(truth.get("head")), est.get("head")
        if head_truth and head_est:
            for axis in errors:
                errors[axis].append(abs(_wrap(head_est[f"{axis}_deg"] - head_truth[axis])))
        elif head_truth:
            missed_heads += 1
        joints_truth, joints_est = truth.get("joints"), est.get("joints")
        truth_uv = joints_truth.get("uv") if isinstance(joints_truth, dict) else None
        if isinstance(truth_uv, list) and joints_est:
            visible = joints_truth.get("visible") or [True] * len(truth_uv)
            for t, e, seen in zip(truth_uv, joints_est["uv"], visible):
                if seen and _is_point(t) and e[0] is not None:
                    joint_px.append(math.dist(t, e))
    if not with_truth:
        return {}
    result: dict[str, Any] = {"frames_with_truth": with_truth, "head_missed": missed_heads}
    if errors["yaw"]:
        mae = {axis: round(sum(v) / len(v), 3) for axis, v in errors.items()}
        mae["avg"] = round(sum(mae.values()) / 3, 3)
        result["head_pose_mae_deg"] = mae
    if joint_px:
        result["joint_error_px"] = percentiles(joint_px)
    return result


def _angles(head: Any) -> dict[str, float] | None:
    """yaw/pitch/roll of a truth head, or None unless it has all three as numbers."""
    if not isinstance(head, dict):
        return None
    angles = {axis: head.get(f"{axis}_deg") for axis in ("yaw", "pitch", "roll")}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in angles.values()):
        return angles  # type: ignore[return-value]
    return None


def _is_point(uv: Any) -> bool:
    return (isinstance(uv, list) and len(uv) == 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in uv))


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    path = out_dir / SUMMARY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a summary
    return path


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    frames = summary["frames"]
    lines = [f"frames: {frames['captured']} captured, {frames['processed']} processed, {frames['lost']} lost"
             + (f"; {summary['fps']} fps" if summary.get("fps") else "")]
    e2e = summary["latency_ms"].get("end_to_end")
    if e2e and e2e.get("n"):
        queued = summary.get("run", {}).get("realtime") is False and summary.get("run", {}).get("policy") == "replay"
        lines.append(f"end-to-end latency ms: p50 {e2e['p50']}  p90 {e2e['p90']}  p99 {e2e['p99']}  max {e2e['max']}"
                     + ("  (--fast: frames wait in the queues, so this is mostly waiting; run paced, or "
                        "`run_monitor.py bench`, for latency)" if queued else ""))
    for stage in ("estimator", "gaze"):
        s = summary["latency_ms"].get(stage)
        if s and s.get("n"):
            lines.append(f"{stage:>9} ms: p50 {s['p50']}  p99 {s['p99']}")
    drops = {r: s["send_dropped"] + s["stale_dropped"] + s["malformed"] for r, s in summary["stages"].items()}
    restarts = {r: s["restarts"] for r, s in summary["stages"].items() if s["restarts"]}
    lines.append(f"drops per stage: {drops}" + (f"; restarts: {restarts}" if restarts else ""))
    if summary["providers"]:
        lines.append(f"providers: {', '.join(summary['providers'])}")
    if "accuracy" in summary and "head_pose_mae_deg" in summary["accuracy"]:
        lines.append(f"head pose MAE deg vs truth: {summary['accuracy']['head_pose_mae_deg']}")
    if "accuracy" in summary and "gaze" in summary["accuracy"]:
        from monitor.gaze.evaluate_run import format_report
        lines.append(format_report("gaze vs truth", summary["accuracy"]))
    lines += [f"WARNING: {w}" for w in summary["warnings"]]
    return "\n".join(lines)

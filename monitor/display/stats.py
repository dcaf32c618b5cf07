"""The summary's "display" section: what the display showed and wrote, and where frames went."""
from __future__ import annotations

from typing import Any


def display_report(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary's "display" section from the workers' final heartbeats: what was shown and
    written, and where frames were lost (on the live link upstream, or skipped by the display)."""
    beats = reports.get("display", {}).get("incarnations", [])
    shown = video = skipped = gaps = 0
    cpu_s = 0.0
    info: dict[str, Any] = {}
    for beat in beats:
        counters = beat.get("counters", {})
        shown += int(counters.get("shown", 0))
        cpu_s += float(counters.get("cpu_s", 0.0))
        video += int(counters.get("video_frames", 0))
        join = counters.get("join", {})
        skipped += int(join.get("skipped_frames", 0))
        gaps += int(join.get("gaps", 0))
        info.update(beat.get("info", {}))
    upstream = 0
    for beat in reports.get("capture", {}).get("incarnations", []):
        link = beat.get("links", {}).get("out:display", {})
        upstream += int(link.get("stale_dropped", 0)) + int(link.get("send_dropped", 0))
    return {"window": bool(info.get("window")), "lossless": bool(info.get("lossless")),
            "frames_shown": shown, "video_frames": video, "video_fps": info.get("video_fps"),
            "dropped_upstream": upstream, "skipped_by_display": skipped, "gaps_seen": gaps,
            "restarts": reports.get("display", {}).get("restarts", 0), "cpu_s": round(cpu_s, 3),
            **({"window_rect": info["window_rect"]} if "window_rect" in info else {})}


def format_display(section: dict[str, Any]) -> str:
    """One line for the terminal."""
    parts = [f"display: {section['frames_shown']} shown" if section["window"] else "display: no window"]
    if section["video_frames"]:
        parts.append(f"overlay.mp4 {section['video_frames']} frames")
    parts.append(f"{section['dropped_upstream']} dropped on the live link, "
                 f"{section['skipped_by_display']} skipped by the display")
    return ", ".join(parts)

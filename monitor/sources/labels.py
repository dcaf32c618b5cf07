"""Per-frame labels beside a recording: the ``PATH.labels.jsonl`` sidecar (docs/labels.md).

One JSON object a line, ``{"frame": N, "labels": {...}}``, where N is the recording's own frame
number and the labels follow docs/labels.md (a user's own file may hold only the keys they
labelled, e.g. ``gaze.zone``). ``synth.export`` writes one beside every recording it makes; a
RealSense recording played with one carries the labels as its frames' truth, so the run is
evaluated like a synthetic one (monitor/gaze/evaluate_run.py). A ``.dmsrec`` needs none: its
frames carry their truth.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.sources.base import SourceError

SUFFIX = ".labels.jsonl"


class LabelsError(SourceError, ValueError):
    """The sidecar cannot be read; the message names the file and line and says what to do."""


def labels_path(recording: str | Path) -> Path:
    """Where the sidecar of ``recording`` lives: the recording's name plus ``.labels.jsonl``."""
    p = Path(recording)
    return p.with_name(p.name + SUFFIX)


def format_line(frame: int, labels: dict[str, Any] | None) -> str:
    """One sidecar line (with its newline): the writer's half of `read_labels`."""
    return json.dumps({"frame": int(frame), "labels": labels}) + "\n"


@dataclass(frozen=True)
class FrameLabels:
    """One frame's labels, and the JSON text they travel as (docs/wire_format.md, ``truth_json``)."""

    labels: dict[str, Any]
    text: str

    def camera_pose(self) -> dict[str, Any] | None:
        """The camera's pose in the car frame, if the labels state it (synthetic mounts are
        jittered, so the gaze stage needs the one each frame was made with)."""
        camera = self.labels.get("camera")
        pose = camera.get("extrinsics") if isinstance(camera, dict) else None
        return pose if isinstance(pose, dict) else None


def read_labels(path: str | Path) -> dict[int, FrameLabels]:
    """The sidecar at ``path`` (the sidecar itself, not the recording) as frame -> labels.
    Raises LabelsError naming the first bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path}: cannot read the labels file ({exc}); fix it, or move it away to "
                          "replay the recording without labels") from None
    frames: dict[int, FrameLabels] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        frame = record.get("frame") if isinstance(record, dict) else None
        labels = record.get("labels") if isinstance(record, dict) else None
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0 or not isinstance(labels, dict):
            raise LabelsError(f"{path} line {number}: expected {{\"frame\": N >= 0, \"labels\": {{...}}}} "
                              "(docs/labels.md); fix the line, or move the file away to replay without labels")
        if frame in frames:
            raise LabelsError(f"{path} line {number}: frame {frame} is labelled twice; keep one line per frame")
        frames[frame] = FrameLabels(labels, json.dumps(labels, separators=(",", ":")))
    return frames


def labels_beside(recording: str | Path) -> tuple[Path | None, dict[int, FrameLabels]]:
    """The sidecar of ``recording`` and its labels, or (None, {}) when it has none."""
    path = labels_path(recording)
    if not path.exists():
        return None, {}
    return path, read_labels(path)

"""Per-frame labels beside a recording: the ``PATH.labels.jsonl`` sidecar (docs/labels.md), e.g.
``drive.db3.labels.jsonl``, or ``drive.labels.jsonl``.

One JSON object a line, ``{"frame": N, "labels": {...}}``, where N is the recording's own frame
number and the labels follow docs/labels.md (a user's own file may hold only the keys they
labelled, e.g. ``gaze_zone``; a RealSense replay fills in a missing ``time_s`` from the frame's
device time). ``synth.export`` writes one beside every recording it makes; a RealSense recording
played with one carries the labels as its frames' truth, so the run is evaluated like a synthetic
one (monitor/gaze/evaluate_run.py). A ``.dmsrec`` needs none: its frames carry their truth.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from monitor.sources.base import SourceError

SUFFIX = ".labels.jsonl"
_FIX = "fix it, or move the labels file away to replay the recording without labels"


class LabelsError(SourceError, ValueError):
    """The sidecar cannot be used; the message names the file and line and says what to do."""


def labels_path(recording: str | Path) -> Path:
    """Where the sidecar of ``recording`` lives: the recording's name plus ``.labels.jsonl``."""
    p = Path(recording)
    return p.with_name(p.name + SUFFIX)


def sidecar_of(recording: str | Path) -> Path | None:
    """The sidecar of ``recording`` if there is one: ``drive.db3.labels.jsonl`` (what synth.export
    writes), else ``drive.labels.jsonl`` (the name a user who reads "PATH.labels.jsonl" may give)."""
    p = Path(recording)
    for path in (labels_path(p), p.with_name(p.stem + SUFFIX)):
        if path.exists():
            return path
    return None


def format_line(frame: int, labels: dict[str, Any] | None) -> str:
    """One sidecar line (with its newline): the writer's half of `read_sidecar`."""
    return json.dumps({"frame": int(frame), "labels": labels}) + "\n"


def read_sidecar(path: str | Path) -> dict[int, str]:
    """The sidecar at ``path`` as frame -> that frame's labels as compact JSON text (parsed again
    per frame as it plays: text keeps a long recording's labels small). Every line is checked as
    the evaluation will read it; raises LabelsError naming the first bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path}: cannot read the labels file ({exc}); {_FIX}") from None
    frames: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_refuse_number, parse_float=_finite_float)
        except (ValueError, RecursionError) as exc:
            raise LabelsError(f"{path} line {number}: not a line of JSON ({str(exc)[:80]}); {_FIX}") from None
        frame = record.get("frame") if isinstance(record, dict) else None
        labels = record.get("labels") if isinstance(record, dict) else None
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0 or not isinstance(labels, dict):
            raise LabelsError(f"{path} line {number}: expected {{\"frame\": N >= 0, \"labels\": {{...}}}} "
                              f"(docs/labels.md); {_FIX}")
        if frame in frames:
            raise LabelsError(f"{path} line {number}: frame {frame} is labelled twice; keep one line per frame")
        problem = label_problem(labels)
        if problem:
            raise LabelsError(f"{path} line {number} (frame {frame}): {problem} (docs/labels.md); {_FIX}")
        frames[frame] = json.dumps(labels, separators=(",", ":"))
    return frames


def labels_beside(recording: str | Path) -> tuple[Path | None, dict[int, str]]:
    """The sidecar of ``recording`` and its labels (`read_sidecar`), or (None, {}) without one."""
    path = sidecar_of(recording)
    return (path, read_sidecar(path)) if path is not None else (None, {})


def camera_pose_of(labels: dict[str, Any]) -> dict[str, Any] | None:
    """The camera's pose in the car frame, if the labels state it (synthetic mounts are
    jittered, so the gaze stage needs the one each frame was made with)."""
    camera = labels.get("camera")
    return camera.get("extrinsics") if isinstance(camera, dict) else None


def label_problem(labels: dict[str, Any]) -> str | None:
    """What is wrong with the keys of one frame's labels that the run reads (the evaluation, the
    gaze stage's camera pose), or None. Keys it does not read may hold anything."""
    if "time_s" in labels and not _is_number(labels["time_s"]):
        return "time_s must be a number of seconds"
    if not _is_zone(labels.get("gaze_zone")):
        return "gaze_zone must be a zone name or null"
    gaze = labels.get("gaze")
    if gaze is not None and not (isinstance(gaze, dict) and _is_zone(gaze.get("zone"))):
        return "gaze must be an object whose zone is a zone name or null"
    episodes = labels.get("episodes")
    if episodes is not None and not (isinstance(episodes, list) and all(_is_episode(e) for e in episodes)):
        return "episodes must be a list of {kind, start_s[, end_s, trigger_s]} objects, times in seconds"
    head = labels.get("head")
    if head is not None and not (isinstance(head, dict) and all(
            _is_number(head[k]) for k in ("yaw_deg", "pitch_deg", "roll_deg") if k in head)):
        return "head must be an object whose yaw_deg, pitch_deg and roll_deg are numbers"
    joints = labels.get("joints")
    if joints is not None and not (isinstance(joints, dict) and _is_joints(joints)):
        return ("joints must be an object whose uv is a list of [u, v] pixels (or [null, null]) and whose "
                "visible, if given, is a list of true/false as long as uv")
    camera = labels.get("camera")
    pose = camera.get("extrinsics") if isinstance(camera, dict) else None
    if pose is not None and not _is_pose(pose):
        return ("camera.extrinsics must be a camera pose {rotation: a 3x3 rotation matrix, position_mm: [x, y, z]} "
                "(docs/cabin_layout.md)")
    return None


def _refuse_number(name: str) -> Any:
    raise ValueError(f"{name} is not a number a label may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number a label may hold")
    return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_zone(x: Any) -> bool:
    return x is None or isinstance(x, str)


def _is_episode(e: Any) -> bool:
    return (isinstance(e, dict) and isinstance(e.get("kind"), str) and _is_number(e.get("start_s"))
            and ("end_s" not in e or _is_number(e["end_s"]))
            and (e.get("trigger_s") is None or _is_number(e["trigger_s"])))


def _is_joints(joints: dict[str, Any]) -> bool:
    uv, visible = joints.get("uv"), joints.get("visible")
    if uv is None:
        return True  # nothing to score: visible unused
    if not (isinstance(uv, list) and all(
            isinstance(p, list) and len(p) == 2 and (all(_is_number(c) for c in p) or p == [None, None]) for p in uv)):
        return False
    return visible is None or (isinstance(visible, list) and len(visible) == len(uv)
                               and all(isinstance(v, bool) for v in visible))


def _is_pose(pose: Any) -> bool:
    """{rotation: a proper 3x3 rotation, position_mm: 3 numbers}, all finite (CameraPose.from_dict's form)."""
    if not isinstance(pose, dict):
        return False
    rotation, position = pose.get("rotation"), pose.get("position_mm")
    if not (isinstance(rotation, list) and len(rotation) == 3
            and all(isinstance(row, list) and len(row) == 3 and all(_is_number(v) for v in row) for row in rotation)
            and isinstance(position, list) and len(position) == 3 and all(_is_number(v) for v in position)):
        return False
    r = np.array(rotation, dtype=np.float64)
    return bool(np.allclose(r.T @ r, np.eye(3), atol=1e-3) and np.linalg.det(r) > 0)

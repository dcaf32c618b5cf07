"""Write a synthetic sequence as a recording, with its labels in a sidecar file.

    python -m synth.export --out runs/drive.dmsrec --spec seed=1,scenario=drive
    python -m synth.export --out runs/drive.db3 --spec seed=1,camera=d435 --frames 300

``.dmsrec``: the project's format (monitor/recording.py); the truth also travels in each frame's meta.
``.db3``: a RealSense ROS2 recording written through ``rs.software_device`` + ``rs.recorder`` by
``monitor.sources.realsense_writer.write_realsense_recording`` (imported only when needed).
Both get ``PATH.labels.jsonl``: one JSON object per line, ``{"frame": i, "labels": {...}}``
(docs/labels.md), in frame order.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable, Iterator

from monitor.frames import FrameSet
from monitor.recording import RecordingWriter


def labels_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".labels.jsonl")


def _with_sidecar(framesets: Iterable[FrameSet], sidecar: Path) -> Iterator[FrameSet]:
    """Pass frames through while writing their labels, one line each."""
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    with open(sidecar, "w") as fh:
        for fs in framesets:
            fh.write(json.dumps({"frame": fs.frame, "labels": fs.truth}) + "\n")
            yield fs


def write_dmsrec(path: str | Path, framesets: Iterable[FrameSet], info: dict | None = None) -> int:
    """Write framesets (with their truth in meta) to a .dmsrec file plus the labels sidecar."""
    n = 0
    with RecordingWriter(path, {"source": "synthetic", **(info or {})}) as rec:
        for fs in _with_sidecar(framesets, labels_path(path)):
            rec.write(fs.to_message({}))
            n += 1
    return n


def write_db3(path: str | Path, framesets: Iterable[FrameSet], fps: float = 30.0) -> int:
    """Write a RealSense .db3 recording (needs monitor.sources.realsense_writer) plus the sidecar."""
    try:
        from monitor.sources.realsense_writer import write_realsense_recording
    except ImportError as exc:
        raise RuntimeError("writing .db3 needs monitor/sources/realsense_writer.py (the RealSense writer) "
                           f"and pyrealsense2; it is not importable here ({exc}). Use a .dmsrec path instead.") from None
    return int(write_realsense_recording(str(path), _with_sidecar(framesets, labels_path(path)), fps=int(round(fps))))


def read_labels(path: str | Path) -> list[dict]:
    """Labels sidecar of a recording, in frame order."""
    with open(labels_path(path)) as fh:
        return [json.loads(line)["labels"] for line in fh if line.strip()]


def export(out: str | Path, spec: str = "", frames: int | None = None) -> int:
    from monitor.sources.synthetic import open_synthetic

    options = dict(item.split("=", 1) for item in filter(None, spec.split(",")))
    if frames is not None:
        options["frames"] = str(frames)
    src = open_synthetic(**options)
    suffix = Path(out).suffix.lower()
    if suffix == ".dmsrec":
        return write_dmsrec(out, iter(src), {"spec": spec})
    if suffix == ".db3":
        return write_db3(out, iter(src), src.scene.fps)
    raise ValueError(f"unsupported output {out!r}: give a path ending in .dmsrec or .db3")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a synthetic sequence as a .dmsrec or RealSense .db3 recording.")
    ap.add_argument("--out", required=True, help="PATH.dmsrec or PATH.db3")
    ap.add_argument("--spec", default="", help="synthetic source options, e.g. seed=1,scenario=drive,camera=d435")
    ap.add_argument("--frames", type=int, default=None)
    a = ap.parse_args(argv)
    n = export(a.out, a.spec, a.frames)
    print(f"wrote {n} frames to {a.out} (labels: {labels_path(a.out)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

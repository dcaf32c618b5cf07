"""Write a synthetic sequence as a recording, with its labels in a sidecar file.

    python -m synth.export --out runs/drive.dmsrec --spec seed=1,scenario=drive
    python -m synth.export --out runs/drive.db3 --spec seed=1,camera=d435 --frames 300

An existing PATH or PATH.labels.jsonl is refused unless --overwrite is given.

``.dmsrec``: the project's format (monitor/recording.py); the truth also travels in each frame's meta.
``.db3``: a RealSense ROS2 recording written through ``rs.software_device`` + ``rs.recorder`` by
``monitor.sources.realsense_writer.write_realsense_recording`` (imported only when needed).
Both get ``PATH.labels.jsonl``: one JSON object per line, ``{"frame": i, "labels": {...}}``
(docs/labels.md, monitor/sources/labels.py), in frame order; a ``.db3`` played back
(``run_monitor.py --source PATH.db3``) carries them as its frames' truth.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator

from monitor.frames import FrameSet
from monitor.recording import RecordingWriter
from monitor.sources.base import SourceError
from monitor.sources.labels import format_line, labels_path, read_sidecar
from synth.dataset import Progress


def _with_sidecar(framesets: Iterable[FrameSet], sidecar: Path) -> Iterator[FrameSet]:
    """Pass frames through while writing their labels, one line each."""
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    with open(sidecar, "w") as fh:
        for fs in framesets:
            fh.write(format_line(fs.frame, fs.truth))
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
    frames = read_sidecar(labels_path(path))
    return [json.loads(frames[n]) for n in sorted(frames)]


SUFFIXES = (".dmsrec", ".db3")


def export(out: str | Path, spec: str = "", frames: int | None = None, progress: bool = False) -> int:
    from monitor.sources import parse_spec
    from monitor.sources.synthetic import open_synthetic

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unsupported output {str(out)!r}: give a path ending in .dmsrec or .db3")
    _, options = parse_spec(f"synthetic:{spec}")  # the same options as run_monitor.py --source synthetic:...
    if frames is not None:
        options["frames"] = str(frames)
    src = open_synthetic(**options)
    if src.loop:
        raise ValueError("--spec loop=... would never end an export: leave it out (--frames N or duration=S sets the length)")
    framesets = _counted(iter(src), Progress(src.frames, f"export {out.name}")) if progress else iter(src)
    # Written under temporary names, renamed when complete: a failed or interrupted export leaves
    # no half-written recording or labels, and whatever was at ``out`` before is untouched.
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        if suffix == ".dmsrec":
            n = write_dmsrec(partial, framesets, {"spec": spec})
        else:
            n = write_db3(partial, framesets, src.scene.fps)
        labels_path(partial).replace(labels_path(out))
        partial.replace(out)
    finally:
        for path in (partial, labels_path(partial)):
            path.unlink(missing_ok=True)
    return n


def _counted(framesets: Iterator[FrameSet], bar: Progress) -> Iterator[FrameSet]:
    for fs in framesets:
        yield fs
        bar.update()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a synthetic sequence as a .dmsrec or RealSense .db3 recording, "
                                             "with its labels in PATH.labels.jsonl (docs/labels.md).")
    ap.add_argument("--out", required=True, help="PATH.dmsrec or PATH.db3")
    ap.add_argument("--spec", default="", help="synthetic source options, as run_monitor.py --source synthetic:SPEC, "
                                               "e.g. seed=1,scenario=drive,camera=d435 (default: the default scene)")
    ap.add_argument("--frames", type=int, default=None, help="frames to write (default: the whole scene)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an existing --out and its labels file (default: refuse, as run_monitor.py does)")
    a = ap.parse_args(argv)
    try:
        if a.frames is not None and a.frames < 1:
            raise ValueError("--frames must be >= 1")
        # checked before rendering (a wrong suffix is export's error): an existing recording is kept
        if not a.overwrite and Path(a.out).suffix.lower() in SUFFIXES:
            for path in (Path(a.out), labels_path(a.out)):
                if path.exists():
                    raise ValueError(f"{path} already exists: remove it or pass a new --out "
                                     "(--overwrite replaces it)")
        n = export(a.out, a.spec, a.frames, progress=True)
    except (SourceError, ValueError, RuntimeError) as exc:  # bad spec or path, no pyrealsense2 for .db3
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {a.out}: {exc.strerror or exc} ({exc.filename}); choose another --out",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {a.out} and its labels were not kept", file=sys.stderr)
        return 130
    print(f"wrote {n} frames to {a.out} (labels: {labels_path(a.out)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

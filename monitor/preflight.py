"""Checks of the user's inputs before a run starts, and the clean-up when one fails anyway.

A bad file should cost one clear line and leave nothing behind: whatever can be checked cheaply
here (recording structure, layout, calibration, keys, model paths) is checked before the output
folder exists. What only a worker can find out (a model that ONNX Runtime refuses, a camera that
does not open) ends the run with exit code 2, and `remove_unstarted_run` removes what was made.
"""
from __future__ import annotations

import argparse
import os
import struct
import tempfile
from pathlib import Path

from monitor.recording import MAX_PART_BYTES, MAX_PARTS, RecordingError, RecordingReader
from monitor.wire import WireError, decode

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
HEADER_PARTS = 2  # topic and JSON header; the buffers after them are only length-checked


def scan_recording(path: str | Path) -> int:
    """Walk every record of a .dmsrec file without reading its pixels: framing, part sizes and
    each message's topic and header (with buffers of the declared sizes). Returns the number of
    frame records; raises RecordingError naming the first bad record. A last record cut short
    by a crash is accepted, as the reader does (it warns and stops before it)."""
    with RecordingReader(path) as reader:  # checks magic, file header and version
        f, size, index, frames = reader._file, reader.size, 0, 0
        while True:
            start = f.tell()
            head = f.read(4)
            if len(head) < 4:
                break  # end of file (or a record cut after <4 bytes)
            (count,) = _U32.unpack(head)
            if not 1 <= count <= MAX_PARTS:
                raise RecordingError(f"{path}: corrupt record {index} at byte {start} ({count} parts); "
                                     "the file is damaged: record it again or cut it before this record")
            parts: list[bytes] = []
            lengths: list[int] = []
            cut = False
            for i in range(count):
                raw = f.read(8)
                if len(raw) < 8:
                    cut = True
                    break
                (length,) = _U64.unpack(raw)
                if length > MAX_PART_BYTES or f.tell() + length > size:
                    if f.tell() + length > size and length <= MAX_PART_BYTES:
                        cut = True  # the crash case: the last record runs past the end of the file
                        break
                    raise RecordingError(f"{path}: corrupt record {index} at byte {start} (a part of {length} "
                                         "bytes); the file is damaged")
                lengths.append(length)
                if i < HEADER_PARTS:
                    parts.append(f.read(length))
                else:
                    f.seek(length, 1)
            if cut:
                break
            _check_record(path, index, start, parts, lengths)
            frames += parts[0] == b"frames"
            index += 1
    if frames == 0:
        raise RecordingError(f"{path}: the recording holds no frames")
    return frames


def _check_record(path: str | Path, index: int, start: int, parts: list[bytes], lengths: list[int]) -> None:
    """Decode topic and header against zero-filled stand-ins of the buffers' declared sizes."""
    zeros = memoryview(bytes(max(lengths[HEADER_PARTS:], default=0)))  # calloc'd: costs no reading
    try:
        decode([*parts, *(zeros[:n] for n in lengths[HEADER_PARTS:])])
    except WireError as exc:
        raise RecordingError(f"{path}: record {index} at byte {start} is not a valid message ({exc}); "
                             "the file is damaged or was not written by this program") from None


def check_inputs(args: argparse.Namespace, kind: str) -> None:
    """Raise ValueError (or SourceError) with a one-line message for the first bad input."""
    if kind == "dmsrec":
        scan_recording(args.source)
    elif kind == "rsfile" and not Path(args.source).is_file():
        raise ValueError(f"{args.source}: no such recording file")
    elif kind == "synthetic":  # the scene's options, checked by building it (~0.3 s, nothing rendered)
        from monitor.sources import parse_spec
        from monitor.sources.synthetic import open_synthetic
        open_synthetic(**parse_spec(args.source)[1])
    hints = {"--eye-model": " (--eye-model none runs without eye gaze)",
             "--cover-model": " (--cover-model none runs without it)"}
    for option, path in (("--body-model", args.body_model), ("--head-model", args.head_model),
                         ("--eye-model", args.eye_model), ("--cover-model", getattr(args, "cover_model", ""))):
        if path and not Path(path).is_file():
            raise ValueError(f"{option} {path}: model file not found{hints.get(option, '')}")
    if args.eye_model:
        from monitor.estimator.model_files import eye_locator_of, missing_locator_message
        locator = eye_locator_of(args.eye_model)
        if locator is not None and not locator.is_file():
            raise ValueError(missing_locator_message(args.eye_model, locator))
    if args.layout:
        from calib.layout import load_layout

        load_layout(args.layout)
    if args.driver_calibration:
        from calib.driver_calibration import DriverCalibration

        DriverCalibration.load(args.driver_calibration)
    if args.transport == "tcp":
        from monitor.security import CurveKeys

        if not args.keys:
            raise ValueError("--transport tcp needs --keys DIR (links are authenticated and encrypted); "
                             "make keys with `python run_monitor.py keys --out DIR`")
        CurveKeys.load(args.keys)
    if not 1 <= args.tcp_port <= 65535 - 1000 - 64:
        raise ValueError(f"--tcp-port {args.tcp_port}: use a port between 1 and {65535 - 1000 - 64}")


def make_out_dir(path: Path, option: str = "--out") -> None:
    """Create the output folder (and its parents), or raise ValueError with one line that says why
    it cannot be one: a file of that name, a parent that is a file, no permission."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; choose another {option}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot create the folder ({exc.strerror}); choose another {option}") from None
    try:  # an existing folder may still refuse files (permissions, a read-only or immutable mount)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".dms-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write in this folder ({exc.strerror}); choose another {option}") from None


def remove_unstarted_run(out: Path, created: list[Path]) -> bool:
    """After a bad-input failure: if no frame was written, delete this run's files and the folders
    it created. Returns whether the run left nothing behind."""
    results = out / "results.jsonl"
    if results.exists() and results.stat().st_size > 0:
        return False
    for name in ("results.jsonl", "events.jsonl", "summary.json"):
        (out / name).unlink(missing_ok=True)
    for recording in out.glob("recording*.dmsrec"):
        recording.unlink()
    for folder in created:  # deepest first
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        elif folder.is_dir():
            break
    return True


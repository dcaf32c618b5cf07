"""The project's recording format (``.dmsrec``): wire messages stored exactly as they travelled.

Layout (little-endian; docs/recording_format.md):
    magic  b"DMSREC\\x00\\x01"            8 bytes
    u32 n + n bytes of JSON file header  {"format": "dmsrec", "version": 1, ...}
    records, each:  u32 part count, then per part: u64 length + bytes
A record is one multipart wire message, so replay is bit-exact and goes through the same
validation as live traffic. Records are appended and flushed one by one: after a crash at most the
last record is incomplete, and the reader stops before it with a warning.
"""
from __future__ import annotations

import json
import logging
import math
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import numpy as np

from monitor.shm import Allocator
from monitor.wire import Message, WireError, decode, encode, part_layout

MAGIC = b"DMSREC\x00\x01"
FORMAT_VERSION = 1
MAX_PARTS = 16
MAX_PART_BYTES = 128 * 1024 * 1024
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
log = logging.getLogger(__name__)


def _lend(header: bytes, allocate: Allocator, room: int) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The arrays to read a record's buffer parts into (in part order) and by name, from its
    header; none when the header is not usable (decode then says why) or declares more bytes
    than the ``room`` left in the file (a corrupt header must not make a huge ring)."""
    try:
        layout = part_layout(header)
    except WireError:
        return [], {}
    names = [name for name, _, _ in layout]
    if len(set(names)) != len(names) or sum(d.itemsize * math.prod(sh) for _, d, sh in layout) > room:
        return [], {}
    lent = allocate({name: (dtype, shape) for name, dtype, shape in layout})
    return [lent[name] for name in names], lent


class RecordingError(ValueError):
    """The file is not a readable .dmsrec recording; the message says where and why."""


class RecordingWriter:
    """Appends wire messages to a new ``.dmsrec`` file."""

    def __init__(self, path: str | os.PathLike[str], info: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(self.path, "wb")
        header = json.dumps({"format": "dmsrec", "version": FORMAT_VERSION, **(info or {})}).encode()
        self._file.write(MAGIC + _U32.pack(len(header)) + header)
        self._file.flush()
        self.records = 0

    def write_parts(self, parts: Sequence[Any]) -> None:
        """Store one multipart message (bytes-like parts, e.g. as received from the bus)."""
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        views = [memoryview(getattr(p, "buffer", p)).cast("B") for p in parts]
        chunks: list[Any] = [_U32.pack(len(views))]
        for view in views:
            chunks += [_U64.pack(len(view)), view]
        self._file.write(b"".join(chunks))
        self._file.flush()
        self.records += 1

    def write(self, msg: Message) -> None:
        self.write_parts(encode(msg))

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordingReader:
    """Reads a ``.dmsrec`` file; iterate for decoded `Message`s in recorded order."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(f"{self.path}: no such recording file")
        self._file: BinaryIO = open(self.path, "rb")
        self.size = self.path.stat().st_size
        magic = self._file.read(len(MAGIC))
        if magic != MAGIC:
            self._file.close()
            raise RecordingError(f"{self.path}: not a .dmsrec recording (bad magic bytes); "
                                 "RealSense recordings must end in .bag or .db3")
        try:
            (n,) = _U32.unpack(self._read_exact(4))
            self.info: dict[str, Any] = json.loads(self._read_exact(n))
        except (EOFError, ValueError) as exc:
            self._file.close()
            raise RecordingError(f"{self.path}: corrupt file header ({exc})") from None
        if self.info.get("version") != FORMAT_VERSION:
            self._file.close()
            raise RecordingError(f"{self.path}: recording format version {self.info.get('version')!r}, "
                                 f"this build reads version {FORMAT_VERSION}")
        self.truncated = False
        self._index = 0

    @property
    def records_read(self) -> int:
        """Complete records read so far (all of them, once ``truncated`` is set)."""
        return self._index

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def messages(self, allocate: Allocator | None = None) -> Iterator[Message]:
        """Decoded messages in recorded order. With ``allocate`` (FrameSource.allocate) each
        record's buffers are read straight into the arrays it returns (e.g. views of a
        shared-memory ring slot), and the message carries those very arrays."""
        for parts, filled in self._records(allocate):
            try:
                msg = decode(parts)
            except WireError as exc:
                raise RecordingError(f"{self.path}: record {self._index} is not a valid message ({exc})") from None
            # decode made new views of the same memory; the lent arrays themselves are what a
            # ring recognises (and commits without a copy)
            msg.arrays.update({k: a for k, a in filled.items() if k in msg.arrays})
            yield msg

    def iter_parts(self) -> Iterator[list[Any]]:
        return (parts for parts, _ in self._records(None))

    def _records(self, allocate: Allocator | None) -> Iterator[tuple[list[Any], dict[str, np.ndarray]]]:
        """(parts, name -> lent array that a buffer part was read into) per record."""
        self._index = 0
        while True:
            start = self._file.tell()
            head = self._file.read(4)
            if not head:
                return
            try:
                if len(head) != 4:
                    raise EOFError
                (count,) = _U32.unpack(head)
                if not 1 <= count <= MAX_PARTS:
                    raise RecordingError(f"{self.path}: corrupt record at byte {start} ({count} parts)")
                parts: list[Any] = []
                targets: list[np.ndarray] = []  # per buffer part (after topic and header)
                lent: dict[str, np.ndarray] = {}
                for i in range(count):
                    (length,) = _U64.unpack(self._read_exact(8))
                    if length > MAX_PART_BYTES or length > self.size:
                        raise RecordingError(f"{self.path}: corrupt record at byte {start} (part of {length} bytes)")
                    target = targets[i - 2] if 2 <= i < 2 + len(targets) else None
                    if target is not None and target.nbytes == length:
                        self._readinto_exact(target)
                        parts.append(target)
                    else:  # no layout, or not the declared size (decode will say so)
                        parts.append(self._read_exact(length))
                    if i == 1 and allocate is not None:
                        targets, lent = _lend(parts[1], allocate, self.size - self._file.tell())
            except EOFError:
                self.truncated = True
                log.warning("%s: last record (byte %d) is incomplete, probably cut by a crash; "
                            "%d complete records were read", self.path, start, self._index)
                return
            self._index += 1
            yield parts, {k: a for k, a in lent.items() if any(a is p for p in parts[2:])}

    def _readinto_exact(self, target: np.ndarray) -> None:
        if self._file.readinto(memoryview(target).cast("B")) != target.nbytes:
            raise EOFError

    def _read_exact(self, n: int) -> bytes:
        data = self._file.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

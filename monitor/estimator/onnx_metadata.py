"""An ONNX file's metadata (``metadata_props``, where each model keeps its contract) read straight
from its protobuf bytes, without ONNX Runtime.

The supervisor checks the models it is given before any worker starts (monitor/preflight.py);
loading ONNX Runtime for that would keep ~40 MiB in a process that otherwise does no inference.
A ModelProto's top-level fields are walked and every field but ``metadata_props`` (number 14: a
repeated StringStringEntryProto of ``key`` = 1, ``value`` = 2) is skipped by its length, so the
graph's weights are never parsed. The workers still load the model in ONNX Runtime, which reads
the same metadata (tests compare the two on every shipped model).
"""
from __future__ import annotations

from pathlib import Path

METADATA_PROPS = 14  # ModelProto.metadata_props
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5  # protobuf wire types (groups, 3 and 4, are not in ONNX)


def read_metadata(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of the ONNX model at ``path`` as a dict. Raises ValueError for a file that
    is not a well-formed protobuf message (OSError when it cannot be read)."""
    data = memoryview(Path(path).read_bytes())  # models are small; skipping never copies
    if not data:
        raise ValueError(f"{path}: empty file")
    metadata: dict[str, str] = {}
    for number, value in _fields(data, str(path)):
        if number == METADATA_PROPS and isinstance(value, memoryview):
            entry = dict(_fields(value, str(path)))
            key, val = entry.get(1, memoryview(b"")), entry.get(2, memoryview(b""))
            if not isinstance(key, memoryview) or not isinstance(val, memoryview):
                raise ValueError(f"{path}: a metadata entry is not a pair of strings")
            metadata[_text(key, path)] = _text(val, path)
    return metadata


def _fields(buf: memoryview, where: str):
    """(field number, value) of each field of one message: an int for numbers, a memoryview for
    length-delimited fields (strings, bytes, sub-messages)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{where}: not an ONNX model (field number 0)")
        if wire == VARINT:
            value, pos = _varint(buf, pos, where)
            yield number, value
        elif wire == LENGTH:
            size, pos = _varint(buf, pos, where)
            if pos + size > end:
                raise ValueError(f"{where}: not an ONNX model, or cut short (a field runs past the end)")
            yield number, buf[pos:pos + size]
            pos += size
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
            if pos > end:
                raise ValueError(f"{where}: not an ONNX model, or cut short")
            yield number, None
        else:
            raise ValueError(f"{where}: not an ONNX model (wire type {wire})")


def _varint(buf: memoryview, pos: int, where: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError(f"{where}: not an ONNX model, or cut short (bad varint)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _text(view: memoryview, path: str | Path) -> str:
    try:
        return bytes(view).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: metadata that is not UTF-8 text") from None

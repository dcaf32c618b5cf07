"""Wire format: multipart ``[topic, header, buffer...]`` messages (see docs/wire_format.md).

The header is UTF-8 JSON; every buffer is a raw C-ordered little-endian array whose dtype and
shape the header declares. Nothing is ever unpickled: a message is bytes in, validated arrays out.
`decode` raises `WireError` with a short ``kind`` so a receive loop can drop, count and log once
per kind.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from monitor.shm import FrameRing, RingReader, ShmError, SlotLease

SCHEMA_VERSION = 1

# Only plain little-endian numeric types travel; anything else is a malformed message.
DTYPES: Mapping[str, np.dtype] = {
    "uint8": np.dtype("<u1"),
    "uint16": np.dtype("<u2"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
TOPICS = frozenset({b"frames", b"estimates", b"states", b"eos"})

MAX_HEADER_BYTES = 256 * 1024
MAX_BUFFERS = 8
MAX_NDIM = 4
MAX_BUFFER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024
SHM_HEADER_BYTES = 8192


class WireError(ValueError):
    """A received message that violates the wire contract. ``kind`` groups errors for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class Message:
    """A decoded message. ``arrays`` share memory with the received frames (read-only views)."""

    topic: str
    stream: str
    frame: int
    device_ts_ms: float
    stamps: dict[str, int] = field(default_factory=dict)  # stage event -> time.monotonic_ns()
    meta: dict[str, Any] = field(default_factory=dict)  # free JSON: intrinsics, estimates, truth
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    # zero-copy arrays (views of a shared-memory ring): valid while every lease is intact
    leases: list[SlotLease] = field(default_factory=list, repr=False, compare=False)

    def intact(self) -> bool:
        """False when a zero-copy array's ring slot was overwritten: results made from it are void."""
        return all(lease.intact() for lease in self.leases)


def encode(msg: Message, ring: "FrameRing | None" = None) -> list[Any]:
    """Return the multipart frames for `msg`. Array buffers are passed through without copying
    when they are already C-contiguous little-endian (pyzmq sends them with copy=False). With a
    shared-memory ``ring`` (ipc only), large buffers go into it and the header references them."""
    buffers: list[Any] = []
    specs: list[dict[str, Any]] = []
    wire_arrays = {}
    for name, array in msg.arrays.items():
        dtype_name = _dtype_name(array.dtype)
        wire_arrays[name] = (dtype_name, np.ascontiguousarray(array, dtype=DTYPES[dtype_name]))
    refs = ring.put({k: a for k, (_, a) in wire_arrays.items()}) if ring is not None else {}
    for name, (dtype_name, wire_array) in wire_arrays.items():
        spec: dict[str, Any] = {"name": name, "dtype": dtype_name, "shape": list(wire_array.shape)}
        if name in refs:
            spec["shm"] = refs[name]
        else:
            buffers.append(memoryview(wire_array).cast("B"))
        specs.append(spec)
    header = {
        "schema": SCHEMA_VERSION,
        "stream": msg.stream,
        "frame": int(msg.frame),
        "device_ts_ms": float(msg.device_ts_ms),
        "stamps": msg.stamps,
        "meta": msg.meta,
        "buffers": specs,
    }
    header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    if refs:
        # Trailing whitespace is valid JSON: a fixed minimum size keeps the count of messages the
        # kernel can buffer on a link small, which bounds how far a producer can lap its ring.
        header_bytes = header_bytes.ljust(SHM_HEADER_BYTES)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(header_bytes)} bytes exceeds {MAX_HEADER_BYTES}")
    return [msg.topic.encode(), header_bytes, *buffers]


def decode(parts: Sequence[Any], shm: "RingReader | None" = None, zero_copy: bool = False) -> Message:
    """Validate and decode multipart frames (bytes, memoryview or zmq.Frame). Raises WireError.
    Buffers referenced in shared memory are accepted only with a ``shm`` reader for the link; they
    are copied out, or with ``zero_copy`` viewed in place (check ``Message.intact()`` after use)."""
    if len(parts) < 2:
        raise WireError("too_few_parts", f"{len(parts)} part(s), need topic and header")
    topic = _as_bytes(parts[0])
    if topic not in TOPICS:
        raise WireError("unknown_topic", repr(topic[:32]))
    header = _parse_header(parts[1])
    stream = _field(header, "stream", str)
    frame = _field(header, "frame", int)
    device_ts = _field(header, "device_ts_ms", (int, float))
    stamps = _field(header, "stamps", dict)
    meta = _field(header, "meta", dict)
    specs = _buffer_specs(header)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in stamps.values()):
        raise WireError("bad_header", "stamps must map names to integer nanoseconds")
    buffers = list(parts[2:])
    in_parts = sum(1 for spec in specs if not _is_shared(spec))
    if in_parts != len(buffers):
        raise WireError("buffer_count", f"header declares {in_parts} buffer parts, message has {len(buffers)}")
    arrays: dict[str, np.ndarray] = {}
    leases: list[SlotLease] = []
    total = 0
    for spec in specs:
        if _is_shared(spec):
            name, array, lease = _shared_array(spec, shm, zero_copy)
            if lease is not None and lease not in leases:  # one per slot: a frameset's arrays share one
                leases.append(lease)
        else:
            name, array = _array(spec, _as_buffer(buffers.pop(0)))
        if name in arrays:
            raise WireError("bad_buffer_spec", f"duplicate buffer name {name!r}")
        total += array.nbytes
        if total > MAX_TOTAL_BYTES:
            raise WireError("message_too_big", f"more than {MAX_TOTAL_BYTES} bytes of buffers")
        arrays[name] = array
    return Message(topic.decode(), stream, frame, float(device_ts), stamps, meta, arrays, leases)


def part_layout(header_bytes: Any) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
    """Name, dtype and shape of each buffer a message carries in its parts, in order, read from
    its header part and validated as ``decode`` does (WireError otherwise): lets a reader place
    the buffers before reading them (RecordingReader, into a shared-memory ring slot)."""
    layout = []
    for spec in _buffer_specs(_parse_header(header_bytes)):
        if not _is_shared(spec):
            name, dtype, shape, _ = _check_spec(spec)
            layout.append((name, dtype, tuple(shape)))
    return layout


def _parse_header(part: Any) -> dict:
    """The header part as a JSON object of this schema version (size-capped), or WireError."""
    header_bytes = _as_buffer(part)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise WireError("header_too_big", f"{len(header_bytes)} bytes")
    try:
        header = json.loads(bytes(header_bytes))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WireError("bad_header_json", str(exc)[:80]) from None
    if not isinstance(header, dict):
        raise WireError("bad_header", "header is not a JSON object")
    if header.get("schema") != SCHEMA_VERSION:
        raise WireError("schema_version", f"got {header.get('schema')!r}, expect {SCHEMA_VERSION}")
    return header


def _buffer_specs(header: dict) -> list:
    specs = _field(header, "buffers", list)
    if len(specs) > MAX_BUFFERS:
        raise WireError("too_many_buffers", str(len(specs)))
    return specs


def _is_shared(spec: Any) -> bool:
    """A buffer spec that references shared memory instead of a message part."""
    return isinstance(spec, dict) and "shm" in spec


def _array(spec: Any, data: memoryview) -> tuple[str, np.ndarray]:
    name, dtype, shape, expected = _check_spec(spec)
    if expected != len(data):
        raise WireError("size_mismatch", f"{name}: shape {shape} x {dtype.itemsize} != {len(data)} bytes")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    array.flags.writeable = False
    return name, array


def _shared_array(spec: dict, shm: "RingReader | None", zero_copy: bool) -> tuple[str, np.ndarray, SlotLease | None]:
    name, dtype, shape, nbytes = _check_spec(spec)
    if shm is None:
        raise WireError("shm_refused", f"{name}: shared-memory buffers are not accepted on this link")
    lease = None
    try:
        if zero_copy:
            array, lease = shm.view(spec["shm"], dtype, shape, nbytes)
        else:
            array = shm.read(spec["shm"], dtype, shape, nbytes)
    except ShmError as exc:
        raise WireError(exc.kind, f"{name}: {exc}") from None
    array.flags.writeable = False
    return name, array, lease


def _check_spec(spec: Any) -> tuple[str, np.dtype, list[int], int]:
    """Name, dtype, shape and byte size of a buffer spec, validated against whitelist and caps."""
    if not isinstance(spec, dict):
        raise WireError("bad_buffer_spec", "buffer spec is not an object")
    name, dtype_name, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if not isinstance(name, str) or not name:
        raise WireError("bad_buffer_spec", "buffer name must be a non-empty string")
    if dtype_name not in DTYPES:
        raise WireError("bad_dtype", repr(dtype_name)[:40])
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape)
    ):
        raise WireError("bad_shape", repr(shape)[:60])
    dtype = DTYPES[dtype_name]
    expected = dtype.itemsize
    for n in shape:
        expected *= n
        if expected > MAX_BUFFER_BYTES:
            raise WireError("buffer_too_big", f"{name}: declared shape {shape}")
    return name, dtype, shape, expected


def _field(header: dict, key: str, kind: Any) -> Any:
    value = header.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WireError("bad_header", f"field {key!r} missing or of the wrong type")
    return value


def _dtype_name(dtype: np.dtype) -> str:
    for name, allowed in DTYPES.items():
        if dtype.newbyteorder("<") == allowed and dtype.kind == allowed.kind:
            return name
    raise ValueError(f"dtype {dtype} cannot travel on the wire; allowed: {sorted(DTYPES)}")


def _as_buffer(part: Any) -> memoryview:
    buffer = getattr(part, "buffer", part)  # zmq.Frame exposes .buffer
    view = memoryview(buffer)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _as_bytes(part: Any) -> bytes:
    return bytes(getattr(part, "bytes", part) if not isinstance(part, memoryview) else part)

"""Shared-memory frame ring: large buffers of ipc messages travel through /dev/shm.

Over ipc the socket copies a 1.2 MB frameset through the kernel twice; writing it once into a
preallocated shared segment and sending only the small header costs less than half as much
(docs/transport.md). The producing worker owns one ring; every consumer of its messages reads
from it, so a frame is written once whatever the number of consumers.

Segment layout (little-endian):
    header  64 bytes: magic b"DMSRING1", u32 slots, u32 pad, u64 slot_bytes
    slots   each: u64 sequence number, then slot_bytes of data
A slot's sequence number is set to 0 while it is being written and to the message's sequence
number after; a reader copies the data out and accepts it only if the sequence number equals
the expected one both before and after the copy (a seqlock), so a slot overwritten by a producer
that ran ahead is detected and the message dropped, never passed on half-written.

Zero-copy reads (``RingReader.view``) skip the copy: the array is a read-only view of the slot,
returned with a ``SlotLease``. The consumer uses the array, then asks ``lease.intact()``: if the
producer lapped the ring meanwhile, the result computed from it is thrown away. On a replay link
that cannot happen (at most HWMs + socket buffers of messages are in flight, fewer than the
slots); on a live link a consumer slower than slots/frame-rate would see it, and the receiver
then falls back to copying (bus.Receiver.verify).
"""
from __future__ import annotations

import logging
import mmap
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SHM_DIR = Path("/dev/shm")
MAGIC = b"DMSRING1"
HEADER = struct.Struct("<8sIIQ")  # magic, slots, pad, slot_bytes
HEADER_BYTES = 64
SEQ = struct.Struct("<Q")
MIN_BYTES = 64 * 1024  # smaller buffers stay in the message (pyzmq copies those anyway)
DEFAULT_SLOTS = 32  # > every message that can be in flight on a link (HWMs + socket buffers)
log = logging.getLogger(__name__)
_SEGMENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class ShmError(ValueError):
    """A shared-memory reference that cannot be honoured (kind for counting, like WireError)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def available() -> bool:
    return SHM_DIR.is_dir() and os.access(SHM_DIR, os.W_OK)


class FrameRing:
    """Producer side. ``put`` copies a message's large arrays into the next slot."""

    def __init__(self, prefix: str, slots: int = DEFAULT_SLOTS) -> None:
        if not _SEGMENT_NAME.match(prefix):
            raise ValueError(f"shared-memory prefix {prefix!r} must be letters, digits, '.', '_' or '-'")
        self.prefix = prefix
        self.slots = slots
        self.generation = 0
        self.seq = 0
        self.slot_bytes = 0
        self._map: mmap.mmap | None = None
        self.name = ""
        self.disabled = False

    def put(self, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Place every array of at least MIN_BYTES in one slot; returns name -> reference."""
        large = {k: np.ascontiguousarray(a) for k, a in arrays.items() if a.nbytes >= MIN_BYTES}
        if not large:
            return {}
        if self.disabled:
            return {}
        need = sum(_aligned(a.nbytes) for a in large.values())
        if need > self.slot_bytes:
            try:
                self._allocate(need)
            except OSError as exc:  # /dev/shm full or missing: buffers travel in the messages
                log.warning("shared memory unavailable (%s); frames go through the sockets", exc)
                self.disabled = True
                return {}
        self.seq += 1
        slot = self.seq % self.slots
        base = HEADER_BYTES + slot * (SEQ.size + self.slot_bytes)
        assert self._map is not None
        SEQ.pack_into(self._map, base, 0)  # "being written"
        refs, offset = {}, 0
        data = np.frombuffer(self._map, dtype=np.uint8, count=self.slot_bytes, offset=base + SEQ.size)
        for name, array in large.items():
            data[offset:offset + array.nbytes] = array.reshape(-1).view(np.uint8)
            refs[name] = {"segment": self.name, "slot": slot, "seq": self.seq, "offset": offset}
            offset += _aligned(array.nbytes)
        del data  # no exported buffer may outlive a remap
        SEQ.pack_into(self._map, base, self.seq)
        return refs

    def _allocate(self, need: int) -> None:
        """A new segment (the first, or a bigger one when frames grew); the old one is unlinked:
        readers that still map it keep their mapping until they switch."""
        self.close()
        self.generation += 1
        self.slot_bytes = _aligned(int(need * 1.25))
        self.name = f"{self.prefix}-{self.generation}"
        size = HEADER_BYTES + self.slots * (SEQ.size + self.slot_bytes)
        path = SHM_DIR / self.name
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            # Reserve the pages now: writing to an mmap of a full tmpfs would kill us with SIGBUS.
            os.posix_fallocate(fd, 0, size)
            self._map = mmap.mmap(fd, size)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        HEADER.pack_into(self._map, 0, MAGIC, self.slots, 0, self.slot_bytes)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
            (SHM_DIR / self.name).unlink(missing_ok=True)


@dataclass(frozen=True)
class SlotLease:
    """The promise behind a zero-copy array: valid while its slot still holds message ``seq``."""

    mapping: mmap.mmap
    base: int
    seq: int

    def intact(self) -> bool:
        try:
            return SEQ.unpack_from(self.mapping, self.base)[0] == self.seq
        except ValueError:  # the mapping was closed: the reader moved on
            return False


class RingReader:
    """Consumer side: resolves references whose segment name starts with ``allowed_prefix``."""

    def __init__(self, allowed_prefix: str) -> None:
        self.allowed_prefix = allowed_prefix
        self._maps: dict[str, tuple[mmap.mmap, int, int]] = {}  # name -> (map, slots, slot_bytes)

    def read(self, ref: Any, dtype: np.dtype, shape: list[int], nbytes: int) -> np.ndarray:
        """A private copy of the referenced array; ShmError when the reference is not valid."""
        lease, start = self._locate(ref, nbytes)
        array = np.frombuffer(lease.mapping, dtype=dtype, count=nbytes // dtype.itemsize, offset=start).copy()
        if not lease.intact():  # overwritten while we copied
            raise ShmError("shm_overrun", f"slot of message {lease.seq} was overwritten during the read")
        return array.reshape(shape)

    def view(self, ref: Any, dtype: np.dtype, shape: list[int], nbytes: int) -> tuple[np.ndarray, SlotLease]:
        """A read-only view of the referenced array in the ring, and the lease to check once the
        array has been used; ShmError when the reference is not valid."""
        lease, start = self._locate(ref, nbytes)
        array = np.frombuffer(lease.mapping, dtype=dtype, count=nbytes // dtype.itemsize, offset=start)
        return array.reshape(shape), lease

    def _locate(self, ref: Any, nbytes: int) -> tuple[SlotLease, int]:
        """The lease of a valid reference whose slot holds its message now, and the data offset."""
        if not isinstance(ref, dict):
            raise ShmError("bad_shm_ref", "reference is not an object")
        name, slot, seq, offset = ref.get("segment"), ref.get("slot"), ref.get("seq"), ref.get("offset")
        if not isinstance(name, str) or not _SEGMENT_NAME.match(name) or not name.startswith(self.allowed_prefix + "-"):
            raise ShmError("shm_refused", f"segment {str(name)[:60]!r} is not this link's")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (slot, seq, offset)):
            raise ShmError("bad_shm_ref", "slot, seq and offset must be non-negative integers")
        mapping, slots, slot_bytes = self._open(name)
        if slot >= slots or offset + nbytes > slot_bytes:
            raise ShmError("bad_shm_ref", f"slot {slot} offset {offset} + {nbytes} bytes outside the segment")
        base = HEADER_BYTES + slot * (SEQ.size + slot_bytes)
        lease = SlotLease(mapping, base, seq)
        if not lease.intact():
            raise ShmError("shm_overrun", f"slot {slot} no longer holds message {seq}")
        return lease, base + SEQ.size + offset

    def _open(self, name: str) -> tuple[mmap.mmap, int, int]:
        if name not in self._maps:
            try:
                fd = os.open(SHM_DIR / name, os.O_RDONLY)
            except OSError:
                raise ShmError("shm_missing", f"segment {name} does not exist") from None
            try:
                size = os.fstat(fd).st_size
                if size < HEADER_BYTES:
                    raise ShmError("bad_shm_segment", f"{name} is too small")
                mapping = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            magic, slots, _, slot_bytes = HEADER.unpack_from(mapping, 0)
            if magic != MAGIC or size < HEADER_BYTES + slots * (SEQ.size + slot_bytes):
                mapping.close()
                raise ShmError("bad_shm_segment", f"{name} is not a frame ring")
            for old in [n for n in self._maps if n.rsplit("-", 1)[0] == name.rsplit("-", 1)[0]]:
                _close_mapping(self._maps.pop(old)[0])  # the producer moved to a new generation
            self._maps[name] = (mapping, slots, slot_bytes)
        return self._maps[name]

    def close(self) -> None:
        for mapping, _, _ in self._maps.values():
            _close_mapping(mapping)
        self._maps.clear()


def _close_mapping(mapping: mmap.mmap) -> None:
    try:
        mapping.close()
    except BufferError:  # zero-copy arrays still use it: it is unmapped when the last one goes
        pass


def remove_segments(prefix: str) -> None:
    """Unlink every segment of a run (after a crash a producer could not do it itself)."""
    for path in SHM_DIR.glob(f"{prefix}*"):
        path.unlink(missing_ok=True)


def _aligned(n: int) -> int:
    return (n + 63) // 64 * 64

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

Loaned slots (``FrameRing.claim``, like iceoryx / ROS 2 loaned messages) skip the producer's copy:
a source asks for its output arrays and gets writable views of the next slot, whose sequence
number is set to 0 ("being written") before the views are handed out, so no reader accepts the
slot until the commit. The source writes its pixels there; ``put`` (from ``wire.encode``) given
exactly those view objects commits them by writing the sequence number, without a copy, and makes
them read-only. Any other arrays take the copying path into a fresh slot. A claim never committed
is abandoned: its slot stays at 0 until the ring comes round to it again. A claim must be written
and committed before ``slots`` more claims or puts: once its slot is taken again its views are
read-only and ``put`` refuses them (their memory holds another message now); the same goes for the
views of a committed claim once the ring comes round to their slot, and a claim's views also turn
read-only when the ring grows or closes. After ``close`` claims hand out private arrays and ``put``
leaves buffers in the message. Nothing changes for readers or on the wire.
"""
from __future__ import annotations

import logging
import math
import mmap
import os
import re
import struct
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.typing import DTypeLike

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


Layout = dict[str, tuple[DTypeLike, tuple[int, ...]]]  # buffer name -> (dtype, shape)
Allocator = Callable[[Layout], dict[str, np.ndarray]]  # FrameRing.claim, FrameSource.allocate


@dataclass
class _Claim:
    """A loaned slot: the views handed out and the references a commit will publish."""

    seq: int
    base: int
    views: dict[str, np.ndarray]
    refs: dict[str, dict[str, Any]]


class FrameRing:
    """Producer side. ``put`` copies a message's large arrays into the next slot, or commits the
    slot ``claim`` lent for them. Thread-safe: a camera thread may claim while another commits."""

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
        self.committed = 0  # messages published from a claimed slot without a copy
        self._claims: dict[int, _Claim] = {}  # slot -> outstanding claim
        # views whose slot was taken again (claimed, or committed and since reused): id -> view
        self._lapped: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._lent: dict[int, list[weakref.ref]] = {}  # slot -> views lent there (claimed or committed)
        self._closed = False

    def claim(self, layout: Layout) -> dict[str, np.ndarray]:
        """Writable arrays for a message's buffers: arrays of at least MIN_BYTES are views of the
        next slot (committed by ``put`` without a copy), smaller ones private (they travel in
        the message). Without shared memory all are private."""
        specs = {name: (np.dtype(dtype), tuple(shape)) for name, (dtype, shape) in layout.items()}
        nbytes = {name: dtype.itemsize * math.prod(shape) for name, (dtype, shape) in specs.items()}
        large = [name for name in specs if nbytes[name] >= MIN_BYTES]
        views: dict[str, np.ndarray] = {}
        with self._lock:
            taken = self._next_slot(sum(_aligned(nbytes[n]) for n in large)) if large else None
            if taken is not None:
                slot, base = taken
                assert self._map is not None
                refs, offset = {}, 0
                for name in large:
                    dtype, shape = specs[name]
                    start = base + SEQ.size + offset
                    views[name] = np.frombuffer(self._map, dtype, nbytes[name] // dtype.itemsize, start).reshape(shape)
                    refs[name] = {"segment": self.name, "slot": slot, "seq": self.seq, "offset": offset}
                    offset += _aligned(nbytes[name])
                self._claims[slot] = _Claim(self.seq, base, views, refs)
                self._lent[slot] = [weakref.ref(v) for v in views.values()]
        return {name: views[name] if name in views else np.empty(shape, dtype)
                for name, (dtype, shape) in specs.items()}

    def put(self, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Place every array of at least MIN_BYTES in one slot; returns name -> reference."""
        large = {k: a for k, a in arrays.items() if a.nbytes >= MIN_BYTES}
        if not large:
            return {}
        with self._lock:
            committed = self._commit(large)
            if committed is not None:
                return committed
            if any(self._lapped.get(id(a)) is a for a in large.values()):
                # another message owns that memory now: copying it would publish its pixels as ours
                raise ValueError("a loaned slot was taken again by another message: write and commit "
                                 f"a claim before {self.slots} more claims or puts")
            large = {k: np.ascontiguousarray(a) for k, a in large.items()}
            slot_base = self._next_slot(sum(_aligned(a.nbytes) for a in large.values()))
            if slot_base is None:
                return {}
            slot, base = slot_base
            assert self._map is not None
            refs, offset = {}, 0
            data = np.frombuffer(self._map, dtype=np.uint8, count=self.slot_bytes, offset=base + SEQ.size)
            for name, array in large.items():
                data[offset:offset + array.nbytes] = array.reshape(-1).view(np.uint8)
                refs[name] = {"segment": self.name, "slot": slot, "seq": self.seq, "offset": offset}
                offset += _aligned(array.nbytes)
            del data  # no exported buffer may outlive a remap
            SEQ.pack_into(self._map, base, self.seq)
            return refs

    def _commit(self, large: dict[str, np.ndarray]) -> dict[str, dict[str, Any]] | None:
        """Publish the claim whose views are exactly ``large`` (same names, same objects)."""
        for slot, c in self._claims.items():
            if c.views.keys() == large.keys() and all(large[k] is v for k, v in c.views.items()):
                del self._claims[slot]
                for view in c.views.values():
                    view.flags.writeable = False  # a late write would change a published message
                assert self._map is not None
                SEQ.pack_into(self._map, c.base, c.seq)
                self.committed += 1
                return c.refs
        return None

    def _next_slot(self, need: int) -> tuple[int, int] | None:
        """Take the next slot for ``need`` bytes and mark it "being written" (seq 0): (slot, its
        offset), or None without shared memory. Caller holds the lock."""
        if self.disabled or self._closed:  # closed: a camera thread may still ask during shutdown
            return None
        if need > self.slot_bytes:
            try:
                self._allocate(need)
            except OSError as exc:  # /dev/shm full or missing: buffers travel in the messages
                log.warning("shared memory unavailable (%s); frames go through the sockets", exc)
                self.disabled = True
                return None
        self.seq += 1
        slot = self.seq % self.slots
        self._claims.pop(slot, None)  # a claim never committed is abandoned
        for ref in self._lent.pop(slot, ()):
            view = ref()
            if view is not None:  # lent views of this slot now show another message: never again
                view.flags.writeable = False
                self._lapped[id(view)] = view
        base = HEADER_BYTES + slot * (SEQ.size + self.slot_bytes)
        assert self._map is not None
        SEQ.pack_into(self._map, base, 0)  # "being written"
        return slot, base

    def _allocate(self, need: int) -> None:
        """A new segment (the first, or a bigger one when frames grew); the old one is unlinked:
        readers that still map it keep their mapping until they switch."""
        self._close()
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
        with self._lock:
            self._closed = True
            self._close()

    def _close(self) -> None:
        for claim in self._claims.values():  # the ring moves to a new segment or is gone
            for view in claim.views.values():
                view.flags.writeable = False
        self._claims.clear()
        self._lent.clear()  # old-segment views keep their own pixels: nothing will overwrite them
        if self._map is not None:
            _close_mapping(self._map)  # claimed views still alive keep it mapped until they go
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
        if seq == 0:  # the mark of a slot being written: no message has it
            raise ShmError("bad_shm_ref", "seq 0 is no message's")
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

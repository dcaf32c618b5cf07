"""Point-to-point links over ZeroMQ with the two delivery policies of docs/transport.md.

A `Sender` (PUSH, binds) feeds one `Receiver` (PULL, connects). A stage with several consumers
owns one sender per consumer, each with its own policy, so a slow display never holds back the
recorder.

- live:   credit-based "newest only". The receiver sends a one-byte credit on a back channel
          when it is ready for an item; the sender sends only against a credit and otherwise keeps
          just the newest item pending (a superseded one is counted as ``stale_dropped``). Nothing
          queues, so a consumer always gets the newest item and latency stays flat however slow
          a stage is. (ZMQ_CONFLATE would do this but does not support multipart messages.)
- replay: small high-water marks and blocking sends give backpressure: every item arrives once,
          in order, and a slow stage slows the source instead of losing frames.
Malformed messages are dropped, counted per kind in ``bad`` and logged once per kind.
"""
from __future__ import annotations

import enum
import logging
import os
import shutil
import stat
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import zmq

from monitor.shm import FrameRing, RingReader
from monitor.wire import Message, WireError, decode, encode

if TYPE_CHECKING:
    from monitor.security import NetworkGuard

log = logging.getLogger(__name__)


class Policy(str, enum.Enum):
    LIVE = "live"
    REPLAY = "replay"


# Queue depths (messages, each side of a link). Live keeps at most a frame or two in flight;
# replay keeps a few so the pipeline stays busy while still applying backpressure.
HWM = {Policy.LIVE: 2, Policy.REPLAY: 4}
CREDIT_RESEND_S = 0.5
SHM_SOCKET_BUFFER = 16 * 1024
CREDIT_PORT_OFFSET = 1000  # tcp: a live link's credit channel listens this many ports higher
CREDIT = b"1"


@dataclass
class LinkStats:
    sent: int = 0
    received: int = 0
    send_dropped: int = 0
    stale_dropped: int = 0
    bad: Counter = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "received": self.received, "send_dropped": self.send_dropped,
                "stale_dropped": self.stale_dropped, "bad": dict(self.bad)}


class Endpoints:
    """Addresses of one run's links: ipc sockets in a private directory (default) or tcp ports."""

    def __init__(self, transport: str = "ipc", directory: str | None = None,
                 host: str = "127.0.0.1", base_port: int = 5550, names: Sequence[str] = (),
                 keys: str | None = None) -> None:
        if transport not in ("ipc", "tcp"):
            raise ValueError(f"transport must be 'ipc' or 'tcp', got {transport!r}")
        self.transport = transport
        self.keys = keys  # tcp: the CURVE key directory (monitor/security.py)
        self.directory = directory
        self.host = host
        self.base_port = base_port
        self.names = list(names)

    @classmethod
    def create_private(cls, transport: str = "ipc", **kwargs: Any) -> "Endpoints":
        """Make a fresh run directory readable by this user only (ipc sockets live there)."""
        directory = tempfile.mkdtemp(prefix="dms-run-")
        os.chmod(directory, stat.S_IRWXU)
        return cls(transport, directory, **kwargs)

    def address(self, name: str) -> str:
        if self.transport == "ipc":
            if self.directory is None:
                raise ValueError("ipc endpoints need a run directory")
            return f"ipc://{self.directory}/{name}.sock"
        if name not in self.names:
            self.names.append(name)
        return f"tcp://{self.host}:{self.base_port + self.names.index(name)}"

    def to_json(self) -> dict[str, Any]:
        return {"transport": self.transport, "directory": self.directory, "host": self.host,
                "base_port": self.base_port, "names": self.names, "keys": self.keys}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Endpoints":
        return cls(d["transport"], d["directory"], d["host"], d["base_port"], d["names"], d.get("keys"))

    def remove(self) -> None:
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class Sender:
    """PUSH end of a link. ``send`` returns False when the message did not leave (yet)."""

    def __init__(self, ctx: zmq.Context, address: str, policy: Policy, hwm: int | None = None,
                 ring: FrameRing | None = None, guard: "NetworkGuard | None" = None) -> None:
        self.policy = Policy(policy)
        self.address = address
        self.ring = ring
        self.stats = LinkStats()
        self.socket = ctx.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.SNDHWM, hwm or HWM[self.policy])
        self.socket.setsockopt(zmq.LINGER, 0)
        if ring is not None:
            # Messages are only headers now: keep the kernel from buffering dozens of them, so
            # backpressure holds the producer back before it could lap the ring's slots.
            self.socket.setsockopt(zmq.SNDBUF, SHM_SOCKET_BUFFER)
        if guard is not None:
            guard.server(self.socket, address)
        self.socket.bind(address)
        self._credits = 0
        self._pending: list[Any] | None = None
        self._credit_socket: zmq.Socket | None = None
        if self.policy is Policy.LIVE:
            self._credit_socket = ctx.socket(zmq.PULL)
            self._credit_socket.setsockopt(zmq.LINGER, 0)
            self._credit_socket.setsockopt(zmq.MAXMSGSIZE, 64)  # a credit is one byte
            if guard is not None:
                guard.server(self._credit_socket, credit_address(address))
            self._credit_socket.bind(credit_address(address))

    def send(self, msg: Message, should_stop: Callable[[], bool] = lambda: False,
             on_wait: Callable[[], None] = lambda: None) -> bool:
        return self.send_parts(encode(msg, self.ring), should_stop, on_wait)

    def send_parts(self, parts: list[Any], should_stop: Callable[[], bool] = lambda: False,
                   on_wait: Callable[[], None] = lambda: None) -> bool:
        """Send one multipart message. Replay blocks (backpressure) until the peer takes it or
        ``should_stop()``; ``on_wait`` runs while blocked (heartbeats). Live never blocks: without
        a credit the message waits as the pending newest item (see `service`)."""
        if self.policy is Policy.LIVE:
            if self._pending is not None:
                self.stats.stale_dropped += 1
            self._pending = parts
            return self.service()
        # Never a blocking send: if the consumer died, a blocking send would wait, without
        # heartbeats, until its replacement connects. The first try needs no poll (the usual case).
        while True:
            try:
                self.socket.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
                break
            except zmq.Again:
                pass
            if self.socket.poll(100, zmq.POLLOUT):
                continue
            on_wait()
            if should_stop():
                return False
        self.stats.sent += 1
        return True

    def service(self) -> bool:
        """Live links: collect credits and send the pending item if the consumer is ready.
        Call it whenever the stage is idle so a waiting consumer is served at once."""
        if self._credit_socket is None:
            return False
        while self._credit_socket.poll(0):
            try:
                credit = self._credit_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if credit != [CREDIT]:
                self.stats.bad["bad_credit"] += 1  # not a credit: dropped, counted, grants nothing
                continue
            self._credits = 1  # a restarted consumer re-asks; credits never pile up
        if self._pending is None or not self._credits:
            return False
        try:
            self.socket.send_multipart(self._pending, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # consumer gone since it asked: keep the item pending
            return False
        self._pending = None
        self._credits = 0
        self.stats.sent += 1
        return True

    def send_blocking(self, msg: Message, timeout_ms: int) -> bool:
        """Send regardless of policy and credits, waiting at most ``timeout_ms`` (end of stream)."""
        if self._pending is not None:
            self.stats.stale_dropped += 1
            self._pending = None
        deadline = time.monotonic() + timeout_ms / 1000.0
        parts = encode(msg, self.ring)
        while time.monotonic() < deadline:
            if self.socket.poll(50, zmq.POLLOUT):
                try:
                    self.socket.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
                    return True
                except zmq.Again:
                    continue
        return False

    def offer(self, msg: Message) -> bool:
        """One non-blocking attempt to send ``msg`` regardless of credits (end-of-stream repeats)."""
        if not self.socket.poll(0, zmq.POLLOUT):
            return False
        try:
            self.socket.send_multipart(encode(msg, self.ring), flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        return True

    def close(self, linger_ms: int = 0) -> None:
        self.socket.close(linger=linger_ms)
        if self._credit_socket is not None:
            self._credit_socket.close(linger=0)


def credit_address(address: str) -> str:
    """The back channel of a live link: next to the data socket (ipc) or the port after (tcp)."""
    if address.startswith("ipc://"):
        return address + ".credit"
    head, _, port = address.rpartition(":")
    return f"{head}:{int(port) + CREDIT_PORT_OFFSET}"


class Receiver:
    """PULL end of a link; ``recv`` validates and returns the next (replay) or newest (live) message."""

    def __init__(self, ctx: zmq.Context, address: str, policy: Policy, hwm: int | None = None,
                 shm_prefix: str | None = None, guard: "NetworkGuard | None" = None,
                 topics: frozenset[str] = frozenset(), zero_copy: bool = False) -> None:
        self.policy = Policy(policy)
        self.address = address
        self.shm = RingReader(shm_prefix) if shm_prefix else None
        # Arrays in the ring are viewed, not copied: the consumer must call `verify` after using
        # a message and must not keep its arrays (only for one-message-at-a-time consumers).
        self.zero_copy = zero_copy and self.shm is not None
        self.topics = topics  # the topics this consumer takes (empty: any); others are malformed
        self.stats = LinkStats()
        self.socket = ctx.socket(zmq.PULL)
        self.socket.setsockopt(zmq.RCVHWM, hwm or HWM[self.policy])
        self.socket.setsockopt(zmq.LINGER, 0)
        if shm_prefix:
            self.socket.setsockopt(zmq.RCVBUF, SHM_SOCKET_BUFFER)
        if guard is not None:
            guard.client(self.socket)
        self.socket.connect(address)
        self._credit_socket: zmq.Socket | None = None
        self._credit_out = False
        self._credit_sent_at = 0.0
        if self.policy is Policy.LIVE:
            self._credit_socket = ctx.socket(zmq.PUSH)
            self._credit_socket.setsockopt(zmq.LINGER, 0)
            self._credit_socket.setsockopt(zmq.SNDHWM, 1)
            if guard is not None:
                guard.client(self._credit_socket)
            self._credit_socket.connect(credit_address(address))
        self._logged_kinds: set[str] = set()

    def recv(self, timeout_ms: int = 100) -> Message | None:
        """Return the next valid message, or None when none arrived within ``timeout_ms``."""
        if self._credit_socket is not None:
            self._ask_for_newest()
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        while True:
            try:
                parts = self.socket.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return None
            msg = self._decode(parts)
            if msg is None:
                continue
            if self.topics and msg.topic not in self.topics:
                self.reject(WireError("wrong_topic", f"{msg.topic!r} on a link that carries {sorted(self.topics)}"))
                continue
            self.stats.received += 1
            if msg.topic != "eos":
                self._credit_out = False
            return msg

    def _ask_for_newest(self) -> None:
        """Send a credit, and send it again after a quiet spell: a producer that was restarted
        lost the one we gave it (the producer caps credits at one, so repeats are harmless)."""
        now = time.monotonic()
        if self._credit_out and now - self._credit_sent_at < CREDIT_RESEND_S:
            return
        try:
            self._credit_socket.send(CREDIT, zmq.NOBLOCK)  # type: ignore[union-attr]
        except zmq.Again:
            return
        self._credit_out = True
        self._credit_sent_at = now

    def _decode(self, parts: list[zmq.Frame]) -> Message | None:
        try:
            return decode(parts, self.shm, self.zero_copy)
        except WireError as exc:
            self.reject(exc)
            return None

    def reject(self, exc: WireError) -> None:
        """Count a malformed message as dropped (and log its kind once). Workers call it too, for
        messages that decode but do not make sense to them (wrong topic, unusable content)."""
        self.stats.bad[exc.kind] += 1
        if exc.kind not in self._logged_kinds:
            self._logged_kinds.add(exc.kind)
            log.warning("dropped malformed message on %s (%s); further %r errors are only counted",
                        self.address, exc, exc.kind)

    def verify(self, msg: Message) -> bool:
        """After a zero-copy message was used: True if its ring slots were not overwritten
        meanwhile. Otherwise the message is counted as dropped (shm_overrun) and, since this
        consumer is slower than the producer's ring allows, the link copies from now on."""
        if msg.intact():
            return True
        self.reject(WireError("shm_overrun", f"frame {msg.frame} was overwritten in the ring while in use"))
        if self.zero_copy:
            log.warning("%s: the producer lapped its ring during processing; this link copies frames from now on",
                        self.address)
            self.zero_copy = False
        return False

    def close(self) -> None:
        self.socket.close(linger=0)
        if self._credit_socket is not None:
            self._credit_socket.close(linger=0)
        if self.shm is not None:
            self.shm.close()

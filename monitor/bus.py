"""Point-to-point links over ZeroMQ with the two delivery policies of docs/transport.md.

A `Sender` (PUSH, binds) feeds one `Receiver` (PULL, connects). A stage with several consumers
owns one sender per consumer, each with its own policy, so a slow display never holds back the
recorder.

- live:   the sender never blocks (a full queue drops the new item, counted as ``send_dropped``)
          and the receiver drains its queue and keeps only the newest item (the others are
          counted as ``stale_dropped``), so latency stays flat however slow a stage is.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import zmq

from monitor.wire import Message, WireError, decode, encode

log = logging.getLogger(__name__)


class Policy(str, enum.Enum):
    LIVE = "live"
    REPLAY = "replay"


# Queue depths (messages, each side of a link). Live keeps at most a frame or two in flight;
# replay keeps a few so the pipeline stays busy while still applying backpressure.
HWM = {Policy.LIVE: 2, Policy.REPLAY: 4}


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
                 host: str = "127.0.0.1", base_port: int = 5550, names: Sequence[str] = ()) -> None:
        if transport not in ("ipc", "tcp"):
            raise ValueError(f"transport must be 'ipc' or 'tcp', got {transport!r}")
        self.transport = transport
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
                "base_port": self.base_port, "names": self.names}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Endpoints":
        return cls(d["transport"], d["directory"], d["host"], d["base_port"], d["names"])

    def remove(self) -> None:
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class Sender:
    """PUSH end of a link. ``send`` returns False when a live link dropped the message."""

    def __init__(self, ctx: zmq.Context, address: str, policy: Policy, hwm: int | None = None) -> None:
        self.policy = Policy(policy)
        self.address = address
        self.stats = LinkStats()
        self.socket = ctx.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.SNDHWM, hwm or HWM[self.policy])
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(address)

    def send(self, msg: Message, should_stop: Callable[[], bool] = lambda: False,
             on_wait: Callable[[], None] = lambda: None) -> bool:
        return self.send_parts(encode(msg), should_stop, on_wait)

    def send_parts(self, parts: list[Any], should_stop: Callable[[], bool] = lambda: False,
                   on_wait: Callable[[], None] = lambda: None) -> bool:
        """Send one multipart message. Replay blocks (backpressure) until the peer takes it or
        ``should_stop()``; ``on_wait`` runs while blocked (heartbeats)."""
        if self.policy is Policy.LIVE:
            try:
                self.socket.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                self.stats.send_dropped += 1
                return False
            self.stats.sent += 1
            return True
        while not self.socket.poll(100, zmq.POLLOUT):
            on_wait()
            if should_stop():
                return False
        self.socket.send_multipart(parts, copy=False)
        self.stats.sent += 1
        return True

    def send_blocking(self, msg: Message, timeout_ms: int) -> bool:
        """Send regardless of policy, waiting at most ``timeout_ms`` (end-of-stream markers)."""
        if not self.socket.poll(timeout_ms, zmq.POLLOUT):
            return False
        self.socket.send_multipart(encode(msg), copy=False)
        return True

    def close(self, linger_ms: int = 0) -> None:
        self.socket.close(linger=linger_ms)


class Receiver:
    """PULL end of a link; ``recv`` validates and returns the next (replay) or newest (live) message."""

    def __init__(self, ctx: zmq.Context, address: str, policy: Policy, hwm: int | None = None) -> None:
        self.policy = Policy(policy)
        self.address = address
        self.stats = LinkStats()
        self.socket = ctx.socket(zmq.PULL)
        self.socket.setsockopt(zmq.RCVHWM, hwm or HWM[self.policy])
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)
        self._logged_kinds: set[str] = set()
        self.last_parts: list[zmq.Frame] = []

    def recv(self, timeout_ms: int = 100) -> Message | None:
        """Return a valid message, or None when nothing valid arrived within ``timeout_ms``."""
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        newest: Message | None = None
        while True:
            try:
                parts = self.socket.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return newest
            msg = self._decode(parts)
            if msg is None:
                continue
            self.stats.received += 1
            if newest is not None:
                self.stats.stale_dropped += 1  # live: a newer item supersedes the one we held
            newest = msg
            self.last_parts = parts
            if self.policy is Policy.REPLAY or msg.topic == "eos":
                return newest

    def _decode(self, parts: list[zmq.Frame]) -> Message | None:
        try:
            return decode(parts)
        except WireError as exc:
            self.stats.bad[exc.kind] += 1
            if exc.kind not in self._logged_kinds:
                self._logged_kinds.add(exc.kind)
                log.warning("dropped malformed message on %s (%s); further %r errors are only counted",
                            self.address, exc, exc.kind)
            return None

    def close(self) -> None:
        self.socket.close(linger=0)

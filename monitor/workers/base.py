"""What every worker process shares: configuration, signals, heartbeats and its run loop."""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zmq

from monitor import shm
from monitor.bus import Endpoints, Policy, Receiver, Sender
from monitor.estimator.session import ModelLoadError
from monitor.recording import RecordingError
from monitor.sources.base import SourceError
from monitor.wire import Message

log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_S = 0.2
# Errors a user can fix (bad path, corrupt file, missing model): restarting would not help, so the
# worker reports the one-line message and exits with FATAL_EXIT_CODE; the supervisor ends the run.
USER_ERRORS = (SourceError, ModelLoadError, RecordingError)
FATAL_EXIT_CODE = 2
EOS_TIMEOUT_MS = 5000
CONSUMER_WAIT_S = 30.0


@dataclass
class RunConfig:
    """Everything a worker needs to know about the run; travels to workers as JSON on argv."""

    endpoints: dict[str, Any]
    policy: str = Policy.REPLAY.value
    out_dir: str = "runs/latest"
    source: str = "synthetic"
    realtime: bool = True
    max_frames: int = 0  # 0: until the source ends
    body_model: str = ""
    head_model: str = ""
    providers: list[str] = field(default_factory=lambda: ["tensorrt", "cuda", "cpu"])
    io_binding: bool = False
    shm: bool = True  # ipc runs pass large buffers through a shared-memory ring
    record: bool = False
    display: bool = False
    layout: str = ""
    driver_calibration: str = ""
    # per-worker: which frame to resume after (the supervisor sets it when restarting capture)
    skip_frames: int = 0
    incarnation: int = 0
    # test hook: an artificial per-item delay in ms for a named role (benchmarks' self-check)
    delay_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls(**json.loads(text))


def link_name(producer: str, consumer: str) -> str:
    return f"{producer}-to-{consumer}"


CONTROL = "control"  # workers -> supervisor heartbeats (PUSH -> PULL)
COMMAND = "command"  # supervisor -> workers run state (PUB -> SUB)


class Worker:
    """Base class: subclasses set ``role``, implement ``setup`` and ``step``.

    ``step`` handles at most one item and returns False when the worker is finished (end of
    stream). The base class beats the heart between steps and while blocked on backpressure.
    """

    role = "worker"

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.endpoints = Endpoints.from_json(config.endpoints)
        self.policy = Policy(config.policy)
        self.ctx = zmq.Context()
        self.stopping = False
        self.senders: dict[str, Sender] = {}
        self.receivers: dict[str, Receiver] = {}
        self.counters: dict[str, Any] = {"processed": 0, "errors": 0}
        self.info: dict[str, Any] = {}
        self.state = "starting"
        self._next_beat = 0.0
        self._control = self.ctx.socket(zmq.PUSH)
        self._control.setsockopt(zmq.LINGER, 500)
        self._control.setsockopt(zmq.SNDHWM, 100)
        self._control.connect(self.endpoints.address(CONTROL))
        self._command = self.ctx.socket(zmq.SUB)
        self._command.setsockopt(zmq.SUBSCRIBE, b"")
        self._command.setsockopt(zmq.LINGER, 0)
        self._command.connect(self.endpoints.address(COMMAND))
        self.go = False
        self.ring: shm.FrameRing | None = None
        self.end_of_stream = False
        self.finished_roles: set[str] = set()

    # --- links -----------------------------------------------------------------------------
    def add_sender(self, consumer: str, policy: Policy | None = None) -> Sender:
        sender = Sender(self.ctx, self.endpoints.address(link_name(self.role, consumer)), policy or self.policy,
                        ring=self.ring)
        self.senders[consumer] = sender
        return sender

    def add_receiver(self, producer: str, policy: Policy | None = None) -> Receiver:
        receiver = Receiver(self.ctx, self.endpoints.address(link_name(producer, self.role)), policy or self.policy,
                            shm_prefix=self.shm_prefix(producer))
        self.receivers[producer] = receiver
        return receiver

    def shm_prefix(self, role: str) -> str | None:
        """Name prefix of ``role``'s shared-memory frame ring (ipc runs only: same host)."""
        if not self.config.shm or self.endpoints.transport != "ipc" or not self.endpoints.directory:
            return None
        return f"{Path(self.endpoints.directory).name}-{role}"

    def open_ring(self) -> None:
        """Producers of frames call this in setup: their large buffers then travel through /dev/shm."""
        prefix = self.shm_prefix(self.role)
        if prefix and shm.available():
            self.ring = shm.FrameRing(prefix)

    # --- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Open sockets, load models; runs before the worker reports ready."""

    def step(self) -> bool:
        raise NotImplementedError

    def teardown(self) -> None:
        """Close files; runs on every exit path, including SIGTERM."""

    def run(self) -> int:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
        signal.signal(signal.SIGTERM, self._on_term)
        code = 0
        try:
            self.setup()
            self.state = "ready"
            self.beat(force=True)
            while not self.stopping:
                self.poll_commands()
                if not self.step():
                    self.wait_for_consumers()
                    break
                self.service_links()
                self.beat()
            self.state = "done" if not self.stopping else "stopped"
        except USER_ERRORS as exc:
            log.error("%s", exc)
            self.state = "fatal"
            self.info["error"] = str(exc)
            code = FATAL_EXIT_CODE
        except Exception:
            log.exception("%s failed", self.role)
            self.state = "failed"
            code = 1
        finally:
            try:
                self.teardown()
            finally:
                self.beat(force=True)
                # After a normal end the last items and the end-of-stream marker may still be
                # queued for a slower consumer: give them time to leave. On a stop, drop them.
                linger_ms = 0 if self.stopping or code else 5000
                for sender in self.senders.values():
                    sender.close(linger_ms)
                for receiver in self.receivers.values():
                    receiver.close()
                if self.ring is not None:
                    self.ring.close()
                self._command.close(linger=0)
                self._control.close(linger=500)
                self.ctx.term()
        return code

    def _on_term(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def should_stop(self) -> bool:
        return self.stopping

    def poll_commands(self) -> None:
        """Read the supervisor's run state: whether to go, and which workers have finished."""
        while self._command.poll(0):
            try:
                command = json.loads(self._command.recv(zmq.NOBLOCK))
                go, finished = bool(command["go"]), set(command["finished"])
            except (zmq.Again, ValueError, KeyError, TypeError):
                continue
            self.go = self.go or go
            self.finished_roles = finished

    def wait_for_consumers(self) -> None:
        """Stay up until every consumer has finished the stream. libzmq discards what is still
        queued at the receiving end of a link when the sending end closes, so closing right
        after the end-of-stream marker could lose the last items."""
        deadline = time.monotonic() + CONSUMER_WAIT_S
        self.state = "draining"
        while not set(self.senders) <= self.finished_roles and not self.stopping:
            if time.monotonic() > deadline:
                log.warning("%s: consumers %s did not finish within %.0f s", self.role,
                            sorted(set(self.senders) - self.finished_roles), CONSUMER_WAIT_S)
                return
            self.poll_commands()
            self.beat()
            time.sleep(0.01)

    def beat(self, force: bool = False) -> None:
        """Send a heartbeat with the current counters (at most every HEARTBEAT_INTERVAL_S)."""
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + HEARTBEAT_INTERVAL_S
        links = {f"out:{k}": s.stats.to_json() for k, s in self.senders.items()}
        links.update({f"in:{k}": r.stats.to_json() for k, r in self.receivers.items()})
        payload = {"worker": self.role, "pid": os.getpid(), "incarnation": self.config.incarnation,
                   "state": self.state, "counters": self.counters, "links": links, "info": self.info}
        try:
            self._control.send(json.dumps(payload).encode(), zmq.NOBLOCK)
        except zmq.Again:
            pass  # supervisor busy; the next beat carries the same counters

    def wait_beating(self) -> None:
        """Called while blocked or pacing: keep the heart beating, commands and live links flowing."""
        self.poll_commands()
        self.service_links()
        self.beat()

    def service_links(self) -> None:
        for sender in self.senders.values():
            sender.service()

    def next_message(self, receiver: Receiver) -> Message | None:
        """The next item from ``receiver`` stamped ``<role>.in``, or None. At end of stream the
        marker is forwarded to this worker's consumers and ``end_of_stream`` is set."""
        msg = receiver.recv(100)
        if msg is None:
            return None
        if msg.topic == "eos":
            self.forward_eos(msg)
            self.end_of_stream = True
            return None
        msg.stamps[f"{self.role}.in"] = time.monotonic_ns()
        return msg

    def forward_eos(self, msg: Message) -> None:
        """Pass the end-of-stream marker to every consumer. It must not be lost: on replay links
        it waits like any item (the consumer is draining towards it); on live links, where the
        consumer may be gone, it waits at most EOS_TIMEOUT_MS."""
        for consumer, sender in self.senders.items():
            if sender.policy is Policy.REPLAY:
                delivered = sender.send(msg, self.should_stop, self.wait_beating)
            else:
                delivered = sender.send_blocking(msg, EOS_TIMEOUT_MS)
            if not delivered and not self.stopping:
                log.warning("%s: end of stream could not be passed to %s", self.role, consumer)

    def artificial_delay(self) -> None:
        delay = self.config.delay_ms.get(self.role, 0.0)
        if delay:
            end = time.perf_counter() + delay / 1000.0
            while time.perf_counter() < end:  # busy-wait: sleep() overshoots by ~0.1 ms or more
                pass


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process if the supervisor dies, so no worker is orphaned."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    if os.getppid() != parent or parent == 1:  # the supervisor died before prctl took effect
        os._exit(1)

"""What every worker process shares: configuration, signals, heartbeats and its run loop."""
from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import zmq

from monitor import shm
from monitor.bus import Endpoints, Policy, Receiver, Sender
from monitor.estimator.session import ModelLoadError
from monitor.recording import RecordingError
from monitor.sources.base import SourceError
from monitor.wire import Message

if TYPE_CHECKING:
    from monitor.security import NetworkGuard

log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_S = 0.1  # the supervisor declares a worker hung after 1.5 s without one
LONG_CALL_LIMIT_S = 30.0  # longest a single wrapped call (inference) may take before it counts as hung


class StageFailed(RuntimeError):
    """A stage failed on item after item (e.g. the model on every frame): the run cannot go on."""


# Errors a user can fix (bad path, corrupt file, missing model): restarting would not help, so the
# worker reports the one-line message and exits with FATAL_EXIT_CODE; the supervisor ends the run.
USER_ERRORS = (SourceError, ModelLoadError, RecordingError)
FATAL_EXIT_CODE = 2
STAGE_FAILED_EXIT_CODE = 3  # StageFailed: the supervisor ends the run with exit code 1
MAX_ERRORS_IN_ROW = 30  # items in a row a stage may fail on (1 s of camera) before the run ends
EOS_TIMEOUT_MS = 5000
CONSUMER_WAIT_S = 30.0
EOS_REPEAT_S = 0.5


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
    eye_model: str = ""  # "" = no eye model: zones from the head pose alone (the CLI's default is the shipped one)
    cover_model: str = ""  # "" = no face-cover model: the head pose is used as read (the CLI's default: shipped)
    providers: list[str] = field(default_factory=lambda: ["tensorrt", "cuda", "cpu"])
    io_binding: bool = False
    body_flip_test: bool = False  # body heatmaps averaged with the mirrored frame's (2x body inference)
    head_flip_test: bool = True  # head angles averaged with the mirrored crop's (batch of 2 per crop)
    shm: bool = True  # ipc runs pass large buffers through a shared-memory ring
    record: bool = False
    display: bool = False  # a display worker runs: capture and gaze feed it (monitor/display/links.py)
    window: bool = False  # ... and shows an OpenCV window (needs $DISPLAY)
    video: bool = False  # ... and writes OUT/overlay.mp4
    layout: str = ""
    driver_calibration: str = ""
    # the distraction rules' settings (monitor.gaze.state.DistractionConfig fields; {}: its defaults)
    distraction: dict[str, Any] = field(default_factory=dict)
    # how the head-only gaze is scored (monitor.gaze.stage.GAZE_SCORINGS)
    gaze_scoring: str = "head-space"  # monitor.gaze.stage.DEFAULT_GAZE_SCORING (not imported: workers stay light)
    # per-worker: which frame to resume after (the supervisor sets it when restarting capture)
    skip_frames: int = 0
    incarnation: int = 0
    # test hook: an artificial per-item delay in ms for a named role (benchmarks' self-check)
    delay_ms: dict[str, float] = field(default_factory=dict)
    # test hook: injected faults (monitor/faults.py), e.g. {"source_unplug": [30, 1.5]}
    faults: dict[str, Any] = field(default_factory=dict)
    max_errors_in_row: int = MAX_ERRORS_IN_ROW

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
        self._beat_lock = threading.Lock()
        self._busy_since: float | None = None
        self._closing = threading.Event()
        self._busy_beats = threading.Thread(target=self._beat_while_busy, name="busy-heartbeat", daemon=True)
        self.guard = network_guard(self.ctx, self.endpoints)
        self._control = self.ctx.socket(zmq.PUSH)
        self._control.setsockopt(zmq.LINGER, 500)
        self._control.setsockopt(zmq.SNDHWM, 100)
        self._command = self.ctx.socket(zmq.SUB)
        self._command.setsockopt(zmq.SUBSCRIBE, b"")
        self._command.setsockopt(zmq.LINGER, 0)
        self._command.setsockopt(zmq.MAXMSGSIZE, 64 * 1024)
        if self.guard is not None:
            self.guard.client(self._control)
            self.guard.client(self._command)
        self._control.connect(self.endpoints.address(CONTROL))
        self._command.connect(self.endpoints.address(COMMAND))
        self.go = False
        self.ring: shm.FrameRing | None = None
        self.end_of_stream = False
        self.finished_roles: set[str] = set()
        self.source_state: dict[str, Any] = {}  # the capture's source state, as the supervisor relays it
        self.command_bad: dict[str, int] = {}
        self._errors_in_row = 0
        self._logged_errors: set[str] = set()
        self._eos: Message | None = None

    # --- links -----------------------------------------------------------------------------
    def add_sender(self, consumer: str, policy: Policy | None = None) -> Sender:
        sender = Sender(self.ctx, self.endpoints.address(link_name(self.role, consumer)), policy or self.policy,
                        ring=self.ring, guard=self.guard)
        self.senders[consumer] = sender
        return sender

    def add_receiver(self, producer: str, policy: Policy | None = None, topics: frozenset[str] = frozenset(),
                     zero_copy: bool = False) -> Receiver:
        """``topics``: what this link may carry besides ``eos``; anything else is counted as malformed.
        ``zero_copy``: frames in shared memory are viewed in place (see Receiver.verify)."""
        receiver = Receiver(self.ctx, self.endpoints.address(link_name(producer, self.role)), policy or self.policy,
                            shm_prefix=self.shm_prefix(producer), guard=self.guard,
                            topics=topics | {"eos"} if topics else topics, zero_copy=zero_copy)
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
    @classmethod
    def preload(cls, config: RunConfig) -> None:
        """A spare imports here what its ``setup`` would import (so a replacement starts fast)."""

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
        self._busy_beats.start()
        try:
            with self.long_call():  # loading and warming up models can take seconds
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
            # the final heartbeat counts every bad command that came; a worker with no consumers leaves
            # the moment its stream ends, with the last ones still queued
            self.poll_commands()
            self.state = "done" if not self.stopping else "stopped"
        except USER_ERRORS as exc:
            # the supervisor prints it from the final heartbeat as the run's one `error:` line
            log.debug("%s", exc)
            self.state = "fatal"
            self.info["error"] = str(exc)
            code = FATAL_EXIT_CODE
        except StageFailed as exc:
            log.error("%s", exc)
            self.state = "failed"
            self.info["error"] = str(exc)
            code = STAGE_FAILED_EXIT_CODE
        except Exception:
            log.exception("%s failed", self.role)
            self.state = "failed"
            code = 1
        finally:
            try:
                self.teardown()
            finally:
                self._closing.set()
                self._busy_beats.join()
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
                if self.guard is not None:
                    self.guard.close()
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
                frames = self._command.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                command = json.loads(frames[0]) if len(frames) == 1 else None
                go, finished = command["go"], command["finished"]
                source = command.get("source", {})
                if not (isinstance(go, bool) and isinstance(finished, list) and isinstance(source, dict)
                        and all(isinstance(r, str) for r in finished)):
                    raise TypeError
            except (ValueError, KeyError, TypeError, RecursionError):
                self.command_bad["bad_command"] = self.command_bad.get("bad_command", 0) + 1
                continue
            self.go = self.go or go
            self.finished_roles = set(finished)
            self.source_state = source

    def wait_for_consumers(self) -> None:
        """Stay up until every consumer has finished the stream. libzmq discards what is still
        queued at the receiving end of a link when the sending end closes, so closing right
        after the end-of-stream marker could lose the last items."""
        deadline = time.monotonic() + CONSUMER_WAIT_S
        next_offer = time.monotonic() + EOS_REPEAT_S
        self.state = "draining"
        while not set(self.senders) <= self.finished_roles and not self.stopping:
            now = time.monotonic()
            if now > deadline:
                log.warning("consumers %s did not finish within %.0f s",
                            sorted(set(self.senders) - self.finished_roles), CONSUMER_WAIT_S)
                return
            if self._eos is not None and now > next_offer:
                # A consumer replaced after it took the marker would wait for it forever: offer
                # it again (a consumer that already has one never reads a second).
                for consumer in set(self.senders) - self.finished_roles:
                    self.senders[consumer].offer(self._eos)
                next_offer = now + EOS_REPEAT_S
            self.poll_commands()
            self.beat()
            time.sleep(0.01)

    @contextlib.contextmanager
    def long_call(self) -> Iterator[None]:
        """Wrap a call that may outlast the hang timeout (a big model on a slow CPU): a helper
        thread keeps beating meanwhile, for at most LONG_CALL_LIMIT_S, so a call that really
        hangs is still caught."""
        self._busy_since = time.monotonic()
        try:
            yield
        finally:
            self._busy_since = None

    def _beat_while_busy(self) -> None:
        while not self._closing.wait(HEARTBEAT_INTERVAL_S):
            since = self._busy_since
            if since is not None and time.monotonic() - since < LONG_CALL_LIMIT_S:
                self.beat()

    def beat(self, force: bool = False) -> None:
        """Send a heartbeat with the current counters (at most every HEARTBEAT_INTERVAL_S).
        Thread-safe: the long-call helper thread beats too."""
        with self._beat_lock:
            self._beat(force)

    def _beat(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + HEARTBEAT_INTERVAL_S
        links = {f"out:{k}": s.stats.to_json() for k, s in self.senders.items()}
        links.update({f"in:{k}": r.stats.to_json() for k, r in self.receivers.items()})
        if self.command_bad:
            links["in:command"] = {"bad": dict(self.command_bad)}
        if self.guard is not None:
            self.guard.poll()
            if self.guard.counts:
                self.info["network_refused"] = dict(self.guard.counts)
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
        self._eos = msg
        for consumer, sender in self.senders.items():
            if sender.policy is Policy.REPLAY:
                delivered = sender.send(msg, self.should_stop, self.wait_beating)
            else:
                delivered = sender.send_blocking(msg, EOS_TIMEOUT_MS)
            if not delivered and not self.stopping:
                log.warning("end of stream could not be passed to %s", consumer)

    def count_error(self, what: str, exc: BaseException) -> None:
        """One item failed (it is dropped with its reason, logged once per reason). After
        ``max_errors_in_row`` failures in a row the stage gives up: StageFailed ends the run."""
        self.counters["errors"] += 1
        self._errors_in_row += 1
        reason = f"{type(exc).__name__}: {exc}"
        if reason not in self._logged_errors and len(self._logged_errors) < 100:
            self._logged_errors.add(reason)
            log.warning("dropped %s (%s)", what, reason)  # the log format names the role
        self.info["last_error"] = reason[:300]
        if self._errors_in_row >= self.config.max_errors_in_row:
            raise StageFailed(f"{self.role} failed on {self._errors_in_row} items in a row (last: {reason[:200]}); "
                              "the run stops: check the model and the input it is given")

    def count_success(self) -> None:
        self.counters["processed"] += 1
        self._errors_in_row = 0

    def artificial_delay(self) -> None:
        delay = self.config.delay_ms.get(self.role, 0.0)
        if delay:
            end = time.perf_counter() + delay / 1000.0
            while time.perf_counter() < end:  # busy-wait: sleep() overshoots by ~0.1 ms or more
                pass


def network_guard(ctx: zmq.Context, endpoints: Endpoints) -> "NetworkGuard | None":
    """tcp links are CURVE-authenticated and encrypted (monitor/security.py); ipc ones live in a
    private directory and need nothing more."""
    if endpoints.transport != "tcp":
        return None
    from monitor.security import CurveKeys, NetworkGuard

    if not endpoints.keys:
        raise ValueError("tcp transport needs a CURVE key directory: `python run_monitor.py keys --out DIR`, "
                         "then --keys DIR")
    return NetworkGuard(ctx, CurveKeys.load(endpoints.keys))


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

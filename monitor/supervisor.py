"""The supervisor: starts the workers, watches their heartbeats, restarts crashed or hung ones
with back-off, and stops everything cleanly on SIGINT/SIGTERM or when the stream ends."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from monitor.bus import Endpoints
from monitor.shm import remove_segments
from monitor.workers.base import COMMAND, CONTROL, FATAL_EXIT_CODE, RunConfig

log = logging.getLogger(__name__)

STOP_GRACE_S = 1.5  # SIGTERM -> SIGKILL; the whole stop stays under the 2 s budget
HANG_TIMEOUT_S = 5.0  # no heartbeat for this long from a running worker -> killed and restarted
STARTUP_TIMEOUT_S = 60.0  # model loading and warm-up may take a while on a cold machine
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
MAX_RESTARTS = 5


class RunFailed(RuntimeError):
    """The run cannot go on (a fatal user error, or a worker that keeps crashing)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class WorkerHandle:
    role: str
    process: subprocess.Popen | None = None
    incarnation: int = 0
    restarts: int = 0
    state: str = "starting"
    last_beat: float = 0.0
    started: float = 0.0
    restart_at: float | None = None
    finished: bool = False
    beat: dict[str, Any] = field(default_factory=dict)  # latest heartbeat of this incarnation
    history: list[dict[str, Any]] = field(default_factory=list)  # last heartbeat of each earlier one


class Supervisor:
    """Runs one pipeline; the run ends when every worker has finished the stream (or on a signal)."""

    def __init__(self, config: RunConfig, roles: list[str], endpoints: Endpoints) -> None:
        self.config = config
        self.roles = roles
        self.endpoints = endpoints
        self.workers = {role: WorkerHandle(role) for role in roles}
        self.stop_signal: int | None = None
        self.ctx = zmq.Context()
        self.started_at = time.monotonic()
        self.ended_at: float | None = None

    # --- public ----------------------------------------------------------------------------
    def run(self) -> int:
        """Run to the end of the stream or a stop signal; returns the process exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.control = self.ctx.socket(zmq.PULL)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.bind(self.endpoints.address(CONTROL))
        self.command = self.ctx.socket(zmq.PUB)
        self.command.setsockopt(zmq.LINGER, 0)
        self.command.bind(self.endpoints.address(COMMAND))
        try:
            for handle in self.workers.values():
                self._start(handle)
            code = self._watch()
        finally:
            self._stop_all()
            self.ended_at = time.monotonic()
            self.control.close(linger=0)
            self.command.close(linger=0)
            self.ctx.term()
            self.endpoints.remove()
            if self.endpoints.directory:  # rings of workers that were killed before they could unlink
                remove_segments(Path(self.endpoints.directory).name)
            for s, handler in previous.items():
                signal.signal(s, handler)
        return code

    def worker_reports(self) -> dict[str, dict[str, Any]]:
        """Per role: restarts and the final heartbeat of every incarnation (counters, links, info)."""
        return {role: {"restarts": h.restarts, "incarnations": [*h.history, h.beat]}
                for role, h in self.workers.items()}

    # --- internals -------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_signal = signum

    def _start(self, handle: WorkerHandle) -> None:
        config = RunConfig(**{**self.config.__dict__, "incarnation": handle.incarnation})
        if handle.role == "capture" and handle.history:
            config.skip_frames = int(handle.history[-1].get("counters", {}).get("frames_read", 0))
        handle.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.workers", handle.role, config.to_json()],
            stdin=subprocess.DEVNULL)
        handle.state = "starting"
        handle.started = handle.last_beat = time.monotonic()
        handle.restart_at = None

    def _watch(self) -> int:
        while True:
            if self.stop_signal is not None:
                log.info("stopping on %s", signal.Signals(self.stop_signal).name)
                return 128 + self.stop_signal
            self._read_heartbeats(timeout_ms=50)
            now = time.monotonic()
            for handle in self.workers.values():
                self._check(handle, now)
            if all(h.finished for h in self.workers.values()):
                return 0
            self._publish_run_state()

    def _publish_run_state(self) -> None:
        """Tell the workers whether everyone is ready (capture starts then) and who has finished
        (a worker leaves only once its consumers have finished). Repeated every loop, so a late
        subscriber or a restarted worker catches up at once."""
        go = all(h.state not in ("starting", "restarting") for h in self.workers.values())
        finished = [role for role, h in self.workers.items() if h.finished or h.state in ("draining", "done")]
        self.command.send(json.dumps({"go": go, "finished": finished}).encode())

    def _read_heartbeats(self, timeout_ms: int) -> None:
        if not self.control.poll(timeout_ms):
            return
        while True:
            try:
                beat = json.loads(self.control.recv(zmq.NOBLOCK))
                handle = self.workers[beat["worker"]]
            except zmq.Again:
                return
            except (ValueError, KeyError, TypeError):
                continue  # control traffic is internal; a garbled beat is simply ignored
            if beat.get("incarnation") != handle.incarnation:
                continue  # a late beat from a killed incarnation
            handle.beat = beat
            handle.state = beat.get("state", handle.state)
            handle.last_beat = time.monotonic()

    def _check(self, handle: WorkerHandle, now: float) -> None:
        if handle.finished:
            return
        if handle.restart_at is not None:
            if now >= handle.restart_at:
                self._start(handle)
            return
        assert handle.process is not None
        code = handle.process.poll()
        if code is None:
            limit = STARTUP_TIMEOUT_S if handle.state == "starting" else HANG_TIMEOUT_S
            if now - handle.last_beat > limit:
                log.warning("%s sent no heartbeat for %.1f s: killing it", handle.role, now - handle.last_beat)
                handle.process.kill()
                handle.process.wait()
                self._crashed(handle, "hung", now)
            return
        if code == 0 and handle.state == "done":
            handle.finished = True
        elif code == FATAL_EXIT_CODE:
            raise RunFailed(handle.beat.get("info", {}).get("error", f"{handle.role} could not start"),
                            FATAL_EXIT_CODE)
        else:
            self._crashed(handle, f"exit code {code}", now)

    def _crashed(self, handle: WorkerHandle, why: str, now: float) -> None:
        if handle.restarts >= MAX_RESTARTS:
            raise RunFailed(f"{handle.role} failed {handle.restarts + 1} times (last: {why}); giving up")
        delay = BACKOFF_S[min(handle.restarts, len(BACKOFF_S) - 1)]
        log.warning("%s died (%s); restarting in %.1f s", handle.role, why, delay)
        handle.history.append(handle.beat)
        handle.beat = {}
        handle.restarts += 1
        handle.incarnation += 1
        handle.state = "restarting"
        handle.restart_at = now + delay

    def _stop_all(self) -> None:
        """SIGTERM every live worker, wait up to STOP_GRACE_S, SIGKILL what is left."""
        live = [h.process for h in self.workers.values() if h.process and h.process.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in live:
            try:
                p.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d ignored SIGTERM: killing it", p.pid)
                p.kill()
                p.wait()
        self._read_heartbeats(timeout_ms=0)  # the final beats carry the final counters

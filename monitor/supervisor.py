"""The supervisor: starts the workers, watches their heartbeats, restarts crashed or hung ones
with back-off, and stops everything cleanly on SIGINT/SIGTERM or when the stream ends."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from monitor.bus import Endpoints
from monitor.childenv import child_env
from monitor.shm import remove_segments
from monitor.workers.base import (COMMAND, CONTROL, FATAL_EXIT_CODE, STAGE_FAILED_EXIT_CODE, RunConfig,
                                  network_guard)

log = logging.getLogger(__name__)

STOP_GRACE_S = 1.5  # SIGTERM -> SIGKILL; the whole stop stays under the 2 s budget
COMMAND_REPEAT_S = 0.2  # an unchanged run state is sent again this often
FINAL_BEATS_S = 0.3  # after the workers exit: time for their last heartbeats to arrive
# No heartbeat for this long from a running worker -> killed and restarted. Workers beat every
# 0.1 s and never block longer than ~0.1 s between beats; 1.5 s (15 missed beats) keeps a worker
# that is merely starved of CPU on a heavily loaded machine from being taken for hung (1 s did not).
HANG_TIMEOUT_S = 1.5
# A worker that is stopped (SIGSTOP, Ctrl-Z: state T in /proc) cannot make progress: once it has
# missed this long of heartbeats it is replaced without waiting for the full hang timeout.
STOPPED_AFTER_S = 0.5
STARTUP_TIMEOUT_S = 60.0  # model loading and warm-up may take a while on a cold machine
BACKOFF_S = (0.05, 0.5, 1.0, 2.0, 5.0)  # the first restart is immediate; repeated ones back off
MAX_RESTARTS = 5  # failures in a row (a worker that then runs STABLE_S starts a fresh count)
STABLE_S = 30.0
SPARE_INTERVAL_S = 1.0  # spares start one at a time, so their imports do not stall the pipeline


def process_stopped(pid: int) -> bool:
    """Whether a process is stopped by a signal (state T; not t, a debugger's tracing stop)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


class RunFailed(RuntimeError):
    """The run cannot go on (a fatal user error, or a worker that keeps crashing)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def popen_worker(args: list[str], stdin: int) -> subprocess.Popen:
    """Start a worker process: ``python -m monitor.workers ARGS``.
    - SIGINT is blocked in the new process from its first instruction (a signal mask survives
      exec) until its entry point has set it to be ignored (monitor/workers/__main__.py): a
      terminal's Ctrl-C reaches the whole process group, and it is the supervisor's to handle;
      a worker hit by it while the interpreter starts would die with a traceback and be counted
      as a crash. Workers stay in this process group, so a Ctrl-Z still pauses them all.
    - PYTHONPATH starts with the package's folder (`child_env`), so this works when
      run_monitor.py is started from another folder."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return subprocess.Popen([sys.executable, "-m", "monitor.workers", *args], stdin=stdin, env=child_env())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a Ctrl-C meanwhile is handled now


@dataclass
class WorkerHandle:
    role: str
    process: subprocess.Popen | None = None
    incarnation: int = 0
    restarts: int = 0
    failures_in_row: int = 0
    failed_at: float | None = None  # when the current outage began (death or hang detected)
    state: str = "starting"
    last_beat: float = 0.0
    started: float = 0.0
    restart_at: float | None = None
    finished: bool = False
    beat: dict[str, Any] = field(default_factory=dict)  # latest heartbeat of this incarnation
    history: list[dict[str, Any]] = field(default_factory=list)  # last heartbeat of each earlier one
    faults: list[dict[str, Any]] = field(default_factory=list)  # why it died, how long recovery took
    pids: set[int] = field(default_factory=set)  # every process this role has had


class Supervisor:
    """Runs one pipeline; the run ends when every worker has finished the stream (or on a signal)."""

    def __init__(self, config: RunConfig, roles: list[str], endpoints: Endpoints, spares: bool = True) -> None:
        self.config = config
        # DMS_NO_SPARES=1: cold restarts only (to measure what the spares save)
        self.use_spares = spares and not os.environ.get("DMS_NO_SPARES")
        self.guard = None
        self.spares: dict[str, subprocess.Popen] = {}  # per role: a started, idle replacement
        self._next_spare = 0.0
        self.roles = roles
        self.endpoints = endpoints
        self.workers = {role: WorkerHandle(role) for role in roles}
        self.stop_signal: int | None = None
        self.ctx = zmq.Context()
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.control_bad: dict[str, int] = {}  # malformed or foreign control messages, by kind
        self._last_command = b""
        self._next_command_at = 0.0

    # --- public ----------------------------------------------------------------------------
    def run(self) -> int:
        """Run to the end of the stream or a stop signal; returns the process exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.guard = network_guard(self.ctx, self.endpoints)
        self.control = self.ctx.socket(zmq.PULL)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, 1024 * 1024)  # a heartbeat is a few kB
        self.command = self.ctx.socket(zmq.PUB)
        self.command.setsockopt(zmq.LINGER, 0)
        if self.guard is not None:
            self.guard.server(self.control, "control")
            self.guard.server(self.command, "command")
        self.control.bind(self.endpoints.address(CONTROL))
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
            if self.guard is not None:
                self.guard.poll()
                self.guard.close()
            self.ctx.term()
            self.endpoints.remove()
            if self.endpoints.directory:  # rings of workers that were killed before they could unlink
                remove_segments(Path(self.endpoints.directory).name)
            for s, handler in previous.items():
                signal.signal(s, handler)
        return code

    def worker_reports(self) -> dict[str, dict[str, Any]]:
        """Per role: restarts and the final heartbeat of every incarnation (counters, links, info)."""
        reports = {role: {"restarts": h.restarts, "faults": h.faults, "incarnations": [*h.history, h.beat]}
                   for role, h in self.workers.items()}
        # The supervisor's own socket: every malformed or foreign heartbeat is counted as dropped.
        info = {"network_refused": dict(self.guard.counts)} if self.guard is not None else {}
        reports["supervisor"] = {"restarts": 0, "faults": [], "incarnations": [
            {"links": {"in:control": {"bad": dict(self.control_bad)}}, "info": info}]}
        return reports

    # --- internals -------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_signal = signum

    def _start(self, handle: WorkerHandle) -> None:
        overrides: dict[str, Any] = {"incarnation": handle.incarnation}
        if handle.role == "capture" and handle.history:
            overrides["skip_frames"] = int(handle.history[-1].get("counters", {}).get("frames_read", 0))
        spare = self.spares.pop(handle.role, None)
        if spare is not None and spare.poll() is None:
            try:  # a spare has its imports done: it only needs to know which incarnation it is
                assert spare.stdin is not None
                spare.stdin.write(json.dumps(overrides).encode() + b"\n")
                spare.stdin.close()
                handle.process = spare
            except (BrokenPipeError, OSError):
                spare = None
        else:
            spare = None
        if spare is None:
            config = RunConfig(**{**self.config.__dict__, **overrides})
            handle.process = popen_worker([handle.role, config.to_json()], subprocess.DEVNULL)
        assert handle.process is not None
        handle.pids.add(handle.process.pid)
        handle.state = "starting"
        handle.started = handle.last_beat = time.monotonic()
        handle.restart_at = None

    def _watch(self) -> int:
        while True:
            if self.stop_signal is not None:
                log.info("stopping on %s", signal.Signals(self.stop_signal).name)
                return 128 + self.stop_signal
            self._read_heartbeats(timeout_ms=50)
            if self.stop_signal is not None:
                continue  # the workers also saw a terminal's Ctrl-C: an exit now is no crash
            if self.guard is not None:
                self.guard.poll()
            now = time.monotonic()
            for handle in self.workers.values():
                self._check(handle, now)
            if all(h.finished for h in self.workers.values()):
                return 0
            self._publish_run_state()
            self._keep_spares(now)

    def _keep_spares(self, now: float) -> None:
        """Once the run is going, keep one idle spare per role (one start per SPARE_INTERVAL_S)."""
        if not self.use_spares or now < self._next_spare:
            return
        if any(h.state in ("starting", "restarting") for h in self.workers.values()):
            return  # a worker is (re)starting: it has the CPU first
        for role, handle in self.workers.items():
            spare = self.spares.get(role)
            if handle.finished or handle.state in ("draining", "done") or (spare is not None and spare.poll() is None):
                continue
            self.spares[role] = popen_worker([role, self.config.to_json(), "--standby"], subprocess.PIPE)
            log.info("started a spare %s (pid %d) at %d", role, self.spares[role].pid, time.monotonic_ns())
            self._next_spare = now + SPARE_INTERVAL_S
            return

    def _publish_run_state(self) -> None:
        """Tell the workers whether everyone is ready (capture starts then) and who has finished
        (a worker leaves only once its consumers have finished). Sent at once when it changes and
        repeated every COMMAND_REPEAT_S, so a late subscriber or a restarted worker catches up;
        not on every loop: each message wakes every worker's socket thread, and on a 2-core
        machine that chatter shows in the pipeline's latency tail."""
        go = all(h.state not in ("starting", "restarting") for h in self.workers.values())
        finished = [role for role, h in self.workers.items() if h.finished or h.state in ("draining", "done")]
        command: dict[str, Any] = {"go": go, "finished": finished}
        capture = self.workers.get("capture")
        if capture is not None and isinstance(capture.beat.get("info", {}).get("source_state"), dict):
            command["source"] = capture.beat["info"]["source_state"]  # e.g. the display shows "camera lost"
        encoded = json.dumps(command).encode()
        now = time.monotonic()
        if encoded == self._last_command and now < self._next_command_at:
            return
        self.command.send(encoded)
        self._last_command, self._next_command_at = encoded, now + COMMAND_REPEAT_S

    def _read_heartbeats(self, timeout_ms: int) -> int:
        """Everything queued on the control socket (waiting up to timeout_ms for the first);
        returns how many messages were read."""
        if not self.control.poll(timeout_ms):
            return 0
        count = 0
        while True:
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return count
            count += 1
            beat = self._valid_beat(frames)
            if beat is None:
                continue
            handle = self.workers[beat["worker"]]
            if beat["pid"] not in handle.pids:
                self._control_bad("foreign_pid")  # not from a process we started for this role
                continue
            if handle.process is None or beat["pid"] != handle.process.pid or beat["incarnation"] != handle.incarnation:
                continue  # a late beat from a killed incarnation
            handle.beat = beat
            handle.state = beat["state"]
            handle.last_beat = time.monotonic()
            if handle.failed_at is not None and handle.state not in ("starting", "restarting"):
                down_s = handle.last_beat - handle.failed_at
                handle.faults[-1]["recovered_s"] = round(down_s, 3)  # from detection to ready again
                handle.faults[-1]["recovered_ns"] = time.monotonic_ns()
                log.warning("%s recovered %.2f s after the failure", handle.role, down_s)
                handle.failed_at = None

    def _valid_beat(self, frames: list[bytes]) -> dict[str, Any] | None:
        """A heartbeat is one JSON object naming one of our workers; anything else is counted."""
        if len(frames) != 1:
            return self._control_bad("bad_parts")
        try:
            beat = json.loads(frames[0])
        except (ValueError, RecursionError):
            return self._control_bad("bad_json")
        if not isinstance(beat, dict) or beat.get("worker") not in self.workers:
            return self._control_bad("bad_worker")
        if (not isinstance(beat.get("incarnation"), int) or not isinstance(beat.get("pid"), int)
                or not isinstance(beat.get("state"), str) or not isinstance(beat.get("counters", {}), dict)
                or not isinstance(beat.get("links", {}), dict) or not isinstance(beat.get("info", {}), dict)):
            return self._control_bad("bad_fields")
        return beat

    def _control_bad(self, kind: str) -> None:
        if kind not in self.control_bad:
            log.warning("dropped a malformed control message (%s); further ones are only counted", kind)
        self.control_bad[kind] = self.control_bad.get(kind, 0) + 1
        return None

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
            if handle.failures_in_row and handle.state != "starting" and now - handle.started > STABLE_S:
                handle.failures_in_row = 0  # it has run well for a while: a later crash starts a new count
            limit = STARTUP_TIMEOUT_S if handle.state == "starting" else HANG_TIMEOUT_S
            silent = now - handle.last_beat
            why = None
            if silent > limit:
                why = "hung"
            elif handle.state != "starting" and silent > STOPPED_AFTER_S and process_stopped(handle.process.pid):
                why = "stopped"
            if why is not None:
                log.warning("%s sent no heartbeat for %.1f s (%s): killing it", handle.role, silent, why)
                handle.process.kill()
                handle.process.wait()
                self._crashed(handle, why, now)
            return
        if code == 0 and handle.state == "done":
            handle.finished = True
        elif code == FATAL_EXIT_CODE:
            # the worker's message (its one copy) travels in its final heartbeat, which may still be queued
            deadline = time.monotonic() + FINAL_BEATS_S
            while "error" not in handle.beat.get("info", {}) and time.monotonic() < deadline:
                self._read_heartbeats(timeout_ms=20)
            raise RunFailed(handle.beat.get("info", {}).get("error", f"{handle.role} could not start"),
                            FATAL_EXIT_CODE)
        elif code == STAGE_FAILED_EXIT_CODE:  # e.g. the model fails on frame after frame
            raise RunFailed(handle.beat.get("info", {}).get("error", f"{handle.role} kept failing"), 1)
        else:
            self._crashed(handle, f"exit code {code}", now)

    def _crashed(self, handle: WorkerHandle, why: str, now: float) -> None:
        if handle.failures_in_row >= MAX_RESTARTS:
            raise RunFailed(f"{handle.role} failed {handle.failures_in_row + 1} times in a row (last: {why}); "
                            "giving up: see the log lines above for its error")
        delay = BACKOFF_S[min(handle.failures_in_row, len(BACKOFF_S) - 1)]
        log.warning("%s died (%s); restarting in %.2f s", handle.role, why, delay)
        if handle.failed_at is None:
            handle.failed_at = now
        handle.faults.append({"why": why, "at_s": round(now - self.started_at, 3),
                              "detected_ns": time.monotonic_ns()})
        handle.history.append(handle.beat)
        handle.beat = {}
        handle.restarts += 1
        handle.failures_in_row += 1
        handle.incarnation += 1
        handle.state = "restarting"
        handle.restart_at = now + delay

    def _stop_all(self) -> None:
        """SIGTERM every live worker, wait up to STOP_GRACE_S, SIGKILL what is left."""
        for spare in self.spares.values():  # idle: nothing to save
            if spare.poll() is None:
                spare.kill()
            spare.wait()
        self.spares.clear()
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
        # The final beats carry the final counters; a worker's last beat can still be on its way
        # through the sockets when the process has exited, so read until the socket stays quiet.
        deadline = time.monotonic() + FINAL_BEATS_S
        while self._read_heartbeats(timeout_ms=50) and time.monotonic() < deadline:
            pass

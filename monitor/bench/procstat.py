"""CPU time and memory of running processes, sampled from /proc (Linux) in a background thread.

Samples carry ``time.monotonic_ns()`` stamps, the clock of the pipeline's latency stamps, so CPU
use can be computed over exactly the measured frames.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Sample:
    t_ns: int
    pid: int
    cpu_s: float  # user + system time so far
    rss_kb: int


def read_proc(pid: int) -> tuple[float, int] | None:
    """(user + system CPU seconds, resident set in KiB) of ``pid``, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/statm", "rb") as f:
            statm = f.read().split()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK, int(statm[1]) * PAGE_KB


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM: the process's peak resident set so far."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class ProcSampler:
    """Samples the processes ``pids()`` names (role -> pid) every ``interval_s`` until stopped."""

    pids: Callable[[], dict[str, int]]
    interval_s: float = 0.1
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    peak_kb: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="procstat", daemon=True)

    def __enter__(self) -> "ProcSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample_once()
            if self._stop.wait(self.interval_s):
                self.sample_once()
                return

    def sample_once(self) -> None:
        for role, pid in list(self.pids().items()):
            got = read_proc(pid)
            if got is None:
                continue
            self.samples.setdefault(role, []).append(Sample(time.monotonic_ns(), pid, *got))
            peak = peak_rss_kb(pid)
            if peak is not None:
                self.peak_kb[role] = max(self.peak_kb.get(role, 0), peak)

    def usage(self, start_ns: int | None = None, end_ns: int | None = None) -> dict[str, dict[str, float]]:
        """Per role over [start_ns, end_ns] (whole run when None): CPU in % of one core, mean
        and max resident memory (MiB) and the peak the kernel recorded (VmHWM)."""
        out: dict[str, dict[str, float]] = {}
        for role, samples in self.samples.items():
            window = [s for s in samples if (start_ns is None or s.t_ns >= start_ns)
                      and (end_ns is None or s.t_ns <= end_ns)]
            pid = window[-1].pid if window else None
            window = [s for s in window if s.pid == pid]  # one incarnation (a restart resets CPU time)
            entry: dict[str, float] = {"samples": len(window)}
            if len(window) >= 2 and window[-1].t_ns > window[0].t_ns:
                wall = (window[-1].t_ns - window[0].t_ns) / 1e9
                entry["cpu_percent"] = round(100.0 * (window[-1].cpu_s - window[0].cpu_s) / wall, 1)
            if window:
                rss = [s.rss_kb / 1024 for s in window]
                entry["rss_mib_mean"] = round(sum(rss) / len(rss), 1)
                entry["rss_mib_max"] = round(max(rss), 1)
            if role in self.peak_kb:
                entry["peak_rss_mib"] = round(self.peak_kb[role] / 1024, 1)
            out[role] = entry
        return out

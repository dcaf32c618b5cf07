"""Run the real pipeline (real processes, real sockets) from tests and inspect what it left."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitor.bench.faults import wait_for, worker_pids  # noqa: F401 - the tests poll and find workers the same way

ROOT = Path(__file__).resolve().parents[1]


def start_run(out: Path, *args: str, cwd: Path = ROOT, own_group: bool = False) -> subprocess.Popen:
    """``own_group``: in a process group of its own, so a test can signal the whole group as a
    terminal's Ctrl-C does (os.killpg) without hitting pytest."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "run_monitor.py"), "--out", str(out), "--headless", *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            process_group=0 if own_group else None)


def run(out: Path, *args: str, timeout: float = 120, cwd: Path = ROOT) -> tuple[int, str]:
    proc = start_run(out, *args, cwd=cwd)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # the supervisor stops its workers
        output, _ = proc.communicate(timeout=10)
        raise AssertionError(f"run did not finish in {timeout} s; output:\n{output}") from None
    return proc.returncode, output


def results(out: Path) -> list[dict[str, Any]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line must be complete JSON


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())

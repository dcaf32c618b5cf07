"""Entry point of every worker process: ``python -m monitor.workers ROLE CONFIG_JSON [--standby]``.

With ``--standby`` the process is a spare: it imports its role's code (the slow part of a start)
and waits for one JSON line on stdin with the fields that differ for its incarnation, then runs.
The supervisor keeps one spare per role so that a crashed worker is replaced in a fraction of the
time a cold start takes. While waiting, its process name (/proc/PID/comm) is ``dms-spare``.
"""
from __future__ import annotations

import signal

# A terminal's Ctrl-C reaches the whole process group, and it is the supervisor's to handle (it
# stops every worker in order). The supervisor starts workers with SIGINT blocked
# (supervisor.popen_worker); ignored from here on, a Ctrl-C that came meanwhile is discarded.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

import ctypes  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from monitor.workers.base import RunConfig  # noqa: E402

ROLES = {
    "capture": "monitor.workers.capture:CaptureWorker",
    "estimator": "monitor.workers.estimator:EstimatorWorker",
    "gaze": "monitor.workers.gaze:GazeWorker",
    "sink": "monitor.workers.sink:SinkWorker",
    "recorder": "monitor.workers.recorder:RecorderWorker",
    "display": "monitor.workers.display:DisplayWorker",
}
SPARE_NAME = "dms-spare"


def set_process_name(name: str) -> None:
    try:
        ctypes.CDLL("libc.so.6").prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except OSError:
        pass


def main(argv: list[str]) -> int:
    standby = argv[2:] == ["--standby"]
    if len(argv) != (3 if standby else 2) or argv[0] not in ROLES:
        print(f"usage: python -m monitor.workers {{{','.join(ROLES)}}} CONFIG_JSON [--standby]", file=sys.stderr)
        return 2
    role = argv[0]
    set_process_name(SPARE_NAME if standby else f"dms-{role}")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {role}: %(message)s", datefmt="%H:%M:%S")
    module_name, _, class_name = ROLES[role].partition(":")
    worker_class = getattr(importlib.import_module(module_name), class_name)
    config = RunConfig.from_json(argv[1])
    if standby:
        from monitor.workers.base import _die_with_parent

        _die_with_parent()
        worker_class.preload(config)
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the run ended without needing this spare
        config = RunConfig(**{**config.__dict__, **json.loads(line)})
        set_process_name(f"dms-{role}")
    return worker_class(config).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Entry point of every worker process: ``python -m monitor.workers ROLE CONFIG_JSON``."""
from __future__ import annotations

import importlib
import logging
import sys

from monitor.workers.base import RunConfig

ROLES = {
    "capture": "monitor.workers.capture:CaptureWorker",
    "estimator": "monitor.workers.estimator:EstimatorWorker",
    "gaze": "monitor.workers.gaze:GazeWorker",
    "sink": "monitor.workers.sink:SinkWorker",
    "recorder": "monitor.workers.recorder:RecorderWorker",
    "display": "monitor.workers.display:DisplayWorker",
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ROLES:
        print(f"usage: python -m monitor.workers {{{','.join(ROLES)}}} CONFIG_JSON", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {argv[0]}: %(message)s", datefmt="%H:%M:%S")
    module_name, _, class_name = ROLES[argv[0]].partition(":")
    worker_class = getattr(importlib.import_module(module_name), class_name)
    return worker_class(RunConfig.from_json(argv[1])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

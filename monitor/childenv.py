"""The environment of the Python processes this package starts (``python -m monitor...``)."""
from __future__ import annotations

import os

# the folder that holds the `monitor` package
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env() -> dict[str, str]:
    """This process's environment with PYTHONPATH led by the package's folder: ``python -m
    monitor.workers`` (and the benchmark's helpers) must import the package even when
    run_monitor.py was started from another folder."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": PACKAGE_ROOT + (os.pathsep + path if path else "")}

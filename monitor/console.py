"""Console output that survives its reader going away (``run_monitor.py ... | head``)."""
from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """After a BrokenPipeError on stdout: point it at /dev/null, so that later prints and the
    interpreter's last flush at exit do not raise again (the recipe of Python's signal module docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def say(text: str) -> None:
    """Print ``text`` (flushed); a closed stdout silences the rest instead of raising, so the
    caller goes on to write its files."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        silence_stdout()

#!/usr/bin/env python3
"""Driver-monitoring system: run `python run_monitor.py --help`."""
import sys

if __name__ == "__main__":
    # Once a run is going the supervisor handles Ctrl-C (outputs complete, exit 130); before that,
    # in the imports of numpy, OpenCV and ZeroMQ, a Ctrl-C ends the start quietly.
    try:
        from monitor.cli import main
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # stdout closed by its reader (e.g. `| head`): stop without a traceback
        from monitor.console import silence_stdout
        silence_stdout()
        code = 1
    sys.exit(code)

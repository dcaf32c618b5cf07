#!/usr/bin/env python3
"""Driver-monitoring system: run `python run_monitor.py --help`."""
import sys

from monitor.cli import main

if __name__ == "__main__":
    sys.exit(main())

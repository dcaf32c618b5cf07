"""Write a ``.dmsrec`` recording's framesets as a RealSense recording with whatever pyrealsense2 is
first on the path. pyrealsense2 >= 2.58 refuses ROS1 ``.bag``, so the tests run this script with
an older pyrealsense2 (tests/.rs-legacy) to make ``.bag`` fixtures:

    PYTHONPATH=tests/.rs-legacy python tests/rs_legacy_writer.py IN.dmsrec OUT.bag [FPS]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root, after PYTHONPATH

from monitor.sources.realsense_writer import write_realsense_recording  # noqa: E402
from monitor.sources.recording import RecordingSource  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    fps = int(argv[2]) if len(argv) == 3 else 30
    with RecordingSource(argv[0]) as source:
        count = write_realsense_recording(argv[1], source, fps=fps)
    print(f"wrote {count} framesets to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""monitor.gaze.bench runs and prints its figures (the figures themselves are for reading, not asserting)."""
import re

from monitor.gaze import bench


def test_the_bench_prints_the_per_frame_cost_and_the_warm_up_frame(capsys):
    bench.main(["--frames", "60"])
    out = capsys.readouterr().out
    assert re.search(r"over 60 frames, 6 zones: mean [\d.]+ us, p50 [\d.]+ us, p99 [\d.]+ us", out)
    # the offset comes 3 s after the first head (RoadAheadConfig.min_history_s), frame 90 at 30 fps
    assert re.search(r"frame 90, where the road-ahead offset first comes and the 90 frames before it are "
                     r"classified again, \d+ us", out)

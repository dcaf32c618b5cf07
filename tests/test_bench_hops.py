"""monitor.bench.hops: the post-inference steps on real-shaped messages, warm and after idling."""
from __future__ import annotations

import re

import pytest

from monitor.bench.hops import STEPS, HopSteps, estimates_from_truth, main
from monitor.sources.synthetic import open_synthetic


def test_the_steps_carry_a_frame_through_like_the_pipeline() -> None:
    frames = list(open_synthetic(seed="0", scenario="drive", frames="3"))
    steps = HopSteps([(estimates_from_truth(fs.truth), "{}") for fs in frames], 30.0)
    times = steps.run()
    assert list(times) == list(STEPS) and all(t > 0 for t in times.values())
    # what the gaze side decoded is the estimate that was sent: the truth's head and eyes
    head = steps._estimates.head
    assert head.yaw_deg == pytest.approx(frames[0].truth["head"]["yaw_deg"])
    assert steps._estimates.eyes is not None and steps._estimates.joints.uv.shape == (21, 2)
    gaze, state, _ = steps._result
    assert gaze.zone in ("road", "unknown") and state.t_s == 0.0


def test_cli_prints_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rounds", "3", "--idle-ms", "1"]) == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert re.search(rf"\| {re.escape(step)} \| \d+ \| \d+ \| \d+ \| \d+ \| [\d.]+x \|", out), out
    assert "after 1.0 ms idle" in out

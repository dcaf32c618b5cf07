"""overlay.mp4 and the exports from real runs: frame counts, readability, and Ctrl-C."""
import csv
import json
import signal
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from display_helpers import ffprobe_frames, opencv_frames
from monitor.display.video import OverlayVideo
from monitor.recording import RecordingReader
from pipeline_helpers import results, run, start_run, summary, wait_for
from tests.fixtures import write_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return write_recording(tmp_path_factory.mktemp("rec") / "clip.dmsrec", 60, width=320, height=240)


def test_overlay_video_writer_frames_rate_and_content(tmp_path):
    video = OverlayVideo(tmp_path / "v.mp4")
    canvases = [np.full((120, 160, 3), 35 * i, np.uint8) for i in range(7)]
    for i, c in enumerate(canvases):
        video.write(c, 1000.0 + i * 1000.0 / 15.0)
    video.close()
    video.close()  # idempotent
    assert video.frames == 7 and video.fps == pytest.approx(15.0)
    decoded = list(opencv_frames(tmp_path / "v.mp4"))
    assert len(decoded) == 7 == ffprobe_frames(tmp_path / "v.mp4")
    means = [float(f.mean()) for f in decoded]
    assert means == pytest.approx([35.0 * i for i in range(7)], abs=8.0)  # order and content kept


def test_single_frame_video_is_still_a_valid_file(tmp_path):
    video = OverlayVideo(tmp_path / "one.mp4")
    video.write(np.zeros((64, 64, 3), np.uint8), 0.0)
    video.close()
    assert ffprobe_frames(tmp_path / "one.mp4") == 1


def test_replay_run_video_has_every_frame_and_exports_are_complete(tmp_path, models, recording):
    code, output = run(tmp_path, "--source", str(recording), "--fast", "--video", *models)
    assert code == 0, output
    s = summary(tmp_path)
    assert s["frames"]["captured"] == 60
    d = s["display"]
    assert not d["window"] and d["lossless"]
    assert d["video_frames"] == 60 and d["dropped_upstream"] == 0 and d["skipped_by_display"] == 0
    frames = list(opencv_frames(tmp_path / "overlay.mp4"))
    assert len(frames) == 60 == ffprobe_frames(tmp_path / "overlay.mp4")
    assert frames[0].shape == (440 + 40, 320 + 300, 3)
    records = results(tmp_path)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [r["frame"] for r in records]
    assert float(rows[5]["head_yaw_deg"]) == pytest.approx(records[5]["estimates"]["head"]["yaw_deg"], abs=1e-3)
    assert rows[5]["gaze_zone"] == records[5]["gaze"]["zone"]
    html = (tmp_path / "report.html").read_text()
    svgs = [html[i:html.index("</svg>", i) + 6] for i in range(len(html)) if html.startswith("<svg", i)]
    assert len(svgs) >= 3  # head pose, latency over time, latency distribution
    for svg in svgs:
        ET.fromstring(svg)  # each plot is well-formed SVG


def test_live_run_video_counts_every_frame_it_lost(tmp_path, models, recording):
    # live policy at 30 fps with a display that needs 80 ms a frame: it shows the newest frames,
    # skips the rest and counts them (the latency cost to the other stages is measured by
    # `python -m monitor.bench.display`, not asserted here)
    code, output = run(tmp_path, "--source", str(recording), "--realtime", "--policy", "live", "--video",
                       "--inject-delay", "display=80", *models)
    assert code == 0, output
    s = summary(tmp_path)
    d = s["display"]
    n = s["frames"]["captured"]
    assert n == 60 and not d["lossless"]
    assert 0 < d["video_frames"] < 45 and d["dropped_upstream"] + d["skipped_by_display"] > 15
    assert d["video_frames"] == n - d["dropped_upstream"] - d["skipped_by_display"]
    assert ffprobe_frames(tmp_path / "overlay.mp4") == d["video_frames"]
    assert len(list(opencv_frames(tmp_path / "overlay.mp4"))) == d["video_frames"]


def test_sigint_mid_run_leaves_every_output_complete(tmp_path, models):
    long_recording = write_recording(tmp_path / "long.dmsrec", 600, width=320, height=240)
    out = tmp_path / "run"
    proc = start_run(out, "--source", str(long_recording), "--realtime", "--record", "--video", *models)
    try:
        assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                        and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 30, 60)
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        output, _ = proc.communicate(timeout=15)
        stop_s = time.monotonic() - signalled
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    s = summary(out)
    records = results(out)
    assert s["exit_code"] == 130 and s["frames"]["processed"] == len(records) >= 30
    assert s["frames"]["captured"] < 600
    d = s["display"]
    assert 10 <= d["video_frames"] <= s["frames"]["captured"]  # the display may trail the sink by a few frames
    assert ffprobe_frames(out / "overlay.mp4") == d["video_frames"] == len(list(opencv_frames(out / "overlay.mp4")))
    with open(out / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(records)
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    for line in (out / "events.jsonl").read_text().splitlines():
        json.loads(line)
    assert len(list(RecordingReader(out / "recording.dmsrec"))) >= len(records)
    assert stop_s < 10  # reported; the 2 s stop budget itself is tested in test_core_pipeline

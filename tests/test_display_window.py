"""The real overlay window under Xvfb: the head-axis origin is drawn where the results say."""
import json

import numpy as np
import pytest

from display_helpers import frame_id_from_pixels, screenshot, start_window_run, start_xvfb, stop
from pipeline_helpers import results, wait_for
from tests.fixtures import framesets, write_recording
from tests.onnx_factory import body_model, head_model

ORIGIN_BGR = np.array([255, 0, 255])  # monitor/display/overlay.py ORIGIN_COLOUR


@pytest.fixture(scope="module")
def xdisplay():
    proc, display = start_xvfb()
    yield display
    stop(proc)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return ["--body-model", str(body_model(d / "body.onnx")), "--head-model", str(head_model(d / "head.onnx"))]


def magenta_centroid(image: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(np.all(image == ORIGIN_BGR, axis=2))
    if xs.size == 0:
        return None
    return float(xs.mean()), float(ys.mean())


def test_window_draws_the_head_origin_at_the_results_head_centre(tmp_path, xdisplay, models):
    rec = write_recording(tmp_path / "slow.dmsrec", 50, width=320, height=240, fps=10.0)
    out = tmp_path / "run"
    proc = start_window_run(out, xdisplay, "--source", str(rec), "--realtime", *models)
    shots = []
    try:
        assert wait_for(lambda: out.joinpath("results.jsonl").exists()
                        and len(out.joinpath("results.jsonl").read_text().splitlines()) >= 5, 60)
        while proc.poll() is None and len(shots) < 8:
            shot = screenshot(xdisplay, tmp_path / f"shot{len(shots)}.png")
            if proc.poll() is None:  # the window may already be gone at the end of the run
                shots.append(shot)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    summary = json.loads((out / "summary.json").read_text())
    display = summary["display"]
    assert display["window"] and display["frames_shown"] > 0
    x, y, w, h = display["window_rect"]
    assert (w, h) == (320 + 300, 440 + 40)  # image + panel (at least 440 high) + status line
    by_frame = {r["frame"]: r for r in results(out)}
    ir_rows = {fs.frame: fs.images["ir"][0] for fs in framesets(50, width=320, height=240, fps=10.0)}
    checked = 0
    for shot in shots:
        canvas = shot[y:y + h, x:x + w]
        frame = frame_id_from_pixels(canvas[0])
        if frame not in by_frame or not np.array_equal(canvas[0, :40, 0], ir_rows[frame][:40]):
            continue  # not a whole frame of the run (window gone, or the crop box covers the pixels)
        head = by_frame[frame]["estimates"]["head"]
        found = magenta_centroid(canvas[:240, :320])
        assert found is not None, f"no head origin drawn on frame {frame}"
        assert found == pytest.approx(tuple(head["center_px"]), abs=1.0), (frame, found, head["center_px"])
        checked += 1
    assert checked >= 3, f"only {checked} of {len(shots)} screenshots showed a known frame"

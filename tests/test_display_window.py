"""The real overlay window under Xvfb: the head-axis origin is drawn where the results say."""
import json
import signal
import time

import cv2
import numpy as np
import pytest

from display_helpers import frame_id_from_pixels, start_painted_window_run, xserver
from pipeline_helpers import results, wait_for
from tests.fixtures import framesets, write_recording

ORIGIN_BGR = np.array([255, 0, 255])  # monitor/display/overlay.py ORIGIN_COLOUR


@pytest.fixture(scope="module")
def xvfb():
    with xserver() as server:
        yield server


def magenta_centroid(image: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(np.all(image == ORIGIN_BGR, axis=2))
    if xs.size == 0:
        return None
    return float(xs.mean()), float(ys.mean())


def test_window_draws_the_head_origin_at_the_results_head_centre(tmp_path, xvfb, models):
    # 15 s at 10 fps: screenshots still to take after a window painted late (up to 15 s, see the helper)
    rec = write_recording(tmp_path / "slow.dmsrec", 150, width=320, height=240, fps=10.0)
    proc, out = start_painted_window_run(tmp_path / "run", xvfb, "--source", str(rec), "--realtime", *models)
    shots = []
    try:
        while proc.poll() is None and len(shots) < 12:
            shot = xvfb.screenshot(tmp_path / f"shot{len(shots)}.png")
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
    ir_images = {fs.frame: fs.images["ir"] for fs in framesets(150, width=320, height=240, fps=10.0)}
    checked = 0
    for shot in shots:
        canvas = shot[y:y + h, x:x + w]
        frame = frame_id_from_pixels(canvas[0])
        if frame not in by_frame or not whole_frame_shown(canvas[:240, :320], ir_images[frame]):
            continue  # not one whole frame of the run (window gone, or caught while being redrawn)
        head = by_frame[frame]["estimates"]["head"]
        found = magenta_centroid(canvas[:240, :320])
        if head is None:  # the (untrained) head model located no head on this frame: nothing drawn
            assert found is None, f"a head origin drawn on frame {frame}, which has no head"
            continue
        assert found is not None, f"no head origin drawn on frame {frame}"
        assert found == pytest.approx(tuple(head["center_px"]), abs=1.0), (frame, found, head["center_px"])
        checked += 1
    assert checked >= 3, f"only {checked} of {len(shots)} screenshots showed a whole frame of the run"


def whole_frame_shown(camera: np.ndarray, ir: np.ndarray) -> bool:
    """Most of the image is this frame's IR (the overlay covers the rest): not a screenshot taken
    while X was halfway through copying the next frame in."""
    grey = (camera[..., 0] == camera[..., 1]) & (camera[..., 1] == camera[..., 2])
    return float(np.mean(grey & (camera[..., 0] == ir))) >= 0.6  # measured ~0.8; half a frame copied in: ~0.4


def test_keys_snapshot_depth_pause_and_quit(tmp_path, xvfb, models):
    xkeys = pytest.importorskip("xkeys")
    try:
        keys = xkeys.XKeys(xvfb.display)
    except OSError as exc:
        pytest.skip(str(exc))
    rec = write_recording(tmp_path / "long.dmsrec", 300, width=320, height=240, fps=10.0)
    proc, out = start_painted_window_run(tmp_path / "run", xvfb, "--source", str(rec), "--realtime", *models)
    try:
        keys.move(100, 100)  # over the camera image: the window gets the keys
        time.sleep(0.3)
        # s: a snapshot of exactly what is on screen, named after its frame
        keys.press("s")
        assert wait_for(lambda: list(out.glob("snapshot_*.png")), 10), "no snapshot written"
        snap = next(out.glob("snapshot_*.png"))
        frame = int(snap.stem.split("_")[1])
        canvas = cv2.imread(str(snap))
        head = {r["frame"]: r for r in results(out)}[frame]["estimates"]["head"]
        assert magenta_centroid(canvas[:240, :320]) == pytest.approx(tuple(head["center_px"]), abs=1.0)
        # d: depth shown as colours (IR is grey: equal channels)
        spread = lambda img: float(np.mean(np.ptp(img[:240, :320].astype(int), axis=2)))  # noqa: E731
        assert spread(xvfb.screenshot(tmp_path / "ir.png")) < 10
        keys.press("d")
        # waits, not sleeps: on a loaded machine the display (at nice +5) may take a while to redraw
        assert wait_for(lambda: spread(xvfb.screenshot(tmp_path / "depth.png")) > 40, 15), "depth not shown"
        # space: the picture freezes while the run goes on
        keys.press("space")
        n_before = len(out.joinpath("results.jsonl").read_text().splitlines())
        shots = [xvfb.screenshot(tmp_path / "p0.png")[:240, :320]]

        def frozen() -> bool:
            time.sleep(0.5)
            shots.append(xvfb.screenshot(tmp_path / f"p{len(shots)}.png")[:240, :320])
            return np.array_equal(shots[-1], shots[-2])

        assert wait_for(frozen, 15), "the picture did not freeze"
        assert len(out.joinpath("results.jsonl").read_text().splitlines()) > n_before
        keys.press("space")
        # q: the run stops cleanly, as on Ctrl-C, long before the recording's end
        keys.press("q")
        output, _ = proc.communicate(timeout=20)
    except Exception as exc:
        proc.send_signal(signal.SIGINT)
        raise AssertionError(f"{exc!r}\nrun output:\n{proc.communicate(timeout=20)[0]}") from None
    finally:
        keys.close()
        proc.kill()
    assert proc.returncode == 130, output
    s = json.loads((out / "summary.json").read_text())
    assert s["exit_code"] == 130 and s["frames"]["captured"] < 300
    assert s["frames"]["processed"] == len(results(out))


def test_a_run_that_fails_is_reported_not_restarted(tmp_path, xvfb):
    """start_painted_window_run restarts only runs whose window Qt left black: a run that stops with
    an error fails at once with its output (here: a head model that does not exist)."""
    began = time.monotonic()
    with pytest.raises(AssertionError, match="wrote no results") as failure:
        start_painted_window_run(tmp_path / "run", xvfb, "--source", "synthetic",
                                 "--head-model", str(tmp_path / "missing.onnx"))
    assert "missing.onnx" in str(failure.value) and time.monotonic() - began < 30
    assert not (tmp_path / "run_try2").exists()

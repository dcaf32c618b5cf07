"""Intrinsics from rendered checkerboard views recover the focal length; bad inputs fail clearly."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib.intrinsics import board_points, calibrate_from_files, calibrate_from_images, realsense_intrinsics

W, H = 848, 480
K = np.array([[430.0, 0.0, 421.5], [0.0, 432.0, 243.0], [0.0, 0.0, 1.0]])
PATTERN = (9, 6)      # inner corners -> 10 x 7 squares
SQUARE = 30.0
ROOT = Path(__file__).resolve().parents[1]


def render_board(rvec: np.ndarray, tvec: np.ndarray, k: np.ndarray = K, size=(W, H)) -> np.ndarray:
    """Draw the checkerboard seen from (rvec, tvec): project each square and fill it
    (sub-pixel polygon vertices, anti-aliased), on a grey background with a white margin."""
    img = np.full((size[1], size[0]), 90, np.uint8)
    cols, rows = PATTERN[0] + 1, PATTERN[1] + 1
    shift = 4

    def poly(x0, y0, x1, y1):
        quad = np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], np.float64)
        uv, _ = cv2.projectPoints(quad, rvec, tvec, k, None)
        return np.round(uv.reshape(-1, 2) * (1 << shift)).astype(np.int32)

    # board squares span [-1, cols-1] x [-1, rows-1] squares around inner corner (0, 0)
    m = 0.8
    cv2.fillConvexPoly(img, poly(-(1 + m) * SQUARE, -(1 + m) * SQUARE, (cols - 1 + m) * SQUARE,
                                 (rows - 1 + m) * SQUARE), 235, cv2.LINE_AA, shift)
    for j in range(rows):
        for i in range(cols):
            if (i + j) % 2 == 0:
                cv2.fillConvexPoly(img, poly((i - 1) * SQUARE, (j - 1) * SQUARE, i * SQUARE, j * SQUARE),
                                   20, cv2.LINE_AA, shift)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


def views(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = np.array([(PATTERN[0] - 1) * SQUARE / 2, (PATTERN[1] - 1) * SQUARE / 2, 0.0])
    out = []
    while len(out) < n:
        ang = np.radians(rng.uniform([-35, -35, -20], [35, 35, 20]))
        r, _ = cv2.Rodrigues(ang)
        t = np.array([rng.uniform(-120, 120), rng.uniform(-60, 60), rng.uniform(550, 800)]) - r @ centre
        uv, _ = cv2.projectPoints(board_points(PATTERN, SQUARE).astype(np.float64), ang, t, K, None)
        uv = uv.reshape(-1, 2)
        if uv.min() < 40 or uv[:, 0].max() > W - 40 or uv[:, 1].max() > H - 40:
            continue  # keep the whole board (and its margin) in view
        out.append(render_board(ang, t))
    return out


@pytest.fixture(scope="module")
def twelve_views():
    return views(12)


def test_recovers_focal_length(twelve_views):
    res = calibrate_from_images(twelve_views, PATTERN, SQUARE)
    i = res.intrinsics
    err_fx, err_fy = abs(i.fx / K[0, 0] - 1), abs(i.fy / K[1, 1] - 1)
    print(f"\nfx {i.fx:.2f} (true {K[0, 0]}), fy {i.fy:.2f} (true {K[1, 1]}): errors {100 * err_fx:.3f}% "
          f"{100 * err_fy:.3f}%; cx {i.cx:.2f} cy {i.cy:.2f}; RMS {res.rms_px:.3f} px")
    assert err_fx < 0.005 and err_fy < 0.005
    assert abs(i.cx - K[0, 2]) < 3 and abs(i.cy - K[1, 2]) < 3
    assert res.rms_px < 0.5 and len(res.used) == 12 and (i.width, i.height) == (W, H)
    assert "fx=" in res.report()


def test_too_few_views(twelve_views):
    with pytest.raises(ValueError, match="at least 3"):
        calibrate_from_images(twelve_views[:2], PATTERN, SQUARE)


def test_no_corners_found(twelve_views):
    blank = [np.full((H, W), 128, np.uint8)] * 3
    with pytest.raises(ValueError, match="found in only 0 of 3"):
        calibrate_from_images(blank, PATTERN, SQUARE)
    # a board with the wrong pattern size is not found either: the message points at --pattern
    with pytest.raises(ValueError, match="--pattern"):
        calibrate_from_images(twelve_views[:4], (7, 5), SQUARE)


def test_blank_views_are_reported_not_fatal(twelve_views):
    res = calibrate_from_images(twelve_views[:5] + [np.zeros((H, W), np.uint8)], PATTERN, SQUARE)
    assert res.rejected == ["image 5"] and len(res.used) == 5


def test_inconsistent_image_sizes(twelve_views):
    with pytest.raises(ValueError, match="differs from the first"):
        calibrate_from_images(twelve_views[:3] + [np.zeros((240, 424), np.uint8)], PATTERN, SQUARE)


def test_bad_arguments(twelve_views):
    with pytest.raises(ValueError, match="square size"):
        calibrate_from_images(twelve_views, PATTERN, 0.0)
    with pytest.raises(ValueError, match="no image files"):
        calibrate_from_files("/nonexistent/*.png", PATTERN, SQUARE)


def test_cli_from_files(tmp_path, twelve_views):
    for i, im in enumerate(twelve_views[:8]):
        cv2.imwrite(str(tmp_path / f"view{i:02d}.png"), im)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "cam.json"
    cmd = [sys.executable, "-m", "calib", "intrinsics", "--images", str(tmp_path / "view*.png"),
           "--pattern", "9x6", "--square-mm", "30", "--out", str(out)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "[8/8]" in p.stderr and "reprojection RMS" in p.stdout and out.is_file()
    bad = subprocess.run(cmd[:5] + [str(tmp_path / "*.png")] + cmd[6:], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "cannot be read as an image" in bad.stderr


def test_realsense_recording_missing():
    with pytest.raises(ValueError, match="recording not found"):
        realsense_intrinsics("/nonexistent/file.bag")


def _record_software_camera(path: Path) -> None:
    """A real RealSense recording (librealsense recorder over a software device) whose IR stream
    carries known intrinsics."""
    import time
    rs = pytest.importorskip("pyrealsense2")
    dev = rs.software_device()
    sensor = dev.add_sensor("Stereo Module")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.ppx, intr.ppy, intr.fx, intr.fy = 848, 480, 421.5, 243.25, 430.5, 431.0
    intr.model = rs.distortion.brown_conrady
    intr.coeffs = [0.01, -0.02, 0.0, 0.0, 0.0]
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid = rs.stream.infrared, 1, 1
    vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = 848, 480, 30, 1, rs.format.y8
    vs.intrinsics = intr
    prof = sensor.add_video_stream(vs)
    rec = rs.recorder(str(path), dev)
    sensor.open(prof)
    sensor.start(rs.frame_queue(10))
    img = np.zeros((480, 848), np.uint8)
    for i in range(3):
        f = rs.software_video_frame()
        f.pixels, f.bpp, f.stride, f.timestamp = img, 1, 848, i * 33.3
        f.domain, f.frame_number, f.profile = rs.timestamp_domain.hardware_clock, i, prof.as_video_stream_profile()
        sensor.on_video_frame(f)
        time.sleep(0.02)
    sensor.stop()
    sensor.close()
    del rec


def test_realsense_factory_intrinsics_from_a_recording(tmp_path):
    path = tmp_path / "cam.db3"
    _record_software_camera(path)
    intr = realsense_intrinsics(path)
    assert (intr.width, intr.height) == (848, 480)
    assert intr.fx == pytest.approx(430.5) and intr.fy == pytest.approx(431.0)
    assert intr.cx == pytest.approx(421.5) and intr.cy == pytest.approx(243.25)
    assert intr.coeffs[0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match=r"no depth stream .*\(it has: Infrared 1\)"):
        realsense_intrinsics(path, stream="depth")


def test_a_recording_is_read_without_playing_it(tmp_path, monkeypatch):
    """Starting and stopping an rs.pipeline on a recording made the process segfault inside
    librealsense now and then when the stream was missing: recordings are read from their stream
    profiles, and no pipeline is ever made for them."""
    rs = pytest.importorskip("pyrealsense2")
    path = tmp_path / "cam.db3"
    _record_software_camera(path)

    def no_pipeline(*args, **kwargs):
        raise AssertionError("a recording was played through rs.pipeline")

    monkeypatch.setattr(rs, "pipeline", no_pipeline)
    assert realsense_intrinsics(path).fx == pytest.approx(430.5)
    with pytest.raises(ValueError, match="no color stream"):
        realsense_intrinsics(path, stream="color")


def test_cli_out_that_cannot_be_written_is_a_one_line_error(tmp_path):
    """--out under a regular file was a NotADirectoryError traceback: now exit 2, one line, and
    nothing written."""
    rec = tmp_path / "cam.db3"
    _record_software_camera(rec)
    (tmp_path / "FILE").write_text("keep")
    before = sorted(p.name for p in tmp_path.iterdir())
    p = subprocess.run([sys.executable, "-m", "calib", "intrinsics", "--bag", str(rec),
                        "--out", str(tmp_path / "FILE" / "cam.json")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.splitlines()[-1].startswith(f"error: {tmp_path / 'FILE' / 'cam.json'}: cannot write")
    assert p.stderr.rstrip().endswith("choose another --out") and p.stderr.count("error:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "FILE").read_text() == "keep"

"""Camera pose from measured 3D points (PnP): known pose recovered; residuals; clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.layout import CameraPose, load_layout, look_at_rotation
from calib.pnp import load_points, solve_camera_pose
from calib.transforms import rotation_angle_deg
from monitor.frames import Intrinsics

ROOT = Path(__file__).resolve().parents[1]
INTR = Intrinsics(848, 480, 430.0, 430.0, 424.0, 240.0)


def true_pose() -> CameraPose:
    pos = np.array([60.0, -390.0, 580.0])
    return CameraPose(look_at_rotation(pos, np.array([40.0, -640.0, -120.0]), roll_deg=3.0), pos)


def _cabin_points() -> np.ndarray:
    """Ten points one could measure in the cabin behind the driver (seat, pillars, headliner,
    belt anchors), spread over the image and 0.5-1.6 m from the camera."""
    uv = np.array([[80, 60], [420, 40], [780, 70], [60, 420], [800, 440], [300, 250], [560, 300],
                   [200, 150], [650, 180], [430, 460]], dtype=float)
    depth = np.array([900, 1400, 1000, 700, 1100, 1600, 1200, 500, 800, 650], dtype=float)
    cam = np.stack([(uv[:, 0] - INTR.cx) * depth / INTR.fx, (uv[:, 1] - INTR.cy) * depth / INTR.fy, depth], 1)
    return np.round(true_pose().to_car(cam), 1)


POINTS = _cabin_points()


def pixels(pose: CameraPose, pts=POINTS) -> np.ndarray:
    cam = pose.to_camera(pts)
    return np.stack([INTR.fx * cam[:, 0] / cam[:, 2] + INTR.cx, INTR.fy * cam[:, 1] / cam[:, 2] + INTR.cy], 1)


def test_recovers_known_pose_noise_free():
    pose = true_pose()
    px = pixels(pose)
    assert np.all((px > 0) & (px < [848, 480])), "test points must be in view"
    res = solve_camera_pose(POINTS, px, INTR)
    dpos = np.linalg.norm(res.pose.position_mm - pose.position_mm)
    drot = rotation_angle_deg(res.pose.rotation.T @ pose.rotation)
    print(f"\nnoise-free PnP: position error {dpos:.2e} mm, rotation error {drot:.2e} deg")
    assert dpos < 1.0 and drot < 0.1 and res.rms_px < 1e-3


def test_noisy_pixels_give_sensible_residuals():
    rng = np.random.default_rng(3)
    pose = true_pose()
    px = pixels(pose) + rng.normal(0, 1.0, (len(POINTS), 2))
    res = solve_camera_pose(POINTS, px, INTR)
    dpos = np.linalg.norm(res.pose.position_mm - pose.position_mm)
    drot = rotation_angle_deg(res.pose.rotation.T @ pose.rotation)
    print(f"\n1 px noise: RMS {res.rms_px:.2f} px, ray RMS {np.sqrt(np.mean(np.square(res.per_point_mm))):.2f} mm; "
          f"pose error {dpos:.1f} mm / {drot:.2f} deg")
    assert 0.7 < res.rms_px < 2.0          # ~ sqrt(2) x the per-axis noise, a little less (6 dof fitted)
    assert max(res.per_point_mm) < 10.0 and dpos < 30.0 and drot < 1.5
    # one mis-measured point stands out in the per-point report
    bad = px.copy()
    bad[4] += [25.0, -15.0]
    res_bad = solve_camera_pose(POINTS, bad, INTR)
    assert int(np.argmax(res_bad.per_point_px)) == 4 and res_bad.rms_px > 3 * res.rms_px


def test_bad_inputs():
    px = pixels(true_pose())
    with pytest.raises(ValueError, match="at least 4"):
        solve_camera_pose(POINTS[:3], px[:3], INTR)
    with pytest.raises(ValueError, match="every point needs its pixel"):
        solve_camera_pose(POINTS, px[:-1], INTR)
    with pytest.raises(ValueError, match="collinear"):
        line = np.array([[0, 0, 100.0 * i] for i in range(5)])
        solve_camera_pose(line, px[:5], INTR)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        solve_camera_pose(POINTS[:, :2], px, INTR)


def test_points_file_errors(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"points": [{"name": "a", "car_mm": [1, 2], "pixel": [3, 4]}]}))
    with pytest.raises(ValueError, match=r"points\[0\]: car_mm needs 3"):
        load_points(f)
    f.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_points(f)
    with pytest.raises(ValueError, match="not found"):
        load_points(tmp_path / "missing.json")


def test_cli_writes_pose_into_layout(tmp_path):
    pose = true_pose()
    pts = {"points": [{"name": f"p{i}", "car_mm": p.tolist(), "pixel": q.tolist()}
                      for i, (p, q) in enumerate(zip(POINTS, pixels(pose)))]}
    (tmp_path / "points.json").write_text(json.dumps(pts))
    (tmp_path / "cam.json").write_text(json.dumps({"intrinsics": INTR.to_dict()}))
    out = tmp_path / "layout.json"
    p = subprocess.run([sys.executable, "-m", "calib", "pnp", str(tmp_path / "points.json"), "--intrinsics",
                        str(tmp_path / "cam.json"), "--layout", str(ROOT / "calib/layouts/real_car_template.json"),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lay = load_layout(out)
    assert "_how_to" in json.loads(out.read_text())  # the template's comments survive
    assert np.linalg.norm(lay.camera_pose.position_mm - pose.position_mm) < 1.0
    assert rotation_angle_deg(lay.camera_pose.rotation.T @ pose.rotation) < 0.1
    assert lay.intrinsics == INTR  # the template's placeholder intrinsics give way to the ones solved with
    assert "outside" not in p.stderr
    # a pixel off the image (a typo, another resolution) is solved with, and warned about
    pts["points"][0]["pixel"] = [pts["points"][0]["pixel"][0], INTR.height + 275.0]
    (tmp_path / "points.json").write_text(json.dumps(pts))
    p = subprocess.run([sys.executable, "-m", "calib", "pnp", str(tmp_path / "points.json"), "--intrinsics",
                        str(tmp_path / "cam.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"warning: points ['p0'] lie outside the {INTR.width}x{INTR.height} image" in p.stderr


@pytest.mark.parametrize("with_layout", [False, True])
def test_cli_out_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys, with_layout):
    """--out under a regular file (NotADirectoryError) or onto a folder: exit 2 with one line
    naming the path, and no file left behind (before: a traceback)."""
    from calib.__main__ import main
    pts = {"points": [{"name": f"p{i}", "car_mm": p.tolist(), "pixel": q.tolist()}
                      for i, (p, q) in enumerate(zip(POINTS, pixels(true_pose())))]}
    (tmp_path / "points.json").write_text(json.dumps(pts))
    (tmp_path / "cam.json").write_text(json.dumps({"intrinsics": INTR.to_dict()}))
    (tmp_path / "FILE").write_text("keep")
    (tmp_path / "folder").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    args = ["pnp", str(tmp_path / "points.json"), "--intrinsics", str(tmp_path / "cam.json")]
    if with_layout:
        args += ["--layout", str(ROOT / "calib/layouts/real_car_template.json")]
    for out in (tmp_path / "FILE" / "new.json", tmp_path / "folder"):
        assert main([*args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[-1].startswith(f"error: {out}") and err[-1].endswith("; choose another --out"), err
        assert sorted(p.name for p in tmp_path.iterdir()) == before and not any((tmp_path / "folder").iterdir())
    assert (tmp_path / "FILE").read_text() == "keep"

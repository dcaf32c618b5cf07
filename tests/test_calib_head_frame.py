"""AutoPOSE head coordinate system from eight facial landmarks (sec. 3.1)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.head_frame import LANDMARKS, head_frame, head_to_target
from calib.transforms import make_transform, rotation_angle_deg, rotation_from_vector
from monitor.geometry import euler_to_matrix, matrix_to_euler

ROOT = Path(__file__).resolve().parents[1]
# a face in its own head frame (x to the subject's left, y down, face towards -z); the nose and
# mouth corners average onto the y axis so this frame is exactly the AutoPOSE one
FACE = np.array([[-45, 0, 6], [-15, 0, -6], [15, 0, -6], [45, 0, 6],        # eye corners R-out, R-in, L-in, L-out
                 [-16, 42, -30], [16, 42, -30], [-25, 72, 30], [25, 72, 30]], dtype=float)


def test_identity_when_facing_the_camera():
    hf = head_frame(FACE + [10.0, -20.0, 650.0])
    assert np.allclose(hf.rotation, np.eye(3), atol=1e-12)
    assert np.allclose(hf.origin_mm, [10.0, -20.0, 650.0])


@pytest.mark.parametrize("ypr", [(30, 0, 0), (-20, 15, 5), (10, -25, -12), (60, 10, 20)])
def test_recovers_a_known_pose_with_the_geometry_conventions(ypr):
    r = euler_to_matrix(*ypr)
    t = np.array([-30.0, 40.0, 700.0])
    hf = head_frame(FACE @ r.T + t)
    assert np.allclose(hf.rotation, r, atol=1e-9) and np.allclose(hf.origin_mm, t)
    assert np.allclose(matrix_to_euler(hf.rotation), ypr, atol=1e-6)


def test_positive_yaw_turns_the_face_to_image_left():
    hf = head_frame(FACE @ euler_to_matrix(30, 0, 0).T + [0, 0, 700])
    face_dir = -hf.rotation[:, 2]
    assert face_dir[0] < 0 and face_dir[2] < 0  # towards the camera and to image left


def test_equivariant_for_any_face():
    rng = np.random.default_rng(0)
    face = FACE + rng.normal(0, 4, FACE.shape)  # a real, asymmetric face
    f0 = head_frame(face)
    t = make_transform(rotation_from_vector(np.radians([20, -35, 10])), [5, 60, 800])
    f1 = head_frame(face @ t[:3, :3].T + t[:3, 3])
    assert np.allclose(f1.transform, t @ f0.transform, atol=1e-9)
    assert np.allclose(f0.rotation.T @ f0.rotation, np.eye(3), atol=1e-12) and np.linalg.det(f0.rotation) > 0


def test_dict_input_and_errors():
    d = {n: p.tolist() for n, p in zip(LANDMARKS, FACE)}
    assert np.allclose(head_frame(d).rotation, np.eye(3))
    del d["mouth_left"]
    with pytest.raises(ValueError, match="missing landmarks"):
        head_frame(d)
    with pytest.raises(ValueError, match="8 finite"):
        head_frame(FACE[:7])
    with pytest.raises(ValueError, match="eye corners coincide"):
        head_frame(np.zeros((8, 3)))


def test_head_to_target_average():
    """AutoPOSE sec. 4.3: fixed head -> head-target transform from a calibration sequence."""
    rng = np.random.default_rng(1)
    h2t = make_transform(rotation_from_vector(np.radians([5, 170, 3])), [0, -40, 120])
    frames, targets = [], []
    for _ in range(50):
        tgt = make_transform(rotation_from_vector(np.radians(rng.uniform(-30, 30, 3))), rng.uniform(-100, 100, 3))
        head = tgt @ h2t
        frames.append(head_frame(FACE @ head[:3, :3].T + head[:3, 3] + rng.normal(0, 0.3, FACE.shape)))
        targets.append(tgt)
    est, rms_mm, rms_deg = head_to_target(frames, targets)
    assert np.linalg.norm(est[:3, 3] - h2t[:3, 3]) < 0.5 and rms_mm < 1.0 and rms_deg < 1.0


def test_cli(tmp_path):
    f = tmp_path / "lm.json"
    f.write_text(json.dumps({"landmarks": {n: p.tolist() for n, p in zip(LANDMARKS, FACE @ euler_to_matrix(20, 5, 0).T)}}))
    p = subprocess.run([sys.executable, "-m", "calib", "head-frame", str(f)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "yaw 20.00 pitch 5.00 roll 0.00" in p.stdout


def test_a_synthetic_labels_landmarks_give_its_head_rotation(tmp_path):
    """docs/labels.md names the landmarks eye_left_outer ..., the tool left_eye_outer ...: a label's
    head.landmarks_mm was refused as 'missing landmarks'; now it recovers the label's head rotation."""
    from monitor.sources.synthetic import open_synthetic
    truth = list(open_synthetic(seed="0", scenario="sweeps", frames="81"))[80].truth  # head turned ~80 deg
    head = truth["head"]
    assert set(head["landmarks_mm"]) >= {"eye_left_outer", "eye_right_inner"}  # the labels' own names
    hf = head_frame(head["landmarks_mm"])
    assert rotation_angle_deg(hf.rotation.T @ np.array(head["rotation"])) < 0.2
    assert np.allclose(hf.origin_mm, head["position_mm"], atol=0.01)
    (tmp_path / "label.json").write_text(json.dumps(truth))
    (tmp_path / "lm.json").write_text(json.dumps({"landmarks": head["landmarks_mm"]}))
    (tmp_path / "line.json").write_text(json.dumps({"frame": 80, "labels": truth}))  # a .labels.jsonl line
    for f in ("label.json", "lm.json", "line.json"):
        p = subprocess.run([sys.executable, "-m", "calib", "head-frame", str(tmp_path / f)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert f"yaw {head['yaw_deg']:.2f} pitch {head['pitch_deg']:.2f} roll {head['roll_deg']:.2f}" in p.stdout
    both = dict(head["landmarks_mm"], left_eye_outer=head["landmarks_mm"]["eye_left_outer"])
    with pytest.raises(ValueError, match="given twice"):
        head_frame(both)

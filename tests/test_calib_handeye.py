"""Hand-eye calibration (Tsai-Lenz): a known camera -> rig transform is recovered; residuals."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.handeye import hand_eye, load_views
from calib.transforms import (invert, make_transform, rotation_angle_deg, rotation_from_vector,
                              transform_to_json)

ROOT = Path(__file__).resolve().parents[1]
X_TRUE = make_transform(rotation_from_vector(np.radians([10.0, -25.0, 40.0])), [35.0, -20.0, 60.0])
TARGET_IN_WORLD = make_transform(rotation_from_vector(np.radians([180.0, 0.0, 0.0])), [100.0, 50.0, 1500.0])


def views(n=12, seed=0, rot_noise_deg=0.0, trans_noise_mm=0.0):
    """Rig poses looking roughly at the target; target->camera follows from X and the target."""
    rng = np.random.default_rng(seed)
    rigs, tgts = [], []
    for _ in range(n):
        rig = make_transform(rotation_from_vector(np.radians(rng.uniform(-30, 30, 3))), rng.uniform(-200, 200, 3))
        tgt = invert(rig @ X_TRUE) @ TARGET_IN_WORLD
        if rot_noise_deg or trans_noise_mm:
            noise = make_transform(rotation_from_vector(np.radians(rng.normal(0, rot_noise_deg, 3))),
                                   rng.normal(0, trans_noise_mm, 3))
            tgt = noise @ tgt
        rigs.append(rig)
        tgts.append(tgt)
    return rigs, tgts


def errors(x):
    return np.linalg.norm(x[:3, 3] - X_TRUE[:3, 3]), rotation_angle_deg(x[:3, :3].T @ X_TRUE[:3, :3])


def test_recovers_known_transform_noise_free():
    res = hand_eye(*views())
    dt, dr = errors(res.camera_to_rig)
    print(f"\nnoise-free hand-eye: {dt:.2e} mm, {dr:.2e} deg; residual RMS {res.rms_mm:.2e} mm")
    assert dt < 1.0 and dr < 0.1 and res.rms_mm < 0.01 and res.rms_deg < 0.01
    assert np.allclose(res.target_in_world, TARGET_IN_WORLD, atol=1e-3)


def test_noisy_views_report_residuals():
    res = hand_eye(*views(n=30, seed=1, rot_noise_deg=0.2, trans_noise_mm=1.0))
    dt, dr = errors(res.camera_to_rig)
    print(f"\nnoisy hand-eye (0.2 deg, 1 mm per view): {dt:.2f} mm, {dr:.3f} deg off; "
          f"residual RMS {res.rms_mm:.2f} mm / {res.rms_deg:.3f} deg")
    assert 0.5 < res.rms_mm < 20 and 0.05 < res.rms_deg < 1.0
    assert dt < 10 and dr < 0.5
    assert "residual" in res.report()


def test_bad_inputs():
    rigs, tgts = views()
    with pytest.raises(ValueError, match="at least 3"):
        hand_eye(rigs[:2], tgts[:2])
    with pytest.raises(ValueError, match="one of each"):
        hand_eye(rigs, tgts[:-1])
    same_axis = [make_transform(rotation_from_vector(np.radians([0, 0, a])), [a, 0, 0]) for a in (0, 10, 20, 30)]
    with pytest.raises(ValueError, match="two different axes"):
        hand_eye(same_axis, tgts[:4])


def test_views_file_and_cli(tmp_path):
    rigs, tgts = views(n=8)
    f = tmp_path / "views.json"
    f.write_text(json.dumps({"views": [{"rig_to_world": transform_to_json(a), "target_to_camera": transform_to_json(b)}
                                       for a, b in zip(rigs, tgts)]}))
    p = subprocess.run([sys.executable, "-m", "calib", "handeye", str(f), "--out", str(tmp_path / "x.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    x = json.loads((tmp_path / "x.json").read_text())["camera_to_rig"]
    assert np.allclose(x["translation_mm"], X_TRUE[:3, 3], atol=0.01)
    data = json.loads(f.read_text())
    data["views"][3]["rig_to_world"]["rotation"][0][0] = 5.0
    f.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"views\[3\]\.rig_to_world\.rotation: not a rotation"):
        load_views(f)
    del data["views"][2]["target_to_camera"]
    f.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"views\[2\]\.target_to_camera: needs"):
        load_views(f)


def test_cli_out_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys):
    from calib.__main__ import main
    rigs, tgts = views(n=8)
    f = tmp_path / "views.json"
    f.write_text(json.dumps({"views": [{"rig_to_world": transform_to_json(a), "target_to_camera": transform_to_json(b)}
                                       for a, b in zip(rigs, tgts)]}))
    (tmp_path / "FILE").write_text("keep")
    assert main(["handeye", str(f), "--out", str(tmp_path / "FILE" / "x.json")]) == 2  # was NotADirectoryError
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [f"error: {tmp_path / 'FILE' / 'x.json'}: cannot write (Not a directory); choose another --out"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "views.json"]

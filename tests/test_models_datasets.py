"""Public-dataset loaders on small fixtures written in each dataset's published layout."""
import numpy as np
import pytest
from scipy.io import savemat

from monitor.geometry import euler_to_matrix, project
from train.datasets.biwi import load_biwi, read_depth_bin, write_depth_bin
from train.datasets.watchnpatch import SPLITS, load_watchnpatch


def test_biwi_depth_bin_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    depth = rng.integers(400, 2000, (48, 64)).astype(np.uint16)
    depth[rng.uniform(size=depth.shape) < 0.3] = 0
    depth[:3] = 0
    write_depth_bin(tmp_path / "d.bin", depth)
    assert np.array_equal(read_depth_bin(tmp_path / "d.bin"), depth)


def _write_biwi(root, n=3):
    seq = root / "01"
    seq.mkdir(parents=True)
    (seq / "depth.cal").write_text("575.8 0 320\n0 575.8 240\n0 0 1\n\n0 0 0 0\n\n1 0 0\n0 1 0\n0 0 1\n\n0 0 0\n\n640 480\n")
    truth = []
    for i in range(n):
        ypr = (10.0 * i, -5.0, 3.0)
        r = euler_to_matrix(*ypr)
        c = np.array([20.0 * i, -30.0, 900.0 + 10 * i])
        (seq / f"frame_{i:05d}_pose.txt").write_text(
            "\n".join(" ".join(f"{v:.6f}" for v in row) for row in r) + "\n\n" + " ".join(f"{v:.3f}" for v in c) + "\n")
        d = np.zeros((480, 640), np.uint16)
        d[200:280, 280:360] = 900
        write_depth_bin(seq / f"frame_{i:05d}_depth.bin", d)
        truth.append((ypr, c))
    return truth


def test_biwi_loader(tmp_path):
    truth = _write_biwi(tmp_path / "hpdb")
    recs = list(load_biwi(tmp_path / "hpdb"))
    assert len(recs) == 3
    for rec, (ypr, c) in zip(recs, truth):
        assert rec.depth.shape == (480, 640) and rec.depth[240, 320] == 900
        assert np.allclose(rec.head_ypr, ypr, atol=1e-3)
        assert rec.head_distance_mm == pytest.approx(c[2])
        assert np.allclose(rec.head_center_px, project(c, 575.8, 575.8, 320, 240), atol=1e-6)
        assert rec.intrinsics.fx == pytest.approx(575.8)
    with pytest.raises(ValueError, match="hpdb"):
        list(load_biwi(tmp_path / "hpdb" / "01"))


def _write_wnp(root, seq_name="data_02-28-33", n=2):
    seq = root / "kitchen" / seq_name
    (seq / "depth").mkdir(parents=True)
    bodies = np.empty((1, n), dtype=object)
    for i in range(n):
        savemat(seq / "depth" / f"{i + 1:04d}.mat", {"depth": np.full((424, 512), 1500 + i, np.uint16)})
        joints = np.empty((1, 25), dtype=object)
        for j in range(25):
            joints[0, j] = {"trackingState": 2 if j != 7 else 1, "depth": np.array([100.0 + j, 50.0 + i]),
                            "camera": np.array([0.1, 0.2, 1.5]), "color": np.array([0.0, 0.0])}
        untracked = {"isBodyTracked": 0, "joints": joints}
        tracked = {"isBodyTracked": 1, "joints": joints}
        slots = np.empty((1, 2), dtype=object)
        slots[0, 0], slots[0, 1] = untracked, tracked
        bodies[0, i] = slots
    savemat(seq / "body.mat", {"body": bodies})


def test_watchnpatch_loader(tmp_path):
    _write_wnp(tmp_path)
    _write_wnp(tmp_path, "data_02-10-35", 1)
    recs = list(load_watchnpatch(tmp_path, split="train"))
    assert len(recs) == 2
    r = recs[1]
    assert r.depth.shape == (424, 512) and r.depth[0, 0] == 1501
    assert r.joints_uv.shape == (21, 2) and r.joints_uv[3].tolist() == [103.0, 51.0]
    assert r.joints_vis.sum() == 20 and not r.joints_vis[7]  # HandLeft only inferred
    assert len(list(load_watchnpatch(tmp_path, split="test"))) == 1
    assert len(SPLITS["train"]) == 20 and len(SPLITS["test"]) + len(SPLITS["val"]) == 20
    with pytest.raises(ValueError, match="split"):
        list(load_watchnpatch(tmp_path, split="nope"))

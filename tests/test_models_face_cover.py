"""Face-cover detector: its label on synthetic frames, metrics, training and contract, and how the
estimator runs it on the head crop (HeadPose.covered_p)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from exporters.export import export_model
from monitor.estimates import Estimates, HeadPose
from monitor.estimator.contract import CONTRACT_KEY, ModelContract
from monitor.estimator.pipeline import CoverSpec, PoseEstimator
from monitor.estimator.session import ModelLoadError, OnnxModel
from train.face_cover import cover_contract, cover_metrics, paste_hands, predict, roc_auc, train_cover
from train.face_cover_data import COVER_RADIUS_MM, hand_covers_face, render_cover_set

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(2)
NAMES = ["HandLeft", "HandTipLeft", "ThumbLeft", "HandRight", "HandTipRight", "ThumbRight", "Head"]


def _labels(hand_uv, hand_z, head_z=700.0, fx=450.0):
    """Truth labels with the head centre at pixel (400, 200) and every hand point at ``hand_uv``/``hand_z``."""
    n = len(NAMES)
    uv = [list(hand_uv)] * (n - 1) + [[400.0, 150.0]]
    xyz = [[0.0, 0.0, hand_z]] * (n - 1) + [[0.0, -80.0, head_z]]
    return {"head": {"center_px": [400.0, 200.0], "position_mm": [0.0, 0.0, head_z]},
            "joints": {"names": NAMES, "uv": uv, "xyz_mm": xyz},
            "camera": {"intrinsics": {"fx": fx}}}


def test_a_hand_covers_the_face_when_it_is_over_it_and_in_front():
    r_px = COVER_RADIUS_MM * 450.0 / 700.0
    assert hand_covers_face(_labels((400.0 + 0.8 * r_px, 200.0), 650.0))
    assert not hand_covers_face(_labels((400.0 + 1.2 * r_px, 200.0), 650.0))  # beside the face
    assert not hand_covers_face(_labels((400.0, 200.0), 760.0))  # behind the head (a phone at the far ear)
    nulls = _labels((400.0, 200.0), 650.0)
    nulls["joints"]["uv"] = [[None, None]] * len(NAMES)  # unknown joints count as not covering
    assert not hand_covers_face(nulls)


def test_rendered_set_labels_the_hand_on_the_cheek():
    """Synthetic scenes: a hand on the face is found in the crops of frames inside hand actions, and the
    crops are the depth head crop's values."""
    data = render_cover_set(3, 4, 8000, 1, mounts=("dashboard",), log=lambda *a, **k: None)
    assert data["x"].shape[1:] == (64, 64) and data["x"].dtype == np.float16
    assert float(np.abs(data["x"]).max()) <= 1.0
    assert len(data["covered"]) == len(data["x"]) == len(data["seed"]) == len(data["mount"])
    assert data["covered"].any() and not data["covered"].all()
    assert set(data["mount"].tolist()) == {0}


def test_roc_auc_and_metrics():
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([True, True, False, False])) == 1.0
    assert roc_auc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5  # ties count half
    assert np.isnan(roc_auc(np.array([0.5]), np.array([True])))
    m = cover_metrics(np.array([0.9, 0.4, 0.6, 0.1]), np.array([True, True, False, False]))
    assert (m.crops, m.accuracy, m.recall, m.false_alarm, m.roc_auc) == (4, 0.5, 0.5, 0.5, 0.75)


@pytest.fixture(scope="module")
def cover_onnx(tmp_path_factory):
    """A briefly trained detector: head-relative depth crops (a face 0..0.3) with a near blob (-0.6,
    "the hand") on every other crop."""
    rng = np.random.default_rng(0)
    n = 256
    yy, xx = np.mgrid[:64, :64]
    x = np.ones((n, 64, 64), np.float32)
    face = (xx - 32) ** 2 + (yy - 32) ** 2 < 20 ** 2
    covered = np.arange(n) % 2 == 0
    for i in range(n):
        x[i][face] = rng.uniform(0.0, 0.3)
        if covered[i]:
            cx, cy = rng.uniform(20, 44, 2)
            x[i][(xx - cx) ** 2 / 100 + (yy - cy) ** 2 / 36 < 1] = -0.6
    net, info = train_cover(x.astype(np.float16), covered, lr=3e-3, batch=32, max_steps=150)
    assert info["steps"] == 150 and 0.4 < info["covered_fraction"] < 0.6
    path = tmp_path_factory.mktemp("cover") / "face_cover_depth.onnx"
    export_model(net, path, cover_contract(True, "test blobs"), fp16=False)
    return path, x, covered, predict(net, x)


def test_trained_detector_finds_the_blob_and_carries_its_contract(cover_onnx):
    path, x, covered, torch_p = cover_onnx
    m = OnnxModel(path, ["cpu"])
    spec = CoverSpec.from_contract(m.contract)
    assert (spec.modality, spec.size, spec.extent_mm, spec.output) == ("depth", 64, 320.0, "covered")
    assert spec.normalisation == {"kind": "depth_head_relative", "range_mm": 160.0}  # the depth head model's crop
    p = m.run(x[:, None])[spec.output][:, 0]
    assert np.allclose(p, torch_p, atol=1e-5)
    metrics = cover_metrics(p, covered)
    assert metrics.accuracy > 0.9 and metrics.roc_auc > 0.95


def test_cover_contract_mismatches_are_refused(cover_onnx):
    raw = json.loads(OnnxModel(cover_onnx[0], ["cpu"]).contract.to_metadata()[CONTRACT_KEY])
    for change, match in (({"task": "head_pose"}, "expected 'face_cover'"),
                          ({"input": {**raw["input"], "width": 32}}, "must be square")):
        with pytest.raises(ValueError, match=match):
            CoverSpec.from_contract(ModelContract.from_metadata({CONTRACT_KEY: json.dumps({**raw, **change})}))


def test_estimator_runs_the_cover_model_on_the_head_crop(cover_onnx):
    """The shipped body and head models with a face-cover model: every found head carries a probability,
    the wire keeps it, its inference is timed; without the model the head carries none."""
    from monitor.sources.synthetic import open_synthetic
    source = open_synthetic(seed=3, scenario="activities", mount="dashboard")
    frames = [source.scene.frameset(i) for i in (0, 60)]
    est = PoseEstimator.load("", "", ["cpu"], cover_path=cover_onnx[0])
    assert [d["task"] for d in est.describe()] == ["body_joints", "head_pose", "face_cover"]
    assert est.describe()[2]["flip_test"] is False
    for fs in frames:
        out = est.estimate(fs)
        assert out.head is not None and 0.0 <= out.head.covered_p <= 1.0
        assert "cover" in est.last_timings_ms
        back = Estimates.from_json(json.loads(json.dumps(out.to_json())))
        assert back.head.covered_p == pytest.approx(out.head.covered_p, abs=1e-4)
    plain = PoseEstimator.load("", "", ["cpu"]).estimate(frames[0])
    assert plain.head.covered_p is None and "covered_p" not in plain.to_json()["head"]


def test_a_wrong_model_as_cover_model_is_refused(cover_onnx):
    from monitor.estimator.model_files import DEFAULT_HEAD_MODEL
    with pytest.raises(ModelLoadError, match="--cover-model .* is a head_pose model"):
        PoseEstimator.load("", "", ["cpu"], cover_path=DEFAULT_HEAD_MODEL)
    with pytest.raises(ModelLoadError, match="--head-model .* is a face_cover model, not a head_pose"):
        PoseEstimator.load("", cover_onnx[0], ["cpu"])


def test_covered_p_on_the_wire_is_checked():
    from monitor.validate import WireError, estimates_from_meta
    head = HeadPose(1.0, 2.0, 3.0, np.eye(3), np.array([0.0, 0.0, 700.0]), (10.0, 20.0), (0.0, 0.0, 5.0, 5.0), 0.25)
    raw = Estimates(head=head).to_json()
    assert estimates_from_meta({"estimates": raw}).head.covered_p == 0.25
    for bad in (1.5, -0.1, "0.5", True):
        raw["head"]["covered_p"] = bad
        with pytest.raises(WireError, match="covered_p"):
            estimates_from_meta({"estimates": raw})


def test_pasted_hands_label_only_the_crops_they_change():
    x = np.full((200, 1, 64, 64), 0.1, np.float32)
    covered = np.arange(200) % 4 == 0
    out, labels = paste_hands(x, covered, np.random.default_rng(1), 0.5)
    changed = (out != x).reshape(200, -1).any(1)
    assert not changed[covered].any()  # covered crops keep their picture
    assert 0.3 < changed[~covered].mean() < 0.7  # about half the uncovered ones get a hand
    assert np.array_equal(labels.astype(bool), covered | changed)
    assert float(out[changed].min()) < -0.1  # the hand is nearer than the face
    assert np.array_equal(paste_hands(x, covered, np.random.default_rng(1), 0.0)[0], x)


def test_the_pipeline_runs_the_shipped_cover_model_by_default_and_none_turns_it_off(tmp_path):
    """run_monitor.py: every found head carries covered_p and its inference time by default; with
    --cover-model none neither is there and summary.json lists no face_cover model."""
    from pipeline_helpers import results, run, summary
    src = ["--source", "synthetic:seed=10002,scenario=activities", "--fast", "--max-frames", "6", "--eye-model", "none"]
    code, output = run(tmp_path / "on", *src, timeout=120)
    assert code == 0, output
    heads = [r for r in results(tmp_path / "on") if r["estimates"]["head"]]
    assert len(heads) >= 4 and all(0.0 <= r["estimates"]["head"]["covered_p"] <= 1.0 for r in heads)
    assert all("cover" in r["timings_ms"] for r in heads)
    assert [m["task"] for m in summary(tmp_path / "on")["models"]][-1] == "face_cover"
    code, output = run(tmp_path / "off", *src, "--cover-model", "none", timeout=120)
    assert code == 0, output
    assert all("covered_p" not in (r["estimates"]["head"] or {}) for r in results(tmp_path / "off"))
    assert "face_cover" not in [m["task"] for m in summary(tmp_path / "off")["models"]]

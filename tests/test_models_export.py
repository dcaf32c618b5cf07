"""Export: checker-clean ONNX with contract metadata, parity, fp16 variant, and the runtime pipeline
(real ONNX Runtime sessions) running on the exported files."""
import json

import numpy as np
import onnx
import pytest
import torch

from exporters.body_net import LITE, BodyNet, ExportHead
from exporters.export import PARITY_TOLERANCE, body_contract, export_model, head_contract
from exporters.poseidon import PoseidonNet
from monitor.estimates import Estimates
from monitor.estimator.head_locate import HeadLocation, refine_centre
from monitor.estimator.pipeline import PoseEstimator
from monitor.estimator.session import OnnxModel
from monitor.frames import FrameSet, Intrinsics

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    body = export_model(ExportHead(BodyNet(LITE)), out / "body_lite.onnx", body_contract(LITE, False, "test"))
    head = export_model(PoseidonNet(), out / "head_poseidon_depth.onnx", head_contract("depth", False, "test"))
    return out, body, head


def test_export_is_checker_clean_with_contract(exported):
    out, body, head = exported
    for name, task in (("body_lite.onnx", "body_joints"), ("head_poseidon_depth.onnx", "head_pose")):
        m = onnx.load(str(out / name))
        onnx.checker.check_model(m, full_check=True)
        meta = {p.key: p.value for p in m.metadata_props}
        contract = json.loads(meta["dms_contract"])
        assert contract["task"] == task and m.opset_import[0].version == 17
        assert m.graph.input[0].name == "image" and m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert body.max_abs_diff <= PARITY_TOLERANCE and head.max_abs_diff <= PARITY_TOLERANCE
    assert body.fp16_path and onnx.load(body.fp16_path).graph.initializer[0].data_type == onnx.TensorProto.FLOAT16


def test_dynamic_batch_through_onnx_model(exported):
    out, _, _ = exported
    m = OnnxModel(out / "head_poseidon_depth.onnx", ["cpu"])
    assert m.contract.task == "head_pose" and m.contract.raw["crop"]["extent_mm"] == 320.0
    assert m.run(np.zeros((5, 1, 64, 64), np.float32))["angles"].shape == (5, 3)


def test_pipeline_runs_on_exported_models(exported):
    out, _, _ = exported
    est = PoseEstimator.load(out / "body_lite.onnx", out / "head_poseidon_depth.onnx", ["cpu"])
    depth = np.full((480, 848), 1500, np.uint16)
    depth[100:400, 350:500] = 800
    intr = Intrinsics(848, 480, 420.0, 420.0, 423.5, 239.5)
    fs = FrameSet("t", 0, 0.0, {"depth": depth, "ir": np.zeros((480, 848), np.uint8)},
                  {"depth": intr, "ir": intr}, 1.0)
    res = est.estimate(fs)
    assert isinstance(res, Estimates) and res.joints is not None
    assert res.joints.uv.shape == (21, 2) and res.joints.xyz_mm.shape == (21, 3)
    assert res.joints.names[3] == "Head"
    assert Estimates.from_json(res.to_json()).joints.uv.shape == (21, 2)
    # no depth image: a depth body model has nothing to look at
    assert est.estimate(FrameSet("t", 1, 0.0, {"ir": fs.images["ir"]}, {"ir": intr})).joints is None


def test_pipeline_head_path_with_given_joints(exported):
    out, _, _ = exported
    est = PoseEstimator.load(out / "body_lite.onnx", out / "head_poseidon_depth.onnx", ["cpu"])
    from monitor.estimates import JOINTS_21, Joints
    uv = np.zeros((21, 2))
    uv[3], uv[2] = (420.0, 150.0), (420.0, 230.0)
    joints = Joints(JOINTS_21, uv, np.full((21, 3), np.nan), np.ones(21))
    depth = np.full((480, 848), 700, np.uint16)
    intr = Intrinsics(848, 480, 420.0, 420.0, 423.5, 239.5)
    fs = FrameSet("t", 0, 0.0, {"depth": depth}, {"depth": intr}, 1.0)
    est.refine_head_centre = False  # one crop, at the Head joint
    head = est.estimate_head(fs, joints)
    assert head is not None and head.position_mm[2] == pytest.approx(735.0)
    assert head.rotation.shape == (3, 3) and np.allclose(head.rotation @ head.rotation.T, np.eye(3), atol=1e-9)
    x0, y0, x1, y1 = head.crop_box
    assert x1 - x0 == pytest.approx(420 * 320 / 735)
    # refined: the second crop sits where refine_centre puts the centre given the first rotation
    est.refine_head_centre = True
    refined = est.estimate_head(fs, joints)
    loc = refine_centre(HeadLocation((420.0, 150.0), 735.0, True), head.rotation, 420.0, 420.0, 423.5, 239.5)
    assert refined.center_px == pytest.approx(loc.center_px) and refined.position_mm[2] == pytest.approx(loc.distance_mm)
    x0, y0, x1, y1 = refined.crop_box
    assert x1 - x0 == pytest.approx(420 * 320 / loc.distance_mm)


def test_head_at_the_top_edge_is_found_through_the_refined_crop(exported, monkeypatch):
    """The Head joint near the image's top edge: its crop is more than a third off-image, the head
    centre's is not. A looser first crop gives the rotation, the refined crop must pass the usual rule."""
    import monitor.estimator.pipeline as pipeline
    out, _, _ = exported
    est = PoseEstimator.load(out / "body_lite.onnx", out / "head_poseidon_depth.onnx", ["cpu"])
    from monitor.estimates import JOINTS_21, Joints
    from monitor.estimator.head_crop import head_box
    intr = Intrinsics(848, 480, 420.0, 420.0, 423.5, 239.5)
    fs = FrameSet("t", 0, 0.0, {"depth": np.full((480, 848), 700, np.uint16)}, {"depth": intr}, 1.0)
    uv = np.zeros((21, 2))
    uv[3], uv[2] = (420.0, 20.0), (420.0, 100.0)
    joints = Joints(JOINTS_21, uv, np.full((21, 3), np.nan), np.ones(21))
    first = head_box((420.0, 20.0), 735.0, 420.0, 420.0)
    assert 0.5 < first.inside_fraction((480, 848)) < 2 / 3  # strict rule: discarded; the looser one: kept
    moved = {}

    def refine_down(loc, rotation, fx, fy, cx, cy, shift_mm):  # the centre shift_mm below the joint's surface
        moved["loc"] = refine_centre(loc, rotation, fx, fy, cx, cy, (0.0, 0.0, 0.0), (0.0, shift_mm, 0.0))
        return moved["loc"]

    monkeypatch.setattr(pipeline, "refine_centre", lambda *a: refine_down(*a, shift_mm=60.0))
    head = est.estimate_head(fs, joints)
    assert head is not None and head.center_px == pytest.approx(moved["loc"].center_px)
    assert head_box(head.center_px, head.position_mm[2], 420.0, 420.0).inside_fraction((480, 848)) >= 2 / 3
    # the refined crop still too far off-image: no head, as before
    monkeypatch.setattr(pipeline, "refine_centre", lambda *a: refine_down(*a, shift_mm=0.0))
    assert est.estimate_head(fs, joints) is None
    # a single crop (no refinement) keeps the usual rule
    est.refine_head_centre = False
    assert est.estimate_head(fs, joints) is None


def test_head_weights_come_back_from_onnx(exported):
    from train.head import freeze_batch_norm, load_onnx_weights
    out, _, _ = exported
    net = load_onnx_weights(PoseidonNet(), str(out / "head_poseidon_depth.onnx")).eval()
    x = np.random.default_rng(1).uniform(-1, 1, (3, 1, 64, 64)).astype(np.float32)
    ref = OnnxModel(out / "head_poseidon_depth.onnx", ["cpu"]).run(x)["angles"]
    with torch.no_grad():
        assert np.abs(net(torch.from_numpy(x)).numpy() - ref).max() < 1e-4
    net.train()
    freeze_batch_norm(net)
    assert all(not m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_body_weights_come_back_from_onnx(tmp_path):
    import dataclasses

    import onnxruntime as ort

    from train.body import load_body_onnx_weights
    torch.manual_seed(3)
    net = BodyNet(LITE)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # statistics that make the export's folding matter
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    path = tmp_path / "body_lite.onnx"
    export_model(ExportHead(net.eval()), path, body_contract(LITE, False, "test"))
    back = load_body_onnx_weights(BodyNet(LITE), path).eval()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 1, 96, 160)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = ExportHead(back)(torch.from_numpy(x)).numpy()
    assert np.abs(got - ref).max() < 1e-4 * max(1.0, float(np.abs(ref).max()))
    with pytest.raises(ValueError, match="convolutions"):
        load_body_onnx_weights(BodyNet(dataclasses.replace(LITE, refine_convs=3)), path)


def test_evaluate_reports_every_protocol_on_exported_files(exported, tmp_path):
    """train.evaluate on the exported (untrained) files and a small pack: head tables per modality,
    body AP and head errors with and without test-time flip, end to end; the figures are real
    numbers in range."""
    from models_fixtures import stick_record
    from train.data import save_pack
    from train.evaluate import evaluate_models
    out, _, _ = exported
    rng = np.random.default_rng(3)
    records = [stick_record(rng) for _ in range(6)]
    for r in records:  # what the synthetic packs carry besides
        r.joints_seen, r.group = r.joints_vis.copy(), {"seed": 1}
    save_pack(records, tmp_path / "pack_0000.npz")
    res = evaluate_models(out, [str(tmp_path)], e2e_frames=6)
    assert res["frames"] == 6 and res["head_depth"]["n"] > 0
    body = res["body"]
    for key in ("labelled", "unoccluded", "labelled_flip_test"):
        assert 0.0 <= body[key]["map"] <= 1.0 and set(body[key]["per_joint"]) == set(LITE.joint_names)
    assert "AP^OKS=0.50" in body["labelled_flip_test_table"]
    assert res["end_to_end_depth"]["frames"] == 6
    assert res["head_depth_flip_test"]["n"] == res["head_depth"]["n"]
    assert res["end_to_end_depth_flip_test"]["frames"] == 6
    for key in ("head_depth", "head_depth_flip_test", "head_depth_occluded_flip_test", "head_depth_rotated_flip_test"):
        assert all(np.isfinite(v) and v >= 0 for v in res[key]["mae"].values())
    # the stress tests run on the same crops, changed: same count, different figures
    assert res["head_depth_occluded_flip_test"]["n"] == res["head_depth"]["n"]
    assert res["head_depth_occluded_flip_test"]["mae"] != res["head_depth_flip_test"]["mae"]


def test_run_monitor_flip_test_flags(tmp_path):
    """--body-flip-test (off by default) and --no-head-flip-test (on by default) reach the
    estimator worker: the run completes, finds heads, and summary.json says which model runs
    with test-time flip."""
    from pipeline_helpers import results, run, summary
    code, output = run(tmp_path / "run", "--source", "synthetic:seed=2,scenario=drive,frames=12", "--fast",
                       "--body-flip-test", "--no-head-flip-test", timeout=240)
    assert code == 0, output
    flip = {m["task"]: m["flip_test"] for m in summary(tmp_path / "run")["models"]}
    # the eye model (on by default) and its locator always average their crop with the mirrored one
    # (the face-cover model, on by default, runs once)
    assert flip == {"body_joints": True, "head_pose": False, "eye_gaze": True, "eye_locate": True, "face_cover": False}
    rows = results(tmp_path / "run")
    assert len(rows) == 12 and sum(r["estimates"]["head"] is not None for r in rows) >= 10


def test_test_figures_are_written_into_both_contracts_and_nothing_else_changes(tmp_path):
    """train.evaluate --write-contracts: the fp32 model's figures go into its contract and its fp16
    variant's (saying which file was measured); graph, weights and the rest of the contract stay."""
    from train.evaluate import contract_metrics, write_contract_metrics

    torch.manual_seed(0)
    export_model(PoseidonNet(), tmp_path / "head_poseidon_depth.onnx", head_contract("depth", False, "test"))
    before = {p: onnx.load(str(tmp_path / p)) for p in ("head_poseidon_depth.onnx", "head_poseidon_depth.fp16.onnx")}
    res = {"test": ["shards/test"], "frames": 720, "head_depth": {"mae": {"avg": 1.88}},
           "head_depth_flip_test": {"mae": {"avg": 1.66}}}
    assert set(contract_metrics(res)) == {"head_poseidon_depth"}
    written = write_contract_metrics(tmp_path, res)
    assert sorted(p.name for p in written) == sorted(before)
    for name, old in before.items():
        new = onnx.load(str(tmp_path / name))
        assert new.graph.SerializeToString() == old.graph.SerializeToString()
        contract = OnnxModel(tmp_path / name, ["cpu"]).contract
        assert contract.metrics["test"] == {"mae": {"avg": 1.88}} and contract.metrics["test_flip"]["mae"]["avg"] == 1.66
        assert contract.metrics["test_set"] == {"shards": ["shards/test"], "frames": 720}
        assert contract.metrics["measured_on"] == "head_poseidon_depth.onnx" and contract.task == "head_pose"

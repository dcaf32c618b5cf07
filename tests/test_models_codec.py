"""Heatmap codec round trip (joints -> heatmaps -> joints), 3D lifting, body pre/post geometry."""
import numpy as np
import pytest

from monitor.estimator import body_io
from monitor.estimator.heatmaps import cell_centres, decode, encode
from monitor.estimator.lifting import lift_joints, sample_depth
from monitor.frames import Intrinsics
from monitor.geometry import project
from train.augment import random_affine


@pytest.mark.parametrize("stride", [4, 8])
def test_round_trip_is_sub_pixel_exact(stride):
    rng = np.random.default_rng(stride)
    hw = (28, 48)
    uv = rng.uniform([stride * 2, stride * 2], [stride * (hw[1] - 2), stride * (hw[0] - 2)], (21, 2))
    hm = encode(uv, np.ones(21, bool), hw, stride, sigma=7.0)
    assert hm.shape == (21, 28, 48) and hm.dtype == np.float32
    got, conf = decode(hm, stride)
    assert np.abs(got - uv).max() < 0.05  # float32 storage limits it, arg-max alone would be ~stride/2
    assert conf.min() > 0.5


def test_target_is_seed_001_gaussian():
    hm = encode(np.array([[10.0, 6.0]]), np.array([True]), (4, 6), 4, sigma=7.0)
    xs, ys = cell_centres(6, 4), cell_centres(4, 4)
    want = np.exp(-((xs[None] - 10.0) ** 2 + (ys[:, None] - 6.0) ** 2) / 49.0)
    assert np.allclose(hm[0], want, atol=1e-6)


def test_unlabelled_joint_has_empty_target_and_batch_decode():
    hm = encode(np.array([[10.0, 6.0], [np.nan, np.nan]]), np.array([True, False]), (8, 8), 4)
    assert hm[1].max() == 0.0
    uv, conf = decode(np.stack([hm, hm]), 4)
    assert uv.shape == (2, 2, 2) and conf.shape == (2, 2) and conf[0, 1] == 0.0


def _decode_reference(hm, stride):
    """The definition, one map at a time in float64: arg-max cell, then a parabola through the
    log-values of its two neighbours on each axis (none at the border, none if not a peak)."""
    uv, conf = [], []
    for m in np.asarray(hm, np.float64).reshape(-1, *hm.shape[-2:]):
        r, c = np.unravel_index(int(m.argmax()), m.shape)
        offsets = []
        for pos, size, line in ((c, m.shape[1], m[r]), (r, m.shape[0], m[:, c])):
            off = 0.0
            if 0 < pos < size - 1 and m[r, c] > 1e-10:
                la, lb, lc = np.log(np.maximum(line[pos - 1:pos + 2], 1e-10))
                if la - 2 * lb + lc < -1e-12:
                    off = float(np.clip(0.5 * (la - lc) / (la - 2 * lb + lc), -1, 1))
            offsets.append(pos + off)
        uv.append([stride * o + (stride - 1) / 2 for o in offsets])
        conf.append(min(max(m[r, c], 0.0), 1.0))
    return np.array(uv).reshape(*hm.shape[:-2], 2), np.array(conf).reshape(hm.shape[:-2])


def test_vectorised_decode_matches_the_per_map_definition():
    rng = np.random.default_rng(5)
    hm = (rng.random((2, 21, 15, 20)) ** 6).astype(np.float32)  # float32, as the network gives them
    hm[0, 0] = 0.0
    hm[0, 0, 0, 7] = 0.9  # peak on the top border: no vertical refinement
    hm[0, 1] = 0.0
    hm[0, 1, 14, 19] = 0.4  # in a corner
    hm[0, 2] = 0.0  # empty map: first cell, confidence 0
    hm[1, 3] = 0.0
    hm[1, 3, 7, 9:12] = 0.25  # plateau: the parabola is flat along x, no refinement there
    got_uv, got_conf = decode(hm, 8)
    want_uv, want_conf = _decode_reference(hm, 8)
    np.testing.assert_array_equal(got_uv, want_uv)
    np.testing.assert_array_equal(got_conf, want_conf)
    assert decode(np.zeros((0, 15, 20), np.float32), 8)[0].shape == (0, 2)  # no maps, no joints


def test_decode_rejects_flat_input():
    with pytest.raises(ValueError, match="K, H, W"):
        decode(np.zeros((4, 4)), 4)


def test_letterbox_and_postprocess_map_back_to_image():
    image_hw, input_hw, stride = (480, 848), (112, 192), 4
    m = body_io.resize_affine(image_hw, input_hw)
    corners = body_io.apply_affine(m, np.array([[-0.5, -0.5], [847.5, 479.5]]))
    assert corners[0, 0] == pytest.approx(-0.5) and corners[1, 0] == pytest.approx(191.5)  # width fits
    assert corners[0, 1] > -0.5 and corners[1, 1] < 111.5 and (corners[0, 1] + corners[1, 1]) / 2 == pytest.approx(55.5)
    uv_img = np.array([[400.0, 220.0], [100.0, 50.0]])
    hm = encode(body_io.apply_affine(m, uv_img), np.ones(2, bool), (28, 48), stride)
    got, _ = body_io.postprocess(hm, stride, m)
    assert np.abs(got - uv_img).max() < 0.3


def test_preprocess_normalises_depth():
    depth = np.zeros((480, 848), np.uint16)
    depth[200:300, 300:500] = 700
    x, _ = body_io.preprocess(depth, (112, 192), {"kind": "depth_inverse", "near_mm": 200, "far_mm": 2500})
    assert x.shape == (1, 1, 112, 192) and x.dtype == np.float32
    assert x.max() == pytest.approx((2500 - 700) / 2300, rel=1e-6) and x.min() == 0.0
    with pytest.raises(ValueError, match="normalisation"):
        body_io.preprocess(depth, (112, 192), {"kind": "bogus"})


def test_augmentation_moves_joints_with_pixels():
    rng = np.random.default_rng(0)
    img = np.zeros((240, 424), np.uint16)
    uv = np.array([[100.0, 60.0], [300.0, 180.0]])
    for u, v in uv:
        img[int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2] = 1000
    for _ in range(5):
        m, flipped = random_affine(img.shape, (112, 192), rng)
        warped = body_io.warp_image(img, m, (112, 192))
        moved = body_io.apply_affine(m, uv)
        for u, v in moved:
            if 1 <= u < 191 and 1 <= v < 111:
                assert warped[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2].max() == 1000


def test_flip_permutation_swaps_sides():
    from monitor.estimates import JOINTS_21
    perm = body_io.flip_permutation()
    assert JOINTS_21[perm[JOINTS_21.index("WristLeft")]] == "WristRight"
    assert JOINTS_21[perm[JOINTS_21.index("Head")]] == "Head"
    assert sorted(perm) == list(range(21))


def test_lifting_backprojects_through_depth():
    intr = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    depth = np.full((48, 64), 1000, np.uint16)
    depth[:, :8] = 0
    p = np.array([[100.0, -50.0, 1000.0]])
    uv = project(p, 50.0, 50.0, 31.5, 23.5)
    xyz = lift_joints(np.vstack([uv, [[2.0, 2.0]], [[500.0, 5.0]]]), depth, intr)
    assert np.allclose(xyz[0], p[0]) and np.isnan(xyz[1]).all() and np.isnan(xyz[2]).all()
    assert sample_depth(depth, np.array([[20.0, 20.0]]), depth_unit_mm=0.5)[0] == 500.0
    with pytest.raises(ValueError, match="intrinsics"):
        lift_joints(uv, depth[:10], intr)


def _median_depth_reference(depth, uv, depth_unit_mm, radius):
    """The definition, one joint at a time: median of the window's valid (> 0) depths, window cut at the border."""
    h, w = depth.shape
    out = []
    for u, v in uv:
        if not (np.isfinite(u) and np.isfinite(v)) or not (0 <= round(u) < w and 0 <= round(v) < h):
            out.append(np.nan)
            continue
        c, r = round(u), round(v)
        patch = depth[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1]
        valid = patch[patch > 0]
        out.append(float(np.median(valid)) * depth_unit_mm if valid.size else np.nan)
    return np.array(out)


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_vectorised_depth_sampling_matches_the_per_joint_median(radius):
    rng = np.random.default_rng(radius)
    depth = rng.integers(400, 3000, (48, 64)).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.4] = 0  # holes: valid counts of every parity
    depth[10:20, 30:40] = 0  # a window with nothing valid
    uv = np.vstack([rng.uniform(-3, 67, (200, 2)),  # borders and off-image
                    [[35.0, 15.0], [np.nan, 3.0], [2.5, 3.5], [0.0, 0.0], [63.4, 47.4]]])
    got = sample_depth(depth, uv, depth_unit_mm=0.5, radius=radius)
    want = _median_depth_reference(depth, uv, 0.5, radius)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)])
    assert np.isnan(got[200]) and np.isnan(got[201])


def test_flip_test_is_exactly_mirror_equivariant(tmp_path):
    """Flip test averages f(x) with mirror(f(mirror(x))) and swaps Left/Right: whatever the network
    (here an asymmetric random convolution), the joints of a mirrored frame must be the mirrored
    joints of the frame, sides swapped; without flip test this network breaks that symmetry."""
    from monitor.estimator.pipeline import PoseEstimator
    from monitor.estimator.session import OnnxModel
    from monitor.frames import FrameSet
    from tests.onnx_factory import body_model
    rng = np.random.default_rng(5)
    depth = rng.integers(400, 3000, (64, 64)).astype(np.uint16)  # the input size: the letterbox is 1:1
    intr = Intrinsics(64, 64, 60.0, 60.0, 31.5, 31.5)
    frames = [FrameSet("s", 0, 0.0, {"depth": d}, {"depth": intr}) for d in (depth, np.ascontiguousarray(depth[:, ::-1]))]
    model = OnnxModel(body_model(tmp_path / "body.onnx", size=64, stride=8), ["cpu"])
    perm = body_io.flip_permutation()
    for flip_test, symmetric in ((True, True), (False, False)):
        est = PoseEstimator(model, None, body_flip_test=flip_test)
        a, b = (est.estimate_joints(f) for f in frames)
        mirrored = np.stack([63.0 - a.uv[:, 0], a.uv[:, 1]], 1)[perm]
        assert np.allclose(b.uv, mirrored, atol=1e-6) == symmetric
        if flip_test:
            np.testing.assert_allclose(b.confidence, a.confidence[perm], atol=1e-6)
    with pytest.raises(ValueError, match="multiple of the heatmap stride"):
        body_io.flip_test_input(np.zeros((1, 1, 64, 60), np.float32), 8)
    odd = OnnxModel(body_model(tmp_path / "odd.onnx", size=60, stride=8), ["cpu"])
    with pytest.raises(ValueError, match="multiple of the heatmap stride"):  # refused at load, not per frame
        PoseEstimator(odd, None, body_flip_test=True)


def test_head_flip_test_is_exactly_mirror_equivariant(tmp_path):
    """Head flip test averages f(crop) with f(mirrored crop), yaw and roll negated: whatever the
    network (here a random linear map, not symmetric), a mirrored crop must then give the same
    pitch and the negated yaw and roll; without flip test this network breaks that symmetry."""
    from monitor.estimator.head_crop import flip_test_angles, flip_test_input
    from monitor.estimator.session import OnnxModel
    from tests.onnx_factory import head_model
    model = OnnxModel(head_model(tmp_path / "head.onnx", size=32), ["cpu"])
    crop = np.random.default_rng(2).normal(size=(32, 32)).astype(np.float32)
    order = ("yaw", "pitch", "roll")

    def angles(c, flip):
        out = model.run(flip_test_input(c) if flip else c[None, None])["angles"]
        return flip_test_angles(out, order) if flip else out[0]

    for flip, symmetric in ((True, True), (False, False)):
        a, b = angles(crop, flip), angles(np.ascontiguousarray(crop[:, ::-1]), flip)
        assert np.allclose(b, a * np.array([-1.0, 1.0, -1.0]), atol=1e-5) == symmetric
    assert flip_test_input(crop).shape == (2, 1, 32, 32)
    # the sign follows the contract's output order, and an order it cannot map is refused
    np.testing.assert_allclose(flip_test_angles(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), ("pitch", "yaw", "roll")),
                               [0.5 * (1 + 4), 0.5 * (2 - 5), 0.5 * (3 - 6)])
    with pytest.raises(ValueError, match="head flip test needs outputs named"):
        flip_test_angles(np.zeros((2, 3)), ("a", "b", "c"))


def test_head_model_that_cannot_flip_is_refused_at_load_with_the_way_out(tmp_path):
    """A head model exported with a fixed batch of one runs plain, and is refused at load (not
    per frame) when the flip is on, with a message that names --no-head-flip-test."""
    from monitor.estimator.pipeline import PoseEstimator
    from monitor.estimator.session import ModelLoadError, OnnxModel
    from tests.onnx_factory import body_model, head_model
    body = OnnxModel(body_model(tmp_path / "body.onnx", size=64, stride=8), ["cpu"])
    fixed = OnnxModel(head_model(tmp_path / "head1.onnx", size=32, batch=1), ["cpu"])
    assert PoseEstimator(body, fixed, head_flip_test=False).head_flip is False
    with pytest.raises(ModelLoadError, match="--no-head-flip-test"):
        PoseEstimator(body, fixed, head_flip_test=True)

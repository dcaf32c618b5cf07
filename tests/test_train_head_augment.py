"""Head-crop augmentations for train.head: synthetic hand occluders (train/occlusion.py) and
in-plane rotations with recomputed labels (train/rotation.py)."""
import numpy as np
import pytest
import torch

from exporters.export import HEAD_NORMALISATION
from models_fixtures import stick_record
from train.head import main as head_main
from train.head import make_crops, train_head
from train.occlusion import HAND_DEPTH, occlude_batch, occluder_depth

torch.set_num_threads(2)


def _crops(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return make_crops([stick_record(rng) for _ in range(n)], "depth", HEAD_NORMALISATION["depth"])


def test_occluder_is_a_near_blob_that_covers_part_of_the_crop():
    rng = np.random.default_rng(0)
    covers, hand_depths = [], []
    for _ in range(200):
        d = occluder_depth(64, rng)
        present = np.isfinite(d)
        covers.append(present.mean())
        assert d[present].min() >= -1.0 and d[present].max() <= 1.0
        # the hand itself sits at the crop's middle third or near it, in front of the face
        hand_depths.append(float(np.median(d[present])))
    covers = np.array(covers)
    assert 0.05 < covers.mean() < 0.5, covers.mean()
    assert covers.max() < 0.9  # the face is never blotted out entirely
    assert np.median(hand_depths) < -0.1  # nearer than the head centre (0), like a hand


def test_occlusion_only_brings_pixels_nearer_and_keeps_the_input():
    x, _ = _crops()
    before = x.copy()
    out = occlude_batch(x, np.random.default_rng(1), 1.0)
    assert np.array_equal(x, before)  # a copy: the training set is not modified in place
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.all(out <= x)  # z-buffer composite: an occluder never pushes the face back
    changed = out < x
    assert all(changed[i].any() for i in range(len(x)))  # probability 1: every crop got one
    assert out[changed].max() < HAND_DEPTH[1] + 0.5 + 0.1  # hand depth + the forearm's slope + noise


def test_occlusion_probability_zero_is_a_no_op_and_bad_values_are_refused():
    x, _ = _crops()
    assert np.array_equal(occlude_batch(x, np.random.default_rng(2), 0.0), x)
    some = occlude_batch(np.repeat(x, 50, axis=0), np.random.default_rng(3), 0.3)
    hit = (some < np.repeat(x, 50, axis=0)).reshape(len(some), -1).any(axis=1).mean()
    assert 0.2 < hit < 0.4
    with pytest.raises(ValueError, match="probability"):
        occlude_batch(x, np.random.default_rng(0), 1.5)


def test_training_with_occlusion_runs_and_records_it():
    x, y = _crops(8)
    _, info = train_head(x, y, minutes=1.0, max_steps=3, batch=8, occlusion=0.5, log=lambda *_: None)
    assert info["steps"] == 3 and info["occlusion"] == 0.5


def test_head_cli_refuses_occlusion_for_ir(capsys):
    with pytest.raises(SystemExit):
        head_main(["--train", "x", "--test", "y", "--modality", "ir", "--occlusion", "0.3"])
    assert "no IR counterpart" in capsys.readouterr().err


# --- in-plane rotation (train/rotation.py) ---------------------------------------------------

def _project(p, f=400.0, c=(320.0, 240.0)):
    return np.array([f * p[0] / p[2] + c[0], f * p[1] / p[2] + c[1]])


def test_rotated_crop_and_label_agree_with_the_camera_geometry():
    """A head-frame point's image offset from the head centre turns the way the crop does."""
    from monitor.geometry import euler_to_matrix
    from train.rotation import rotate_crop, rotated_label

    centre = np.array([150.0, -80.0, 700.0])  # off the optical axis
    ray = centre / np.linalg.norm(centre)
    ypr, deg = np.array([25.0, -10.0, 5.0], np.float32), 12.0
    q = np.array([40.0, 0.0, 0.0])  # 40 mm along the head's x axis
    before = _project(centre + euler_to_matrix(*ypr) @ q) - _project(centre)
    after = _project(centre + euler_to_matrix(*rotated_label(ypr, ray, deg)) @ q) - _project(centre)
    turned = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0]))
    assert abs(turned - deg) < 0.5, turned  # +deg: from +u towards +v (clockwise on screen)
    # the crop: a marker right of the centre moves the same way (down, since v points down)
    crop = np.ones((65, 65), np.float32)
    crop[32, 52] = -1.0
    out = rotate_crop(crop, 30.0)
    v, u = np.unravel_index(np.argmin(out), out.shape)
    expect = (32 + 20 * np.cos(np.radians(30)), 32 + 20 * np.sin(np.radians(30)))
    assert abs(u - expect[0]) <= 1 and abs(v - expect[1]) <= 1, (u, v, expect)


def test_rotated_label_on_axis_is_a_roll_and_keeps_angles_unwrapped():
    from train.rotation import rotated_label

    front = rotated_label(np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 1.0]), 10.0)
    assert np.allclose(front, [0.0, 0.0, 13.0], atol=1e-4)
    back = rotated_label(np.array([178.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 5.0)  # turn about y
    assert abs(back[0] - 183.0) < 1e-3  # not -177


def test_rotate_batch_changes_the_chosen_crops_and_their_labels_only():
    from train.rotation import rotate_batch

    x, y = _crops(6)
    rays = np.tile([0.0, 0.0, 1.0], (len(x), 1))
    xo, yo = rotate_batch(x, y, rays, np.random.default_rng(0), 0.0, 15.0)
    assert np.array_equal(xo, x) and np.array_equal(yo, y)
    xo, yo = rotate_batch(x, y, rays, np.random.default_rng(0), 1.0, 15.0)
    assert not np.array_equal(xo, x)
    from calib.transforms import rotation_angle_deg
    from monitor.geometry import euler_to_matrix
    turned = [rotation_angle_deg(euler_to_matrix(*a) @ euler_to_matrix(*b).T) for a, b in zip(yo, y)]
    assert max(turned) <= 15.0 + 1e-3 and max(turned) > 1.0  # each label turned by its crop's angle
    with pytest.raises(ValueError, match="must match"):
        rotate_batch(x, y, rays[:2], np.random.default_rng(0), 0.5, 15.0)


def test_training_with_rotation_needs_rays_and_records_it():
    rng = np.random.default_rng(0)
    rays: list = []
    x, y = make_crops([stick_record(rng) for _ in range(8)], "depth", HEAD_NORMALISATION["depth"], rays=rays)
    assert len(rays) == len(x) and np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    with pytest.raises(ValueError, match="viewing ray"):
        train_head(x, y, minutes=1.0, max_steps=1, batch=8, rotation=0.5, log=lambda *_: None)
    _, info = train_head(x, y, minutes=1.0, max_steps=3, batch=8, rotation=0.5, rays=np.asarray(rays),
                         log=lambda *_: None)
    assert info["rotation"] == 0.5 and info["max_rotation_deg"] == 15.0

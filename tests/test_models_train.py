"""Training loops, data packs and evaluation on tiny fixture data (real components, a few steps)."""
import numpy as np
import torch

from exporters.body_net import BodyNetConfig
from exporters.export import BODY_NORMALISATION, HEAD_NORMALISATION
from models_fixtures import stick_record
from train.body import evaluate_torch, make_batch, reduce_records, train_body
from train.data import load_pack, save_pack
from train.head import evaluate, make_crops, pose_balance_weights, torch_runner, train_head

torch.set_num_threads(2)
TINY = BodyNetConfig("tiny", backbone=(8, "M", 8), reduce=(8, 8), stages=2, stage1=(8,), stage1_hidden=8,
                     refine_kernel=3, refine_convs=1, refine_channels=8, input_hw=(32, 56), stem_stride=2)


def _records(n, seed=0):
    rng = np.random.default_rng(seed)
    return [stick_record(rng) for _ in range(n)]


def test_body_batch_targets_follow_augmented_joints():
    data = reduce_records(_records(4), TINY.input_hw)
    x, t, m = make_batch(data, [0, 1, 2, 3], TINY, BODY_NORMALISATION, np.random.default_rng(0))
    assert x.shape == (4, 1, 32, 56) and t.shape == (4, 21, 8, 14) and m.shape == (4, 21)
    assert x.max() > 0.5 and t.max() > 0.3
    x0, t0, _ = make_batch(data, [0], TINY, BODY_NORMALISATION, None)
    assert x0.shape == (1, 1, 32, 56)


def test_body_training_reduces_loss_and_evaluates():
    recs = _records(12)
    data = reduce_records(recs, TINY.input_hw)
    net, info = train_body(data, TINY, BODY_NORMALISATION, minutes=1.0, max_steps=25, batch=4, lr=3e-3,
                           log=lambda *_: None)
    assert info["steps"] == 25 and info["final_loss"] is not None
    metrics = evaluate_torch(net, recs[:4], BODY_NORMALISATION)
    assert 0.0 <= metrics.map <= 1.0 and len(metrics.per_joint) == 21


def test_head_crops_and_training():
    recs = _records(6)
    x, y = make_crops(recs, "depth", HEAD_NORMALISATION["depth"], jitter=2, rng=np.random.default_rng(0))
    assert x.shape == (12, 1, 64, 64) and y.shape == (12, 3)
    xi, _ = make_crops(recs, "ir", HEAD_NORMALISATION["ir"])
    assert xi.shape == (6, 1, 64, 64) and abs(float(xi.mean())) < 1e-3
    net, info = train_head(x, y, minutes=1.0, max_steps=3, batch=8, log=lambda *_: None)
    assert info["steps"] == 3
    m = evaluate(torch_runner(net), x, y)
    assert m.n == 12 and m.mae["avg"] >= 0


def test_pack_round_trip(tmp_path):
    recs = _records(3)
    for r in recs:
        r.joints_seen = r.joints_vis.copy()
        r.group = {"seed": 1}
    save_pack(recs, tmp_path / "p.npz")
    back = list(load_pack(tmp_path / "p.npz"))
    assert len(back) == 3 and np.array_equal(back[1].depth, recs[1].depth)
    assert np.allclose(back[2].joints_uv, recs[2].joints_uv) and back[0].group == {"seed": 1}
    assert back[0].intrinsics.fx == recs[0].intrinsics.fx


def test_pose_balance_weights_flatten_the_pose_histogram():
    # 6 crops looking ahead (one 10-deg bin), 2 at the media centre (another bin), 1 far right
    ypr = np.array([[1, 2, 0]] * 6 + [[35, -25, 0]] * 2 + [[75, 5, 0]], dtype=np.float32)
    assert pose_balance_weights(ypr, 0.0) is None  # uniform: the plain integer draw
    full = pose_balance_weights(ypr, 1.0, max_ratio=None)
    # every occupied bin is drawn equally often: 1/3 per bin, split among its crops
    np.testing.assert_allclose([full[:6].sum(), full[6:8].sum(), full[8]], [1 / 3] * 3)
    half = pose_balance_weights(ypr, 0.5, max_ratio=None)
    # count^-0.5 per crop: bin totals 6/sqrt(6) : 2/sqrt(2) : 1 = sqrt(6) : sqrt(2) : 1
    totals = np.array([half[:6].sum(), half[6:8].sum(), half[8]])
    np.testing.assert_allclose(totals / totals[2], [np.sqrt(6), np.sqrt(2), 1.0])
    assert abs(half.sum() - 1.0) < 1e-12
    # capped: the median crop (looking ahead) has weight 6^-0.5; the lone far-right crop's 1 is
    # sqrt(6) = 2.45 x that, the cap 2 holds it to 2 x
    capped = pose_balance_weights(ypr, 0.5, max_ratio=2.0)
    np.testing.assert_allclose(capped[8] / capped[0], 2.0)
    np.testing.assert_allclose(capped[6] / capped[0], np.sqrt(3))  # (6/2)^0.5 = 1.73 < 2: untouched


def test_model_card_names_the_training_scenes_a_run_used():
    from train.cards import _training_scenes
    assert _training_scenes(None) == "Training scenes seeds 0-239 (25 frames each)"
    assert _training_scenes(["/d/train", "/d/train_b", "/d/train_d"]) == (
        "Training scenes seeds 0-239 (25 frames each) + seeds 300-1049 (4 frames each) + seeds 1800-3299 (4 frames each)")
    assert _training_scenes(["/d/train", "/d/train_reach", "/d/train_reach"]) == (
        "Training scenes seeds 0-239 (25 frames each) + seeds 3300-4499 (up to 3 frames each, only inside "
        "reach_media_centre in drive/activities scenes)")
    assert _training_scenes(["/d/train", "/d/train_dash"]).endswith(
        "seeds 4500-5699 (up to 3 frames each, only where the gaze dwells on the dashboard in drive/vats/gaze scenes)")


def test_extra_training_sets_use_new_seeds_and_say_how_they_were_drawn():
    """train.all's extra sets: no seed (driver) in two sets, none in the first 240 scenes or the
    test seeds; the reach set asks train.data for frames inside reaches only."""
    from train.all import EXTRA_SETS, HEAD_EXTRA, BODY_EXTRA
    from train.data import TEST_SEED_BASE
    seeds = [seed for s in EXTRA_SETS for seed in s.seeds]
    assert len(seeds) == len(set(seeds)) and min(seeds) >= 240 and max(seeds) < TEST_SEED_BASE
    names = {s.name for s in EXTRA_SETS}
    assert set(HEAD_EXTRA) <= names and set(BODY_EXTRA) <= names
    reach = next(s for s in EXTRA_SETS if s.name == "train_reach")
    assert reach.data_args() == ["--scenes", "1200", "--frames-per-scene", "3", "--seed-base", "3300",
                                 "--scenarios", "drive,activities", "--activity", "reach_media_centre"]
    dash = next(s for s in EXTRA_SETS if s.name == "train_dash")
    assert dash.name in HEAD_EXTRA and dash.data_args()[-2:] == ["--gaze-zone", "dashboard"]
    assert EXTRA_SETS[0].data_args() == ["--scenes", "750", "--frames-per-scene", "4", "--seed-base", "300"]
    assert all("pillar" not in s.mounts for s in EXTRA_SETS)  # the unseen test mount
    from train.all import ExtraSet
    assert ExtraSet("x", 4500, 10, mounts=("console",)).data_args()[-2:] == ["--mounts", "console"]


def test_activity_filter_draws_frames_inside_the_hand_action_only():
    """train.data --activity: frames past the action's ramp and before its end; the generator's
    own label of each such frame says so; a scene without the action gives none."""
    from synth.scene import Scene
    from train.data import _frames_in_activity
    scene = Scene(seed=3, scenario="activities", width=64, height=48)
    idx = _frames_in_activity(scene, "reach_media_centre")
    reach = [h for h in scene.timeline.hands if h.kind == "reach_media_centre"]
    assert len(reach) == 1 and len(idx) > 0
    t = idx / scene.fps
    assert t.min() >= reach[0].start_s + reach[0].ramp_s and t.max() < reach[0].end_s
    for i in (idx[0], idx[-1]):
        assert scene.render(int(i)).labels["activity"] == "reach_media_centre"
    assert len(_frames_in_activity(Scene(seed=3, scenario="gaze", width=64, height=48), "reach_media_centre")) == 0


def test_gaze_zone_filter_draws_frames_where_the_gaze_dwells_on_the_zone_only():
    """train.data --gaze-zone: the frames drawn are ones whose truth label is the zone, spread over
    the scene's glances there; a scene that never looks there gives none, and with --activity
    too only frames inside both are drawn."""
    from synth.scene import Scene
    from train.data import SceneSpec, _frames_on_zone, synth_records
    scene = Scene(seed=3, scenario="vats", width=64, height=48)  # a VATS made of dashboard glances
    idx = _frames_on_zone(scene, "dashboard")
    glances = [f for f in scene.timeline.fixations if f.target == "dashboard"]
    assert len(glances) >= 2 and 0 < len(idx) < len(scene)
    assert {int(np.searchsorted([g.arrive_s for g in glances], i / scene.fps, side="right")) - 1 for i in idx} == \
        set(range(len(glances)))  # frames of every dashboard glance, none before the first
    drawn = list(synth_records([SceneSpec(3, "d435", "dashboard", "vats")], 6, gaze_zone="dashboard"))
    assert len(drawn) == 6
    for rec in drawn:
        assert scene.render(int(rec.group["frame"])).labels["gaze_zone"] == "dashboard"
    assert list(synth_records([SceneSpec(3, "d435", "dashboard", "sweeps")], 4, gaze_zone="dashboard")) == []
    # drive 0: the reach to the media centre starts (past its ramp) after the glance there and ends after it
    drive = Scene(seed=0, scenario="drive", width=64, height=48)
    glance = next(f for f in drive.timeline.fixations if f.target == "media_centre")
    reach = next(h for h in drive.timeline.hands if h.kind == "reach_media_centre")
    lo, hi = max(glance.arrive_s, reach.start_s + reach.ramp_s), min(glance.leave_s, reach.end_s)
    assert glance.arrive_s < lo < hi < reach.end_s
    both = list(synth_records([SceneSpec(0, "d435", "dashboard", "drive")], 500, gaze_zone="media_centre",
                              activity="reach_media_centre"))
    t = np.array([r.group["frame"] for r in both]) / drive.fps
    assert len(both) > 10 and t.min() >= lo - 1e-9 and t.max() < hi  # inside both, and only there


def test_face_cover_recipe_keeps_the_pillar_out_of_training(tmp_path, monkeypatch):
    """train.all's face-cover step: new drivers in every set, none shared between sets or with the
    evaluation sets (seeds 20000+), and the A-pillar set only as the reported test, never trained on."""
    from train import all as train_all
    calls = []
    monkeypatch.setattr(train_all, "_run", calls.append)
    train_all.train_face_cover(tmp_path, tmp_path / "m", 50, 0, [])
    sets = [*train_all.COVER_SETS, train_all.COVER_TEST, train_all.COVER_PILLAR]
    seeds = [s for _, first, n, _ in sets for s in range(first, first + n)]
    assert len(seeds) == len(set(seeds)) and max(seeds) < 20000
    data_calls, (train_call,) = calls[:-1], calls[-1:]
    assert [c[1] for c in data_calls] == ["train.face_cover_data"] * len(sets)
    assert [("--mounts" in c) for c in data_calls] == [False] * (len(sets) - 1) + [True]  # default: dashboard, mirror
    trained = train_call[train_call.index("--train") + 1:train_call.index("--test")]
    assert trained == [str(tmp_path / f"{n}.npz") for n, *_ in train_all.COVER_SETS]
    assert train_call[train_call.index("--test-unseen") + 1] == str(tmp_path / "cover_test_pillar.npz")

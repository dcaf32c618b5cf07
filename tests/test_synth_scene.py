"""Synthetic scenes: reproducibility, behaviour timing, the streaming source, shards and recordings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.frames import FrameSet
from monitor.sources import SourceError, open_source
from monitor.wire import decode, encode
from synth.behaviour import build_timeline
from synth.cabin import GAZE_ZONES
from synth.scene import Scene


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.ir, b.ir)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert json.dumps(a.labels) == json.dumps(b.labels)


@pytest.mark.parametrize("camera", ["d435", "kinect_v2"])  # stereo and time-of-flight depth
def test_rendering_into_given_arrays_gives_the_same_frame(camera):
    """The capture worker lends ring slots for the images (FrameSource.allocate): same pixels."""
    scene = Scene(seed=8, camera=camera, width=320, height=240)
    out = {name: np.full(shape, 77, dtype) for name, (dtype, shape) in scene.image_layout().items()}
    f = scene.render(12, out)
    assert f.ir is out["ir"] and f.depth is out["depth"]
    _same(scene.render(12), f)
    with pytest.raises(ValueError, match="does not fit"):  # never a silent broadcast into a wrong buffer
        scene.render(12, {"ir": np.empty((1, 320), np.uint8), "depth": out["depth"]})


def test_same_seed_same_frames_in_any_order():
    a = Scene(seed=21, width=320, height=240)
    b = Scene(seed=21, width=320, height=240)
    b.render(90)  # a different access history must not change frame 30
    _same(a.render(30), b.render(30))
    _same(a.render(90), b.render(90))


def test_different_seeds_differ():
    a = Scene(seed=21, width=320, height=240).render(30)
    b = Scene(seed=22, width=320, height=240).render(30)
    assert not np.array_equal(a.depth, b.depth)


def test_consecutive_frames_have_fresh_noise():
    s = Scene(seed=5, width=320, height=240)
    a, b = s.render(10), s.render(11)
    still = (a.depth_clean == b.depth_clean) & (a.depth > 0) & (b.depth > 0)
    assert still.sum() > 1000
    assert (a.depth[still] != b.depth[still]).mean() > 0.2  # noise differs where the scene did not move


def test_depth_and_ir_look_like_sensor_output():
    s = Scene(seed=2, camera="d435", mount="dashboard", daylight=False)
    f = s.render(15)
    assert f.depth.dtype == np.uint16 and f.ir.dtype == np.uint8
    valid = f.depth > 0
    assert 0.3 < valid.mean() < 0.98  # holes exist, but most of the cabin is measured
    assert f.depth[valid].min() >= s.preset.min_depth_mm and f.depth[valid].max() <= s.preset.max_depth_mm
    driver = f.mask == 4
    # active illumination: the near driver is brighter than the far cabin at night
    far = (f.depth_clean > 1500)
    assert f.ir[driver].mean() > f.ir[far].mean() + 20


def test_drive_visits_every_zone_with_one_long_distraction():
    tl = build_timeline("drive", seed=0)
    assert 20.0 <= tl.duration_s <= 32.0
    times = np.arange(0, tl.duration_s, 1 / 30)
    zones = {tl.zone(t) for t in times}
    assert set(GAZE_ZONES) <= zones
    assert None in zones  # transits are labelled null
    long = [e for e in tl.episodes if e.kind == "long_distraction"]
    assert len(long) == 1
    ep = long[0]
    assert ep.end_s - ep.start_s >= 3.0
    inside = [tl.zone(t) for t in times if ep.start_s <= t < ep.end_s]
    assert "road" not in inside
    assert tl.zone(ep.start_s - 1e-3) == "road" and tl.zone(ep.end_s + 1e-3) == "road"


def test_vats_episode_timing_is_exact():
    tl = build_timeline("vats", seed=3)
    (ep,) = [e for e in tl.episodes if e.kind == "vats"]
    off = [b - a for a, b in ep.glances]
    assert all(d < 3.0 for d in off), off  # short glances only
    assert sum(off) > 10.0 and ep.end_s - ep.start_s <= 30.0
    # trigger: the cumulative off-road time reaches 10 s there
    acc = 0.0
    for a, b in ep.glances:
        if ep.trigger_s <= b:
            acc += ep.trigger_s - a
            break
        acc += b - a
    assert acc == pytest.approx(10.0, abs=1e-6)
    for a, b in ep.glances:  # off-road exactly between leaving and reaching the road again
        assert tl.zone(a - 1e-3) == "road" and tl.zone(b + 1e-3) == "road"
        assert all(tl.zone(t) != "road" for t in np.linspace(a + 1e-3, b - 1e-3, 20))


def test_sweeps_reach_plus_minus_90():
    s = Scene(seed=3, scenario="sweeps", width=160, height=120)
    ypr = []
    for i in range(0, len(s), 5):
        pose, _ = s.timeline.sample(i / s.fps)
        ypr.append(pose.head_ypr)
    ypr = np.array(ypr)
    assert np.abs(ypr).max(axis=0) == pytest.approx([90, 90, 90], abs=2.0)


def test_source_spec_yields_labelled_framesets():
    with open_source("synthetic:seed=4,frames=3,width=320,height=240,camera=kinect_v2") as src:
        framesets = list(src)
    assert [fs.frame for fs in framesets] == [0, 1, 2]
    fs = framesets[-1]
    assert fs.images["ir"].dtype == np.uint8 and fs.images["ir"].shape == (240, 320)
    assert fs.images["depth"].dtype == np.uint16 and fs.depth_unit_mm == 1.0
    assert fs.intrinsics["ir"] == fs.intrinsics["depth"]
    assert fs.device_ts_ms == pytest.approx(2 * 1000 / 30)
    assert fs.truth["time_s"] == pytest.approx(2 / 30, abs=1e-6) and fs.truth["camera"]["preset"] == "kinect_v2"
    # the frameset survives the wire (truth is JSON)
    back = FrameSet.from_message(decode(encode(fs.to_message({}))))
    np.testing.assert_array_equal(back.images["depth"], fs.images["depth"])
    assert back.truth == json.loads(json.dumps(fs.truth))


def test_default_source_is_the_scripted_drive():
    src = open_source("synthetic")
    assert src.scene.scenario == "drive" and 600 <= len(src) <= 960


@pytest.mark.parametrize("spec", ["synthetic:camera=nope", "synthetic:seed=x", "synthetic:colour=red",
                                  "synthetic:frames=0", "synthetic:loop=maybe"])
def test_bad_options_raise_source_error(spec):
    with pytest.raises(SourceError):
        open_source(spec)


@pytest.mark.parametrize("spec", ["fps=-5", "fps=0", "fps=nan", "fps=inf", "duration=-1", "duration=inf",
                                  "duration=nan"])
def test_rates_must_be_positive_finite_numbers(spec):
    """fps=-5 / duration=-1 failed inside len() ('__len__() should return >= 0'), fps=0 silently
    became the preset's rate and inf overflowed; each now names the option and what was given."""
    with pytest.raises(SourceError, match=f"synthetic option {spec}: must be a positive finite number"):
        open_source(f"synthetic:{spec}")


def test_scene_refuses_a_zero_rate_and_a_zero_width():
    with pytest.raises(ValueError, match="fps must be a positive finite number, got 0"):
        Scene(fps=0)
    with pytest.raises(ValueError, match="image size must be positive, got 0x48"):
        Scene(width=0, height=48)  # 0 used to mean the preset's width
    assert Scene(fps=15, width=64, height=48, duration_s=1).fps == 15 and len(Scene(duration_s=0)) == 0


def test_a_scene_too_short_for_one_frame_names_its_length_and_rate():
    with pytest.raises(SourceError, match=r"the scene has no frames \(0.01 s at 30 fps\)"):
        open_source("synthetic:duration=0.01")
    with pytest.raises(SourceError, match="the scene has no frames"):
        open_source("synthetic:duration=0")


@pytest.mark.parametrize("spec", ["fps=-5", "duration=-1"])
def test_run_monitor_refuses_a_bad_rate_in_one_line(tmp_path, spec):
    from tests.pipeline_helpers import run

    code, output = run(tmp_path / "run", "--source", f"synthetic:{spec}", "--fast", "--max-frames", "5", timeout=60)
    assert code == 2, output
    assert f"error: synthetic option {spec}: must be a positive finite number" in output
    assert "__len__" not in output and "Traceback" not in output and not (tmp_path / "run").exists()


def test_shards_roundtrip(tmp_path):
    from synth.dataset import load_shards, plan, write_dataset

    index = write_dataset(tmp_path, frames=6, seed=1, split="val", per_scene=3, size=(160, 120), masks=True,
                          clean_depth=True, progress=False)
    assert index["frames"] == 6 and len(index["shards"]) == 2
    ds = load_shards(tmp_path, with_labels=True)
    assert len(ds) == 6
    item = ds[4]
    assert item["ir"].shape == (120, 160) and item["depth"].dtype == np.uint16 and item["mask"].shape == (120, 160)
    lb = item["labels"]
    np.testing.assert_allclose(item["head_ypr_deg"], [lb["head"]["yaw_deg"], lb["head"]["pitch_deg"],
                                                      lb["head"]["roll_deg"]], atol=1e-3)
    np.testing.assert_allclose(item["joints_xyz_mm"], lb["joints"]["xyz_mm"], atol=1e-2)
    # regenerating the frame from the index gives the same pixels
    sh = index["shards"][1]
    scene = Scene(seed=sh["scene_seed"], scenario=sh["scenario"], camera=sh["camera"], mount=sh["mount"],
                  width=160, height=120, subject=sh["subject"], duration_s=sh["duration_s"],
                  jitter_scale=sh["jitter_scale"])
    np.testing.assert_array_equal(scene.render(lb["frame"]).ir, item["ir"])
    # held-out splits share no subjects or scene seeds with training, and test adds an unseen mount
    tr, te = plan("train", 0, 5000, 64, ("d435",), ("dashboard", "mirror")), plan("test", 0, 2000, 64, ("d435",),
                                                                                     ("pillar",))
    assert not {p["subject"] for p in tr} & {p["subject"] for p in te}
    assert not {p["scene_seed"] for p in tr} & {p["scene_seed"] for p in te}


def test_dmsrec_export_replays_identical_pixels(tmp_path):
    from synth.export import read_labels, write_dmsrec

    src = open_source("synthetic:seed=6,frames=4,width=320,height=240")
    path = tmp_path / "drive.dmsrec"
    assert write_dmsrec(path, iter(src)) == 4
    replay = list(open_source(str(path)))
    labels = read_labels(path)
    assert len(replay) == 4 and len(labels) == 4
    for fs, lb in zip(replay, labels):
        ref = src.scene.render(fs.frame)
        np.testing.assert_array_equal(fs.images["ir"], ref.ir)
        np.testing.assert_array_equal(fs.images["depth"], ref.depth)
        assert fs.truth == lb == json.loads(json.dumps(ref.labels))


def test_db3_export_plays_back_through_the_realsense_source(tmp_path):
    pytest.importorskip("pyrealsense2")
    pytest.importorskip("monitor.sources.realsense_writer", reason="the RealSense writer is on another branch")
    pytest.importorskip("monitor.sources.realsense", reason="the RealSense source is on another branch")
    from synth.export import read_labels, write_db3

    src = open_source("synthetic:seed=7,frames=5,camera=d435")
    path = tmp_path / "drive.db3"
    assert write_db3(path, iter(src), src.scene.fps) == 5
    replay = list(open_source(str(path)))
    labels = read_labels(path)
    assert len(replay) == 5 and len(labels) == 5
    for fs in replay:
        ref = src.scene.render(fs.frame)
        np.testing.assert_array_equal(fs.images["ir"], ref.ir)
        np.testing.assert_array_equal(fs.images["depth"], ref.depth)
        assert labels[fs.frame]["frame"] == fs.frame


def test_gaze_points_at_the_labelled_zone():
    """At mid-dwell the labelled gaze ray (eyeball midpoint + direction) points at the zone's target."""
    from synth.cabin import GAZE_TARGETS

    s = Scene(seed=9, scenario="gaze", width=160, height=120)
    seen = set()
    for fx in s.timeline.fixations[1:]:
        if fx.leave_s > 1e8:
            continue
        i = int(round((fx.arrive_s + fx.leave_s) / 2 * s.fps))
        lb = s.render(i).labels
        assert lb["gaze_zone"] == fx.target
        o, d = np.array(lb["gaze"]["origin_car_mm"]), np.array(lb["gaze"]["direction_car"])
        v = np.array(GAZE_TARGETS[fx.target].center_mm) - o
        assert np.degrees(np.arccos(np.clip(v / np.linalg.norm(v) @ d, -1, 1))) < 4.0, fx.target
        # the camera-frame copy is the same ray
        r = np.array(lb["camera"]["extrinsics"]["rotation"])
        np.testing.assert_allclose(r @ np.array(lb["gaze"]["direction"]), d, atol=1e-5)
        seen.add(fx.target)
    assert len(seen) == 6


def test_runtime_source_imports_neither_torch_nor_opencv():
    import subprocess
    import sys

    code = ("import sys; from monitor.sources import open_source; "
            "list(open_source('synthetic:frames=1,width=160,height=120')); "
            "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_object_on_the_lens_renders_as_no_depth():
    """Something nearer than the projector's dot pattern can shift (a hand on the lens of a camera
    mounted by the media centre) renders, and reads as no depth (below the sensor's range)."""
    from synth.camera import PRESETS
    from synth.sensors import SensorModel
    sensor = SensorModel(PRESETS["d435"], 64, 48, 60.0, 1.0, 5.0, 0.0, seed=1)
    z = np.full((48, 64), 700.0, np.float32)
    z[-10:, -10:] = 2.0  # a dot shift of 60 * 25 / 2 = 750 px, far past the 200 px margin (last rows)
    depth, ir = sensor.apply(z, np.ones_like(z), np.full_like(z, 0.5), (0, 0))
    assert depth.shape == (48, 64) and ir.dtype == np.uint8
    assert (depth[-10:, -10:] == 0).all() and (depth[:30, :30] > 0).mean() > 0.5


def test_hands_scenario_draws_hand_to_face_actions_of_either_hand():
    """synth's "hands" scenes (training data for the face-cover model): only FACE_HANDS actions, each
    moving its own hand to the face; the hand lands over the face in the labels."""
    from synth.behaviour import FACE_HANDS, LEFT_HAND_ACTIONS
    from train.face_cover_data import hand_covers_face
    scene = Scene(seed=8001, scenario="hands", mount="dashboard")
    kinds = [h.kind for h in scene.timeline.hands]
    assert len(kinds) >= 4 and set(kinds) <= set(FACE_HANDS)
    for action in scene.timeline.hands:
        if action.kind == "phone_to_ear":
            continue
        f = scene.render(int((action.start_s + action.end_s) / 2 * scene.fps))
        side = "Left" if action.kind in LEFT_HAND_ACTIONS else "Right"
        names = f.labels["joints"]["names"]
        hand = np.array(f.labels["joints"]["xyz_mm"][names.index("Hand" + side)])
        assert f.labels["activity"] == action.kind
        assert np.linalg.norm(hand - np.array(f.labels["head"]["position_mm"])) < 200  # at the face
        assert hand_covers_face(f.labels)

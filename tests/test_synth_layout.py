"""The synthetic cabin exported as a cabin layout matches what the generator renders."""
from __future__ import annotations

import numpy as np

from synth.cabin import GAZE_TARGETS
from synth.layout import layout_dict
from synth.scene import Scene


def test_layout_matches_the_scene_and_its_labels():
    d = layout_dict("d435", "dashboard", seed=0, driver_model={"yaw_gain": 1.0, "pitch_gain": 1.0,
                                                                "yaw_offset_deg": 0.0, "pitch_offset_deg": 0.0})
    assert d["format"] == "dms-cabin-layout" and d["version"] == 1
    lb = Scene(seed=0, camera="d435", mount="dashboard", jitter=False, passenger=False).render(0).labels
    np.testing.assert_allclose(d["camera"]["pose"]["rotation"], lb["camera"]["extrinsics"]["rotation"], atol=1e-6)
    np.testing.assert_allclose(d["camera"]["pose"]["position_mm"], lb["camera"]["extrinsics"]["position_mm"], atol=1e-3)
    assert d["camera"]["intrinsics"] == lb["camera"]["intrinsics"]
    zones = {z["name"]: z for z in d["zones"]}
    for name, t in GAZE_TARGETS.items():
        if name == "road":
            assert zones[name]["kind"] == "direction" and zones[name]["direction"][2] > 0.99
        else:
            assert zones[name]["center_mm"] == list(t.center_mm) == lb["cabin"]["targets"][name]["center_mm"]
    # nominal head: the labelled head centre of a driver looking ahead, within micro-motion
    r, p = np.array(lb["camera"]["extrinsics"]["rotation"]), np.array(lb["camera"]["extrinsics"]["position_mm"])
    head_car = r @ np.array(lb["head"]["position_mm"]) + p
    assert np.linalg.norm(head_car - np.array(d["nominal_head_mm"])) < 30.0


def test_fitted_driver_model_reflects_partial_head_turns():
    from synth.layout import fit_driver_model

    m = fit_driver_model(seeds=(0,))
    assert 1.1 < m["yaw_gain"] < 2.5 and 1.1 < m["pitch_gain"] < 2.5

"""Cabin layout files: shipped layouts validate, bad ones fail with a one-line error naming the field."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.layout import CabinLayout, layout_from_dict, load_layout, look_at_rotation

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = sorted((ROOT / "calib" / "layouts").glob("*.json"))
AUTOPOSE_SIX = {"left_mirror", "right_mirror", "rear_mirror", "dashboard", "road", "media_centre"}


@pytest.mark.parametrize("path", LAYOUTS, ids=lambda p: p.name)
def test_shipped_layouts_validate_and_round_trip(path, tmp_path):
    lay = load_layout(path)
    assert isinstance(lay, CabinLayout) and lay.zones
    lay.save(tmp_path / "again.json")
    again = load_layout(tmp_path / "again.json")
    assert again.zone_names == lay.zone_names and again.road_zones == lay.road_zones
    assert np.allclose(again.camera_pose.rotation, lay.camera_pose.rotation, atol=1e-8)
    assert np.allclose(again.camera_pose.position_mm, lay.camera_pose.position_mm)


def test_synthetic_layout_is_autopose_six_and_is_the_generators_geometry():
    from synth.layout import layout_dict
    shipped = json.loads((ROOT / "calib/layouts/synthetic_cabin.json").read_text())
    assert shipped == layout_dict(), "run: python -m synth.layout --out calib/layouts/synthetic_cabin.json"
    assert set(load_layout(ROOT / "calib/layouts/synthetic_cabin.json").zone_names) == AUTOPOSE_SIX
    assert set(load_layout(ROOT / "calib/layouts/real_car_template.json").zone_names) == AUTOPOSE_SIX
    assert len(load_layout(ROOT / "calib/layouts/dmd_nine_zones.json").zones) == 9


def test_look_at_rotation_is_a_camera_looking_at_the_target():
    pos, target = np.array([60.0, -390.0, 580.0]), np.array([0.0, -640.0, -120.0])
    r = look_at_rotation(pos, target)
    assert np.allclose(r.T @ r, np.eye(3)) and np.linalg.det(r) > 0
    z = (target - pos) / np.linalg.norm(target - pos)
    assert np.allclose(r[:, 2], z)
    assert r[1, 1] > 0  # image down points roughly down the car (y down)


def _base():
    return json.loads((ROOT / "calib/layouts/synthetic_cabin.json").read_text())


def _zi(name):
    """Index of a zone of the shipped synthetic layout (the generator decides the order)."""
    return [z["name"] for z in _base()["zones"]].index(name)


def _set(d, path, value):
    d = copy.deepcopy(d)
    node = d
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


BAD = [
    (("format",), "yaml-layout", "format: must be"),
    (("version",), 7, "version: must be 1"),
    (("units",), "inch", "units: must be 'mm'"),
    (("camera", "intrinsics", "fx"), -5, "camera.intrinsics"),
    (("camera", "pose", "look_at_mm"), [0, -650, 0], "give exactly one of"),   # both forms
    (("camera", "pose", "rotation"), KeyError, "give exactly one of"),        # neither
    (("camera", "pose", "position_mm"), [1, 2], "camera.pose.position_mm: must be a list of 3 numbers"),
    (("nominal_head_mm",), "centre", "nominal_head_mm"),
    (("zones",), [], "zones: must be a non-empty list"),
    (("zones", _zi("left_mirror"), "kind"), "cone", rf"zones\[{_zi('left_mirror')}\] \(left_mirror\)\.kind: must be one of"),
    (("zones", _zi("left_mirror"), "size_mm"), [200, -1], rf"zones\[{_zi('left_mirror')}\] \(left_mirror\)\.size_mm"),
    (("zones", _zi("left_mirror"), "name"), "road", "duplicate zone names"),
    (("zones", _zi("left_mirror"), "name"), "other", "reserved"),
    (("zones", _zi("road"), "half_angel_deg"), 5, rf"zones\[{_zi('road')}\] \(road\): unknown field"),
    (("zones", _zi("road"), "direction"), [0, 0, 0], "must not be zero"),
    (("road_zones",), ["highway"], "road_zones: must list zones that exist"),
    (("driver_model", "yaw_gain"), 50, "driver_model: gains"),
    (("driver_model", "corrections"), {"zone": "road"}, "driver_model.corrections: must be a list"),
    (("driver_model", "corrections", 0, "zone"), "sunroof", r"driver_model.corrections\[0\].zone: must name a zone"),
    (("driver_model", "corrections", 0, "correction_deg"), [40, 0], r"corrections\[0\].correction_deg: corrections beyond"),
    (("driver_model", "corrections", 0, "head_deg"), [1], r"corrections\[0\].head_deg: must be a list of 2"),
    (("driver_model", "corrections", 1, "zone"), "left_mirror", "one correction per zone"),
    (("scoring",), {"sigma_deg": 0}, "scoring: sigma_deg"),
    (("camera", "exposure"), 3, "camera: unknown field"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[m for _, _, m in BAD])
def test_invalid_layouts_give_one_line_errors(path, value, message):
    with pytest.raises(ValueError, match=message) as err:
        layout_from_dict(_set(_base(), path, value), "cabin.json")
    text = str(err.value)
    assert "\n" not in text and text.startswith("cabin.json: ")


def test_bad_rotation_and_bad_files(tmp_path):
    d = _set(_base(), ("camera", "pose", "rotation"), [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
    with pytest.raises(ValueError, match="camera.pose.rotation: is not a rotation matrix"):
        layout_from_dict(d, "x.json")
    with pytest.raises(ValueError, match="layout file not found"):
        load_layout(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text('{"format": "dms-cabin-layout",\n "version": 1,,}')
    with pytest.raises(ValueError, match=r"broken.json: not valid JSON \(line 2"):
        load_layout(tmp_path / "broken.json")


def test_cli_layout_check(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "calib", "layout-check", str(ROOT / "calib/layouts/dmd_nine_zones.json")],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "9 zones" in ok.stdout and "steering_wheel" in ok.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_set(_base(), ("zones", _zi("right_mirror"), "kind"), "cone")))
    p = subprocess.run([sys.executable, "-m", "calib", "layout-check", str(bad)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and f"zones[{_zi('right_mirror')}] (right_mirror).kind" in p.stderr


def test_default_driver_corrections_round_trip_and_reach_the_classifier():
    """The synthetic cabin's per-zone corrections load, save unchanged, and the classifier applies
    them for the default model only (a driver calibration brings its own model and corrections)."""
    from calib.driver_calibration import DriverCalibration  # noqa: F401 - the type the stage passes
    from calib.layout import HeadGazeModel
    from monitor.gaze import GazeZoneClassifier
    lay = layout_from_dict(_base(), "cabin.json")
    assert {c.zone for c in lay.driver_corrections} == set(lay.zone_names)
    assert layout_from_dict(json.loads(json.dumps(lay.to_dict())), "again.json").driver_corrections == lay.driver_corrections
    rows = lay.correction_rows()
    assert rows.shape == (6, 4)
    default = GazeZoneClassifier(lay)
    np.testing.assert_array_equal(default.corrections, rows)
    assert GazeZoneClassifier(lay, model=HeadGazeModel(1.2, 1.3)).corrections is None
    # exact at each corrected head direction: the linear model plus that zone's correction
    m = lay.driver_model
    largest = np.abs(rows[:, 2:]).max()
    for c in lay.driver_corrections:
        az, el = default.gaze_angles(c.head_deg)
        lin = (m.yaw_offset_deg + m.yaw_gain * c.head_deg[0], m.pitch_offset_deg + m.pitch_gain * c.head_deg[1])
        # the zone's own row dominates (inverse-square weights, 2 deg softening); a neighbour a few
        # degrees away (road and dashboard: 5.8 deg) still pulls by up to ~10 % of its correction
        assert abs(az - lin[0] - c.correction_deg[0]) <= 0.15 * largest, c
        assert abs(el - lin[1] - c.correction_deg[1]) <= 0.15 * largest, c
        # and head_angles_for inverts the whole model
        back = default.gaze_angles(default.head_angles_for((az, el)))
        assert np.allclose(back, (az, el), atol=1e-3)

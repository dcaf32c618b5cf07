"""Per-driver gaze calibration: a "lizard" driver (head turns less than the default model assumes)
is classified better after a calibration session; both accuracies are printed."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calib.driver_calibration import CalibrationSession, DriverCalibration
from calib.layout import load_layout
from monitor.gaze import GazeZoneClassifier
from gaze_fakes import looking_at

ROOT = Path(__file__).resolve().parents[1]
LIZARD_OF_DEFAULT = (0.5, 0.6)  # the head turns 50% (azimuth) / 60% (elevation) of what the default assumes
FPS = 30


@pytest.fixture(scope="module")
def layout():
    return load_layout(ROOT / "calib/layouts/synthetic_cabin.json")


def default_share(layout):
    """Head share of the gaze that the layout's default driver model assumes (gaze = gain x head)."""
    return (1 / layout.driver_model.yaw_gain, 1 / layout.driver_model.pitch_gain)


def lizard_share(layout):
    return tuple(d * f for d, f in zip(default_share(layout), LIZARD_OF_DEFAULT))


def session_for(layout, share, seed, noise_deg=2.0):
    """Run the timed protocol: every target for 4 s (1 s settling), with pose noise and head sway."""
    rng = np.random.default_rng(seed)
    session = CalibrationSession(layout)
    seat = layout.nominal_head_mm + rng.normal(0, 30, 3)  # this driver's seat position
    for prompt in session.schedule(t0_s=10.0):
        for k in range(int((prompt.end_s - prompt.start_s) * FPS)):
            head = seat + rng.normal(0, 10, 3)
            session.add(looking_at(layout, prompt.target, head, share, noise_deg, rng), prompt.start_s + k / FPS)
    return session


def accuracy(layout, clf, share, seed, n=150, noise_deg=2.0):
    rng = np.random.default_rng(seed)
    seat = layout.nominal_head_mm + rng.normal(0, 30, 3)
    hits = total = 0
    for zone in layout.zone_names:
        for _ in range(n):
            est = looking_at(layout, zone, seat + rng.normal(0, 10, 3), share, noise_deg, rng)
            hits += clf.classify(est.head).zone == zone
            total += 1
    return hits / total


def test_calibration_helps_a_lizard_driver(layout):
    LIZARD = lizard_share(layout)
    cal = session_for(layout, LIZARD, seed=1).fit("lizard")
    default_acc = accuracy(layout, GazeZoneClassifier(layout), LIZARD, seed=2)
    calibrated_acc = accuracy(layout, GazeZoneClassifier(layout, cal.model), LIZARD, seed=2)
    m = cal.model
    print(f"\nlizard driver (head share {LIZARD[0]:.2f}/{LIZARD[1]:.2f}): zone accuracy default {default_acc:.3f} -> calibrated "
          f"{calibrated_acc:.3f}; fitted gains yaw {m.yaw_gain:.2f} pitch {m.pitch_gain:.2f}; "
          f"target RMS {cal.rms_residual_default_deg:.1f} -> {cal.rms_residual_deg:.1f} deg")
    assert abs(m.yaw_gain * LIZARD[0] - 1) < 0.1 and abs(m.pitch_gain * LIZARD[1] - 1) < 0.15
    assert calibrated_acc >= 0.95 and calibrated_acc - default_acc >= 0.2
    assert cal.rms_residual_deg < cal.rms_residual_default_deg / 3


def test_calibration_keeps_a_normal_driver_accurate(layout):
    cal = session_for(layout, default_share(layout), seed=3).fit("owl")
    default = layout.driver_model  # a driver who behaves as the default model assumes gets its gains back
    assert abs(cal.model.yaw_gain - default.yaw_gain) < 0.1 and abs(cal.model.pitch_gain - default.pitch_gain) < 0.15
    acc_default = accuracy(layout, GazeZoneClassifier(layout), default_share(layout), seed=4)
    acc_cal = accuracy(layout, GazeZoneClassifier(layout, cal.model), default_share(layout), seed=4)
    print(f"\nnormal driver: default {acc_default:.3f}, calibrated {acc_cal:.3f}")
    assert acc_cal >= acc_default - 0.02


def test_save_load_roundtrip(layout, tmp_path):
    cal = session_for(layout, lizard_share(layout), seed=5).fit("lizard")
    cal.save(tmp_path / "drivers" / "lizard.json")
    back = DriverCalibration.load(tmp_path / "drivers" / "lizard.json")
    assert back.driver_id == "lizard" and back.layout_name == "synthetic_cabin"
    assert back.model.yaw_gain == pytest.approx(cal.model.yaw_gain) and set(back.targets) == set(layout.zone_names)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a driver calibration"):
        DriverCalibration.load(tmp_path / "bad.json")


def test_bad_sessions(layout):
    with pytest.raises(ValueError, match="not a target"):
        CalibrationSession(layout).add_labelled("glovebox", looking_at(layout, "road"))
    with pytest.raises(ValueError, match="no zone 'glovebox'"):
        CalibrationSession(layout, targets=("road", "glovebox"))
    s = CalibrationSession(layout)
    for _ in range(20):
        s.add_labelled("road", looking_at(layout, "road"))
    with pytest.raises(ValueError, match="too few samples"):
        s.fit("x")
    # a driver who kept looking at the road whatever the prompt: the fit is refused
    rng = np.random.default_rng(0)
    s = CalibrationSession(layout)
    for target in layout.zone_names:
        for _ in range(20):
            s.add_labelled(target, looking_at(layout, "road", noise_deg=1.0, rng=rng))
    with pytest.raises(ValueError, match="implausible"):
        s.fit("x")


def test_cli_driver_calibrate(layout, tmp_path):
    rng = np.random.default_rng(7)
    lines = []
    for target in layout.zone_names:
        for k in range(40):
            est = looking_at(layout, target, None, lizard_share(layout), 1.5, rng)
            lines.append(json.dumps({"t_s": k / FPS, "target": target, "estimates": est.to_json()}))
    (tmp_path / "session.jsonl").write_text("\n".join(lines) + "\n")
    p = subprocess.run([sys.executable, "-m", "calib", "driver-calibrate", "--layout",
                        str(ROOT / "calib/layouts/synthetic_cabin.json"), "--session", str(tmp_path / "session.jsonl"),
                        "--driver", "lizard", "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "yaw gain" in p.stdout and (tmp_path / "lizard.json").is_file()
    fitted = DriverCalibration.load(tmp_path / "lizard.json").model
    assert abs(fitted.yaw_gain * lizard_share(layout)[0] - 1) < 0.1  # gain = 1 / head share


def test_per_target_corrections_are_exact_at_the_calibrated_head_directions(layout):
    cal = session_for(layout, lizard_share(layout), seed=11).fit("lizard")
    corrected = GazeZoneClassifier(layout, cal.model, cal.corrections())
    for name, t in cal.targets.items():
        az, el = corrected.gaze_angles(t.head_deg)
        # at a target's own head direction the other targets' residuals weigh little
        assert abs(az - t.target_deg[0]) < 0.5 and abs(el - t.target_deg[1]) < 0.5, name
    assert cal.corrections().shape == (len(layout.zone_names), 4)
    assert DriverCalibration.from_json(cal.to_json()).corrections() == pytest.approx(cal.corrections(), abs=1e-2)


def test_cli_pools_sessions_recorded_with_different_mounts(layout, tmp_path):
    """Population calibration: sessions of two drivers, each seen by its own camera mount; the
    pooled fit recovers the shared head share, and a layout count that fits neither is refused."""
    from calib.layout import CameraPose, look_at_rotation
    rng = np.random.default_rng(8)
    pillar_pos = np.array([-650.0, -700.0, 700.0])
    pillar = CameraPose(look_at_rotation(pillar_pos, layout.nominal_head_mm), pillar_pos)
    args = []
    for name, pose in (("dash", layout.camera_pose), ("pillar", pillar)):
        lay = layout.with_camera_pose(pose)
        lay.save(tmp_path / f"{name}_layout.json")
        lines = [json.dumps({"t_s": k / FPS, "target": target,
                             "estimates": looking_at(lay, target, None, lizard_share(layout), 1.5, rng,
                                                     camera=pose).to_json()})
                 for target in layout.zone_names for k in range(25)]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        args.append(name)
    cmd = [sys.executable, "-m", "calib", "driver-calibrate", "--driver", "population", "--out-dir", str(tmp_path),
           "--session", *(str(tmp_path / f"{n}.jsonl") for n in args)]
    p = subprocess.run([*cmd, "--layout", *(str(tmp_path / f"{n}_layout.json") for n in args),
                        "--layout-default", str(tmp_path / "population_layout.json")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    population = DriverCalibration.load(tmp_path / "population.json")
    fitted = population.model
    # --layout-default: the first layout (its camera) with the pooled fit as default driver model;
    # an uncalibrated classifier on it then maps head to gaze exactly as the calibration does
    pooled_layout = load_layout(tmp_path / "population_layout.json")
    assert pooled_layout.camera_pose.to_dict() == layout.camera_pose.to_dict()
    assert pooled_layout.driver_model.to_dict() == pytest.approx(fitted.to_dict(), abs=1e-3)
    assert [c.zone for c in pooled_layout.driver_corrections] == list(population.targets)
    default, calibrated = GazeZoneClassifier(pooled_layout), GazeZoneClassifier(layout, fitted, population.corrections())
    for t in population.targets.values():
        assert default.gaze_angles(t.head_deg) == pytest.approx(calibrated.gaze_angles(t.head_deg), abs=0.02)
    assert abs(fitted.yaw_gain * lizard_share(layout)[0] - 1) < 0.1
    assert abs(fitted.pitch_gain * lizard_share(layout)[1] - 1) < 0.15
    # read through the dashboard mount only, the pillar driver's samples point elsewhere: worse fit
    assert abs(fitted.yaw_offset_deg) < 3.0
    wrong = subprocess.run([*cmd, "--layout", str(tmp_path / "dash_layout.json")], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 0, wrong.stderr
    assert abs(DriverCalibration.load(tmp_path / "population.json").model.yaw_offset_deg) > 10.0
    other = layout.to_dict()
    other["nominal_head_mm"] = [0.0, -600.0, 0.0]
    (tmp_path / "other_layout.json").write_text(json.dumps(other))
    mixed = subprocess.run([*cmd, "--layout", str(tmp_path / "dash_layout.json"), str(tmp_path / "other_layout.json")],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert mixed.returncode != 0 and "another cabin" in mixed.stderr
    three = subprocess.run([*cmd, "--layout", *(str(tmp_path / "dash_layout.json") for _ in range(3))], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert three.returncode != 0 and "one per session" in three.stderr



def _session_file(layout, path, n=40, seed=7):
    rng = np.random.default_rng(seed)
    path.write_text("".join(json.dumps({"t_s": k / FPS, "target": target, "estimates":
                                        looking_at(layout, target, None, lizard_share(layout), 1.5, rng).to_json()}) + "\n"
                            for target in layout.zone_names for k in range(n)))
    return path


def _calibrate(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "calib", "driver-calibrate", "--layout",
                           str(ROOT / "calib/layouts/synthetic_cabin.json"), "--session", str(tmp_path / "session.jsonl"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_outputs_that_cannot_be_written_are_one_line_errors(layout, tmp_path):
    """--out-dir naming a file was a FileExistsError traceback; a --layout-default that cannot be
    written left the driver file (and its new folder) behind. Now: exit 2, one line, nothing written."""
    _session_file(layout, tmp_path / "session.jsonl", n=15)
    (tmp_path / "FILE").write_text("keep")
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in (
            (["--out-dir", str(tmp_path / "FILE")], (f"error: {tmp_path / 'FILE'}: cannot make the folder "
                                                     "(a file of that name exists); choose another --out-dir")),
            (["--out-dir", str(tmp_path / "FILE" / "sub")], f"error: {tmp_path / 'FILE' / 'sub'}: cannot make"),
            (["--out-dir", str(tmp_path / "new" / "drivers"), "--layout-default", str(tmp_path / "FILE" / "l.json")],
             f"error: {tmp_path / 'FILE' / 'l.json'}: cannot write (Not a directory); choose another --layout-default")):
        p = _calibrate(tmp_path, "--driver", "d", *args)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.splitlines()[-1].startswith(message), p.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "FILE").read_text() == "keep"


@pytest.mark.parametrize("driver", ["../../x", "../x", "{tmp}/abs/x", "a/b", ".hidden", "..", "", "x y", "x\\y"])
def test_cli_refuses_a_driver_id_that_is_not_a_plain_name(layout, tmp_path, driver):
    """--driver names DRIVER.json in --out-dir: '../../x' wrote outside it."""
    driver = driver.format(tmp=tmp_path)  # an absolute path, kept inside tmp_path should it be written
    _session_file(layout, tmp_path / "session.jsonl", n=15)
    out = tmp_path / "a" / "b"
    p = _calibrate(tmp_path, "--driver", driver, "--out-dir", str(out))
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith(f"error: driver id {driver!r} must be a plain name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.jsonl"]


@pytest.mark.parametrize("driver", ["alice", "driver_07", "S-3", "a.b", "3"])
def test_plain_driver_ids_are_accepted(driver):
    from calib.driver_calibration import check_driver_id
    assert check_driver_id(driver) == driver


def test_the_report_scores_both_models_as_the_runtime_maps_head_to_gaze(layout, tmp_path):
    """The default model was scored with its per-target corrections, the calibration by its linear
    part alone, though the runtime applies the calibration's corrections too: a good calibration
    could be reported as making things worse. Both are now what GazeStateStage uses, without and
    with the calibration, at the medians and over every sample of the session."""
    from calib.driver_calibration import _angle_err
    from monitor.gaze.stage import GazeStateConfig, GazeStateStage
    session = session_for(layout, lizard_share(layout), seed=11)
    cal = session.fit("lizard")
    runtime = {"default": GazeStateStage(layout).classifier,
               "calibrated": GazeStateStage(layout, cal).classifier,
               "linear": GazeStateStage(layout, cal, GazeStateConfig(per_target_corrections=False)).classifier}
    assert runtime["calibrated"].corrections is not None and runtime["default"].corrections is not None

    def err(which, head, target):
        return _angle_err(runtime[which].gaze_angles(tuple(head)), np.asarray(target))

    sq = {k: [] for k in runtime}
    for name, t in cal.targets.items():
        assert t.residual_default_deg == pytest.approx(err("default", t.head_deg, t.target_deg), abs=1e-9)
        assert t.residual_deg == pytest.approx(err("calibrated", t.head_deg, t.target_deg), abs=1e-9)
        for which, value in (("default", t.frames_default_deg), ("calibrated", t.frames_deg),
                             ("linear", t.frames_linear_deg)):
            e = [err(which, h, g) ** 2 for h, g in session._samples[name]]
            assert value == pytest.approx(np.sqrt(np.mean(e)), abs=1e-9)
            sq[which] += e
    for which in runtime:
        assert cal.frames_rms(which) == pytest.approx(np.sqrt(np.mean(sq[which])), abs=1e-9)
    assert cal.rms_residual_deg < 1.0 and cal.frames_rms("calibrated") < cal.frames_rms("default")
    # a loaded file has no samples to score: the per-sample figures are not saved (format unchanged)
    assert DriverCalibration.from_json(cal.to_json()).frames_rms("calibrated") is None
    assert set(cal.to_json()["targets"]["road"]) == {"n", "head_deg", "target_deg", "residual_default_deg",
                                                      "residual_deg"}
    # the command's report says which is which, with the same figures
    _session_file(layout, tmp_path / "session.jsonl")
    p = _calibrate(tmp_path, "--driver", "lizard", "--out-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    cal = DriverCalibration.load(tmp_path / "lizard.json")
    assert ("without calibration: the layout's default model and its corrections; with: this fit and its "
            "per-target corrections" in p.stdout)
    assert (f"(RMS over targets): without {cal.rms_residual_default_deg:.2f} deg -> with {cal.rms_residual_deg:.2f} deg"
            in p.stdout)
    assert "over its 240 samples (RMS): without" in p.stdout

"""Synthetic labels checked against the rendered pixels (not just shapes)."""
from __future__ import annotations

import numpy as np
import pytest

from monitor.estimates import JOINTS_21, KINECT_V2_JOINTS
from monitor.geometry import euler_to_matrix, matrix_to_euler, project
from synth.scene import Scene

# (seed, camera, mount, scenario, frames): views, sensors and behaviours that differ
CASES = [
    (1, "d435", "dashboard", "drive", (0, 200, 640)),
    (2, "kinect_v2", "mirror", "activities", (60, 200, 400)),
    (3, "autopose_ir", "dashboard", "sweeps", (30, 120, 330)),
    (4, "d435", "pillar", "gaze", (45, 300)),
    (5, "d435", "console", "drive", (60, 650)),  # 650: inside the reach to the media centre
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[1]}-{c[2]}-{c[3]}")
def rendered(request):
    seed, camera, mount, scenario, frames = request.param
    scene = Scene(seed=seed, camera=camera, mount=mount, scenario=scenario)
    return scene, [scene.render(i) for i in frames]


def test_label_dict_has_the_documented_keys(rendered):
    _, frames = rendered
    lb = frames[0].labels
    for key in ("head", "joints", "gaze_zone", "activity", "episode", "episodes", "time_s", "camera", "cabin"):
        assert key in lb
    assert lb["joints"]["names"][:21] == list(JOINTS_21)
    assert lb["joints"]["names"] == list(KINECT_V2_JOINTS)
    assert set(lb["cabin"]["targets"]) == {"left_mirror", "right_mirror", "rear_mirror", "dashboard", "road",
                                           "media_centre"}


def test_3d_joints_project_onto_2d_joints(rendered):
    scene, frames = rendered
    k = scene.intrinsics
    for f in frames:
        xyz = np.array(f.labels["joints"]["xyz_mm"])
        uv = np.array(f.labels["joints"]["uv"], dtype=float)  # None (behind the camera) -> nan
        front = xyz[:, 2] > 100.0
        assert np.isnan(uv[~front]).all() and np.isfinite(uv[front]).all()
        np.testing.assert_allclose(project(xyz[front], k.fx, k.fy, k.cx, k.cy), uv[front], atol=0.02, rtol=1e-5)


def test_depth_at_visible_joints_matches_3d_labels(rendered):
    """Sensor depth at each visible joint's pixel equals the labelled surface depth along that
    joint's ray within the sensor noise; the surface lies in front of the joint by a limb radius."""
    scene, frames = rendered
    checked = 0
    for f in frames:
        j = f.labels["joints"]
        xyz = np.array(j["xyz_mm"])
        for n, uv in enumerate(j["uv"]):
            if not j["visible"][n]:
                continue
            u, v = np.round(uv).astype(int)
            surface = j["surface_z_mm"][n]
            assert 0 <= xyz[n, 2] - surface < 200, KINECT_V2_JOINTS[n]
            # noise-free depth: the same surface, up to the half-pixel offset of the pixel centre
            clean = f.depth_clean[v, u]
            assert abs(clean - surface) < 12.0, (KINECT_V2_JOINTS[n], clean, surface)
            measured = int(f.depth[v, u])
            if measured == 0:  # a hole (edge, grazing angle, out of range): no measurement to compare
                continue
            tol = 4 * float(scene.sensor.depth_sigma_mm(surface)) + 12.0
            assert abs(measured - surface) < tol, (KINECT_V2_JOINTS[n], measured, surface, tol)
            checked += 1
    assert checked >= 5


def test_depth_at_head_centre_matches_head_label(rendered):
    scene, frames = rendered
    k = scene.intrinsics
    checked = 0
    for f in frames:
        h = f.labels["head"]
        u, v = np.round(h["center_px"]).astype(int)
        if not (0 <= u < k.width and 0 <= v < k.height) or h["surface_z_mm"] is None:
            continue
        z = h["position_mm"][2]
        # the face surface (nose bridge / brow / eyelids) lies just in front of the eye-corner centre
        # when the face is towards the camera; turned away, the ray meets the side or back of the head
        assert -220 < h["surface_z_mm"] - z < 5
        if abs(f.depth_clean[v, u] - h["surface_z_mm"]) < 1.0 and f.depth[v, u]:
            tol = 4 * float(scene.sensor.depth_sigma_mm(z)) + 3.0
            assert abs(int(f.depth[v, u]) - h["surface_z_mm"]) < tol
            checked += 1
    assert checked >= 1


def test_head_axes_follow_autopose(rendered):
    """x: centre -> left eye; y: towards the mean of the nose and mouth corners (orthogonal to x);
    z = x cross y (out of the back of the head); Euler angles are those of monitor.geometry."""
    _, frames = rendered
    for f in frames:
        h = f.labels["head"]
        r = np.array(h["rotation"])
        c = np.array(h["position_mm"])
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-5)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
        lm = {k: np.array(v) for k, v in h["landmarks_mm"].items()}
        corners = [lm[k] for k in ("eye_left_outer", "eye_left_inner", "eye_right_inner", "eye_right_outer")]
        np.testing.assert_allclose(np.mean(corners, axis=0), c, atol=0.01)
        to_left_eye = (lm["eye_left_outer"] + lm["eye_left_inner"]) / 2 - c
        assert to_left_eye / np.linalg.norm(to_left_eye) @ r[:, 0] > 0.9999
        left_eyeball = np.array(h["eyes_mm"][0]) - c
        assert left_eyeball / np.linalg.norm(left_eyeball) @ r[:, 0] > 0.99
        down = np.mean([lm[k] for k in ("nose_left", "nose_right", "mouth_left", "mouth_right")], axis=0) - c
        down -= (down @ r[:, 0]) * r[:, 0]
        assert down / np.linalg.norm(down) @ r[:, 1] > 0.9999
        np.testing.assert_allclose(np.cross(r[:, 0], r[:, 1]), r[:, 2], atol=1e-5)
        yaw, pitch, roll = h["yaw_deg"], h["pitch_deg"], h["roll_deg"]
        assert (yaw, pitch, roll) == pytest.approx(matrix_to_euler(r), abs=1e-3)
        np.testing.assert_allclose(euler_to_matrix(yaw, pitch, roll), r, atol=1e-4)


def test_head_centre_pixel_is_the_projected_position(rendered):
    scene, frames = rendered
    k = scene.intrinsics
    for f in frames:
        h = f.labels["head"]
        np.testing.assert_allclose(project(np.array(h["position_mm"]), k.fx, k.fy, k.cx, k.cy), h["center_px"],
                                   atol=0.01)


def test_frontal_face_has_near_identity_rotation():
    """Looking at a camera straight ahead of the face gives R ~ I (the AutoPOSE convention): a
    dashboard camera on the driver's axis sees a road-facing driver nearly frontally."""
    scene = Scene(seed=11, camera="d435", mount="dashboard", jitter=False)
    f = scene.render(0)
    assert f.labels["gaze_zone"] == "road"
    yaw, pitch, roll = f.labels["head"]["yaw_deg"], f.labels["head"]["pitch_deg"], f.labels["head"]["roll_deg"]
    assert abs(yaw) < 8 and abs(roll) < 8 and abs(pitch) < 20
    # the nose is closer to the camera than the eye corners when facing it
    lm = f.labels["head"]["landmarks_mm"]
    assert lm["nose_left"][2] < f.labels["head"]["position_mm"][2] + 10


def test_instance_mask_marks_the_driver_at_visible_joints(rendered):
    _, frames = rendered
    for f in frames:
        j = f.labels["joints"]
        names = f.labels["mask_labels"]
        for n, uv in enumerate(j["uv"]):
            if j["visible"][n]:
                u, v = np.round(uv).astype(int)
                assert names[f.mask[v, u]] in ("driver", "accessory"), KINECT_V2_JOINTS[n]


def test_euler_signs_match_the_image():
    """Positive yaw turns the face to image left, positive pitch tips it down, positive roll tilts
    the top of the head to image right (monitor/geometry.py), seen by a camera in front."""
    scene = Scene(seed=3, camera="autopose_ir", mount="dashboard", scenario="sweeps", jitter=False, width=376, height=240)
    k = scene.intrinsics
    checked = set()
    for i in range(0, len(scene), 15):
        lb = scene.render(i).labels
        h = lb["head"]
        lm = {n: project(np.array(p), k.fx, k.fy, k.cx, k.cy) for n, p in h["landmarks_mm"].items()}
        c = np.array(h["center_px"])
        # a point 100 mm in front of the face (along -z of the head frame)
        front = project(np.array(h["position_mm"]) - np.array(h["rotation"])[:, 2] * 100.0, k.fx, k.fy, k.cx, k.cy)
        if lb["activity"] == "sweep_yaw" and abs(h["yaw_deg"]) > 30:
            assert np.sign(c[0] - front[0]) == np.sign(h["yaw_deg"])
            checked.add("yaw")
        if lb["activity"] == "sweep_pitch" and abs(h["pitch_deg"]) > 40:
            assert np.sign(front[1] - c[1]) == np.sign(h["pitch_deg"])
            checked.add("pitch")
        if lb["activity"] == "sweep_roll" and abs(h["roll_deg"]) > 30:
            eye_l = (lm["eye_left_outer"] + lm["eye_left_inner"]) / 2
            eye_r = (lm["eye_right_outer"] + lm["eye_right_inner"]) / 2
            assert np.sign(eye_l[1] - eye_r[1]) == np.sign(h["roll_deg"])
            checked.add("roll")
    assert checked == {"yaw", "pitch", "roll"}

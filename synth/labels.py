"""Per-frame truth as a JSON-able dict; every key, unit and convention is in docs/labels.md."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from monitor.estimates import KINECT_V2_JOINTS
from monitor.geometry import matrix_to_euler, project
from synth.cabin import cabin_layout_json
from synth.primitives import LABEL_ACCESSORY, LABEL_DRIVER, LABEL_NAMES, NEAR_MM, cast_each_exact

if TYPE_CHECKING:
    from synth.occupant import Body
    from synth.scene import Scene

LABELS_VERSION = 1
VISIBLE_TOL_MM = 10.0
SURFACE_REACH_MM = 170.0  # the joint's own surface lies within this distance of the joint  # a joint is occluded when something lies more than this in front of its surface


def _r(a: np.ndarray, nd: int = 3) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def make_labels(scene: "Scene", index: int, t: float, body: "Body", cam_prims: list, info: dict,
                clean_depth: np.ndarray, mask: np.ndarray) -> dict:
    k = scene.intrinsics
    r, tr = scene.r_cam_car, scene.t_cam_car
    cam = lambda p: (r @ np.asarray(p).T).T + tr  # noqa: E731 - car -> camera for (..., 3)

    # joints: camera frame, pixels, surface depth along each joint's ray, visibility
    xyz = cam(body.joints)
    uv = project(xyz, k.fx, k.fy, k.cx, k.cy)
    du = (uv[:, 0] - k.cx) / k.fx
    dv = (uv[:, 1] - k.cy) / k.fy
    surface = np.full(len(xyz), np.inf)
    owned = sorted({i for owner in body.owners for i in owner})
    hits = cast_each_exact([cam_prims[i] for i in owned], du, dv)  # (n_owned, K)
    row = {i: n for n, i in enumerate(owned)}
    ray_len = np.sqrt(du * du + dv * dv + 1.0)
    for j, owner in enumerate(body.owners):
        for i in owner:
            hit_z = float(hits[row[i], j])
            # a hit far from the joint is the far end of a limb seen end-on, not the joint's surface
            if (xyz[j, 2] - hit_z) * ray_len[j] < SURFACE_REACH_MM:
                surface[j] = min(surface[j], hit_z)
    ui = np.round(uv).astype(int)
    inside = (xyz[:, 2] > NEAR_MM) & (ui[:, 0] >= 0) & (ui[:, 0] < k.width) & (ui[:, 1] >= 0) & (ui[:, 1] < k.height)
    seen = np.zeros(len(xyz), bool)
    for j in np.flatnonzero(inside & np.isfinite(surface)):
        d = clean_depth[ui[j, 1], ui[j, 0]]
        own = mask[ui[j, 1], ui[j, 0]] in (LABEL_DRIVER, LABEL_ACCESSORY)
        seen[j] = own and d > 0 and d > surface[j] - VISIBLE_TOL_MM

    # head: AutoPOSE head frame in camera coordinates
    rot = r @ body.head_rotation
    pos = r @ body.head_center + tr
    yaw, pitch, roll = matrix_to_euler(rot)
    c_uv = project(pos, k.fx, k.fy, k.cx, k.cy)
    head_surface = float(cast_each_exact([cam_prims[i] for i in body.head_prims],
                                         np.array([(c_uv[0] - k.cx) / k.fx]), np.array([(c_uv[1] - k.cy) / k.fy])).min())
    eyes = cam(body.eye_centers)
    gaze_o = eyes.mean(axis=0)
    gaze_d = r @ body.gaze_dir
    ypr_car = matrix_to_euler(np.diag([-1.0, 1.0, -1.0]) @ body.head_rotation)
    eps = [e.to_json() for e in scene.timeline.episodes]
    return {
        "version": LABELS_VERSION,
        "frame": index,
        "time_s": round(t, 6),
        "seed": scene.seed,
        "scenario": scene.scenario,
        "subject": {"id": scene.subject.subject_id, "glasses": scene.subject.glasses, "scarf": scene.subject.scarf,
                    "cap": scene.subject.cap, "long_hair": scene.subject.long_hair},
        "head": {
            "rotation": _r(rot, 6),
            "position_mm": _r(pos),
            "yaw_deg": round(yaw, 4), "pitch_deg": round(pitch, 4), "roll_deg": round(roll, 4),
            "center_px": _r(c_uv),
            "surface_z_mm": round(head_surface, 3) if np.isfinite(head_surface) else None,
            "ypr_car_deg": [round(a, 4) for a in ypr_car],
            "eyes_mm": _r(eyes),
            "landmarks_mm": {name: _r(cam(p)) for name, p in body.landmarks.items() if name.startswith(("eye_", "nose_", "mouth_"))},
        },
        "joints": {
            "names": list(KINECT_V2_JOINTS),
            "uv": [p if z > NEAR_MM else [None, None] for p, z in zip(_r(uv), xyz[:, 2])],
            "xyz_mm": _r(xyz),
            "surface_z_mm": [round(float(s), 3) if np.isfinite(s) else None for s in surface],
            "visible": seen.tolist(),
        },
        "gaze": {
            "zone": info["zone"],
            "origin_mm": _r(gaze_o),
            "direction": _r(gaze_d, 6),
            "origin_car_mm": _r(body.eye_centers.mean(axis=0)),
            "direction_car": _r(body.gaze_dir, 6),
        },
        "gaze_zone": info["zone"],
        "activity": info["activity"],
        "episode": info["episodes"][0] if info["episodes"] else None,
        "episodes": eps,
        "camera": {
            "preset": scene.preset.name,
            "mount": scene.mount.name,
            "intrinsics": k.to_dict(),
            "extrinsics": {"rotation": _r(scene.camera_pose.rotation, 6), "position_mm": _r(scene.camera_pose.position_mm)},
            "depth_unit_mm": 1.0,
            "depth_kind": scene.preset.depth_kind,
        },
        "seat_offset_mm": _r(scene.seat_offset),
        "seat_back_deg": round(scene.back_deg, 3),
        "passenger": scene.passenger,
        "daylight": scene.daylight,
        "mask_labels": list(LABEL_NAMES),
        "cabin": cabin_layout_json(),
    }

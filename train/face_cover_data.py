"""Face-cover training data: the depth head crops the runtime cuts (monitor/estimator/head_crop.py),
labelled with whether a hand lies over the face.

Why: from a camera beside the driver (the unseen A-pillar mount) a hand on the near cheek sits
between the camera and the face, and the head model then reads the head 10-30 deg off (median 17
deg over the validation drivers' `hand_near_face` frames on that mount, 3 deg elsewhere). A
detector of that case lets the gaze stage keep the last head pose it could trust
(monitor/gaze/stage.py, "Covered face") instead of following the hand.

Label (`hand_covers_face`): one of the hand points (palm, hand tip, thumb; the synth truth's 25
joints, camera frame) projects within COVER_RADIUS_MM of the head centre in the image (at the head
centre's distance) and lies nearer the camera than the head centre plus COVER_DEPTH_MARGIN_MM. On
the training mounts (dashboard, mirror) that is the hand on the cheek or over the mouth; a phone at
the far ear is behind the head and does not count.

Crops: at the true head centre moved by N(0, CENTRE_SD x box width) per axis and at its distance
scaled by U(1 - SCALE_RANGE, 1 + SCALE_RANGE), as the runtime's head localisation errs; depth
normalised as the shipped depth head model's (`depth_head_relative`, 160 mm). Frames: each scene
gives ``--frames-per-scene`` random frames plus as many taken inside its hand actions (when it has
any), so covered faces are not rare.

    python -m train.face_cover_data --out DATA/cover_train_b.npz --scenes 1500 --seed-base 12000
    python -m train.face_cover_data --out DATA/cover_test.npz --scenes 120 --seed-base 11400
    (the shipped model's full recipe, pillar validation set included: train/all.py COVER_SETS)
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np

from exporters.export import HEAD_NORMALISATION
from monitor.estimator.head_crop import HEAD_EXTENT_MM, head_input
from train.data import _frames_in_activity, _import_synth, scene_specs
from train.eye_data import add_set_args, set_out_path

CROP = 64
COVER_RADIUS_MM = 90.0
COVER_DEPTH_MARGIN_MM = 10.0
HAND_POINTS = ("HandLeft", "HandTipLeft", "ThumbLeft", "HandRight", "HandTipRight", "ThumbRight")
CENTRE_SD = 0.06
SCALE_RANGE = 0.08
# "hands" (synth: hand-to-face actions of either hand) twice as often as the others: covered faces
# are rare elsewhere, and the other scenarios show only two of them (the left palm on the left
# cheek, a phone at the right ear), so the detector would learn those two pictures
SCENARIOS = ("hands", "activities", "drive", "hands", "random", "gaze", "vats", "sweeps")
TRAIN_MOUNTS = ("dashboard", "mirror")
MOUNT_CODES = {"dashboard": 0, "mirror": 1, "pillar": 2, "console": 3}


def hand_covers_face(labels: dict) -> bool:
    """True when a hand point lies over the face in the image and in front of the head centre."""
    head, joints = labels["head"], labels["joints"]
    k = labels["camera"]["intrinsics"]
    centre = np.asarray(head["center_px"], dtype=np.float64)
    z = float(head["position_mm"][2])
    radius_px = COVER_RADIUS_MM * float(k["fx"]) / z
    names = list(joints["names"])
    for name in HAND_POINTS:
        i = names.index(name)
        uv, xyz = joints["uv"][i], joints["xyz_mm"][i]
        if uv is None or xyz is None or uv[0] is None or xyz[2] is None:
            continue
        if xyz[2] < z + COVER_DEPTH_MARGIN_MM and np.hypot(uv[0] - centre[0], uv[1] - centre[1]) < radius_px:
            return True
    return False


def render_cover_set(n_scenes: int, frames_per_scene: int, seed_base: int, crops_per_frame: int,
                     mounts: Sequence[str] = TRAIN_MOUNTS, log=print, synth_root: str | None = None,
                     scenarios: Sequence[str] = SCENARIOS) -> dict[str, np.ndarray]:
    Scene = _import_synth(synth_root)
    normalisation = HEAD_NORMALISATION["depth"]
    xs, covered, seeds, mount_codes = [], [], [], []
    t0, frames = time.monotonic(), 0
    for spec in scene_specs(n_scenes, seed_base, mounts=mounts, scenarios=scenarios):
        scene = Scene(seed=spec.seed, scenario=spec.scenario, camera=spec.camera, mount=spec.mount)
        rng = np.random.default_rng([17, spec.seed])
        picks = list(rng.choice(len(scene), size=min(frames_per_scene, len(scene)), replace=False))
        in_hands = _frames_in_activity(scene, None, past_ramp=False)  # the hand's approach too
        if len(in_hands):
            picks += list(rng.choice(in_hands, size=min(frames_per_scene, len(in_hands)), replace=False))
        for i in sorted(set(int(p) for p in picks)):
            f = scene.render(i)
            head = f.labels["head"]
            k = f.labels["camera"]["intrinsics"]
            z = float(head["position_mm"][2])
            box_w = float(k["fx"]) * HEAD_EXTENT_MM / z
            label = hand_covers_face(f.labels)
            for _ in range(crops_per_frame):
                c = (head["center_px"][0] + rng.normal(0, CENTRE_SD) * box_w,
                     head["center_px"][1] + rng.normal(0, CENTRE_SD) * box_w)
                made = head_input(f.depth, c, z * rng.uniform(1 - SCALE_RANGE, 1 + SCALE_RANGE), k["fx"], k["fy"],
                                  normalisation, CROP)
                if made is None:
                    continue
                xs.append(made[0])
                covered.append(label)
                seeds.append(spec.seed)
                mount_codes.append(MOUNT_CODES[spec.mount])
            frames += 1
            if frames % 500 == 0:
                log(f"[face_cover_data] {frames} frames, {len(xs)} crops ({np.mean(covered):.0%} covered), "
                    f"{1000 * (time.monotonic() - t0) / frames:.0f} ms/frame", flush=True)
    if not xs:
        raise RuntimeError("no head crop fitted in the images")
    return {"x": np.asarray(xs, np.float16), "covered": np.asarray(covered, bool),
            "seed": np.asarray(seeds, np.int32), "mount": np.asarray(mount_codes, np.int8)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_args(ap, 2, "jittered crops per frame")
    ap.add_argument("--mounts", default=",".join(TRAIN_MOUNTS),
                    help="camera mounts, comma list (default: dashboard,mirror; pillar is the unseen test mount)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="synth scenarios, comma list, taken in turn (default: %(default)s)")
    args = ap.parse_args(argv)
    out = set_out_path(args)
    mounts = [m.strip() for m in args.mounts.split(",") if m.strip()]
    unknown = [m for m in mounts if m not in MOUNT_CODES]
    if not mounts or unknown:
        ap.error(f"--mounts: unknown mount(s) {unknown or '(none given)'}; use some of {', '.join(MOUNT_CODES)}")
    from synth.behaviour import SCENARIOS as SYNTH_SCENARIOS
    scenarios = [x.strip() for x in args.scenarios.split(",") if x.strip()]
    if not scenarios or any(x not in SYNTH_SCENARIOS for x in scenarios):
        ap.error(f"--scenarios: use some of {', '.join(SYNTH_SCENARIOS)} (got {args.scenarios!r})")
    data = render_cover_set(args.scenes, args.frames_per_scene, args.seed_base, args.crops, mounts,
                            synth_root=args.synth_root, scenarios=scenarios)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **data)
    print(f"[face_cover_data] wrote {len(data['x'])} crops to {out}, {data['covered'].mean():.1%} with a covered face")


if __name__ == "__main__":
    main()

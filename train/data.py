"""Synthetic training/test data from the scene generator (package ``synth``, docs/labels.md there).

Labels used (synth truth, camera frame):
- joints: the first 21 Kinect v2 joints; a joint is *labelled* when it projects inside the image
  (in front of the camera), whether or not something occludes it (as COCO annotators label
  occluded joints they can infer, and as the Kinect skeletons of Watch-n-Patch always place all
  joints). The stricter *seen* flag (synth's occlusion test) is kept for a second evaluation.
- head: yaw/pitch/roll of the AutoPOSE head frame, centre pixel and centre z (mm) for the crop.

Splits are by scene seed: a seed fixes the subject (body shape, face, accessories), the camera
mount jitter, seat position, lighting and behaviour, so test seeds (>= 10000) are unseen
subjects, seeds and mounts.

Two ways in: ``synth_records`` renders scenes in-process (``synth.scene.Scene``), and
``load_records`` reads this module's packs (``python -m train.data`` writes them; a folder that
already holds packs is refused unless ``--overwrite``, and the loaders read only the packs its
specs.json lists, written last: a folder still marked INCOMPLETE is refused). ``synth`` is
imported from the repository or from ``--synth-root`` / $DMS_SYNTH_ROOT (appended to sys.path so
this repository's own packages still win).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from monitor.frames import FrameSet, Intrinsics
from train.records import FrameRecord

N_JOINTS = 21
CAMERAS = ("d435", "kinect_v2", "autopose_ir")
MOUNTS = ("dashboard", "mirror")
SCENARIOS = ("random", "sweeps", "gaze", "activities", "drive", "vats")
TEST_SEED_BASE = 10000


def _import_synth(synth_root: str | None = None):
    root = synth_root or os.environ.get("DMS_SYNTH_ROOT")
    if root and root not in sys.path:
        sys.path.append(root)
    try:
        from synth.scene import Scene
    except ImportError as exc:
        raise RuntimeError("the synthetic scene generator (package 'synth') is not importable; run from a "
                           "checkout that has it or pass --synth-root / set DMS_SYNTH_ROOT") from exc
    return Scene


def record_from_frameset(fs: FrameSet) -> FrameRecord:
    """Synth FrameSet (truth per docs/labels.md) -> FrameRecord."""
    t = fs.truth
    if not t:
        raise ValueError(f"frame {fs.frame} of {fs.stream} carries no truth labels")
    intr: Intrinsics = fs.intrinsics.get("depth") or fs.intrinsics["ir"]
    j = t["joints"]
    uv = np.array(j["uv"], dtype=np.float64)[:N_JOINTS]
    xyz = np.array(j["xyz_mm"], dtype=np.float64)[:N_JOINTS]
    inside = (xyz[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= intr.width - 1) & (uv[:, 1] >= 0) \
        & (uv[:, 1] <= intr.height - 1)
    seen = np.array(j["visible"], dtype=bool)[:N_JOINTS] & inside
    h = t["head"]
    cam = t.get("camera", {})
    return FrameRecord(depth=fs.images.get("depth"), ir=fs.images.get("ir"), intrinsics=intr,
                       depth_unit_mm=fs.depth_unit_mm, joints_uv=uv, joints_vis=inside,
                       head_center_px=np.array(h["center_px"], dtype=np.float64),
                       head_distance_mm=float(h["position_mm"][2]),
                       head_ypr=np.array([h["yaw_deg"], h["pitch_deg"], h["roll_deg"]]), joints_seen=seen,
                       group={"seed": t.get("seed"), "subject": t.get("subject", {}).get("id"),
                              "camera": cam.get("preset"), "mount": cam.get("mount"), "frame": fs.frame,
                              "scenario": t.get("scenario")})


@dataclass(frozen=True)
class SceneSpec:
    seed: int
    camera: str
    mount: str
    scenario: str


def scene_specs(n_scenes: int, seed_base: int = 0, cameras: Sequence[str] = CAMERAS,
                mounts: Sequence[str] = MOUNTS, scenarios: Sequence[str] = SCENARIOS) -> list[SceneSpec]:
    """Every camera x mount x scenario combination in turn, one new seed per scene."""
    out = []
    nc, nm = len(cameras), len(mounts)
    for i in range(n_scenes):
        out.append(SceneSpec(seed_base + i, cameras[i % nc], mounts[(i // nc) % nm],
                             scenarios[(i // (nc * nm)) % len(scenarios)]))
    return out


def synth_records(specs: Iterable[SceneSpec], frames_per_scene: int, synth_root: str | None = None,
                  offset_seed: int = 0, activity: str | None = None,
                  gaze_zone: str | None = None) -> Iterator[FrameRecord]:
    """Render ``frames_per_scene`` frames spread over each scene (random offsets, seeded); with
    ``activity`` (a hand action of the generator, e.g. reach_media_centre) only frames inside one,
    past its ramp; with ``gaze_zone`` (a gaze target, e.g. dashboard) only frames where the gaze
    dwells on it (both: frames inside both; scenes without any give none)."""
    Scene = _import_synth(synth_root)
    check_gaze_zone(gaze_zone, synth_root)
    for spec in specs:
        scene = Scene(seed=spec.seed, scenario=spec.scenario, camera=spec.camera, mount=spec.mount)
        rng = np.random.default_rng([offset_seed, spec.seed])
        pool = np.arange(len(scene)) if activity is None else _frames_in_activity(scene, activity)
        if gaze_zone is not None:
            pool = np.intersect1d(pool, _frames_on_zone(scene, gaze_zone))
        idx = np.sort(rng.choice(pool, size=min(frames_per_scene, len(pool)), replace=False))
        for i in idx:
            yield record_from_frameset(scene.frameset(int(i)))


def check_gaze_zone(zone: str | None, synth_root: str | None = None) -> None:
    """ValueError unless ``zone`` (None: no filter) is one of the generator's gaze zones."""
    if zone is None:
        return
    _import_synth(synth_root)
    from synth.cabin import GAZE_ZONES  # importable now: _import_synth put synth on the path
    if zone not in GAZE_ZONES:
        raise ValueError(f"--gaze-zone {zone!r}: not a gaze zone of the generator ({', '.join(GAZE_ZONES)})")


def _frames_in_activity(scene, activity: str | None, past_ramp: bool = True) -> np.ndarray:
    """Indices of the frames inside a hand action of ``activity`` (None: any), past its ramp (the hand
    on its way) unless ``past_ramp`` is False."""
    t = np.arange(len(scene)) / scene.fps
    inside = np.zeros(len(t), bool)
    for h in scene.timeline.hands:
        if activity is None or h.kind == activity:
            inside |= (t >= h.start_s + (h.ramp_s if past_ramp else 0.0)) & (t < h.end_s)
    return np.flatnonzero(inside)


def _frames_on_zone(scene, zone: str) -> np.ndarray:
    """Indices of the frames where the scene's gaze dwells on ``zone`` (its truth zone label)."""
    return np.flatnonzero([scene.timeline.zone(i / scene.fps) == zone for i in range(len(scene))])


# ---- packs: records saved as compressed npz, grouped by image size ---------------------------------

def save_pack(records: Sequence[FrameRecord], path: str | Path) -> None:
    if not records:
        raise ValueError("no records to save")
    shapes = {r.depth.shape for r in records}
    if len(shapes) != 1:
        raise ValueError(f"a pack holds one image size, got {sorted(shapes)}; group records by camera")
    k = [r.intrinsics for r in records]
    np.savez_compressed(
        path, depth=np.stack([r.depth for r in records]), ir=np.stack([r.ir for r in records]),
        intrinsics=np.array([[i.width, i.height, i.fx, i.fy, i.cx, i.cy] for i in k]),
        depth_unit_mm=np.array([r.depth_unit_mm for r in records]),
        joints_uv=np.stack([r.joints_uv for r in records]), joints_vis=np.stack([r.joints_vis for r in records]),
        joints_seen=np.stack([r.joints_seen for r in records]),
        head_center_px=np.stack([r.head_center_px for r in records]),
        head_distance_mm=np.array([r.head_distance_mm for r in records]),
        head_ypr=np.stack([r.head_ypr for r in records]),
        group=np.array([json.dumps(r.group) for r in records]))


PACK_KEYS = ("depth", "ir", "intrinsics", "depth_unit_mm", "joints_uv", "joints_vis", "joints_seen",
             "head_center_px", "head_distance_mm", "head_ypr", "group")


def load_pack(path: str | Path) -> Iterator[FrameRecord]:
    """The records of one pack; ValueError for a file that is not one (e.g. an eye-crop set)."""
    try:
        with np.load(path) as z:  # a plain .npy loads as an array: no `with`, TypeError
            missing = [k for k in PACK_KEYS if k not in z.files]
            d = {} if missing else {k: z[k] for k in PACK_KEYS}
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable train.data pack ({str(exc).splitlines()[0][:120]})") from None
    if missing:
        raise ValueError(f"{path} is not a train.data pack (no {', '.join(missing[:3])}); pass a pack written by "
                         "`python -m train.data`")
    for i in range(len(d["depth"])):
        w, h, fx, fy, cx, cy = d["intrinsics"][i]
        yield FrameRecord(depth=d["depth"][i], ir=d["ir"][i], intrinsics=Intrinsics(int(w), int(h), fx, fy, cx, cy),
                          depth_unit_mm=float(d["depth_unit_mm"][i]), joints_uv=d["joints_uv"][i],
                          joints_vis=d["joints_vis"][i].astype(bool), head_center_px=d["head_center_px"][i],
                          head_distance_mm=float(d["head_distance_mm"][i]), head_ypr=d["head_ypr"][i],
                          joints_seen=d["joints_seen"][i].astype(bool), group=json.loads(str(d["group"][i])))


SPECS_FILE = "specs.json"
# present while train.data writes a folder: one left behind marks an interrupted run
INCOMPLETE_FILE = "INCOMPLETE"
PACK_GLOB = "pack_*.npz"
REWRITE = "rewrite it with `python -m train.data --out {} ... --overwrite`"


def pack_files(folder: str | Path) -> list[Path]:
    """The packs of a folder. A train.data folder: the packs its specs.json lists, so packs an
    earlier run left are not read; one that train.data did not finish (no specs.json, its
    INCOMPLETE marker) is refused. A folder of packs put together by hand (neither file): all of
    its .npz files."""
    folder = Path(folder)
    specs = folder / SPECS_FILE
    if (folder / INCOMPLETE_FILE).exists():
        raise ValueError(f"{folder}: train.data did not finish writing this folder (its {INCOMPLETE_FILE} marker is "
                         f"there: an interrupted run?); {REWRITE.format(folder)}")
    if not specs.is_file():
        files = sorted(folder.glob("*.npz"))
        if not files:
            raise ValueError(f"{folder}: no .npz packs; write them with `python -m train.data`")
        return files
    try:
        d = json.loads(specs.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{specs}: unreadable ({exc}); {REWRITE.format(folder)}") from None
    if isinstance(d, list):
        # specs.json of a train.data that did not list its packs: all of them, if each holds listed scenes
        files = sorted(folder.glob(PACK_GLOB))
        seeds = {s.get("seed") for s in d if isinstance(s, dict)}
        for f in files:
            with np.load(f) as z:
                stray = {json.loads(str(g)).get("seed") for g in z["group"]} - seeds
            if stray:
                raise ValueError(f"{f}: scenes {sorted(stray, key=str)[:5]} are not in {specs} (a pack of an earlier "
                                 f"run?); {REWRITE.format(folder)}")
    elif isinstance(d, dict) and isinstance(d.get("packs"), list):
        files = [folder / str(name) for name in d["packs"]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ValueError(f"{folder}: packs {missing[:3]} listed in {SPECS_FILE} are missing; "
                             f"{REWRITE.format(folder)}")
    else:
        raise ValueError(f"{specs}: not a train.data specs file; {REWRITE.format(folder)}")
    if not files:
        raise ValueError(f"{folder}: no packs; write them with `python -m train.data`")
    return files


def load_records(paths: Iterable[str | Path]) -> Iterator[FrameRecord]:
    """Records from pack files or folders of packs (`pack_files`). The paths are checked now, before
    any record is read, so a bad one fails fast (ValueError)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += pack_files(p)
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such pack file or folder; write one with `python -m train.data`")
    return (rec for f in files for rec in load_pack(f))


def prepare_out(out: str | Path, overwrite: bool = False) -> bool:
    """Make ``out`` ready before rendering and mark it INCOMPLETE. A folder that already holds packs,
    a specs.json or the marker is refused unless ``overwrite``; then they are removed, after the
    marker is written, so an interrupted rewrite leaves a folder the loaders refuse. Returns whether
    the folder is new."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose another --out")
    new = not out.exists()
    ours = [] if new else [f for f in (out / SPECS_FILE, out / INCOMPLETE_FILE) if f.exists()] + sorted(
        out.glob(PACK_GLOB))
    if ours and not overwrite:
        raise ValueError(f"--out {out} already holds train.data packs; pass --overwrite to replace them or "
                         "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / INCOMPLETE_FILE).write_text("python -m train.data is writing this folder, or was stopped before it "
                                       "finished; rewrite it with --overwrite\n")
    for f in ours:
        if f.name != INCOMPLETE_FILE:
            f.unlink()
    return new


def write_packs(specs: Sequence[SceneSpec], frames_per_scene: int, out: str | Path, synth_root: str | None = None,
                per_pack: int = 200, log=print, activity: str | None = None, overwrite: bool = False,
                gaze_zone: str | None = None) -> int:
    if frames_per_scene < 1 or per_pack < 1:
        raise ValueError(f"--frames-per-scene must be >= 1 (got {frames_per_scene})" if frames_per_scene < 1
                         else f"per_pack must be >= 1 (got {per_pack})")
    if not specs:
        raise ValueError("no scenes to render: --scenes must be >= 1")
    check_gaze_zone(gaze_zone, synth_root)  # before prepare_out: a typo must not empty a finished folder
    out = Path(out)
    new = prepare_out(out, overwrite)
    buckets: dict[tuple, list[FrameRecord]] = {}
    n, t0, packs = 0, time.monotonic(), []

    def save(recs: list[FrameRecord]) -> None:
        name = f"pack_{len(packs):04d}.npz"
        packs.append(name)
        save_pack(recs, out / name)

    try:
        for rec in synth_records(specs, frames_per_scene, synth_root, activity=activity, gaze_zone=gaze_zone):
            key = rec.depth.shape
            buckets.setdefault(key, []).append(rec)
            n += 1
            if len(buckets[key]) >= per_pack:
                save(buckets.pop(key))
            if n % 200 == 0:
                log(f"[data] {n} frames, {(time.monotonic() - t0) / n * 1000:.0f} ms/frame")
        for recs in buckets.values():
            save(recs)
        if not n:
            raise ValueError("no frames to write (no scene had a frame inside --activity / on --gaze-zone?)")
        # written last: its presence marks a finished folder, and it names the packs to read
        (out / SPECS_FILE).write_text(json.dumps({"scenes": [s.__dict__ for s in specs], "frames": n,
                                                  "frames_per_scene": frames_per_scene, "packs": packs}, indent=0))
        (out / INCOMPLETE_FILE).unlink()
    except BaseException:
        for name in (*packs, SPECS_FILE, INCOMPLETE_FILE):  # a failed run leaves nothing half-written behind
            (out / name).unlink(missing_ok=True)
        if new:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenes", type=int, required=True)
    ap.add_argument("--frames-per-scene", type=int, default=20)
    ap.add_argument("--seed-base", type=int, default=0, help=f"test sets use >= {TEST_SEED_BASE}")
    ap.add_argument("--synth-root", default=None)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list, taken in turn (default: all)")
    ap.add_argument("--mounts", default=",".join(MOUNTS),
                    help="camera mounts, comma list, taken in turn (default: %(default)s; synth.camera.MOUNTS has "
                         "more, e.g. console; keep pillar out of training: it is the unseen test mount)")
    ap.add_argument("--activity", default=None,
                    help="only frames inside this hand action (e.g. reach_media_centre: the head model read "
                         "glances during reaches ~5 deg low, docs/gaze_state.md)")
    ap.add_argument("--gaze-zone", default=None,
                    help="only frames where the gaze dwells on this zone (e.g. dashboard: the depth head model "
                         "read the small head pitch of dashboard glances ~1/3 short, docs/models.md)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace the packs and specs.json already in --out (default: refuse such a folder)")
    args = ap.parse_args(argv)
    mounts = tuple(m for m in args.mounts.split(",") if m)
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    bad = ("--scenes must be >= 1" if args.scenes < 1 else
           "--frames-per-scene must be >= 1" if args.frames_per_scene < 1 else
           "--mounts is empty" if not mounts else "--scenarios is empty" if not scenarios else None)
    try:
        if bad:
            raise ValueError(bad)
        specs = scene_specs(args.scenes, args.seed_base, mounts=mounts, scenarios=scenarios)
        n = write_packs(specs, args.frames_per_scene, args.out, args.synth_root, activity=args.activity,
                        overwrite=args.overwrite, gaze_zone=args.gaze_zone)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}; choose another --out", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"[data] wrote {n} frames to {args.out}")

if __name__ == "__main__":
    main()

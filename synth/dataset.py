"""Training sets in shards, and a fast loader.

    python -m synth.dataset --out data/synth/train --frames 4000 --seed 0 --split train
    python -m synth.dataset --out data/synth/test --frames 1000 --seed 0 --split test

Layout of DIR:
    index.json              {"version", "split", "seed", "frames", "scenario", "zones", "shards": [{file,
                             labels, n, camera, mount, subject, scene_seed, scenario, duration_s, width,
                             height, intrinsics, jitter_scale}]}; Scene(seed=scene_seed, scenario=...,
                             camera=..., mount=..., subject=..., duration_s=..., width=..., height=...,
                             jitter_scale=...) re-renders a shard
    shard_00000.npz         ir (n,H,W) uint8, depth (n,H,W) uint16 mm, plus label arrays (below) and,
                             with --masks / --clean-depth, mask (n,H,W) uint8 and depth_clean (n,H,W)
                             uint16 mm (noise-free, 0 = nothing)
    shard_00000.json        the full per-frame label dicts (docs/labels.md)
Label arrays in each shard (camera frame, see docs/labels.md): head_rot (n,3,3), head_pos_mm (n,3),
head_ypr_deg (n,3), head_px (n,2), joints_uv (n,25,2), joints_xyz_mm (n,25,3), joints_visible (n,25),
zone (n,) int8 index into synth.cabin.GAZE_ZONES (-1 = in transit), time_s (n,).
One shard holds frames of one scene, so the image size is constant inside a shard.

Splits never share subjects (body/head shape seeds) or scene seeds, and "test" adds a camera mount
that "train" never uses (A-pillar), so held-out numbers measure generalisation.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from synth.cabin import GAZE_ZONES

INDEX_VERSION = 1
# disjoint id ranges per split: subjects and scene seeds
SPLIT_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}
SPLIT_MOUNTS = {"train": ("dashboard", "mirror"), "val": ("dashboard", "mirror"),
                "test": ("dashboard", "mirror", "pillar")}
SPLIT_CAMERAS = ("d435", "kinect_v2", "autopose_ir")
N_SUBJECTS = {"train": 400, "val": 40, "test": 40}
JITTER_SCALE = 2.0  # camera mounts vary by +-50 mm and +-6 deg in training sets


def label_arrays(labels: list[dict]) -> dict[str, np.ndarray]:
    """Dense arrays of the labels most training code needs."""
    head = [lb["head"] for lb in labels]
    jts = [lb["joints"] for lb in labels]
    return {
        "head_rot": np.array([h["rotation"] for h in head], np.float32),
        "head_pos_mm": np.array([h["position_mm"] for h in head], np.float32),
        "head_ypr_deg": np.array([[h["yaw_deg"], h["pitch_deg"], h["roll_deg"]] for h in head], np.float32),
        "head_px": np.array([h["center_px"] for h in head], np.float32),
        "joints_uv": np.array([j["uv"] for j in jts], np.float32),  # null -> nan
        "joints_xyz_mm": np.array([j["xyz_mm"] for j in jts], np.float32),
        "joints_visible": np.array([j["visible"] for j in jts], bool),
        "zone": np.array([GAZE_ZONES.index(lb["gaze_zone"]) if lb["gaze_zone"] else -1 for lb in labels], np.int8),
        "time_s": np.array([lb["time_s"] for lb in labels], np.float32),
    }


class Progress:
    """A small stderr progress bar (no extra dependency)."""

    def __init__(self, total: int, label: str = "") -> None:
        self.total, self.label, self.n = total, label, 0
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self._last > 0.2 or self.n >= self.total:
            self._last = now
            frac = self.n / max(self.total, 1)
            rate = self.n / max(now - self.t0, 1e-9)
            eta = (self.total - self.n) / max(rate, 1e-9)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            sys.stderr.write(f"\r{self.label} [{bar}] {self.n}/{self.total} {rate:5.1f} fr/s eta {eta:5.0f}s")
            if self.n >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def plan(split: str, seed: int, frames: int, per_scene: int, cameras: tuple[str, ...],
         mounts: tuple[str, ...]) -> list[dict[str, Any]]:
    """Scenes to render: subject, scene seed, camera, mount, frame count."""
    if split not in SPLIT_BASE:
        raise ValueError(f"unknown split {split!r}: use one of {sorted(SPLIT_BASE)}")
    rng = np.random.default_rng([17, seed, SPLIT_BASE[split]])
    out = []
    left = frames
    k = 0
    while left > 0:
        n = min(per_scene, left)
        out.append({
            "subject": SPLIT_BASE[split] + int(rng.integers(0, N_SUBJECTS[split])),
            "scene_seed": SPLIT_BASE[split] + seed * 10_000 + k,
            "camera": str(rng.choice(cameras)),
            "mount": str(rng.choice(mounts)),
            "n": n,
        })
        left -= n
        k += 1
    return out


def _write_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Render one scene's frames into ``shard_NNNNN.npz/.json``; returns its index entry."""
    from synth.scene import Scene  # here so that `--help` stays instant

    sc, out, size = job["scene"], Path(job["out"]), job["size"]
    duration = max(8.0, sc["n"] * 0.35)
    scene = Scene(seed=sc["scene_seed"], scenario=job["scenario"], camera=sc["camera"], mount=sc["mount"],
                  width=size[0] if size else None, height=size[1] if size else None,
                  subject=sc["subject"], duration_s=duration, jitter_scale=JITTER_SCALE)
    rng = np.random.default_rng([19, sc["scene_seed"]])
    idx = np.sort(rng.choice(len(scene), size=min(sc["n"], len(scene)), replace=False))
    irs, depths, msk, clean, labels = [], [], [], [], []
    for i in idx:
        f = scene.render(int(i))
        irs.append(f.ir)
        depths.append(f.depth)
        labels.append(f.labels)
        if job["masks"]:
            msk.append(f.mask)
        if job["clean_depth"]:
            clean.append(np.clip(f.depth_clean + 0.5, 0, 65535).astype(np.uint16))
    arrays = {"ir": np.stack(irs), "depth": np.stack(depths), **label_arrays(labels)}
    if job["masks"]:
        arrays["mask"] = np.stack(msk)
    if job["clean_depth"]:
        arrays["depth_clean"] = np.stack(clean)
    name = f"shard_{job['index']:05d}"
    np.savez(out / f"{name}.npz", **arrays)
    (out / f"{name}.json").write_text(json.dumps(labels))
    k = scene.intrinsics
    return {"file": f"{name}.npz", "labels": f"{name}.json", "n": len(idx), "camera": sc["camera"],
            "mount": sc["mount"], "subject": sc["subject"], "scene_seed": sc["scene_seed"],
            "scenario": job["scenario"], "duration_s": duration, "jitter_scale": JITTER_SCALE,
            "width": k.width, "height": k.height, "intrinsics": k.to_dict()}


def _names(valid) -> str:
    return ", ".join(sorted(valid))


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. 640x480) as positive integers; ValueError naming the text otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--size {text!r}: give WIDTHxHEIGHT in pixels, e.g. 640x480")
    return int(parts[0]), int(parts[1])


def check_options(out: Path, frames: int, split: str, per_scene: int, cameras: tuple[str, ...],
                  mounts: tuple[str, ...] | None, size: tuple[int, int] | None, scenario: str,
                  workers: int) -> None:
    """Every option checked before anything is created: a typo found by the first shard's Scene
    would leave an empty (or part-written) output folder behind."""
    from synth.behaviour import SCENARIOS
    from synth.camera import MOUNTS, PRESETS

    if frames < 1:
        raise ValueError(f"--frames {frames}: give at least 1 frame")
    if per_scene < 1:  # 0 would plan scenes of no frames forever
        raise ValueError(f"--per-scene {per_scene}: give at least 1 frame per scene")
    if workers < 1:
        raise ValueError(f"--workers {workers}: give at least 1 process")
    if split not in SPLIT_BASE:
        raise ValueError(f"unknown split {split!r}: use one of {_names(SPLIT_BASE)}")
    for flag, given, valid in (("--cameras", cameras, PRESETS), ("--mounts", mounts or (), MOUNTS)):
        bad = [c for c in given if c not in valid]
        if bad or (flag == "--cameras" and not given):
            raise ValueError(f"{flag}: unknown {', '.join(map(repr, bad)) or 'empty list'}: "
                             f"give a comma list of {_names(valid)}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size {size}: give a positive width and height")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder: remove it or choose another --out")


def write_dataset(out: str | Path, frames: int, seed: int = 0, split: str = "train", per_scene: int = 64,
                  cameras: tuple[str, ...] = SPLIT_CAMERAS, mounts: tuple[str, ...] | None = None,
                  size: tuple[int, int] | None = None, masks: bool = False, clean_depth: bool = False,
                  scenario: str = "random", progress: bool = True, workers: int = 1) -> dict:
    """Render ``frames`` labelled frames into shards under ``out``; returns the index. Shards
    are independent, so ``workers`` > 1 renders them in parallel processes (same output).
    Bad options raise ValueError before ``out`` is created; a failure while rendering removes
    the folders this call created."""
    out = Path(out)
    check_options(out, frames, split, per_scene, cameras, mounts, size, scenario, workers)
    created = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_all(out, frames, seed, split, per_scene, cameras, mounts or SPLIT_MOUNTS[split], size,
                          masks, clean_depth, scenario, progress, workers)
    except BaseException:  # Ctrl-C included: no half-written dataset in a folder that was not there
        if created:
            shutil.rmtree(out, ignore_errors=True)  # only this run's own folder: others may write beside it
            for parent in created[1:]:  # then the parents it made, while nothing else went into them
                try:
                    parent.rmdir()
                except OSError:
                    break
        raise


def _write_all(out: Path, frames: int, seed: int, split: str, per_scene: int, cameras: tuple[str, ...],
               mounts: tuple[str, ...], size: tuple[int, int] | None, masks: bool, clean_depth: bool,
               scenario: str, progress: bool, workers: int) -> dict:
    jobs = [{"scene": sc, "index": i, "out": str(out), "size": size, "masks": masks, "clean_depth": clean_depth,
             "scenario": scenario} for i, sc in enumerate(plan(split, seed, frames, per_scene, cameras, mounts))]
    bar = Progress(frames, f"synth {split}") if progress else None
    shards = []
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for info in pool.imap(_write_shard, jobs):
                shards.append(info)
                if bar:
                    bar.update(info["n"])
    else:
        for job in jobs:
            shards.append(_write_shard(job))
            if bar:
                bar.update(shards[-1]["n"])
    index = {"version": INDEX_VERSION, "split": split, "seed": seed, "frames": sum(s["n"] for s in shards),
             "scenario": scenario, "zones": list(GAZE_ZONES), "shards": shards}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


@dataclass
class Shard:
    path: Path
    info: dict

    def arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.path) as z:
            return {k: z[k] for k in z.files}

    def labels(self) -> list[dict]:
        return json.loads((self.path.parent / self.info["labels"]).read_text())


class ShardSet:
    """All shards of one dataset directory; ``[i]`` gives frame i as a dict of arrays (+ labels
    with ``with_labels=True``); ``iter_shards()`` streams whole shards for fast batched training."""

    def __init__(self, root: str | Path, with_labels: bool = False) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.exists():
            raise FileNotFoundError(f"{index_path} not found: write a dataset with `python -m synth.dataset --out {root}`")
        self.index = json.loads(index_path.read_text())
        self.shards = [Shard(self.root / s["file"], s) for s in self.index["shards"]]
        self.offsets = np.cumsum([0] + [s.info["n"] for s in self.shards])
        self.with_labels = with_labels
        self._cache: tuple[int, dict, list | None] | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _shard(self, s: int) -> tuple[dict, list | None]:
        if self._cache is None or self._cache[0] != s:
            sh = self.shards[s]
            self._cache = (s, sh.arrays(), sh.labels() if self.with_labels else None)
        return self._cache[1], self._cache[2]

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range 0..{len(self) - 1}")
        s = int(np.searchsorted(self.offsets, i, side="right") - 1)
        arrays, labels = self._shard(s)
        j = i - int(self.offsets[s])
        item: dict[str, Any] = {k: v[j] for k, v in arrays.items()}
        item["intrinsics"] = self.shards[s].info["intrinsics"]
        if labels is not None:
            item["labels"] = labels[j]
        return item

    def iter_shards(self) -> Iterator[tuple[dict, dict[str, np.ndarray]]]:
        for sh in self.shards:
            yield sh.info, sh.arrays()


def load_shards(root: str | Path, with_labels: bool = False) -> ShardSet:
    """Open a dataset written by ``python -m synth.dataset``."""
    return ShardSet(root, with_labels)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a synthetic training set in shards (docs/synth.md).")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--frames", type=int, required=True, help="number of frames")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train", choices=sorted(SPLIT_BASE))
    ap.add_argument("--per-scene", type=int, default=64, help="frames sampled from each scene (= shard size)")
    ap.add_argument("--cameras", default=",".join(SPLIT_CAMERAS), help="comma list of camera presets")
    ap.add_argument("--mounts", default=None, help="comma list of mounts (default: per split)")
    ap.add_argument("--size", default=None, help="WxH render size (default: each preset's native size)")
    ap.add_argument("--scenario", default="random", help="behaviour of every scene (default: random, a mixture)")
    ap.add_argument("--masks", action="store_true", help="also store instance masks")
    ap.add_argument("--clean-depth", action="store_true", help="also store noise-free depth")
    ap.add_argument("--workers", type=int, default=1, help="parallel processes (one shard each)")
    a = ap.parse_args(argv)
    try:
        size = parse_size(a.size) if a.size else None
        index = write_dataset(a.out, a.frames, a.seed, a.split, a.per_scene, _comma_list(a.cameras),
                              _comma_list(a.mounts) if a.mounts else None, size, a.masks, a.clean_depth,
                              a.scenario, workers=a.workers)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {a.out}: {exc.strerror or exc} ({exc.filename}); choose another --out",
              file=sys.stderr)
        return 2
    print(f"wrote {index['frames']} frames in {len(index['shards'])} shards to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

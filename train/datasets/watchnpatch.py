"""Watch-n-Patch (Kinect v2 depth + skeletons) -> FrameRecords for the body-joint network.

Reference: C. Wu, J. Zhang, S. Savarese, A. Saxena, "Watch-n-Patch: Unsupervised Understanding of
Actions and Relations", CVPR 2015 (and TPAMI 40(2) 2018); refined labels and splits of 20 + 20
sequences: D'Eusanio et al., Watch-R-Patch (seed 001, Table 1). Layout as distributed:

    <root>/{office,kitchen}/data_<hh-mm-ss>/depth/<frame>.mat   variable ``depth``: 424x512 uint16 mm
    <root>/{office,kitchen}/data_<hh-mm-ss>/body.mat             variable ``body``: cell (1 x frames)
        of struct arrays (one per tracked slot) with ``isBodyTracked`` and ``joints`` (1 x 25
        struct: ``trackingState`` 0/1/2, ``depth`` [x y] depth-image pixels, ``camera`` [x y z] m)

Joints follow the Kinect v2 order (monitor.estimates.KINECT_V2_JOINTS); the first 21 are used and a
joint counts as labelled when its trackingState is 2 (tracked; 1 = inferred). The first tracked
body of a frame is the subject. Depth intrinsics: the Kinect v2 defaults below unless given.
We had no copy of the data to check this layout against; tests write fixtures in it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from monitor.frames import Intrinsics
from train.records import FrameRecord

KINECT_V2_DEPTH = Intrinsics(512, 424, 365.5, 365.5, 256.5, 208.5)  # typical factory values
SPLITS = {  # seed 001 Table 1
    "train": ["data_02-28-33", "data_03-22-44", "data_03-38-20", "data_03-42-37", "data_03-46-49",
              "data_03-50-38", "data_04-07-17", "data_04-17-37", "data_04-31-11", "data_04-34-13",
              "data_01-50-09", "data_03-28-59", "data_04-02-43", "data_04-31-13", "data_04-41-55",
              "data_04-47-41", "data_04-56-00", "data_05-31-10", "data_05-34-47", "data_12-03-57"],
    "val": ["data_01-52-55", "data_03-53-06", "data_04-52-02", "data_02-32-08", "data_02-50-20", "data_03-25-32"],
    "test": ["data_02-10-35", "data_03-45-21", "data_04-13-06", "data_04-27-09", "data_04-51-42",
             "data_05-04-12", "data_12-07-43", "data_03-04-16", "data_03-05-15", "data_03-21-23",
             "data_03-35-07", "data_03-58-25", "data_04-30-36", "data_11-11-59"],
}
N_JOINTS = 21


def _unwrap(x: Any) -> Any:
    """MATLAB wraps values in 1x1 cells/arrays; peel them."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.ravel()[0]
    return x


def _field(obj: Any, name: str) -> Any:
    obj = _unwrap(obj)
    if isinstance(obj, dict):
        return obj[name]
    if isinstance(obj, np.void) or (isinstance(obj, np.ndarray) and obj.dtype.names):
        return obj[name]
    return getattr(obj, name)


def _as_list(x: Any) -> list:
    x = _unwrap(x)
    if isinstance(x, np.ndarray):
        return [_unwrap(e) for e in x.ravel()]
    return list(x) if isinstance(x, (list, tuple)) else [x]


def parse_body(frame_bodies: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """One frame's body entry -> (uv (21, 2), labelled (21,)) of the first tracked body, or None."""
    for b in _as_list(frame_bodies):
        if not int(np.asarray(_field(b, "isBodyTracked")).ravel()[0]):
            continue
        joints = _as_list(_field(b, "joints"))
        uv = np.full((N_JOINTS, 2), np.nan)
        lab = np.zeros(N_JOINTS, bool)
        for j, jt in enumerate(joints[:N_JOINTS]):
            uv[j] = np.asarray(_field(jt, "depth"), dtype=np.float64).ravel()[:2]
            lab[j] = int(np.asarray(_field(jt, "trackingState")).ravel()[0]) == 2
        return uv, lab
    return None


def load_watchnpatch(root: str | Path, split: str | None = None,
                     intrinsics: Intrinsics = KINECT_V2_DEPTH) -> Iterator[FrameRecord]:
    from scipy.io import loadmat

    root = Path(root)
    seqs = sorted(p for p in root.glob("*/data_*") if p.is_dir())
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        seqs = [p for p in seqs if p.name in SPLITS[split]]
    if not seqs:
        raise ValueError(f"{root}: no <env>/data_* sequence folders (split {split!r})")
    for seq in seqs:
        # no squeeze_me: a one-frame cell would otherwise collapse into its only element
        bodies = list(loadmat(seq / "body.mat", struct_as_record=False)["body"].ravel())
        frames = sorted((seq / "depth").glob("*.mat"))
        for i, fpath in enumerate(frames):
            if i >= len(bodies):
                break
            parsed = parse_body(bodies[i])
            if parsed is None:
                continue
            depth = np.asarray(loadmat(fpath)["depth"], dtype=np.uint16)
            uv, lab = parsed
            yield FrameRecord(depth=depth, ir=None, intrinsics=intrinsics, joints_uv=uv, joints_vis=lab,
                              group={"dataset": "watchnpatch", "sequence": seq.name, "frame": fpath.stem,
                                     "environment": seq.parent.name})

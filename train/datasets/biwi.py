"""Biwi Kinect Head Pose Database (head pose on depth) -> FrameRecords.

Reference: G. Fanelli, M. Dantone, J. Gall, A. Fossati, L. Van Gool, "Random Forests for Real Time
3D Face Analysis", IJCV 101(3), 2013; layout per the database's readme (hpdb/):

    hpdb/<NN>/depth.cal                 depth camera calibration (see below)
    hpdb/<NN>/frame_<XXXXX>_depth.bin   depth frame, run-length coded (see `read_depth_bin`)
    hpdb/<NN>/frame_<XXXXX>_pose.txt    3x3 head rotation (3 rows), blank line, head centre (mm)
    hpdb/<NN>/frame_<XXXXX>_rgb.png     colour frame (not used)

``depth.cal``: 3x3 intrinsic matrix (3 rows), blank, distortion (1 row), blank, 3x3 rotation,
blank, translation, blank, width and height. ``*_depth.bin``: int32 width, int32 height, then
until width*height pixels are filled: int32 number of empty (0) pixels, int32 number of full
pixels, that many int16 depth values (mm). 640x480 Kinect v1 frames, 24 sequences, 20 people.

Head frame conversion. Biwi's rotation maps head axes to camera axes with the camera looking along
+z and a frontal face having R = I, but its head frame has x towards the subject's left... we do
not have a copy of the data to verify the signs on, so the conversion to this project's head frame
(monitor/geometry.py) is a parameter, ``head_axes`` (default diag(1, 1, 1): Biwi R used as is).
Check it on a few frames (a face turned to image-left must give positive yaw here) before training.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from monitor.frames import Intrinsics
from monitor.geometry import matrix_to_euler, project
from train.records import FrameRecord

WIDTH, HEIGHT = 640, 480


def read_depth_bin(path: str | Path) -> np.ndarray:
    data = Path(path).read_bytes()
    w, h = struct.unpack_from("<ii", data, 0)
    out = np.zeros(w * h, np.uint16)
    pos, p = 8, 0
    while p < w * h:
        if pos + 8 > len(data):
            raise ValueError(f"{path}: truncated run-length depth file at pixel {p} of {w * h}")
        empty, full = struct.unpack_from("<ii", data, pos)
        pos += 8
        p += empty
        vals = np.frombuffer(data, "<i2", full, pos)
        out[p:p + full] = vals.astype(np.uint16)
        pos += 2 * full
        p += full
    return out.reshape(h, w)


def write_depth_bin(path: str | Path, depth: np.ndarray) -> None:
    """The inverse of read_depth_bin (used by tests to write fixtures in the published layout)."""
    h, w = depth.shape
    flat = depth.ravel().astype(np.int16)
    chunks = [struct.pack("<ii", w, h)]
    p = 0
    while p < flat.size:
        e = p
        while e < flat.size and flat[e] == 0:
            e += 1
        f = e
        while f < flat.size and flat[f] != 0:
            f += 1
        chunks.append(struct.pack("<ii", e - p, f - e))
        chunks.append(flat[e:f].astype("<i2").tobytes())
        p = f
    Path(path).write_bytes(b"".join(chunks))


def read_calibration(path: str | Path) -> Intrinsics:
    nums = [float(v) for v in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", Path(path).read_text())]
    if len(nums) < 9:
        raise ValueError(f"{path}: expected a 3x3 intrinsic matrix first, found {len(nums)} numbers")
    k = np.array(nums[:9]).reshape(3, 3)
    w, h = (int(nums[25]), int(nums[26])) if len(nums) >= 27 else (WIDTH, HEIGHT)
    dist = tuple(nums[9:13]) + (0.0,) if len(nums) >= 13 else (0.0,) * 5
    return Intrinsics(w, h, k[0, 0], k[1, 1], k[0, 2], k[1, 2], dist)


def read_pose(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    nums = [float(v) for v in Path(path).read_text().split()]
    if len(nums) != 12:
        raise ValueError(f"{path}: a Biwi pose file holds 12 numbers (3x3 rotation, centre), found {len(nums)}")
    return np.array(nums[:9]).reshape(3, 3), np.array(nums[9:])


def load_biwi(root: str | Path, sequences: list[str] | None = None,
              head_axes: np.ndarray | None = None) -> Iterator[FrameRecord]:
    """Yield depth FrameRecords with head labels from ``root`` (the hpdb folder)."""
    root = Path(root)
    seqs = sorted(p for p in root.iterdir() if p.is_dir()) if sequences is None else [root / s for s in sequences]
    if not seqs:
        raise ValueError(f"{root}: no sequence folders; point at the Biwi 'hpdb' folder")
    axes = np.eye(3) if head_axes is None else np.asarray(head_axes, dtype=np.float64)
    for seq in seqs:
        intr = read_calibration(seq / "depth.cal")
        for pose_path in sorted(seq.glob("frame_*_pose.txt")):
            stem = pose_path.name[: -len("_pose.txt")]
            depth_path = seq / f"{stem}_depth.bin"
            if not depth_path.is_file():
                continue
            rot, centre = read_pose(pose_path)
            rot = rot @ axes
            uv = project(centre, intr.fx, intr.fy, intr.cx, intr.cy)
            yield FrameRecord(depth=read_depth_bin(depth_path), ir=None, intrinsics=intr, depth_unit_mm=1.0,
                              head_center_px=uv, head_distance_mm=float(centre[2]),
                              head_ypr=np.array(matrix_to_euler(rot)),
                              group={"dataset": "biwi", "sequence": seq.name, "frame": stem})

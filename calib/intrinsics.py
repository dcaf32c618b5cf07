"""Camera intrinsics: from checkerboard images (OpenCV) or from a RealSense's factory calibration."""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from monitor.frames import Intrinsics

MIN_VIEWS = 3


@dataclass
class IntrinsicsResult:
    """rms_px: OpenCV's overall reprojection RMS; per_view_rms_px in ``used`` order."""

    intrinsics: Intrinsics
    rms_px: float
    per_view_rms_px: list[float]
    used: list[str]
    rejected: list[str]

    def report(self) -> str:
        i = self.intrinsics
        lines = [f"intrinsics from {len(self.used)} views ({len(self.rejected)} without a board): "
                 f"{i.width}x{i.height} fx={i.fx:.2f} fy={i.fy:.2f} cx={i.cx:.2f} cy={i.cy:.2f}",
                 f"distortion k1,k2,p1,p2,k3 = {', '.join(f'{c:.4f}' for c in i.coeffs)}",
                 f"reprojection RMS {self.rms_px:.3f} px (worst view {max(self.per_view_rms_px):.3f} px)"]
        lines += [f"  no board found: {r}" for r in self.rejected]
        return "\n".join(lines)


def board_points(pattern: tuple[int, int], square_mm: float) -> np.ndarray:
    """(cols*rows, 3) inner-corner positions on the board plane z=0, OpenCV's corner order."""
    cols, rows = pattern
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2)
    return np.hstack([grid * square_mm, np.zeros((len(grid), 1))]).astype(np.float32)


def find_corners(gray: np.ndarray, pattern: tuple[int, int]) -> np.ndarray | None:
    """Sub-pixel inner corners (N, 2) of a checkerboard, or None when the board is not found."""
    import cv2
    ok, corners = cv2.findChessboardCornersSB(gray, pattern, flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_ACCURACY)
    if not ok:
        ok, corners = cv2.findChessboardCorners(gray, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not ok:
            return None
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1),
                                   (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3))
    return corners.reshape(-1, 2).astype(np.float32)


def calibrate_from_images(images: Sequence[np.ndarray], pattern: tuple[int, int], square_mm: float,
                          names: Sequence[str] | None = None, fix_k3: bool = True,
                          progress: Callable[[str], None] | None = None) -> IntrinsicsResult:
    """Calibrate from greyscale (or BGR) images of a checkerboard with ``pattern`` = (inner corners
    per row, per column) and ``square_mm`` squares. Needs >= 3 views with the board found."""
    import cv2
    if pattern[0] < 2 or pattern[1] < 2:
        raise ValueError(f"pattern must count inner corners, at least 2x2, got {pattern[0]}x{pattern[1]}")
    if square_mm <= 0:
        raise ValueError(f"square size must be positive, got {square_mm} mm")
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(images)} images but {len(names)} names")
    if len(images) < MIN_VIEWS:
        raise ValueError(f"need at least {MIN_VIEWS} checkerboard views, got {len(images)}: take more "
                         "pictures of the board at different angles")
    size = None
    obj, img, used, rejected = [], [], [], []
    board = board_points(pattern, square_mm)
    for i, (im, name) in enumerate(zip(images, names)):
        gray = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im
        if gray.dtype != np.uint8:
            raise ValueError(f"{name}: expected an 8-bit image, got {gray.dtype}")
        if size is None:
            size = gray.shape[::-1]
        elif gray.shape[::-1] != size:
            raise ValueError(f"{name}: image size {gray.shape[1]}x{gray.shape[0]} differs from the first "
                             f"image's {size[0]}x{size[1]}; calibrate one camera mode at a time")
        corners = find_corners(gray, pattern)
        if progress:
            progress(f"[{i + 1}/{len(images)}] {name}: {'board found' if corners is not None else 'NO BOARD'}")
        if corners is None:
            rejected.append(name)
            continue
        obj.append(board)
        img.append(corners)
        used.append(name)
    if len(used) < MIN_VIEWS:
        raise ValueError(f"the {pattern[0]}x{pattern[1]} checkerboard was found in only {len(used)} of "
                         f"{len(images)} images (need {MIN_VIEWS}); check --pattern (inner corners, "
                         "not squares) and that the whole board is visible")
    flags = cv2.CALIB_FIX_K3 if fix_k3 else 0
    rms, k, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None, None, flags=flags)
    per_view = []
    for o, p, r, t in zip(obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, k, dist)
        per_view.append(float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - p) ** 2, axis=1)))))
    d = dist.ravel().tolist() + [0.0] * 5
    intr = Intrinsics(int(size[0]), int(size[1]), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]),
                      float(k[1, 2]), tuple(float(c) for c in d[:5]))
    return IntrinsicsResult(intr, float(rms), per_view, used, rejected)


def calibrate_from_files(pattern_glob: str | Sequence[str], pattern: tuple[int, int], square_mm: float,
                         progress: Callable[[str], None] | None = None) -> IntrinsicsResult:
    import cv2
    files = sorted(glob.glob(pattern_glob)) if isinstance(pattern_glob, str) else [str(f) for f in pattern_glob]
    if not files:
        raise ValueError(f"no image files match {pattern_glob!r}")
    images = []
    for f in files:
        im = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
        if im is None:
            raise ValueError(f"{f}: cannot be read as an image")
        images.append(im)
    return calibrate_from_images(images, pattern, square_mm, names=files, progress=progress)


def realsense_intrinsics(bag: str | Path | None = None, stream: str = "infrared", index: int = 1,
                         width: int = 848, height: int = 480, fps: int = 30) -> Intrinsics:
    """Factory intrinsics of a connected RealSense (or of the camera in a .bag/.db3 recording)."""
    try:
        import pyrealsense2 as rs
    except ImportError:
        raise ValueError("pyrealsense2 is not installed: pip install pyrealsense2") from None
    kinds = _stream_kinds(rs)
    if stream not in kinds:
        raise ValueError(f"stream must be one of {sorted(kinds)}, got {stream!r}")
    if bag is not None:
        if not Path(bag).is_file():
            raise ValueError(f"{bag}: recording not found")
        i = _recorded_intrinsics(rs, Path(bag), stream, index)
        return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, tuple(float(c) for c in i.coeffs[:5]))
    if len(rs.context().query_devices()) == 0:
        raise ValueError("no RealSense device connected (give --bag to read a recording instead)")
    cfg = rs.config()
    if stream == "infrared":
        cfg.enable_stream(rs.stream.infrared, index, width, height, rs.format.y8, fps)
    else:
        cfg.enable_stream(kinds[stream], width, height, rs.format.z16 if stream == "depth" else rs.format.bgr8, fps)
    pipe = rs.pipeline()
    try:
        profile = pipe.start(cfg)
    except RuntimeError as exc:
        raise ValueError(f"cannot start the RealSense camera: {exc}") from None
    try:
        sp = profile.get_stream(kinds[stream], index if stream == "infrared" else -1)
        i = sp.as_video_stream_profile().get_intrinsics()
    except RuntimeError as exc:
        raise ValueError(f"no {stream} stream in the camera: {exc}") from None
    finally:
        pipe.stop()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, tuple(float(c) for c in i.coeffs[:5]))


def _stream_kinds(rs: Any) -> dict[str, Any]:
    """--stream name -> librealsense stream type."""
    return {"infrared": rs.stream.infrared, "depth": rs.stream.depth, "color": rs.stream.color}


def _recorded_intrinsics(rs: Any, bag: Path, stream: str, index: int) -> Any:
    """The intrinsics a recording's ``stream`` profile stores (``index`` for infrared), read
    without playing the file: starting an rs.pipeline on it and stopping it again made the
    process segfault inside librealsense now and then when the stream was missing (1 of 12
    runs here, 2 of 160 in a review)."""
    kind = _stream_kinds(rs)[stream]
    ctx = rs.context()
    try:
        device = ctx.load_device(str(bag))
    except RuntimeError as exc:
        raise ValueError(f"{bag}: librealsense cannot read this recording ({exc})") from None
    try:
        try:
            profiles = [p for sensor in device.query_sensors() for p in sensor.get_stream_profiles()]
        except RuntimeError as exc:
            raise ValueError(f"{bag}: librealsense cannot read this recording ({exc})") from None
        found = sorted({p.stream_name() for p in profiles if p.is_video_stream_profile()})
        for p in profiles:
            if (p.stream_type() == kind and (stream != "infrared" or p.stream_index() == index)
                    and p.is_video_stream_profile()):
                return p.as_video_stream_profile().get_intrinsics()
        raise ValueError(f"no {stream} stream in the recording {bag} (it has: {', '.join(found) or 'no video stream'})")
    finally:
        try:
            ctx.unload_device(str(bag))
        except RuntimeError:
            pass

"""Sensor models: noise-free render buffers -> the uint16 depth and uint8 IR a camera would deliver.

Depth (``stereo``, D4xx): disparity noise (so the error grows with z^2), spatially correlated;
holes at grazing angles, at depth edges, where the IR return is too weak, and in the occlusion
shadow left of foreground edges that the right imager cannot see; range limits.
Depth (``tof``, Kinect v2 style): noise growing linearly with z, flying pixels at edges, holes at
grazing angles and weak returns, range limits.
IR: active illuminator at the lens, albedo x cos(incidence) / range^2, LED beam fall-off,
exposure gain, shot + read noise, the D4xx dot pattern shifted by parallax, glass windows showing
the outside (dark at night, bright by day).
Random numbers come from banks made once per sequence and sampled at per-frame offsets, which keeps
frames reproducible and costs no per-frame generation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.camera import CameraPreset


def blur_rows_cols(a: np.ndarray, k: int) -> np.ndarray:
    """Box blur (k x k) with cumulative sums; keeps unit variance for white noise input."""
    c = np.cumsum(np.pad(a, ((0, 0), (k, 0))), axis=1)
    a = (c[:, k:] - c[:, :-k]) / k
    c = np.cumsum(np.pad(a, ((k, 0), (0, 0))), axis=0)
    a = (c[k:] - c[:-k]) / k
    return (a * k).astype(np.float32)  # var of a k*k mean is 1/k^2


@dataclass
class SensorModel:
    preset: CameraPreset
    width: int
    height: int
    fx: float
    exposure: float          # IR gain: DN for albedo 1 facing the camera at 1 m
    outside_level: float     # IR DN through the windows (night ~5, day ~200)
    ambient: float           # sunlight on interior surfaces, DN for albedo 1
    seed: int

    def __post_init__(self) -> None:
        rng = np.random.default_rng([3, self.seed])
        h, w = self.height, self.width
        white = rng.standard_normal((2 * h, 2 * w), dtype=np.float32)
        self._corr = blur_rows_cols(white, 4)          # correlated depth noise
        self._white = rng.standard_normal((2 * h, 2 * w), dtype=np.float32)
        # spatially correlated uniform numbers (holes come in blobs, as on a real sensor): the
        # logistic approximation of the normal CDF applied to blurred normal noise
        self._uniform = (1.0 / (1.0 + np.exp(-1.7 * blur_rows_cols(rng.standard_normal((2 * h, 2 * w), dtype=np.float32), 3)))).astype(np.float32)
        du = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / self.fx
        dv = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / self.fx
        dn2 = du[None, :] ** 2 + dv[:, None] ** 2 + 1
        beam = (1.0 / dn2) ** 3.0                        # LED beam (~cos^6, aimed along the axis) and vignetting
        self._beam_over_dn2 = (beam / dn2).astype(np.float32)
        self._cols = np.arange(w, dtype=np.float32)[None, :]
        if self.preset.emitter:
            # dot pattern in projector space: sparse small dots, wider than the image for parallax
            dots = (rng.random((h, w + 200), dtype=np.float32) < 0.035).astype(np.float32)
            self._dots = blur_rows_cols(dots, 2) / 4.0 * 0.9
            self._dots_flat = self._dots.ravel()
            # flat index of (row, col) in the dot image, + 0.5 so that astype rounds
            self._dot_base = (np.arange(h, dtype=np.float32)[:, None] * (w + 200) + self._cols + 0.5).astype(np.float32)
        else:
            self._dots = None

    def _crop(self, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        oy = int(rng.integers(0, self.height))
        ox = int(rng.integers(0, self.width))
        return bank[oy:oy + self.height, ox:ox + self.width]

    def apply(self, depth: np.ndarray, cos: np.ndarray, albedo: np.ndarray, frame_seed: tuple[int, ...],
              out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(noise-free z-depth mm with inf = nothing, cos of incidence, albedo) -> (depth uint16, IR uint8).
        ``out``: (depth, IR) arrays to write the results into (e.g. a shared-memory ring slot).

        Written with arithmetic masks instead of np.where: the hole masks are noisy, and branchy
        selects on noisy masks cost ~20x more than a multiply."""
        rng = np.random.default_rng(list(frame_seed))
        pr = self.preset
        hit = depth < np.float32(1e8)
        hitf = hit.astype(np.float32)
        z = np.minimum(depth, np.float32(1e8))
        inv_z = np.float32(1.0) / z
        # return of the illuminator: albedo cos / range^2 (range^2 = z^2 |d|^2), LED beam fall-off
        flood = albedo * cos * self._beam_over_dn2 * (inv_z * inv_z) * np.float32(1e6)
        ir = flood * np.float32(self.exposure)
        if self._dots is not None:
            # emitter 25 mm beside the reference imager; the dot image is 200 px wider than the frame, so
            # anything nearer than fx * 25 / 199 mm (a hand on the lens) takes the widest shift
            shift = np.minimum(inv_z * np.float32(self.fx * 25.0), np.float32(199.0))
            idx = (shift + self._dot_base).astype(np.int32)
            ir *= np.float32(0.75) + self._dots_flat.take(idx)
        ir += albedo * np.float32(self.ambient) * hitf + np.float32(self.outside_level) * (1 - hitf)
        ir += np.sqrt(np.float32(0.6) * ir + np.float32(4.0)) * self._crop(self._white, rng)
        ir_u8 = _cast(np.clip(ir, 0, 255), np.uint8, None if out is None else out[1])

        u = self._crop(self._uniform, rng)
        n = self._crop(self._corr, rng)
        if pr.depth_kind == "stereo":
            fb = np.float32(self.fx * pr.baseline_mm)
            zn = z + z * z * (np.float32(0.06) / fb) * n
            valid = hit & (cos > np.float32(0.1) + np.float32(0.18) * u) & (flood > np.float32(0.008))
            # occlusion shadow: points the right imager cannot see (left of foreground edges)
            xr = self._cols - fb * inv_z * hitf
            right_min = np.minimum.accumulate(xr[:, ::-1], axis=1)[:, ::-1]
            valid[:, :-1] &= right_min[:, 1:] > xr[:, :-1] - np.float32(0.5)
        else:
            zn = z + (np.float32(1.0) + np.float32(1.5e-3) * z) * n
            valid = hit & (cos > np.float32(0.1) + np.float32(0.15) * u) & (flood > np.float32(0.01))
        # depth edges: holes (stereo) or flying pixels (ToF) where neighbours differ by > 40 mm
        jump = np.zeros_like(valid)
        dz = np.abs(z[:, 1:] - z[:, :-1]) > 40
        jump[:, 1:] |= dz
        jump[:, :-1] |= dz
        dz = np.abs(z[1:] - z[:-1]) > 40
        jump[1:] |= dz
        jump[:-1] |= dz
        if pr.depth_kind == "stereo":
            valid &= ~(jump & (u < 0.6))
        else:
            far = np.maximum(np.roll(z, 1, axis=1), np.roll(z, -1, axis=1))
            fly = (jump & (u < 0.5) & (far < 1e8)).astype(np.float32)
            zn += (far - zn) * u * fly
        valid &= (zn >= pr.min_depth_mm) & (zn <= pr.max_depth_mm)
        depth_u16 = _cast((zn + np.float32(0.5)) * valid, np.uint16, None if out is None else out[0])
        return depth_u16, ir_u8

    def depth_sigma_mm(self, z_mm: np.ndarray | float) -> np.ndarray | float:
        """Standard deviation of the depth noise at distance z (what tests allow)."""
        if self.preset.depth_kind == "stereo":
            return np.asarray(z_mm) ** 2 / (self.fx * self.preset.baseline_mm) * 0.06
        return 1.0 + 1.5e-3 * np.asarray(z_mm)


def _cast(a: np.ndarray, dtype: type, out: np.ndarray | None) -> np.ndarray:
    """``a.astype(dtype)``, written into ``out`` when given (the same C cast: same values)."""
    if out is None:
        return a.astype(dtype)
    if out.shape != a.shape or out.dtype != dtype:  # copyto would broadcast a smaller array
        raise ValueError(f"output array {out.dtype}{out.shape} does not fit {np.dtype(dtype)}{a.shape}")
    np.copyto(out, a, casting="unsafe")
    return out

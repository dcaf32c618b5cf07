"""Analytic solids and their exact ray casts, vectorised over pixels.

Rays leave the camera centre through pixel (u, v) with direction d = ((u-cx)/fx, (v-cy)/fy, 1),
so the ray parameter t of a hit *is* the z-depth in millimetres. Every cast takes ``du`` and
``dv`` arrays that broadcast against each other ((1, w) and (h, 1) for an image window, or (K,)
for single rays) and returns ``t`` (inf where missed) and ``cos`` = cosine between the surface
normal and the reversed ray (1 = facing the camera, 0 = grazing).

Solids are defined in any frame and moved to the camera frame with ``moved(R, t)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# instance labels (masks): 0 = nothing / outside the car
LABEL_NONE, LABEL_CABIN, LABEL_SEAT, LABEL_WHEEL, LABEL_DRIVER, LABEL_ACCESSORY, LABEL_PASSENGER = range(7)
LABEL_NAMES = ("none", "cabin", "seat", "wheel", "driver", "accessory", "passenger")


@dataclass
class Ellipsoid:
    """Ellipsoid with semi-axes ``radii`` along the columns of ``axes``; optional spherical
    carves (centre, radius) are subtracted from it (eye sockets)."""

    center: np.ndarray
    axes: np.ndarray
    radii: np.ndarray
    albedo: float
    label: int
    carves: tuple[tuple[np.ndarray, float], ...] = ()
    pupil_dir: np.ndarray | None = None  # eyeballs: unit gaze direction; albedo varies with it

    def moved(self, rot: np.ndarray, trans: np.ndarray) -> "Ellipsoid":
        return replace(self, center=rot @ self.center + trans, axes=rot @ self.axes,
                       carves=tuple((rot @ c + trans, r) for c, r in self.carves),
                       pupil_dir=None if self.pupil_dir is None else rot @ self.pupil_dir)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        ext = np.sqrt(((self.axes * self.radii) ** 2).sum(axis=1))
        return self.center - ext, self.center + ext


@dataclass
class Capsule:
    """Segment a-b swept by a sphere of ``radius``."""

    a: np.ndarray
    b: np.ndarray
    radius: float
    albedo: float
    label: int

    def moved(self, rot: np.ndarray, trans: np.ndarray) -> "Capsule":
        return replace(self, a=rot @ self.a + trans, b=rot @ self.b + trans)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        return np.minimum(self.a, self.b) - self.radius, np.maximum(self.a, self.b) + self.radius


@dataclass
class Box:
    """Oriented box: half extents ``half`` along the columns of ``axes``."""

    center: np.ndarray
    axes: np.ndarray
    half: np.ndarray
    albedo: float
    label: int

    def moved(self, rot: np.ndarray, trans: np.ndarray) -> "Box":
        return replace(self, center=rot @ self.center + trans, axes=rot @ self.axes)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        ext = np.abs(self.axes * self.half).sum(axis=1)
        return self.center - ext, self.center + ext


Primitive = Ellipsoid | Capsule | Box
NEAR_MM = 100.0  # nothing closer than this to the camera plane is rendered (below every sensor's range)


def _dot_d(v: np.ndarray, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """v . d for every ray (python floats keep the arithmetic in float32)."""
    return float(v[0]) * du + float(v[1]) * dv + float(v[2])


def cast_ellipsoid(p: Ellipsoid, du: np.ndarray, dv: np.ndarray, dnorm: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    """Returns t, cos, and the albedo (per ray for eyeballs, else a scalar)."""
    inv_r = 1.0 / p.radii
    a = inv_r[:, None] * p.axes.T  # maps camera coordinates into the unit sphere frame
    g0, g1, g2 = (float(x) for x in -(a @ p.center))
    i0, i1, i2 = (float(x) for x in inv_r * inv_r)
    e0, e1, e2 = (_dot_d(a[i], du, dv) for i in range(3))
    ee = e0 * e0 + e1 * e1 + e2 * e2
    eg = g0 * e0 + g1 * e1 + g2 * e2
    disc = eg * eg - ee * (g0 * g0 + g1 * g1 + g2 * g2 - 1.0)
    hit = disc > 0
    root = np.sqrt(np.maximum(disc, 0))
    t = (-eg - root) / ee
    q0, q1, q2 = t * e0 + g0, t * e1 + g1, t * e2 + g2
    qn = np.sqrt(q0 * q0 * i0 + q1 * q1 * i1 + q2 * q2 * i2)
    cos = -(q0 * e0 + q1 * e1 + q2 * e2) / (qn * dnorm)
    if p.carves:
        t_exit = (-eg + root) / ee
        dd = dnorm * dnorm
        for centre, rad in p.carves:
            ds = _dot_d(centre, du, dv)
            sdisc = ds * ds - dd * float(centre @ centre - rad * rad)
            sroot = np.sqrt(np.maximum(sdisc, 0))
            s0, s1 = (ds - sroot) / dd, (ds + sroot) / dd
            inside = (sdisc > 0) & (s0 < t) & (t < s1)
            hit &= ~(inside & (s1 >= t_exit))
            carved = inside & (s1 < t_exit)
            t = np.where(carved, s1, t)
            cos = np.where(carved, (s1 * dd - ds) / (float(rad) * dnorm), cos)
    t = np.where(hit & (t > 0), t, np.float32(np.inf))
    albedo: np.ndarray | float = p.albedo
    if p.pupil_dir is not None:
        # eyeball: dark pupil, mid iris, bright sclera, a corneal glint facing the illuminator
        pl = p.axes.T @ p.pupil_dir
        cg = q0 * float(pl[0]) + q1 * float(pl[1]) + q2 * float(pl[2])
        albedo = np.where(cg > 0.955, np.float32(0.05), np.where(cg > 0.86, np.float32(0.3), np.float32(p.albedo)))
        albedo = np.where(cos > 0.992, np.float32(4.0), albedo)
    return t, np.clip(cos, 0, 1), albedo


def cast_capsule(p: Capsule, du: np.ndarray, dv: np.ndarray, dnorm: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    a0, a1, a2 = (float(x) for x in p.a)
    b0, b1, b2 = (float(x) for x in p.b)
    r = float(p.radius)
    ba0, ba1, ba2 = b0 - a0, b1 - a1, b2 - a2
    baba = ba0 * ba0 + ba1 * ba1 + ba2 * ba2
    baoa = -(ba0 * a0 + ba1 * a1 + ba2 * a2)
    bard = ba0 * du + ba1 * dv + ba2
    rdoa = -(a0 * du + a1 * dv + a2)
    rdrd = dnorm * dnorm
    k2 = baba * rdrd - bard * bard
    k1 = baba * rdoa - baoa * bard
    k0 = baba * (a0 * a0 + a1 * a1 + a2 * a2) - baoa * baoa - r * r * baba
    h = k1 * k1 - k2 * k0
    t = (-k1 - np.sqrt(np.maximum(h, 0))) / np.maximum(k2, np.float32(1e-12))
    y = baoa + t * bard
    body = (h >= 0) & (y > 0) & (y < baba)
    # end caps: the sphere at a (y <= 0) or at b (y >= baba)
    rdob = -(b0 * du + b1 * dv + b2)
    cb = np.where(y <= 0, rdoa, rdob)
    cc = np.where(y <= 0, a0 * a0 + a1 * a1 + a2 * a2, b0 * b0 + b1 * b1 + b2 * b2) - r * r
    hc = cb * cb - rdrd * cc
    tc = (-cb - np.sqrt(np.maximum(hc, 0))) / rdrd
    t = np.where(body, t, np.where(hc > 0, tc, np.float32(np.inf)))
    t = np.where(t > 0, t, np.float32(np.inf))
    # normal from the closest point of the segment: n.d = t|d|^2 + (-a).d - s (ba.d)
    s = np.clip((t * bard + baoa) * (1.0 / baba), 0, 1)
    cos = -(t * rdrd + rdoa - s * bard) / (r * dnorm)
    return t, np.clip(cos, 0, 1), p.albedo


def cast_box(p: Box, du: np.ndarray, dv: np.ndarray, dnorm: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, float]:
    tnear = np.full(np.broadcast(du, dv).shape, -np.inf, dtype=np.float32)
    tfar = np.full_like(tnear, np.inf)
    cos_near = np.zeros_like(tnear)
    for i in range(3):
        ax = p.axes[:, i]
        o = float(-(ax @ p.center))  # ray origin (camera centre) in box coordinates
        dl = _dot_d(ax, du, dv)
        dl = np.where(np.abs(dl) < 1e-9, np.float32(1e-9), dl)
        t1 = (-p.half[i] - o) / dl
        t2 = (p.half[i] - o) / dl
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        better = lo > tnear
        tnear = np.where(better, lo, tnear)
        cos_near = np.where(better, np.abs(dl) / dnorm, cos_near)
        tfar = np.minimum(tfar, hi)
    hit = (tnear <= tfar) & (tnear > 0)
    return np.where(hit, tnear, np.float32(np.inf)), np.clip(cos_near, 0, 1), p.albedo


def cast(p: Primitive, du: np.ndarray, dv: np.ndarray, dnorm: np.ndarray):
    if isinstance(p, Ellipsoid):
        return cast_ellipsoid(p, du, dv, dnorm)
    if isinstance(p, Capsule):
        return cast_capsule(p, du, dv, dnorm)
    return cast_box(p, du, dv, dnorm)


@dataclass
class Canvas:
    """Render targets of one camera: z-depth (mm, inf = nothing), cos of incidence, albedo and
    instance label per pixel."""

    depth: np.ndarray
    cos: np.ndarray
    albedo: np.ndarray
    label: np.ndarray
    du: np.ndarray = field(repr=False)  # (1, W) ray slopes
    dv: np.ndarray = field(repr=False)  # (H, 1)
    dnorm: np.ndarray = field(repr=False)  # (H, W) |d|
    fx: float = 1.0
    fy: float = 1.0
    cx: float = 0.0
    cy: float = 0.0

    @classmethod
    def empty(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> "Canvas":
        du = ((np.arange(width, dtype=np.float32) - cx) / fx)[None, :]
        dv = ((np.arange(height, dtype=np.float32) - cy) / fy)[:, None]
        dnorm = np.sqrt(du * du + dv * dv + 1).astype(np.float32)
        shape = (height, width)
        return cls(np.full(shape, np.inf, np.float32), np.zeros(shape, np.float32),
                   np.zeros(shape, np.float32), np.zeros(shape, np.uint8), du, dv, dnorm, fx, fy, cx, cy)

    def copy(self) -> "Canvas":
        return replace(self, depth=self.depth.copy(), cos=self.cos.copy(), albedo=self.albedo.copy(),
                       label=self.label.copy())

    def window(self, p: Primitive, near: float = NEAR_MM) -> tuple[slice, slice] | None:
        """Pixel rectangle that contains the primitive's projection (None: off screen). Surface
        closer than ``near`` to the camera plane is ignored (no sensor sees it)."""
        if isinstance(p, Capsule):
            a, b = p.a, p.b
            zmin = near + p.radius
            if a[2] < zmin and b[2] < zmin:
                return None
            if a[2] < zmin or b[2] < zmin:  # clip the axis to the part in front of the camera
                lo_end, hi_end = (a, b) if a[2] < b[2] else (b, a)
                f = (zmin - lo_end[2]) / (hi_end[2] - lo_end[2])
                a, b = lo_end + f * (hi_end - lo_end), hi_end
            lo, hi = np.minimum(a, b) - p.radius, np.maximum(a, b) + p.radius
        else:
            lo, hi = p.aabb()
        h, w = self.depth.shape
        if hi[2] <= near:
            return None
        lz = max(lo[2], near)
        xs = np.array([lo[0], hi[0]])[:, None]
        zs = np.array([lz, hi[2]])[None, :]
        us = self.fx * xs / zs + self.cx
        ys = np.array([lo[1], hi[1]])[:, None]
        vs = self.fy * ys / zs + self.cy
        u0, u1 = int(max(np.floor(us.min()), 0)), int(min(np.ceil(us.max()) + 1, w))
        v0, v1 = int(max(np.floor(vs.min()), 0)), int(min(np.ceil(vs.max()) + 1, h))
        if u0 >= u1 or v0 >= v1:
            return None
        return slice(v0, v1), slice(u0, u1)

    def draw(self, p: Primitive) -> None:
        win = self.window(p)
        if win is None:
            return
        rows, cols = win
        t, cos, albedo = cast(p, self.du[:, cols], self.dv[rows], self.dnorm[rows, cols])
        zbuf = self.depth[rows, cols]
        hit = t < zbuf
        np.copyto(zbuf, t, where=hit)
        np.copyto(self.cos[rows, cols], cos, where=hit)
        np.copyto(self.albedo[rows, cols], np.float32(albedo) if np.isscalar(albedo) else albedo, where=hit)
        np.copyto(self.label[rows, cols], np.uint8(p.label), where=hit)


def cast_rays(prims: list[Primitive], du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Nearest hit depth along single rays against a list of solids (labels: joint surfaces)."""
    du = np.asarray(du, np.float32)
    dv = np.asarray(dv, np.float32)
    dnorm = np.sqrt(du * du + dv * dv + 1)
    best = np.full(du.shape, np.inf, np.float32)
    for p in prims:
        best = np.minimum(best, cast(p, du, dv, dnorm)[0])
    return best


def cast_each(prims: list[Primitive], du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """(len(prims), K) hit depths of K single rays against each solid separately."""
    du = np.asarray(du, np.float32)
    dv = np.asarray(dv, np.float32)
    dnorm = np.sqrt(du * du + dv * dv + 1)
    out = np.full((len(prims), du.size), np.inf, np.float32)
    for n, p in enumerate(prims):
        out[n] = cast(p, du, dv, dnorm)[0]
    return out

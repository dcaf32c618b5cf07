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
    glare_only: bool = False  # clear lenses: invisible to depth, only a specular glare in IR

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


@dataclass
class Rays:
    """Rays d = (du, dv, 1) of an image window (du (1, w), dv (h, 1)) or of K single rays (all
    (K,)), with the products the casts need precomputed once per canvas."""

    du: np.ndarray
    dv: np.ndarray
    du2: np.ndarray
    dv2: np.ndarray
    duv: np.ndarray  # du * dv, full size
    dn: np.ndarray   # |d|
    dn2: np.ndarray  # |d|^2

    @classmethod
    def make(cls, du: np.ndarray, dv: np.ndarray) -> "Rays":
        du = np.asarray(du, np.float32)
        dv = np.asarray(dv, np.float32)
        dn2 = (du * du + dv * dv + 1).astype(np.float32)
        return cls(du, dv, du * du, dv * dv, du * dv, np.sqrt(dn2), dn2)

    def sub(self, rows: slice, cols: slice) -> "Rays":
        return Rays(self.du[:, cols], self.dv[rows], self.du2[:, cols], self.dv2[rows], self.duv[rows, cols],
                    self.dn[rows, cols], self.dn2[rows, cols])

    def lin(self, v: np.ndarray) -> np.ndarray:
        """v . d (one full-size operation)."""
        return float(v[0]) * self.du + (float(v[1]) * self.dv + float(v[2]))

    def quad(self, m: np.ndarray) -> np.ndarray:
        """d^T m d for symmetric m (two or three full-size operations)."""
        row = float(m[0, 0]) * self.du2 + float(2 * m[0, 2]) * self.du
        col = float(m[1, 1]) * self.dv2 + float(2 * m[1, 2]) * self.dv + float(m[2, 2])
        out = row + col
        if m[0, 1] != 0.0:
            out += float(2 * m[0, 1]) * self.duv
        return out


def cast_ellipsoid(p: Ellipsoid, r: Rays) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    """Returns t, cos, and the albedo (per ray for eyeballs, else a scalar).

    In the unit-sphere frame q = A(p - c) the ray is q = t e + g with e = A d; e.e and e.g are a
    quadratic and a linear form of d, and q.e = -sqrt(disc) at the entry point, which keeps the
    per-pixel work to ~30 array operations."""
    inv_r = 1.0 / p.radii
    a = inv_r[:, None] * p.axes.T  # maps camera coordinates into the unit sphere frame
    g = -(a @ p.center)
    dg = inv_r * inv_r * g
    ee = r.quad(a.T @ a)
    eg = r.lin(a.T @ g)
    disc = eg * eg - ee * float(g @ g - 1.0)
    hit = disc > 0
    root = np.sqrt(np.maximum(disc, 0))
    t = (-eg - root) / ee
    # |n|^2 with n = A^T q:  t^2 e.De + 2t g.De + g.Dg,  D = diag(1/r^2)
    qn2 = t * t * r.quad(a.T @ (inv_r[:, None] ** 2 * a)) + 2.0 * t * r.lin(a.T @ dg) + float(g @ dg)
    cos = root / (np.sqrt(np.maximum(qn2, 1e-30)) * r.dn)
    if p.carves:
        t_exit = (-eg + root) / ee
        for centre, rad in p.carves:
            ds = r.lin(centre)
            sdisc = ds * ds - r.dn2 * float(centre @ centre - rad * rad)
            sroot = np.sqrt(np.maximum(sdisc, 0))
            s0, s1 = (ds - sroot) / r.dn2, (ds + sroot) / r.dn2
            inside = (sdisc > 0) & (s0 < t) & (t < s1)
            hit &= ~(inside & (s1 >= t_exit))
            carved = inside & (s1 < t_exit)
            t = np.where(carved, s1, t)
            cos = np.where(carved, (s1 * r.dn2 - ds) / (float(rad) * r.dn), cos)
    t = np.where(hit & (t > 0), t, np.float32(np.inf))
    albedo: np.ndarray | float = p.albedo
    if p.pupil_dir is not None:
        # eyeball: dark pupil, mid iris, bright sclera, a corneal glint facing the illuminator
        pl = p.axes.T @ p.pupil_dir  # gaze in the unit-sphere frame (a sphere: axes only)
        cg = t * r.lin(a.T @ pl) + float(g @ pl)
        albedo = np.where(cg > 0.955, np.float32(0.05), np.where(cg > 0.86, np.float32(0.3), np.float32(p.albedo)))
        albedo = np.where(cos > 0.992, np.float32(4.0), albedo)
    return t, np.minimum(cos, 1), albedo


def cast_capsule(p: Capsule, r: Rays) -> tuple[np.ndarray, np.ndarray, float]:
    """Ray / capsule (after Inigo Quilez), rays not normalised."""
    a, b = p.a, p.b
    rad = float(p.radius)
    ba = b - a
    baba = float(ba @ ba)
    baoa = -float(ba @ a)
    bard = r.lin(ba)
    rdoa = r.lin(-a)
    k2 = baba * r.dn2 - bard * bard
    k1 = baba * rdoa - baoa * bard
    k0 = baba * float(a @ a) - baoa * baoa - rad * rad * baba
    h = k1 * k1 - k2 * k0
    t = (-k1 - np.sqrt(np.maximum(h, 0))) / np.maximum(k2, np.float32(1e-12))
    y = baoa + t * bard
    body = (h >= 0) & (y > 0) & (y < baba)
    # end caps: the sphere at a (y <= 0) or at b (y >= baba)
    near_a = y <= 0
    cb = np.where(near_a, rdoa, r.lin(-b))
    cc = np.where(near_a, np.float32(a @ a - rad * rad), np.float32(b @ b - rad * rad))
    hc = cb * cb - r.dn2 * cc
    tc = (-cb - np.sqrt(np.maximum(hc, 0))) / r.dn2
    t = np.where(body, t, np.where(hc > 0, tc, np.float32(np.inf)))
    t = np.where(t > 0, t, np.float32(np.inf))
    # normal from the closest point of the segment: n.d = t|d|^2 + (-a).d - s (ba.d); a missed
    # ray (t = inf) with bard = 0 gives NaN here, which `Canvas.draw` never uses (inf < zbuf fails)
    with np.errstate(invalid="ignore"):
        s = np.clip((t * bard + baoa) * (1.0 / baba), 0, 1)
        cos = -(t * r.dn2 + rdoa - s * bard) / (rad * r.dn)
    return t, np.clip(cos, 0, 1), p.albedo


def cast_box(p: Box, r: Rays) -> tuple[np.ndarray, np.ndarray, float]:
    shape = np.broadcast(r.du, r.dv).shape
    tnear = np.full(shape, -np.inf, dtype=np.float32)
    tfar = np.full_like(tnear, np.inf)
    cos_near = np.zeros_like(tnear)
    for i in range(3):
        ax = p.axes[:, i]
        o = float(-(ax @ p.center))  # ray origin (camera centre) in box coordinates
        dl = r.lin(ax)
        dl = np.where(np.abs(dl) < 1e-9, np.float32(1e-9), dl)
        t1 = (-p.half[i] - o) / dl
        t2 = (p.half[i] - o) / dl
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        better = lo > tnear
        tnear = np.where(better, lo, tnear)
        cos_near = np.where(better, np.abs(dl) / r.dn, cos_near)
        tfar = np.minimum(tfar, hi)
    hit = (tnear <= tfar) & (tnear > 0)
    return np.where(hit, tnear, np.float32(np.inf)), np.clip(cos_near, 0, 1), p.albedo


def cast(p: Primitive, rays: Rays):
    if isinstance(p, Ellipsoid):
        return cast_ellipsoid(p, rays)
    if isinstance(p, Capsule):
        return cast_capsule(p, rays)
    return cast_box(p, rays)


@dataclass
class Canvas:
    """Render targets of one camera: z-depth (mm, inf = nothing), cos of incidence, albedo and
    instance label per pixel."""

    depth: np.ndarray
    cos: np.ndarray
    albedo: np.ndarray
    label: np.ndarray
    rays: Rays = field(repr=False)
    fx: float = 1.0
    fy: float = 1.0
    cx: float = 0.0
    cy: float = 0.0

    @classmethod
    def empty(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> "Canvas":
        du = ((np.arange(width, dtype=np.float32) - cx) / fx)[None, :]
        dv = ((np.arange(height, dtype=np.float32) - cy) / fy)[:, None]
        shape = (height, width)
        return cls(np.full(shape, np.inf, np.float32), np.zeros(shape, np.float32),
                   np.zeros(shape, np.float32), np.zeros(shape, np.uint8), Rays.make(du, dv), fx, fy, cx, cy)

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

    def _bands(self, p: Capsule, rows: slice, cols: slice, band: int = 24) -> list[tuple[slice, slice]]:
        """Split a capsule's rectangle into row bands, each only as wide as the projected capsule
        there: diagonal limbs near the camera cover a small part of their bounding rectangle."""
        zmin = NEAR_MM + p.radius
        a, b = p.a, p.b
        if a[2] < zmin or b[2] < zmin:
            lo_end, hi_end = (a, b) if a[2] < b[2] else (b, a)
            f = (zmin - lo_end[2]) / (hi_end[2] - lo_end[2])
            a, b = lo_end + f * (hi_end - lo_end), hi_end
        px, py = self.fx * a[0] / a[2] + self.cx, self.fy * a[1] / a[2] + self.cy
        qx, qy = self.fx * b[0] / b[2] + self.cx, self.fy * b[1] / b[2] + self.cy
        # projected radius, generous for the off-axis stretch of spheres under perspective
        rp = 1.5 * self.fx * p.radius / (min(a[2], b[2]) - p.radius) + 3.0
        out = []
        for v0 in range(rows.start, rows.stop, band):
            v1 = min(v0 + band, rows.stop)
            ylo, yhi = v0 - rp, v1 + rp
            if abs(qy - py) < 1e-6:
                if not ylo <= py <= yhi:
                    continue
                s0, s1 = 0.0, 1.0
            else:
                s0, s1 = sorted(((ylo - py) / (qy - py), (yhi - py) / (qy - py)))
                s0, s1 = max(s0, 0.0), min(s1, 1.0)
                if s0 > s1:
                    continue
            x0, x1 = px + s0 * (qx - px), px + s1 * (qx - px)
            u0 = max(int(min(x0, x1) - rp), cols.start)
            u1 = min(int(max(x0, x1) + rp) + 2, cols.stop)
            if u0 < u1:
                out.append((slice(v0, v1), slice(u0, u1)))
        return out

    def draw(self, p: Primitive) -> None:
        win = self.window(p)
        if win is None:
            return
        rows, cols = win
        wins = [win]
        area = (rows.stop - rows.start) * (cols.stop - cols.start)
        if isinstance(p, Capsule) and area > 20000:
            # bands only pay when they skip much more than their per-call overhead (~5000 px each)
            bands = self._bands(p, rows, cols, band=max(48, (rows.stop - rows.start) // 4))
            banded = sum((r.stop - r.start) * (c.stop - c.start) for r, c in bands)
            if banded + 5000 * (len(bands) - 1) < area:
                wins = bands
        for rows, cols in wins:
            t, cos, albedo = cast(p, self.rays.sub(rows, cols))
            zbuf = self.depth[rows, cols]
            hit = t < zbuf
            if getattr(p, "glare_only", False):
                # reflection of the illuminator where the lens faces the camera; depth sees through
                np.copyto(self.albedo[rows, cols], np.float32(3.0), where=hit & (cos > 0.997))
                continue
            np.copyto(zbuf, t, where=hit)
            np.copyto(self.cos[rows, cols], cos, where=hit)
            np.copyto(self.albedo[rows, cols], np.float32(albedo) if np.isscalar(albedo) else albedo, where=hit)
            np.copyto(self.label[rows, cols], np.uint8(p.label), where=hit)


def _first_root(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Smaller positive-side root t of a t^2 + 2 b t + c = 0 (inf where none)."""
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def cast_each_exact(prims: list[Primitive], du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """(len(prims), K) hit depths (z, mm; inf = miss) of K single rays against each solid, in
    float64 (labels): plain ellipsoids and capsules go in one batch each; carved ellipsoids and
    boxes take the general path."""
    d = np.stack([np.asarray(du, float), np.asarray(dv, float), np.ones(np.size(du))])  # (3, K)
    out = np.full((len(prims), d.shape[1]), np.inf)
    ell = [i for i, p in enumerate(prims) if isinstance(p, Ellipsoid) and not p.carves]
    cap = [i for i, p in enumerate(prims) if isinstance(p, Capsule)]
    other = [i for i in range(len(prims)) if i not in set(ell) | set(cap)]
    if ell:
        a = np.stack([(1.0 / prims[i].radii)[:, None] * prims[i].axes.T for i in ell])   # (n, 3, 3)
        g = -np.einsum("nij,nj->ni", a, np.stack([prims[i].center for i in ell]))        # (n, 3)
        e = np.einsum("nij,jk->nik", a, d)                                                # (n, 3, K)
        out[ell] = _first_root((e * e).sum(1), (g[:, :, None] * e).sum(1), (g * g).sum(1)[:, None] - 1.0)
    if cap:
        pa = np.stack([prims[i].a for i in cap])
        pb = np.stack([prims[i].b for i in cap])
        rr = np.array([prims[i].radius for i in cap])[:, None]
        ba = pb - pa
        baba = (ba * ba).sum(1)[:, None]
        baoa = -(ba * pa).sum(1)[:, None]
        bard = ba @ d
        rdoa = -(pa @ d)
        dd = (d * d).sum(0)[None, :]
        k2 = baba * dd - bard * bard
        k1 = baba * rdoa - baoa * bard
        k0 = baba * (pa * pa).sum(1)[:, None] - baoa * baoa - rr * rr * baba
        t = _first_root(k2, k1, k0)
        y = baoa + t * bard
        body = np.isfinite(t) & (y > 0) & (y < baba)
        ta = _first_root(dd, rdoa, (pa * pa).sum(1)[:, None] - rr * rr)
        tb = _first_root(dd, -(pb @ d), (pb * pb).sum(1)[:, None] - rr * rr)
        out[cap] = np.where(body, t, np.minimum(ta, tb))
    if other:
        rays = Rays.make(du, dv)
        for i in other:
            out[i] = cast(prims[i], rays)[0]
    return out

"""Generation speed: labelled depth+IR frames per second on one core.

    python -m synth.bench                      # 640x480, D435 model, both mounts, default drive
    python -m synth.bench --size 848x480 --frames 300

What makes it fast (docs/synth.md): the static cabin is ray-cast once per camera; per frame only
the occupant's ~55 analytic solids are cast, each in its own screen rectangle (long diagonal limbs
in row bands), with the ray products (|d|^2, du*dv) precomputed so an ellipsoid costs ~30 and a
capsule ~50 float32 array operations per pixel; the sensor models use arithmetic masks (no
branchy selects on noisy masks) and pre-made noise banks read at random offsets; labels cast the
K joint rays against all solids in one float64 batch.
Numpy's elementwise kernels are single-threaded, so one process uses one core; the figures are
wall-clock (best of ``--repeats`` passes) and process CPU time, which is what a loaded machine
cannot inflate as much.
"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the thread caps


def run(size: tuple[int, int], frames: int, mounts: list[str], camera: str, repeats: int, seed: int) -> list[dict]:
    from synth.scene import Scene

    results = []
    for mount in mounts:
        t0 = time.perf_counter()
        scene = Scene(seed=seed, camera=camera, mount=mount, width=size[0], height=size[1])
        init_s = time.perf_counter() - t0
        idx = np.linspace(0, len(scene) - 1, frames).astype(int)
        scene.render(int(idx[0]))  # warm caches
        best_wall, best_cpu = np.inf, np.inf
        parts = {"render": 0.0}
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            for i in idx:
                f = scene.render(int(i))
                assert f.depth.dtype == np.uint16 and f.ir.dtype == np.uint8 and f.labels["joints"]
            best_wall = min(best_wall, time.perf_counter() - w0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        parts["render"] = best_wall
        results.append({"mount": mount, "camera": camera, "size": f"{size[0]}x{size[1]}", "frames": frames,
                        "init_s": init_s, "fps_wall": frames / best_wall, "fps_cpu": frames / best_cpu,
                        "ms_per_frame_wall": 1000 * best_wall / frames, "ms_per_frame_cpu": 1000 * best_cpu / frames})
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Measure synthetic frame generation speed (one core).")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--frames", type=int, default=150, help="frames per pass, spread over the drive")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--camera", default="d435")
    ap.add_argument("--mounts", default="dashboard,mirror")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    w, h = (int(x) for x in a.size.lower().split("x"))
    print(f"synth.bench: labelled depth+IR frames (render + sensor models + labels), {a.camera} model at {w}x{h},"
          f" default 'drive' scenario, seed {a.seed}, one process (numpy single-threaded)")
    for r in run((w, h), a.frames, a.mounts.split(","), a.camera, a.repeats, a.seed):
        print(f"  mount={r['mount']:9s} init {r['init_s'] * 1000:6.0f} ms | {r['fps_wall']:6.1f} frames/s wall"
              f" ({r['ms_per_frame_wall']:5.1f} ms/frame) | {r['fps_cpu']:6.1f} frames/s CPU"
              f" ({r['ms_per_frame_cpu']:5.1f} ms/frame)")
    load = os.getloadavg()
    print(f"  load average during the run: {load[0]:.2f} ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

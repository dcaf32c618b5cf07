"""Benchmark inputs: frames rendered once per resolution, replayed at any rate.

Rendering a synthetic frame costs tens of milliseconds, so the benchmark never renders while it
measures. ``cached_frames`` renders a few seconds of the synthetic drive once into a ``.dmsrec``
(kept under the cache folder, reused by later runs); ``paced_recording`` writes the recording a
run replays: those frames cycled to the wanted count, with frame ids and device timestamps
rewritten to the wanted rate (the capture worker paces by ``device_ts_ms``).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.childenv import child_env
from monitor.recording import RecordingReader, RecordingWriter
from monitor.wire import decode, encode


def cached_frames(cache_dir: Path, width: int, height: int, count: int, seed: int = 0,
                  log=print) -> Path:
    """Path of a recording of ``count`` synthetic frames at width x height (rendered if missing,
    in a child process: the renderer's memory would otherwise stay in the benchmark process,
    which runs the supervisor and is measured as it)."""
    path = Path(cache_dir) / f"synthetic_seed{seed}_{width}x{height}_{count}.dmsrec"
    if path.is_file():
        with RecordingReader(path) as reader:
            if reader.info.get("frames") == count:
                return path
    log(f"rendering {count} synthetic frames at {width}x{height} into {path} (once)")
    subprocess.run([sys.executable, "-m", "monitor.bench.cache", str(path), str(width), str(height), str(count),
                    str(seed)], check=True, env=child_env(), stdin=subprocess.DEVNULL)
    return path


def render_frames(path: Path, width: int, height: int, count: int, seed: int) -> None:
    """Render ``count`` frames of the synthetic drive into the recording ``path``."""
    from monitor.sources import open_source

    tmp = path.with_suffix(".tmp")
    source = open_source(f"synthetic:seed={seed},width={width},height={height},frames={count}")
    try:
        with RecordingWriter(tmp, {"source": source.name, "frames": count}) as writer:
            for frameset in source:
                writer.write(frameset.to_message({}))
    finally:
        source.close()
    tmp.replace(path)


def paced_recording(frames: Path, out: Path, fps: float, count: int) -> Path:
    """Write ``count`` framesets cycled from ``frames`` with ids 0.. and timestamps i * 1000 / fps."""
    if fps <= 0 or count <= 0:
        raise ValueError(f"paced_recording: fps ({fps}) and count ({count}) must be positive")
    with RecordingReader(frames) as reader:
        base = [parts for parts in reader.iter_parts() if bytes(parts[0]) == b"frames"]
    if not base:
        raise ValueError(f"{frames} holds no framesets; delete it so it is rendered again")
    out = Path(out)
    tmp = out.with_suffix(".tmp")
    with RecordingWriter(tmp, {"source": f"bench:{frames.name}", "fps": fps, "frames": count}) as writer:
        for i in range(count):
            parts = base[i % len(base)]
            msg = decode(parts)
            msg.frame, msg.device_ts_ms = i, i * 1000.0 / fps
            writer.write_parts(encode(msg))
    tmp.replace(out)
    return out


if __name__ == "__main__":  # cached_frames' child: python -m monitor.bench.cache PATH W H COUNT SEED
    out, w, h, n, seed_arg = sys.argv[1:6]
    render_frames(Path(out), int(w), int(h), int(n), int(seed_arg))

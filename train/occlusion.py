"""Synthetic hand-and-forearm occluders for depth head crops (training augmentation).

Seen from a side mount (the A-pillar), a hand held near the face lies between the camera and the
face; the depth head model had only ever seen faces in the clear and read such frames 10-20 deg
off (docs/gaze_state.md). Pasting synthetic occluders into training crops is the usual remedy
(Sarandi et al. 2018, "How robust is 3D human pose estimation to occlusion?", pasted objects).

Shape, in the 64-px crop of a 320-mm box (5 mm a pixel): a hand (an ellipse 14-24 px across and
20-44 px long, i.e. 70-120 by 100-220 mm: a palm with the fingers, as synth's hands appear over
the face from the pillar mount) somewhere over the crop's middle, and, in most crops, a forearm
(a band 5-8 px half-width) running from the hand out of the crop along the hand's long axis.
Depth: the hand 30-130 mm in front of the head centre (normalised -0.8 .. -0.2 with the
contract's 160-mm range; the face surface is at about -0.15), the forearm sloping from there by
up to +-0.5 over the crop, plus a little noise.
The occluder is composited like a z-buffer: a pixel only changes where the occluder is nearer
than what is there, so a hand "behind" the head is hidden by it, and holes (1.0) are filled.
"""
from __future__ import annotations

import numpy as np

HAND_HALF_WIDTH_PX = (7.0, 12.0)
HAND_HALF_LENGTH_PX = (10.0, 22.0)
ARM_HALF_WIDTH_PX = (5.0, 8.0)
ARM_PROBABILITY = 0.7
HAND_DEPTH = (-0.8, -0.2)        # normalised depth of the hand (depth_head_relative, 160-mm range)
ARM_SLOPE = 0.5                  # the forearm's depth changes by up to this much over one crop width
NOISE_SD = 0.02


def occluder_depth(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) normalised depth of one hand + forearm; +inf where the occluder is absent."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0.25 * size, 0.75 * size, 2)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ux, uy = np.cos(angle), np.sin(angle)
    # along: distance from the hand centre along the forearm; across: distance from its axis
    along = (xx - cx) * ux + (yy - cy) * uy
    across = np.abs(-(xx - cx) * uy + (yy - cy) * ux)
    hand = (along / rng.uniform(*HAND_HALF_LENGTH_PX)) ** 2 + (across / rng.uniform(*HAND_HALF_WIDTH_PX)) ** 2 <= 1.0
    arm = (along >= 0.0) & (across <= rng.uniform(*ARM_HALF_WIDTH_PX)) & (rng.uniform() < ARM_PROBABILITY)
    base = rng.uniform(*HAND_DEPTH)
    slope = rng.uniform(-ARM_SLOPE, ARM_SLOPE) / size
    depth = base + slope * np.maximum(along, 0.0) + rng.normal(0.0, NOISE_SD, (size, size))
    return np.where(hand | arm, np.clip(depth, -1.0, 1.0), np.inf).astype(np.float32)


def occlude_batch(x: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """(N, 1, S, S) normalised depth crops -> a copy with an occluder pasted into each crop with
    the given probability; the others are unchanged. Labels do not change: the head's pose is the
    same behind a hand."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"occlusion probability must be in [0, 1], got {probability}")
    out = np.array(x, dtype=np.float32, copy=True)
    size = out.shape[-1]
    for i in np.flatnonzero(rng.uniform(size=len(out)) < probability):
        out[i, 0] = np.minimum(out[i, 0], occluder_depth(size, rng))
    return out

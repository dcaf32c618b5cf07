"""The estimator: depth/IR frameset -> body joints -> head crop -> head pose (`Estimates`).

``PoseEstimator(body, head).estimate(frameset)``; ``PoseEstimator.load(body_path, head_path,
providers, io_binding)`` opens both ONNX files. Everything the models need to know about their
inputs (size, modality, normalisation, crop extent, heatmap stride) comes from their contracts
(docs/model_contract.md), read once here rather than per frame. Pre/post-processing are the pure
functions of body_io, head_crop, head_locate and lifting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from monitor.estimates import Estimates, EyeGaze, HeadPose, Joints
from monitor.estimator import body_io
from monitor.estimator.eye_crop import CROP_HEIGHT, CROP_WIDTH, LOCATE_HEIGHT, LOCATE_WIDTH
from monitor.estimator.eye_gaze import EyeLocation, EyeSpec, LocatorSpec, estimate_eyes, locate_eyes
from monitor.estimator.head_crop import (HEAD_EXTENT_MM, MAX_OUTSIDE_FRACTION, HeadBox, flip_test_angles,
                                         flip_test_input, head_input)
from monitor.estimator.head_locate import HeadLocation, locate_head, refine_centre
from monitor.estimator.lifting import lift_joints
from monitor.estimator.model_files import (DEFAULT_BODY_MODEL, DEFAULT_COVER_MODEL,  # noqa: F401 - re-exported
                                           DEFAULT_EYE_MODEL, DEFAULT_HEAD_MODEL, MODELS_DIR, eye_locator_of,
                                           eye_locator_path, missing_locator_message, resolve_eye_model)
from monitor.estimator.session import DEFAULT_PROVIDERS, ModelLoadError, OnnxModel
from monitor.frames import FrameSet, Intrinsics
from monitor.geometry import backproject, euler_to_matrix


@dataclass(frozen=True)
class BodySpec:
    """What the runtime reads from a body_joints contract."""

    modality: str
    input_hw: tuple[int, int]
    normalisation: dict[str, Any]
    output: str
    stride: int
    joint_names: tuple[str, ...]

    @classmethod
    def from_contract(cls, c: Any) -> "BodySpec":
        if c.task != "body_joints":
            raise ValueError(f"body model has task {c.task!r}; expected 'body_joints'")
        out = c.outputs[0]
        return cls(c.modality, (c.height, c.width), dict(c.normalisation), out["name"], int(out["stride"]),
                   tuple(c.joint_names))


@dataclass(frozen=True)
class HeadCropSpec:
    """The head crop a model takes (head pose, face cover) and its output's name; read by
    `_head_crop_fields`."""

    modality: str
    size: int
    normalisation: dict[str, Any]
    output: str
    extent_mm: float


@dataclass(frozen=True)
class HeadSpec(HeadCropSpec):
    order: tuple[str, ...]

    @classmethod
    def from_contract(cls, c: Any) -> "HeadSpec":
        return cls(*_head_crop_fields(c, "head_pose", "head model"),
                   tuple(c.outputs[0].get("order", ("yaw", "pitch", "roll"))))


@dataclass(frozen=True)
class CoverSpec(HeadCropSpec):
    """What the runtime reads from a face_cover contract: the head crop it takes and its output."""

    @classmethod
    def from_contract(cls, c: Any) -> "CoverSpec":
        return cls(*_head_crop_fields(c, "face_cover", "face-cover model"))


def _head_crop_fields(c: Any, task: str, what: str) -> tuple[str, int, dict[str, Any], str, float]:
    """(modality, size, normalisation, output name, crop extent) of a model that takes the head crop
    (head pose, face cover), after checking its task and that its input is square."""
    if c.task != task:
        raise ValueError(f"{what} has task {c.task!r}; expected {task!r}")
    if c.height != c.width:
        raise ValueError(f"{what} input must be square, got {c.width}x{c.height}")
    return (c.modality, c.height, dict(c.normalisation), c.outputs[0]["name"],
            float(c.raw.get("crop", {}).get("extent_mm", HEAD_EXTENT_MM)))


# the first crop, at the Head joint, may be this far off-image when it only gives the rotation that
# moves the centre for the second crop (estimate_head)
FIRST_CROP_MAX_OUTSIDE = 0.5


class PoseEstimator:
    """Body joints then head pose for one frameset, then (with an eye model) eye gaze. ``head`` may
    be None (body only). ``last_timings_ms`` holds the time of each step of the latest
    ``estimate``: each model's inference (``body``, ``head``, ``eye``, ``eye_locate``) and
    ``pre_post`` (everything else)."""

    def __init__(self, body: OnnxModel, head: OnnxModel | None = None, min_joint_confidence: float = 0.1,
                 refine_head_centre: bool = True, body_flip_test: bool = False,
                 head_flip_test: bool = True, eye: OnnxModel | None = None,
                 eye_locator: OnnxModel | None = None, cover: OnnxModel | None = None) -> None:
        self.body, self.head = body, head
        # eye gaze from the IR image, cut with the head pose (eye_gaze.py); needs a head model
        self.eye = eye if head is not None else None
        self.eye_spec = _eye_stage_spec(EyeSpec, self.eye, "--eye-model")
        # where the eye crop is cut: the locator's finding, else the head centre's guess
        self.locator = eye_locator if self.eye is not None else None
        self.locator_spec = _eye_stage_spec(LocatorSpec, self.locator, "--eye-model's locator")
        # whether a hand lies over the face, from the head crop (HeadPose.covered_p); needs a head model
        self.cover = cover if head is not None else None
        self.cover_spec = _eye_stage_spec(CoverSpec, self.cover, "--cover-model")
        self.refine_head_centre = refine_head_centre  # a second head crop at the refined centre
        self.body_spec = BodySpec.from_contract(body.contract)
        # body heatmaps averaged with those of the mirrored frame (body_io.flip_test_average);
        # `run_monitor.py --body-flip-test`, and train.evaluate reports the body AP both ways
        self.body_flip = None
        if body_flip_test:
            body_io.check_flip_test(self.body_spec.input_hw[1], self.body_spec.stride)
            self.body_flip = body_io.flip_permutation(self.body_spec.joint_names)
            self.body.run(np.zeros((2, 1, *self.body_spec.input_hw), np.float32))  # warm the batch-2 shapes too
        self.head_spec = HeadSpec.from_contract(head.contract) if head is not None else None
        # head angles averaged with those of the mirrored crop (head_crop.flip_test_angles), on by
        # default: 10 % lower head error for twice the head inference (`--no-head-flip-test`)
        self.head_flip = head_flip_test and self.head is not None
        if self.head_flip:  # refused at load, not per frame; and the batch-2 shapes warmed
            try:
                flip_test_angles(self.head.run(np.zeros((2, 1, self.head_spec.size, self.head_spec.size), np.float32))
                                 [self.head_spec.output], self.head_spec.order)
            except Exception as exc:
                raise ModelLoadError(f"{self.head.path}: head test-time flip needs a batch of two and outputs named "
                                     f"yaw/pitch/roll ({str(exc)[:160]}); re-export the model with a dynamic batch, "
                                     "or run with --no-head-flip-test") from None
        self.min_joint_confidence = min_joint_confidence
        self.last_timings_ms: dict[str, float] = {}
        self._inference_ms = {"body": 0.0, "head": 0.0}
        if self.eye is not None:
            self._inference_ms["eye"] = 0.0
            self.eye.run(np.zeros((2, 1, CROP_HEIGHT, CROP_WIDTH), np.float32))  # warm the flip-test batch
        if self.locator is not None:
            self._inference_ms["eye_locate"] = 0.0
            self.locator.run(np.zeros((2, 1, LOCATE_HEIGHT, LOCATE_WIDTH), np.float32))
        if self.cover is not None:
            self._inference_ms["cover"] = 0.0
            self.cover.run(np.zeros((1, 1, self.cover_spec.size, self.cover_spec.size), np.float32))  # warm it

    @classmethod
    def load(cls, body_path: str | Path | None, head_path: str | Path | None,
             providers: Sequence[str] = DEFAULT_PROVIDERS, io_binding: bool = False,
             body_flip_test: bool = False, head_flip_test: bool = True,
             eye_path: str | Path | None = None, cover_path: str | Path | None = None) -> "PoseEstimator":
        """Empty paths mean the shipped models (DEFAULT_BODY_MODEL, DEFAULT_HEAD_MODEL); no
        ``eye_path``, no eye model; no ``cover_path``, no face-cover model. An eye model whose
        contract names a locator (``crop.locator``, a file next to it) comes with that locator."""
        body = OnnxModel(body_path or DEFAULT_BODY_MODEL, providers, io_binding)
        head = OnnxModel(head_path or DEFAULT_HEAD_MODEL, providers, io_binding)
        eye = OnnxModel(eye_path, providers, io_binding) if eye_path else None
        locator = None
        if eye is not None and eye_path and eye.contract.raw.get("crop", {}).get("locator"):
            locator_path = eye_locator_path(eye_path, eye.contract.raw["crop"]["locator"])
            if not locator_path.is_file():
                raise ModelLoadError(missing_locator_message(eye_path, locator_path))
            locator = OnnxModel(locator_path, providers, io_binding)
        cover = OnnxModel(cover_path, providers, io_binding) if cover_path else None
        check_model_roles(body, head, eye, locator, cover)
        return cls(body, head, body_flip_test=body_flip_test, head_flip_test=head_flip_test, eye=eye,
                   eye_locator=locator, cover=cover)

    def describe(self) -> list[dict[str, Any]]:
        """What runs, for summaries and overlays: path, task, modality, trained, providers and
        whether each model runs with test-time flip."""
        out = [{"path": m.info.path, "task": m.contract.task, "modality": m.contract.modality,
                "trained": m.contract.trained, "active_providers": list(m.info.active_providers),
                "unavailable_providers": list(m.info.unavailable_providers),
                "warmup_ms": round(m.info.warmup_ms, 2)}
               for m in (self.body, self.head, self.eye, self.locator, self.cover) if m is not None]
        out[0]["flip_test"] = self.body_flip is not None
        if self.head is not None:
            out[1]["flip_test"] = self.head_flip
        for d in out[2:]:
            d["flip_test"] = d["task"] != "face_cover"  # the eye stage always flips; the cover model runs once
        return out

    def estimate(self, frameset: FrameSet) -> Estimates:
        start = time.perf_counter()
        self._inference_ms = {"body": 0.0, "head": 0.0, **({"eye": 0.0} if self.eye is not None else {}),
                              **({"eye_locate": 0.0} if self.locator is not None else {}),
                              **({"cover": 0.0} if self.cover is not None else {})}
        joints = self.estimate_joints(frameset)
        head = self.estimate_head(frameset, joints) if joints is not None and self.head is not None else None
        eyes = self.estimate_eyes(frameset, head) if head is not None and self.eye is not None else None
        total_ms = (time.perf_counter() - start) * 1000.0
        self.last_timings_ms = {**self._inference_ms,
                                "pre_post": max(total_ms - sum(self._inference_ms.values()), 0.0)}
        return Estimates(head=head, joints=joints, eyes=eyes)

    def estimate_eyes(self, frameset: FrameSet, head: HeadPose) -> EyeGaze | None:
        assert self.eye is not None and self.eye_spec is not None
        ir = frameset.images.get("ir")
        intr = _intrinsics(frameset, "ir")
        if ir is None or intr is None:
            return None
        spec, loc = self.eye_spec, self.locator_spec
        locate = None
        if self.locator is not None and loc is not None:
            def locate(guess: np.ndarray, rotation: np.ndarray) -> EyeLocation | None:
                return locate_eyes(lambda x: self._timed_run(self.locator, "eye_locate", x)[loc.output], loc, ir, intr,
                                   guess, rotation)
        return estimate_eyes(lambda x: self._timed_run(self.eye, "eye", x)[spec.output], spec, ir, intr, head,
                             locate=locate)

    def _timed_run(self, model: OnnxModel, key: str, x: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = model.run(x)
        self._inference_ms[key] += (time.perf_counter() - start) * 1000.0
        return outputs

    def estimate_joints(self, frameset: FrameSet) -> Joints | None:
        spec = self.body_spec
        image = frameset.images.get(spec.modality)
        if image is None:
            return None
        x, m = body_io.preprocess(image, spec.input_hw, spec.normalisation, frameset.depth_unit_mm)
        if self.body_flip is None:
            heatmaps = self._timed_run(self.body, "body", x)[spec.output][0]
        else:
            heatmaps = body_io.flip_test_heatmaps(lambda b: self._timed_run(self.body, "body", b)[spec.output],
                                                  x, spec.stride, self.body_flip)
        uv, conf = body_io.postprocess(heatmaps, spec.stride, m)
        depth = frameset.images.get("depth")
        intr = _intrinsics(frameset, "depth")
        if depth is not None and intr is not None:
            xyz = lift_joints(uv, depth, intr, frameset.depth_unit_mm, conf, self.min_joint_confidence)
        else:
            xyz = np.full((len(uv), 3), np.nan)
        return Joints(spec.joint_names, uv, xyz, conf)

    def estimate_head(self, frameset: FrameSet, joints: Joints) -> HeadPose | None:
        spec = self.head_spec
        assert spec is not None and self.head is not None
        image = frameset.images.get(spec.modality)
        intr = _intrinsics(frameset, spec.modality)
        if image is None or intr is None:
            return None
        depth = frameset.images.get("depth")
        loc = locate_head(joints.names, joints.uv, joints.confidence, intr.fx, intr.fy, depth,
                          frameset.depth_unit_mm)
        if loc is None:
            return None
        refine = self.refine_head_centre and loc.from_depth
        first = self._head_angles(image, loc, intr, frameset.depth_unit_mm)
        rotation_only = False
        if first is None and refine:
            # The Head joint lies on the skin, often at the top of the head: near the image's top edge its
            # crop can be off-image while the head centre's is not. A looser first crop then serves only
            # to turn the centre (refine_centre); the head is reported only if the refined crop passes.
            first = self._head_angles(image, loc, intr, frameset.depth_unit_mm, FIRST_CROP_MAX_OUTSIDE)
            rotation_only = True
        if first is None:
            return None
        (yaw, pitch, roll), box = first
        if refine:  # crop again where the head centre is (head_locate.py)
            refined = refine_centre(loc, euler_to_matrix(yaw, pitch, roll), intr.fx, intr.fy, intr.cx, intr.cy)
            second = self._head_angles(image, refined, intr, frameset.depth_unit_mm) if refined else None
            if second is not None:
                loc, ((yaw, pitch, roll), box) = refined, second
            elif rotation_only:
                return None
        position = (backproject(np.array(loc.center_px), np.array(loc.distance_mm), intr.fx, intr.fy,
                                intr.cx, intr.cy) if loc.from_depth else None)
        covered = self._covered_p(frameset, loc) if self.cover is not None else None
        return HeadPose(yaw, pitch, roll, euler_to_matrix(yaw, pitch, roll), position, loc.center_px,
                        box.as_tuple(), covered)

    def _covered_p(self, frameset: FrameSet, loc: HeadLocation) -> float | None:
        """The face-cover model's P(a hand lies over the face) on the head crop at ``loc``; None when
        its image is missing, the head was not located with depth, or the crop is discarded."""
        spec = self.cover_spec
        assert spec is not None and self.cover is not None
        image, intr = frameset.images.get(spec.modality), _intrinsics(frameset, spec.modality)
        if image is None or intr is None or not loc.from_depth:  # a guessed distance: a crop it never saw
            return None
        made = head_input(image, loc.center_px, loc.distance_mm, intr.fx, intr.fy, spec.normalisation, spec.size,
                          spec.extent_mm, frameset.depth_unit_mm)
        if made is None:
            return None
        p = float(self._timed_run(self.cover, "cover", made[0][None, None])[spec.output].reshape(-1)[0])
        return min(max(p, 0.0), 1.0) if np.isfinite(p) else None

    def _head_angles(self, image: np.ndarray, loc: HeadLocation, intr: Intrinsics, depth_unit_mm: float,
                     max_outside: float = MAX_OUTSIDE_FRACTION) -> tuple[tuple[float, float, float], HeadBox] | None:
        """(yaw, pitch, roll) of the head crop at ``loc`` and its box; None if the crop is discarded."""
        spec = self.head_spec
        assert spec is not None and self.head is not None
        made = head_input(image, loc.center_px, loc.distance_mm, intr.fx, intr.fy, spec.normalisation,
                          spec.size, spec.extent_mm, depth_unit_mm, max_outside)
        if made is None:
            return None
        crop, box = made
        if self.head_flip:
            angles = flip_test_angles(self._timed_run(self.head, "head", flip_test_input(crop))[spec.output], spec.order)
        else:
            angles = self._timed_run(self.head, "head", crop[None, None])[spec.output][0]
        ypr = dict(zip(spec.order, (float(a) for a in angles)))
        return (ypr["yaw"], ypr["pitch"], ypr["roll"]), box


def _eye_stage_spec(spec_type: Any, model: OnnxModel | None, option: str) -> Any:
    """``spec_type.from_contract`` of an optional model of the head's stages (eye, locator, face
    cover; None without one); a contract this runtime cannot serve stops the load with a message
    naming the file."""
    if model is None:
        return None
    try:
        return spec_type.from_contract(model.contract)
    except ValueError as exc:
        off = "--cover-model none" if option == "--cover-model" else "--eye-model none"
        raise ModelLoadError(f"{option} {model.path}: {exc}; use a model exported for this runtime, or run with "
                             f"{off}") from None


def check_model_roles(body: OnnxModel, head: OnnxModel, eye: OnnxModel | None = None,
                      locator: OnnxModel | None = None, cover: OnnxModel | None = None) -> None:
    """Each model must do the job it was given and its graph must take the input its contract
    promises (a head model passed as body model, or a contract from another export, is refused)."""
    roles = [("--body-model", body, "body_joints", "body and head models swapped?"),
             ("--head-model", head, "head_pose", "body and head models swapped?")]
    roles += [("--eye-model", eye, "eye_gaze", "--eye-model none runs without eye gaze")] if eye is not None else []
    roles += ([("--eye-model's locator", locator, "eye_locate", "the eye model's contract names it in crop.locator; "
                "put the eye_locate model there, or run with --eye-model none")] if locator is not None else [])
    roles += [("--cover-model", cover, "face_cover", "--cover-model none runs without it")] if cover is not None else []
    for option, model, task, hint in roles:
        c = model.contract
        if c.task != task:
            raise ModelLoadError(f"{option} {model.path} is a {c.task} model, not a {task} model; "
                                 f"pass the right file ({hint})")
        graph_input = next(i for i in model.session.get_inputs() if i.name == c.input_name)
        promised = (None, c.channels, c.height, c.width)
        shape = list(graph_input.shape)
        if len(shape) != 4 or any(isinstance(d, int) and p is not None and d != p for d, p in zip(shape, promised)):
            raise ModelLoadError(f"{option} {model.path}: its graph takes input {shape}, its contract promises "
                                 f"N x {c.channels} x {c.height} x {c.width}; re-export the model")


def _intrinsics(frameset: FrameSet, name: str) -> Intrinsics | None:
    """The stream's intrinsics; IR and depth of a D4xx share the left imager, so either stands in."""
    it = frameset.intrinsics
    return it.get(name) or it.get("depth") or it.get("ir")

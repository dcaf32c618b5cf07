"""The contract every model file carries in its ONNX metadata (key ``dms_contract``, JSON).

Example (docs/model_contract.md has every field)::

    {"version": 1, "task": "body_joints", "modality": "depth", "trained": true,
     "input": {"name": "image", "layout": "NCHW", "channels": 1, "height": 256, "width": 256},
     "normalisation": {"kind": "depth_mm", "near_mm": 300, "far_mm": 2500},
     "outputs": [{"name": "heatmaps", "layout": "NKHW", "stride": 8}],
     "joint_names": [...], "training_data": "...", "metrics": {...}}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CONTRACT_KEY = "dms_contract"
CONTRACT_VERSION = 1
TASKS = ("body_joints", "head_pose", "eye_gaze", "eye_locate", "face_cover")
MODALITIES = ("ir", "depth")


class ModelContractError(ValueError):
    """The model's metadata does not describe a model this runtime can use."""


@dataclass(frozen=True)
class ModelContract:
    task: str
    modality: str
    input_name: str
    channels: int
    height: int
    width: int
    normalisation: dict[str, Any]
    outputs: tuple[dict[str, Any], ...]
    trained: bool
    joint_names: tuple[str, ...] = ()
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str = "model") -> "ModelContract":
        if CONTRACT_KEY not in metadata:
            raise ModelContractError(
                f"{source} carries no '{CONTRACT_KEY}' metadata, so the runtime cannot know its inputs "
                "and outputs; export it with `python -m exporters.export` (docs/model_contract.md)")
        try:
            d = json.loads(metadata[CONTRACT_KEY])
            if d.get("version") != CONTRACT_VERSION:
                raise ModelContractError(f"{source}: contract version {d.get('version')!r}, "
                                         f"this runtime reads version {CONTRACT_VERSION}")
            inp = d["input"]
            contract = cls(
                task=d["task"], modality=d["modality"], input_name=inp["name"],
                channels=int(inp["channels"]), height=int(inp["height"]), width=int(inp["width"]),
                normalisation=dict(d["normalisation"]), outputs=tuple(d["outputs"]),
                trained=bool(d["trained"]), joint_names=tuple(d.get("joint_names", ())),
                training_data=str(d.get("training_data", "")), metrics=dict(d.get("metrics", {})), raw=d)
        except ModelContractError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelContractError(f"{source}: malformed '{CONTRACT_KEY}' metadata ({exc!r})") from None
        if contract.task not in TASKS:
            raise ModelContractError(f"{source}: task {contract.task!r} is not one of {TASKS}")
        if contract.modality not in MODALITIES:
            raise ModelContractError(f"{source}: modality {contract.modality!r} is not one of {MODALITIES}")
        if contract.task == "body_joints" and not contract.joint_names:
            raise ModelContractError(f"{source}: a body_joints model must list its joint_names")
        return contract

    def to_metadata(self) -> dict[str, str]:
        return {CONTRACT_KEY: json.dumps(self.raw or self._as_dict())}

    def _as_dict(self) -> dict[str, Any]:
        return {"version": CONTRACT_VERSION, "task": self.task, "modality": self.modality,
                "trained": self.trained,
                "input": {"name": self.input_name, "layout": "NCHW", "channels": self.channels,
                          "height": self.height, "width": self.width},
                "normalisation": self.normalisation, "outputs": list(self.outputs),
                "joint_names": list(self.joint_names), "training_data": self.training_data,
                "metrics": self.metrics}

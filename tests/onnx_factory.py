"""Small untrained ONNX models built with onnx.helper, carrying a valid contract, for tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from monitor.estimates import JOINTS_21


def _contract(task: str, modality: str, size: int, outputs: list[dict], **extra: object) -> str:
    if task == "body_joints":
        norm = ({"kind": "depth_inverse", "near_mm": 300, "far_mm": 2500} if modality == "depth"
                else {"kind": "ir_unit"})
    else:
        norm = ({"kind": "depth_head_relative", "range_mm": 160} if modality == "depth"
                else {"kind": "ir_equalised"})
    return json.dumps({"version": 1, "task": task, "modality": modality, "trained": False,
                       "input": {"name": "image", "layout": "NCHW", "channels": 1, "height": size, "width": size},
                       "normalisation": norm, "outputs": outputs, "training_data": "none (test model)", **extra})


def save(model: onnx.ModelProto, path: Path, contract: str | None) -> Path:
    if contract is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "dms_contract", contract
    model.ir_version = 10  # onnxruntime 1.31 reads IR <= 13; onnx 1.23 writes 14 by default
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def body_model(path: Path, size: int = 64, stride: int = 8, contract: bool = True) -> Path:
    """Conv (1 -> 21 channels, kernel=stride, stride=stride): image -> 21 heatmaps."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(21, 1, stride, stride)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["image", "w"], ["heatmaps"], kernel_shape=[stride, stride], strides=[stride, stride])
    graph = helper.make_graph(
        [node], "body", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["N", 21, size // stride, size // stride])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    text = _contract("body_joints", "depth", size, [{"name": "heatmaps", "layout": "NKHW", "stride": stride}],
                     joint_names=list(JOINTS_21)) if contract else None
    return save(model, path, text)


def head_model(path: Path, size: int = 32, modality: str = "ir", batch: int | str = "N") -> Path:
    """Flatten + MatMul: crop -> (yaw, pitch, roll); ``batch`` an int fixes the batch size."""
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array(rng.normal(scale=0.01, size=(size * size, 3)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, size * size], dtype=np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["angles"])]
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 1, size, size])],
        [helper.make_tensor_value_info("angles", TensorProto.FLOAT, [batch, 3])], [weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return save(model, path, _contract("head_pose", modality, size, [{"name": "angles", "layout": "N3",
                                                                       "units": "deg yaw,pitch,roll"}]))

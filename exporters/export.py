"""Export trained networks to ONNX with the runtime's contract in the metadata.

- opset 17 (ONNX Runtime >= 1.14 and TensorRT 8.6+ read it), TorchScript exporter (torch's dynamo
  exporter needs onnxscript, which is not installed here); batch norm is folded into the
  convolutions (eval mode + constant folding).
- named input ``image`` (N, 1, H, W) float32 with a dynamic batch axis; output ``heatmaps``
  (N, K, H/s, W/s) for body models, ``angles`` (N, 3) yaw/pitch/roll degrees for head models.
- metadata key ``dms_contract`` (monitor/estimator/contract.py, docs/model_contract.md).
- checks: onnx.checker, the contract parses, and parity with torch through ONNX Runtime on random
  inputs (max abs difference reported; fp32 must be <= 1e-4 absolute, degrees or belief units).
  The reference is the torch network run in float64, i.e. the exact function of the weights: two
  float32 implementations each round differently (a head model with outputs ~50 deg measured ONNX
  vs torch-fp32 1.0e-4, ONNX vs exact 5.9e-5, torch-fp32 vs exact 4.1e-5), so a float32 reference
  would charge torch's own rounding to the export. The float32 comparison is reported too.
- fp16 variant for the GPU: weights and activations in float16, float32 input and output (Cast
  nodes at both ends) so the runtime feeds it exactly like the fp32 file.

CLI: ``python -m exporters.export --untrained`` writes untrained full and lite body models and head
models to a directory for speed tests; training scripts call `export_model` with trained weights.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from monitor.console import say
from monitor.estimator.contract import CONTRACT_KEY, CONTRACT_VERSION, ModelContract

OPSET = 17
INPUT_NAME = "image"
PARITY_TOLERANCE = 1e-4

BODY_NORMALISATION = {"kind": "depth_inverse", "near_mm": 200.0, "far_mm": 2500.0}
HEAD_NORMALISATION = {"ir": {"kind": "ir_equalised"}, "depth": {"kind": "depth_head_relative", "range_mm": 160.0}}


def body_contract(config: Any, trained: bool, training_data: str, metrics: dict | None = None,
                  modality: str = "depth", sigma: float = 7.0) -> dict[str, Any]:
    h, w = config.input_hw
    return {"version": CONTRACT_VERSION, "task": "body_joints", "modality": modality, "trained": trained,
            "architecture": config.name,
            "input": {"name": INPUT_NAME, "layout": "NCHW", "channels": 1, "height": h, "width": w},
            "normalisation": dict(BODY_NORMALISATION) if modality == "depth" else {"kind": "ir_unit"},
            "outputs": [{"name": "heatmaps", "layout": "NKHW", "stride": config.stride,
                         "height": h // config.stride, "width": w // config.stride,
                         "codec": "gaussian_exp_d2_over_sigma2", "sigma_px": sigma}],
            "joint_names": list(config.joint_names), "training_data": training_data,
            "metrics": metrics or {}}


def head_contract(modality: str, trained: bool, training_data: str, metrics: dict | None = None,
                  size: int = 64, extent_mm: float = 320.0) -> dict[str, Any]:
    return {"version": CONTRACT_VERSION, "task": "head_pose", "modality": modality, "trained": trained,
            "architecture": "poseidon_cnn",
            "input": {"name": INPUT_NAME, "layout": "NCHW", "channels": 1, "height": size, "width": size},
            "normalisation": dict(HEAD_NORMALISATION[modality]),
            "crop": {"extent_mm": extent_mm, "max_outside_fraction": 1 / 3, "center": "head centre",
                     "distance": "head centre z (mm)"},
            "outputs": [{"name": "angles", "layout": "N3", "order": ["yaw", "pitch", "roll"], "unit": "deg",
                         "convention": "R = Ry(yaw) Rx(pitch) Rz(roll), head -> camera (monitor/geometry.py)"}],
            "training_data": training_data, "metrics": metrics or {}}


@dataclass(frozen=True)
class ExportReport:
    path: str
    max_abs_diff: float  # ONNX fp32 vs the float64 torch reference: the check
    output_scale: float
    fp16_path: str | None
    fp16_max_abs_diff: float | None
    max_abs_diff_vs_torch_fp32: float | None = None

    def line(self) -> str:
        s = (f"{self.path}: parity max|onnx - torch float64| = {self.max_abs_diff:.2e} (vs torch float32 "
             f"{self.max_abs_diff_vs_torch_fp32:.2e}; output scale {self.output_scale:.3g})")
        if self.fp16_path:
            fp = "not run (no fp16 kernels on this provider)" if self.fp16_max_abs_diff is None \
                else f"{self.fp16_max_abs_diff:.2e}"
            s += f"; fp16 {self.fp16_path}: max diff vs torch float64 {fp}"
        return s


def export_model(module: torch.nn.Module, path: str | Path, contract: dict[str, Any],
                 fp16: bool = True, parity_batch: int = 2, seed: int = 0) -> ExportReport:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    inp = contract["input"]
    out_name = contract["outputs"][0]["name"]
    dummy = torch.zeros(1, inp["channels"], inp["height"], inp["width"])
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(module, (dummy,), buf, input_names=[INPUT_NAME], output_names=[out_name],
                          opset_version=OPSET, dynamic_axes={INPUT_NAME: {0: "batch"}, out_name: {0: "batch"}},
                          do_constant_folding=True, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    model.doc_string = f"DMS {contract['task']} model ({contract.get('architecture', '')}); see docs/model_contract.md"
    _set_metadata(model, contract)
    onnx.checker.check_model(model, full_check=True)
    ModelContract.from_metadata({CONTRACT_KEY: json.dumps(contract)}, str(path))
    fp16_path = path.with_name(path.stem + ".fp16.onnx") if fp16 else None
    # both files are written beside their targets and moved into place only once the checks pass:
    # a failed export leaves the previous (working) files as they were
    tmp, tmp16 = _partial(path), _partial(fp16_path) if fp16_path else None
    try:
        tmp.write_bytes(model.SerializeToString())
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, (parity_batch, inp["channels"], inp["height"], inp["width"])).astype(np.float32)
        with torch.no_grad():
            ref32 = module(torch.from_numpy(x)).numpy()
            ref = copy.deepcopy(module).double()(torch.from_numpy(x).double()).numpy()
        got = _run(tmp, x)
        diff = float(np.abs(got - ref).max())
        diff32 = float(np.abs(got - ref32).max())
        scale = float(np.abs(ref).max())
        if not diff <= PARITY_TOLERANCE:  # NaN fails too
            raise RuntimeError(f"{path}: ONNX/torch parity {diff:.3g} exceeds {PARITY_TOLERANCE} (against the "
                               "float64 reference): the export changed the network's function; the file was not "
                               "written")
        fp16_diff = None
        if tmp16 is not None:
            half = to_fp16(model)
            onnx.checker.check_model(half, full_check=True)
            tmp16.write_bytes(half.SerializeToString())
            try:
                fp16_diff = float(np.abs(_run(tmp16, x) - ref).max())
            except Exception:  # the CPU provider lacks fp16 kernels for some ops; the GPU has them
                fp16_diff = None
        os.replace(tmp, path)
        if tmp16 is not None:
            os.replace(tmp16, fp16_path)
    finally:
        for t in (tmp, tmp16):
            if t is not None:
                t.unlink(missing_ok=True)
    return ExportReport(str(path), diff, scale, str(fp16_path) if fp16_path else None, fp16_diff, diff32)


def _partial(path: Path) -> Path:
    """A temporary file beside ``path`` (same file system, so the move is atomic) that globs for
    *.onnx do not pick up if a killed export leaves it behind."""
    return path.with_name(f"{path.name}.{os.getpid()}.partial")


def set_contract_metrics(path: str | Path, metrics: dict[str, Any]) -> list[Path]:
    """Put ``metrics`` (measured on the model at ``path``) into its contract and into that of its
    fp16 variant beside it, both saying which file was measured (a metadata-only edit: graph and
    weights are written back unchanged). Returns the files changed."""
    path = Path(path)
    changed = []
    for p in (path, path.with_name(path.stem + ".fp16.onnx")):
        if not p.is_file():
            continue
        model = onnx.load(str(p))
        contract = json.loads({prop.key: prop.value for prop in model.metadata_props}[CONTRACT_KEY])
        contract["metrics"] = {**contract.get("metrics", {}), **metrics, "measured_on": path.name}
        _set_metadata(model, contract)
        onnx.save(model, str(p))
        changed.append(p)
    return changed


def _set_metadata(model: onnx.ModelProto, contract: dict[str, Any]) -> None:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {CONTRACT_KEY: json.dumps(contract)})


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """float32 graph -> float16 weights and activations, float32 graph input/output via Cast nodes."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16)))
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
    del g.value_info[:]
    casts = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = inp.name + "_fp16"
        for node in g.node:
            for i, name in enumerate(node.input):
                if name == inp.name:
                    node.input[i] = half_name
        casts.append(helper.make_node("Cast", [inp.name], [half_name], to=TensorProto.FLOAT16,
                                      name=f"cast_in_{inp.name}"))
    for out in g.output:
        half_name = out.name + "_fp16"
        for node in g.node:
            for i, name in enumerate(node.output):
                if name == out.name:
                    node.output[i] = half_name
        g.node.append(helper.make_node("Cast", [half_name], [out.name], to=TensorProto.FLOAT,
                                       name=f"cast_out_{out.name}"))
    for c in reversed(casts):
        g.node.insert(0, c)
    return m


def main(argv: list[str] | None = None) -> None:
    from exporters.body_net import CONFIGS, BodyNet, ExportHead
    from exporters.poseidon import PoseidonNet

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--untrained", action="store_true", required=True,
                    help="export randomly initialised networks (speed tests, contract checks)")
    ap.add_argument("--out", default="runs/untrained")
    ap.add_argument("--no-fp16", action="store_true")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    out = Path(args.out)
    for name, cfg in CONFIGS.items():
        rep = export_model(ExportHead(BodyNet(cfg)), out / f"{name}.onnx",
                           body_contract(cfg, False, "untrained (random weights)"), fp16=not args.no_fp16)
        say(rep.line())  # a reader that went away (`| head`) must not stop the export
    for modality in ("ir", "depth"):
        rep = export_model(PoseidonNet(), out / f"head_poseidon_{modality}.onnx",
                           head_contract(modality, False, "untrained (random weights)"), fp16=not args.no_fp16)
        say(rep.line())


if __name__ == "__main__":
    main()

"""Continue training from an exported ONNX model (shared by train.head and train.body).

The exporter folds every batch norm into the convolution before it, so an ONNX graph holds the
folded weights: they go back into the convolutions (graph order = module order), every batch
norm becomes an identity, and its statistics stay frozen while training goes on.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch


def read_onnx_weights(path: str | Path) -> tuple[list[Any], dict[str, np.ndarray]]:
    """The graph's nodes in order, and its initialisers (weights) by name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return list(model.graph.node), {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def copy_conv_weights(path: str | Path, nodes: Sequence[Any], weights: dict[str, np.ndarray],
                      convs: Sequence[torch.nn.Conv2d]) -> None:
    """The graph's Conv weights and biases into ``convs``, pairwise; a shape mismatch is an error."""
    with torch.no_grad():
        for node, conv in zip(nodes, convs):
            weight = torch.from_numpy(weights[node.input[1]].copy())
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{path}: convolution {node.name} is {tuple(weight.shape)}, expected "
                                 f"{tuple(conv.weight.shape)}")
            conv.weight.copy_(weight)
            conv.bias.copy_(torch.from_numpy(weights[node.input[2]].copy()))


def batch_norms_to_identity(net: torch.nn.Module) -> None:
    """(x - 0) / sqrt((1 - eps) + eps) * 1 + 0 = x: the statistics already sit in the convolutions."""
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_parameters()
                mod.running_var.fill_(1.0 - mod.eps)


def freeze_batch_norm(net: torch.nn.Module) -> None:
    """Call after ``net.train()``: batch norms keep their (identity) statistics and parameters."""
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.eval()
            mod.weight.requires_grad_(False)
            mod.bias.requires_grad_(False)


def cosine_lr(base: float, progress: float) -> float:
    """Cosine decay from ``base`` to 2 % of it over progress 0..1 (steps or wall clock)."""
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def take_step(opt: torch.optim.Optimizer, loss: torch.Tensor, losses: list[float], step: int, t0: float, tag: str,
              log=print) -> int:
    """One optimiser step on ``loss``, recorded in ``losses``; every 500 steps the mean loss of the last
    500 and the speed are logged as ``[tag] ...``. Returns the new step count."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))
    step += 1
    if step % 500 == 0:
        log(f"[{tag}] step {step} loss {np.mean(losses[-500:]):.4f} "
            f"{(time.monotonic() - t0) / step * 1000:.0f} ms/step", flush=True)
    return step


"""POSEidon head-pose CNN for 64x64 crops (AutoPOSE sec. 5.1, Fig. 5; Venturelli et al. 2016 /
Borghi et al. 2017): five convolutions (30, 30, 30, 30, 120 filters; 5x5, 5x5, 4x4, 3x3, 3x3,
valid padding, 2x2 max pooling after the first three), then fully-connected layers 120 -> 84 -> 3
with dropout 0.5 on the two hidden fully-connected layers. A 64x64 crop ends as 120 x 1 x 1.

Differences from the paper, on purpose: ReLU instead of tanh activations (trains faster on CPU)
and batch normalisation after each convolution (folded into the convolutions at export, so the
ONNX graph is conv/relu/pool/gemm only). The output is yaw, pitch, roll in degrees: the last
layer's raw values are multiplied by ANGLE_SCALE so the network regresses numbers near unit range.
"""
from __future__ import annotations

import torch
from torch import nn

ANGLE_SCALE = 45.0
LOSS_WEIGHTS = (0.45, 0.35, 0.2)  # yaw, pitch, roll (AutoPOSE sec. 5.2)
OUTPUT_ORDER = ("yaw", "pitch", "roll")


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class PoseidonNet(nn.Module):
    def __init__(self, in_channels: int = 1, size: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        if size != 64:
            raise ValueError(f"the POSEidon CNN is defined for 64x64 crops, got {size}")
        self.features = nn.Sequential(
            *_conv(in_channels, 30, 5), nn.MaxPool2d(2),
            *_conv(30, 30, 5), nn.MaxPool2d(2),
            *_conv(30, 30, 4), nn.MaxPool2d(2),
            *_conv(30, 30, 3),
            *_conv(30, 120, 3),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(120, 120), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(120, 84), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(84, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, 64, 64) -> (N, 3) yaw, pitch, roll in degrees."""
        return self.head(self.features(x)) * ANGLE_SCALE


def weighted_l2_loss(pred_deg: torch.Tensor, truth_deg: torch.Tensor,
                     weights: tuple[float, float, float] = LOSS_WEIGHTS) -> torch.Tensor:
    """AutoPOSE's weighted L2 on (N, 3) yaw/pitch/roll, computed on angles / ANGLE_SCALE."""
    w = torch.tensor(weights, dtype=pred_deg.dtype, device=pred_deg.device)
    diff = (pred_deg - truth_deg) / ANGLE_SCALE
    return (w * diff ** 2).sum(1).mean()

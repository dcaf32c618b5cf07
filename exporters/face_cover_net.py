"""Face-cover CNN: is a hand over the face in this depth head crop (monitor/estimator/head_crop.py)?

Three 3x3 convolution blocks (16, 32, 64 filters, batch norm, ReLU, 2x2 max pooling after each),
then a fourth (64) and global average pooling, 64 -> 1. Output: the probability that a hand covers
part of the face (train.face_cover_data's label). Global pooling because what matters is whether
a hand-shaped near blob lies anywhere on the face, not where; ~7 M multiply-adds.
"""
from __future__ import annotations

import torch
from torch import nn

from exporters.eye_net import _block

OUTPUT_ORDER = ("covered",)


class FaceCoverNet(nn.Module):
    def __init__(self, size: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        if size % 8:
            raise ValueError(f"crop side must be a multiple of 8, got {size}")
        self.features = nn.Sequential(*_block(1, 16), nn.MaxPool2d(2), *_block(16, 32), nn.MaxPool2d(2),
                                      *_block(32, 64), nn.MaxPool2d(2), *_block(64, 64),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(64, 1))

    output_order = OUTPUT_ORDER

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, S, S) -> (N,) raw score: what training's loss reads."""
        return self.head(self.features(x))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, S, S) -> (N, 1): P(a hand covers part of the face)."""
        return torch.sigmoid(self.logit(x))[:, None]

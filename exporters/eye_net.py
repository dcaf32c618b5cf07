"""Eye-gaze CNN for head-aligned 32x64 IR crops of both eyes (monitor/estimator/eye_crop.py).

Four 3x3 convolutions (16, 32, 64, 64 filters, same padding, batch norm, ReLU; 2x2 max pooling
after the first three), then 2048 -> 128 -> 2 fully connected with dropout. The output is the
eye-in-head gaze (a, b) in degrees relative to the frame the crop was cut in (eye_crop.eye_angles);
the last layer's raw values are multiplied by ANGLE_SCALE so it regresses numbers near unit range.
Small on purpose: ~6.5 M multiply-adds, a fraction of a millisecond on one CPU core.
"""
from __future__ import annotations

import torch
from torch import nn

ANGLE_SCALE = 30.0
OUTPUT_ORDER = ("a", "b")


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class EyeGazeNet(nn.Module):
    def __init__(self, height: int = 32, width: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        if height % 8 or width % 8:
            raise ValueError(f"crop sides must be multiples of 8, got {height}x{width}")
        self.features = nn.Sequential(*_block(1, 16), nn.MaxPool2d(2), *_block(16, 32), nn.MaxPool2d(2),
                                      *_block(32, 64), nn.MaxPool2d(2), *_block(64, 64))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * (height // 8) * (width // 8), 128),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(128, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 2) eye-in-head (a, b) in degrees."""
        return self.head(self.features(x)) * ANGLE_SCALE

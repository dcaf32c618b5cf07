"""Eye-gaze CNN for head-aligned 32x64 IR crops of both eyes (monitor/estimator/eye_crop.py).

Four 3x3 convolutions (16, 32, 64, 64 filters, same padding, batch norm, ReLU; 2x2 max pooling
after the first three), then 2048 -> 128 fully connected with dropout -> 2. Outputs per crop:
the eye-in-head gaze (a, b) in degrees (eye_crop.eye_angles; the last layer's raw values times
ANGLE_SCALE, so it regresses numbers near unit range) and, with ``spread`` (the default), the
model's own expected per-axis error in degrees (a 128 -> 32 -> 1 head on the detached features,
SPREAD_BASE_DEG * exp(raw), raw clamped to +-SPREAD_LOG_RANGE): large where the eyes cannot be
read (sunglasses, lids, glare), so the classifier can lean on the head pose there. Small on
purpose: ~6.5 M multiply-adds, a fraction of a millisecond on one CPU core.
"""
from __future__ import annotations

import torch
from torch import nn

ANGLE_SCALE = 30.0
SPREAD_BASE_DEG = 3.0
SPREAD_LOG_RANGE = 3.0  # spread between 3 * e^-3 = 0.149 and 3 * e^3 = 60.3 deg
OUTPUT_ORDER = ("a", "b", "spread")


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class EyeGazeNet(nn.Module):
    def __init__(self, height: int = 32, width: int = 64, dropout: float = 0.2, spread: bool = True) -> None:
        super().__init__()
        if height % 8 or width % 8:
            raise ValueError(f"crop sides must be multiples of 8, got {height}x{width}")
        self.features = nn.Sequential(*_block(1, 16), nn.MaxPool2d(2), *_block(16, 32), nn.MaxPool2d(2),
                                      *_block(32, 64), nn.MaxPool2d(2), *_block(64, 64))
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * (height // 8) * (width // 8), 128),
                                    nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.angles = nn.Linear(128, 2)
        # reads the angle features without training them (detached), so the angles learn as without it
        self.spread_head = (nn.Sequential(nn.Linear(128, 32), nn.ReLU(inplace=True), nn.Linear(32, 1))
                            if spread else None)

    @property
    def output_order(self) -> tuple[str, ...]:
        return OUTPUT_ORDER if self.spread_head is not None else OUTPUT_ORDER[:2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 3) eye-in-head (a, b) and spread, degrees ((N, 2) without spread)."""
        h = self.hidden(self.features(x))
        angles = self.angles(h) * ANGLE_SCALE
        if self.spread_head is None:
            return angles
        raw = torch.clamp(self.spread_head(h.detach()), -SPREAD_LOG_RANGE, SPREAD_LOG_RANGE)
        return torch.cat([angles, SPREAD_BASE_DEG * torch.exp(raw)], 1)


LOCATE_SCALE_MM = 20.0
LOCATE_ORDER = ("dx", "dy", "hidden")


class EyeLocateNet(nn.Module):
    """Where the eyes' midpoint is in a wide head-aligned IR crop (eye_crop.LOCATE_BOX_MM, 48x64),
    and whether opaque eyewear hides the eyes: conv 16-32-64-64 as EyeGazeNet (pooling after the
    first three), 3072 -> 64 -> 3. Outputs the midpoint's offset (dx, dy) from the crop centre along
    the crop's x and y axes in mm (raw values times LOCATE_SCALE_MM) and the probability that the
    eyes are hidden (sigmoid of the third). ~9 M multiply-adds."""

    def __init__(self, height: int = 48, width: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        if height % 8 or width % 8:
            raise ValueError(f"crop sides must be multiples of 8, got {height}x{width}")
        self.features = nn.Sequential(*_block(1, 16), nn.MaxPool2d(2), *_block(16, 32), nn.MaxPool2d(2),
                                      *_block(32, 64), nn.MaxPool2d(2), *_block(64, 64))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * (height // 8) * (width // 8), 64),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(64, 3))

    output_order = LOCATE_ORDER

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(offset mm (N, 2), hidden logit (N,)): what training's losses read."""
        out = self.head(self.features(x))
        return out[:, :2] * LOCATE_SCALE_MM, out[:, 2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 3): offset of the eyes' midpoint (mm) and P(eyes hidden)."""
        offset, logit = self.raw(x)
        return torch.cat([offset, torch.sigmoid(logit)[:, None]], 1)

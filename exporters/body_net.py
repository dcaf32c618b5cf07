"""Watch-R-Patch body-joint network (seed 001 sec. 4.1, after OpenPose's pose-machine branch).

Full model: the first 10 convolutions of VGG-19 (64, 64, M, 128, 128, M, 256 x4, M, 512, 512;
3x3, stride 8 overall), two reduction convolutions (256, 128), an initial stage phi (3x 3x3 conv
128, 1x1 512, 1x1 K) and T-1 refinement stages psi^t over features ⊕ previous beliefs (5x 7x7 conv
128, 1x1 128, 1x1 K), T = 6, K = 21, trained from scratch on depth. Dropout is applied to the
previous stage's beliefs as they enter each refinement stage ("between the first convolutional
block and each repeated block"). The seed's Fig. 3 is not in our text copy; kernel sizes of the
stages follow OpenPose (Cao et al. 2017), which the paper says it derives from.

Lite model (the runtime default on CPU, sized so it trains in well under an hour on 2 shared CPU
cores): the same structure, narrower (16-32-48 channel backbone whose first convolution strides,
overall stride 4), three stages (initial + 2 refinements) of 32-channel 3x3 convolutions, dilated
in the refinement stages, 160x96 input. `forward` returns
every stage's beliefs (N, T, K, H, W) for the per-stage loss; `ExportHead` keeps the last.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from monitor.estimates import JOINTS_21


@dataclass(frozen=True)
class BodyNetConfig:
    name: str
    backbone: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512)
    reduce: tuple = (256, 128)
    stages: int = 6
    stage1: tuple = (128, 128, 128)       # 3x3 convs of phi
    stage1_hidden: int = 512              # its 1x1 before the output
    refine_kernel: int = 7
    refine_convs: int = 5
    refine_channels: int = 128
    joints: int = 21
    input_hw: tuple = (256, 448)          # default network input (H, W)
    dropout: float = 0.1
    stem_stride: int = 1                  # lite: the first convolution strides (no full-resolution layers)
    refine_dilation: int = 1              # lite: dilated 3x3 convs widen the refinement receptive field
    joint_names: tuple = field(default=JOINTS_21)

    @property
    def stride(self) -> int:
        return self.stem_stride * 2 ** sum(1 for b in self.backbone if b == "M")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["joint_names"] = list(self.joint_names)
        return d


FULL = BodyNetConfig("body_vgg19_t6")
LITE = BodyNetConfig("body_lite", backbone=(16, 32, "M", 48, 48), reduce=(48, 48), stages=3,
                     stage1=(32, 32, 32), stage1_hidden=64, refine_kernel=3, refine_convs=4, refine_channels=32,
                     input_hw=(96, 160), dropout=0.1, stem_stride=2, refine_dilation=2)
CONFIGS = {c.name: c for c in (FULL, LITE)}


def _conv(cin: int, cout: int, k: int, bn: bool, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class BodyNet(nn.Module):
    def __init__(self, config: BodyNetConfig = FULL, in_channels: int = 1, batch_norm: bool = True) -> None:
        super().__init__()
        self.config = c = config
        layers: list[nn.Module] = []
        ch = in_channels
        for i, b in enumerate(c.backbone):
            if b == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += _conv(ch, int(b), 3, batch_norm, stride=c.stem_stride if i == 0 else 1)
                ch = int(b)
        for r in c.reduce:
            layers += _conv(ch, r, 3, batch_norm)
            ch = r
        self.features = nn.Sequential(*layers)
        feat = ch
        s1: list[nn.Module] = []
        for w in c.stage1:
            s1 += _conv(ch, w, 3, batch_norm)
            ch = w
        s1 += [nn.Conv2d(ch, c.stage1_hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(c.stage1_hidden, c.joints, 1)]
        self.stage1 = nn.Sequential(*s1)
        self.refine = nn.ModuleList()
        for _ in range(c.stages - 1):
            r: list[nn.Module] = []
            ch = feat + c.joints
            for _ in range(c.refine_convs):
                r += _conv(ch, c.refine_channels, c.refine_kernel, batch_norm, dilation=c.refine_dilation)
                ch = c.refine_channels
            r += [nn.Conv2d(ch, c.refine_channels, 1), nn.ReLU(inplace=True), nn.Conv2d(c.refine_channels, c.joints, 1)]
            self.refine.append(nn.Sequential(*r))
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, T, K, H/stride, W/stride) belief maps of every stage."""
        f = self.features(x)
        beliefs = [self.stage1(f)]
        for stage in self.refine:
            beliefs.append(stage(torch.cat([f, self.dropout(beliefs[-1])], 1)))
        return torch.stack(beliefs, 1)


class ExportHead(nn.Module):
    """Wraps a BodyNet for export: only the last stage's beliefs, (N, K, H/s, W/s)."""

    def __init__(self, net: BodyNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, -1]


def masked_stage_loss(beliefs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Seed 001 eq. 3 summed over stages: sum_t sum_k alpha_k sum_p (P_k^t(p) - H_k(p))^2, averaged
    over the batch. beliefs (N, T, K, H, W), targets (N, K, H, W), mask (N, K) = 1 where labelled."""
    diff = (beliefs - targets[:, None]) ** 2
    per_joint = diff.sum((-1, -2))                   # (N, T, K)
    return (per_joint * mask[:, None, :]).sum((1, 2)).mean()

"""Network output shapes and the losses (weights, missing-joint mask)."""
import torch

from exporters.body_net import FULL, LITE, BodyNet, ExportHead, masked_stage_loss
from exporters.poseidon import LOSS_WEIGHTS, PoseidonNet, weighted_l2_loss

torch.set_num_threads(2)


def test_poseidon_shapes():
    net = PoseidonNet().eval()
    assert net(torch.zeros(3, 1, 64, 64)).shape == (3, 3)
    assert net.features(torch.zeros(1, 1, 64, 64)).shape == (1, 120, 1, 1)


def test_lite_body_shapes():
    net = BodyNet(LITE).eval()
    h, w = LITE.input_hw
    out = net(torch.zeros(2, 1, h, w))
    assert out.shape == (2, LITE.stages, 21, h // LITE.stride, w // LITE.stride)
    assert ExportHead(net)(torch.zeros(1, 1, h, w)).shape == (1, 21, h // 4, w // 4)


def test_full_body_is_vgg19_10_plus_cpm_t6():
    net = BodyNet(FULL).eval()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 12 and [c.out_channels for c in convs[:10]] == [64, 64, 128, 128, 256, 256, 256, 256, 512, 512]
    assert FULL.stride == 8 and FULL.stages == 6 and len(net.refine) == 5
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 64, 96))
    assert out.shape == (1, 6, 21, 8, 12)


def test_stage_loss_masks_missing_joints():
    beliefs = torch.zeros(2, 3, 21, 4, 4, requires_grad=True)
    targets = torch.ones(2, 21, 4, 4)
    mask = torch.ones(2, 21)
    full = masked_stage_loss(beliefs, targets, mask)
    assert float(full.detach()) == 3 * 21 * 16  # per-sample sum over stages, joints, pixels; batch mean
    mask[:, 5] = 0
    masked = masked_stage_loss(beliefs, targets, mask)
    assert float(masked.detach()) == 3 * 20 * 16
    masked.backward()
    assert float(beliefs.grad[:, :, 5].abs().sum()) == 0.0 and float(beliefs.grad[:, :, 4].abs().sum()) > 0


def test_head_loss_weights():
    pred = torch.zeros(1, 3)
    for i, w in enumerate(LOSS_WEIGHTS):
        truth = torch.zeros(1, 3)
        truth[0, i] = 45.0
        assert abs(float(weighted_l2_loss(pred, truth)) - w) < 1e-6

"""Channel evaluation and attention weights: behaviour against independent expectations."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.chapters.delta.channels import channel_weights_from_losses, evaluate_channels, hooked_layers
from reprolib.core import models


def test_hooked_layers_of_torchvision_resnet101_are_the_four_conv3_of_the_original():
    import torchvision

    net = torchvision.models.resnet101(weights=None)
    assert hooked_layers(net) == ["layer1.2.conv3", "layer2.3.conv3", "layer3.22.conv3", "layer4.2.conv3"]
    assert [net.get_submodule(n).out_channels for n in hooked_layers(net)] == [256, 512, 1024, 2048]
    resnet50 = torchvision.models.resnet50(weights=None)
    assert hooked_layers(resnet50) == ["layer1.2.conv3", "layer2.3.conv3", "layer3.5.conv3", "layer4.2.conv3"]
    # the narrow cpu model keeps ResNet-101's layout, so the same four names
    assert hooked_layers(models.build("resnet101-w4-small", num_classes=3, in_channels=1)) == hooked_layers(net)


def test_hooked_layers_reject_basic_block_resnets():
    with pytest.raises(ValueError, match="bottleneck"):
        hooked_layers(models.build("resnet18-w4-small", num_classes=3, in_channels=1))


def test_hooked_output_is_before_bn3_and_the_residual_add():
    from reprolib.core.transfer import capture_outputs

    net = models.build("resnet50-w2-small", num_classes=3, in_channels=1).eval()
    block = net.layer1[-1]
    with torch.no_grad():
        block.bn3.weight.fill_(3.0)  # a pre-BN capture is blind to bn3
    x = torch.randn(2, 1, 8, 8)
    seen = {}
    block.conv3.register_forward_hook(lambda m, i, o: seen.setdefault("conv3", o.detach().clone()))
    with capture_outputs(net, ["layer1.2.conv3"], detach=True) as maps:
        net(x)
    assert torch.equal(maps["layer1.2.conv3"], seen["conv3"])


def test_weights_sum_to_one_follow_the_zscore_and_the_temperature():
    d = torch.tensor([0.0, 1.0, 2.0, 5.0])
    w = channel_weights_from_losses(d, temperature=5.0)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-6)
    z = (d.numpy() - d.numpy().mean()) / d.numpy().std()  # numpy's population std, as train.py
    ref = np.exp(z / 5.0) / np.exp(z / 5.0).sum()
    assert np.allclose(w.numpy(), ref, atol=1e-6)
    assert torch.argmax(w).item() == 3 and torch.argmin(w).item() == 0
    # a lower temperature sharpens, a higher one flattens towards uniform
    sharp, flat = channel_weights_from_losses(d, 0.5), channel_weights_from_losses(d, 50.0)
    assert sharp.max() > w.max() > flat.max() > 0.25
    assert (flat - 0.25).abs().max() < 0.02
    # the z-score makes the weights blind to the scale and offset of the losses
    assert torch.allclose(channel_weights_from_losses(1e-4 * d.double() - 3.0), w, atol=1e-6)
    # c · w has mean 1, the factor train.py multiplies by
    assert (len(d) * w).mean().item() == pytest.approx(1.0)


def test_equal_losses_give_uniform_weights_and_bad_input_fails():
    assert torch.allclose(channel_weights_from_losses(torch.full((4,), 0.3)), torch.full((4,), 0.25))
    with pytest.raises(ValueError, match="finite"):
        channel_weights_from_losses(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="temperature"):
        channel_weights_from_losses(torch.tensor([1.0, 2.0]), temperature=0.0)


class _TwoChannelNet(nn.Module):
    """conv (2 channels) → global average → linear head that reads channel 0 only."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.head.weight.copy_(torch.tensor([[4.0, 0.0], [-4.0, 0.0]]))  # channel 1 is ignored
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.conv(x).mean(dim=(2, 3)))


def test_zeroing_an_ignored_channel_costs_nothing_and_a_used_one_costs_loss():
    torch.manual_seed(0)
    net = _TwoChannelNet()
    x = torch.rand(16, 1, 3, 3) + 0.1  # positive inputs: channel 0's mean > 0 → class 0
    y = torch.zeros(16, dtype=torch.long)
    before = copy.deepcopy(net.state_dict())
    (inc,) = evaluate_channels(net, ["conv"], [(x, y)])
    assert inc[1].item() == pytest.approx(0.0, abs=1e-6)
    assert inc[0].item() > 0.1
    base = F.cross_entropy(net(x), y).item()
    assert inc[0].item() == pytest.approx(math.log(2) - base, rel=1e-5)  # zeroed: logits 0, 0 → loss ln 2
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # model unchanged afterwards


def _zero_in_place(model, layers, batches):
    """channel_eval.py's procedure, literally: zero weight[j] in place, forward, restore."""
    model.eval()
    out = []
    for name in layers:
        conv = model.get_submodule(name)
        incs = torch.zeros(conv.out_channels, dtype=torch.float64)
        for x, y in batches:
            with torch.no_grad():
                base = F.cross_entropy(model(x), y)
                for j in range(conv.out_channels):
                    saved = conv.weight[j].clone()
                    conv.weight[j] = 0
                    incs[j] += (F.cross_entropy(model(x), y) - base).item()
                    conv.weight[j] = saved
        out.append((incs / len(batches)).float())
    return out


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_batched_evaluation_equals_zeroing_each_filter_in_place(chunk):
    torch.manual_seed(1)
    net = models.build("resnet50-w2-small", num_classes=3, in_channels=1)
    net.train()
    for _ in range(3):  # non-trivial BN running statistics
        net(torch.randn(8, 1, 8, 8))
    batches = [(torch.randn(5, 1, 8, 8), torch.randint(0, 3, (5,))) for _ in range(2)]
    layers = hooked_layers(net)[:2]
    fast = evaluate_channels(net, layers, batches, chunk=chunk)
    assert net.training  # the mode is restored
    slow = _zero_in_place(net, layers, batches)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_conv_with_bias_keeps_its_bias_when_its_filter_is_zeroed():
    net = _TwoChannelNet()
    net.conv = nn.Conv2d(1, 2, 1, bias=True)
    with torch.no_grad():
        net.conv.weight.fill_(1.0)
        net.conv.bias.copy_(torch.tensor([0.7, 0.0]))
    x, y = torch.rand(4, 1, 2, 2), torch.zeros(4, dtype=torch.long)
    fast = evaluate_channels(net, ["conv"], [(x, y)])
    slow = _zero_in_place(net, ["conv"], [(x, y)])
    assert torch.allclose(fast[0], slow[0], atol=1e-6)

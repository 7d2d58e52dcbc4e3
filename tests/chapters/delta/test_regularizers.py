"""DELTA, L2-SP and classifier L2 against hand-computed values; the trainer plug-ins against their formulas."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.chapters.delta import regularizers as reg
from reprolib.chapters.delta.channels import hooked_layers
from reprolib.core import models
from reprolib.core.train import TrainSpec, fit


def test_delta_regularizer_hand_computed_batch_sum_hw_and_channel_weighting():
    # one layer, B=2, C=2, H=1, W=2
    target = torch.tensor([[[[1.0, 2.0]], [[0.0, 0.0]]],
                           [[[0.0, 0.0]], [[3.0, 1.0]]]])
    source = torch.zeros_like(target)
    w = torch.tensor([0.25, 0.75])
    # squared distances per (sample, channel): [[5, 0], [0, 10]]
    # 0.5 · Σ_b Σ_c C·w_c·d / (H·W) = 0.5 · (2·0.25·5 + 2·0.75·10) / 2 = 0.5 · 17.5 / 2
    expected = 0.5 * (2 * 0.25 * 5 + 2 * 0.75 * 10) / 2
    got = reg.delta_regularizer([target], [source], [w])
    assert got.item() == pytest.approx(expected)
    assert expected == pytest.approx(4.375)


def test_delta_regularizer_is_a_batch_sum_and_sums_layers():
    torch.manual_seed(0)
    t, s = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    w = torch.softmax(torch.randn(4), 0)
    one = reg.delta_regularizer([t], [s], [w])
    doubled_batch = reg.delta_regularizer([torch.cat([t, t])], [torch.cat([s, s])], [w])
    assert doubled_batch.item() == pytest.approx(2 * one.item(), rel=1e-6)  # a sum, not a mean, over the batch
    assert reg.delta_regularizer([t, t], [s, s], [w, w]).item() == pytest.approx(2 * one.item(), rel=1e-6)
    # uniform weights: C · (1/C) = 1, so the term is 0.5 · ‖t − s‖²_F / (H·W)
    uniform = reg.delta_regularizer([t], [s], [torch.full((4,), 0.25)])
    assert uniform.item() == pytest.approx(0.5 * (t - s).pow(2).sum().item() / 4, rel=1e-6)


def test_delta_regularizer_gradient_reaches_only_the_target():
    t = torch.randn(2, 3, 2, 2, requires_grad=True)
    s = torch.randn(2, 3, 2, 2, requires_grad=True)
    reg.delta_regularizer([t], [s], [torch.full((3,), 1 / 3)]).backward()
    assert s.grad is None  # source maps are detached
    assert torch.allclose(t.grad, (t - s).detach() / 4)  # d/dt 0.5·‖t−s‖²/(H·W) with C·w = 1


def test_delta_regularizer_rejects_mismatches():
    with pytest.raises(ValueError, match="weights"):
        reg.delta_regularizer([torch.zeros(1, 3, 2, 2)], [torch.zeros(1, 3, 2, 2)], [torch.ones(2)])
    with pytest.raises(ValueError, match="one source map"):
        reg.delta_regularizer([torch.zeros(1, 3, 2, 2)], [], [torch.ones(3)])


def _tiny():
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        net[2].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        net[2].bias.copy_(torch.tensor([0.5, -0.5]))
    return net


def test_l2sp_is_zero_at_the_start_and_hand_computed_after_a_change():
    net = _tiny()
    start = reg.starting_point(net, heads=("2.",))
    assert set(start) == {"0.weight"}  # head excluded
    assert reg.l2sp_regularizer(net, start, ("2.",)).item() == 0.0
    with torch.no_grad():
        net[0].weight.add_(torch.tensor([3.0, 4.0]).view(2, 1, 1, 1))
        net[2].weight.add_(100.0)  # the head does not count
    assert reg.l2sp_regularizer(net, start, ("2.",)).item() == pytest.approx(0.5 * (9 + 16))


def test_l2sp_covers_bn_affine_but_not_running_statistics():
    net = models.build("resnet50-w2-small", num_classes=3, in_channels=1)
    start = reg.starting_point(net)
    assert "bn1.weight" in start and "bn1.bias" in start and "bn1.running_mean" not in start
    assert not any(k.startswith("fc.") for k in start)
    net.train()
    net(torch.randn(4, 1, 8, 8))  # updates running stats only
    assert reg.l2sp_regularizer(net, start, reg.head_prefixes(net)).item() == 0.0


def test_l2sp_grows_during_training():
    torch.manual_seed(0)
    net = models.build("resnet50-w2-small", num_classes=2, in_channels=1)
    start = reg.starting_point(net)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 2, (32,))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    values = []
    for _ in range(4):
        values.append(reg.l2sp_regularizer(net, start, ("fc.",)).item())
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    values.append(reg.l2sp_regularizer(net, start, ("fc.",)).item())
    assert values[0] == 0.0
    assert all(b > a for a, b in zip(values, values[1:]))


def test_classifier_l2_hand_computed():
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        head.bias.copy_(torch.tensor([0.5, -0.5]))
    assert reg.classifier_l2(head).item() == pytest.approx(0.5 * (1 + 4 + 9 + 16 + 0.25 + 0.25))


def test_l2sp_loss_adds_alpha_and_beta_terms():
    net = _tiny()
    start = reg.starting_point(net, heads=("2.",))
    with torch.no_grad():
        net[0].weight.add_(1.0)
    # _tiny is a Sequential, so its head is found by name: check the formula with an explicit head
    expected = 0.1 * 0.5 * 2.0 + 0.01 * 0.5 * (1 + 4 + 9 + 16 + 0.25 + 0.25)
    alpha_part = 0.1 * reg.l2sp_regularizer(net, start, ("2.",))
    beta_part = 0.01 * reg.classifier_l2(net[2])
    assert (alpha_part + beta_part).item() == pytest.approx(expected)


def test_delta_loss_is_cross_entropy_at_the_source_and_trains_through_fit():
    torch.manual_seed(0)
    net = models.build("resnet50-w2-small", num_classes=3, in_channels=1).eval()
    source = models.build("resnet50-w2-small", num_classes=3, in_channels=1)
    source.load_state_dict(net.state_dict())
    layers = hooked_layers(net)
    weights = [torch.full((net.get_submodule(n).out_channels,), 1.0 / net.get_submodule(n).out_channels) for n in layers]
    loss_fn = reg.delta_loss(source, layers, weights, alpha=0.5)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))
    loss, logits = loss_fn(net, x, y)  # both in eval mode with equal weights: the maps agree, Ω = 0
    assert loss.item() == pytest.approx(F.cross_entropy(net(x), y).item(), rel=1e-6)
    with torch.no_grad():
        net.get_submodule(layers[0]).weight.mul_(2.0)  # the target's map doubles: Ω = 0.5·Σ‖m‖²/(HW)
    with torch.no_grad():
        from reprolib.core.transfer import capture_outputs

        with capture_outputs(source, layers[:1]) as maps:
            source(x)
    m = maps[layers[0]]
    hw = m.shape[2] * m.shape[3]
    loss2, logits2 = loss_fn(net, x, y)
    expected_reg = 0.5 * m.pow(2).sum().item() / hw  # the doubled map differs from the source by m itself
    # later layers change too once layer 1 doubles; the first layer's share is a lower bound
    assert loss2.item() - F.cross_entropy(logits2, y).item() >= 0.5 * expected_reg * 0.999
    # through the shared trainer: no DELTA-specific code there
    spec = TrainSpec(epochs=1, batch_size=4, lr=0.01)
    loader = [(torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))) for _ in range(3)]
    result = fit(net, loader, None, spec, loss_fn=loss_fn, extra_loss=reg.classifier_loss(0.01), progress=False, device="cpu")
    assert len(result.history["step"]) == 3
    assert all(p.grad is None for p in source.parameters())

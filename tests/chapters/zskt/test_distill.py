"""Attention transfer, KL reduction, KD+AT, generator: against hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprolib.chapters.zskt import distill
from reprolib.core import models


def test_attention_map_hand_computed():
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # (1, 2, 1, 2)
    # squares: [1,4] and [9,0]; channel mean [5, 2]; L2-normalised
    expected = torch.tensor([[5.0, 2.0]]) / math.sqrt(29.0)
    assert torch.allclose(distill.attention_map(x), expected)


def test_attention_map_is_per_sample():
    x = torch.randn(3, 4, 5, 5)
    x[1] *= 100.0  # scaling one sample changes nothing after per-sample normalisation
    a = distill.attention_map(x)
    assert a.shape == (3, 25)
    assert torch.allclose(a.norm(dim=1), torch.ones(3))
    y = x.clone()
    y[1] /= 100.0
    assert torch.allclose(distill.attention_map(y), a, atol=1e-6)


def test_attention_loss_hand_computed():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])
    b = torch.tensor([[[[1.0, 1.0]]]])  # one channel: map [1, 1]/sqrt(2); channel counts may differ
    r29, r2 = math.sqrt(29.0), math.sqrt(2.0)
    expected = ((5 / r29 - 1 / r2) ** 2 + (2 / r29 - 1 / r2) ** 2) / 2  # mean over B*H*W = 2 elements
    assert distill.attention_loss(a, b).item() == pytest.approx(expected, rel=1e-6)
    assert distill.attention_loss(a, a).item() == 0.0


def test_attention_loss_rejects_mismatched_spatial_sizes():
    with pytest.raises(ValueError, match="spatial"):
        distill.attention_loss(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8))


def test_kl_reductions_and_class_factor():
    torch.manual_seed(0)
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    mean = distill.kl_divergence(s, t, reduction="mean")
    batchmean = distill.kl_divergence(s, t, reduction="batchmean")
    total = distill.kl_divergence(s, t, reduction="sum")
    ref = F.kl_div(F.log_softmax(s, 1), F.softmax(t, 1), reduction="sum")
    assert total.item() == pytest.approx(ref.item(), rel=1e-5)
    assert batchmean.item() == pytest.approx(ref.item() / 8, rel=1e-5)
    # the originals' default 'mean' divides by B*C: batchmean / C (the factor of C against beta)
    assert mean.item() == pytest.approx(batchmean.item() / 10, rel=1e-5)
    assert distill.beta_against_batchmean(250.0, 10) == 25.0
    assert distill.kl_divergence(s, s).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        distill.kl_divergence(s, t, reduction="none")


def test_kd_at_loss_pre_fix_form():
    torch.manual_seed(1)
    s, t = torch.randn(4, 10), torch.randn(4, 10)
    y = torch.tensor([0, 1, 2, 3])
    loss = distill.kd_at_loss(s, [torch.randn(4, 2, 3, 3)], t, [torch.randn(4, 5, 3, 3)], y, T=4.0, alpha=0.9, beta=0.0)
    kl_batchmean = distill.kl_divergence(s, t, T=4.0, reduction="batchmean")
    expected = 0.1 * F.cross_entropy(s, y) + 0.2 * 0.9 * 16 * kl_batchmean  # 2αT²·KL_mean = 0.2αT²·KL_batchmean
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_generator_shape_and_channel_normalisation():
    torch.manual_seed(0)
    for channels, size in ((3, 32), (1, 16), (1, 8)):
        g = distill.Generator(z_dim=100, channels=channels, size=size, width=0.25)
        x = g(torch.randn(32, 100))
        assert x.shape == (32, channels, size, size)
        # output BN: every channel ~ zero mean, unit variance over the batch (train mode)
        assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(channels), atol=1e-4)
        assert torch.allclose(x.var((0, 2, 3), unbiased=False), torch.ones(channels), atol=1e-2)
    with pytest.raises(ValueError, match="multiple of 4"):
        distill.Generator(channels=1, size=10)


def test_generator_original_layers():
    g = distill.Generator()
    assert g.linear.out_features == 128 * 8 * 8
    assert g.out.out_channels == 3 and g.out_bn.affine
    assert not any(isinstance(m, (torch.nn.Tanh, torch.nn.Sigmoid)) for m in g.modules())


def test_pair_checks():
    assert distill.check_pair("wrn-40-2", "wrn-16-1") == ((40, 2), (16, 1))
    with pytest.raises(ValueError, match="not a WideResNet"):
        distill.check_pair("resnet18", "wrn-16-1")
    with pytest.raises(ValueError, match="student"):
        distill.check_pair("wrn-16-2", "report_cnn")

    class FourGroups(torch.nn.Module):
        num_groups = 4

        def forward_groups(self, x):  # pragma: no cover
            raise NotImplementedError

    with pytest.raises(ValueError, match="groups"):
        distill.check_groups(FourGroups(), models.build("wrn-10-1", 10, 1))
    with pytest.raises(ValueError, match="forward_groups"):
        distill.check_groups(torch.nn.Linear(2, 2), models.build("wrn-10-1", 10, 1))
    with pytest.raises(ValueError, match="equal numbers"):
        distill.attention_losses([torch.randn(1, 1, 2, 2)] * 3, [torch.randn(1, 1, 2, 2)] * 2)


def test_paper_beta_scale_is_the_map_area_ratio():
    assert distill.paper_beta_scale(32) == 1.0
    assert distill.paper_beta_scale(16) == 0.25  # 16x16 maps: the per-position mean is 4x the paper's
    assert distill.paper_beta_scale(8) == 1 / 16
    assert distill.paper_beta_scale(28) == pytest.approx(0.765625)
    with pytest.raises(ValueError, match=">= 1"):
        distill.paper_beta_scale(0)


def test_beta_in_paper_units_equals_the_attention_loss_on_maps_brought_to_32_px():
    """Scaling the 16-px attention loss by (16/32)^2 gives exactly the loss of the same maps at the paper's 32 px
    (nearest upsampling repeats every position 4 times), i.e. a sum over positions / (B * 32 * 32)."""
    torch.manual_seed(0)
    a, b = torch.randn(3, 4, 16, 16), torch.randn(3, 6, 16, 16)
    small = distill.attention_loss(a, b)
    up = lambda x: F.interpolate(x, scale_factor=2, mode="nearest")  # noqa: E731
    at_32 = distill.attention_loss(up(a), up(b))
    assert (small * distill.paper_beta_scale(16)).item() == pytest.approx(at_32.item(), rel=1e-5)
    # the same by hand: squared differences of unit maps summed over the 256 positions, over B * 1024 paper positions
    qa, qb = a.pow(2).mean(1).flatten(1), b.pow(2).mean(1).flatten(1)
    diff = qa / qa.norm(dim=1, keepdim=True) - qb / qb.norm(dim=1, keepdim=True)
    assert at_32.item() == pytest.approx((diff.pow(2).sum() / (3 * 32 * 32)).item(), rel=1e-5)
    assert small.item() == pytest.approx(4 * at_32.item(), rel=1e-5)  # why beta at 16 px was 4x too strong

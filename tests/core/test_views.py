"""Ten-crop testing: the crops are torchvision's TenCrop, and the logits (not the probabilities) are averaged."""
import pytest
import torch
import torch.nn as nn
import torchvision.transforms.v2 as T

from reprolib.core.loader import TensorLoader
from reprolib.core.data import synthetic
from reprolib.core.train import evaluate
from reprolib.core.views import TenCrop, center_crop, ten_crop


def test_ten_crop_matches_torchvision_tencrop_per_image():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 7, 6)
    views = ten_crop(x, 4)
    assert views.shape == (30, 2, 4, 4)
    for i in range(3):
        reference = torch.stack(T.TenCrop(4)(x[i]))  # the ten views of image i, torchvision's order
        assert torch.equal(views[10 * i:10 * (i + 1)], reference)


def test_ten_crop_rejects_bad_sizes():
    with pytest.raises(ValueError, match="crop size"):
        ten_crop(torch.rand(1, 1, 4, 4), 5)
    with pytest.raises(ValueError, match="batch"):
        ten_crop(torch.rand(1, 4, 4), 2)


class _MaxPixel(nn.Module):
    """Logits [10·m, 1 − m] with m the brightest pixel of the crop: one bright pixel sways a few crops strongly."""

    def forward(self, x):
        m = x.flatten(1).amax(1)
        return torch.stack([10.0 * m, 1.0 - m], dim=1)


def test_ten_crop_averages_logits_not_probabilities():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0  # in the corner: only some of the ten crops contain it
    net = _MaxPixel()
    crops = torch.stack(T.TenCrop(3)(x[0]))
    per_crop = net(crops)
    hits = int((crops.flatten(1).amax(1) == 1).sum())
    assert 0 < hits < 10
    out = TenCrop(net, 3)(x)
    assert torch.allclose(out[0], per_crop.mean(0))
    # averaging probabilities would pick the other class here: the logit average is what the original does
    prob_vote = per_crop.softmax(1).mean(0).argmax().item()
    assert out.argmax(1).item() != prob_vote


def test_evaluate_with_ten_crops_over_a_loader():
    data = synthetic(n=40, num_classes=4, size=10, seed=0, split="test")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    loss, acc = evaluate(TenCrop(net, 8), TensorLoader(data, 16, shuffle=False))
    x, y = data.normalized(), data.labels
    logits = torch.stack([net(v) for v in T.TenCrop(8)(x)]).mean(0)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)


def test_center_crop_is_torchvision_centercrop():
    x = torch.rand(2, 3, 9, 9)
    assert torch.equal(center_crop(x, 5), T.CenterCrop(5)(x))

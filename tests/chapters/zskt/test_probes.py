"""Transition curves (Algorithm 2) and MTE on a tiny linear model."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.chapters.zskt import probes


def _nets():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    b = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        b[1].weight.copy_(a[1].weight + 0.3 * torch.randn(3, 4))
        b[1].bias.copy_(a[1].bias)
    return a, b


def test_transition_curves_shapes_rise_and_recorded_before_update():
    a, b = _nets()
    images = torch.randn(200, 1, 2, 2)
    labels = torch.randint(0, 3, (200,))
    x, y, idx = probes.select_agreeing(a, b, images, labels, n=10)
    assert len(x) == 10 and torch.equal(probes.predictions(a, x), probes.predictions(b, x))
    p_a, p_b = probes.transition_curves(a, b, x, y, steps=5, step_size=0.5)
    assert p_a.shape == p_b.shape == (10, 2, 5)
    # net_a's probability of the target rises monotonically under its own gradient steps (linear softmax)
    assert (np.diff(p_a, axis=-1) > 0).all()
    # step 0 is the clean image (recorded before the update); targets are (label + k + 1) mod 3
    targets = (y[:, None] + torch.arange(1, 3)[None]) % 3
    with torch.no_grad():
        clean_a = F.softmax(a(x), 1).gather(1, targets).numpy()
        clean_b = F.softmax(b(x), 1).gather(1, targets).numpy()
    assert np.allclose(p_a[..., 0], clean_a, atol=1e-6)
    assert np.allclose(p_b[..., 0], clean_b, atol=1e-6)
    # step 1 is the image after exactly one plain-gradient step of size 0.5 on CE(net_a, j)
    x0 = x[:1].clone().requires_grad_(True)
    j = targets[0, :1]
    (g,) = torch.autograd.grad(F.cross_entropy(a(x0), j), x0)
    with torch.no_grad():
        p1 = F.softmax(a(x0 - 0.5 * g), 1)[0, j].item()
    assert p_a[0, 0, 1] == pytest.approx(p1, abs=1e-6)
    # batching does not change the result
    p_a2, p_b2 = probes.transition_curves(a, b, x, y, steps=5, step_size=0.5, batch_size=3)
    assert np.allclose(p_a, p_a2, atol=1e-6) and np.allclose(p_b, p_b2, atol=1e-6)


def test_transition_curves_rejects_disagreeing_images():
    a, b = _nets()
    images = torch.randn(200, 1, 2, 2)
    disagree = (probes.predictions(a, images) != probes.predictions(b, images)).nonzero().flatten()
    assert len(disagree) > 0
    with pytest.raises(ValueError, match="classified differently"):
        probes.transition_curves(a, b, images[disagree[:2]], torch.zeros(2, dtype=torch.long), steps=2)


def test_mean_transition_error_constructed():
    p_a = np.zeros((2, 3, 4))
    p_b = np.zeros((2, 3, 4))
    p_b[..., :2] = 0.5
    p_b[..., 2:] = 1.0
    assert probes.mean_transition_error(p_a, p_b) == pytest.approx(0.75)
    assert probes.mean_transition_error(p_a, p_b, steps=2) == pytest.approx(0.5)
    assert probes.mean_transition_error(p_b, p_a, steps=2) == pytest.approx(0.5)  # absolute gap
    with pytest.raises(ValueError, match="shape"):
        probes.mean_transition_error(p_a, p_b[:1])


def test_curve_band():
    p = np.stack([np.zeros((1, 2, 3)), np.ones((1, 2, 3))]).reshape(2, 2, 3)
    mean, band = probes.curve_band(p)
    assert np.allclose(mean, 0.5) and np.allclose(band, 2 * 0.5 / 2)

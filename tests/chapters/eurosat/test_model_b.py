"""Model_B (seed report 003, Task B): factorised 3x3 convolutions and seed-independent noise in the first six conv layers."""
import copy

import pytest
import torch
import torch.nn as nn

from reprolib.chapters.eurosat.model_b import (FactorizedConv, GaussianNoise, conv_layers, densenet121, factorize_convs,
                                               factorization_saving, model_b)
from reprolib.core import models


def _convs3x3(model):
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3)]


def test_no_3x3_convolution_is_left():
    for net in (factorize_convs(densenet121(10, 1, growth_rate=4, small_input=True)),
                model_b(10, 3, growth_rate=4), model_b(10, 1, growth_rate=8, small_input=True)):
        assert _convs3x3(net) == []
        kernels = {tuple(m.kernel_size) for m in net.modules() if isinstance(m, nn.Conv2d)}
        assert (1, 3) in kernels and (3, 1) in kernels and (3, 3) not in kernels


@pytest.mark.parametrize("stride,padding,dilation,groups,size", [
    (1, 1, 1, 1, (9, 11)), (2, 1, 1, 1, (9, 11)), (2, 0, 1, 1, (10, 7)), (1, 2, 2, 1, (8, 8)), (2, 1, 1, 2, (7, 12)),
])
def test_factorised_conv_keeps_the_output_shape(stride, padding, dilation, groups, size):
    conv = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = torch.randn(2, 4, *size)
    assert FactorizedConv(conv)(x).shape == conv(x).shape


def test_model_b_output_and_block_shapes_equal_the_baselines():
    torch.manual_seed(0)
    base = densenet121(10, 1, growth_rate=8, small_input=True).eval()
    mb = model_b(10, 1, growth_rate=8, small_input=True).eval()
    x = torch.randn(3, 1, 16, 16)
    assert mb(x).shape == base(x).shape == (3, 10)
    blocks = [n for n, _ in base.features.named_children()]
    shapes = {}
    for name, net in (("base", base), ("mb", mb)):
        out, h = [], x
        for child in blocks:
            h = net.features.get_submodule(child)(h)
            out.append(tuple(h.shape))
        shapes[name] = out
    assert shapes["base"] == shapes["mb"]


def test_parameter_count_drops_by_the_hand_computed_amount():
    # densenet121-g8-small, 1 input channel: 58 dense layers, each 3x3 conv 4k=32 -> k=8 channels:
    # 9*32*8 = 2304 weights become 3*32*8 + 3*8*8 = 768 + 192 = 960, saving 1344 per layer -> 58 * 1344 = 77952.
    # The small stem 3x3 conv 1 -> 2k=16: 9*1*16 = 144 becomes 3*1*16 + 3*16*16 = 48 + 768 = 816: 672 MORE.
    base = densenet121(10, 1, growth_rate=8, small_input=True)
    mb = model_b(10, 1, growth_rate=8, small_input=True)
    assert models.count_parameters(base) - models.count_parameters(mb) == 58 * 1344 - 672 == 77280
    assert factorization_saving(base) == 77280
    # DenseNet-121 itself (growth 32, 7x7 stem, which is not 3x3): 58 * (9*128*32 - (3*128*32 + 3*32*32)) = 58 * 21504
    full = models.build("densenet121", num_classes=10)
    assert models.count_parameters(full) - models.count_parameters(model_b(10, 3)) == 58 * 21504 == 1_247_232


def test_svd_initialisation_is_exact_for_a_rank_one_kernel_per_output_channel():
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 4, 3, padding=1, bias=True)
    with torch.no_grad():  # W[o, i, y, x] = u[o, y] * v[o, i, x]
        conv.weight.copy_(torch.einsum("oy,oix->oiyx", torch.randn(4, 3), torch.randn(4, 5, 3)))
    x = torch.randn(2, 5, 7, 9)
    torch.testing.assert_close(FactorizedConv(conv, init="svd")(x), conv(x), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="3x3"):
        FactorizedConv(nn.Conv2d(2, 2, 5))


def test_noise_follows_exactly_the_first_six_conv_layers():
    mb = model_b(10, 1, growth_rate=4, small_input=True)
    wrapped = [n for n, m in mb.named_modules() if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[1], GaussianNoise)]
    layers = conv_layers(mb)
    assert len(wrapped) == 6 == sum(isinstance(m, GaussianNoise) for m in mb.modules())
    assert [f"{w}.0" for w in wrapped] == layers[:6]  # the layer inside each wrapper, in forward order
    assert layers[0] == "features.conv0.0" and layers[5] == "features.denseblock1.denselayer3.conv1.0"
    assert all(not n.startswith(tuple(wrapped)) for n in layers[6:])


def test_noise_is_added_in_training_only_with_the_stated_std():
    noise = GaussianNoise(0.005, seed=1)
    x = torch.zeros(200_000)
    noise.train()
    assert abs((noise(x) - x).std().item() - 0.005) < 1e-4 and abs((noise(x) - x).mean().item()) < 1e-4
    noise.eval()
    assert torch.equal(noise(x), x)
    mb = model_b(10, 1, growth_rate=4, small_input=True)
    quiet = copy.deepcopy(mb)
    for m in quiet.modules():
        if isinstance(m, GaussianNoise):
            m.std = 0.0
    x = torch.randn(4, 1, 12, 12)
    mb.eval(), quiet.eval()
    assert torch.equal(mb(x), quiet(x))  # eval: no noise at all
    mb.train(), quiet.train()
    assert not torch.allclose(mb(x), quiet(x))  # training: the noise changes the output


def test_noise_is_independent_of_the_global_seed():
    x = torch.randn(4, 1, 12, 12)
    mb = model_b(10, 1, growth_rate=4, small_input=True).train()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = mb(x)
    assert torch.equal(torch.get_rng_state(), state)  # the noise neither reads nor advances the global stream
    torch.manual_seed(0)
    second = mb(x)
    assert not torch.allclose(first, second)  # re-seeding the global RNG does not replay the noise
    # the noise is fixed by the noise layers' own seeds, whatever the global seed
    a, b = model_b(10, 1, growth_rate=4, small_input=True), model_b(10, 1, growth_rate=4, small_input=True)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(1)
    out_a = a.train()(x)
    torch.manual_seed(2)
    out_b = b.train()(x)
    torch.testing.assert_close(out_a, out_b)
    c = model_b(10, 1, growth_rate=4, small_input=True, noise_seed=5)
    c.load_state_dict(a.state_dict())
    assert not torch.allclose(c.train()(x), out_a)  # another noise seed, another noise (same weights, same input)


def test_model_b_copies_and_trains():
    mb = model_b(10, 1, growth_rate=4, small_input=True)
    mb.train()(torch.randn(2, 1, 12, 12))  # creates the generators
    clone = copy.deepcopy(mb)
    loss = clone(torch.randn(2, 1, 12, 12)).sum()
    loss.backward()
    assert all(p.grad is not None for p in clone.parameters())
    with pytest.raises(ValueError, match="fewer than noisy_convs=500"):
        model_b(10, 1, growth_rate=4, small_input=True, noisy_convs=500)

"""Model_B of seed report 003, Task B: DenseNet-121 with factorised 3x3 convolutions and input-side noise.

Two changes to torchvision's DenseNet-121 (Huang et al., CVPR 2017), report §B.1:

* **A) kernel factorisation** (after Inception v3, Szegedy et al., CVPR 2016): every 3x3
  convolution becomes a 1x3 convolution followed by a 3x1 convolution, with no
  non-linearity between them.  The 1x3 maps C_in → C_out channels and the 3x1 maps
  C_out → C_out, so the weights drop from 9·C_in·C_out to 3·C_in·C_out + 3·C_out² (a
  DenseNet layer's 3x3 goes from 4k to k channels: 36k² → 15k²).  Stride, padding and
  dilation are split between the two (horizontal in the 1x3, vertical in the 3x1), so
  the output shape is unchanged.
* **B) Gaussian noise** with zero mean and std 0.005 added point-wise to the outputs of the
  first six convolutional layers, in training only.  The report notes that the noise must
  not come from the globally seeded random state; here each noise layer draws from its
  own ``torch.Generator`` (seeded, so a run still repeats), which neither reads nor
  advances the global RNG.

:func:`factorize_convs` can initialise the factorised pair from a trained 3x3 kernel (for
ImageNet or source-model weights): per output channel, the best rank-1 approximation of
the 3x3xC_in kernel in the (row, column·channel) sense (SVD), which the 1x3-then-3x1 pair
represents exactly when its 3x1 mixes no channels.
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["FactorizedConv", "GaussianNoise", "factorize_convs", "add_noise", "conv_layers", "model_b", "to_model_b",
           "densenet121", "factorization_saving"]


class FactorizedConv(nn.Sequential):
    """A 1x3 convolution followed by a 3x1 convolution that replaces one 3x3 ``nn.Conv2d`` (same output shape)."""

    def __init__(self, conv: nn.Conv2d, init: str = "fresh"):
        if tuple(conv.kernel_size) != (3, 3):
            raise ValueError(f"FactorizedConv replaces 3x3 convolutions, got kernel {tuple(conv.kernel_size)}")
        if init not in ("fresh", "svd"):
            raise ValueError(f"init must be 'fresh' or 'svd', got {init!r}")
        if isinstance(conv.padding, str):
            raise ValueError("FactorizedConv needs numeric padding (padding='same'/'valid' is not supported)")
        (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
        cin, cout, groups = conv.in_channels, conv.out_channels, conv.groups
        super().__init__()
        self.conv1x3 = nn.Conv2d(cin, cout, (1, 3), stride=(1, sw), padding=(0, pw), dilation=(1, dw), groups=groups, bias=False)
        self.conv3x1 = nn.Conv2d(cout, cout, (3, 1), stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1), groups=groups,
                                 bias=conv.bias is not None)
        self.to(conv.weight.device, conv.weight.dtype)
        if init == "svd":
            self._init_from(conv)
        else:  # torchvision's DenseNet initialisation for convolutions
            for m in (self.conv1x3, self.conv3x1):
                nn.init.kaiming_normal_(m.weight)
            if self.conv3x1.bias is not None:
                nn.init.zeros_(self.conv3x1.bias)

    @torch.no_grad()
    def _init_from(self, conv: nn.Conv2d) -> None:
        """Per output channel o: W[o] (3 × C_in·3) ≈ σ u vᵀ; the 3x1 gets σ·u on its diagonal, the 1x3 gets v."""
        w = conv.weight.detach().float()  # (cout, cin/g, 3, 3)
        cout, cin_g = w.shape[:2]
        rows = w.permute(0, 2, 1, 3).reshape(cout, 3, cin_g * 3)  # (o, dy, (i, dx))
        u, s, vh = torch.linalg.svd(rows, full_matrices=False)
        self.conv1x3.weight.copy_(vh[:, 0].reshape(cout, cin_g, 1, 3))
        vertical = torch.zeros_like(self.conv3x1.weight)  # (cout, cout/g, 3, 1)
        per_group = cout // conv.groups
        for o in range(cout):
            vertical[o, o % per_group, :, 0] = s[o, 0] * u[o, :, 0]
        self.conv3x1.weight.copy_(vertical)
        if conv.bias is not None:
            self.conv3x1.bias.copy_(conv.bias)


class GaussianNoise(nn.Module):
    """Adds N(0, std²) point-wise in training mode only, from its own generator (never the global RNG).

    The generator is created on the input's device on first use, seeded with ``seed``; it is
    not part of the state dict (a run resumed from a checkpoint draws a fresh noise stream).
    """

    def __init__(self, std: float, seed: int = 0):
        super().__init__()
        if std < 0:
            raise ValueError(f"noise std must be >= 0, got {std}")
        self.std, self.seed = float(std), int(seed)
        self._generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=self._generator, device=x.device, dtype=x.dtype)
        return x + self.std * noise

    def __getstate__(self):  # deepcopy/pickle: generators are re-created on first use
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    def extra_repr(self) -> str:
        return f"std={self.std:g}, seed={self.seed}"


def _is_conv_layer(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, FactorizedConv))


def conv_layers(model: nn.Module) -> list[str]:
    """Qualified names of the convolutional layers in registration order (= forward order in DenseNet and ResNet);
    a factorised 1x3 + 3x1 pair counts as the one layer it replaces."""
    names, inside = [], ()
    for name, module in model.named_modules():
        if inside and name.startswith(inside):
            continue
        if _is_conv_layer(module):
            names.append(name)
            inside = (name + ".",) if isinstance(module, FactorizedConv) else ()
    return names


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def factorize_convs(module: nn.Module, init: str = "fresh") -> nn.Module:
    """Replace every 3x3 ``nn.Conv2d`` in ``module`` (in place) by a :class:`FactorizedConv`; return ``module``.

    ``init="fresh"``: Kaiming-normal weights (a network trained from scratch); ``init="svd"``: the
    rank-1 factorisation of the existing kernels (a pretrained network).
    """
    targets = [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3)]
    if isinstance(module, nn.Conv2d) and "" in targets:
        return FactorizedConv(module, init)
    for name in targets:
        _replace(module, name, FactorizedConv(module.get_submodule(name), init))
    return module


def add_noise(model: nn.Module, std: float = 0.005, layers: int = 6, seed: int = 0) -> nn.Module:
    """Follow each of the first ``layers`` convolutional layers by a :class:`GaussianNoise` (in place).

    Layer i becomes ``nn.Sequential(layer, GaussianNoise(std, seed·1000 + i))``, so noise is added to its output.
    """
    names = conv_layers(model)
    if layers > len(names):
        raise ValueError(f"the model has {len(names)} convolutional layers, fewer than noisy_convs={layers}")
    for i, name in enumerate(names[:layers]):
        _replace(model, name, nn.Sequential(model.get_submodule(name), GaussianNoise(std, seed * 1000 + i)))
    return model


def to_model_b(model: nn.Module, noise_std: float = 0.005, noisy_convs: int = 6, noise_seed: int = 0,
               init: str = "fresh") -> nn.Module:
    """Turn a DenseNet (any torchvision-class CNN) into Model_B: factorise every 3x3 conv, then add noise."""
    return add_noise(factorize_convs(model, init), noise_std, noisy_convs, noise_seed)


def densenet121(num_classes: int, in_channels: int = 3, growth_rate: int = 32, small_input: bool = False) -> nn.Module:
    """torchvision's ``DenseNet`` with DenseNet-121's blocks (6, 12, 24, 16); ``growth_rate=32`` is DenseNet-121 itself."""
    from reprolib.core import models

    return models.narrow_densenet(121, growth_rate, num_classes, in_channels, small_input)


def model_b(num_classes: int, in_channels: int = 3, noise_std: float = 0.005, noisy_convs: int = 6, noise_seed: int = 0,
            **densenet_kwargs) -> nn.Module:
    """Model_B (report §B): DenseNet-121 (torchvision's class; ``growth_rate``, ``small_input`` as in
    :func:`densenet121`) with every 3x3 conv factorised and noise after the first ``noisy_convs`` conv layers."""
    return to_model_b(densenet121(num_classes, in_channels, **densenet_kwargs), noise_std, noisy_convs, noise_seed)


def factorization_saving(model: nn.Module) -> int:
    """Weights saved by factorising every 3x3 conv of ``model``: Σ (6·C_in·C_out − 3·C_out²)/groups."""
    return sum((6 * m.in_channels * m.out_channels - 3 * m.out_channels ** 2) // m.groups
               for m in model.modules() if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3))

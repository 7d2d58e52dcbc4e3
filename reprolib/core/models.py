"""Models by name: WRN-d-k, registered builders (the seed-002 report CNN, ...), any torchvision classifier.

``build("wrn-16-2", num_classes=10, in_channels=1)``, ``build("report_cnn", ...)``,
``build("resnet18", num_classes=2, weights="imagenet")``.  Every model's ``forward``
returns logits, so one trainer serves them all; the WRN additionally offers
``forward_groups`` for attention transfer.  Builders registered with
:func:`reprolib.core.registry.model` take any number of input channels; torchvision
models take 3 (grey data is repeated to RGB for them, see :func:`input_channels`).
"""
from __future__ import annotations

import math
import os
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import registry


class ModelUnavailable(RuntimeError):
    """Pretrained weights that are neither cached nor downloadable here."""


# ---------------------------------------------------------------------------- WideResNet
class _PreActBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv; a 1x1 shortcut sees the *pre-activated* input (Zagoruyko; ZSKT wresnet.py)."""

    def __init__(self, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.drop_rate = drop_rate
        self.equal = in_planes == out_planes
        self.shortcut = None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.drop_rate > 0:
            y = F.dropout(y, p=self.drop_rate, training=self.training)
        y = self.conv2(y)
        return y + (x if self.equal else self.shortcut(o))


class WideResNet(nn.Module):
    """Pre-activation WRN-d-k (Zagoruyko & Komodakis 2016), as used by ZSKT and attention transfer.

    n = (d-4)/6 blocks per group, widths [16, 16k, 32k, 64k], strides 1, 2, 2.  Any input
    size and channel count (global average pooling at the end instead of a fixed 8x8).
    ``forward_groups`` returns the logits and the raw outputs of the three groups
    (residual sums, before the next BN-ReLU) — the tensors attention transfer compares.
    """

    def __init__(self, depth: int = 16, width: int = 1, num_classes: int = 10, in_channels: int = 3, drop_rate: float = 0.0):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}")
        if width < 1:
            raise ValueError(f"WRN width must be >= 1, got {width}")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.depth, self.width = depth, width
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.block1 = self._group(widths[0], widths[1], n, 1, drop_rate)
        self.block2 = self._group(widths[1], widths[2], n, 2, drop_rate)
        self.block3 = self._group(widths[2], widths[3], n, 2, drop_rate)
        self.bn = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)
        self.num_groups = 3
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    @staticmethod
    def _group(in_planes, out_planes, n, stride, drop_rate):
        return nn.Sequential(*[_PreActBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate) for i in range(n)])

    def forward_groups(self, x):
        x = self.conv1(x)
        g1 = self.block1(x)
        g2 = self.block2(g1)
        g3 = self.block3(g2)
        out = F.relu(self.bn(g3))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out), (g1, g2, g3)

    def forward(self, x):
        return self.forward_groups(x)[0]


# ---------------------------------------------------------------------------- report CNN
class ReportCNN(nn.Module):
    """The seed-002 CNN (report §1.2): five 3x3 convs (32→512) with ReLU, 2x2 max-pool after
    the first four, global average pooling and one linear layer."""

    def __init__(self, num_classes: int = 2, in_channels: int = 3, widths=(32, 64, 128, 256, 512)):
        super().__init__()
        layers, c = [], in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, 1, 1), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, 2))
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@registry.model("report_cnn", description="the seed-002 report's five-layer CNN (report §1.2)")
def _report_cnn(num_classes: int, in_channels: int = 3, **kwargs) -> nn.Module:
    return ReportCNN(num_classes=num_classes, in_channels=in_channels, **kwargs)


# ---------------------------------------------------------------------------- registry
_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")
#: input size each torchvision family was designed for (Inception v3 needs 299)
NATIVE_INPUT = {"inception_v3": 299}
MIN_INPUT = {"inception_v3": 75, "alexnet": 63, "squeezenet1_0": 33, "squeezenet1_1": 33}


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def names() -> list[str]:
    """Known model names (WRNs are any ``wrn-<depth>-<width>`` with depth 6n+4)."""
    return ["wrn-<depth>-<width>", *sorted(registry.MODELS), *torchvision_names()]


def parse_wrn(name: str) -> tuple[int, int] | None:
    m = _WRN.match(name.lower())
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_name(name: str) -> None:
    """Raise ValueError naming the allowed values when ``name`` cannot be built."""
    wrn = parse_wrn(name)
    if wrn:
        depth, width = wrn
        if (depth - 4) % 6 or depth < 10 or width < 1:
            raise ValueError(f"model {name!r}: WRN depth must be 6n+4 >= 10 (10, 16, 22, 28, 40, ...) and width >= 1")
        return
    if name not in registry.MODELS and name not in torchvision_names():
        raise ValueError(f"unknown model {name!r}; known: {names()}")


def any_channels(name: str) -> bool:
    """Whether ``name`` takes any number of input channels (WRNs and registered builders)."""
    if parse_wrn(name):
        return True
    info = registry.MODELS.get(name)
    return info is not None and info.any_channels


def input_channels(name: str, data_channels: int) -> int:
    """The channels a model gets: the data's own, or 3 for torchvision models (grey repeated to RGB)."""
    return data_channels if any_channels(name) else 3


def build(name: str, num_classes: int, in_channels: int = 3, weights: str | None = None, **kwargs) -> nn.Module:
    """A fresh model by name.  ``weights="imagenet"`` loads torchvision's default ImageNet weights
    (then the head is replaced for ``num_classes``)."""
    wrn = parse_wrn(name)
    if wrn:
        if weights:
            raise ValueError(f"{name}: no pretrained weights exist for WRNs; train a source model (reprolib.core.transfer)")
        return WideResNet(*wrn, num_classes=num_classes, in_channels=in_channels, **kwargs)
    if name in registry.MODELS:
        if weights:
            raise ValueError(f"{name} has no pretrained weights; train a source model (reprolib.core.transfer)")
        return registry.MODELS[name].build(num_classes=num_classes, in_channels=in_channels, **kwargs)
    return _torchvision_model(name, num_classes, in_channels, weights, **kwargs)


def _torchvision_model(name, num_classes, in_channels, weights, **kwargs):
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise KeyError(f"unknown model {name!r}; known: {names()}")
    if in_channels != 3:
        raise ValueError(f"{name} expects 3 input channels; convert the data with reprolib.core.data.to_model_input(channels=3)")
    if name == "inception_v3":
        kwargs.setdefault("aux_logits", True)
        kwargs.setdefault("init_weights", weights is None)
    if weights is None:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    if weights != "imagenet":
        raise ValueError(f"weights must be None or 'imagenet', got {weights!r}")
    model = load_imagenet(name, **kwargs)
    replace_head(model, num_classes)
    return model


def load_imagenet(name: str, **kwargs) -> nn.Module:
    """torchvision's default ImageNet weights; a clear error when not cached and not downloadable."""
    import torchvision

    weights_enum = torchvision.models.get_model_weights(name).DEFAULT
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights_enum.url))
    try:
        return torchvision.models.get_model(name, weights=weights_enum, **kwargs)
    except Exception as err:
        raise ModelUnavailable(
            f"ImageNet weights for {name} ({weights_enum}) are not cached at {cached} and could not be downloaded "
            f"({type(err).__name__}: {err}). Copy {os.path.basename(weights_enum.url)} from {weights_enum.url} into "
            f"{os.path.dirname(cached)} (or set TORCH_HOME), or use an offline source model (weights='source')."
        ) from None


def head_names(model: nn.Module) -> list[str]:
    """Qualified names of the final classification layer(s) of a model."""
    if isinstance(model, (WideResNet, ReportCNN)):
        return ["fc"]
    cls = type(model).__name__
    if cls == "Inception3":
        return ["fc", "AuxLogits.fc"] if getattr(model, "AuxLogits", None) is not None else ["fc"]
    if cls in ("AlexNet", "VGG"):
        return ["classifier.6"]
    if cls == "SqueezeNet":
        return ["classifier.1"]
    if cls == "DenseNet":
        return ["classifier"]
    for attr in ("fc", "head", "heads.head", "classifier"):
        try:
            mod = model.get_submodule(attr)
        except AttributeError:
            continue
        if isinstance(mod, nn.Linear):
            return [attr]
        if isinstance(mod, nn.Sequential):
            last = [i for i, m in enumerate(mod) if isinstance(m, nn.Linear)]
            if last:
                return [f"{attr}.{last[-1]}"]
    raise ValueError(f"do not know where the classification head of {cls} is")


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final layer(s) for freshly initialised ones with ``num_classes`` outputs."""
    for name in head_names(model):
        old = model.get_submodule(name)
        if isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes)
        elif isinstance(old, nn.Conv2d):  # SqueezeNet classifies with a 1x1 conv
            new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride)
        else:
            raise ValueError(f"unexpected head type {type(old).__name__} at {name}")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

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


# ---------------------------------------------------------------------------- narrow torchvision families
_RESNET = re.compile(r"^resnet(18|34|50|101|152)-w(\d+)(-small)?$")
_ALEXNET = re.compile(r"^alexnet-w(\d+)$")
_DENSENET = re.compile(r"^densenet(121|161|169|201)-g(\d+)(-small)?$")
_RESNET_LAYOUT = {"18": ("basic", (2, 2, 2, 2)), "34": ("basic", (3, 4, 6, 3)), "50": ("bottleneck", (3, 4, 6, 3)),
                  "101": ("bottleneck", (3, 4, 23, 3)), "152": ("bottleneck", (3, 8, 36, 3))}
_DENSENET_BLOCKS = {"121": (6, 12, 24, 16), "161": (6, 12, 36, 24), "169": (6, 12, 32, 32), "201": (6, 12, 48, 32)}


def narrow_resnet(depth: int, width: int, num_classes: int, in_channels: int = 3, small_input: bool = False) -> nn.Module:
    """torchvision's ``ResNet`` class (BasicBlock or Bottleneck, the depth's layout) with stage widths
    ``width, 2·width, 4·width, 8·width`` instead of 64…512, so it trains on 2 CPU cores.

    Module names are torchvision's (``conv1``, ``layer1``…``layer4``, each Bottleneck's ``conv3``,
    ``fc``), so hooks and freezing policies written for ResNet-50/101 apply unchanged.
    ``small_input``: a 3x3 stride-1 stem without max-pooling, for 16-64 px images (as on CIFAR).
    """
    import torchvision.models.resnet as tvr

    kind, layers = _RESNET_LAYOUT[str(depth)]
    block = tvr.Bottleneck if kind == "bottleneck" else tvr.BasicBlock

    class NarrowResNet(tvr.ResNet):
        def __init__(self):
            nn.Module.__init__(self)
            self._norm_layer = nn.BatchNorm2d
            self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
            if small_input:
                self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self._make_layer(block, width, layers[0])
            self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
            self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
            self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8 * width * block.expansion, num_classes)
            for m in self.modules():  # torchvision's initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    NarrowResNet.__name__ = NarrowResNet.__qualname__ = "ResNet"
    return NarrowResNet()


def zero_init_residual(model: nn.Module) -> nn.Module:
    """Zero the scale of the last BN of every ResNet block, so each block starts as the identity
    (torchvision's ``zero_init_residual=True``; Goyal et al. 2017, section 5.1).

    The narrow ResNet-50 (``resnet50-w8``) trained from scratch needs it: without it, it sat near
    chance for epochs and then diverged or learnt slowly (EuroSAT: loss 6.4 after two epochs at lr 0.1;
    Caltech-101's glyph source task: 7-36 % validation accuracy at lr 0.1-0.02, 85 % with it at lr 0.1).
    """
    import torchvision.models.resnet as tvr

    for block in model.modules():
        if isinstance(block, tvr.Bottleneck):
            nn.init.zeros_(block.bn3.weight)
        elif isinstance(block, tvr.BasicBlock):
            nn.init.zeros_(block.bn2.weight)
    return model


def narrow_alexnet(width: int, num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> nn.Module:
    """torchvision's ``AlexNet`` class with every layer narrowed by ``width / 64``.

    Convolutions ``width, 3·width, 6·width, 4·width, 4·width`` (64, 192, 384, 256, 256 in AlexNet)
    and fully connected layers of ``64·width`` units (4096), so ``alexnet-w64`` has exactly
    torchvision's shapes.  The layout is AlexNet's (Krizhevsky et al. 2012; torchvision's
    single-GPU variant): five convolutions (11x11/4, 5x5, 3x3 x3) with max-pooling after the
    first, second and fifth, adaptive average pooling to 6x6, then dropout-FC-ReLU twice and
    the final FC.  Module names are torchvision's (``features.0`` … ``features.12``,
    ``avgpool``, ``classifier.0`` … ``classifier.6``), so freezing policies and hooks written
    for AlexNet apply unchanged.  Like AlexNet it needs inputs of at least 63 px.
    """
    from torchvision.models import AlexNet

    widths = (width, 3 * width, 6 * width, 4 * width, 4 * width)
    hidden = 64 * width

    class NarrowAlexNet(AlexNet):
        def __init__(self):
            nn.Module.__init__(self)
            c1, c2, c3, c4, c5 = widths
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(c1, c2, kernel_size=5, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(c2, c3, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(c3, c4, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(c4, c5, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(p=dropout), nn.Linear(c5 * 6 * 6, hidden), nn.ReLU(inplace=True),
                nn.Dropout(p=dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, num_classes),
            )

    NarrowAlexNet.__name__ = NarrowAlexNet.__qualname__ = "AlexNet"
    return NarrowAlexNet()


def narrow_densenet(depth: int, growth: int, num_classes: int, in_channels: int = 3, small_input: bool = False) -> nn.Module:
    """torchvision's ``DenseNet`` class with growth rate ``growth`` (32 in DenseNet-121) and
    ``2·growth`` initial features; ``small_input`` swaps the 7x7/2 stem and its max-pool for a 3x3/1 conv."""
    import torchvision.models.densenet as tvd

    model = tvd.DenseNet(growth_rate=growth, block_config=_DENSENET_BLOCKS[str(depth)], num_init_features=2 * growth,
                         num_classes=num_classes)
    if small_input or in_channels != 3:
        k, s, pad = (3, 1, 1) if small_input else (7, 2, 3)
        model.features.conv0 = nn.Conv2d(in_channels, 2 * growth, k, s, pad, bias=False)
        nn.init.kaiming_normal_(model.features.conv0.weight)
        if small_input:
            model.features.pool0 = nn.Identity()
    return model


def _parse_family(name: str):
    m = _RESNET.match(name)
    if m:
        return lambda nc, ic: narrow_resnet(int(m.group(1)), int(m.group(2)), nc, ic, bool(m.group(3)))
    m = _DENSENET.match(name)
    if m:
        return lambda nc, ic: narrow_densenet(int(m.group(1)), int(m.group(2)), nc, ic, bool(m.group(3)))
    m = _ALEXNET.match(name)
    if m and int(m.group(1)) >= 1:
        return lambda nc, ic: narrow_alexnet(int(m.group(1)), nc, ic)
    return None


# ---------------------------------------------------------------------------- registry
_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")
#: input size each torchvision family was designed for (Inception v3 needs 299)
NATIVE_INPUT = {"inception_v3": 299}
MIN_INPUT = {"inception_v3": 75, "alexnet": 63, "squeezenet1_0": 33, "squeezenet1_1": 33}


def min_input(name: str) -> int:
    """The smallest input size a model accepts (0: any); the narrow AlexNets share AlexNet's 63 px."""
    if _ALEXNET.match(name):
        return MIN_INPUT["alexnet"]
    return MIN_INPUT.get(name, 0)


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def names() -> list[str]:
    """Known model names: ``wrn-<depth>-<width>`` (depth 6n+4), ``resnet<18|34|50|101|152>-w<width>[-small]``,
    ``densenet<121|161|169|201>-g<growth>[-small]``, ``alexnet-w<width>`` (narrow torchvision classes),
    registered builders, torchvision's."""
    return ["wrn-<depth>-<width>", "resnet<depth>-w<width>[-small]", "densenet<depth>-g<growth>[-small]", "alexnet-w<width>",
            *sorted(registry.MODELS), *torchvision_names()]


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
    if name not in registry.MODELS and _parse_family(name) is None and name not in torchvision_names():
        raise ValueError(f"unknown model {name!r}; known: {names()}")


def any_channels(name: str) -> bool:
    """Whether ``name`` takes any number of input channels (WRNs, narrow families, registered builders)."""
    if parse_wrn(name) or _parse_family(name) is not None:
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
    family = _parse_family(name)
    if name in registry.MODELS or family is not None:
        if weights:
            raise ValueError(f"{name} has no pretrained weights; train a source model (reprolib.core.transfer)")
        if family is not None:
            return family(num_classes, in_channels)
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

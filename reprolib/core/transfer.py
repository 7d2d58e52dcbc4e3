"""Transfer learning: freezing policies, source models, frozen backbones, and frozen-feature caching.

At profile ``full`` a source model is torchvision's ImageNet-pretrained network.
Offline (``cpu``/``smoke``), where ImageNet weights cannot be fetched, the project
pretrains its own source model on a *source task* — Fashion-MNIST classes disjoint from
the target's — cached like any run, and every chapter that uses one labels it so.

When the backbone is frozen and its inputs are not augmented, its features are a fixed
function of the image: :func:`extract_features` computes them once and the head trains
on them (``python -m reprolib bench`` measures the speed-up; the result is the same,
because the frozen part always runs in eval mode — BN uses running statistics and
dropout is off — whether or not its features are cached).
"""
from __future__ import annotations

import contextlib
import copy
from typing import Iterator, Sequence

import torch
import torch.nn as nn

from . import models


FREEZE_POLICIES = ("none", "all_but_head", "features", "classifier")


def freeze(model: nn.Module, policy: str) -> nn.Module:
    """Set ``requires_grad`` by policy.

    * ``none`` – everything trains (fine-tuning);
    * ``all_but_head`` – only the final classification layer(s) train (feature extraction, report 002 §1.4);
    * ``features`` – the convolutional part is frozen, the whole classifier part trains;
    * ``classifier`` – the classifier part is frozen, the convolutional part trains.
    """
    if policy not in FREEZE_POLICIES:
        raise ValueError(f"unknown freeze policy {policy!r}; choose from {list(FREEZE_POLICIES)}")
    heads = models.head_names(model)
    classifier_prefixes = _classifier_prefixes(model, heads)
    for pname, p in model.named_parameters():
        in_head = any(pname.startswith(h + ".") for h in heads)
        in_classifier = any(pname.startswith(c + ".") for c in classifier_prefixes)
        p.requires_grad_(
            {
                "none": True,
                "all_but_head": in_head,
                "features": in_classifier,
                "classifier": not in_classifier,
            }[policy]
        )
    return model


def _classifier_prefixes(model, heads):
    """The 'classifier part': a model's ``classifier`` block if it has one, else its head."""
    if isinstance(getattr(model, "classifier", None), nn.Module):
        extra = [h for h in heads if not h.startswith("classifier")]
        return ["classifier"] + extra
    return heads


@contextlib.contextmanager
def capture_outputs(model: nn.Module, names: Sequence[str], detach: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named sub-modules during each forward pass inside the ``with`` block.

    ``with capture_outputs(model, ["layer4.2.conv3"]) as maps: model(x)`` leaves ``maps["layer4.2.conv3"]``
    holding that forward's output (overwritten by the next forward).  The hooks belong to this block
    only and are removed on exit, so nothing leaks into other forwards (feature-map regularisers
    such as DELTA, activation-map figures).  ``detach=True`` stores outputs without their graph.
    """
    maps: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            module = model.get_submodule(name)  # AttributeError names a missing layer

            def hook(_module, _inputs, output, name=name):
                maps[name] = output.detach() if detach else output

            handles.append(module.register_forward_hook(hook))
        yield maps
    finally:
        for h in handles:
            h.remove()


class FrozenModule(nn.Module):
    """Wraps a frozen sub-network so that ``model.train()`` leaves it in eval mode."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, x):
        return self.module(x)


def trainable_part(model: nn.Module, policy: str) -> str:
    """The one sub-module that holds every trainable parameter under ``policy``, for the policies
    that train only the top of a network: the head (``all_but_head``), or the whole classifier part
    (``features``: AlexNet's and VGG's three FC layers, the ResNets' ``fc``).  Raises ValueError
    for policies that train a lower part (``none``, ``classifier``)."""
    if policy == "all_but_head":
        heads = models.head_names(model)
        if len(heads) != 1:
            raise ValueError(f"{type(model).__name__} has {len(heads)} heads {heads}; feature caching needs exactly one")
        return heads[0]
    if policy == "features":
        parts = _classifier_prefixes(model, models.head_names(model))
        if len(parts) != 1:
            raise ValueError(f"{type(model).__name__}: its classifier part is {parts}; a frozen backbone needs exactly one")
        return parts[0]
    raise ValueError(f"freeze policy {policy!r} trains a lower part of the network; only 'all_but_head' and 'features' "
                     "leave a frozen backbone under a trainable top")


def split_head(model: nn.Module, policy: str = "all_but_head") -> tuple[nn.Module, nn.Module]:
    """(backbone, top): the backbone is a copy of ``model`` whose trainable top (:func:`trainable_part`)
    is an identity; the top is that sub-module of ``model`` (the head, or the classifier part)."""
    name = trainable_part(model, policy)
    backbone = copy.deepcopy(model)
    head = model.get_submodule(name)
    if isinstance(head, nn.Conv2d):  # SqueezeNet: 1x1 conv → ReLU → global pool
        raise ValueError("SqueezeNet's head is a conv followed by pooling; train it end to end instead of caching")
    parent, _, child = name.rpartition(".")
    setattr(backbone.get_submodule(parent) if parent else backbone, child, nn.Identity())
    return backbone, head


def frozen_backbone_model(model: nn.Module, policy: str = "all_but_head") -> nn.Sequential:
    """``model`` as (frozen backbone, trainable top) — the uncached feature-extraction path."""
    backbone, head = split_head(model, policy)
    return nn.Sequential(FrozenModule(backbone), head)


@torch.no_grad()
def extract_features(backbone: nn.Module, loader, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Run the frozen backbone once over ``loader`` (un-augmented) → (features, labels) on CPU."""
    backbone = backbone.to(device).eval()
    feats, labels = [], []
    for x, y in loader:
        out = backbone(x.to(device))
        feats.append(out.float().flatten(1).cpu())
        labels.append(y.cpu())
    return torch.cat(feats), torch.cat(labels)


#: policies under which everything below a trainable top is frozen (see :func:`trainable_part`)
TOP_ONLY_POLICIES = ("all_but_head", "features")


def can_cache_features(model_name: str, freeze: str, augment) -> bool:
    """Caching is exact only when everything below a trainable top (the head, or with ``features`` the
    classifier part) is frozen and inputs are fixed: the frozen part is then a fixed function of the image."""
    return freeze in TOP_ONLY_POLICIES and not augment and model_name not in ("inception_v3", "squeezenet1_0", "squeezenet1_1")


def source_task_classes(target_classes, num_classes: int = 10) -> tuple[int, ...]:
    """The source task: every class of the dataset that is *not* a target class."""
    target = set(target_classes or ())
    if not target:
        raise ValueError("an offline source model needs the target classes, to pretrain on the others")
    rest = tuple(c for c in range(num_classes) if c not in target)
    if len(rest) < 2:
        raise ValueError(f"target classes {sorted(target)} leave fewer than 2 source classes")
    return rest

"""DELTA's supervised channel attention: which feature-map channels the target task relies on.

After the original ``channel_eval.py`` (github.com/lixingjian/DELTA) and ``train.py``:

1. the source network gets a new head, trained alone on the target task (the warm-up; see
   :mod:`.finetune`);
2. :func:`evaluate_channels` removes one channel of a hooked layer at a time — its filter
   zeroed — and records how much the cross-entropy on a few training batches rises;
3. :func:`channel_weights_from_losses` turns one layer's loss increases into attention weights:
   a z-score with the population standard deviation, then a softmax with temperature 5.

The hooked layers (:func:`hooked_layers`) are, in a bottleneck ResNet, the last 1x1
convolution (``conv3``) of the last block of each stage — for torchvision's ResNet-101
``layer1.2.conv3``, ``layer2.3.conv3``, ``layer3.22.conv3``, ``layer4.2.conv3`` — and their
output is taken *before* ``bn3``, the residual addition and the ReLU.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["hooked_layers", "evaluate_channels", "channel_weights_from_losses", "TEMPERATURE"]

#: the softmax temperature of DELTA's ``train.py`` (``F.softmax(cw / 5)``)
TEMPERATURE = 5.0


def hooked_layers(model: nn.Module) -> list[str]:
    """The last ``conv3`` of each of ``layer1``..``layer4`` of a torchvision bottleneck ResNet."""
    names = []
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        blocks = getattr(model, stage, None)
        if not isinstance(blocks, nn.Sequential) or not len(blocks) or not isinstance(getattr(blocks[-1], "conv3", None), nn.Conv2d):
            raise ValueError(f"{type(model).__name__} is not a bottleneck ResNet (no {stage}[-1].conv3); DELTA hooks the "
                             "last 1x1 conv of each stage of torchvision's ResNet-50/101/152 or a narrow one (resnet50-w8, ...)")
        names.append(f"{stage}.{len(blocks) - 1}.conv3")
    return names


def channel_weights_from_losses(loss_increase: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Attention weights of one layer's channels: softmax(z / T) of the z-scored loss increases (sums to 1).

    The z-score uses the population standard deviation (numpy's ``np.std`` in DELTA's
    ``train.py``); a layer whose channels all matter equally gets uniform weights.
    """
    d = torch.as_tensor(loss_increase, dtype=torch.float64).flatten()
    if d.numel() == 0 or not torch.isfinite(d).all():
        raise ValueError(f"channel_weights_from_losses needs a non-empty vector of finite loss increases, got {d.tolist()[:5]}...")
    if not temperature > 0:
        raise ValueError(f"the softmax temperature must be > 0, got {temperature}")
    std = d.std(unbiased=False)
    z = (d - d.mean()) / std if std > 0 else torch.zeros_like(d)
    return torch.softmax(z / temperature, dim=0).float()


class _ZeroChannels:
    """Forward hook: in replica k of a batch repeated K times, channel ``channels[k]`` of the conv's
    output becomes what it is with that filter zeroed — the bias, or 0 (a conv is linear in its filter)."""

    def __init__(self, channels: Sequence[int], batch: int, bias: torch.Tensor | None):
        self.channels, self.batch, self.bias = list(channels), batch, bias

    def __call__(self, _module, _inputs, out):
        out = out.clone()
        for k, j in enumerate(self.channels):
            rows = slice(k * self.batch, (k + 1) * self.batch)
            out[rows, j] = 0.0 if self.bias is None else self.bias[j]
        return out


@torch.no_grad()
def evaluate_channels(model: nn.Module, layers: Sequence[str], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
                      chunk: int = 8) -> list[torch.Tensor]:
    """Per hooked layer, per channel: the mean rise of ``loss`` over ``batches`` when that channel's filter is zeroed.

    As ``channel_eval.py``'s ``feature_weight``: the model in eval mode, the baseline loss of each
    batch, then each filter of each layer removed in turn, the loss difference averaged over the
    batches.  Instead of zeroing ``weight[j]`` in place, ``chunk`` channels are evaluated in one
    forward of the batch repeated ``chunk`` times, each copy with one channel's output replaced
    by what the zeroed filter gives (its bias, or 0) — the same numbers, fewer and larger
    forwards (BatchNorm in eval mode treats every sample alone).  The model is left unchanged
    (weights, buffers, train/eval mode).
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    layers = list(layers)
    convs = [model.get_submodule(n) for n in layers]
    for name, conv in zip(layers, convs):
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"{name} is a {type(conv).__name__}; channel evaluation removes the filters of a Conv2d")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = [torch.zeros(c.out_channels, dtype=torch.float64) for c in convs]
    n_batches = 0
    try:
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            base = loss(model(x), y).double().cpu()
            b = len(y)
            for total, conv in zip(totals, convs):
                for start in range(0, conv.out_channels, chunk):
                    channels = list(range(start, min(start + chunk, conv.out_channels)))
                    k = len(channels)
                    handle = conv.register_forward_hook(_ZeroChannels(channels, b, conv.bias))
                    try:
                        logits = model(x.repeat(k, *([1] * (x.ndim - 1))))
                    finally:
                        handle.remove()
                    per_copy = torch.stack([loss(logits[i * b:(i + 1) * b], y) for i in range(k)]).double().cpu()
                    total[start:start + k] += per_copy - base
            n_batches += 1
    finally:
        model.train(was_training)
    if n_batches == 0:
        raise ValueError("evaluate_channels: `batches` yielded no batch")
    return [(t / n_batches).float() for t in totals]

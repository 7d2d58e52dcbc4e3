"""The three regularisers of DELTA's ``train.py`` and the loss terms that plug them into the shared trainer.

Written after the original code (github.com/lixingjian/DELTA, ``train.py``: ``reg_att_fea_map``,
``reg_l2sp``, ``reg_classifier``), which fixes what the papers' prose leaves open:

* :func:`delta_regularizer` — DELTA's attention-weighted feature-map distance (Li et al.,
  ICLR 2019, eq. 5 as implemented): per hooked layer, ``0.5 · Σ_batch Σ_channels C · w_c ·
  ‖FM_target − FM_source‖² / (H·W)``.  A **sum over the batch**, so its strength grows with
  the batch size; ``C · w_c`` has mean 1 over a layer's channels.
* :func:`l2sp_regularizer` — L2-SP (Li, Grandvalet & Davoine, ICML 2018): ``0.5 · Σ ‖w − w⁰‖²``
  over every parameter outside the new head (conv weights and BN γ/β; BN running
  statistics are buffers and excluded).
* :func:`classifier_l2` — ``0.5 · (‖W‖² + ‖b‖²)`` of the new head, added with weight β to every
  regulariser except plain fine-tuning.

:func:`delta_loss` and :func:`l2sp_loss` wrap them as the trainer's ``loss_fn`` / ``extra_loss``
(:func:`reprolib.core.train.fit`): the trainer itself knows nothing about DELTA.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.core import models
from reprolib.core.transfer import capture_outputs

__all__ = ["delta_regularizer", "l2sp_regularizer", "classifier_l2", "starting_point", "head_prefixes",
           "delta_loss", "l2sp_loss", "classifier_loss"]


def delta_regularizer(target_maps: Sequence[torch.Tensor], source_maps: Sequence[torch.Tensor],
                      weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ_layers 0.5 · Σ_batch Σ_channels C · w_c · ‖target − source‖² / (H·W), the source maps detached.

    ``target_maps`` / ``source_maps``: one (B, C, H, W) tensor per hooked layer; ``weights``: one
    (C,) vector per layer (softmax attention weights, :func:`~.channels.channel_weights_from_losses`).
    Computed in float32 whatever the maps' precision (a batch sum of squares overflows fp16).
    """
    if not (len(target_maps) == len(source_maps) == len(weights)):
        raise ValueError(f"delta_regularizer needs one source map and one weight vector per target map; got "
                         f"{len(target_maps)} target, {len(source_maps)} source maps and {len(weights)} weight vectors")
    total = None
    for i, (t, s, w) in enumerate(zip(target_maps, source_maps, weights)):
        if t.shape != s.shape or t.ndim != 4:
            raise ValueError(f"layer {i}: target {tuple(t.shape)} and source {tuple(s.shape)} maps must both be (B, C, H, W)")
        b, c, h, w_ = t.shape
        if w.shape != (c,):
            raise ValueError(f"layer {i}: {c} channels but {tuple(w.shape)} weights")
        squared = (t.float() - s.detach().float()).pow(2).sum(dim=(2, 3))  # (B, C): ‖·‖² over positions
        term = 0.5 * (c * w.to(squared) * squared / (h * w_)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("delta_regularizer needs at least one layer")
    return total


def head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Parameter-name prefixes of the new classification head(s), e.g. ``("fc.",)`` for a ResNet."""
    return tuple(h + "." for h in models.head_names(model))


def starting_point(model: nn.Module, heads: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """w⁰ for L2-SP: a detached copy of every parameter outside the head (buffers excluded)."""
    heads = tuple(heads) if heads is not None else head_prefixes(model)
    return {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith(heads)}


def l2sp_regularizer(model: nn.Module, start_state: Mapping[str, torch.Tensor], head_prefixes: Sequence[str]) -> torch.Tensor:
    """0.5 · Σ over the parameters outside the head of ‖w − w⁰‖² (``reg_l2sp`` of DELTA's ``train.py``)."""
    heads = tuple(head_prefixes)
    terms = []
    for name, p in model.named_parameters():
        if name.startswith(heads):
            continue
        if name not in start_state:
            raise KeyError(f"l2sp_regularizer: no starting value for parameter {name!r}; build start_state with starting_point(model)")
        terms.append((p - start_state[name].to(p)).pow(2).sum())
    if not terms:
        raise ValueError("l2sp_regularizer: the model has no parameters outside the head")
    return 0.5 * torch.stack(terms).sum()


def classifier_l2(head: nn.Module) -> torch.Tensor:
    """0.5 · (‖W‖² + ‖b‖²) of the classification head (``reg_classifier`` of DELTA's ``train.py``)."""
    params = list(head.parameters())
    if not params:
        raise ValueError("classifier_l2: the head has no parameters")
    return 0.5 * torch.stack([p.pow(2).sum() for p in params]).sum()


# ---------------------------------------------------------------------------- trainer plug-ins
def classifier_loss(beta: float) -> Callable[[nn.Module], torch.Tensor]:
    """``extra_loss`` adding β · :func:`classifier_l2` of the model's head (L2-SP and DELTA both use it)."""

    def extra(model: nn.Module) -> torch.Tensor:
        return beta * sum(classifier_l2(model.get_submodule(h)) for h in models.head_names(model))

    return extra


def l2sp_loss(start_state: Mapping[str, torch.Tensor], alpha: float, beta: float) -> Callable[[nn.Module], torch.Tensor]:
    """``extra_loss`` of L2-SP: α · Ω_L2-SP + β · Ω_classifier."""
    cls = classifier_loss(beta)

    def extra(model: nn.Module) -> torch.Tensor:
        return alpha * l2sp_regularizer(model, start_state, head_prefixes(model)) + cls(model)

    return extra


def delta_loss(source: nn.Module, layers: Sequence[str], weights: Sequence[torch.Tensor], alpha: float,
               label_smoothing: float = 0.0):
    """``loss_fn(model, x, y) -> (loss, logits)`` of DELTA: cross-entropy + α · Ω_DELTA.

    The target's hooked maps come from the same forward as its logits; the frozen
    ``source`` model (eval mode, no gradients) sees the same batch.  Both are captured per
    forward (:func:`reprolib.core.transfer.capture_outputs`), not through global hook lists.
    Add β · Ω_classifier with ``extra_loss=classifier_loss(beta)``.
    """
    layers = list(layers)
    source.eval()
    for p in source.parameters():
        p.requires_grad_(False)

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        with capture_outputs(model, layers) as target_maps:
            logits = model(x)
        with torch.no_grad(), capture_outputs(source, layers, detach=True) as source_maps:
            source(x)
        reg = delta_regularizer([target_maps[n] for n in layers], [source_maps[n] for n in layers], weights)
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing) + alpha * reg, logits

    return loss_fn

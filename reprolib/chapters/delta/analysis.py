"""What fine-tuning did to the network: parameter distances from the start, and feature-map changes per channel.

* :func:`channel_distances` — the paper's Figure 3 (seed report 000 §3): the Euclidean distance
  between the flattened source and target weights of every output channel of every convolution,
  grouped by stage (``layer1``..``layer4`` = conv2_x..conv5_x).  The original repository has no
  code for this figure; this is the definition the report's caption gives.
* :func:`stage_distances` — one number per stage and run: the distance of all its parameters
  (convolutions and BN γ/β), ``sqrt(Σ ‖w − w⁰‖²)`` — what L2-SP penalises, stage by stage.
* :func:`map_changes` — per hooked channel, how far the fine-tuned network's feature map moved
  from the source's on the same images, relative to the source's: ``Σ‖t_c − s_c‖² / Σ‖s_c‖²``.
  DELTA's regulariser weighs exactly these distances by the channel weights.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from reprolib.core.transfer import capture_outputs

STAGES = ("layer1", "layer2", "layer3", "layer4")
#: the paper's names of the stages of a ResNet
STAGE_NAMES = {"layer1": "conv2_x", "layer2": "conv3_x", "layer3": "conv4_x", "layer4": "conv5_x"}

__all__ = ["STAGES", "STAGE_NAMES", "channel_distances", "stage_distances", "map_changes", "feature_maps"]


def _in_stage(name: str, stage: str) -> bool:
    return name == stage or name.startswith(stage + ".")


def channel_distances(state: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor],
                      stages: Sequence[str] = STAGES) -> dict[str, np.ndarray]:
    """Per stage: ‖w_j − w⁰_j‖₂ of every output channel j of every conv weight (4-D tensor) in it."""
    out = {}
    for stage in stages:
        parts = [(state[k].float() - start[k].float()).flatten(1).norm(dim=1)
                 for k in start if _in_stage(k, stage) and k.endswith("weight") and start[k].ndim == 4]
        if not parts:
            raise KeyError(f"no convolution weights under {stage!r}")
        out[stage] = torch.cat(parts).numpy()
    return out


def stage_distances(state: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor],
                    stages: Sequence[str] = STAGES) -> dict[str, float]:
    """Per stage: sqrt(Σ ‖w − w⁰‖²) over all its parameters in ``start`` (the L2-SP distance, by stage)."""
    return {stage: float(torch.sqrt(sum(((state[k].float() - start[k].float()) ** 2).sum() for k in start if _in_stage(k, stage))))
            for stage in stages}


@torch.no_grad()
def feature_maps(model: nn.Module, layers: Sequence[str], images: torch.Tensor, batch_size: int = 256) -> list[torch.Tensor]:
    """The hooked layers' outputs for ``images`` (eval mode), one (N, C, H, W) tensor per layer."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    parts: list[list[torch.Tensor]] = [[] for _ in layers]
    try:
        for i in range(0, len(images), batch_size):
            with capture_outputs(model, layers, detach=True) as maps:
                model(images[i:i + batch_size].to(device))
            for j, name in enumerate(layers):
                parts[j].append(maps[name].float().cpu())
    finally:
        model.train(was)
    return [torch.cat(p) for p in parts]


#: a source channel with less than this fraction of its layer's mean map energy counts as silent
SILENT = 1e-6


def map_changes(model: nn.Module, source: nn.Module, layers: Sequence[str], images: torch.Tensor) -> list[np.ndarray]:
    """Per layer, per channel: Σ_images ‖t_c − s_c‖² / Σ_images ‖s_c‖² (0 = the source's map, unchanged).

    A channel that is silent in the source (energy below ``SILENT`` × its layer's mean channel energy) has no
    relative change: NaN, which every mean and test here leaves out.
    """
    target_maps, source_maps = feature_maps(model, layers, images), feature_maps(source, layers, images)
    out = []
    for t, s in zip(target_maps, source_maps):
        num = (t - s).pow(2).sum(dim=(0, 2, 3)).double()
        den = s.pow(2).sum(dim=(0, 2, 3)).double()
        silent = den <= SILENT * den.mean().clamp_min(torch.finfo(torch.float64).tiny)
        out.append(torch.where(silent, torch.nan, num / den.clamp_min(torch.finfo(torch.float64).tiny)).numpy())
    return out


"""Test-time views of an image batch: the centre crop, and ten crops with their logits averaged.

ImageNet-style evaluation (Krizhevsky et al. 2012; DELTA's ``train.py`` in its "improved"
mode, Li et al., ICLR 2019) resizes a test image a little larger than the network's input,
takes the four corner crops and the centre crop plus their mirror images
(torchvision's ``TenCrop``), runs all ten through the network and averages the ten
**logits** — not the probabilities — before the arg-max and the cross-entropy.
:class:`TenCrop` wraps a model so that :func:`reprolib.core.train.evaluate` does exactly
that on in-memory batches: no PIL round trip, one forward of ``10·B`` images.
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["ten_crop", "TenCrop", "center_crop"]

#: how many views :func:`ten_crop` makes per image
N_CROPS = 10


def ten_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The ten views of every image in ``images`` (B, C, H, W) as one (B·10, C, size, size) batch.

    The order is image-major (the ten crops of image 0, then of image 1, …) and, within an
    image, torchvision's: four corners and centre, then the same five of the mirrored image.
    """
    import torchvision.transforms.v2.functional as TF

    if images.ndim != 4:
        raise ValueError(f"ten_crop expects a batch (B, C, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if not 0 < size <= min(h, w):
        raise ValueError(f"ten_crop: crop size {size} must be in [1, {min(h, w)}] for {h}x{w} images")
    crops = torch.stack(TF.ten_crop(images, [size, size]), dim=1)  # (B, 10, C, size, size)
    return crops.flatten(0, 1)


class TenCrop(nn.Module):
    """``model`` evaluated on ten crops of each input image, its logits averaged over the crops.

    ``TenCrop(model, 224)(x)`` with ``x`` of shape (B, C, 256, 256) returns (B, classes).
    The wrapper holds no parameters of its own, so ``evaluate(TenCrop(model, s), loader)``
    measures ``model`` itself.
    """

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model, self.size = model, int(size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.model(ten_crop(images, self.size))
        logits = out.logits if hasattr(out, "logits") else out
        return logits.view(images.shape[0], N_CROPS, -1).mean(1)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` crop of every image (torchvision's ``CenterCrop``)."""
    import torchvision.transforms.v2.functional as TF

    return TF.center_crop(images, [size, size])

"""The fast input pipeline: in-memory tensors, batches by indexing, batch-wise augmentation.

Per-sample PIL transforms in DataLoader workers are the usual bottleneck of small-image
training on a CPU (and a GPU-starver elsewhere).  Here a whole split lives as one
``uint8`` tensor on the training device; an epoch is a ``randperm``; a batch is one
index operation, one normalisation and one vectorised augmentation.  See
``python -m reprolib bench`` for the measured effect (airbench's loader does the same).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable, Iterator, Sequence

import torch

from . import distributed, registry
from .data import ImageData, normalize

BatchTransform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


# ---------------------------------------------------------------------------- augmentations
def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None, mode: str = "constant") -> torch.Tensor:
    """Pad every image by ``padding`` and crop back at an independent random offset per image."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4, mode=mode)
    dev = x.device
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=_gen_device(generator, dev)).to(dev)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=_gen_device(generator, dev)).to(dev)
    rows = (oy[:, None] + torch.arange(h, device=dev))[:, :, None]  # (n, h, 1)
    cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=dev)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous(memory_format=_fmt(x))


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``, independently per image."""
    flip = torch.rand(x.shape[0], generator=generator, device=_gen_device(generator, x.device)).to(x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _gen_device(generator, fallback):
    return generator.device if generator is not None else fallback


def _fmt(x):
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else torch.contiguous_format


class V2PerSample:
    """Run any ``torchvision.transforms.v2`` transform batch-wise, with fresh randomness per image.

    v2 transforms applied to a batch tensor draw *one* set of random parameters for
    the whole batch.  This wrapper applies the transform to ``groups`` slices of the
    batch (default: every image on its own) on the device, with no PIL round trip.
    torchvision draws its parameters from torch's global RNG, which
    :func:`reprolib.train.seed_everything` seeds.
    """

    def __init__(self, transform, groups: int | None = None):
        self.transform = transform
        self.groups = groups

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        groups = self.groups or x.shape[0]
        return torch.cat([self.transform(chunk) for chunk in x.tensor_split(groups)])


def in_pixel_space(transform: BatchTransform, mean, std) -> BatchTransform:
    """Run a pixel-space transform (images in [0, 1], e.g. colour jitter) on *normalised* batches.

    :class:`TensorLoader` augments batches after normalisation; colour transforms expect
    [0, 1] images, so this un-normalises, clamps to [0, 1] (float error only), applies
    ``transform`` and normalises again with the same statistics.
    """
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mm, ss = m.to(x.device, x.dtype), s.to(x.device, x.dtype)
        pixels = (x * ss + mm).clamp_(0.0, 1.0)
        return (transform(pixels, generator) - mm) / ss

    return apply


@registry.augmentation("crop")
def _crop(padding: int = 4) -> BatchTransform:
    return lambda x, generator=None: random_crop(x, padding, generator)


@registry.augmentation("flip")
def _flip(padding: int = 4) -> BatchTransform:
    return lambda x, generator=None: random_hflip(x, generator)


def build_augment(names: Sequence[str], padding: int = 4, mean=None, std=None) -> BatchTransform | None:
    """Named batch augmentations applied in order (:data:`reprolib.core.registry.AUGMENTATIONS`):
    ``"crop"`` (pad + random crop), ``"flip"`` (horizontal), and any a chapter registers.

    A factory that takes ``mean`` and ``std`` keywords gets the data's normalisation statistics
    (a pixel-space transform needs them to undo the normalisation, see :func:`in_pixel_space`).
    """
    unknown = [n for n in names if n not in registry.AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; known: {sorted(registry.AUGMENTATIONS)}")
    if not names:
        return None
    # crop before flip whatever the order given (the order of the seed reports' pipelines)
    ordered = sorted(names, key=lambda n: {"crop": 0, "flip": 1}.get(n, 2))
    steps = [_make_step(registry.AUGMENTATIONS[n], padding, mean, std) for n in ordered]

    def augment(x, generator=None):
        for step in steps:
            x = step(x, generator)
        return x

    return augment


def _make_step(factory, padding, mean, std) -> BatchTransform:
    params = inspect.signature(factory).parameters
    if "mean" in params and "std" in params:
        if mean is None or std is None:
            raise ValueError(f"augmentation {factory.__name__} works in pixel space and needs the data's mean and std")
        return factory(padding, mean=mean, std=std)
    return factory(padding)


# ---------------------------------------------------------------------------- loader
class TensorLoader:
    """Shuffled, normalised (and augmented) batches from an :class:`ImageData` held on ``device``.

    Iterating yields ``(images_float, labels)``.  Augmentation runs on the normalised
    float batch (so padding is zero in normalised space = the dataset mean, which
    matches torchvision's RandomCrop on normalised tensors).  ``seed`` makes the batch
    order and the augmentation draws repeat exactly; ``state_dict`` lets a resumed run
    continue the same random stream.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        augment: BatchTransform | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        channels_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.mean = torch.tensor(data.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(data.std, device=self.device).view(1, -1, 1, 1)
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=gen_device).manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = (
            torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
            if self.shuffle
            else torch.arange(n, device=self.device)
        )
        world = distributed.world_size()
        for i in range(len(self)):
            batch = order[i * self.batch_size : (i + 1) * self.batch_size]
            if world > 1:  # under torchrun: this rank's slice of the same global batch (see core.distributed)
                if self.shuffle and len(batch) < world:
                    continue  # a last training batch too small to give every rank a sample
                batch = distributed.shard(batch)
            yield self._make_batch(batch)

    def _make_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx].float().div_(255.0).sub_(self.mean).div_(self.std)
        if self.augment is not None:
            x = self.augment(x, self.generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels[idx]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class FeatureLoader(TensorLoader):
    """Batches of precomputed float features (a frozen backbone's outputs): no normalisation, no augmentation."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle=True, device="cpu", seed=0):
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, False
        self.device = torch.device(device)
        self.images = features.to(self.device)
        self.labels = labels.to(self.device)
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=gen_device).manual_seed(seed)

    def _make_batch(self, idx):
        return self.images[idx], self.labels[idx]


def evaluation_batches(data: ImageData, batch_size: int = 512, device="cpu"):
    """Deterministic, un-augmented batches for evaluation."""
    return TensorLoader(data, batch_size, shuffle=False, device=device)


__all__ = ["TensorLoader", "FeatureLoader", "V2PerSample", "random_crop", "random_hflip", "build_augment", "in_pixel_space",
           "normalize", "evaluation_batches"]

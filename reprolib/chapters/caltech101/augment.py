"""The report's three augmentation pipelines (section 4), batch-wise on tensors with torchvision transforms v2.

* **CS-HF** — jitter contrast and saturation, then flip horizontally;
* **H-RP** — jitter hue, then a random perspective transform;
* **B-GS-R** — jitter brightness, take the grayscale image, then rotate at random.

Each pipeline is applied at training time to an image with probability ``p = 0.5``, so about
half of every batch is augmented and the rest is left as it is (report section 4).  The
report names the operations but not their strengths; ours are in :data:`settings.PIPELINES`.

:func:`augmentation_pipeline` maps a float batch ``[B, 3, H, W]`` in [0, 1] to one of the same
shape.  Which images are augmented and every random parameter follow from the ``generator``
passed in (the training loader's), never from torch's global generator, which is left as it
was: a batch augments the same way whenever the loader's stream is at the same state.
The pipelines are registered as named batch augmentations, so ``TrainConfig(augment=("cs-hf",))``
uses them; the training loader normalises before it augments, so the registered versions
un-normalise, augment and normalise again (:func:`reprolib.core.loader.in_pixel_space`).
"""
from __future__ import annotations

import torch

from reprolib.core import registry
from reprolib.core.loader import V2PerSample, in_pixel_space

from .settings import PIPELINES

__all__ = ["augmentation_pipeline", "pipeline_transform", "AugmentationPipeline", "PIPELINES"]


def pipeline_transform(name: str):
    """The torchvision v2 transform of one pipeline, applied to every image it is given (no probability)."""
    import torchvision.transforms.v2 as T

    if name not in PIPELINES:
        raise ValueError(f"unknown augmentation pipeline {name!r}; choose from {list(PIPELINES)}")
    s = PIPELINES[name]
    if name == "cs-hf":
        steps = [T.ColorJitter(contrast=s["contrast"], saturation=s["saturation"]), T.RandomHorizontalFlip(p=1.0)]
    elif name == "h-rp":
        steps = [T.ColorJitter(hue=s["hue"]), T.RandomPerspective(distortion_scale=s["perspective"], p=1.0)]
    else:  # b-gs-r
        steps = [T.ColorJitter(brightness=s["brightness"]), T.Grayscale(num_output_channels=3),
                 T.RandomRotation(degrees=s["rotation"])]
    return T.Compose(steps)


class AugmentationPipeline:
    """One of the report's pipelines applied to each image of a batch with probability ``p``, seeded by ``generator``."""

    def __init__(self, name: str, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.name, self.p = name, p
        self.per_image = V2PerSample(pipeline_transform(name))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(f"{self.name}: expected a float batch [B, 3, H, W] in [0, 1], got {x.dtype} {tuple(x.shape)}")
        gen_device = generator.device if generator is not None else torch.device("cpu")
        chosen = (torch.rand(len(x), generator=generator, device=gen_device) < self.p).to(x.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gen_device))
        index = chosen.nonzero().flatten()
        if len(index) == 0:
            return x
        out = x.clone()
        threads = torch.get_num_threads()
        try:
            # one image is far below the size where intra-op threads pay off; on a busy machine their
            # synchronisation made these per-image calls 30x slower (4 vs 146 ms per image, measured)
            torch.set_num_threads(1)
            with torch.random.fork_rng(devices=[]):  # torchvision draws its parameters from torch's CPU generator
                torch.manual_seed(seed)
                out[index] = self.per_image(x[index])
        finally:
            torch.set_num_threads(threads)
        return out

    def __repr__(self) -> str:
        return f"AugmentationPipeline({self.name!r}, p={self.p})"


def augmentation_pipeline(name: str, p: float = 0.5) -> AugmentationPipeline:
    """``name`` in ``cs-hf``, ``h-rp``, ``b-gs-r``: a callable ``(batch [B, 3, H, W] in [0, 1], generator=None) -> batch``."""
    return AugmentationPipeline(name, p)


def _register(name: str) -> None:
    def factory(padding: int = 4, *, mean, std):
        return in_pixel_space(augmentation_pipeline(name, 0.5), mean, std)

    factory.__name__ = f"pipeline_{name.replace('-', '_')}"
    registry.augmentation(name)(factory)


for _name in PIPELINES:
    _register(_name)

"""The report's augmentation pipelines (section 4): shapes, about half of each batch, seeding, colour, normalisation."""
import pytest
import torch

from reprolib.chapters.caltech101.augment import augmentation_pipeline, pipeline_transform
from reprolib.chapters.caltech101.settings import PIPELINES
from reprolib.core import data
from reprolib.core.loader import TensorLoader, build_augment

NAMES = list(PIPELINES)


def colour_batch(n=64, size=32, seed=0):
    """Smooth random colour images in [0, 1] (per-image colour gradients plus a bright square)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    a, b, c = (torch.rand(n, 3, 1, 1, generator=g) for _ in range(3))
    x = 0.2 + 0.6 * (a * xx + b * yy + c) / 3
    x[:, :, 4:12, 6:14] = torch.rand(n, 3, 1, 1, generator=g)
    return x.clamp(0, 1)


def changed(x, y):
    return (x - y).abs().flatten(1).amax(1) > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_keeps_shape_and_changes_about_half_of_a_batch(name):
    x = colour_batch(200, 16)
    y = augmentation_pipeline(name)(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 0.0 <= y.min() and y.max() <= 1.0
    frac = changed(x, y).float().mean().item()
    assert 0.38 < frac < 0.62, frac  # p = 0.5 per image: 100 ± 7 (sd) of 200
    assert changed(x, augmentation_pipeline(name, p=1.0)(x, torch.Generator().manual_seed(1))).all()
    assert not changed(x, augmentation_pipeline(name, p=0.0)(x, torch.Generator().manual_seed(1))).any()


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_is_seeded_by_its_generator_and_leaves_the_global_rng_alone(name):
    x = colour_batch(32, 16)
    before = torch.get_rng_state()
    a = augmentation_pipeline(name)(x, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(123)  # a different global state must not matter
    b = augmentation_pipeline(name)(x, torch.Generator().manual_seed(5))
    c = augmentation_pipeline(name)(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_each_image_gets_its_own_random_parameters(name):
    x = colour_batch(1, 16).repeat(24, 1, 1, 1)  # 24 copies of one image
    y = augmentation_pipeline(name, p=1.0)(x, torch.Generator().manual_seed(0))
    assert len({round(v, 4) for v in y.flatten(1).sum(1).tolist()}) > 20


def test_colour_jitter_needs_colour_images():
    """Why the stand-in is in colour: on a grey image saturation and hue jitter change nothing."""
    import torchvision.transforms.v2 as T

    grey = colour_batch(8).mean(1, keepdim=True).repeat(1, 3, 1, 1)
    colour = colour_batch(8)
    for jitter in (T.ColorJitter(saturation=PIPELINES["cs-hf"]["saturation"]), T.ColorJitter(hue=PIPELINES["h-rp"]["hue"])):
        torch.manual_seed(0)
        assert torch.allclose(torch.stack([jitter(img) for img in grey]), grey, atol=1e-3)  # float rounding only
        torch.manual_seed(0)
        moved = (torch.stack([jitter(img) for img in colour]) - colour).abs().flatten(1).amax(1)
        assert (moved > 1e-2).float().mean() >= 0.75  # a random factor can land near 1 (no change) for an image


def test_pipelines_do_what_their_names_say():
    x = colour_batch(8)
    torch.manual_seed(0)
    gs = torch.stack([pipeline_transform("b-gs-r")(img) for img in x])
    assert torch.allclose(gs[:, 0], gs[:, 1], atol=1e-6) and torch.allclose(gs[:, 1], gs[:, 2], atol=1e-6)  # grayscale
    half = x.clone()
    half[:, :, :, 16:] = x[:, :, :, :16].flip(3)  # left-right symmetric images: the flip is invisible
    cs_hf = pipeline_transform("cs-hf")
    for i, img in enumerate(half):  # the same draws for the jitter: the rest of CS-HF is the flip alone
        torch.manual_seed(i)
        whole = cs_hf(img)
        torch.manual_seed(i)
        assert torch.allclose(whole, cs_hf.transforms[0](img), atol=1e-6)
        torch.manual_seed(i)
        whole = cs_hf(x[i])
        torch.manual_seed(i)
        assert torch.allclose(whole, cs_hf.transforms[0](x[i]).flip(2), atol=1e-6)
    with pytest.raises(ValueError, match="unknown augmentation pipeline 'rotate'"):
        augmentation_pipeline("rotate")
    with pytest.raises(ValueError, match=r"expected a float batch \[B, 3, H, W\]"):
        augmentation_pipeline("h-rp")(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("name", NAMES)
def test_registered_pipeline_undoes_the_loaders_normalisation(name):
    """The training loader normalises before it augments: untouched images come back exactly, augmented ones
    stay valid images, labels are unchanged."""
    images = (colour_batch(64, 16) * 255).round().to(torch.uint8)
    d = data.ImageData(images, torch.arange(64) % 4, tuple("abcd"), (0.45, 0.4, 0.35), (0.25, 0.2, 0.22))
    augment = build_augment((name,), mean=d.mean, std=d.std)
    plain = TensorLoader(d, 64, shuffle=False)
    loader = TensorLoader(d, 64, shuffle=False, augment=augment, seed=3)
    (x0, y0), (x1, y1) = next(iter(plain)), next(iter(loader))
    assert torch.equal(y0, y1)
    mean, std = torch.tensor(d.mean).view(1, 3, 1, 1), torch.tensor(d.std).view(1, 3, 1, 1)
    pix0, pix1 = x0 * std + mean, x1 * std + mean
    same = ~changed(pix0, pix1)
    assert 10 < same.sum() < 54
    assert torch.allclose(pix1[same], pix0[same], atol=1e-5)
    assert pix1.min() > -1e-5 and pix1.max() < 1 + 1e-5
    with pytest.raises(ValueError, match="needs the data's mean and std"):
        build_augment((name,))

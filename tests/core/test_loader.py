import pytest
import torch

from reprolib.core import data
from reprolib.core.loader import TensorLoader, V2PerSample, build_augment, random_crop, random_hflip


def test_batches_cover_the_data_once_normalised():
    d = data.load("synthetic", n=100, num_classes=4, size=8)
    loader = TensorLoader(d, batch_size=32, seed=0)
    assert len(loader) == 4
    xs, ys = zip(*loader)
    assert [len(y) for y in ys] == [32, 32, 32, 4]
    assert sorted(torch.cat(ys).tolist()) == sorted(d.labels.tolist())
    x = torch.cat(xs)
    assert abs(x.mean().item()) < 0.1 and abs(x.std().item() - 1) < 0.1


def test_same_seed_same_batches_and_state_resumes_stream():
    d = data.load("synthetic", n=64, num_classes=4, size=8)
    aug = build_augment(("crop", "flip"))
    a = TensorLoader(d, 16, augment=aug, seed=5)
    b = TensorLoader(d, 16, augment=aug, seed=5)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    state = a.state_dict()
    first = [x for x, _ in a]
    a.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(first, [x for x, _ in a]))


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float).view(2, 1, 5, 5)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r : r + 5, c : c + 5] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    # offsets differ between images across many draws
    big = random_crop(torch.randn(64, 1, 6, 6), 2, g)
    assert big.shape == (64, 1, 6, 6)


def test_flip_mirrors_about_half_the_images():
    x = torch.randn(400, 1, 4, 4)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [(torch.equal(o, xi.flip(2)) and not torch.equal(o, xi)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_v2_transforms_run_batch_wise_with_per_image_randomness():
    import torchvision.transforms.v2 as T

    torch.manual_seed(0)
    x = torch.rand(16, 1, 10, 10)
    out = V2PerSample(T.RandomRotation(45))(x)
    assert out.shape == x.shape
    diffs = {round((o - xi).abs().sum().item(), 3) for o, xi in zip(out, x)}
    assert len(diffs) > 8


def test_unknown_augmentation_is_rejected():
    with pytest.raises(ValueError, match=r"unknown augmentation\(s\) \['rotate'\]"):
        build_augment(("rotate",))


def test_augmentations_are_looked_up_by_name_and_a_chapter_can_add_one():
    from reprolib.core import registry

    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ValueError, match=r"unknown augmentation\(s\) \['rotate'\]"):
        build_augment(("rotate",))
    registry.AUGMENTATIONS["negate-test"] = lambda padding: (lambda x, generator=None: -x)
    try:
        assert torch.equal(build_augment(("negate-test",))(x), -x)
    finally:
        del registry.AUGMENTATIONS["negate-test"]


def test_in_pixel_space_undoes_and_redoes_the_normalisation():
    from reprolib.core.loader import in_pixel_space

    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pixels = torch.rand(4, 3, 5, 5)
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    seen = {}

    def invert(p, generator=None):
        seen["p"] = p.clone()
        return 1 - p

    out = in_pixel_space(invert, mean, std)(x)
    assert torch.allclose(seen["p"], pixels, atol=1e-6)  # the transform saw [0, 1] images
    assert torch.allclose(out * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1), 1 - pixels, atol=1e-6)


def test_build_augment_hands_the_statistics_to_factories_that_ask():
    from reprolib.core import registry

    got = {}

    def needs_stats(padding=4, *, mean, std):
        got.update(mean=mean, std=std)
        return lambda x, generator=None: x

    registry.AUGMENTATIONS["_needs_stats"] = needs_stats
    try:
        build_augment(("_needs_stats", "flip"), mean=(0.1,), std=(0.2,))
        assert got == {"mean": (0.1,), "std": (0.2,)}
        with pytest.raises(ValueError, match="needs the data's mean and std"):
            build_augment(("_needs_stats",))
    finally:
        del registry.AUGMENTATIONS["_needs_stats"]

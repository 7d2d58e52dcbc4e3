import numpy as np
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


def test_class_balanced_sampler_balances_a_long_tail():
    """Oversampling: every class is drawn about equally often, whatever its size (Kang et al.'s ClassAwareSampler)."""
    counts = data.long_tail_counts(200, 5, 50)  # [200, 74, 28, 10, 4]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    d = data.ImageData(torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8), labels, tuple("abcde"), (0.5,), (0.5,))
    loader = TensorLoader(d, 50, sampler="class_balanced", seed=0)
    assert len(loader) == len(labels) // 50 + (len(labels) % 50 > 0)  # an epoch = as many draws as images
    drawn = torch.cat([y for _ in range(20) for _, y in loader])
    freq = torch.bincount(drawn, minlength=5).float() / len(drawn)
    assert (freq - 0.2).abs().max() < 0.02, freq  # uniform within 2 points (natural: 0.63 ... 0.013)
    # rare classes repeat within an epoch; the head class is undersampled but every image still appears over epochs
    assert len(set(torch.cat([y for _, y in loader]).tolist())) == 5
    seen_tail = {int(i) for i in loader._order() if labels[i] == 4}
    assert seen_tail == set(torch.nonzero(labels == 4).flatten().tolist())


def test_class_balanced_order_takes_runs_of_four_from_each_visited_class():
    from reprolib.core.loader import class_balanced_order

    labels = np.repeat(np.arange(3), [30, 6, 2])
    order = class_balanced_order(labels, 48, seed=1)
    runs = labels[order].reshape(-1, 4)
    assert (runs == runs[:, :1]).all()  # num_samples_cls = 4 consecutive draws of one class
    for cycle in runs[:, 0].reshape(-1, 3):  # the classes are visited in reshuffled cycles
        assert sorted(cycle) == [0, 1, 2]
    again = class_balanced_order(labels, 48, seed=1)
    assert np.array_equal(order, again) and not np.array_equal(order, class_balanced_order(labels, 48, seed=2))
    with pytest.raises(ValueError, match="unknown sampler"):
        TensorLoader(data.synthetic(20, 2, 4), 4, sampler="weighted")


def test_class_balanced_loader_resumes_its_stream_and_epoch_size_sets_the_draws():
    d = data.load("synthetic", n=60, num_classes=3, size=4)
    a = TensorLoader(d, 8, sampler="class_balanced", epoch_size=40, seed=3)
    assert len(a) == 5 and sum(len(y) for _, y in a) == 40
    state = a.state_dict()
    first = [y for _, y in a]
    a.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(first, [y for _, y in a]))
    r = TensorLoader(d, 16, epoch_size=100, seed=0)  # random sampler: more draws than images repeat permutations
    ys = torch.cat([y for _, y in r])
    assert len(ys) == 100 and torch.bincount(ys, minlength=3).min() >= 30


def test_vertical_flip_and_rot90_are_exact_per_image():
    from reprolib.core.loader import random_rot90, random_vflip

    x = torch.randn(300, 1, 3, 3)
    out = random_vflip(x, torch.Generator().manual_seed(0))
    flipped = sum(torch.equal(o, xi.flip(1)) for o, xi in zip(out, x))
    assert all(torch.equal(o, xi) or torch.equal(o, xi.flip(1)) for o, xi in zip(out, x)) and 100 < flipped < 200
    rot = random_rot90(x, torch.Generator().manual_seed(0))
    turns = [next(k for k in range(4) if torch.equal(r, torch.rot90(xi, k, dims=(1, 2)))) for r, xi in zip(rot, x)]
    assert set(turns) == {0, 1, 2, 3}
    assert build_augment(("affine", "vflip", "rot90"))(x.clone(), torch.Generator()).shape == x.shape


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

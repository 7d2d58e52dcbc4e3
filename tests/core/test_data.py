import numpy as np
import pytest
import torch

from reprolib.core import data


def test_fashion_mnist_is_the_real_dataset():
    train, test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert (train.counts() == 6000).all() and (test.counts() == 1000).all()
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    # the published per-pixel statistics of Fashion-MNIST's training set
    mean, std = data.channel_stats(train.images[:20000])
    assert abs(mean[0] - 0.2860) < 0.005 and abs(std[0] - 0.3530) < 0.005


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown dataset 'imagenet'.*fashion_mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split must be"):
        data.load("digits", "validation")


def test_missing_dataset_names_paths_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("cifar10")
    msg = str(err.value)
    assert "cifar10" in msg and str(tmp_path / "nowhere") in msg and "/usr/share/datasets" in msg
    assert "How to obtain it" in msg and "REPROLIB_DOWNLOAD=0" in msg


def test_availability_lists_every_dataset():
    rows = {r["dataset"]: r for r in data.availability()}
    assert set(rows) == set(data.names())
    assert rows["fashion_mnist"]["available"] and rows["digits"]["available"]
    assert {"mnist", "cifar10", "cifar100", "svhn", "eurosat", "caltech101", "stanford_dogs"} <= set(rows)


def test_digits_and_synthetic():
    d = data.load("digits")
    assert d.images.dtype == torch.uint8 and d.size == (8, 8) and d.num_classes == 10
    s = data.load("synthetic", n=60, num_classes=3, size=20, channels=3, seed=1)
    assert s.images.shape == (60, 3, 20, 20) and (s.counts() == 20).all()
    again = data.load("synthetic", n=60, num_classes=3, size=20, channels=3, seed=1)
    assert torch.equal(s.images, again.images)


def test_stratified_split_keeps_proportions_and_is_disjoint():
    d = data.load("digits")
    tr, va = data.stratified_split(d, 0.25, seed=3)
    assert len(tr) + len(va) == len(d)
    assert np.allclose(va.counts() / len(va), d.counts() / len(d), atol=0.01)


def test_select_classes_remaps_in_given_order_and_accepts_names():
    d = data.load("synthetic", n=100, num_classes=5)
    sub = data.select_classes(d, [3, "class 1"])
    assert sub.classes == ("class 3", "class 1") and len(sub) == 40
    assert set(sub.labels.tolist()) == {0, 1}
    assert torch.equal(sub.images[sub.labels == 0], d.images[d.labels == 3])
    with pytest.raises(ValueError, match="unknown class 'dog'"):
        data.select_classes(d, ["dog"])


def test_few_shot_subsample_and_long_tail_counts():
    d = data.load("synthetic", n=1000, num_classes=10)
    assert (data.few_shot(d, 7, seed=0).counts() == 7).all()
    assert not torch.equal(data.few_shot(d, 7, seed=0).images, data.few_shot(d, 7, seed=1).images)
    assert (data.subsample(d, 300).counts() == 30).all()
    # Cao et al.'s CIFAR-10-LT with imbalance factor 100 has 12,406 images
    counts = data.long_tail_counts(5000, 10, 100)
    assert counts[0] == 5000 and counts[-1] == 50 and sum(counts) == 12406
    lt = data.long_tail(d, imbalance_factor=10, n_max=100)
    assert list(lt.counts()) == data.long_tail_counts(100, 10, 10)
    with pytest.raises(ValueError, match="has 100 images, 101 requested"):
        data.few_shot(d, 101)
    with pytest.raises(ValueError, match="imbalance_factor"):
        data.long_tail_counts(10, 10, 0.5)


def test_to_model_input_resizes_and_converts_channels():
    d = data.load("synthetic", n=20, num_classes=2, size=28, channels=1)
    rgb = data.to_model_input(d, size=32, channels=3)
    assert rgb.images.shape == (20, 3, 32, 32) and len(rgb.mean) == 3
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    grey = data.to_model_input(rgb, channels=1)
    assert grey.images.shape == (20, 1, 32, 32)
    assert (grey.images.int() - rgb.images[:, :1].int()).abs().max() <= 1


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    tr = data.load_image_folder(tmp_path, split="train", image_size=16)
    te = data.load_image_folder(tmp_path, split="test", image_size=16)
    assert tr.images.shape[1:] == (3, 16, 16) and len(tr) + len(te) == 20 and tr.classes == ("cat", "dog")

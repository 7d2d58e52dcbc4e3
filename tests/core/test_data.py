import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reprolib.core import data
from reprolib.core.io import sha256_file


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


def test_glyphs_is_a_colour_set_with_held_out_fonts():
    train, test = data.load("glyphs", "train"), data.load("glyphs", "test")
    assert train.images.shape == (62 * 200, 3, 64, 64) and test.images.shape == (62 * 30, 3, 64, 64)
    assert (train.counts() == 200).all() and (test.counts() == 30).all()
    assert train.classes[:3] == ("0", "1", "2") and train.classes[10] == "A" and train.classes[36] == "a"
    assert not set(data.GLYPH_TRAIN_FONTS) & set(data.GLYPH_TEST_FONTS)
    x = train.images[:2000].float() / 255
    sat = x.amax(1) - x.amin(1)
    assert sat.mean() > 0.1  # colour: channels differ (a grey set would give 0)
    mean, std = data.channel_stats(train.images[::7])
    assert np.allclose(mean, data.GLYPH_MEAN, atol=0.01) and np.allclose(std, data.GLYPH_STD, atol=0.01)
    assert data.available("glyphs") and data.info("glyphs").embedded


def test_render_glyph_is_seeded_and_draws_the_character():
    bgs = data.glyph_backgrounds()
    assert len(bgs) == len(data.GLYPH_BACKGROUNDS) and all(b.ndim == 3 and b.shape[2] == 3 for b in bgs)
    a = data.render_glyph("A", data.GLYPH_TRAIN_FONTS[0], np.random.default_rng(3), 64, bgs)
    b = data.render_glyph("A", data.GLYPH_TRAIN_FONTS[0], np.random.default_rng(3), 64, bgs)
    c = data.render_glyph("B", data.GLYPH_TRAIN_FONTS[0], np.random.default_rng(3), 64, bgs)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and not np.array_equal(a, c)
    # the glyph stands out from the background: its pixels differ from the same render's background elsewhere
    assert np.abs(a.astype(int) - c.astype(int)).max() > 100


def _fake_caltech(root, per_class=(6, 3, 9)):
    """A Caltech-101 folder in torchvision's layout: a few classes plus BACKGROUND_Google."""
    from PIL import Image

    cats = root / "caltech101" / "101_ObjectCategories"
    names = ["accordion", "BACKGROUND_Google", "Faces", "airplanes"]
    counts = dict(zip(names, (per_class[0], 4, per_class[1], per_class[2])))
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (cats / name).mkdir(parents=True)
        for i in range(1, n + 1):
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(cats / name / f"image_{i:04d}.jpg")
    return cats


def test_caltech101_drops_background_and_uses_the_given_split(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_DATA", str(tmp_path))
    cats = _fake_caltech(tmp_path)
    train, test = data.load("caltech101", "train"), data.load("caltech101", "test")
    assert train.classes == ("Faces", "accordion", "airplanes")  # sorted, BACKGROUND_Google dropped
    assert len(train) + len(test) == 6 + 3 + 9 and train.size == (224, 224)
    assert np.array_equal(test.counts(), [1, 2, 3])  # no split files: a fixed stratified 2:1 split
    # the course's split files, with a BACKGROUND_Google line as in the homework's
    (cats.parent / "train.txt").write_text("accordion/image_0001.jpg\nBACKGROUND_Google/image_0001.jpg\nFaces/image_0002.jpg\n")
    (cats.parent / "test.txt").write_text("accordion/image_0002.jpg\nairplanes/image_0009.jpg\n")
    train, test = data.load("caltech101", "train"), data.load("caltech101", "test")
    assert np.array_equal(train.counts(), [1, 1, 0]) and np.array_equal(test.counts(), [0, 1, 1])


def test_caltech_file_names_follow_torchvisions_numbering():
    labels = torch.tensor([0, 0, 1, 1, 1])
    assert data.caltech_file_names(labels, ("a", "b")) == ["a/image_0001.jpg", "a/image_0002.jpg", "b/image_0001.jpg",
                                                          "b/image_0002.jpg", "b/image_0003.jpg"]


def test_stratified_split_of_an_imbalanced_set_keeps_proportions_and_loses_nothing():
    """Report 004 §1: the training part is halved into train/validation with scikit-learn, stratified by class."""
    counts = [800, 435, 31, 47, 60, 5]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    ids = torch.arange(len(labels))
    images = torch.stack([ids % 256, ids // 256, torch.zeros_like(ids)], 1).to(torch.uint8).view(-1, 3, 1, 1)
    d = data.ImageData(images, labels, tuple("abcdef"), (0.5,) * 3, (0.2,) * 3)
    tr, va = data.stratified_split(d, 0.5, seed=0)
    recover = lambda part: set((part.images[:, 0, 0, 0].long() + 256 * part.images[:, 1, 0, 0].long()).tolist())  # noqa: E731
    assert recover(tr) | recover(va) == set(ids.tolist()) and not recover(tr) & recover(va)
    assert (np.abs(tr.counts() - va.counts()) <= 1).all()


# ----------------------------------------------------------------------------- damaged copies of Fashion-MNIST
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = Path("/usr/share/datasets/fashion-mnist")
needs_debian_copy = pytest.mark.skipif(not (SYSTEM / "train-labels-idx1-ubyte.gz").exists(),
                                       reason="needs Debian's dataset-fashion-mnist")


@pytest.fixture
def fresh_checks(monkeypatch):
    """Forget which files this process already checked (every test sees its own files)."""
    monkeypatch.setattr(data, "_VERIFIED", {})
    monkeypatch.setattr(data, "_WARNED", set())


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@needs_debian_copy
def test_a_damaged_copy_never_shadows_the_intact_system_copy(tmp_path, monkeypatch, fresh_checks):
    """The issue's case: a truncated .gz earlier in the search path gave a zlib/EOF error and left .tmp files."""
    own = tmp_path / "data"
    (own / "fashion-mnist").mkdir(parents=True)
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (own / "fashion-mnist" / f).write_bytes((SYSTEM / f).read_bytes()[:5000])  # truncated
    monkeypatch.setenv("REPROLIB_DATA", str(own))
    with pytest.warns(data.CorruptDataWarning, match=r"train-images-idx3-ubyte\.gz is damaged .*using the intact copy "
                                                      r"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte\.gz"):
        train = data.load("fashion_mnist", "train")
    assert train.images.shape == (60000, 1, 28, 28) and (train.counts() == 6000).all()
    assert not _temporary_files(own)
    assert {r["dataset"]: r for r in data.availability()}["fashion_mnist"]["available"]
    # the intact content was unpacked once into the user cache ($REPROLIB_DATA) and is used from there on
    unpacked = own / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    assert unpacked.exists() and sha256_file(unpacked) == data.FASHION_MNIST_SHA256[unpacked.name]


@needs_debian_copy
def test_a_damaged_unpacked_file_is_replaced_by_an_intact_copy(tmp_path, monkeypatch, fresh_checks):
    own = tmp_path / "data"
    raw = own / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    with gzip.open(SYSTEM / "t10k-labels-idx1-ubyte.gz") as f:
        blob = bytearray(f.read())
    blob[100] ^= 0xFF  # one flipped byte: right size and header, wrong checksum
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(blob))
    monkeypatch.setenv("REPROLIB_DATA", str(own))
    with pytest.warns(data.CorruptDataWarning, match="SHA-256 differs from the published file's"):
        test = data.load("fashion_mnist", "test")
    assert (test.counts() == 1000).all()
    assert sha256_file(raw / "t10k-labels-idx1-ubyte") == data.FASHION_MNIST_SHA256["t10k-labels-idx1-ubyte"]


def test_when_every_copy_is_damaged_the_error_names_the_file_and_what_to_do(tmp_path, monkeypatch, fresh_checks, capsys):
    root = tmp_path / "only"
    (root / "fashion-mnist").mkdir(parents=True)
    for f in data._IDX_FILES:
        (root / "fashion-mnist" / (f + ".gz")).write_bytes(b"\x1f\x8b\x08 this is not gzip data")
    monkeypatch.setattr(data, "search_roots", lambda: [root])  # the system copy out of sight
    with pytest.raises(data.CorruptDataFile) as err:
        data.load("fashion_mnist", "train")
    msg = str(err.value)
    assert f"{root}/fashion-mnist/train-images-idx3-ubyte.gz is unreadable" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(err.value, data.DatasetUnavailable)
    row = {r["dataset"]: r for r in data.availability()}["fashion_mnist"]
    assert not row["available"] and "no intact copy" in row["problem"]  # `python -m reprolib datasets` tells the truth
    from reprolib.core import cli

    assert cli.main(["datasets"]) == 0
    assert "fashion_mnist  no   unusable — dataset 'fashion_mnist': no intact copy" in capsys.readouterr().out
    assert cli.main(["run", "supervised", "--profile", "smoke", "--quiet"]) == 2  # one line, exit status 2
    err_line = capsys.readouterr().err.strip()
    assert err_line.startswith("error: dataset 'fashion_mnist': no intact copy") and "\n" not in err_line
    assert not _temporary_files(tmp_path)


@needs_debian_copy
def test_processes_unpacking_for_the_first_time_do_not_race(tmp_path):
    """Three processes unpack into one empty cache at once (the old fixed '<file>.tmp' name crashed 2 of 3 tries)."""
    own = tmp_path / "data"
    own.mkdir()
    code = "from reprolib.core import data; print(int(data.load('fashion_mnist', 'train').counts().sum()))"
    env = {**os.environ, "REPROLIB_DATA": str(own), "REPROLIB_DOWNLOAD": "0", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-1500:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["60000"] * 3
    assert not _temporary_files(own) and len(list((own / "FashionMNIST" / "raw").iterdir())) == 2

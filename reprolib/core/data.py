"""Datasets by name, and the split/subset helpers every chapter needs.

A dataset loads as :class:`ImageData`: the whole split as one ``uint8`` tensor
``(N, C, H, W)`` plus labels, class names and the per-channel normalisation
statistics.  Keeping images as one tensor is what makes the fast input pipeline
(:mod:`reprolib.core.loader`) possible: batches are produced by indexing on the device.

Nothing downloads silently: each loader looks in ``$REPROLIB_DATA``, the user cache
``~/.cache/reprolib/data``, ``/usr/share/datasets`` (Debian's ``dataset-*`` packages)
and ``./data``; only then does it try torchvision's download (set
``REPROLIB_DOWNLOAD=0`` to forbid that).  When a dataset is missing, the error names
the dataset, every path searched and how to obtain it.
"""
from __future__ import annotations

import colorsys
import dataclasses
import functools
import gzip
import hashlib
import os
import socket
import warnings
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import registry
from .io import atomic_torch_save, atomic_write_bytes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DatasetUnavailable(FileNotFoundError):
    """The dataset's files are not on this machine (and could not be downloaded)."""


# ---------------------------------------------------------------------------- container
@dataclasses.dataclass
class ImageData:
    """One split of an image-classification dataset, held in memory."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, for images scaled to [0, 1]
    std: tuple[float, ...]
    name: str = ""

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be uint8 (N,C,H,W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"{self.name}: mean/std must have one value per channel ({self.channels})")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.images.shape[2:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index, name: str | None = None) -> "ImageData":
        index = torch.as_tensor(index, dtype=torch.long)
        return dataclasses.replace(self, images=self.images[index], labels=self.labels[index], name=name or self.name)

    def counts(self) -> np.ndarray:
        """Images per class (length ``num_classes``)."""
        return np.bincount(self.labels.numpy(), minlength=self.num_classes)

    def normalized(self, index=None, device="cpu") -> torch.Tensor:
        """Float images, scaled to [0, 1] and standardised with this dataset's statistics."""
        x = self.images if index is None else self.images[index]
        return normalize(x.to(device), self.mean, self.std)


def normalize(images_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    x = images_uint8.float().div_(255.0)
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def channel_stats(images_uint8: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images_uint8.float() / 255.0
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())


# ---------------------------------------------------------------------------- search paths
def search_roots() -> list[Path]:
    """Where datasets are looked for, in order."""
    roots = []
    if os.environ.get("REPROLIB_DATA"):
        roots.append(Path(os.environ["REPROLIB_DATA"]).expanduser())
    roots += [cache_root(), Path("/usr/share/datasets"), Path("data").resolve()]
    seen, unique = set(), []
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


def cache_root() -> Path:
    """Writable folder for unpacked copies and downloads."""
    base = os.environ.get("REPROLIB_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "reprolib", "data")
    return Path(base).expanduser()


def downloads_allowed() -> bool:
    return os.environ.get("REPROLIB_DOWNLOAD", "1") not in ("0", "false", "no")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    how_to_get: str
    loader: Callable[..., ImageData]
    probe: Callable[[], Path | None]  # where the files are, without loading them
    embedded: bool = False  # ships with an installed package or Debian package
    num_classes: int | None = None  # known without loading (configs check class indices against it); None: varies


#: classes of each registered dataset, known without loading it (configs check class indices against it);
#: a dataset not listed varies (``synthetic``) or is registered with its own ``num_classes``
NUM_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "svhn": 10, "eurosat": 10,
               "caltech101": 101, "stanford_dogs": 120, "digits": 10}


def register(name, description, how_to_get, probe, embedded=False, num_classes=None):
    """Register a loader ``fn(split=...) -> ImageData`` in :data:`reprolib.core.registry.DATASETS`."""

    def deco(fn):
        k = num_classes if num_classes is not None else NUM_CLASSES.get(name)
        registry.register_dataset(name, DatasetInfo(name, description, how_to_get, fn, probe, embedded, k))
        return fn

    return deco


def names() -> list[str]:
    return sorted(registry.DATASETS)


def info(name: str) -> DatasetInfo:
    if name not in registry.DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {names()}")
    return registry.DATASETS[name]


def available(name: str) -> bool:
    """Whether the dataset's files are on this machine (never raises)."""
    try:
        return info(name).probe() is not None
    except Exception:  # noqa: BLE001 - a probe must never crash a chapter
        return False


def load(name: str, split: str = "train", **kwargs) -> ImageData:
    """Load one split (``"train"`` or ``"test"``) of a registered dataset."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return info(name).loader(split=split, **kwargs)


def availability() -> list[dict]:
    """One row per dataset: name, available here, where, how to obtain (or what is wrong with the files found)."""
    rows = []
    for name in names():
        item = registry.DATASETS[name]
        problem = ""
        try:
            where = item.probe()  # probes check the files they can (e.g. Fashion-MNIST's sizes and checksums)
        except Exception as err:  # noqa: BLE001 - a probe must never crash the listing; its reason is shown
            where, problem = None, str(err)
        rows.append(
            {
                "dataset": name,
                "available": where is not None,
                "location": str(where) if where is not None else "",
                "description": item.description,
                "how to obtain": "" if where is not None else (problem or item.how_to_get),
                "problem": problem,
            }
        )
    return rows


def _missing(name: str, searched: list[Path], detail: str = "") -> DatasetUnavailable:
    how = registry.DATASETS[name].how_to_get if name in registry.DATASETS else ""
    lines = [f"dataset {name!r} is not available on this machine."]
    lines.append("Searched: " + ", ".join(str(p) for p in searched) + ".")
    if detail:
        lines.append(detail)
    lines.append(f"How to obtain it: {how}")
    if not downloads_allowed():
        lines.append("(torchvision download disabled by REPROLIB_DOWNLOAD=0)")
    return DatasetUnavailable(" ".join(lines))


def _try_torchvision(name: str, factory: Callable[[Path, bool], object], subdir_probe: Callable[[Path], bool]):
    """Build a torchvision dataset from the first root that holds it; else try a download."""
    searched = []
    for root in search_roots():
        searched.append(root)
        if subdir_probe(root):
            return factory(root, False)
    if downloads_allowed():
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(20)
        try:
            cache_root().mkdir(parents=True, exist_ok=True)
            return factory(cache_root(), True)
        except Exception as err:
            raise _missing(name, searched, f"torchvision's download failed: {type(err).__name__}: {err}") from None
        finally:
            socket.setdefaulttimeout(previous)
    raise _missing(name, searched)


# ---------------------------------------------------------------------------- MNIST family
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: shape of each idx file's array (MNIST and Fashion-MNIST alike)
_IDX_SHAPES = {"train-images-idx3-ubyte": (60000, 28, 28), "train-labels-idx1-ubyte": (60000,),
               "t10k-images-idx3-ubyte": (10000, 28, 28), "t10k-labels-idx1-ubyte": (10000,)}
#: SHA-256 of Fashion-MNIST's unpacked idx files (Zalando's published data, github.com/zalandoresearch/fashion-mnist).
#: torchvision's ``FashionMNIST.resources`` lists the MD5s of Zalando's .gz files; Debian's dataset-fashion-mnist
#: recompresses them (other .gz bytes, same content), so the unpacked content is what is checked.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class CorruptDataFile(DatasetUnavailable):
    """Every copy of a dataset file on this machine is damaged (truncated, garbage or altered)."""


class CorruptDataWarning(UserWarning):
    """A damaged copy of a dataset file was skipped in favour of an intact one."""


_VERIFIED: dict[tuple, str | None] = {}  # (path, size, mtime) -> problem or None, so a process checks a file once
_WARNED: set[str] = set()


def _idx_problem(blob: bytes, fname: str, sha256: str | None) -> str | None:
    """What is wrong with the content of an idx file (its size and header, then its checksum), or None."""
    shape = _IDX_SHAPES[fname]
    expected = 4 + 4 * len(shape) + int(np.prod(shape))
    if len(blob) != expected:
        return f"{len(blob):,} bytes where the published file has {expected:,} (truncated or not this file)"
    dims = tuple(int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(len(shape)))
    if blob[:3] != b"\x00\x00\x08" or blob[3] != len(shape) or dims != shape:
        return f"its idx header says {dims}, expected {shape}"
    if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
        return "its SHA-256 differs from the published file's (altered or damaged)"
    return None


def _read_idx_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _check_idx(path: Path, fname: str, sha256: str | None, load: bool = True) -> tuple[bytes | None, str | None]:
    """``(content, None)`` for an intact copy, ``(None, problem)`` for a damaged one.

    A file is checked once per process (keyed by path, size and modification time); with
    ``load=False`` a file already known to be intact is not read again.
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED and (not load or _VERIFIED[key] is not None):
        return None, _VERIFIED[key]
    try:
        blob = _read_idx_bytes(path)
    except (OSError, EOFError, zlib.error) as err:  # a truncated or garbage .gz
        blob, problem = None, f"unreadable ({type(err).__name__}: {err})"
    else:
        problem = _VERIFIED[key] if key in _VERIFIED else _idx_problem(blob, fname, sha256)
    _VERIFIED[key] = problem
    return (blob if problem is None else None), problem


def _idx_candidates(folder: str, debian_name: str, fname: str) -> list[Path]:
    """Every existing copy of one idx file, in search order (unpacked before gzipped within a root)."""
    out = []
    for root in search_roots():
        for cand in (root / folder / "raw" / fname, root / folder / "raw" / (fname + ".gz"),
                     root / debian_name / (fname + ".gz"), root / (fname + ".gz")):
            if cand.is_file() and cand not in out:
                out.append(cand)
    return out


def _warn_skipped(name: str, path: Path, problem: str, used: Path) -> None:
    if str(path) in _WARNED:
        return
    _WARNED.add(str(path))
    warnings.warn(f"{name}: {path} is damaged ({problem}); using the intact copy {used} instead. Delete {path} "
                  "(or copy it again) to silence this warning.", CorruptDataWarning, stacklevel=4)


def _intact_idx(name: str, folder: str, debian_name: str, fname: str, sha256: str | None, how: str,
                load: bool = True) -> tuple[bytes | None, Path | None]:
    """The content and path of the first intact copy of ``fname``; ``(None, None)`` when there is no copy at all.

    Damaged copies before it are skipped with a :class:`CorruptDataWarning`; when every copy is
    damaged, :class:`CorruptDataFile` names each and what to do.
    """
    bad = []
    for cand in _idx_candidates(folder, debian_name, fname):
        blob, problem = _check_idx(cand, fname, sha256, load)
        if problem is None:
            for path, why in bad:
                _warn_skipped(name, path, why, cand)
            return blob, cand
        bad.append((cand, problem))
    if bad:
        listing = "; ".join(f"{p} is {why}" if why.startswith("unreadable") else f"{p} has {why}" for p, why in bad)
        raise CorruptDataFile(f"dataset {name!r}: no intact copy of {fname}: {listing}. Delete the damaged file(s) and "
                              f"get the files again: {how}")
    return None, None


def _parse_idx(blob: bytes) -> torch.Tensor:
    ndim = blob[3]
    dims = [int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy())


def _mnist_family(name, folder, debian_name, tv_class, classes, mean, std, sha256=None):
    """``(probe, loader)`` of an MNIST-layout dataset: four idx files, verified before use.

    Each file is taken from the first intact copy in the search roots — unpacked
    (``<root>/<folder>/raw``) or gzipped (Debian's ``<root>/<debian_name>/*.gz``); a
    gzipped copy is unpacked once into the user cache (atomically).  Every copy is checked
    (size and idx header; SHA-256 where ``sha256`` lists the published files), so a
    damaged copy never shadows a good one and the probe tells the truth.
    """
    sha256 = sha256 or {}

    def how() -> str:
        return registry.DATASETS[name].how_to_get if name in registry.DATASETS else ""

    def probe() -> Path | None:
        """Where the files are, after checking all four (raises CorruptDataFile when a file has no intact copy)."""
        found = [_intact_idx(name, folder, debian_name, f, sha256.get(f), how(), load=False)[1] for f in _IDX_FILES]
        return found[0].parent if all(found) else None

    def read(fname: str) -> torch.Tensor:
        blob, where = _intact_idx(name, folder, debian_name, fname, sha256.get(fname), how())
        if blob is None and downloads_allowed():  # no copy at all: torchvision's download (it checks the MD5s)
            import torchvision

            _try_torchvision(name, lambda r, dl: getattr(torchvision.datasets, tv_class)(str(r), download=dl), lambda r: False)
            blob, where = _intact_idx(name, folder, debian_name, fname, sha256.get(fname), how())
        if blob is None:
            raise _missing(name, search_roots())
        if where.suffix == ".gz":  # unpack once: later loads read the plain file (a read-only cache just skips this)
            target = cache_root() / folder / "raw" / fname
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, blob)
            except OSError:
                pass
        return _parse_idx(blob)

    def loader(split="train") -> ImageData:
        prefix = "train" if split == "train" else "t10k"
        images = read(f"{prefix}-images-idx3-ubyte").unsqueeze(1).contiguous()
        labels = read(f"{prefix}-labels-idx1-ubyte").long()
        return ImageData(images, labels, tuple(classes), (mean,), (std,), name=f"{name}-{split}")

    return probe, loader


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_fm_locate, _fm_loader = _mnist_family(
    "fashion_mnist", "FashionMNIST", "fashion-mnist", "FashionMNIST", FASHION_CLASSES, 0.2860, 0.3530, FASHION_MNIST_SHA256
)
register(
    "fashion_mnist",
    "Fashion-MNIST, 60k/10k 28x28 grey clothing images, 10 classes (the embedded default)",
    "apt-get install dataset-fashion-mnist (Debian; --reinstall repairs it), or put the four idx files under "
    "$REPROLIB_DATA/FashionMNIST/raw",
    _fm_locate,
    embedded=True,
)(_fm_loader)

_mn_locate, _mn_loader = _mnist_family("mnist", "MNIST", "mnist", "MNIST", tuple(str(i) for i in range(10)), 0.1307, 0.3081)
register(
    "mnist",
    "MNIST handwritten digits, 60k/10k 28x28 grey, 10 classes",
    "put the four MNIST idx files under $REPROLIB_DATA/MNIST/raw (torchvision.datasets.MNIST layout)",
    _mn_locate,
)(_mn_loader)


# ---------------------------------------------------------------------------- CIFAR / SVHN
def _cifar(name, folder, tv_class, mean, std):
    def locate():
        for root in search_roots():
            if (root / folder).is_dir():
                return root / folder
        return None

    def loader(split="train"):
        import torchvision

        cls = getattr(torchvision.datasets, tv_class)
        ds = _try_torchvision(name, lambda r, dl: cls(str(r), train=split == "train", download=dl), lambda r: (r / folder).is_dir())
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return ImageData(images, torch.tensor(ds.targets), tuple(ds.classes), mean, std, name=f"{name}-{split}")

    return locate, loader


for _name, _folder, _cls, _mean, _std, _desc in (
    ("cifar10", "cifar-10-batches-py", "CIFAR10", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), "CIFAR-10, 50k/10k 32x32 colour, 10 classes"),
    ("cifar100", "cifar-100-python", "CIFAR100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "CIFAR-100, 50k/10k 32x32 colour, 100 classes"),
):
    _loc, _load = _cifar(_name, _folder, _cls, _mean, _std)
    register(
        _name,
        _desc,
        f"download the python version from the CIFAR website and unpack it as $REPROLIB_DATA/{_folder}",
        _loc,
    )(_load)


def _svhn_locate():
    for root in search_roots():
        if (root / "train_32x32.mat").exists():
            return root
        if (root / "svhn" / "train_32x32.mat").exists():
            return root / "svhn"
    return None


@register(
    "svhn",
    "SVHN street-view house numbers, 73k/26k 32x32 colour, 10 classes ('train'/'test' splits)",
    "put train_32x32.mat and test_32x32.mat in $REPROLIB_DATA (needs scipy)",
    _svhn_locate,
)
def _svhn_loader(split="train"):
    import torchvision

    where = _svhn_locate()
    factory = lambda r, dl: torchvision.datasets.SVHN(str(r), split=split, download=dl)  # noqa: E731
    ds = factory(where, False) if where is not None else _try_torchvision("svhn", factory, lambda r: False)
    return ImageData(
        torch.from_numpy(ds.data).contiguous(),
        torch.from_numpy(ds.labels.astype(np.int64)),
        tuple(str(i) for i in range(10)),
        (0.4377, 0.4438, 0.4728),
        (0.1980, 0.2010, 0.1970),
        name=f"svhn-{split}",
    )


# ---------------------------------------------------------------------------- folder datasets
def _load_folder(dataset, image_size: int, name: str, center_crop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a PIL-backed dataset once (workers in a DataLoader) into a resized uint8 tensor.

    ``center_crop``: resize the short side to 256/224 of ``image_size`` and crop the centre
    (torchvision's ImageNet evaluation transform, Resize(256) + CenterCrop(224)) instead of
    squashing the whole image to a square.
    """
    import torchvision.transforms.v2 as T
    from torch.utils.data import DataLoader

    resize = ([T.Resize(round(image_size * 256 / 224), antialias=True), T.CenterCrop(image_size)] if center_crop
              else [T.Resize((image_size, image_size), antialias=True)])
    transform = T.Compose([T.RGB(), *resize, T.PILToTensor()])

    class _Wrapped(torch.utils.data.Dataset):
        def __len__(self):
            return len(dataset)

        def __getitem__(self, i):
            img, label = dataset[i]
            return transform(img), label

    loader = DataLoader(_Wrapped(), batch_size=256, num_workers=min(4, os.cpu_count() or 1))
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(torch.as_tensor(y))
    return torch.cat(xs), torch.cat(ys).long()


def _cached_folder_tensor(name, image_size, build):
    """Decoding thousands of JPEGs is slow; keep the resized tensor on disk (atomic write)."""
    path = cache_root() / "tensors" / f"{name}-{image_size}.pt"
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            return blob["images"], blob["labels"], tuple(blob["classes"])
        except Exception:  # noqa: BLE001 - an unreadable cache file is rebuilt
            path.unlink(missing_ok=True)
    images, labels, classes = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"images": images, "labels": labels, "classes": list(classes)}, path)
    return images, labels, classes


def _split_whole(name, images, labels, classes, split, mean, std, test_fraction=0.2):
    """Datasets without an official test split get a fixed stratified one (seed 0)."""
    whole = ImageData(images, labels, classes, mean, std, name=name)
    train, test = stratified_split(whole, test_fraction, seed=0)
    part = train if split == "train" else test
    return dataclasses.replace(part, name=f"{name}-{split}")


def _folder_probe(*candidates):
    def probe():
        for root in search_roots():
            for c in candidates:
                if (root / c).is_dir():
                    return root / c
        return None

    return probe


_eurosat_probe = _folder_probe("eurosat/2750", "eurosat")


@register(
    "eurosat",
    "EuroSAT RGB satellite tiles, 27k 64x64, 10 land-use classes (fixed 80/20 stratified split)",
    "download EuroSAT (RGB) and unpack it as $REPROLIB_DATA/eurosat/2750/<class>/*.jpg",
    _eurosat_probe,
)
def _eurosat_loader(split="train", image_size: int = 64):
    import torchvision

    def build():
        ds = _try_torchvision("eurosat", lambda r, dl: torchvision.datasets.EuroSAT(str(r), download=dl), lambda r: (r / "eurosat" / "2750").is_dir())
        images, labels = _load_folder(ds, image_size, "eurosat")
        return images, labels, tuple(ds.classes)

    images, labels, classes = _cached_folder_tensor("eurosat", image_size, build)
    return _split_whole("eurosat", images, labels, classes, split, IMAGENET_MEAN, IMAGENET_STD)


_caltech_probe = _folder_probe("caltech101/101_ObjectCategories")
#: the course's split files ("given split" of the Caltech-101 homework): lines like ``accordion/image_0002.jpg``
CALTECH_SPLIT_FILES = {"train": "train.txt", "test": "test.txt"}


@register(
    "caltech101",
    "Caltech-101 objects, 8,677 colour images of 101 categories (BACKGROUND_Google removed); the course's "
    "train.txt/test.txt split when present, else a fixed stratified 2:1 split; resized (short side) and centre-cropped",
    "download Caltech-101 and unpack it as $REPROLIB_DATA/caltech101/101_ObjectCategories/<class>/*.jpg; put the "
    "homework's train.txt and test.txt beside 101_ObjectCategories to use the given split",
    _caltech_probe,
)
def _caltech_loader(split="train", image_size: int = 224):
    """Caltech-101 as in the homework: torchvision's loader (which drops BACKGROUND_Google, not a real class),
    each image resized so its short side is 256/224 of ``image_size`` and centre-cropped (Resize(256) +
    CenterCrop(224) at the default size)."""
    import torchvision

    def build():
        ds = _try_torchvision(
            "caltech101",
            lambda r, dl: torchvision.datasets.Caltech101(str(r), target_type="category", download=dl),
            lambda r: (r / "caltech101" / "101_ObjectCategories").is_dir(),
        )
        if "BACKGROUND_Google" in ds.categories:
            raise RuntimeError("torchvision's Caltech101 kept BACKGROUND_Google; it is not a class and must be dropped")
        images, labels = _load_folder(ds, image_size, "caltech101", center_crop=True)
        return images, labels, tuple(ds.categories)

    images, labels, classes = _cached_folder_tensor("caltech101-crop", image_size, build)
    files = caltech_file_names(labels, classes)
    where = _caltech_probe()
    given = {k: where.parent / f for k, f in CALTECH_SPLIT_FILES.items()} if where is not None else {}
    if given and all(p.exists() for p in given.values()):
        keep = set(read_split_file(given[split]))
        index = [i for i, f in enumerate(files) if f in keep]
        whole = ImageData(images, labels, classes, IMAGENET_MEAN, IMAGENET_STD, name="caltech101")
        return whole.subset(index, name=f"caltech101-{split}")
    return _split_whole("caltech101", images, labels, classes, split, IMAGENET_MEAN, IMAGENET_STD, test_fraction=1 / 3)


def caltech_file_names(labels: torch.Tensor, classes) -> list[str]:
    """``<class>/image_NNNN.jpg`` of each image, in torchvision's order (classes sorted, images numbered from 1)."""
    out, seen = [], {}
    for label in labels.tolist():
        seen[label] = seen.get(label, 0) + 1
        out.append(f"{classes[label]}/image_{seen[label]:04d}.jpg")
    return out


def read_split_file(path) -> list[str]:
    """The image paths a split file lists, without the BACKGROUND_Google class (not a real class)."""
    lines = [line.strip().replace("\\", "/") for line in Path(path).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("BACKGROUND_Google")]


def load_image_folder(root, name: str | None = None, split: str = "train", image_size: int = 224) -> ImageData:
    """Any ``root/<class>/<image>`` folder through torchvision's ``ImageFolder``.

    If ``root`` has ``train``/``test`` sub-folders they are the splits; otherwise a
    fixed stratified 80/20 split is made.
    """
    import torchvision

    root = Path(root).expanduser()
    name = name or root.name
    if not root.is_dir():
        raise _missing(name, [root], "expected a folder of class sub-folders (torchvision ImageFolder layout)") if name in registry.DATASETS else DatasetUnavailable(
            f"dataset folder {root} does not exist; expected <root>/<class>/<image> (ImageFolder layout)"
        )
    if (root / "train").is_dir() and (root / "test").is_dir():
        ds = torchvision.datasets.ImageFolder(str(root / split))
        images, labels = _load_folder(ds, image_size, name)
        return ImageData(images, labels, tuple(ds.classes), IMAGENET_MEAN, IMAGENET_STD, name=f"{name}-{split}")
    ds = torchvision.datasets.ImageFolder(str(root))
    images, labels = _load_folder(ds, image_size, name)
    return _split_whole(name, images, labels, tuple(ds.classes), split, IMAGENET_MEAN, IMAGENET_STD)


_dogs_probe = _folder_probe("stanford_dogs/Images", "StanfordDogs/Images", "stanford_dogs")


@register(
    "stanford_dogs",
    "Stanford Dogs, 20k colour images of 120 breeds (ImageFolder; fixed 80/20 stratified split)",
    "download images.tar from the Stanford Dogs site and unpack it as $REPROLIB_DATA/stanford_dogs/Images/<breed>/*.jpg",
    _dogs_probe,
)
def _dogs_loader(split="train", image_size: int = 224):
    where = _dogs_probe()
    if where is None:
        raise _missing("stanford_dogs", [r / "stanford_dogs" / "Images" for r in search_roots()])
    images, labels, classes = _cached_folder_tensor(
        "stanford_dogs", image_size, lambda: _image_folder_arrays(where, image_size)
    )
    return _split_whole("stanford_dogs", images, labels, classes, split, IMAGENET_MEAN, IMAGENET_STD)


def _image_folder_arrays(root, image_size):
    import torchvision

    ds = torchvision.datasets.ImageFolder(str(root))
    images, labels = _load_folder(ds, image_size, root.name)
    return images, labels, tuple(ds.classes)


# ---------------------------------------------------------------------------- embedded small sets
@register(
    "digits",
    "scikit-learn's bundled 8x8 handwritten digits, 1,797 images, 10 classes (fixed 80/20 split)",
    "ships with scikit-learn (pip install scikit-learn)",
    lambda: Path(__import__("sklearn.datasets", fromlist=["x"]).__file__).parent / "data" / "digits.csv.gz",
    embedded=True,
)
def _digits_loader(split="train"):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    mean, std = channel_stats(images)
    return _split_whole("digits", images, labels, tuple(str(i) for i in range(10)), split, mean, std)


# ---------------------------------------------------------------------------- rendered characters in colour
GLYPH_CLASSES = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: the text fonts matplotlib ships (mpl-data/fonts/ttf): DejaVu Sans/Mono/Serif, STIX General, Computer Modern
GLYPH_TRAIN_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmb10.ttf", "cmtt10.ttf",
)
#: held out: the test split shows every character in fonts the training split never uses
GLYPH_TEST_FONTS = ("DejaVuSans-BoldOblique.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSerif-Italic.ttf",
                    "STIXGeneralBol.ttf", "cmss10.ttf", "cmti10.ttf")
#: colour photographs bundled with scikit-image and scikit-learn (the backgrounds)
GLYPH_BACKGROUNDS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                     "motorcycle", "china", "flower")
GLYPHS_VERSION = 2  # bump when the rendering changes (it is part of the on-disk cache name)


def glyph_backgrounds() -> list[np.ndarray]:
    """The colour photographs (H, W, 3) uint8 that scikit-image and scikit-learn ship (no download)."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_image

    out = []
    for name in GLYPH_BACKGROUNDS:
        if name in ("china", "flower"):
            img = load_sample_image(f"{name}.jpg")
        elif name == "motorcycle":
            img = skd.stereo_motorcycle()[0]
        else:
            img = getattr(skd, name)()
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=64)
def _glyph_font(font_file: str):
    from PIL import ImageFont

    return ImageFont.truetype(str(_font_dir() / font_file), 96)


def render_glyph(char: str, font_file: str, rng: np.random.Generator, size: int = 64,
                 backgrounds: list[np.ndarray] | None = None) -> np.ndarray:
    """One colour image (size, size, 3) uint8 of ``char``: rendered in ``font_file`` at a random
    height (55-85 % of the image), position and tilt (±10°), in a random colour whose brightness
    contrasts with the photograph behind it (a random crop of one of :data:`GLYPH_BACKGROUNDS`
    at half its contrast)."""
    from PIL import Image, ImageDraw

    backgrounds = backgrounds if backgrounds is not None else glyph_backgrounds()
    font = _glyph_font(font_file)  # rendered at 96 px, then downsampled with antialiasing
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((80, 80), char, fill=255, font=font, anchor="mm")
    canvas = canvas.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"font {font_file} has no glyph for {char!r}")
    glyph = canvas.crop(box)
    height = rng.uniform(0.55, 0.85) * size
    w, h = glyph.size
    factor = min(height / h, 0.9 * size / w)
    gw, gh = max(1, round(w * factor)), max(1, round(h * factor))
    glyph = np.asarray(glyph.resize((gw, gh), Image.BILINEAR, reducing_gap=2.0), dtype=np.float32) / 255.0
    alpha = np.zeros((size, size), np.float32)
    top, left = rng.integers(0, size - gh + 1), rng.integers(0, size - gw + 1)
    alpha[top:top + gh, left:left + gw] = glyph
    photo = backgrounds[rng.integers(len(backgrounds))]
    ph, pw = photo.shape[:2]
    crop = int(rng.uniform(0.15, 0.5) * min(ph, pw))
    y, x = rng.integers(0, ph - crop + 1), rng.integers(0, pw - crop + 1)
    bg = np.asarray(Image.fromarray(photo[y:y + crop, x:x + crop]).resize((size, size), Image.BILINEAR, reducing_gap=2.0),
                    np.float32) / 255.0
    bg = 0.5 * bg + 0.5 * bg.mean(axis=(0, 1))  # half the photograph's contrast: clutter, but the glyph stays legible
    lum = bg @ np.array([0.299, 0.587, 0.114], np.float32)
    under = float((lum * alpha).sum() / max(alpha.sum(), 1e-6))
    value = rng.uniform(0.0, 0.25) if under > 0.5 else rng.uniform(0.75, 1.0)
    ink = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.3, 1.0), value), np.float32)
    img = bg * (1 - alpha[..., None]) + ink * alpha[..., None]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def render_glyphs(per_class: int, fonts, size: int = 64, seed: int = 0, classes=GLYPH_CLASSES) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of every character, fonts drawn in turn (so each is used equally), seeded."""
    rng = np.random.default_rng(seed)
    backgrounds = glyph_backgrounds()
    images, labels = [], []
    for label, char in enumerate(classes):
        for i in range(per_class):
            images.append(render_glyph(char, fonts[i % len(fonts)], rng, size, backgrounds))
            labels.append(label)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.long)


_GLYPH_COUNTS = {"train": 200, "test": 30}
#: per-channel statistics of the rendered 64 px training split (checked against the data by the tests)
GLYPH_MEAN, GLYPH_STD = (0.4913, 0.3839, 0.3436), (0.2749, 0.2208, 0.2253)


@functools.lru_cache(maxsize=4)
def _glyph_memo(split: str, size: int):
    """The rendered split, built once per machine (on-disk tensor cache) and once per process."""
    fonts, seed = (GLYPH_TRAIN_FONTS, 1) if split == "train" else (GLYPH_TEST_FONTS, 2)
    name = f"glyphs-v{GLYPHS_VERSION}-{split}-{_GLYPH_COUNTS[split]}"
    images, labels, _ = _cached_folder_tensor(
        name, size, lambda: (*render_glyphs(_GLYPH_COUNTS[split], fonts, size, seed), GLYPH_CLASSES))
    return images, labels


@register(
    "glyphs",
    "62 characters (0-9, A-Z, a-z) rendered in colour on photograph crops, 64x64: 200 training images per class "
    "in 15 fonts, 30 test images per class in 6 other fonts (built offline from matplotlib's fonts and "
    "scikit-image/scikit-learn photographs)",
    "generated from matplotlib's bundled fonts and scikit-image/scikit-learn sample photographs (no download)",
    lambda: _font_dir() if (_font_dir() / GLYPH_TRAIN_FONTS[0]).exists() else None,
    embedded=True,
)
def _glyphs_loader(split="train", image_size: int = 64):
    images, labels = _glyph_memo(split, image_size)
    return ImageData(images, labels, GLYPH_CLASSES, GLYPH_MEAN, GLYPH_STD, name=f"glyphs-{split}")


def synthetic(
    n: int = 1000,
    num_classes: int = 10,
    size: int = 28,
    channels: int = 1,
    noise: float = 0.15,
    seed: int = 0,
    split: str = "train",
) -> ImageData:
    """Procedural images for tests: a class-specific oriented grating plus a blob.

    Orientation and blob position are fixed per class; phase, contrast and pixel noise
    vary per image, so the classes are learnable but not trivially identical.
    Different splits use different random draws of the same class templates.
    """
    if n < num_classes:
        raise ValueError(f"synthetic: n={n} must be at least num_classes={num_classes}")
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    angle = labels.float() * (np.pi / num_classes)
    freq = 3.0 + (labels % 3).float()
    phase = torch.rand(n, generator=g) * 2 * np.pi
    proj = xx[None] * torch.cos(angle)[:, None, None] + yy[None] * torch.sin(angle)[:, None, None]
    grating = torch.sin(freq[:, None, None] * np.pi * proj + phase[:, None, None])
    centre = torch.stack([torch.cos(2 * np.pi * labels.float() / num_classes), torch.sin(2 * np.pi * labels.float() / num_classes)], 1) * 0.5
    blob = torch.exp(-((xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2) / 0.08)
    img = 0.5 + 0.25 * grating * (0.7 + 0.3 * torch.rand(n, 1, 1, generator=g)) + 0.35 * blob
    img = img[:, None].repeat(1, channels, 1, 1)
    if channels > 1:
        tint = torch.linspace(0.8, 1.2, channels).view(1, channels, 1, 1)
        img = img * tint
    img = img + noise * torch.randn(img.shape, generator=g)
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    mean, std = channel_stats(images)
    return ImageData(images, labels.long(), tuple(f"class {i}" for i in range(num_classes)), mean, std, name=f"synthetic-{split}")


register(
    "synthetic",
    "procedural gratings+blobs for tests: any size, channels and number of classes",
    "generated in memory (no files)",
    lambda: Path("<generated>"),
    embedded=True,
)(synthetic)


# ---------------------------------------------------------------------------- helpers
def stratified_split(data: ImageData, val_fraction: float, seed: int = 0) -> tuple[ImageData, ImageData]:
    """Train/validation split that keeps class proportions (scikit-learn)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    idx = np.arange(len(data))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=data.labels.numpy())
    return data.subset(np.sort(tr), name=f"{data.name}[train]"), data.subset(np.sort(va), name=f"{data.name}[val]")


def select_classes(data: ImageData, classes, remap: bool = True) -> ImageData:
    """Keep only ``classes`` (indices or names); relabel them 0..k-1 in the given order if ``remap``."""
    idx_of = {}
    for c in classes:
        if isinstance(c, str):
            if c not in data.classes:
                raise ValueError(f"{data.name}: unknown class {c!r}; classes are {list(data.classes)}")
            c = data.classes.index(c)
        if not 0 <= int(c) < data.num_classes:
            raise ValueError(f"{data.name}: class index {c} out of range 0..{data.num_classes - 1}")
        idx_of[int(c)] = len(idx_of)
    keep = torch.isin(data.labels, torch.tensor(list(idx_of)))
    out = data.subset(torch.nonzero(keep).flatten())
    if remap:
        lut = torch.full((data.num_classes,), -1, dtype=torch.long)
        for old, new in idx_of.items():
            lut[old] = new
        out = dataclasses.replace(out, labels=lut[out.labels], classes=tuple(data.classes[c] for c in idx_of))
    return out


def per_class_subset(data: ImageData, counts, seed: int = 0) -> ImageData:
    """Take ``counts[c]`` random images of every class c (seeded)."""
    rng = np.random.default_rng(seed)
    labels = data.labels.numpy()
    chosen = []
    for c, k in enumerate(counts):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"{data.name}: class {c} ({data.classes[c]}) has {len(pool)} images, {k} requested")
        chosen.append(rng.permutation(pool)[:k])
    return data.subset(np.sort(np.concatenate(chosen)))


def few_shot(data: ImageData, m: int, seed: int = 0) -> ImageData:
    """M images per class (the few-shot baselines of ZSKT §4 / FewShotKT)."""
    if m < 1:
        raise ValueError(f"few_shot: m must be >= 1, got {m}")
    return per_class_subset(data, [m] * data.num_classes, seed)


def subsample(data: ImageData, n: int, seed: int = 0) -> ImageData:
    """A stratified random subset of ``n`` images (reduced-scale profiles)."""
    if n >= len(data):
        return data
    counts = np.floor(data.counts() / len(data) * n).astype(int)
    counts[np.argsort(-data.counts())[: n - counts.sum()]] += 1
    return per_class_subset(data, counts, seed)


def long_tail_counts(n_max: int, num_classes: int, imbalance_factor: float) -> list[int]:
    """Exponential profile n_i = int(n_max · (1/IF)^(i/(C-1))), class 0 the head (Cao et al., LDAM)."""
    if imbalance_factor < 1:
        raise ValueError(f"imbalance_factor is n_max/n_min and must be >= 1, got {imbalance_factor}")
    r = 1.0 / imbalance_factor
    return [int(n_max * r ** (i / (num_classes - 1))) for i in range(num_classes)]


def long_tail(data: ImageData, imbalance_factor: float, seed: int = 0, n_max: int | None = None) -> ImageData:
    counts = long_tail_counts(n_max or int(data.counts().min()), data.num_classes, imbalance_factor)
    return per_class_subset(data, counts, seed)


def to_model_input(data: ImageData, size: int | None = None, channels: int | None = None, chunk: int = 2048) -> ImageData:
    """Resize (antialiased bilinear) and convert channels to what a model expects.

    Grey→RGB repeats the channel (and its statistics); RGB→grey uses ITU-R 601 luma.
    """
    images, mean, std = data.images, data.mean, data.std
    if channels is not None and channels != data.channels:
        if data.channels == 1:
            images = images.repeat(1, channels, 1, 1)
            mean, std = mean * channels, std * channels
        elif channels == 1 and data.channels == 3:
            w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
            mean, std = channel_stats(images)
        else:
            raise ValueError(f"cannot convert {data.channels} channels to {channels}")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        parts = [
            F.interpolate(images[i : i + chunk].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
            for i in range(0, len(images), chunk)
        ]
        images = torch.cat(parts) if parts else images
    return dataclasses.replace(data, images=images.contiguous(), mean=tuple(mean), std=tuple(std))

"""Every setting of the Visual Computing assignment 2 chapter, per profile (the one place to change them).

* Part 1: the 2-D descent sweep and its explorer grid.
* Parts 2, 3, 5: the report CNN (report §1.2: SGD with Nesterov momentum 0.9, batch 128, lr 0.1,
  input normalisation) under the augmentation / regularisation grid of the report's Figures 2
  and 3 (:data:`PART3_GRID`).  "Early stopping" in the report (Listing 2) is *keep the best
  validation model*: the shared trainer always does that; training runs all epochs.
* Part 4: feature extraction (everything frozen but a new head, lr 0.001, report §1.4).
  ``full``: ImageNet weights.  ``cpu``/``smoke``: offline source models pretrained on the
  *other* Fashion-MNIST classes (``weights="source"``) — not ImageNet.
"""
from __future__ import annotations

from typing import Any

from reprolib.core.chapter import SettingsTable, check_positive, check_seeds, check_subset, row, same
from reprolib.core.config import ConfigError

#: The grid of the report's Figures 2 and 3 (label → TrainConfig overrides).
PART3_GRID: dict[str, dict[str, Any]] = {
    "none": {},
    "flip": {"augment": ("flip",)},
    "crop": {"augment": ("crop",)},
    "flip + crop": {"augment": ("crop", "flip")},
    "WD 1e-4": {"weight_decay": 1e-4},
    "WD 1e-5": {"weight_decay": 1e-5},
    "WD 1e-6": {"weight_decay": 1e-6},
    "DA + WD 1e-4": {"augment": ("crop", "flip"), "weight_decay": 1e-4},
    "DA + WD 1e-5": {"augment": ("crop", "flip"), "weight_decay": 1e-5},
}
#: Part 5's four trainings: (model label, setting).
PART5 = (("CNN", "none"), ("CNN", "DA + WD 1e-5"), ("ResNet-18", "none"), ("ResNet-18", "DA + WD 1e-5"))
MODEL_LABELS = {"report_cnn": "CNN", "resnet18": "ResNet-18", "alexnet": "AlexNet", "vgg11_bn": "VGG-11-BN",
                "squeezenet1_0": "SqueezeNet", "densenet121": "DenseNet-121", "inception_v3": "Inception v3"}

_CPU_TRANSFER = {"resnet18": 32, "alexnet": 64}
_FULL_TRANSFER = {"resnet18": 224, "alexnet": 224, "vgg11_bn": 224, "squeezenet1_0": 224, "densenet121": 224, "inception_v3": 299}
_EXPLORER_SMALL = {"function": ["schaffer", "beale"], "lr": [10.0], "method": ["GD", "Nesterov"]}
_EXPLORER = {"function": ["schaffer", "matyas", "beale"], "lr": [1.0, 10.0, 100.0], "method": ["GD", "momentum", "Nesterov"]}


def _check_transfer(name: str, value: Any, default: dict) -> dict:
    """A list of this profile's transfer models, or a dict model → input size."""
    if isinstance(value, (list, tuple)):
        bad = [m for m in value if m not in default]
        if bad or not value:
            raise ConfigError(f"{name} must be a non-empty list of {list(default)} at this profile; got {value!r}")
        return {m: default[m] for m in value}
    if isinstance(value, dict) and value and all(isinstance(v, int) and v > 0 for v in value.values()):
        return dict(value)
    raise ConfigError(f"{name} must be a list of model names or a dict model -> input size; got {value!r}")


def _check_grid(name: str, value: Any, default: Any) -> tuple:
    grid = check_subset(PART3_GRID)(name, value, default)
    return grid if "none" in grid else ("none",) + grid  # every comparison is against "none"


def _size(n: int) -> str:
    return "all" if n == 0 else f"{n:,}"


def _sizes(d: dict) -> str:
    return ", ".join(f"{MODEL_LABELS.get(m, m)} at {s} px" for m, s in d.items())


TABLE = SettingsTable("vc_a2", {
    #                     smoke                    cpu                         full
    "seeds":          row((0,),                    (0, 1, 2, 3),               (0, 1, 2, 3, 4), check=check_seeds,
                          help="seeds per setting (every cell of the Part 3 grid, every transfer model)"),
    "grid":           same(tuple(PART3_GRID), check=_check_grid, help="Part 3 settings (labels of Figures 2-3)"),
    "transfer":       row(_CPU_TRANSFER,           _CPU_TRANSFER,              _FULL_TRANSFER, check=_check_transfer, show=_sizes,
                          help="Part 4 models and their input sizes"),
    "weights":        row("source",                "source",                   "imagenet",
                          help="source weights of the transfer models (source = pretrained offline on the other classes)"),
    "part1_functions": same(("schaffer", "matyas", "beale")),
    "part1_lrs":      same((1.0, 10.0, 100.0), check=check_positive),
    "part1_betas":    row((0.0, 0.9),              (0.0, 0.5, 0.9),            (0.0, 0.5, 0.9)),
    "part1_nesterov": same((False, True)),
    "part1_epss":     row((1.0,),                  (0.5, 1.0, 4.0),            (0.5, 1.0, 4.0), check=check_positive, help="finite-difference steps (pixels)"),
    "part1_max_steps": row(200,                    1000,                       1000, check=check_positive),
    "part1_starts":   row(4,                       20,                         40, check=check_positive,
                          help="random start points per function (each ranking of Part 1 is a test over them)"),
    "part1_explorer": row(_EXPLORER_SMALL,         _EXPLORER,                  _EXPLORER),
}, sections={
    "data": {
        "dataset":    row("fashion_mnist",         "fashion_mnist",            "cifar10"),
        "classes":    row((2, 4),                  (2, 4),                     (3, 5), help="Pullover vs Coat; CIFAR-10 cat vs dog"),
        "train_size": row(256,                     0,                          0, show=_size,
                          help="training images of the two classes (all = the whole split, 12,000 for Fashion-MNIST)"),
    },
    "cnn": {
        "model":          same("report_cnn"),
        "epochs":         row(2,                   20,                         30),
        "optimizer":      same("sgd"),
        "lr":             same(0.1),
        "momentum":       same(0.9),
        "nesterov":       same(True),
        "batch_size":     same(128),
        "crop_padding":   same(4),
        "val_fraction":   same(0.1),
        "early_stopping": same(0),
        "scheduler":      same("none"),
        "weight_decay":   same(0.0),
    },
    "transfer": {
        "epochs":            row(2,                10,                         10),
        "source_epochs":     row(1,                2,                          3),
        "source_train_size": row(400,              4000,                       0, show=_size),
        "optimizer":         same("sgd"),
        "lr":                same(0.001),
        "momentum":          same(0.9),
        "nesterov":          same(True),
        "batch_size":        same(128),
        "freeze":            same("all_but_head"),
        "val_fraction":      same(0.1),
        "early_stopping":    same(0),
        "scheduler":         same("none"),
        "weight_decay":      same(0.0),
        "aux_weight":        same(0.4),
    },
})

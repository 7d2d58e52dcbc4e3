"""Every setting of the Homework 2 chapter (seed report 003), per profile — the one place to change them.

Scale mapping.  ``full``: EuroSAT RGB 64x64 (torchvision's loader), torchvision's ResNet-50 and
DenseNet-121 with ImageNet weights.  ``cpu``/``smoke``: Fashion-MNIST (10 classes, 28x28 grey,
offline), the *same* torchvision classes narrowed (ResNet-50 layout with stage widths
16-128 instead of 64-512; DenseNet-121 layout with growth rate 8 instead of 32) with a 3x3
stride-1 stem for small images, and — where the report used ImageNet weights — a source model
of the same architecture that the project pretrains itself on a rotation-prediction task
(half of the training split is set aside for it and never used by the targets).

Sections are the fields of :class:`~reprolib.chapters.eurosat.experiment.HomeworkConfig`:
``data`` and ``source`` are shared by every run; ``task_a``, ``task_b``, ``tricks`` and
``task_c`` hold each task's own.
"""
from __future__ import annotations

from typing import Any

from reprolib.core.chapter import SettingsTable, check_positive, check_positive_int, check_seeds, check_subset, row, same
from reprolib.core.config import ConfigError

#: the report's SVM class weights (Task C, §C.2), by class index
REPORT_SVM_WEIGHTS = {0: 1e-4, 1: 1e-3, 2: 1e-3, 3: 1.0, 4: 1.0, 5: 1.0, 6: 1.0, 7: 1e-2, 8: 1.0, 9: 1.0}
#: Task C's classifiers on the frozen backbone's features (label → what it is)
HEADS = {
    "backbone": "the backbone's own linear head (trained with it)",
    "SVM, report weights": "SVM (RBF kernel), the report's class weights",
    "SVM, inverse frequency": "SVM (RBF kernel), class weights n / (C · n_c)",
    "τ-norm": "the backbone's head, rows divided by ‖w‖^τ, bias dropped (τ chosen on validation)",
    "cRT": "a new linear head re-trained with class-balanced sampling",
}
#: the three models of Task B's table
TASK_B_MODELS = ("DenseNet-121", "Model_B", "Model_B + tricks")
ACTIVATION_LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4")


def _size(n: int) -> str:
    return "all" if n == 0 else f"{n:,}"


def _native(n: int) -> str:
    return "native" if n == 0 else f"{n} px"


def _check_factors(name: str, value: Any, default: Any) -> tuple[float, ...]:
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ConfigError(f"{name} must be a non-empty list of imbalance factors >= 1, e.g. [10, 100]; got {value!r}")
    return tuple(float(v) for v in value)


def _check_perplexities(name: str, value: Any, default: Any) -> tuple[float, ...]:
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < 160 for v in value)):
        raise ConfigError(f"{name} must be a non-empty list of t-SNE perplexities in [1, 160) (480 points); got {value!r}")
    return tuple(float(v) for v in value)


def _check_iterations(name: str, value: Any, default: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 250:
        raise ConfigError(f"{name} must be an integer >= 250 (scikit-learn's TSNE minimum); got {value!r}")
    return value


def _check_shot_groups(name: str, value: Any, default: Any) -> tuple[int, ...]:
    """Three positive group sizes over the ten classes (EuroSAT's, and the stand-in's)."""
    try:
        sizes = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 1 or sum(sizes) != 10 or any(float(v) != int(v) for v in value):
        raise ConfigError(f"{name} must be three positive integers (many, medium, few) adding up to the 10 classes, "
                          f"e.g. [3, 4, 3]; got {value!r}")
    return sizes


def _check_weights(name: str, value: Any, default: Any) -> dict[int, float]:
    """Class index → SVM class weight (JSON turns the keys into strings; they are read back as integers)."""
    try:
        out = {int(k): float(v) for k, v in dict(value).items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must map class indices to weights, e.g. {{0: 1e-4, 1: 1.0}}; got {value!r}") from None
    if sorted(out) != list(range(len(out))) or any(v < 0 for v in out.values()):
        raise ConfigError(f"{name} needs one weight >= 0 for each class index 0..C-1; got {value!r}")
    return out


TABLE = SettingsTable("eurosat", {
    #                      smoke            cpu                   full
    "seeds":           row((0, 1),          (0, 1, 2),            (0, 1, 2), check=check_seeds,
                           help="seeds per Task B model and per Task C backbone"),
    "task_a_seeds":    row((0,),            (0,),                 (0, 1, 2), check=check_seeds, help="seeds of Task A's fine-tuning"),
    "tsne_points":     same(480, check=check_positive_int, help="random test images in the t-SNE plot (the report's 480)"),
    "tsne_perplexity": same(30.0, help="perplexity of the main t-SNE figure"),
    "tsne_seed":       same(0, help="seed of the t-SNE sample and of the optimisation"),
    "tsne_iterations": row(500,             1000,                 1000, check=_check_iterations, help="t-SNE optimisation steps (scikit-learn's minimum is 250)"),
    "tsne_perplexities": row((5.0, 30.0),   (5.0, 15.0, 30.0, 50.0), (5.0, 15.0, 30.0, 50.0), check=_check_perplexities,
                           help="explorer: perplexities"),
    "tsne_samples":    row((0,),            (0, 1),               (0, 1, 2), help="explorer: seeds of the 480-image sample"),
    "knn_k":           same(5, check=check_positive_int, help="k of the k-NN accuracy in the embedding (leave-one-out)"),
    "activation_images": row(2,             3,                    4, check=check_positive_int, help="test images shown layer by layer"),
    "activation_channels": same(16, check=check_positive_int, help="channel maps shown per layer (the most active ones)"),
    "imbalance_factors": row((10.0,),       (10.0, 50.0),         (10.0, 50.0, 100.0), check=_check_factors,
                           help="Task C explorer: imbalance factors (the first is the main one; others: first seed only)"),
    "heads":           same(tuple(HEADS), check=check_subset(HEADS), help="Task C classifiers"),
    "svm_weights":     same(REPORT_SVM_WEIGHTS, check=_check_weights, help="the report's SVM class weights (by class index)"),
    "svm_c":           same(1.0, check=check_positive, help="SVM regularisation C (scikit-learn's default; the report does not state it)"),
    "tau_grid":        same(tuple(round(0.1 * i, 1) for i in range(21)), help="τ values searched on validation (Kang et al.)"),
    "crt_epochs":      same(10, check=check_positive_int, help="cRT: epochs of the re-trained head (Kang et al.'s cls_crt)"),
    "crt_lr":          same(0.2, check=check_positive, help="cRT: SGD learning rate, cosine to 0 (Kang et al.)"),
    "shot_groups":     same((3, 4, 3), check=_check_shot_groups, help="many / medium / few-shot: the 3 largest, 4 middle and 3 smallest classes"),
}, sections={
    # shared by every run
    "data": {
        "dataset":         row("fashion_mnist", "fashion_mnist",  "eurosat"),
        "val_fraction":    same(0.1, help="of the training subset, held out for model selection"),
        "source_fraction": row(0.5,             0.5,              0.0, help="training split set aside for the source task"),
        "data_seed":       same(0),
        "batch_size":      row(64,              64,               128, help="64 offline: twice the steps of 128 on small subsets"),
        "optimizer":       same("sgd"),
        "momentum":        same(0.9),
        "weight_decay":    same(5e-4),
    },
    # Task A: fine-tune ResNet-50 (source model: ImageNet at full, rotation prediction offline)
    "task_a": {
        "model":           row("resnet50-w8-small", "resnet50-w16-small", "resnet50"),
        "image_size":      row(16,              0,                0, show=_native),
        "train_size":      row(400,             2000,             0, show=_size, help="training subset (incl. validation)"),
        "test_size":       row(480,             1000,             0, show=_size),
        "weights":         row("rotation",      "rotation",       "imagenet"),
        "source_epochs":   row(1,               2,                1, check=check_positive_int),
        "source_train_size": row(200,           1000,             0, show=_size, help="set-aside images of the source task (x4 rotations)"),
        "epochs":          row(1,               5,                30, check=check_positive_int),
        "lr":              row(0.02,            0.02,             0.01, check=check_positive, help="fine-tuning learning rate"),
        "scheduler":       same("cosine"),
    },
    # Task B: DenseNet-121 and Model_B (without tricks: no augmentation, constant lr)
    "task_b": {
        "model":           row("densenet121-g4-small", "densenet121-g8-small", "densenet121"),
        "image_size":      row(12,              16,               0, show=_native),
        "train_size":      row(300,             2000,             0, show=_size),
        "test_size":       row(480,             1000,             0, show=_size),
        "weights":         row("none",          "none",           "imagenet"),
        "epochs":          row(1,               8,                60, check=check_positive_int),
        "lr":              row(0.1,             0.1,              0.01, check=check_positive),
        "scheduler":       same("none"),
        "noise_std":       same(0.005),
        "noisy_convs":     same(6),
    },
    # Task B's "tricks" (report §B.3), on top of Model_B
    "tricks": {
        "augment":         row(("crop", "flip"), ("crop", "flip", "affine"), ("crop", "flip", "vflip", "rot90", "affine"),
                               help="no colour jitter (report §B.3)"),
        "crop_padding":    row(2,               2,                8, help="pixels of zero padding before the random crop"),
        "scheduler":       same("plateau"),
        "plateau_patience": row(0,              1,                5),
        "gamma":           same(0.1),
        "label_smoothing": same(0.1),
    },
    # Task C: a long-tailed training set; Model_B + tricks + class-balanced oversampling
    "task_c": {
        "train_size":      row(300,             3400,             0, show=_size, help="balanced subset before the long tail (incl. validation)"),
        "lt_n_max":        row(20,              300,              0, show=_size, help="head-class images (0 = all of the subset)"),
        "sampler":         same("class_balanced"),
        "epochs":          row(1,               8,                60, check=check_positive_int),
    },
})


def config_defaults() -> dict[str, dict]:
    """``PROFILE_DEFAULTS`` of :class:`HomeworkConfig`: the shared fields plus Task B's (for ``python -m reprolib run``)."""
    data, b = TABLE.profile_defaults("data"), TABLE.profile_defaults("task_b")
    return {p: {**data[p], **b[p]} for p in data}

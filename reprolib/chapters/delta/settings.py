"""Every setting of the DELTA chapter, per profile (the one place to change them).

* ``full`` is the report's setting (seed report 000 §2-3, DELTA's ``train.py`` and ``run.sh``):
  torchvision's ImageNet ResNet-101 fine-tuned on Stanford Dogs 120 (100 training images per
  breed), batch 64, 48 epochs (9,000 iterations of 64 on 12,000 images), 256 px images cropped
  to 224, α = β = 0.01 as the report kept them, 5 runs per setting.
* ``cpu`` keeps the structure on two cores: ``resnet101-w8``, torchvision's ``ResNet`` with ResNet-101's
  Bottleneck layout (3, 4, 23, 3 blocks, so the four hooked ``conv3`` layers are the same) and its
  ImageNet stem, but stage widths 8, 16, 32, 64 instead of 64, 128, 256, 512.  The *source* model is
  pretrained by the project on the seven Fashion-MNIST classes that are not targets; the target is a
  small fine-grained task — the three upper-body garments T-shirt/top, Pullover and Shirt, 100
  training images each.  Images are upscaled to 64 px and cropped to 56 (the 256 → 224 ratio), so the
  hooked maps are 14², 7², 4², 2² and α weighs the maps about as strongly per element as at ImageNet
  scale (B·C/(H·W) of the hooked layers: 32·32/14² ≈ 5 and 32·256/2² ≈ 2,000 here, 64·256/56² ≈ 5 and
  64·2048/7² ≈ 2,700 there).
* ``smoke`` is seconds, for the tests.

The ``data``, ``finetune`` and ``channels`` sections are the fields of
:class:`~.finetune.DeltaConfig` (``channels`` also feeds :class:`~.finetune.ChannelConfig`).
"""
from __future__ import annotations

from typing import Any

from reprolib.core.chapter import SettingsTable, check_seeds, row, same
from reprolib.core.config import ConfigError

REGULARIZERS = ("l2", "l2_sp", "delta")
SCHEDULES = ("steplr", "explr")
TRANSFORMS = ("default", "improved")
#: display names
METHOD_LABELS = {"l2": "L2 (fine-tuning)", "l2_sp": "L2-SP", "delta": "DELTA"}
SCHEDULE_LABELS = {"steplr": "STEP-LR", "explr": "EXP-LR"}
#: the rows of the report's results table: label → (transforms, channel-evaluation transforms)
TABLE_ROWS = {
    "without AUG": ("default", "default"),
    "with AUG": ("improved", "default"),
    "with AUG (channel evaluation augmented)": ("improved", "improved"),
}


def _check_alphas(name: str, value: Any, default: Any) -> tuple[float, ...]:
    """A non-empty list of distinct positive numbers."""
    ok = (isinstance(value, (list, tuple)) and value
          and all(isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 for a in value)
          and len(set(value)) == len(value))
    if not ok:
        raise ConfigError(f"{name} must be a non-empty list of distinct numbers > 0, e.g. [0.01, 0.1]; got {value!r}")
    return tuple(float(a) for a in value)


def _size(n: int) -> str:
    return "all" if n == 0 else f"{n:,}"


def _classes(c) -> str:
    return ", ".join(map(str, c)) if c else "all"


TABLE = SettingsTable("delta", {
    #                      smoke              cpu                               full
    "seeds":           row((0,),              (0, 1, 2, 3, 4),                  (0, 1, 2, 3, 4), check=check_seeds,
                           help="runs per setting (the report's 5); only the training randomness differs between them"),
    "schedules":       same(SCHEDULES, help="Figure 1's learning-rate schedules (STEP-LR, EXP-LR)"),
    "alphas":          row((0.1,),            (0.001, 0.01, 0.1, 1.0),          (0.001, 0.01, 0.1, 1.0), check=_check_alphas,
                           help="the α explorer's grid (DELTA and L2-SP, first seed, without AUG, STEP-LR)"),
    "margin":          same(1.0, help="equivalence margin of the TOST tests, in accuracy points"),
    "l2_weight_decay": same(1e-4, help="plain fine-tuning's weight decay (train.py, reg_type 'l2')"),
    "probe_images":    row(24,                300,                              1000,
                           help="test images for the feature-map comparison and the activation maps"),
}, sections={
    "data": {
        "dataset":           row("fashion_mnist", "fashion_mnist",              "stanford_dogs"),
        "classes":           row((0, 2, 6),       (0, 2, 6),                    (), show=_classes,
                                 help="target classes; the source model learns the others (T-shirt/top, Pullover, Shirt)"),
        "train_size":        row(48,              300,                          12000, show=_size,
                                 help="target training images (the paper: 100 per breed)"),
        "test_size":         row(60,              1000,                         0, show=_size,
                                 help="test images (a fixed stratified subset at cpu; the whole test split at full)"),
        "data_seed":         same(0),
        "image_size":        row(12,              64,                           256, help="images are held at this size"),
        "crop_size":         row(10,              56,                           224, help="network input (crops)"),
        "model":             row("resnet50-w2-small", "resnet101-w8",           "resnet101"),
        "weights":           row("source",        "source",                     "imagenet",
                                 help="source = pretrained offline by the project on the dataset's other classes"),
        "source_epochs":     row(3,               4,                            3),
        "source_train_size": row(700,             4200,                         0, show=_size),
    },
    "finetune": {
        "epochs":            row(2,               12,                           48),
        "batch_size":        row(16,              32,                           64),
        "lr":                same(0.01),
        "momentum":          same(0.9),
        "alpha":             same(0.01, help="α (the report kept 0.01; run.sh uses 0.1 for DELTA on Stanford Dogs)"),
        "beta":              same(0.01),
        "temperature":       same(5.0),
    },
    "channels": {
        "warmup_epochs":     row(1,               10,                           10),
        "warmup_batch_size": row(16,              32,                           32),
        "channel_batches":   row(1,               4,                            4),
        "channel_seed":      same(0),
    },
})

_CHANNEL_FIELDS = {"warmup_epochs": "epochs", "warmup_batch_size": "batch_size", "channel_batches": "eval_batches", "channel_seed": "seed"}


def config_defaults(section: str) -> dict[str, dict]:
    """``PROFILE_DEFAULTS`` of :class:`~.finetune.DeltaConfig` (``"finetune"``) or :class:`~.finetune.ChannelConfig` (``"channels"``)."""
    data, channels = TABLE.profile_defaults("data"), TABLE.profile_defaults("channels")
    if section == "channels":
        return {p: {**data[p], **{_CHANNEL_FIELDS[k]: v for k, v in channels[p].items()}} for p in data}
    own = TABLE.profile_defaults(section)
    return {p: {**data[p], **own[p], **channels[p]} for p in data}


def scale_note(settings) -> str:
    """The scale column of the chapter's verdict rows."""
    d = settings.section("data")
    source = "ImageNet weights" if d["weights"] == "imagenet" else f"pretrained on the other {d['dataset']} classes"
    target = f"{d['dataset']} {'all classes' if not d['classes'] else 'classes ' + _classes(d['classes'])}"
    return (f"{settings.profile}: {d['model']} ({source}) → {target}, {_size(d['train_size'])} training images, "
            f"{settings['finetune.epochs']} epochs, {len(settings.seeds)} seeds")

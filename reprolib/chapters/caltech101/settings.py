"""Every setting of the Caltech-101 homework chapter (seed report 004), per profile: the one place to change them.

* ``full`` — the report's scale: Caltech-101 through torchvision (BACKGROUND_Google dropped, the
  course's train/test split when its files are present), 224 px (Resize 256 + CenterCrop 224),
  torchvision AlexNet / ResNet-18 / ResNet-50 with ImageNet weights, batch 256, the report's
  epochs, SGD with momentum 0.9 and weight decay 5e-5 (the homework template's values; the
  report does not restate them).
* ``cpu`` — an offline stand-in a 2-core CPU can train: ``glyphs``, characters rendered in
  colour on photograph crops (:func:`reprolib.core.data.render_glyph`).  Target task: the 26
  upper-case letters with 60 training images each, split 1:1 into train/validation (30 + 30
  per class, as Caltech-101's ~29), and 30 test images each in six fonts the training images
  never use.  Source task (instead of ImageNet): the other 36 classes (digits and lower-case
  letters), 200 images each, on which the project pretrains each architecture itself.  Narrow
  torchvision classes at 64 px (AlexNet needs at least 63): AlexNet at 1/4 width, ResNet-18 and
  ResNet-50 at 1/8 width.  Batch 64 (the report's 256 × 26/101 classes, so an epoch has about
  the report's ~12 steps).
* ``smoke`` — seconds: the same stand-in, few images and epochs.
"""
from __future__ import annotations

from typing import Any

from reprolib.core.chapter import SettingsTable, check_seeds, row, same
from reprolib.core.config import ConfigError

#: The report's augmentation pipelines (section 4).  The report names the operations, not their strengths:
#: these are ours (colour jitter 0.4 and hue 0.1 as in common ImageNet recipes, torchvision's default
#: perspective distortion 0.5, rotations up to 15°).
PIPELINES: dict[str, dict[str, float]] = {
    "cs-hf": {"contrast": 0.4, "saturation": 0.4},
    "h-rp": {"hue": 0.1, "perspective": 0.5},
    "b-gs-r": {"brightness": 0.4, "rotation": 15.0},
}
PIPELINE_LABELS = {"cs-hf": "CS-HF", "h-rp": "H-RP", "b-gs-r": "B-GS-R"}
#: Freezing policies of report section 3 (label -> ``TrainConfig.freeze``), see :mod:`reprolib.core.transfer`.
POLICIES = {"train the entire model": "none", "freeze convolutional layers": "features",
            "freeze fully connected layers": "classifier"}
NETWORK_LABELS = {"alexnet": "AlexNet", "resnet18": "ResNet-18", "resnet50": "ResNet-50"}

#: Report section 2, the scratch table: (LR, NUM_EPOCHS, STEP_SIZE, GAMMA).
SCRATCH_ROWS = ((0.001, 30, 20, 0.1), (0.005, 20, 10, 0.1), (0.01, 30, 15, 0.1),
                (0.05, 30, 20, 0.1), (0.1, 30, 5, 0.5), (0.05, 40, 20, 0.1))
#: Report section 3.1, training the whole pretrained network: (LR, NUM_EPOCHS, STEP_SIZE, GAMMA).
TRANSFER_ROWS = ((0.001, 30, 20, 0.1), (0.005, 20, 10, 0.1), (0.0005, 40, 30, 0.5))
SCRATCH_BEST, TRANSFER_BEST = (0.05, 30, 20, 0.1), (0.005, 20, 10, 0.1)  # the report's best rows
SCRATCH_SMALL = (0.005, 20, 10, 0.1)  # the report's "too small LR" curves (section 2)

_SMOKE_SCRATCH = ((0.05, 2, 1, 0.1), (0.005, 2, 1, 0.1))
_SMOKE_TRANSFER = ((0.005, 2, 1, 0.1),)


def _check_rows(name: str, value: Any, default: Any) -> tuple:
    """A non-empty list of [lr, epochs, step_size, gamma] rows."""
    ok = isinstance(value, (list, tuple)) and len(value) > 0
    rows = []
    for r in value if ok else ():
        good = (isinstance(r, (list, tuple)) and len(r) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r)
                and r[0] > 0 and int(r[1]) == r[1] >= 1 and int(r[2]) == r[2] >= 1 and 0 < r[3] <= 1)
        if not good:
            ok = False
            break
        rows.append((float(r[0]), int(r[1]), int(r[2]), float(r[3])))
    if not ok:
        raise ConfigError(f"{name} must be a non-empty list of [lr > 0, epochs >= 1, step_size >= 1, 0 < gamma <= 1] rows, "
                          f"e.g. [[0.05, 30, 20, 0.1]]; got {value!r}")
    return tuple(rows)


def _check_networks(name: str, value: Any, default: Any) -> dict:
    """A list of this profile's networks (of alexnet, resnet18, resnet50)."""
    if isinstance(value, (list, tuple)) and value and all(v in default for v in value):
        return {k: default[k] for k in value}
    raise ConfigError(f"{name} must be a non-empty list of {list(default)}; got {value!r}")


def _check_pipelines(name: str, value: Any, default: Any) -> tuple:
    if isinstance(value, (list, tuple)) and value and all(v in PIPELINES for v in value) and len(set(value)) == len(value):
        return tuple(value)
    raise ConfigError(f"{name} must be a non-empty list of distinct pipelines from {list(PIPELINES)}; got {value!r}")


def _show_rows(rows) -> str:
    return "; ".join(f"lr {r[0]:g}, {r[1]} ep, step {r[2]}, γ {r[3]:g}" for r in rows)


def _show_networks(d) -> str:
    return ", ".join(f"{NETWORK_LABELS[k]} = {v}" for k, v in d.items())


_SOURCE_RECIPES = {"alexnet": ("adam", 1e-3, 30), "resnet18": ("sgd", 0.1, 12), "resnet50": ("sgd", 0.1, 12)}
_SMOKE_RECIPES = {k: (opt, lr, 1) for k, (opt, lr, _) in _SOURCE_RECIPES.items()}


def _show_recipes(d) -> str:
    return "; ".join(f"{NETWORK_LABELS[k]}: {o} lr {lr:g}, {e} ep." for k, (o, lr, e) in d.items())


_UPPER = tuple(range(10, 36))  # glyphs classes 10..35 are A..Z

TABLE = SettingsTable("caltech101", {
    #                       smoke                     cpu                          full
    "seeds":            row((0,),                     (0, 1, 2),                   (0, 1, 2), check=check_seeds,
                            help="seeds of every run that a verdict compares"),
    "grid_seeds":       row(1,                        1,                           3,
                            help="seeds of the other rows of the hyperparameter tables (the first ones of `seeds`)"),
    "scratch_rows":     row(_SMOKE_SCRATCH,           SCRATCH_ROWS,                SCRATCH_ROWS, check=_check_rows, show=_show_rows,
                            help="section 2: (LR, NUM_EPOCHS, STEP_SIZE, GAMMA) from scratch"),
    "scratch_best":     row(_SMOKE_SCRATCH[0],        SCRATCH_BEST,                SCRATCH_BEST, check=lambda n, v, d: _check_rows(n, [v], d)[0],
                            help="the report's best scratch row (its 'good LR' curves): run with every seed"),
    "scratch_small":    row(_SMOKE_SCRATCH[1],        SCRATCH_SMALL,               SCRATCH_SMALL, check=lambda n, v, d: _check_rows(n, [v], d)[0],
                            help="the report's 'too small LR' row (its other curves): run with every seed"),
    "transfer_rows":    row(_SMOKE_TRANSFER,          TRANSFER_ROWS,               TRANSFER_ROWS, check=_check_rows, show=_show_rows,
                            help="section 3.1: (LR, NUM_EPOCHS, STEP_SIZE, GAMMA), all layers trained from pretrained weights"),
    "transfer_best":    row(_SMOKE_TRANSFER[0],       TRANSFER_BEST,               TRANSFER_BEST, check=lambda n, v, d: _check_rows(n, [v], d)[0],
                            help="the report's best transfer row: sections 3.2-5 use it, with every seed"),
    "pipelines":        same(tuple(PIPELINES), check=_check_pipelines, help="section 4 augmentation pipelines"),
    "networks":         row({"alexnet": "alexnet-w16", "resnet18": "resnet18-w8", "resnet50": "resnet50-w8"},
                            {"alexnet": "alexnet-w16", "resnet18": "resnet18-w8", "resnet50": "resnet50-w8"},
                            {"alexnet": "alexnet", "resnet18": "resnet18", "resnet50": "resnet50"},
                            check=_check_networks, show=_show_networks, help="section 5: the architectures (reprolib.core.models)"),
    "weights":          row("source",                 "source",                    "imagenet",
                            help="pretrained weights: ImageNet (torchvision), or a source model pretrained here on the other classes"),
    "source_recipes":   row(_SMOKE_RECIPES,           _SOURCE_RECIPES,             _SOURCE_RECIPES, show=_show_recipes,
                            help="offline source models: network -> (optimiser, lr, epochs), cosine schedule. AlexNet (no batch "
                                 "normalisation) stays on its initial plateau with SGD here (lr 0.05, 12 epochs: 5 % validation "
                                 "accuracy on 36 classes), so it pretrains with Adam, for 30 epochs at lr 1e-3 (validation accuracy, seed 0: "
                                 "26 % after 15 epochs at 3e-4, 43 % at 1e-3, 65 % after 30 at 3e-4, 73 % after 30 at "
                                 "1e-3); the ResNets with SGD (Adam 3e-4 left "
                                 "ResNet-18 at 7 %) at lr 0.1 with `source_zero_init` (validation accuracy, seed 0: "
                                 "ResNet-18 89 %, ResNet-50 85 %; at lr 0.05 both stayed near 50 %)"),
    "source_min_acc":   same(0.5, help="a source model below this validation accuracy on its own task is flagged and its "
                                 "network's verdicts are not comparable (pretrained weights that learnt little say nothing "
                                 "about the architecture)"),
    "same_margin":      same(0.03, help="TOST margin (accuracy, absolute) for 'the same' and 'at least as good' claims"),
    "gap_margin":       same(0.05, help="TOST margin for 'augmentation changes the train-validation accuracy gap little'"),
    "much_worse":       same(0.10, help="'much worse': at least this many accuracy points lower (one-sided Welch against the shifted mean)"),
}, sections={
    "data": {
        "dataset":      row("glyphs",                 "glyphs",                    "caltech101"),
        "classes":      row(_UPPER,                   _UPPER,                      (), show=lambda c: "A-Z (26)" if c == _UPPER else ("all" if not c else str(len(c))),
                            help="target classes (glyphs: the upper-case letters; the rest is the source task)"),
        "train_size":   row(26 * 12,                  26 * 60,                     0, help="images of the given training split used (0 = all)"),
        "val_fraction": same(0.5, help="the training split is halved into train / validation, stratified (report section 1)"),
        "image_size":   row(64,                       64,                          224),
        "data_seed":    same(0),
    },
    "train": {
        "batch_size":   row(64,                       64,                          256),
        "optimizer":    same("sgd"),
        "momentum":     same(0.9),
        "weight_decay": same(5e-5),
        "scheduler":    same("step"),
        "cache_features": same(True),
        "eval_train":   same(True, help="evaluate the training split after each epoch, as the report did"),
        "source_train_size":  row(36 * 20,            36 * 200,                    0),
        "source_batch_size":  same(128),
        "source_val_fraction": same(0.1),
        "source_zero_init": same(True, help="source models from scratch start each ResNet block as the identity "
                                 "(torchvision's zero_init_residual; Goyal et al. 2017): without it the narrow ResNet-50 "
                                 "sat near chance on the source task for epochs (validation accuracy after 12: 36 % at "
                                 "lr 0.05, 7 % at lr 0.1, 11 % at lr 0.02)"),
    },
})

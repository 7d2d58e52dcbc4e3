"""Seed report 002 ("Deep Learning for Visual Computing", assignment 2): the chapter's experiments.

One place for every hyperparameter of ``book/visual_computing_a2.ipynb``:

* Part 1 (gradient descent on 2-D functions) lives in :mod:`reprolib.optim2d`; the sweep
  grids and the explorer grid per profile are here (``PROFILES[p]["part1"]``).
* Part 2/3: the report CNN (:class:`reprolib.models.ReportCNN`) trained with SGD + Nesterov
  momentum 0.9, batch 128, lr 0.1, input normalisation, under the augmentation /
  regularisation grid of the report's Figures 2 and 3 (:data:`SETTINGS`).  "Early stopping"
  in the report (Listing 2) is *keep the best validation model*: the shared trainer always
  does that; training runs all epochs (``early_stopping=0``).
* Part 4: feature extraction (everything frozen but a new head, lr 0.001) from torchvision
  models.  ``full``: ImageNet weights.  ``cpu``/``smoke``: offline source models pretrained on
  the *other* eight Fashion-MNIST classes (``weights="source"``) — not ImageNet.
* Part 5 (accuracy bookkeeping) lives in :mod:`reprolib.accuracy`; its four runs are the
  ``none`` and ``DA + WD 1e-5`` settings of the CNN and of ResNet-18.

All training goes through :class:`reprolib.experiments.TrainConfig` and :func:`reprolib.runs.run`.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable

from .config import ConfigError
from .experiments import TrainConfig

__all__ = [
    "REPORTED", "SETTINGS", "PART5", "PROFILES", "CPU_CLASS_NAMES", "chapter_profile",
    "cnn_config", "transfer_config", "cnn_configs", "transfer_configs", "part5_configs",
    "run_labelled", "results_table", "history_frame", "compute_table",
    "validation_predictions", "explorer_draw", "live_draw",
]

# ---------------------------------------------------------------------------- the report
#: Numbers quoted from the report (validation accuracies; CIFAR-10 cat vs dog).
REPORTED = {
    "part2_val_max": 0.89,                       # §1.2, Fig. 1: CNN without DA/regularisation
    "part3_best_setting": "DA + WD 1e-5",        # §1.3: flip + crop + weight decay 1e-5
    "part3_best_val": 0.921875,
    "part3_best_epoch": 12,
    "part5": {                                   # §1.5, best validation accuracy, corrected update
        ("CNN", "none"): 0.8035,
        ("CNN", "DA + WD 1e-5"): 0.8644,
        ("ResNet-18", "none"): 0.8589,
        ("ResNet-18", "DA + WD 1e-5"): 0.86321,
    },
}

#: The grid of the report's Figures 2 and 3 (label → TrainConfig overrides).
SETTINGS: dict[str, dict[str, Any]] = {
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

#: Fashion-MNIST stand-in for CIFAR-10 cat vs dog: two classes that look alike.
CPU_CLASS_NAMES = ("Pullover", "Coat")

_CNN = dict(model="report_cnn", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, batch_size=128,
            crop_padding=4, val_fraction=0.1, early_stopping=0, scheduler="none", weight_decay=0.0)
_TRANSFER = dict(optimizer="sgd", lr=0.001, momentum=0.9, nesterov=True, batch_size=128, freeze="all_but_head",
                 val_fraction=0.1, early_stopping=0, scheduler="none", weight_decay=0.0, aux_weight=0.4)

_PART1_SMALL = {"functions": ("schaffer", "matyas", "beale"), "lrs": (1.0, 10.0, 100.0), "betas": (0.0, 0.9),
                "nesterov": (False, True), "epss": (1.0,), "max_steps": 200,
                "explorer": {"function": ["schaffer", "beale"], "lr": [10.0], "method": ["GD", "Nesterov"]}}
_PART1 = {"functions": ("schaffer", "matyas", "beale"), "lrs": (1.0, 10.0, 100.0), "betas": (0.0, 0.5, 0.9),
          "nesterov": (False, True), "epss": (0.5, 1.0, 4.0), "max_steps": 1000,
          "explorer": {"function": ["schaffer", "matyas", "beale"], "lr": [1.0, 10.0, 100.0],
                       "method": ["GD", "momentum", "Nesterov"]}}

#: Chapter profiles.  ``classes`` index the dataset's classes (Fashion-MNIST 2 = Pullover,
#: 4 = Coat; CIFAR-10 3 = cat, 5 = dog); ``transfer`` maps model → input size.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "dataset": "fashion_mnist", "classes": (2, 4), "seeds": (0,), "train_size": 256, "cnn_epochs": 2,
        "transfer": {"resnet18": 32, "alexnet": 64}, "weights": "source", "transfer_epochs": 2,
        "source_epochs": 1, "source_train_size": 400, "settings": tuple(SETTINGS), "part1": _PART1_SMALL,
    },
    "cpu": {
        "dataset": "fashion_mnist", "classes": (2, 4), "seeds": (0, 1), "train_size": 2500, "cnn_epochs": 10,
        "transfer": {"resnet18": 32, "alexnet": 64}, "weights": "source", "transfer_epochs": 10,
        "source_epochs": 2, "source_train_size": 4000, "settings": tuple(SETTINGS), "part1": _PART1,
    },
    "full": {
        "dataset": "cifar10", "classes": (3, 5), "seeds": (0, 1, 2), "train_size": 0, "cnn_epochs": 30,
        "transfer": {"resnet18": 224, "alexnet": 224, "vgg11_bn": 224, "squeezenet1_0": 224,
                     "densenet121": 224, "inception_v3": 299},
        "weights": "imagenet", "transfer_epochs": 10, "source_epochs": 3, "source_train_size": 0,
        "settings": tuple(SETTINGS), "part1": _PART1,
    },
}
MODEL_LABELS = {"report_cnn": "CNN", "resnet18": "ResNet-18", "alexnet": "AlexNet", "vgg11_bn": "VGG-11-BN",
                "squeezenet1_0": "SqueezeNet", "densenet121": "DenseNet-121", "inception_v3": "Inception v3"}


def chapter_profile(profile: str = "cpu", **overrides) -> dict[str, Any]:
    """The chapter settings of ``profile`` with ``overrides`` (None values are ignored).

    Checks the keys and values a notebook parameter can set: ``seeds`` (non-empty list of
    integers >= 0), ``settings`` (labels of :data:`SETTINGS`), ``transfer`` (model → size or a
    list of models of this profile), and any other profile key.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILES)}")
    prof = copy.deepcopy(PROFILES[profile])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(prof))
    if unknown:
        raise ConfigError(f"unknown chapter setting(s) {unknown}; known: {sorted(prof)}")
    if "seeds" in overrides:
        seeds = overrides["seeds"]
        if isinstance(seeds, (int, str)) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"seeds must be a non-empty list of integers >= 0, e.g. [0, 1]; got {seeds!r}")
        overrides["seeds"] = tuple(seeds)
    if "settings" in overrides:
        bad = [s for s in overrides["settings"] if s not in SETTINGS]
        if bad or isinstance(overrides["settings"], str) or not overrides["settings"]:
            raise ConfigError(f"settings must be a non-empty list of {list(SETTINGS)}; got {overrides['settings']!r}")
        overrides["settings"] = tuple(overrides["settings"])
    if "transfer" in overrides:
        t = overrides["transfer"]
        if isinstance(t, (list, tuple)):
            bad = [m for m in t if m not in prof["transfer"]]
            if bad or not t:
                raise ConfigError(f"transfer models must be a non-empty list of {list(prof['transfer'])} at profile {profile!r}; got {t!r}")
            t = {m: prof["transfer"][m] for m in t}
        elif not isinstance(t, dict) or not t:
            raise ConfigError(f"transfer must be a list of model names or a dict model -> input size; got {t!r}")
        overrides["transfer"] = dict(t)
    prof.update(overrides)
    if "none" not in prof["settings"]:
        prof["settings"] = ("none",) + tuple(prof["settings"])
    return prof


def _data(prof: dict) -> dict:
    return {"dataset": prof["dataset"], "classes": tuple(prof["classes"]), "train_size": prof["train_size"]}


def cnn_config(prof: dict | str = "cpu", setting: str = "none", seed: int = 0, **overrides) -> TrainConfig:
    """The report CNN under one setting of :data:`SETTINGS` (Parts 2, 3, 5)."""
    prof = chapter_profile(prof) if isinstance(prof, str) else prof
    if setting not in SETTINGS:
        raise ConfigError(f"unknown setting {setting!r}; choose from {list(SETTINGS)}")
    values = {**_CNN, **_data(prof), "epochs": prof["cnn_epochs"], "seed": seed, **SETTINGS[setting], **overrides}
    return TrainConfig.from_profile("cpu", **values)


def transfer_config(prof: dict | str = "cpu", model: str = "resnet18", seed: int = 0, setting: str = "none", **overrides) -> TrainConfig:
    """Feature extraction from ``model`` (Part 4; Part 5 with ``setting="DA + WD 1e-5"``)."""
    prof = chapter_profile(prof) if isinstance(prof, str) else prof
    if model not in prof["transfer"]:
        raise ConfigError(f"model {model!r} is not in this profile's transfer models {list(prof['transfer'])}")
    if setting not in SETTINGS:
        raise ConfigError(f"unknown setting {setting!r}; choose from {list(SETTINGS)}")
    values = {**_TRANSFER, **_data(prof), "model": model, "image_size": prof["transfer"][model],
              "weights": prof["weights"], "epochs": prof["transfer_epochs"], "seed": seed,
              "source_epochs": prof["source_epochs"], "source_train_size": prof["source_train_size"],
              **SETTINGS[setting], **overrides}
    return TrainConfig.from_profile("cpu", **values)


Labelled = list[tuple[dict, TrainConfig]]


def cnn_configs(prof: dict) -> Labelled:
    """Parts 2-3: every setting × seed of the report CNN."""
    return [({"part": "cnn", "model": "CNN", "setting": s, "seed": seed}, cnn_config(prof, s, seed))
            for s in prof["settings"] for seed in prof["seeds"]]


def transfer_configs(prof: dict) -> Labelled:
    """Part 4: every transfer model × seed (no augmentation, no weight decay)."""
    return [({"part": "transfer", "model": MODEL_LABELS.get(m, m), "setting": "none", "seed": seed}, transfer_config(prof, m, seed))
            for m in prof["transfer"] for seed in prof["seeds"]]


def part5_configs(prof: dict) -> Labelled:
    """Part 5's four trainings × seeds (the CNN ones are shared with Part 3)."""
    out = []
    for model, setting in PART5:
        for seed in prof["seeds"]:
            cfg = cnn_config(prof, setting, seed) if model == "CNN" else transfer_config(prof, "resnet18", seed, setting)
            out.append(({"part": "part5", "model": model, "setting": setting, "seed": seed}, cfg))
    return out


def run_labelled(labelled: Labelled, progress: bool = True) -> list[tuple[dict, Any]]:
    """Run (or read back from the run cache) every config; returns ``[(labels, RunResult)]``."""
    from tqdm.auto import tqdm

    from . import runs

    return [(lab, runs.run(cfg, progress=progress)) for lab, cfg in tqdm(labelled, desc="runs", leave=False, disable=not progress)]


def results_table(results) -> "pd.DataFrame":
    """One row per run: labels, best validation accuracy and its (1-based) epoch, test accuracy, time."""
    import pandas as pd

    rows = []
    for lab, r in results:
        m = r.metrics
        rows.append({**lab, "best_val_acc": m["best_val_acc"], "best_epoch": m["best_epoch"] + 1,
                     "final_val_acc": m["final_val_acc"], "test_acc": m["test_acc"], "epochs": m["epochs_run"],
                     "train_seconds": m["train_seconds"], "wall_seconds": m.get("wall_seconds", float("nan")),
                     "n_train": m["n_train"], "n_val": m["n_val"], "n_test": m["n_test"], "cached": r.cached})
    return pd.DataFrame(rows)


def history_frame(results) -> "pd.DataFrame":
    """Per-epoch curves in long form (epoch is 1-based, as in the report's figures) for seaborn."""
    import pandas as pd

    from .report import history_frame as frame

    parts = [frame([r], "epoch", **lab) for lab, r in results]
    df = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()
    if not df.empty:
        df["epoch"] = df["epoch"] + 1
    return df


def compute_table(results) -> "pd.DataFrame":
    """Compute per distinct run (shared runs counted once), offline source models included.

    Columns: what, model, setting, seed, wall_seconds, images_per_second, device, cached.
    """
    import pandas as pd

    from . import runs

    seen, rows = set(), []
    for lab, r in results:
        entries = [(lab.get("model"), r)]
        cfg = r.config
        if getattr(cfg, "weights", "none") == "source":
            src = runs.lookup(cfg.source_config())
            if src is not None:
                entries.insert(0, (f"source model ({MODEL_LABELS.get(cfg.model, cfg.model)})", src))
        for what, res in entries:
            if res.path in seen:
                continue
            seen.add(res.path)
            m = res.metrics
            rows.append({"run": what, "setting": lab.get("setting") if res is r else "-", "seed": res.config.seed,
                         "wall_seconds": m.get("wall_seconds", m.get("train_seconds")),
                         "images_per_second": m.get("images_per_second"), "device": m.get("device"),
                         "cached": res.cached})
    return pd.DataFrame(rows)


def validation_predictions(result) -> tuple["np.ndarray", "np.ndarray"]:
    """Predicted and true labels of a finished run's best model on its validation split."""
    from .experiments import load_trained, prepare_data
    from .loader import TensorLoader
    from .train import predict

    _, val, _ = prepare_data(result.config)
    model = load_trained(result)
    logits, labels = predict(model, TensorLoader(val, 512, shuffle=False))
    return logits.argmax(1).numpy(), labels.numpy()


# ---------------------------------------------------------------------------- Part 1 explorers
METHODS = {"GD": (0.0, False), "momentum": (0.9, False), "Nesterov": (0.9, True)}


def explorer_draw(function: str, lr: float, method: str, eps: float = 1.0, max_steps: int = 1000):
    """The static explorer's drawing: one descent from the function's first start.
    ``method``: "GD" (β = 0), "momentum" (β = 0.9) or "Nesterov" (β = 0.9)."""
    from .optim2d import draw_descent, sample_function

    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    beta, nesterov = METHODS[method]
    surface = sample_function(function, 256)
    fig = draw_descent(function, surface.starts[0], lr, beta, nesterov, eps, max_steps=max_steps)
    fig.set_size_inches(4.6, 4.2)
    return fig


def live_draw(function: str = "schaffer", start_x: float = 204.0, start_y: float = 179.0, lr: float = 10.0,
              beta: float = 0.9, nesterov: bool = True, eps: float = 1.0, max_steps: int = 1000):
    """The live explorer's drawing: any start (pixels of the 256×256 grid), lr, β, Nesterov, ε."""
    from .optim2d import draw_descent

    return draw_descent(function, (float(start_x), float(start_y)), float(lr), float(beta), bool(nesterov), float(eps),
                        max_steps=int(max_steps))

"""The ``supervised`` experiment: the workhorse every chapter trains through.

Data selection, model, optional transfer (ImageNet or an offline source model), the
shared trainer, and a final test evaluation of the best validation checkpoint.
``python -m reprolib run supervised --set lr=0.05`` runs one; chapters build
:class:`TrainConfig` objects in their plans.  Chapter-specific experiments register
themselves from their own packages (:mod:`reprolib.core.registry`).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time

import torch

from . import data as data_mod
from . import models, registry, transfer
from .config import ConfigError, option, require
from .loader import FeatureLoader, TensorLoader, build_augment, evaluation_batches
from .runs import RunContext, memo, run
from .train import TrainSpec, default_device, evaluate, fit, predict, seed_everything
#: the smallest explicit ``image_size`` (below it, three stride-2 stages leave no spatial extent worth the name)
MIN_IMAGE_SIZE = 8
#: Optimiser of an offline source model for networks without batch normalisation: from
#: scratch they stay at chance with SGD (AlexNet, 8 Fashion-MNIST classes, 3 epochs:
#: 0.165 at lr 0.1, 0.205 at lr 0.01), so they pretrain with Adam instead.
_ADAM_SOURCE = {"optimizer": "adam", "lr": 1e-4, "nesterov": False}
SOURCE_OVERRIDES = {m: _ADAM_SOURCE for m in ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "squeezenet1_0", "squeezenet1_1")}


@dataclasses.dataclass(frozen=True)
class TrainConfig(TrainSpec):
    """A supervised image-classification run (data + model + optimisation)."""

    EXPERIMENT = "supervised"
    PROFILE_DEFAULTS = {
        "smoke": {"train_size": 512, "epochs": 2, "batch_size": 64, "model": "wrn-10-1"},
        "cpu": {"train_size": 10000, "epochs": 5, "batch_size": 128, "model": "wrn-16-1"},
        "full": {"train_size": 0, "epochs": 30, "batch_size": 128, "model": "wrn-16-2"},
    }

    dataset: str = option("fashion_mnist")
    classes: tuple[int, ...] = option((), low=0, help="keep only these classes, relabelled 0..k-1 (empty = all)")
    train_size: int = option(0, low=0, help="stratified subset of the training split (0 = all)")
    val_fraction: float = option(0.1, low=0.01, high=0.5)
    data_seed: int = option(0, low=0, help="seed of the subset/validation split (fixed across model seeds)")
    image_size: int = option(0, low=0, help="resize to this size (0 = native)")
    model: str = option("wrn-16-1")
    weights: str = option("none", choices=("none", "imagenet", "source"))
    freeze: str = option("none", choices=transfer.FREEZE_POLICIES)
    augment: tuple[str, ...] = option((), help="named batch augmentations (reprolib.core.registry.AUGMENTATIONS)")
    crop_padding: int = option(4, low=0)
    cache_features: bool = option(True, help="train a frozen backbone's head on features computed once")
    source_epochs: int = option(3, low=1, help="epochs of the offline source model (weights='source')")
    source_train_size: int = option(0, low=0, help="source-task subset size (0 = same as train_size)")
    device: str = option("auto", choices=("auto", "cpu", "cuda"))
    zero_init_residual: bool = option(False, added=True, help="a network trained from scratch starts each ResNet block as "
                                      "the identity (reprolib.core.models.zero_init_residual; no effect on other networks)")
    eval_train: bool = option(False, added=True, help="after each epoch also evaluate the un-augmented training split in "
                              "eval mode (train_eval_loss/acc), as reports that plot train vs validation accuracy do")

    def check(self):
        super().check()
        require(self.dataset, registry.DATASETS, "dataset")
        for name in self.augment:
            require(name, registry.AUGMENTATIONS, "augmentation")
        try:
            models.check_name(self.model)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.weights == "source" and not self.classes:
            raise ConfigError("weights='source' pretrains on the classes not in `classes`; set classes=(...)")
        self._check_classes_and_sizes()

    def _check_classes_and_sizes(self):
        """Values that cannot describe a run, found before any data is loaded (the key and the allowed range)."""
        total = getattr(registry.DATASETS[self.dataset], "num_classes", None)  # None: varies (synthetic)
        if self.classes:
            if total is not None and max(self.classes) >= total:
                raise ConfigError(f"classes={self.classes}: {self.dataset} has {total} classes, so each must be in 0..{total - 1}")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError(f"classes={self.classes}: each class may appear once")
            if len(self.classes) < 2:
                raise ConfigError(f"classes={self.classes}: a classifier needs at least 2 classes (or () for all)")
        if 0 < self.image_size < MIN_IMAGE_SIZE:
            raise ConfigError(f"image_size={self.image_size}: 0 (native) or at least {MIN_IMAGE_SIZE} pixels")
        least = models.MIN_INPUT.get(self.model)
        if least and 0 < self.image_size < least:
            raise ConfigError(f"image_size={self.image_size}: {self.model} needs at least {least} pixels (or 0: resized for it)")
        k = len(self.classes) or total
        if self.train_size:
            n_val = math.ceil(self.train_size * self.val_fraction)  # scikit-learn's stratified split
            n_train = self.train_size - n_val
            if k is not None and self.val_fraction > 0 and min(n_val, n_train) < k:
                raise ConfigError(f"train_size={self.train_size}: its {self.val_fraction:g} validation split leaves {n_train} "
                                  f"training and {n_val} validation images, each must be at least the {k} classes; "
                                  f"use train_size >= {math.ceil(k / self.val_fraction)} (or 0 for all)")
            if k is not None and n_train < k:  # no validation split (a subclass with val_fraction = 0)
                raise ConfigError(f"train_size={self.train_size}: fewer training images than the {k} classes; "
                                  f"use train_size >= {k} (or 0 for all)")
            if n_train < self.batch_size:
                raise ConfigError(f"train_size={self.train_size} leaves {n_train} training images, fewer than "
                                  f"batch_size={self.batch_size}; lower batch_size or raise train_size")

    def upstream(self) -> list["TrainConfig"]:
        return [self.source_config()] if self.weights == "source" else []

    def estimate_seconds(self) -> float | None:
        """A rough estimate of this run's training time on this machine (its upstream runs not included).

        Training images × epochs at the speed of two timed training steps (batch 16) of its
        model at its input size here; a frozen backbone with cached features costs one forward
        pass over the data instead.  None when its dataset is not on this machine.
        """
        try:
            n_all, size, channels, total = _data_shape(self.dataset)
        except Exception:  # noqa: BLE001 - no data here: no estimate (the run would fail with a clear message)
            return None
        k = len(self.classes) or total
        n = min(self.train_size or n_all, n_all * k // total)
        size = self.image_size or models.NATIVE_INPUT.get(self.model) or max(size, models.MIN_INPUT.get(self.model, 0))
        channels = channels if models.any_channels(self.model) else 3
        frozen = self.cache_features and self.freeze != "none" and transfer.can_cache_features(self.model, self.freeze, self.augment)
        per_image = _seconds_per_image(self.model, channels, size, k, forward_only=frozen)
        return per_image * (n_all * k // total if frozen else n * (1 - self.val_fraction) * self.epochs)

    def calibration_workload(self):
        """(make_model, batch shape, classes) of an end-to-end run, for :func:`reprolib.core.fastpath.resolve`;
        None for a frozen backbone (its head trains in fp32: nothing to gain)."""
        if self.freeze != "none":
            return None
        test = data_mod.load(self.dataset, "test")
        classes = len(self.classes) or test.num_classes
        channels = test.channels if models.any_channels(self.model) else 3
        size = input_size(self, test.size[0]) or test.size[0]
        shape = (self.batch_size, channels, size, size)
        return (lambda: models.build(self.model, num_classes=classes, in_channels=channels), shape, classes)

    def source_config(self) -> "TrainConfig":
        """The offline source task: same dataset and architecture, the *other* classes."""
        rest = transfer.source_task_classes(self.classes, _num_classes(self.dataset))
        return dataclasses.replace(
            self,
            classes=rest,
            weights="none",
            freeze="none",
            epochs=self.source_epochs,
            train_size=self.source_train_size or self.train_size,
            augment=(),
            early_stopping=0,
            lr=0.1 if self.optimizer == "sgd" else 1e-3,
            scheduler="cosine",
        ).replace(**SOURCE_OVERRIDES.get(self.model, {}))


_SHAPES: dict[str, tuple] = {}
_SPEEDS: dict[tuple, float] = {}


def _data_shape(dataset: str) -> tuple[int, int, int, int]:
    """(training images, native size, channels, classes) of a dataset, loaded once per process."""
    if dataset not in _SHAPES:
        train = data_mod.load(dataset, "train")
        _SHAPES[dataset] = (len(train), train.size[0], train.channels, train.num_classes)
    return _SHAPES[dataset]


def _seconds_per_image(model_name: str, channels: int, size: int, num_classes: int, forward_only: bool = False) -> float:
    """Seconds per image of a training step (or a forward pass) of ``model_name`` here: two timed steps of batch 16."""
    key = (model_name, channels, size, num_classes, forward_only)
    if key not in _SPEEDS:
        model = models.build(model_name, num_classes=num_classes, in_channels=channels)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        x, y = torch.randn(16, channels, size, size), torch.randint(0, num_classes, (16,))

        def step():
            if forward_only:
                with torch.no_grad():
                    model.eval()(x)
                return
            out = model.train()(x)
            loss = torch.nn.functional.cross_entropy(out.logits if hasattr(out, "logits") else out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()  # warm-up
        t0 = time.perf_counter()
        step()
        step()
        _SPEEDS[key] = (time.perf_counter() - t0) / 32
    return _SPEEDS[key]


@functools.lru_cache(maxsize=None)
def _num_classes(dataset: str) -> int:
    """Classes of a dataset, read once per process (cost tables ask every transfer run for its source run)."""
    return data_mod.load(dataset, "test").num_classes


def prepare_data(cfg: TrainConfig):
    """(train, val, test) ImageData for a config, already resized/converted for its model (val is None when
    ``cfg.val_fraction`` is 0, which :class:`TrainConfig` itself never allows)."""
    train_full = data_mod.load(cfg.dataset, "train")
    test = data_mod.load(cfg.dataset, "test")
    if cfg.classes:
        train_full = data_mod.select_classes(train_full, cfg.classes)
        test = data_mod.select_classes(test, cfg.classes)
    if cfg.train_size:
        train_full = data_mod.subsample(train_full, cfg.train_size, seed=cfg.data_seed)
    if cfg.val_fraction > 0:
        train, val = data_mod.stratified_split(train_full, cfg.val_fraction, seed=cfg.data_seed)
    else:  # no validation split: a subclass whose recipe has none (e.g. DELTA's train.py) sets val_fraction = 0
        train, val = train_full, None
    channels = None if models.any_channels(cfg.model) else 3
    size = input_size(cfg, train.size[0])
    return tuple(None if d is None else data_mod.to_model_input(d, size=size, channels=channels)
                 for d in (train, val, test))


def input_size(cfg: TrainConfig, native: int) -> int | None:
    """The side the model sees (None: the data's ``native`` size): the config's, the model's own, or its minimum."""
    size = cfg.image_size or models.NATIVE_INPUT.get(cfg.model) or None
    if size is None and native < models.min_input(cfg.model):
        size = models.min_input(cfg.model)
    return size


def build_model(cfg: TrainConfig, num_classes: int, in_channels: int, progress: bool = True) -> torch.nn.Module:
    if cfg.weights == "source":
        source = run(cfg.source_config(), progress=progress)
        model = models.build(cfg.model, num_classes=len(cfg.source_config().classes), in_channels=in_channels)
        model.load_state_dict(source.load_state())
        models.replace_head(model, num_classes)
    else:
        model = models.build(cfg.model, num_classes=num_classes, in_channels=in_channels, weights=None if cfg.weights == "none" else cfg.weights)
        if cfg.weights == "none" and cfg.zero_init_residual:
            models.zero_init_residual(model)
    return transfer.freeze(model, cfg.freeze)


@registry.experiment(TrainConfig)
def supervised(cfg: TrainConfig, ctx: RunContext) -> dict:
    device = default_device(cfg.device)
    train, val, test = prepare_data(cfg)
    seed_everything(cfg.seed)
    model = build_model(cfg, train.num_classes, train.channels, ctx.progress)
    seed_everything(cfg.seed)
    extract_seconds = 0.0
    if cfg.cache_features and transfer.can_cache_features(cfg.model, cfg.freeze, cfg.augment):
        backbone, head = transfer.split_head(model, cfg.freeze)
        t0 = time.perf_counter()
        feats = {
            name: transfer.extract_features(backbone, TensorLoader(d, 256, shuffle=False, device=device), device)
            for name, d in (("train", train), ("val", val), ("test", test))
        }
        extract_seconds = time.perf_counter() - t0
        loaders = {name: FeatureLoader(*f, batch_size=cfg.batch_size, shuffle=name == "train", device=device, seed=cfg.seed) for name, f in feats.items()}
        train_eval = FeatureLoader(*feats["train"], batch_size=512, shuffle=False, device=device)
        result = fit(head, loaders["train"], loaders["val"], cfg, device=device, checkpoint_path=ctx.checkpoint_path, progress=ctx.progress,
                     desc=cfg.model, on_epoch_end=_train_evaluation(cfg, head, train_eval, device))
        test_loss, test_acc = evaluate(head, loaders["test"], device)
        trained = torch.nn.Sequential(backbone, head)
        mode = "cached features"
    else:
        if cfg.freeze in transfer.TOP_ONLY_POLICIES and cfg.model not in ("inception_v3",):
            model = transfer.frozen_backbone_model(model, cfg.freeze)  # the frozen part runs in eval mode
        augment = build_augment(cfg.augment, cfg.crop_padding, mean=train.mean, std=train.std)
        train_loader = TensorLoader(train, cfg.batch_size, shuffle=True, augment=augment, device=device, seed=cfg.seed, channels_last=device.type == "cuda")
        val_loader = evaluation_batches(val, device=device)
        result = fit(model, train_loader, val_loader, cfg, device=device, checkpoint_path=ctx.checkpoint_path, progress=ctx.progress,
                     desc=cfg.model, on_epoch_end=_train_evaluation(cfg, model, evaluation_batches(train, device=device), device))
        test_loss, test_acc = evaluate(model, evaluation_batches(test, device=device), device)
        trained = model
        mode = "end to end"
    # fit's clock adds up every segment of a resumed run, so this is the cost from an empty cache
    seconds = result.seconds + extract_seconds
    ctx.save_state(_unwrapped_state(trained))
    epochs_run = len(result.history["epoch"])
    return {
        "metrics": {
            "best_val_acc": result.best_val_acc,
            "best_epoch": result.best_epoch,
            "final_val_acc": result.final_val_acc,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "epochs_run": epochs_run,
            "stopped_early": result.stopped_early,
            "train_seconds": seconds,
            "images_per_second": len(train) * epochs_run / max(result.seconds, 1e-9),
            "n_train": len(train),
            "n_val": len(val),
            "n_test": len(test),
            "classes": list(train.classes),
            "training_mode": mode,
            "device": str(device),
        },
        "history": result.history,
    }


def _train_evaluation(cfg: TrainConfig, model: torch.nn.Module, loader, device):
    """With ``cfg.eval_train``: an ``on_epoch_end`` hook adding the eval-mode loss and accuracy on the un-augmented
    training split to each epoch's record (``train_loss``/``train_acc`` are running values in train mode)."""
    if not cfg.eval_train:
        return None

    def hook(epoch: int, record: dict) -> None:
        record["train_eval_loss"], record["train_eval_acc"] = evaluate(model, loader, device)

    return hook


def _unwrapped_state(model: torch.nn.Module) -> dict:
    """State dict with the keys of the plain model (undo the backbone/head wrapping)."""
    if isinstance(model, torch.nn.Sequential) and len(model) == 2:
        backbone = model[0].module if isinstance(model[0], transfer.FrozenModule) else model[0]
        state = {}
        head_key = None
        for name, mod in backbone.named_modules():
            if isinstance(mod, torch.nn.Identity) and name:
                head_key = name
        for k, v in backbone.state_dict().items():
            state[k] = v
        for k, v in model[1].state_dict().items():
            state[f"{head_key}.{k}"] = v
        return state
    return model.state_dict()


def load_trained(result, cfg: TrainConfig | None = None) -> torch.nn.Module:
    """Rebuild the model of a finished ``supervised`` run with its saved weights (eval mode)."""
    cfg = cfg or result.config
    n_classes = len(result.metrics["classes"])
    in_channels = 3 if not models.any_channels(cfg.model) else data_mod.load(cfg.dataset, "test").channels
    model = models.build(cfg.model, num_classes=n_classes, in_channels=in_channels)
    model.load_state_dict(result.load_state())
    return model.eval()


def predictions(result, split: str = "val") -> tuple:
    """Predicted and true labels of a finished run's saved model on its ``"val"`` or ``"test"`` split.

    Derived from a finished run, so cached like one (:func:`reprolib.core.runs.memo`): a
    warm re-execution neither loads the data nor runs the model.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")

    def compute():
        train, val, test = prepare_data(result.config)
        data = {"train": train, "val": val, "test": test}[split]
        logits, labels = predict(load_trained(result), evaluation_batches(data))
        return {"predicted": logits.argmax(1).numpy(), "labels": labels.numpy()}

    out = memo("predictions", f"{result.path}|{split}", compute)
    return out["predicted"], out["labels"]

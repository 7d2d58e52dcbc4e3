"""The ``supervised`` experiment: the workhorse every chapter trains through.

Data selection, model, optional transfer (ImageNet or an offline source model), the
shared trainer, and a final test evaluation of the best validation checkpoint.
``python -m reprolib run supervised --set lr=0.05`` runs one; chapters build
:class:`TrainConfig` objects in their plans.  Chapter-specific experiments register
themselves from their own packages (:mod:`reprolib.core.registry`).
"""
from __future__ import annotations

import dataclasses
import time

import torch

from . import data as data_mod
from . import models, registry, transfer
from .config import ConfigError, option, require
from .loader import FeatureLoader, TensorLoader, build_augment, evaluation_batches
from .runs import RunContext, run
from .train import TrainSpec, default_device, evaluate, fit, predict, seed_everything
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

    def upstream(self) -> list["TrainConfig"]:
        return [self.source_config()] if self.weights == "source" else []

    def source_config(self) -> "TrainConfig":
        """The offline source task: same dataset and architecture, the *other* classes."""
        rest = transfer.source_task_classes(self.classes, data_mod.load(self.dataset, "test").num_classes)
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
    size = cfg.image_size or models.NATIVE_INPUT.get(cfg.model) or None
    if size is None and cfg.model in models.MIN_INPUT and train.size[0] < models.MIN_INPUT[cfg.model]:
        size = models.MIN_INPUT[cfg.model]
    return tuple(None if d is None else data_mod.to_model_input(d, size=size, channels=channels) for d in (train, val, test))


def build_model(cfg: TrainConfig, num_classes: int, in_channels: int, progress: bool = True) -> torch.nn.Module:
    if cfg.weights == "source":
        source = run(cfg.source_config(), progress=progress)
        model = models.build(cfg.model, num_classes=len(cfg.source_config().classes), in_channels=in_channels)
        model.load_state_dict(source.load_state())
        models.replace_head(model, num_classes)
    else:
        model = models.build(cfg.model, num_classes=num_classes, in_channels=in_channels, weights=None if cfg.weights == "none" else cfg.weights)
    return transfer.freeze(model, cfg.freeze)


@registry.experiment(TrainConfig)
def supervised(cfg: TrainConfig, ctx: RunContext) -> dict:
    device = default_device(cfg.device)
    train, val, test = prepare_data(cfg)
    seed_everything(cfg.seed)
    model = build_model(cfg, train.num_classes, train.channels, ctx.progress)
    seed_everything(cfg.seed)
    extract_seconds = 0.0
    if cfg.cache_features and cfg.freeze != "none" and transfer.can_cache_features(cfg.model, cfg.freeze, cfg.augment):
        backbone, head = transfer.split_head(model)
        t0 = time.perf_counter()
        feats = {
            name: transfer.extract_features(backbone, TensorLoader(d, 256, shuffle=False, device=device), device)
            for name, d in (("train", train), ("val", val), ("test", test))
        }
        extract_seconds = time.perf_counter() - t0
        loaders = {name: FeatureLoader(*f, batch_size=cfg.batch_size, shuffle=name == "train", device=device, seed=cfg.seed) for name, f in feats.items()}
        result = fit(head, loaders["train"], loaders["val"], cfg, device=device, checkpoint_path=ctx.checkpoint_path, progress=ctx.progress, desc=cfg.model)
        test_loss, test_acc = evaluate(head, loaders["test"], device)
        trained = torch.nn.Sequential(backbone, head)
        mode = "cached features"
    else:
        if cfg.freeze == "all_but_head" and cfg.model not in ("inception_v3",):
            model = transfer.frozen_backbone_model(model)
        augment = build_augment(cfg.augment, cfg.crop_padding)
        train_loader = TensorLoader(train, cfg.batch_size, shuffle=True, augment=augment, device=device, seed=cfg.seed, channels_last=device.type == "cuda")
        val_loader = evaluation_batches(val, device=device)
        result = fit(model, train_loader, val_loader, cfg, device=device, checkpoint_path=ctx.checkpoint_path, progress=ctx.progress, desc=cfg.model)
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
    """Predicted and true labels of a finished run's saved model on its ``"val"`` or ``"test"`` split."""
    train, val, test = prepare_data(result.config)
    data = {"train": train, "val": val, "test": test}[split]
    logits, labels = predict(load_trained(result), evaluation_batches(data))
    return logits.argmax(1).numpy(), labels.numpy()

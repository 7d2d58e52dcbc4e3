"""The ``eurosat_hw2`` experiment: one training run of seed report 003 (Tasks A, B and C's backbone).

:class:`HomeworkConfig` is :class:`~reprolib.core.supervised.TrainConfig` plus what the
report's three tasks need and the ``supervised`` experiment does not do:

* ``variant="model_b"`` — Task B's Model_B (:mod:`.model_b`) built from the configured DenseNet;
* test loss and accuracy **after every epoch** (the report's "training and test curves" and
  its "best accuracy", which is the best test accuracy over epochs); the model kept is still
  the best on a held-out validation split, and its test accuracy is reported beside it;
* a long-tailed training set (``imbalance_factor``, the exponential profile of Cao et al.,
  LDAM-DRW, NeurIPS 2019) with a balanced validation split, and class-balanced
  oversampling (``sampler="class_balanced"``, Kang et al., ICLR 2020) — Task C's backbone;
* ``weights="rotation"`` — the offline stand-in for ImageNet weights: a source model of the
  same architecture pretrained to predict image rotations (0/90/180/270°, Gidaris et al.,
  ICLR 2018) on training images **disjoint** from the target's (a ``source_fraction`` of the
  training split set aside; no target label and no test image is ever seen by it).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from reprolib.core import data as data_mod
from reprolib.core import models, registry
from reprolib.core.config import ConfigError, option
from reprolib.core.registry import Diverged
from reprolib.core.loader import SAMPLERS, TensorLoader, build_augment, evaluation_batches
from reprolib.core.runs import RunContext, run
from reprolib.core.supervised import TrainConfig, build_model
from reprolib.core.train import default_device, evaluate, fit, predict, seed_everything

from .model_b import to_model_b
from .settings import config_defaults

ROTATIONS = ("0°", "90°", "180°", "270°")
#: fields of a target run that its rotation source model does not inherit (reset to their defaults)
_TARGET_ONLY = ("variant", "noise_std", "noisy_convs", "sampler", "imbalance_factor", "lt_n_max", "test_size",
                "track_test", "augment", "label_smoothing", "scheduler", "plateau_patience", "gamma", "early_stopping",
                "classes", "milestones", "step_size")


@dataclasses.dataclass(frozen=True)
class HomeworkConfig(TrainConfig):
    """A run of seed report 003: fine-tuning (Task A), DenseNet-121 / Model_B (Task B), a long-tailed backbone (Task C)."""

    EXPERIMENT = "eurosat_hw2"
    PROFILE_DEFAULTS = config_defaults()

    weights: str = option("none", choices=("none", "imagenet", "rotation"),
                          help="imagenet = torchvision's; rotation = an offline source model (rotation prediction)")
    task: str = option("classify", choices=("classify", "rotation"), help="rotation = the source task of weights='rotation'")
    variant: str = option("plain", choices=("plain", "model_b"), help="model_b = factorised 3x3 convs + noise (report §B)")
    noise_std: float = option(0.005, low=0.0, help="Model_B's Gaussian noise std")
    noisy_convs: int = option(6, low=0, help="Model_B: noise after this many first conv layers")
    sampler: str = option("random", choices=SAMPLERS, help="class_balanced = oversampling (Kang et al. 2020)")
    imbalance_factor: float = option(1.0, low=1.0, help="long-tailed training set n_max/n_min (1 = balanced)")
    lt_n_max: int = option(0, low=0, help="images of the head class (0 = all the balanced subset has)")
    test_size: int = option(0, low=0, help="stratified subset of the test split (0 = all)")
    source_fraction: float = option(0.0, low=0.0, high=0.9, help="share of the training split set aside for the source task")
    track_test: bool = option(True, help="evaluate the test split after every epoch (the report's curves)")

    def check(self):
        super().check()
        if self.weights == "rotation" and not self.source_fraction:
            raise ConfigError("weights='rotation' pretrains on training images set aside for it; set source_fraction > 0")
        if self.task == "rotation" and (self.weights != "none" or self.imbalance_factor != 1.0):
            raise ConfigError("the rotation source task trains from scratch on balanced data (weights='none', imbalance_factor=1)")

    def upstream(self) -> list["HomeworkConfig"]:
        return [self.source_run()] if self.weights == "rotation" else []

    def source_run(self) -> "HomeworkConfig":
        """The rotation-prediction source model: same data pool split and architecture, plain variant, seed 0,
        ``source_epochs`` on ``source_train_size`` set-aside images (×4 rotations), from scratch (ResNet blocks
        zero-initialised), lr 0.05 with cosine decay (SGD; Adam 1e-3)."""
        fields = {f.name: f.default for f in dataclasses.fields(self) if f.name in _TARGET_ONLY}
        fields.update(task="rotation", weights="none", seed=0, epochs=self.source_epochs, scheduler="cosine",
                      train_size=self.source_train_size or self.train_size, lr=0.05 if self.optimizer == "sgd" else 1e-3,
                      track_test=False)
        return dataclasses.replace(self, **fields)


def rotations(data: data_mod.ImageData) -> data_mod.ImageData:
    """Every image at 0, 90, 180 and 270 degrees, labelled by its rotation (the source task)."""
    if data.size[0] != data.size[1]:
        raise ValueError(f"rotation prediction needs square images, got {data.size}")
    images = torch.cat([torch.rot90(data.images, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(len(data))
    return dataclasses.replace(data, images=images, labels=labels, classes=ROTATIONS, name=f"{data.name}[rotations]")


def prepare(cfg: HomeworkConfig) -> tuple[data_mod.ImageData, data_mod.ImageData, data_mod.ImageData]:
    """(train, val, test) for a config, converted for its model.

    The training split is first divided into the target pool and the source pool (``source_fraction``);
    the target's subset and validation split come from the target pool, the rotation task's from the
    source pool.  A long-tailed training set keeps its validation split balanced (as ImageNet-LT's).
    """
    train_full, test = data_mod.load(cfg.dataset, "train"), data_mod.load(cfg.dataset, "test")
    if cfg.classes:
        train_full, test = (data_mod.select_classes(d, cfg.classes) for d in (train_full, test))
    target_pool, source_pool = (data_mod.stratified_split(train_full, cfg.source_fraction, seed=cfg.data_seed)
                                if cfg.source_fraction else (train_full, None))
    pool = source_pool if cfg.task == "rotation" else target_pool
    if cfg.train_size:
        pool = data_mod.subsample(pool, cfg.train_size, seed=cfg.data_seed)
    train, val = data_mod.stratified_split(pool, cfg.val_fraction, seed=cfg.data_seed)
    if cfg.task == "rotation":
        train, val = rotations(train), rotations(val)
        test = val  # the source task never sees a test image
    else:
        if cfg.imbalance_factor > 1:
            train = data_mod.long_tail(train, cfg.imbalance_factor, seed=cfg.data_seed, n_max=cfg.lt_n_max or None)
        if cfg.test_size:
            test = data_mod.subsample(test, cfg.test_size, seed=cfg.data_seed)
    channels = None if models.any_channels(cfg.model) else 3
    return tuple(data_mod.to_model_input(d, size=cfg.image_size or None, channels=channels) for d in (train, val, test))


def build_network(cfg: HomeworkConfig, num_classes: int, in_channels: int, progress: bool = True,
                  pretrained: bool = True) -> torch.nn.Module:
    """The run's network at the start of its training: ImageNet / rotation-source weights, or a fresh network
    (ResNet blocks zero-initialised, :func:`reprolib.core.models.zero_init_residual`), then Model_B's changes if asked.

    A pretrained DenseNet becomes Model_B with its 3x3 kernels factorised by SVD (``init="svd"``).
    ``pretrained=False`` builds the same module structure with torchvision's default initialisation and no
    weights loaded (the untrained network; or the skeleton to load a saved state into).
    """
    seed_everything(cfg.seed)  # the same fresh weights wherever the network is built
    if cfg.weights == "rotation" and pretrained:
        source = run(cfg.source_run(), progress=progress)
        if source.diverged:  # no weights to start from: this run is not a result either
            raise Diverged(f"its rotation source model diverged ({source.reason})")
        model = models.build(cfg.model, num_classes=len(ROTATIONS), in_channels=in_channels)
        model.load_state_dict(source.load_state())
        models.replace_head(model, num_classes)
    elif pretrained and cfg.weights == "imagenet":
        model = build_model(cfg, num_classes, in_channels, progress)
    else:
        model = models.build(cfg.model, num_classes=num_classes, in_channels=in_channels)
        if pretrained:
            models.zero_init_residual(model)
    if cfg.variant == "model_b":
        init = "svd" if pretrained and cfg.weights != "none" else "fresh"
        model = to_model_b(model, cfg.noise_std, cfg.noisy_convs, noise_seed=cfg.seed, init=init)
    return model


def load_network(result) -> torch.nn.Module:
    """The trained network of a finished run (eval mode)."""
    cfg = result.config
    m = result.metrics
    model = build_network(cfg, len(m["classes"]), m["in_channels"], pretrained=False)
    model.load_state_dict(result.load_state())
    return model.eval()


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float]:
    """Accuracy of each class (recall); NaN for a class with no test image."""
    return [float((pred[labels == c] == c).mean()) if (labels == c).any() else float("nan") for c in range(num_classes)]


@registry.experiment(HomeworkConfig)
def homework(cfg: HomeworkConfig, ctx: RunContext) -> dict:
    device = default_device(cfg.device)
    train, val, test = prepare(cfg)
    model = build_network(cfg, train.num_classes, train.channels, ctx.progress)
    seed_everything(cfg.seed)
    augment = build_augment(cfg.augment, cfg.crop_padding, mean=train.mean, std=train.std)
    loader = TensorLoader(train, cfg.batch_size, shuffle=True, augment=augment, device=device, seed=cfg.seed,
                          channels_last=device.type == "cuda", sampler=cfg.sampler)
    test_batches = evaluation_batches(test, device=device)

    def test_curve(epoch: int, record: dict) -> None:
        if cfg.track_test:
            record["test_loss"], record["test_acc"] = evaluate(model, test_batches, device)

    result = fit(model, loader, evaluation_batches(val, device=device), cfg, device=device, checkpoint_path=ctx.checkpoint_path,
                 progress=ctx.progress, desc=f"{cfg.model} {cfg.variant}", on_epoch_end=test_curve)
    test_loss, test_acc = evaluate(model, test_batches, device)
    logits, labels = predict(model, test_batches, device)
    ctx.save_state(model.state_dict())
    epochs = result.history["epoch"]
    test_accs = [e["test_acc"] for e in epochs if "test_acc" in e]
    return {
        "metrics": {
            "best_val_acc": result.best_val_acc, "best_epoch": result.best_epoch, "final_val_acc": result.final_val_acc,
            "test_acc": test_acc, "test_loss": test_loss,
            "max_test_acc": max(test_accs) if test_accs else float("nan"),
            "final_test_acc": test_accs[-1] if test_accs else float("nan"),
            "final_train_acc": epochs[-1]["train_acc"], "final_train_loss": epochs[-1]["train_loss"],
            "per_class_test_acc": per_class_accuracy(logits.argmax(1).numpy(), labels.numpy(), train.num_classes),
            "train_counts": train.counts().tolist(),
            "parameters": models.count_parameters(model),
            "epochs_run": len(epochs), "train_seconds": result.seconds,
            "n_train": len(train), "n_val": len(val), "n_test": len(test),
            "classes": list(train.classes), "in_channels": train.channels, "image_size": train.size[0],
            "device": str(device),
        },
        "history": result.history,
    }

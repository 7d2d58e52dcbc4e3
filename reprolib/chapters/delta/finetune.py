"""The chapter's two experiments: ``delta_channels`` (channel attention) and ``delta`` (regularised fine-tuning).

Both reuse the ``supervised`` experiment's pieces (:func:`~reprolib.core.supervised.prepare_data`,
:func:`~reprolib.core.supervised.build_model`, the shared trainer and evaluator) and follow the
original code (github.com/lixingjian/DELTA, ``channel_eval.py`` and ``train.py``):

* :class:`ChannelConfig` — a new head is trained alone on the target task (SGD lr 0.01, momentum
  0.9, weight decay 1e-4, batch 32, 10 epochs, lr ×0.1 every 6 epochs exponentially), then
  :func:`~.channels.evaluate_channels` measures each hooked channel on the first 4 batches of
  the shuffled training loader.  Computed once and shared by every DELTA run that names it.
* :class:`DeltaConfig` — fine-tuning of the whole network from the source weights with one of
  ``l2`` (weight decay 1e-4, no explicit regulariser: plain fine-tuning), ``l2_sp`` or ``delta``
  (each + β · classifier L2, no weight decay); SGD lr 0.01, momentum 0.9; STEP-LR or EXP-LR
  (:func:`lr_schedule`); the test accuracy of the **last** epoch is the result.

Transforms (:class:`Views`, the original's ``data_aug``): ``default`` trains on a flip + random
crop of the image stored at ``image_size`` and tests on the image resized to ``crop_size``;
``improved`` ("with augmentation") trains on a flip + centre crop and tests on ten crops
with the logits averaged.  At ImageNet scale ``image_size`` is 256 and ``crop_size`` 224.

Deliberate differences from the original are listed in :data:`DIFFERENCES`.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math

import torch
import torchvision.transforms.v2 as T

from reprolib.core import data as data_mod
from reprolib.core import models, registry
from reprolib.core.config import ConfigError, option
from reprolib.core.loader import TensorLoader, V2PerSample
from reprolib.core.runs import RunContext, run
from reprolib.core.supervised import TrainConfig, build_model, prepare_data
from reprolib.core.train import default_device, evaluate, fit, prepare_model, seed_everything
from reprolib.core.views import TenCrop, center_crop

from . import regularizers as reg
from .channels import TEMPERATURE, channel_weights_from_losses, evaluate_channels, hooked_layers
from .settings import REGULARIZERS, SCHEDULES, TRANSFORMS, config_defaults

DIFFERENCES = (
    "The learning-rate scheduler steps after each epoch's optimizer steps (PyTorch >= 1.1 order), as the "
    "report did; the original steps it first, so its first epoch already runs at lr·γ (EXP-LR) and its STEP-LR "
    "drop comes one epoch earlier.",
    "Feature maps are captured per forward by hooks that exist only during that forward "
    "(reprolib.core.transfer.capture_outputs) instead of global hook lists cleared after each batch.",
    "Channel evaluation removes a channel by replacing that conv's output channel with what a zeroed filter "
    "gives (its bias, or 0), several channels per forward on copies of the batch; the numbers are those of "
    "zeroing weight[j] in place, one channel per forward.",
    "Images are held in memory at `image_size` (square); the transforms run on batches of tensors "
    "(torchvision v2), not on PIL images in DataLoader workers.",
    "The test split is not shuffled (the original shuffles it, which changes nothing but the order).",
    "Epochs are given directly; the original derives them from max_iter as int(max_iter·batch/N) and its "
    "decay epoch as int(0.67·max_iter·batch/N) + 1 — lr_schedule applies the same rule to the epoch count.",
)


def decay_epoch(epochs: int) -> int:
    """The epoch after which train.py decays the lr (STEP-LR's drop; numbered from 1, the last at the high rate):
    int(0.67 · epochs) + 1."""
    return int(0.67 * epochs) + 1


def lr_schedule(kind: str, epochs: int) -> dict:
    """The scheduler fields of DELTA's ``train.py`` for ``epochs`` epochs.

    ``decay = int(0.67 · epochs) + 1``; STEP-LR multiplies the lr by 0.1 once, after ``decay``
    epochs; EXP-LR multiplies it by ``exp(ln 0.1 / decay)`` after every epoch (×0.1 every
    ``decay`` epochs).
    """
    if kind not in SCHEDULES:
        raise ConfigError(f"unknown lr schedule {kind!r}; choose from {list(SCHEDULES)}")
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    decay = decay_epoch(epochs)
    if kind == "steplr":
        return {"scheduler": "step", "step_size": decay, "gamma": 0.1}
    return {"scheduler": "exponential", "step_size": 1, "gamma": math.exp(math.log(0.1) / decay)}


# ---------------------------------------------------------------------------- configs
@functools.lru_cache(maxsize=64)
def _source_config(dataset, classes, train_size, data_seed, image_size, model, source_epochs, source_train_size, device) -> TrainConfig:
    """``TrainConfig.source_config`` of a stand-in target config (cached: it reads the dataset's class count).

    The stand-in holds the source's own subset size (what ``source_config`` trains on either way), so that the
    target's size — which may be smaller than the source's batch — is not checked against the source's batch.
    """
    stand_in = TrainConfig(dataset=dataset, classes=classes, train_size=source_train_size or train_size, data_seed=data_seed,
                           image_size=image_size, model=model, weights="source", source_epochs=source_epochs, source_train_size=source_train_size,
                           batch_size=64, weight_decay=1e-4, device=device)
    return stand_in.source_config()


@dataclasses.dataclass(frozen=True)
class _DeltaData(TrainConfig):
    """What both DELTA stages share: the target data, its transforms and the offline source model."""

    val_fraction: float = option(0.0, low=0.0, high=0.5, help="0: no validation split (DELTA's train.py has none)")
    crop_size: int = option(224, low=1, help="the network's input: crops of images stored at image_size")
    test_size: int = option(0, low=0, help="stratified subset of the test split (0 = all)")
    transforms: str = option("default", choices=TRANSFORMS, help="'improved' = the 'with augmentation' mode (ten-crop test)")

    def check(self):
        super().check()
        if self.image_size and self.crop_size > self.image_size:
            raise ConfigError(f"crop_size={self.crop_size} must not exceed image_size={self.image_size}")
        if self.freeze not in ("none", "all_but_head"):
            raise ConfigError(f"freeze={self.freeze!r}: DELTA fine-tunes everything ('none') or warms up the head ('all_but_head')")

    def source_config(self) -> TrainConfig:
        """The offline source model: the same for every method, seed and stage — trained on the dataset's other
        classes like any ``supervised`` source (SGD lr 0.1, cosine, batch 64, weight decay 1e-4 as torchvision's
        ImageNet recipe, no augmentation, seed 0)."""
        return _source_config(self.dataset, self.classes, self.train_size, self.data_seed, self.image_size, self.model,
                              self.source_epochs, self.source_train_size, self.device)

    def upstream(self) -> list:
        return [self.source_config()] if self.weights == "source" else []


@dataclasses.dataclass(frozen=True)
class ChannelConfig(_DeltaData):
    """Channel evaluation (``channel_eval.py``): head warm-up, then the loss rise of every hooked channel."""

    EXPERIMENT = "delta_channels"
    PROFILE_DEFAULTS = config_defaults("channels")

    freeze: str = option("all_but_head", choices=("all_but_head",), help="only the new head trains in the warm-up")
    epochs: int = option(10, low=1)
    batch_size: int = option(32, low=1, help="run.sh's 32 (the argparse default is 64)")
    lr: float = option(0.01, low=0.0)
    momentum: float = option(0.9, low=0.0, high=1.0)
    weight_decay: float = option(1e-4, low=0.0)
    scheduler: str = option("exponential", choices=("exponential",))
    gamma: float = option(math.exp(math.log(0.1) / 6), low=0.0, high=1.0, help="×0.1 every 6 epochs")
    eval_batches: int = option(4, low=1, help="training batches the channels are evaluated on")


@dataclasses.dataclass(frozen=True)
class DeltaConfig(_DeltaData):
    """One fine-tuning run of DELTA's ``train.py`` (``reg_type`` = ``regularizer``)."""

    EXPERIMENT = "delta"
    PROFILE_DEFAULTS = config_defaults("finetune")

    regularizer: str = option("delta", choices=REGULARIZERS, help="l2 = plain fine-tuning with weight decay")
    alpha: float = option(0.01, low=0.0, help="weight of the feature-map (DELTA) or L2-SP term")
    beta: float = option(0.01, low=0.0, help="weight of the classifier L2 term (not used by l2)")
    temperature: float = option(TEMPERATURE, low=1e-6, help="softmax temperature of the channel weights")
    lr: float = option(0.01, low=0.0)
    momentum: float = option(0.9, low=0.0, high=1.0)
    batch_size: int = option(64, low=1)
    channel_transforms: str = option("default", choices=TRANSFORMS, help="transforms of the channel-evaluation stage")
    warmup_epochs: int = option(10, low=1, help="head warm-up epochs before channel evaluation")
    warmup_batch_size: int = option(32, low=1)
    channel_batches: int = option(4, low=1)
    channel_seed: int = option(0, low=0, help="channel evaluation runs once, shared by every seed")

    def check(self):
        super().check()
        if self.freeze != "none":
            raise ConfigError("DeltaConfig fine-tunes the whole network: freeze must be 'none'")

    def channel_config(self) -> ChannelConfig:
        """The channel-evaluation run whose weights this run uses (DELTA only)."""
        shared = {name: getattr(self, name) for name in _SHARED}
        return ChannelConfig(**shared, transforms=self.channel_transforms, epochs=self.warmup_epochs,
                             batch_size=self.warmup_batch_size, eval_batches=self.channel_batches, seed=self.channel_seed)

    def upstream(self) -> list:
        return super().upstream() + ([self.channel_config()] if self.regularizer == "delta" else [])

    @property
    def schedule(self) -> str:
        """``steplr`` or ``explr`` (or the trainer's scheduler name for anything else)."""
        return {"step": "steplr", "exponential": "explr"}.get(self.scheduler, self.scheduler)


#: the fields a DELTA run hands to its channel-evaluation run (the data, the model and the source)
_SHARED = ("dataset", "classes", "train_size", "data_seed", "image_size", "crop_size", "test_size", "model", "weights",
           "source_epochs", "source_train_size", "device")


# ---------------------------------------------------------------------------- data and views
class Views:
    """The original's ``data_aug`` modes on in-memory batches (module docstring)."""

    def __init__(self, mode: str, crop_size: int):
        if mode not in TRANSFORMS:
            raise ConfigError(f"unknown transforms {mode!r}; choose from {list(TRANSFORMS)}")
        self.mode, self.size = mode, crop_size
        crop = T.RandomCrop(crop_size) if mode == "default" else T.CenterCrop(crop_size)
        self.train = V2PerSample(T.Compose([T.RandomHorizontalFlip(), crop]))

    def test_data(self, test: data_mod.ImageData) -> data_mod.ImageData:
        """``default`` tests on the image resized to the crop size; ``improved`` keeps it for ten crops."""
        return data_mod.to_model_input(test, size=self.size) if self.mode == "default" else test

    def curve_loader(self, test: data_mod.ImageData, device) -> TensorLoader:
        """One view per test image for the per-epoch curve: the resized image, or the centre crop."""
        single = None if self.mode == "default" else (lambda x, generator=None: center_crop(x, self.size))
        return TensorLoader(test, 256, shuffle=False, augment=single, device=device)

    def evaluate(self, model: torch.nn.Module, test: data_mod.ImageData, device) -> tuple[float, float]:
        """The reported test loss and accuracy: one view (``default``) or ten crops, logits averaged (``improved``)."""
        if self.mode == "default":
            return evaluate(model, self.curve_loader(test, device), device)
        return evaluate(TenCrop(model, self.size), TensorLoader(test, 64, shuffle=False, device=device), device)


def delta_data(cfg: _DeltaData) -> tuple[data_mod.ImageData, data_mod.ImageData]:
    """(train, test) of the target task: the training subset (no validation split) and the test subset."""
    train, _, test = prepare_data(cfg)
    if cfg.crop_size > min(train.size):
        raise ConfigError(f"crop_size={cfg.crop_size} exceeds the {train.size[0]} px images; set image_size >= crop_size")
    if cfg.test_size:
        test = data_mod.subsample(test, cfg.test_size, seed=cfg.data_seed)
    return train, Views(cfg.transforms, cfg.crop_size).test_data(test)


def _renamed(history: dict) -> dict:
    """Per-epoch records with the trainer's ``val_*`` named ``test_*`` (DELTA evaluates the test split every epoch)."""
    epochs = [{(k.replace("val_", "test_", 1) if k.startswith("val_") else k): v for k, v in r.items()} for r in history["epoch"]]
    return {**history, "epoch": epochs}


# ---------------------------------------------------------------------------- experiments
def _setup(cfg: _DeltaData, ctx: RunContext):
    """(device, train, test, views, model): the data and the source-initialised network on the device, seeded."""
    device = default_device(cfg.device)
    train, test = delta_data(cfg)
    seed_everything(cfg.seed)
    model = prepare_model(build_model(cfg, train.num_classes, train.channels, ctx.progress), device)
    seed_everything(cfg.seed)
    return device, train, test, Views(cfg.transforms, cfg.crop_size), model


@registry.experiment(ChannelConfig)
def channel_experiment(cfg: ChannelConfig, ctx: RunContext) -> dict:
    device, train, test, views, model = _setup(cfg, ctx)  # freeze: only the head trains
    layers = hooked_layers(model)
    loader = TensorLoader(train, cfg.batch_size, shuffle=True, augment=views.train, device=device, seed=cfg.seed)
    # model.train() during the warm-up: BN running statistics follow the target data, as in channel_eval.py
    result = fit(model, loader, None, cfg, device=device, checkpoint_path=ctx.checkpoint_path, keep_best=False,
                 progress=ctx.progress, desc="head warm-up")
    test_loss, test_acc = views.evaluate(model, test, device)
    losses = evaluate_channels(model, layers, itertools.islice(iter(loader), cfg.eval_batches))
    for i, values in enumerate(losses):
        ctx.save_array(f"loss_increase_{i}", values.numpy())
    ctx.save_state(model.state_dict())
    return {
        "metrics": {"layers": layers, "channels": [len(v) for v in losses], "warmup_train_acc": result.history["epoch"][-1]["train_acc"],
                    "warmup_test_acc": test_acc, "warmup_test_loss": test_loss, "train_seconds": result.seconds,
                    "n_train": len(train), "n_test": len(test), "classes": list(train.classes), "device": str(device)},
        "history": result.history,
    }


def channel_losses(result) -> list[torch.Tensor]:
    """The per-layer loss increases stored by a finished ``delta_channels`` run."""
    return [torch.from_numpy(result.load_array(f"loss_increase_{i}")) for i in range(len(result.metrics["layers"]))]


def _regularised(cfg: DeltaConfig, model: torch.nn.Module, device, progress: bool):
    """(loss_fn, extra_loss, terms) for the shared trainer; ``terms(model, x, y)`` splits the final loss for the record."""
    if cfg.regularizer == "l2":  # plain fine-tuning: weight decay in the optimizer, nothing else
        return None, None, None
    cls = reg.classifier_loss(cfg.beta)
    if cfg.regularizer == "l2_sp":
        start = reg.starting_point(model)
        return None, reg.l2sp_loss(start, cfg.alpha, cfg.beta), lambda m, x, y: cfg.alpha * reg.l2sp_regularizer(m, start, reg.head_prefixes(m))
    channels = run(cfg.channel_config(), progress=progress)
    weights = [channel_weights_from_losses(d, cfg.temperature).to(device) for d in channel_losses(channels)]
    layers = hooked_layers(model)
    source = prepare_model(copy.deepcopy(model), device)
    loss_fn = reg.delta_loss(source, layers, weights, cfg.alpha, cfg.label_smoothing)

    def feature_term(m, x, y):
        full, logits = loss_fn(m, x, y)
        return full - torch.nn.functional.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)

    return loss_fn, cls, feature_term


@torch.no_grad()
def _loss_terms(model, loader, feature_term, beta: float, batches: int = 4) -> dict:
    """Cross-entropy, α·Ω_feature and β·Ω_classifier of the final model on a few training batches (eval mode)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    ce, feat, n = 0.0, 0.0, 0
    for x, y in itertools.islice(iter(loader), batches):
        x, y = x.to(device), y.to(device)
        ce += torch.nn.functional.cross_entropy(model(x), y).item()
        feat += feature_term(model, x, y).item() if feature_term is not None else 0.0
        n += 1
    model.train(was)
    cls = beta * reg.classifier_loss(1.0)(model).item() if feature_term is not None else 0.0
    return {"end_cross_entropy": ce / max(n, 1), "end_feature_term": feat / max(n, 1), "end_classifier_term": cls}


@registry.experiment(DeltaConfig)
def delta_experiment(cfg: DeltaConfig, ctx: RunContext) -> dict:
    device, train, test, views, model = _setup(cfg, ctx)
    loss_fn, extra_loss, feature_term = _regularised(cfg, model, device, ctx.progress)
    loader = TensorLoader(train, cfg.batch_size, shuffle=True, augment=views.train, device=device, seed=cfg.seed,
                          channels_last=device.type == "cuda")
    result = fit(model, loader, views.curve_loader(test, device), cfg, loss_fn=loss_fn, extra_loss=extra_loss, device=device,
                 checkpoint_path=ctx.checkpoint_path, keep_best=False, progress=ctx.progress,
                 desc=f"{cfg.regularizer} {cfg.schedule} {cfg.transforms}")
    test_loss, test_acc = views.evaluate(model, test, device)
    history = _renamed(result.history)
    last = history["epoch"][-1]
    ctx.save_state(model.state_dict())
    epochs_run = len(history["epoch"])
    return {
        "metrics": {
            "test_acc": test_acc,  # the last epoch's model, ten crops in 'improved' mode (what the report tabulates)
            "test_loss": test_loss,
            "last_epoch_test_acc": last["test_acc"],  # one view per image (the curve)
            "last_epoch_train_acc": last["train_acc"],
            "epochs_run": epochs_run,
            "train_seconds": result.seconds,
            "images_per_second": len(train) * epochs_run / max(result.seconds, 1e-9),
            "n_train": len(train),
            "n_test": len(test),
            "classes": list(train.classes),
            "layers": hooked_layers(model),
            "device": str(device),
            **_loss_terms(model, loader, feature_term, cfg.beta),
        },
        "history": history,
    }


def _network(model_name: str, state: dict) -> torch.nn.Module:
    """``model_name`` built for the head and input channels of ``state`` and loaded with it, in eval mode."""
    head = [k for k in state if k.endswith(".weight") and state[k].ndim == 2][-1]
    first_conv = next(k for k in state if k.endswith(".weight") and state[k].ndim == 4)
    in_channels = state[first_conv].shape[1] if models.any_channels(model_name) else 3
    model = models.build(model_name, num_classes=state[head].shape[0], in_channels=in_channels)
    model.load_state_dict(state)
    return model.eval()


def load_model(result) -> torch.nn.Module:
    """The fine-tuned (or warmed-up) network of a finished ``delta`` / ``delta_channels`` run, in eval mode."""
    return _network(result.config.model, result.load_state())


def source_network(cfg: _DeltaData) -> torch.nn.Module:
    """The pretrained network every run of ``cfg``'s setting starts from, with the source's own head, in eval mode:
    the offline source run's weights (trained if not cached) or torchvision's ImageNet weights."""
    if cfg.weights == "imagenet":
        return models.load_imagenet(cfg.model).eval()
    if cfg.weights != "source":
        raise ValueError(f"weights={cfg.weights!r}: a run from scratch has no source network")
    return _network(cfg.model, run(cfg.source_config(), progress=False).load_state())


__all__ = ["DeltaConfig", "ChannelConfig", "lr_schedule", "Views", "delta_data", "channel_losses", "load_model",
           "source_network", "DIFFERENCES"]

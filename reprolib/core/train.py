"""The one supervised training loop every chapter uses.

``fit(model, train_loader, val_loader, spec)`` trains with SGD (momentum, Nesterov,
weight decay) or Adam and one of the usual schedulers, keeps the best-on-validation
weights, stops early when asked, records history per step and per epoch, shows tqdm
progress, checkpoints every epoch so an interrupted run resumes, and uses CUDA with
AMP and ``channels_last`` when a GPU is present.

A diverged run is never a result.  :class:`Diverged` stops the run, naming where, when

* the loss is NaN or infinite (checked every step);
* a parameter or buffer (e.g. a BatchNorm running variance) is NaN or infinite, or the
  validation loss is (checked every epoch);
* an epoch's mean training loss exceeds :data:`LOSS_BLOWUP` times the first step's loss
  (at least 1): the loss is finite but has exploded;
* the monitored accuracy falls back to chance level after it was well above it
  (:func:`collapsed_to_chance`) for two epochs in a row, or at the last epoch.

The run cache (:mod:`reprolib.core.runs`) stores such a run as *diverged*.  A checkpoint
that cannot be read (truncated, garbage, or holding anything but tensors, numbers and
strings) is discarded with a :class:`CorruptCheckpointWarning` and the run restarts.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed, fastpath
from .config import ConfigError, option
from .fastpath import ComputeOptions
from .io import atomic_torch_save
from .registry import Diverged

OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = ("none", "step", "multistep", "exponential", "cosine", "plateau")
#: an epoch whose mean training loss exceeds this multiple of the first step's loss (at least 1) has diverged
LOSS_BLOWUP = 100.0


def check_finite(name: str, value: torch.Tensor, where: str) -> None:
    """Raise :class:`Diverged` naming the quantity and the step when ``value`` has a NaN or infinity."""
    if not torch.isfinite(value).all():
        raise Diverged(
            f"training diverged: {name} is not finite at {where}. The run is stopped and no result is "
            "reported; lower the learning rate(s) or change the seed."
        )


def nonfinite_tensor(model: nn.Module) -> str | None:
    """The name of the first parameter or buffer (e.g. a BN running variance) holding a NaN or infinity, else None."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return name
    return None


def check_model_finite(model: nn.Module, where: str) -> None:
    """Raise :class:`Diverged` naming the first parameter or buffer that is not finite."""
    name = nonfinite_tensor(model)
    if name is not None:
        check_finite(f"the model's {name}", model.state_dict()[name], where)


def collapsed_to_chance(accuracy: float, best: float, num_classes: int) -> bool:
    """Whether an accuracy is back at chance after the run was well above it.

    Chance is 1/C.  "Well above" is at least halfway from chance to 100% (0.55 for ten
    classes, 0.75 for two); "at chance" is within 5% of that gap (0.145; 0.525).  A run
    that learned and then lost everything has diverged, even with a finite loss.
    """
    if num_classes < 2:
        return False
    chance = 1.0 / num_classes
    return best >= chance + 0.5 * (1 - chance) and accuracy <= chance + 0.05 * (1 - chance)


class CorruptCheckpointWarning(UserWarning):
    """A resumable checkpoint could not be read; it was discarded and the run restarts."""


def discard_checkpoint(path: str | os.PathLike, err: BaseException) -> None:
    """Remove an unusable checkpoint with a warning naming it and why."""
    reason = (str(err).strip().splitlines() or [""])[0][:200]
    warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {reason}); discarded, the run restarts "
                  "from the beginning", CorruptCheckpointWarning, stacklevel=3)
    Path(path).unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike | None, device=None, required: tuple[str, ...] = ()) -> dict | None:
    """The saved training state at ``path``, or None when there is none or it is unusable.

    Loaded with ``torch.load(weights_only=True)``: a checkpoint holds plain tensors,
    numbers, strings and containers of them, so a tampered file cannot run code (it
    fails to load).  A truncated, garbage or tampered file, or one without the
    ``required`` keys, is discarded with a :class:`CorruptCheckpointWarning`.
    """
    if path is None or not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"expected a dict, got {type(state).__name__}")
        missing = [k for k in required if k not in state]
        if missing:
            raise KeyError(f"missing {missing}")
        return state
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is discarded, never fatal
        discard_checkpoint(path, err)
        return None


# ---------------------------------------------------------------------------- environment
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def default_device(prefer: str = "auto") -> torch.device:
    """``cuda`` when available (or requested; under torchrun this rank's GPU), else ``cpu``."""
    if prefer == "auto":
        return distributed.device()
    device = torch.device(prefer)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda': no CUDA GPU is available here; use device='auto' (a GPU when there is one) or 'cpu'")
    return device


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move to ``device``; on CUDA use ``channels_last`` memory format (faster convs with AMP)."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    return model


def training_path(model: nn.Module, train_loader, spec, device: torch.device) -> fastpath.ComputePath:
    """The precision / memory format ``fit`` trains on (:mod:`reprolib.core.fastpath`: measured once per machine and model).

    The workload is the model (its class and size) on batches shaped like the loader's;
    a loader that does not expose its tensors trains on fp32 NCHW (CUDA: AMP + channels_last).
    """
    precision = getattr(spec, "precision", "fp32")
    images, labels = getattr(train_loader, "images", None), getattr(train_loader, "labels", None)
    if images is None or labels is None or not len(labels):
        caps = fastpath.detect(device.type)
        return fastpath.candidates(caps, precision, image_input=True)[0]
    shape = (min(train_loader.batch_size, len(labels)), *images.shape[1:])
    return fastpath.training_path(model, shape, int(labels.max()) + 1, precision=precision, device=device)


# ---------------------------------------------------------------------------- spec
@dataclasses.dataclass(frozen=True)
class TrainSpec(ComputeOptions):
    """Optimisation hyperparameters of a supervised run (shared by every experiment config).

    ``precision`` and ``threads`` (from :class:`reprolib.core.fastpath.ComputeOptions`) are
    keyed only when not at their defaults (fp32, one thread), so earlier keys stand.
    """

    epochs: int = option(10, low=1)
    batch_size: int = option(128, low=1)
    optimizer: str = option("sgd", choices=OPTIMIZERS)
    lr: float = option(0.1, low=0.0)
    momentum: float = option(0.9, low=0.0, high=1.0)
    nesterov: bool = option(False)
    weight_decay: float = option(0.0, low=0.0)
    scheduler: str = option("none", choices=SCHEDULERS)
    step_size: int = option(1, low=1, help="StepLR period in epochs")
    milestones: tuple[int, ...] = option((), low=1, help="MultiStepLR epochs")
    gamma: float = option(0.1, low=0.0, high=1.0, help="lr factor for step/multistep/exponential/plateau")
    plateau_patience: int = option(2, low=0)
    label_smoothing: float = option(0.0, low=0.0, high=1.0)
    early_stopping: int = option(0, low=0, help="stop after this many epochs without a better validation accuracy (0 = off)")
    grad_clip: float = option(0.0, low=0.0, help="clip the gradient norm (0 = off)")
    aux_weight: float = option(0.4, low=0.0, help="weight of Inception v3's auxiliary loss (Szegedy et al. 2016; seed report 002 §1.4)")
    seed: int = option(0, low=0)

    def check(self):
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' and momentum > 0")
        if self.scheduler == "multistep" and not self.milestones:
            raise ConfigError("scheduler='multistep' needs milestones, e.g. milestones=(30, 60)")


def make_optimizer(params, spec: TrainSpec) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters (is everything frozen?)")
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=spec.weight_decay)
    return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)


def make_scheduler(optimizer, spec: TrainSpec):
    """Epoch-level schedulers; ``fit`` steps them after each epoch's optimizer steps (PyTorch ≥ 1.1 order)."""
    s = spec.scheduler
    if s == "none":
        return None
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec.step_size, gamma=spec.gamma)
    if s == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(spec.milestones), gamma=spec.gamma)
    if s == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=spec.gamma)
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.epochs)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=spec.gamma, patience=spec.plateau_patience)


# ---------------------------------------------------------------------------- losses
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def classification_loss(label_smoothing: float = 0.0, aux_weight: float = 0.4) -> LossFn:
    """Cross-entropy; Inception v3's auxiliary output adds ``aux_weight`` × its own CE in training."""

    def loss_fn(model, x, y):
        out = model(x)
        if hasattr(out, "aux_logits") and out.aux_logits is not None:  # InceptionOutputs in train mode
            loss = F.cross_entropy(out.logits, y, label_smoothing=label_smoothing)
            loss = loss + aux_weight * F.cross_entropy(out.aux_logits, y, label_smoothing=label_smoothing)
            return loss, out.logits
        logits = out.logits if hasattr(out, "logits") else out
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing), logits

    return loss_fn


def _logits(out):
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def evaluate(model: nn.Module, loader, device=None, amp: bool | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over every sample of ``loader`` (counts accumulated)."""
    device = device or next(model.parameters()).device
    amp = device.type == "cuda" if amp is None else amp
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            logits = _logits(model(x))
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    model.train(was_training)
    total_loss, correct, count = distributed.all_reduce_sum(total_loss, correct, count)  # every rank's shard
    if count == 0:
        raise ValueError("evaluate: the loader produced no samples")
    return total_loss / count, correct / count


@torch.no_grad()
def predict(model: nn.Module, loader, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels for every sample of ``loader`` (CPU tensors)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs, labels = [], []
    for x, y in loader:
        outs.append(_logits(model(x.to(device))).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(outs), torch.cat(labels)


# ---------------------------------------------------------------------------- fit
_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "scaler", "history", "best_acc", "best_epoch", "best_state",
                    "since_best", "epoch", "elapsed", "loader", "torch_rng")


def _at_chance_before(history: dict, record: dict, best_before: float, num_classes: int) -> bool:
    """Whether the epoch before ``record`` was at chance too (a collapse that lasts, not a one-epoch dip)."""
    key = "val_acc" if "val_acc" in record else "train_acc"
    return bool(history["epoch"]) and collapsed_to_chance(history["epoch"][-1].get(key, 1.0), best_before, num_classes)


def _check_epoch(model: nn.Module, record: dict, metric: float, best_before: float, num_classes: int, history: dict,
                 desc: str, last: bool) -> None:
    """Raise :class:`Diverged` (with the history up to this epoch) when the epoch shows a divergence (module docstring)."""
    where = f"epoch {record['epoch']}"
    first = history["step"][0]["loss"] if history["step"] else None
    bad_tensor = nonfinite_tensor(model)
    if bad_tensor is not None:
        reason = f"the model's {bad_tensor} is not finite at the end of {where}"
    elif first is not None and record["train_loss"] > LOSS_BLOWUP * max(abs(first), 1.0):
        reason = (f"the mean training loss of {where} is {record['train_loss']:.3g}, more than {LOSS_BLOWUP:g}x the "
                  f"first step's {first:.3g}")
    elif not math.isfinite(record.get("val_loss", 0.0)):
        reason = f"the validation loss is {record['val_loss']} after {where}"
    elif collapsed_to_chance(metric, best_before, num_classes) and (last or _at_chance_before(history, record, best_before, num_classes)):
        reason = f"accuracy fell to {metric:.3f} after {where} (chance: {1 / num_classes:.3f}) after reaching {best_before:.3f}"
    else:
        return
    raise Diverged(f"{desc}: training diverged: {reason}. The run is stopped and not reported as a result; "
                   "lower the learning rate or change the seed.",
                   history={**history, "epoch": history["epoch"] + [record]})


@dataclasses.dataclass
class FitResult:
    history: dict  # {"step": [...], "epoch": [...]}
    best_epoch: int
    best_val_acc: float
    final_val_acc: float
    seconds: float
    stopped_early: bool = False


def _finite_everywhere(loss: torch.Tensor) -> bool:
    """The loss is finite on every rank (one rank stopping alone would leave the others waiting)."""
    bad = float(not torch.isfinite(loss).item())
    return distributed.all_reduce_sum(bad)[0] == 0 if distributed.active() else not bad


def fit(
    model: nn.Module,
    train_loader,
    val_loader,
    spec: TrainSpec,
    *,
    loss_fn: LossFn | None = None,
    extra_loss: Callable[[nn.Module], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    keep_best: bool = True,
    progress: bool = True,
    desc: str = "train",
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Train ``model`` in place; afterwards it holds the best-on-validation weights (if ``keep_best``).

    ``loss_fn(model, x, y) -> (loss, logits)`` replaces the classification loss (e.g. KD+AT);
    ``extra_loss(model)`` adds a regulariser (e.g. L2-SP, DELTA).  With ``checkpoint_path`` the
    full training state is saved after every epoch and training resumes from it.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else default_device()
    model = prepare_model(model, device)
    path = training_path(model, train_loader, spec, device)
    model = path.prepare(model)
    trained = distributed.wrap(model)  # DistributedDataParallel under torchrun, the model itself otherwise
    amp = device.type == "cuda"  # evaluation under autocast on CUDA only (a CPU evaluates in fp32)
    loss_fn = loss_fn or classification_loss(spec.label_smoothing, spec.aux_weight)
    optimizer = make_optimizer(model.parameters(), spec)
    scheduler = make_scheduler(optimizer, spec)
    scaler = torch.amp.GradScaler("cuda", enabled=path.grad_scaling)
    history = {"step": [], "epoch": []}
    best_acc, best_epoch, best_state, since_best, start_epoch = -1.0, -1, None, 0, 0
    elapsed = 0.0

    state = load_checkpoint(checkpoint_path, device, _CHECKPOINT_KEYS)
    if state is not None:
        fresh = copy.deepcopy(model.state_dict())
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state["scheduler"] is not None:
                scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            history, best_acc, best_epoch = state["history"], state["best_acc"], state["best_epoch"]
            best_state, since_best, start_epoch, elapsed = state["best_state"], state["since_best"], state["epoch"] + 1, state["elapsed"]
            if hasattr(train_loader, "load_state_dict"):
                train_loader.load_state_dict(state["loader"])
            torch.set_rng_state(state["torch_rng"])
        except Exception as err:  # noqa: BLE001 - a checkpoint that does not fit this run is discarded
            discard_checkpoint(checkpoint_path, err)
            model.load_state_dict(fresh)
            optimizer = make_optimizer(model.parameters(), spec)
            scheduler = make_scheduler(optimizer, spec)
            scaler = torch.amp.GradScaler("cuda", enabled=path.grad_scaling)
            history = {"step": [], "epoch": []}
            best_acc, best_epoch, best_state, since_best, start_epoch, elapsed = -1.0, -1, None, 0, 0, 0.0
        else:
            print(f"{desc}: resuming from epoch {start_epoch} ({start_epoch} of {spec.epochs} epochs done; "
                  f"checkpoint {checkpoint_path})", file=sys.stderr, flush=True)

    step = len(history["step"])
    stopped_early, num_classes = False, 0
    epochs = range(start_epoch, spec.epochs)
    bar = tqdm(epochs, desc=desc, leave=False, disable=not progress, initial=start_epoch, total=spec.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        run_loss, run_correct, run_count = 0.0, 0, 0
        for x, y in train_loader:
            x, y = path.format_input(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
            with path.autocast():
                loss, logits = loss_fn(trained, x, y)
                if extra_loss is not None:
                    loss = loss + extra_loss(model)
            if not _finite_everywhere(loss):
                raise Diverged(f"{desc}: loss became {loss.item()} at step {step} (epoch {epoch}); the run diverged — "
                               "lower the learning rate or check the inputs", history=history)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if spec.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            lval = loss.item()
            history["step"].append({"step": step, "epoch": epoch, "loss": lval, "lr": optimizer.param_groups[0]["lr"]})
            run_loss += lval * len(y)
            run_correct += (logits.detach().argmax(1) == y).sum().item()
            run_count += len(y)
            num_classes = logits.shape[-1]
            step += 1
        run_loss, run_correct, run_count = distributed.all_reduce_sum(run_loss, run_correct, run_count)
        record = {
            "epoch": epoch,
            "train_loss": run_loss / max(run_count, 1),
            "train_acc": run_correct / max(run_count, 1),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if val_loader is not None:
            record["val_loss"], record["val_acc"] = evaluate(model, val_loader, device, amp)
            metric = record["val_acc"]
        else:
            metric = record["train_acc"]
        _check_epoch(model, record, metric, best_acc, num_classes, history, desc, last=epoch == spec.epochs - 1)
        if scheduler is not None:
            scheduler.step(metric) if spec.scheduler == "plateau" else scheduler.step()
        if metric > best_acc:
            best_acc, best_epoch, since_best = metric, epoch, 0
            if keep_best:
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            since_best += 1
        elapsed += time.perf_counter() - t0
        record["seconds"] = elapsed
        history["epoch"].append(record)
        bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k.endswith("acc")})
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
        if spec.early_stopping and since_best >= spec.early_stopping:
            stopped_early = True
        if checkpoint_path is not None and distributed.is_main():  # every rank holds the same state
            atomic_torch_save(
                dict(
                    model=model.state_dict(),
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict() if scheduler is not None else None,
                    scaler=scaler.state_dict(),
                    history=history,
                    best_acc=best_acc,
                    best_epoch=best_epoch,
                    best_state=best_state,
                    since_best=since_best,
                    epoch=epoch if not stopped_early else spec.epochs - 1,
                    elapsed=elapsed,
                    loader=train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
                    torch_rng=torch.get_rng_state(),
                ),
                checkpoint_path,
            )
        if stopped_early:
            break
    bar.close()
    final_acc = history["epoch"][-1].get("val_acc", history["epoch"][-1]["train_acc"]) if history["epoch"] else float("nan")
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(history, best_epoch, best_acc, final_acc, elapsed, stopped_early)

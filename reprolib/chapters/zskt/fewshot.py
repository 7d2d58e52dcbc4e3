"""FewShotKT's KD+AT baseline and the no-teacher baseline: the ``fewshot_kdat`` experiment.

M images per class; the student learns from them with KD+AT against the teacher
(FewShotKnowledgeTransfer ``solver.py``), or with cross-entropy alone (``mode='none'``),
through the shared :func:`reprolib.core.train.fit`.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from reprolib.core import data as data_mod
from reprolib.core import models, registry
from reprolib.core.config import Config, option
from reprolib.core.loader import TensorLoader, build_augment, evaluation_batches
from reprolib.core.runs import RunContext
from reprolib.core.train import TrainSpec, default_device, evaluate, fit, seed_everything

from . import distill
from .settings import config_defaults
from .teachers import PairMixin
from .zeroshot import load_eval_data, load_teacher

@dataclasses.dataclass(frozen=True)
class FewShotConfig(PairMixin, TrainSpec):
    """FewShotKT baseline: M images per class, KD+AT with the teacher (or CE alone with ``mode='none'``)."""

    EXPERIMENT = "fewshot_kdat"
    PROFILE_DEFAULTS = config_defaults("fewshot")

    dataset: str = option("fashion_mnist")
    image_size: int = option(0, low=0)
    teacher: str = option("wrn-16-2")
    student: str = option("wrn-10-1")
    teacher_epochs: int = option(4, low=1)
    teacher_train_size: int = option(0, low=0)
    teacher_augment: tuple[str, ...] = option((), choices=("crop", "flip"))
    teacher_seed: int = option(0, low=0)
    mode: str = option("kd+at", choices=("kd+at", "none"), help="'none' = student on the M images with CE only")
    m: int = option(10, low=1, help="images per class")
    steps: int = option(400, low=1, help="optimizer steps (the original scales epochs to keep ~80k iterations)")
    temperature: float = option(4.0, low=0.01)
    alpha: float = option(0.9, low=0.0, high=1.0)
    at_beta: float = option(1000.0, low=0.0)
    beta_units: str = option("maps", choices=("maps", "paper"), added=True,
                             help="'paper': at_beta in the paper's units at any input size (distill.paper_beta_scale)")
    augment: tuple[str, ...] = option((), choices=("crop", "flip"))
    device: str = option("auto", choices=("auto", "cpu", "cuda"))
    # FewShotKT optimisation (SGD 0.1, momentum 0.9, wd 5e-4, ×0.2 at 30/60/80% of training)
    lr: float = option(0.1, low=0.0)
    weight_decay: float = option(5e-4, low=0.0)
    scheduler: str = option("multistep", choices=("multistep", "cosine", "none"))
    milestones: tuple[int, ...] = option((30, 60, 80), low=1, help="percent of training")
    gamma: float = option(0.2, low=0.0, high=1.0)
    epochs: int = option(1, low=1, help="derived from steps; ignored")

    def check(self):
        self._check_common()

    def upstream(self) -> list[Config]:
        return [self.teacher_config()] if self.mode == "kd+at" else []


@registry.experiment(FewShotConfig)
def fewshot_experiment(cfg: FewShotConfig, ctx: RunContext) -> dict:
    device = default_device(cfg.device)
    train_full = load_eval_data(cfg.dataset, cfg.image_size, "train")
    test = load_eval_data(cfg.dataset, cfg.image_size, "test")
    shots = data_mod.few_shot(train_full, cfg.m, seed=cfg.seed)
    batch = min(cfg.batch_size, len(shots))
    per_epoch = math.ceil(len(shots) / batch)
    epochs = max(1, math.ceil(cfg.steps / per_epoch))
    spec = TrainSpec(
        epochs=epochs, batch_size=batch, optimizer="sgd", lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay,
        scheduler=cfg.scheduler, milestones=tuple(sorted({max(1, round(epochs * p / 100)) for p in cfg.milestones})) if cfg.scheduler == "multistep" else (),
        gamma=cfg.gamma, seed=cfg.seed,
    )
    seed_everything(cfg.seed)
    student = models.build(cfg.student, test.num_classes, test.channels)
    loss_fn, tinfo = None, {}
    if cfg.mode == "kd+at":
        teacher, tinfo = load_teacher(cfg, ctx.progress)
        teacher = teacher.to(device)
        for p in teacher.parameters():
            p.requires_grad_(False)
        distill.check_groups(teacher, student)
        at_beta = cfg.at_beta * cfg.at_scale(test.size[0])

        def loss_fn(model, x, y):
            s_logits, s_groups = model.forward_groups(x)
            with torch.no_grad():
                t_logits, t_groups = teacher.forward_groups(x)
            return distill.kd_at_loss(s_logits, s_groups, t_logits, t_groups, y, cfg.temperature, cfg.alpha, at_beta), s_logits

    seed_everything(cfg.seed)
    loader = TensorLoader(shots, batch, shuffle=True, augment=build_augment(cfg.augment), device=device, seed=cfg.seed)
    result = fit(student, loader, None, spec, loss_fn=loss_fn, device=device, checkpoint_path=ctx.checkpoint_path,
                 keep_best=False, progress=ctx.progress, desc=f"{cfg.mode} M={cfg.m}")
    test_loss, test_acc = evaluate(student, evaluation_batches(test, device=device), device)
    ctx.save_state(student.state_dict())
    return {
        "metrics": {"test_acc": test_acc, "test_loss": test_loss, "train_seconds": result.seconds, "epochs": epochs,
                    "steps": epochs * per_epoch, "n_train": len(shots), "num_classes": test.num_classes,
                    "channels": test.channels, **tinfo},
        "history": {"epoch": result.history["epoch"]},
    }

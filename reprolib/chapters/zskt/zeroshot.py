"""Zero-shot knowledge transfer (ZSKT, Micaelli & Storkey 2019): the ``zeroshot`` experiment.

Adversarial belief matching, Algorithm 1 of the paper as implemented in the original
``solver.py`` (github.com/polo5/ZeroShotKnowledgeTransfer): one z batch per outer
iteration, n_G generator steps that maximise KL(T‖S), then n_S student steps on the
post-update images minimising KL + β·Σ AT.  The teacher is itself a cached
``supervised`` run (or, for the chain experiment of report §5.2, a cached zero-shot
student), so one teacher serves every student config that names it.

Deliberate differences from the original code are listed in :data:`DIFFERENCES`.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

from reprolib.core import data as data_mod
from reprolib.core import models, registry
from reprolib.core.config import Config, ConfigError, option
from reprolib.core.fastpath import ThreadOptions, training_path
from reprolib.core.io import atomic_torch_save
from reprolib.core.loader import evaluation_batches
from reprolib.core.runs import RunContext, run
from reprolib.core.supervised import load_trained
from reprolib.core.train import (Diverged, check_finite, check_model_finite, default_device, discard_checkpoint, evaluate,
                                 load_checkpoint, seed_everything)

from . import distill
from .settings import config_defaults
from .teachers import PairMixin

DIFFERENCES = (
    "Generator images are detached for the student steps (the original lets gradients flow into the "
    "generator's .grad and discards them: same result, less compute).",
    "The teacher is frozen explicitly (requires_grad_(False)) instead of implicitly by not being in an optimizer.",
    "Intermediate test accuracies (for the accuracy-over-iterations curve) use a fixed stratified subset of the "
    "test split at the cpu/smoke profiles; the final accuracy is always on the whole test split.",
    "The generator adapts its output channels and size to the dataset (the original is fixed to 3x32x32).",
    "A non-finite loss or generated image stops the run with an error instead of training on.",
)

NG_SCHEDULES = ("constant", "dynamic")


@dataclasses.dataclass(frozen=True)
class ZeroShotConfig(PairMixin, ThreadOptions):
    """One zero-shot student (report §4.2 / paper Algorithm 1)."""

    EXPERIMENT = "zeroshot"
    PROFILE_DEFAULTS = config_defaults("zeroshot")

    dataset: str = option("fashion_mnist")
    image_size: int = option(0, low=0, help="resize images to this size (0 = native); must be a multiple of 4")
    teacher: str = option("wrn-16-2", help="teacher WRN, trained with the supervised experiment")
    teacher_via: tuple[str, ...] = option((), help="chain (report §5.2): teacher → via[0] → … → student, each link zero-shot")
    student: str = option("wrn-10-1")
    teacher_epochs: int = option(4, low=1)
    teacher_train_size: int = option(0, low=0, help="stratified subset of the training split for the teacher (0 = all)")
    teacher_augment: tuple[str, ...] = option((), choices=("crop", "flip"))
    teacher_seed: int = option(0, low=0, help="the teacher is trained once and shared across student seeds")
    iterations: int = option(250, low=1, help="outer iterations ('pseudo batches'), 8e4 in the paper")
    batch_size: int = option(128, low=2)
    z_dim: int = option(100, low=1)
    n_g: int = option(1, low=1, help="generator steps per iteration")
    n_s: int = option(10, low=1, help="student steps per iteration")
    ng_schedule: str = option("constant", choices=NG_SCHEDULES, help="'dynamic': n_g ×1, ×2 after 1/3, ×4 after 2/3 (report §5.1)")
    lr_student: float = option(2e-3, low=0.0)
    lr_generator: float = option(1e-3, low=0.0)
    beta: float = option(250.0, low=0.0, help="AT weight against the 'mean'-reduced KL (= β/C against batchmean)")
    beta_units: str = option("maps", choices=("maps", "paper"), added=True,
                             help="'paper': β in the paper's units at any input size (see distill.paper_beta_scale); "
                                  "'maps': applied to the per-position mean as is (the original code at 32 px)")
    grad_clip: float = option(5.0, low=0.0)
    gen_width: float = option(1.0, low=0.05, high=4.0, help="generator channels relative to the original 128/64")
    eval_points: int = option(10, low=1, help="test evaluations over training (accuracy curve)")
    eval_size: int = option(2000, low=0, help="test images for intermediate evaluations (0 = all); the final one uses all")
    sample_points: int = option(5, low=1, help="generator sample grids saved over training")
    checkpoint_every: int = option(50, low=1, help="iterations between resumable checkpoints")
    seed: int = option(0, low=0)
    device: str = option("auto", choices=("auto", "cpu", "cuda"))

    def check(self):
        self._check_common()
        if self.image_size and self.image_size % 4:
            raise ConfigError(f"image_size={self.image_size}: the generator doubles twice, so it must be a multiple of 4")
        if self.n_s < self.n_g:
            raise ConfigError(f"n_s={self.n_s} < n_g={self.n_g}: the method takes more student than generator steps")

    def n_g_at(self, iteration: int) -> int:
        """Generator steps at an outer iteration (report §5.1's dynamic schedule: 1, 2 after 33%, 4 after 66%)."""
        if self.ng_schedule == "constant":
            return self.n_g
        frac = iteration / self.iterations
        return self.n_g * (1 if frac < 1 / 3 else 2 if frac < 2 / 3 else 4)

    def upstream(self) -> list[Config]:
        """The run that provides the teacher: a supervised teacher, or the previous link of a chain."""
        if self.teacher_via:
            return [self.link_config(len(self.teacher_via))]
        return [self.teacher_config()]

    def link_config(self, position: int) -> "ZeroShotConfig":
        """For a chain: the zero-shot run that produces the teacher of link ``position`` (its student)."""
        chain = (self.teacher,) + self.teacher_via
        return self.replace(teacher=chain[0], teacher_via=chain[1:position], student=chain[position])


@functools.lru_cache(maxsize=8)
def load_eval_data(dataset: str, image_size: int, split: str = "test") -> data_mod.ImageData:
    """A whole split at the experiment's image size (cached per process: do not modify it in place)."""
    data = data_mod.load(dataset, split)
    size = image_size or None
    return data_mod.to_model_input(data, size=size)


def load_teacher(cfg: ZeroShotConfig, progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher network (eval mode, frozen) and a dict describing it; trains/reads the cached runs."""
    if getattr(cfg, "teacher_via", ()):
        upstream = cfg.link_config(len(cfg.teacher_via))
        result = run(upstream, progress=progress)
        model = load_student(result)
        return model, {"teacher_test_acc": result.metrics["test_acc"], "teacher_kind": f"zero-shot {upstream.student}"}
    result = run(cfg.teacher_config(), progress=progress)
    model = load_trained(result)
    return model, {"teacher_test_acc": result.metrics["test_acc"], "teacher_kind": f"supervised {cfg.teacher}"}


def load_student(result) -> nn.Module:
    """Rebuild a finished zero-shot or KD+AT student (eval mode)."""
    cfg = result.config
    model = models.build(cfg.student, num_classes=result.metrics["num_classes"], in_channels=result.metrics["channels"])
    model.load_state_dict(result.load_state())
    return model.eval()


def load_generator(result) -> distill.Generator:
    cfg = result.config
    g = distill.Generator(cfg.z_dim, result.metrics["channels"], result.metrics["image_size"], cfg.gen_width)
    g.load_state_dict(result.load_state("generator"))
    return g.eval()


class ZeroShotTrainer:
    """Algorithm 1 as in ``solver.py``: one z batch per outer iteration, n_G generator steps that
    maximise KL(T‖S), then n_S student steps on the (fixed) post-update images minimising
    KL + β·Σ AT; Adam + cosine schedules stepped per outer iteration; clipping at 5."""

    def __init__(self, teacher: nn.Module, student: nn.Module, generator: distill.Generator, cfg: ZeroShotConfig):
        distill.check_groups(teacher, student)
        self.cfg, self.teacher, self.student, self.generator = cfg, teacher.eval(), student, generator
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.opt_s = torch.optim.Adam(student.parameters(), lr=cfg.lr_student)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr_generator)
        self.sched_s = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_s, T_max=cfg.iterations)
        self.sched_g = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_g, T_max=cfg.iterations)
        self.iteration = 0
        self.beta = cfg.beta * cfg.at_scale(generator.size)  # β per position of our maps

    def state_dict(self) -> dict:
        return {
            "student": self.student.state_dict(), "generator": self.generator.state_dict(),
            "opt_s": self.opt_s.state_dict(), "opt_g": self.opt_g.state_dict(),
            "sched_s": self.sched_s.state_dict(), "sched_g": self.sched_g.state_dict(), "iteration": self.iteration,
        }

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.generator.load_state_dict(state["generator"])
        self.opt_s.load_state_dict(state["opt_s"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_s.load_state_dict(state["sched_s"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.iteration = state["iteration"]

    def outer_step(self, z: torch.Tensor | None = None) -> dict:
        """One pseudo batch; returns the last generator and student losses of the iteration."""
        cfg, T, S, G = self.cfg, self.teacher, self.student, self.generator
        where = f"iteration {self.iteration}"
        device = next(S.parameters()).device
        if z is None:
            z = torch.randn(cfg.batch_size, cfg.z_dim, device=device)
        S.train()
        G.train()
        out = {}
        for _ in range(cfg.n_g_at(self.iteration)):
            x = G(z)
            check_finite("the generated images", x, where)
            kl = distill.kl_divergence(S(x), T(x), reduction="mean")
            loss_g = -kl
            check_finite("the generator loss", loss_g, where)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            nn.utils.clip_grad_norm_(G.parameters(), cfg.grad_clip)
            self.opt_g.step()
            out["loss_g"], out["kl_g"] = loss_g.item(), kl.item()
        with torch.no_grad():
            x = G(z)  # post-update images, fixed for the n_S steps (z and G unchanged)
            check_finite("the generated images", x, where)
            t_logits, t_groups = T.forward_groups(x)
        for _ in range(cfg.n_s):
            s_logits, s_groups = S.forward_groups(x)
            loss_s, kl_s, at_s = distill.zskt_student_loss(s_logits, s_groups, t_logits, t_groups, self.beta)
            check_finite("the student loss", loss_s, where)
            self.opt_s.zero_grad(set_to_none=True)
            loss_s.backward()
            nn.utils.clip_grad_norm_(S.parameters(), cfg.grad_clip)
            self.opt_s.step()
        out.update(loss_s=loss_s.item(), kl_s=kl_s.item(), at_s=at_s.item())
        self.sched_s.step()
        self.sched_g.step()
        self.iteration += 1
        return out


def _points(total: int, n: int, include_zero: bool = False) -> list[int]:
    """``n`` iteration counts spread over ``total`` (always ending at ``total``)."""
    pts = sorted({max(1, round(total * (i + 1) / n)) for i in range(n)})
    return ([0] if include_zero else []) + pts


@registry.experiment(ZeroShotConfig)
def zeroshot_experiment(cfg: ZeroShotConfig, ctx: RunContext) -> dict:
    device = default_device(cfg.device)
    test = load_eval_data(cfg.dataset, cfg.image_size)
    eval_subset = data_mod.subsample(test, cfg.eval_size, seed=0) if cfg.eval_size else test
    teacher, tinfo = load_teacher(cfg, ctx.progress)
    teacher = teacher.to(device)
    seed_everything(cfg.seed)
    student = models.build(cfg.student, test.num_classes, test.channels).to(device)
    size = test.size[0]
    if size % 4:
        raise ConfigError(f"{cfg.dataset} images are {size}px; set image_size to a multiple of 4")
    generator = distill.Generator(cfg.z_dim, test.channels, size, cfg.gen_width).to(device)
    # the memory format this machine trains the student fastest in (measured once, recorded with the run)
    path = training_path(student, (cfg.batch_size, test.channels, size, size), test.num_classes, device=device,
                         cuda_amp=False)
    for net in (teacher, student, generator):
        path.prepare(net)
    trainer = ZeroShotTrainer(teacher, student, generator, cfg)
    eval_loader = evaluation_batches(eval_subset, device=device)
    eval_at = set(_points(cfg.iterations, cfg.eval_points))
    sample_at = _points(cfg.iterations, cfg.sample_points, include_zero=True)
    z_show = torch.randn(16, cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(device)
    history = {"iteration": [], "loss_g": [], "loss_s": [], "kl_s": [], "at_s": []}
    curve = {"iteration": [], "test_acc": []}
    samples: list[np.ndarray] = []
    elapsed = 0.0

    def snapshot():
        generator.eval()
        with torch.no_grad():
            samples.append(generator(z_show).cpu().numpy().astype(np.float32))
        generator.train()

    ckpt = ctx.checkpoint_path
    state = load_checkpoint(ckpt, device, ("trainer", "history", "curve", "elapsed", "samples", "torch_rng"))
    if state is not None:
        fresh = copy.deepcopy(trainer.state_dict())
        try:
            restored = state["history"], state["curve"], state["elapsed"], [t.numpy() for t in state["samples"]]
            trainer.load_state_dict(state["trainer"])
            torch.set_rng_state(state["torch_rng"])
        except Exception as err:  # noqa: BLE001 - a checkpoint that does not fit this run is discarded
            discard_checkpoint(ckpt, err)
            trainer.load_state_dict(fresh)
            state = None
        else:
            history, curve, elapsed, samples = restored
            print(f"zero-shot {cfg.teacher}→{cfg.student}: resuming from iteration {trainer.iteration} of {cfg.iterations} "
                  f"(checkpoint {ckpt})", file=sys.stderr, flush=True)
    if state is None and 0 in sample_at:
        snapshot()

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.iterations, initial=trainer.iteration, desc=f"zero-shot {cfg.teacher}→{cfg.student}", leave=False, disable=not ctx.progress)
    while trainer.iteration < cfg.iterations:
        t0 = time.perf_counter()
        try:
            out = trainer.outer_step()
            if trainer.iteration in eval_at:
                check_model_finite(student, f"iteration {trainer.iteration}")  # e.g. a BN running variance
        except Diverged as err:  # the run cache stores it as diverged, with the curves so far
            err.history = {**history, "curve": curve}
            raise
        it = trainer.iteration
        history["iteration"].append(it)
        for k in ("loss_g", "loss_s", "kl_s", "at_s"):
            history[k].append(out[k])
        if it in eval_at:
            curve["iteration"].append(it)
            curve["test_acc"].append(evaluate(student, eval_loader, device)[1])
            bar.set_postfix(acc=f"{curve['test_acc'][-1]:.3f}")
        if it in sample_at:
            snapshot()
        elapsed += time.perf_counter() - t0
        bar.update(1)
        if it % cfg.checkpoint_every == 0 and it < cfg.iterations:
            atomic_torch_save({"trainer": trainer.state_dict(), "history": history, "curve": curve,
                               "samples": [torch.from_numpy(s) for s in samples],
                               "elapsed": elapsed, "torch_rng": torch.get_rng_state()}, ckpt)
    bar.close()
    test_loss, test_acc = evaluate(student, evaluation_batches(test, device=device), device)
    if not math.isfinite(test_loss):
        raise Diverged(f"zero-shot student's test loss is {test_loss}: the run diverged", history={**history, "curve": curve})
    ctx.save_state(student.state_dict())
    ctx.save_state(generator.state_dict(), "generator")
    ctx.save_array("samples", np.stack(samples))
    ctx.save_array("sample_iterations", np.array(sample_at[: len(samples)]))
    return {
        "metrics": {
            "test_acc": test_acc, "test_loss": test_loss, **tinfo,
            "train_seconds": elapsed, "seconds_per_iteration": elapsed / cfg.iterations,
            "num_classes": test.num_classes, "channels": test.channels, "image_size": size,
            "mean": list(test.mean), "std": list(test.std), "n_test": len(test),
        },
        "history": {**history, "curve": curve},
    }

"""Every run of the Homework 2 chapter (seed report 003), as configs built from its settings table."""
from __future__ import annotations

import dataclasses

from reprolib.core.chapter import Settings
from reprolib.core.config import ConfigError

from .experiment import HomeworkConfig
from .longtail import HeadsConfig
from .settings import TASK_B_MODELS

Labelled = list[tuple[dict, HomeworkConfig]]
#: the cost sections of the chapter's runs, in the order of the page
SECTIONS = {"task_a": "Task A (ResNet-50)", "task_b": "Task B (DenseNet-121, Model_B)",
            "task_c_backbones": "Task C (long-tailed backbone)", "task_c": "Task C (decoupled heads)"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chapter's runs at one profile; each method returns configs (the runner trains or reads them)."""

    settings: Settings

    @property
    def main_factor(self) -> float:
        return self.settings.imbalance_factors[0]

    # ----------------------------------------------------------------------- single configs
    def task_a(self, seed: int = 0) -> HomeworkConfig:
        """Task A: fine-tune ResNet-50 from its source weights (ImageNet at full, rotation source offline)."""
        s = self.settings
        return HomeworkConfig(**s.section("data"), **s.section("task_a"), seed=seed)

    def task_b(self, model: str = "Model_B", seed: int = 0) -> HomeworkConfig:
        """Task B: ``"DenseNet-121"`` (baseline), ``"Model_B"`` or ``"Model_B + tricks"`` (see TASK_B_MODELS)."""
        if model not in TASK_B_MODELS:
            raise ConfigError(f"unknown Task B model {model!r}; choose from {list(TASK_B_MODELS)}")
        s = self.settings
        fields = {**s.section("data"), **s.section("task_b"), "seed": seed}
        if model != "DenseNet-121":
            fields["variant"] = "model_b"
        if model == "Model_B + tricks":
            fields.update(s.section("tricks"))
        return HomeworkConfig(**fields)

    def task_c(self, imbalance_factor: float | None = None, seed: int = 0) -> HeadsConfig:
        """Task C: the decoupled heads on a long-tailed Model_B + tricks + oversampling backbone (its upstream run)."""
        s = self.settings
        factor = self.main_factor if imbalance_factor is None else float(imbalance_factor)
        fields = {**dataclasses.asdict(self.task_b("Model_B + tricks", seed)), **s.section("task_c"), "imbalance_factor": factor}
        return HeadsConfig(**fields, svm_weights=tuple(s.svm_weights[c] for c in sorted(s.svm_weights)),
                           svm_c=s.svm_c, tau_grid=s.tau_grid, crt_epochs=s.crt_epochs, crt_lr=s.crt_lr,
                           shot_groups=tuple(s.shot_groups))

    # ----------------------------------------------------------------------- groups
    def task_a_runs(self) -> Labelled:
        return [({"task": "A", "model": "ResNet-50", "seed": seed}, self.task_a(seed)) for seed in self.settings.task_a_seeds]

    def task_b_runs(self) -> Labelled:
        return [({"task": "B", "model": m, "seed": seed}, self.task_b(m, seed)) for m in TASK_B_MODELS for seed in self.settings.seeds]

    def task_c_runs(self) -> list[tuple[dict, HeadsConfig]]:
        """Every seed at the main imbalance factor; the explorer's other factors at the first seed."""
        s = self.settings
        out = [({"task": "C", "imbalance_factor": self.main_factor, "seed": seed}, self.task_c(None, seed)) for seed in s.seeds]
        out += [({"task": "C", "imbalance_factor": f, "seed": s.seeds[0]}, self.task_c(f, s.seeds[0]))
                for f in s.imbalance_factors[1:]]
        return out

    def task_c_backbones(self) -> Labelled:
        return [(lab, cfg.backbone()) for lab, cfg in self.task_c_runs()]

    def groups(self) -> dict[str, list]:
        """Every labelled run by its key in :data:`SECTIONS` (the notebook trains all of them in one side-by-side call)."""
        return {"task_a": self.task_a_runs(), "task_b": self.task_b_runs(), "task_c_backbones": self.task_c_backbones(),
                "task_c": self.task_c_runs()}

    def check(self) -> None:
        """Settings that no config field checks but that the analyses need (fail before any compute)."""
        s = self.settings
        test_size = s["task_a.test_size"]
        if test_size and s.tsne_points > test_size:
            raise ConfigError(f"tsne_points={s.tsne_points} needs at least that many Task A test images; "
                              f"task_a.test_size is {test_size} (raise it, or 0 = the whole test split)")
        if not s.knn_k < s.tsne_points:
            raise ConfigError(f"knn_k={s.knn_k} must be below tsne_points={s.tsne_points}")
        if s.activation_images > 10:
            raise ConfigError(f"activation_images={s.activation_images}: one image per class, at most the 10 classes")

    def configs(self) -> list:
        """Every run of the chapter (upstream runs — source models, backbones — are reached through ``upstream()``)."""
        self.check()
        pairs = [pair for group in self.groups().values() for pair in group]
        return list(dict.fromkeys(cfg for _, cfg in pairs))

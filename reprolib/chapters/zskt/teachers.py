"""The teacher recipe and pair checks shared by the zero-shot and the KD+AT configs.

Teachers (and the students trained from scratch for the tables' "student scratch"
columns) are ordinary cached ``supervised`` runs trained with FewShotKT's WRN recipe
(SGD 0.1, momentum 0.9, weight decay 5e-4; FewShotKnowledgeTransfer ``main.py``),
shortened and cosine-annealed at ``cpu``/``smoke``.  One teacher run serves every
student config that names it.
"""
from __future__ import annotations

from reprolib.core import registry
from reprolib.core.config import ConfigError, require
from reprolib.core.supervised import TrainConfig

from . import distill


def _teacher_spec_fields(cfg) -> dict:
    """The supervised recipe shared by teachers and from-scratch students (FewShotKT's 'wresnet' recipe
    at ``full``: SGD 0.1, momentum 0.9, wd 5e-4; shortened and cosine-annealed at cpu/smoke)."""
    return dict(
        dataset=cfg.dataset,
        image_size=cfg.image_size,
        train_size=cfg.teacher_train_size,
        epochs=cfg.teacher_epochs,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        scheduler="cosine",
        augment=cfg.teacher_augment,
        val_fraction=0.1,
        seed=cfg.teacher_seed,
        device=cfg.device,
    )


class PairMixin:
    """Validation and teacher/scratch-student configs shared by both experiment configs."""

    def _check_common(self):
        require(self.dataset, registry.DATASETS, "dataset")
        try:
            distill.check_pair(self.teacher, self.student)
            for arch in getattr(self, "teacher_via", ()):
                distill.check_pair(arch, self.student)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    def at_scale(self, input_size: int) -> float:
        """Multiplier of the attention term: (s/32)² when β is in the paper's units, else 1."""
        return distill.paper_beta_scale(input_size) if getattr(self, "beta_units", "maps") == "paper" else 1.0

    def teacher_config(self, arch: str | None = None) -> TrainConfig:
        """The cached supervised run that trains the teacher ``arch`` (default: ``self.teacher``)."""
        return TrainConfig(model=arch or self.teacher, **_teacher_spec_fields(self))

    def scratch_config(self, seed: int | None = None) -> TrainConfig:
        """The student architecture trained from scratch with the teacher recipe (the 'Student Scratch' column)."""
        fields = _teacher_spec_fields(self)
        if seed is not None:
            fields["seed"] = seed
        return TrainConfig(model=self.student, **fields)

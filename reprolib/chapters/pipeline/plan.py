"""The pipeline chapter's runs: one supervised WRN per learning rate and seed."""
from __future__ import annotations

import dataclasses

from reprolib.core.chapter import Settings
from reprolib.core.supervised import TrainConfig


@dataclasses.dataclass(frozen=True)
class Plan:
    settings: Settings

    @property
    def base(self) -> TrainConfig:
        return TrainConfig(**self.settings.section("train"))

    def run(self, lr: float, seed: int) -> TrainConfig:
        return self.base.replace(lr=float(lr), seed=int(seed))

    def by_lr(self) -> dict[float, list[TrainConfig]]:
        return {lr: [self.run(lr, s) for s in self.settings.seeds] for lr in self.settings.learning_rates}

    def configs(self) -> list[TrainConfig]:
        return [c for cs in self.by_lr().values() for c in cs]

"""Every run of the Visual Computing assignment 2 chapter, as labelled configs built from its settings table."""
from __future__ import annotations

import dataclasses

from reprolib.core.chapter import Settings
from reprolib.core.config import ConfigError
from reprolib.core.supervised import TrainConfig

from .settings import MODEL_LABELS, PART3_GRID, PART5

Labelled = list[tuple[dict, TrainConfig]]


@dataclasses.dataclass(frozen=True)
class Plan:
    settings: Settings

    def cnn(self, setting: str = "none", seed: int = 0) -> TrainConfig:
        """The report CNN under one setting of :data:`PART3_GRID` (Parts 2, 3, 5)."""
        if setting not in PART3_GRID:
            raise ConfigError(f"unknown setting {setting!r}; choose from {list(PART3_GRID)}")
        s = self.settings
        return TrainConfig(**{**s.section("data"), **s.section("cnn"), "seed": seed, **PART3_GRID[setting]})

    def transfer(self, model: str = "resnet18", seed: int = 0, setting: str = "none") -> TrainConfig:
        """Feature extraction from ``model`` (Part 4; Part 5 with ``setting="DA + WD 1e-5"``)."""
        s = self.settings
        if model not in s.transfer:
            raise ConfigError(f"model {model!r} is not in this execution's transfer models {list(s.transfer)}")
        return TrainConfig(**{**s.section("data"), **s.section("transfer"), "model": model, "image_size": s.transfer[model],
                              "weights": s.weights, "seed": seed, **PART3_GRID[setting]})

    def cnn_runs(self) -> Labelled:
        """Parts 2-3: every setting × seed of the report CNN."""
        return [({"part": "cnn", "model": "CNN", "setting": g, "seed": seed}, self.cnn(g, seed))
                for g in self.settings.grid for seed in self.settings.seeds]

    def transfer_runs(self) -> Labelled:
        """Part 4: every transfer model × seed (no augmentation, no weight decay)."""
        return [({"part": "transfer", "model": MODEL_LABELS.get(m, m), "setting": "none", "seed": seed}, self.transfer(m, seed))
                for m in self.settings.transfer for seed in self.settings.seeds]

    def part5_runs(self) -> Labelled:
        """Part 5's four trainings × seeds (the CNN ones are shared with Part 3)."""
        out = []
        for model, setting in PART5:
            for seed in self.settings.seeds:
                cfg = self.cnn(setting, seed) if model == "CNN" else self.transfer("resnet18", seed, setting)
                out.append(({"part": "part5", "model": model, "setting": setting, "seed": seed}, cfg))
        return out

    def configs(self) -> list[TrainConfig]:
        return list(dict.fromkeys(c for _, c in self.cnn_runs() + self.transfer_runs() + self.part5_runs()))

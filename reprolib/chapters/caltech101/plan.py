"""Every run of the Caltech-101 homework chapter, as labelled configs built from its settings table.

Sections 3.2-5 use the report's best transfer hyperparameters (``transfer_best``), as the report
did ("for the next steps ... only the best set of hyperparameters is used"); every run that a
verdict compares runs with every seed, the other rows of the hyperparameter tables with the first
``grid_seeds`` seeds.
"""
from __future__ import annotations

import dataclasses

from reprolib.core.chapter import Settings
from reprolib.core.config import ConfigError

from .experiment import CaltechRun
from .settings import NETWORK_LABELS, PIPELINE_LABELS, POLICIES

Labelled = list[tuple[dict, CaltechRun]]


@dataclasses.dataclass(frozen=True)
class Plan:
    settings: Settings

    # ------------------------------------------------------------------ one run
    def run(self, network: str = "alexnet", row=None, *, pretrained: bool = True, freeze: str = "none",
            augment: tuple[str, ...] = (), seed: int = 0) -> CaltechRun:
        """One training: ``network`` (a key of ``settings.networks``), a (LR, NUM_EPOCHS, STEP_SIZE, GAMMA) row
        (default: the best transfer row), from pretrained weights or from scratch, a freezing policy, augmentations."""
        s = self.settings
        if network not in s.networks:
            raise ConfigError(f"network {network!r} is not in this execution's networks {list(s.networks)}")
        lr, epochs, step, gamma = row if row is not None else s.transfer_best
        source_optimizer, source_lr, source_epochs = s.source_recipes[network]
        return CaltechRun(**s.section("data"), **s.section("train"), model=s.networks[network],
                          source_optimizer=source_optimizer, source_lr=source_lr, source_epochs=source_epochs,
                          weights=s.weights if pretrained else "none", freeze=freeze, augment=tuple(augment),
                          lr=lr, epochs=epochs, step_size=step, gamma=gamma, seed=seed)

    def _seeds(self, all_seeds: bool) -> tuple[int, ...]:
        s = self.settings
        return s.seeds if all_seeds else s.seeds[: s.grid_seeds]

    @staticmethod
    def _row_labels(row) -> dict:
        return {"LR": row[0], "NUM_EPOCHS": row[1], "STEP_SIZE": row[2], "GAMMA": row[3]}

    # ------------------------------------------------------------------ sections
    def scratch_runs(self) -> Labelled:
        """Section 2: AlexNet from scratch, every row of the report's table (the rows of its two curves with every seed)."""
        s = self.settings
        rows = list(dict.fromkeys((*s.scratch_rows, s.scratch_best, s.scratch_small)))
        return [({"section": "scratch", **self._row_labels(r), "best": r == s.scratch_best, "seed": seed},
                 self.run("alexnet", r, pretrained=False, seed=seed))
                for r in rows for seed in self._seeds(r in (s.scratch_best, s.scratch_small))]

    def transfer_runs(self) -> Labelled:
        """Section 3.1: AlexNet from pretrained weights, all layers trained, every row (the best with every seed)."""
        s = self.settings
        rows = list(dict.fromkeys((*s.transfer_rows, s.transfer_best)))
        return [({"section": "transfer", **self._row_labels(r), "best": r == s.transfer_best, "seed": seed},
                 self.run("alexnet", r, seed=seed))
                for r in rows for seed in self._seeds(r == s.transfer_best)]

    def explode_runs(self) -> Labelled:
        """Section 3.1's remark: pretrained AlexNet fine-tuned with the best *scratch* hyperparameters, every seed
        (the report says its loss explodes; a run that diverges is counted, never kept as a result)."""
        s = self.settings
        return [({"section": "transfer at the scratch hyperparameters", **self._row_labels(s.scratch_best), "seed": seed},
                 self.run("alexnet", s.scratch_best, seed=seed)) for seed in s.seeds]

    def policy_runs(self) -> Labelled:
        """Section 3: the three freezing policies of pretrained AlexNet (training all layers is section 3.1's best row)."""
        return [({"section": "policies", "policy": label, "freeze": freeze, "seed": seed}, self.run("alexnet", freeze=freeze, seed=seed))
                for label, freeze in POLICIES.items() for seed in self.settings.seeds]

    def augmentation_runs(self) -> Labelled:
        """Section 4: pretrained AlexNet, all layers trained, without augmentation and with each pipeline."""
        return [({"section": "augmentation", "augmentation": PIPELINE_LABELS.get(p, "none"), "seed": seed},
                 self.run("alexnet", augment=(p,) if p else (), seed=seed))
                for p in ("", *self.settings.pipelines) for seed in self.settings.seeds]

    def network_runs(self) -> Labelled:
        """Section 5: every network from pretrained weights, all layers trained and with the convolutional layers frozen."""
        return [({"section": "networks", "network": NETWORK_LABELS[n], "freeze": freeze, "seed": seed},
                 self.run(n, freeze=freeze, seed=seed))
                for n in self.settings.networks for freeze in ("none", "features") for seed in self.settings.seeds]

    def sources(self) -> list[CaltechRun]:
        """The offline source models (one per network; none with ImageNet weights)."""
        if self.settings.weights != "source":
            return []
        return [self.run(n).source_config() for n in self.settings.networks]

    def configs(self) -> list[CaltechRun]:
        every = (self.scratch_runs() + self.transfer_runs() + self.explode_runs() + self.policy_runs() + self.augmentation_runs()
                 + self.network_runs())
        return list(dict.fromkeys(c for _, c in every))

"""Every run of the DELTA chapter, as labelled configs built from its settings table."""
from __future__ import annotations

import dataclasses

from reprolib.core.chapter import Settings
from reprolib.core.config import ConfigError

from .finetune import DeltaConfig, lr_schedule
from .settings import REGULARIZERS, TABLE_ROWS

Labelled = list[tuple[dict, DeltaConfig]]


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chapter's runs at one profile; each method returns configs (the runner trains or reads them)."""

    settings: Settings

    def run(self, method: str = "delta", schedule: str = "steplr", row: str = "without AUG", seed: int = 0,
            alpha: float | None = None) -> DeltaConfig:
        """One fine-tuning run: ``method`` in l2 / l2_sp / delta, a row of the report's table, a seed."""
        if method not in REGULARIZERS:
            raise ConfigError(f"unknown method {method!r}; choose from {list(REGULARIZERS)}")
        if row not in TABLE_ROWS:
            raise ConfigError(f"unknown row {row!r}; choose from {list(TABLE_ROWS)}")
        s = self.settings
        transforms, channel_transforms = TABLE_ROWS[row]
        fields = {**s.section("data"), **s.section("finetune"), **s.section("channels"),
                  **lr_schedule(schedule, s["finetune.epochs"]), "regularizer": method, "transforms": transforms, "seed": seed}
        if alpha is not None:
            fields["alpha"] = alpha
        if method == "l2":  # train.py: weight decay instead of any explicit regulariser
            fields.update(weight_decay=s.l2_weight_decay)
        if method != "delta":  # the channel weights only matter to DELTA: one config per distinct training
            fields["channel_transforms"] = "default"
        else:
            fields["channel_transforms"] = channel_transforms
        return DeltaConfig(**fields)

    def _seeds(self, **kw) -> list[DeltaConfig]:
        return [self.run(seed=seed, **kw) for seed in self.settings.seeds]

    def figure1_runs(self) -> Labelled:
        """Figure 1: L2-SP and DELTA under STEP-LR and EXP-LR, without augmentation, every seed."""
        return [({"method": m, "schedule": sch, "seed": c.seed}, c)
                for sch in self.settings.schedules for m in ("l2_sp", "delta") for c in self._seeds(method=m, schedule=sch)]

    def table_runs(self) -> Labelled:
        """The report's Tables 1-2 rows × {L2-SP, DELTA} × seeds (STEP-LR, train.py's default)."""
        out = []
        for row in TABLE_ROWS:
            for m in ("l2_sp", "delta"):
                out += [({"row": row, "method": m, "seed": c.seed}, c) for c in self._seeds(method=m, row=row)]
        return out

    def baseline_runs(self) -> Labelled:
        """Plain fine-tuning (weight decay 1e-4), without augmentation, STEP-LR: the reference both regularisers improve on."""
        return [({"row": "without AUG", "method": "l2", "seed": c.seed}, c) for c in self._seeds(method="l2")]

    def alpha_runs(self) -> Labelled:
        """The α explorer: every α of the grid for L2-SP and DELTA, first seed, without AUG, STEP-LR."""
        seed = self.settings.seeds[0]
        return [({"method": m, "alpha": a, "seed": seed}, self.run(m, seed=seed, alpha=a))
                for a in self.settings.alphas for m in ("l2_sp", "delta")]

    def groups(self) -> dict[str, Labelled]:
        """Every labelled group of fine-tuning runs by the part of the chapter that shows it (one side-by-side call)."""
        return {"Figure 1": self.figure1_runs(), "Tables 1-2": self.table_runs(), "plain fine-tuning": self.baseline_runs(),
                "α explorer": self.alpha_runs()}

    def channel_configs(self) -> list:
        """The channel-evaluation runs the DELTA runs read (one per transforms mode)."""
        return list(dict.fromkeys(c.channel_config() for _, c in self.figure1_runs() + self.table_runs() + self.alpha_runs()
                                  if c.regularizer == "delta"))

    def configs(self) -> list:
        """Every run of the chapter (the source model and channel evaluations are reached through ``upstream()``)."""
        runs = self.figure1_runs() + self.table_runs() + self.baseline_runs() + self.alpha_runs()
        return list(dict.fromkeys([*self.channel_configs(), *(c for _, c in runs)]))

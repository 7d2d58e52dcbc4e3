"""Every run of the ZSKT chapter, as configs built from the chapter's settings table."""
from __future__ import annotations

import dataclasses

from reprolib.core import data as data_mod
from reprolib.core.chapter import Settings

from .fewshot import FewShotConfig
from .reported import BIG_PAIR, CHAIN, MAIN_PAIR, PAIRS, SAME_ARCH
from .zeroshot import ZeroShotConfig


def short(arch: str) -> str:
    return arch.upper().replace("WRN-", "WRN ")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chapter's runs at one profile; each method returns configs (the runner trains or reads them)."""

    settings: Settings

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.settings.seeds

    @property
    def base(self) -> ZeroShotConfig:
        s = self.settings
        return ZeroShotConfig(**s.section("pair"), **s.section("zeroshot"))

    @property
    def few_base(self) -> FewShotConfig:
        s = self.settings
        return FewShotConfig(**s.section("pair"), **s.section("fewshot"))

    def arch(self, report_arch: str) -> str:
        return self.settings.arch[report_arch]

    def zs(self, pair=MAIN_PAIR, seed=0, **over) -> ZeroShotConfig:
        return self.base.replace(teacher=self.arch(pair[0]), student=self.arch(pair[1]), seed=seed, **over)

    def kdat(self, pair=MAIN_PAIR, seed=0, m=None, mode="kd+at", **over) -> FewShotConfig:
        m = m if m is not None else self.settings.kdat_m
        return self.few_base.replace(teacher=self.arch(pair[0]), student=self.arch(pair[1]), seed=seed, m=m, mode=mode, **over)

    def dataset_zs(self, dataset: str, seed=0) -> ZeroShotConfig:
        """The main pair on another dataset (Table 6), with that dataset's budgets."""
        over = {"dataset": dataset}
        if dataset in self.settings.dataset_iterations:
            over["iterations"] = self.settings.dataset_iterations[dataset]
        if dataset in self.settings.dataset_teacher_epochs:
            over["teacher_epochs"] = self.settings.dataset_teacher_epochs[dataset]
        if dataset == "digits":  # 8x8 images: native size, every training image
            over.update(image_size=0, teacher_train_size=0)
        return self.zs(seed=seed, **over)

    # ----------------------------------------------------------------------- groups of runs
    def teacher_configs(self) -> dict:
        """The supervised teacher / scratch runs of every architecture the chapter uses (one per arch)."""
        archs = sorted({self.arch(a) for p in PAIRS for a in p})
        return {a: self.base.replace(teacher=a).teacher_config() for a in archs}

    def pair_runs(self) -> dict:
        return {p: [self.zs(p, s) for s in self.seeds] for p in PAIRS}

    def kdat_pair_runs(self) -> dict:
        """Table 1; unless ``table1_all_seeds``, only the pairs the transition curves use get every seed."""
        full = self.settings.table1_all_seeds
        return {p: [self.kdat(p, s) for s in (self.seeds if full or p in (MAIN_PAIR, BIG_PAIR) else self.seeds[:1])]
                for p in PAIRS}

    def beta_runs(self) -> dict:
        return {b: [self.zs(seed=s, beta=b) for s in self.seeds] for b in self.settings.betas}

    def fewshot_runs(self) -> dict:
        return {(mode, m): [self.kdat(seed=s, m=m, mode=mode) for s in self.seeds]
                for m in self.settings.fewshot_m for mode in ("kd+at", "none")}

    def dynamic_runs(self) -> list:
        return [self.zs(seed=s, ng_schedule="dynamic") for s in self.seeds]

    def same_arch_runs(self) -> list:
        return [self.zs(SAME_ARCH["pair"], s) for s in self.seeds]

    def chain_runs(self) -> list:
        return [self.zs((CHAIN["teacher"], CHAIN["student"]), s, teacher_via=(self.arch(CHAIN["via"]),)) for s in self.seeds]

    def datasets(self, available_only: bool = True) -> list[str]:
        """Table 6 datasets other than the main one; by default only those whose files are here."""
        names = [d for d in self.settings.datasets if d != self.base.dataset]
        return [d for d in names if data_mod.available(d)] if available_only else names

    def dataset_runs(self, dataset: str) -> tuple[list, object]:
        """(zero-shot runs over seeds, the scratch-student run) of one Table 6 dataset."""
        cfgs = [self.dataset_zs(dataset, s) for s in self.seeds]
        return cfgs, cfgs[0].scratch_config()

    def configs(self, available_only: bool = True) -> list:
        """Every run of the chapter (upstream runs are reached through ``config.upstream()``)."""
        out = list(self.teacher_configs().values())
        for group in (self.pair_runs(), self.kdat_pair_runs(), self.beta_runs(), self.fewshot_runs()):
            for cfgs in group.values():
                out += cfgs
        out += self.dynamic_runs() + self.same_arch_runs() + self.chain_runs()
        for d in self.datasets(available_only):
            zs, scratch = self.dataset_runs(d)
            out += zs + [scratch]
        return list(dict.fromkeys(out))

"""Every run of the ZSKT chapter, as configs built from the chapter's settings table."""
from __future__ import annotations

import dataclasses

from reprolib.core import data as data_mod
from reprolib.core.chapter import Settings

from .fewshot import FewShotConfig
from .reported import BIG_PAIR, CHAIN, MAIN_PAIR, PAIRS, SAME_ARCH

#: pairs whose zero-shot students other claims reuse (the transition curves, the chain): these train to the plateau
PLATEAU_PAIRS = (MAIN_PAIR, BIG_PAIR, (CHAIN["via"], CHAIN["student"]))
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

    def zs_sweep(self, pair=MAIN_PAIR, seed=0, **over) -> ZeroShotConfig:
        """A zero-shot run of the equal-budget comparisons (``sweep_iterations``)."""
        return self.zs(pair, seed, iterations=self.settings.sweep_iterations, **over)

    def pair_iterations(self, pair) -> int:
        return self.base.iterations if pair in PLATEAU_PAIRS else self.settings.sweep_iterations

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

    def pair_seeds(self, pair) -> tuple[int, ...]:
        return self.main_seeds if pair == MAIN_PAIR else self.seeds

    def pair_runs(self) -> dict:
        """Tables 2/4: the pairs other claims reuse train to the plateau, the others at the sweep budget; the main pair
        with ``main_seeds`` seeds."""
        return {p: [self.zs(p, s, iterations=self.pair_iterations(p)) for s in self.pair_seeds(p)] for p in PAIRS}

    def kdat_pair_runs(self) -> dict:
        """Table 1; unless ``table1_all_seeds``, only the pairs the transition curves use get every seed."""
        full = self.settings.table1_all_seeds
        return {p: [self.kdat(p, s) for s in (self.seeds if full or p in (MAIN_PAIR, BIG_PAIR) else self.seeds[:1])]
                for p in PAIRS}

    def beta_runs(self) -> dict:
        return {b: [self.zs_sweep(seed=s, beta=b) for s in self.seeds] for b in self.settings.betas}

    def sweep_base_runs(self) -> list:
        """The main pair at the sweep budget with every default: the baseline of the β, n_G and generator-lr comparisons."""
        return [self.zs_sweep(seed=s) for s in self.seeds]

    def generator_lr_runs(self) -> dict:
        """Report §4.2: the generator learning rate of the code (0.001) against the paper's stated 0.002."""
        return {lr: [self.zs_sweep(seed=s, lr_generator=lr) for s in self.seeds] for lr in self.settings.generator_lrs}

    def extended_seeds(self, n: int) -> tuple[int, ...]:
        """The chapter's seeds, extended with the next integers to ``n`` of them (a notebook's ``seeds`` still decides
        the first ones)."""
        seeds = list(self.seeds)
        nxt = max(seeds) + 1
        while len(seeds) < n:
            seeds.append(nxt)
            nxt += 1
        return tuple(seeds)

    @property
    def fewshot_seeds(self) -> tuple[int, ...]:
        return self.extended_seeds(self.settings.fewshot_seeds)

    @property
    def main_seeds(self) -> tuple[int, ...]:
        """Seeds of the main pair's zero-shot runs (``main_seeds``)."""
        return self.extended_seeds(self.settings.main_seeds)

    def fewshot_runs(self) -> dict:
        return {(mode, m): [self.kdat(seed=s, m=m, mode=mode) for s in self.fewshot_seeds]
                for m in self.settings.fewshot_m for mode in ("kd+at", "none")}

    def dynamic_runs(self) -> list:
        return [self.zs_sweep(seed=s, ng_schedule="dynamic") for s in self.seeds]

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
        for group in (self.pair_runs(), self.kdat_pair_runs(), self.beta_runs(), self.generator_lr_runs(), self.fewshot_runs()):
            for cfgs in group.values():
                out += cfgs
        out += self.sweep_base_runs() + self.dynamic_runs() + self.same_arch_runs() + self.chain_runs()
        for d in self.datasets(available_only):
            zs, scratch = self.dataset_runs(d)
            out += zs + [scratch]
        return list(dict.fromkeys(out))

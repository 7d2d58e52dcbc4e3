"""The chapter contract's checks: every parameter is validated before any compute; diverged runs in the cost tables."""
import dataclasses

import pytest

from reprolib.core import registry, runs
from reprolib.core.chapter import Chapter, Runner, SettingsTable, check_positive, check_seeds, row, same
from reprolib.core.config import Config, ConfigError, option
from reprolib.core.registry import Diverged


@dataclasses.dataclass(frozen=True)
class BudgetConfig(Config):
    EXPERIMENT = "budget_toy"
    epochs: int = option(1, low=1)
    lr: float = option(0.1, low=0.0)


@registry.experiment(BudgetConfig)
def _budget(cfg, ctx):
    if cfg.lr > 10:
        raise Diverged("the loss exploded")
    return {"metrics": {"acc": 0.5, "wall_seconds": 1.0}}


TABLE = SettingsTable("toy", {
    "seeds": row((0,), (0, 1), (0, 1, 2), check=check_seeds),
    "steps": row(4, 40, 400, check=check_positive),
    "lrs": same((0.1, 1.0)),
    "weights": same((0.0, 1.0)),
    "sizes": same({"a": 3}),
}, sections={"run": {"epochs": row(1, 2, 30), "lr": same(0.1)}})


@dataclasses.dataclass(frozen=True)
class ToyPlan:
    settings: object

    def configs(self):
        return [BudgetConfig(**self.settings.section("run"))]


CHAPTER = Chapter("toy", "A toy chapter", TABLE, ToyPlan)


@pytest.mark.parametrize("over, match", [
    ({"seeds": []}, r"seeds must be a non-empty list"),
    ({"steps": 0}, r"steps=0: every value must be > 0"),
    ({"steps": -3}, r"steps=-3: every value must be > 0"),
    ({"lrs": []}, r"lrs=\(\): must not be empty"),
    ({"lrs": [0.1, -1]}, r"lrs=\(0\.1, -1\.0\): must not be negative"),
    ({"weights": [-0.5]}, r"must not be negative"),
    ({"sizes": {"a": -1}}, r"must not be negative"),
    ({"sizes": {"a": "big"}}, r"sizes\['a'\]='big': expected int"),
    ({"run.epochs": 0}, r"toy parameters \['run.epochs'\]: BudgetConfig.epochs=0 is out of range: must be >= 1"),
    ({"run.lr": -1.0}, r"run.lr=-1.0: must not be negative"),
    ({"stepz": 3}, r"unknown toy parameter\(s\) \['stepz'\]"),
])
def test_a_parameter_that_makes_no_sense_fails_before_any_compute(over, match, monkeypatch):
    monkeypatch.setattr(runs, "run", lambda *a, **k: pytest.fail("computed before the parameters were checked"))
    with pytest.raises(ConfigError, match=match):
        CHAPTER.settings("smoke", **over)


def test_an_unknown_profile_and_good_overrides():
    with pytest.raises(ConfigError, match=r"unknown profile 'gpu'; choose from \['smoke', 'cpu', 'full'\]"):
        CHAPTER.settings("gpu")
    s = CHAPTER.settings("cpu", steps=7, lrs=[0.5], weights=[0, 2.5], sizes={"b": 5}, **{"run.epochs": 3})
    assert (s.steps, s.lrs, s.weights, s.sizes, s["run.epochs"]) == (7, (0.5,), (0.0, 2.5), {"b": 5}, 3)


def test_cost_tables_show_diverged_runs():
    runner = Runner()
    runner.run([BudgetConfig(), BudgetConfig(lr=100.0)], section="sweep")
    table = runner.cost_table()
    assert list(table["status"]) == ["finished", "diverged"]
    assert runner.section_table().loc[0, "diverged"] == 1

"""The DELTA chapter's plan: the original's settings per method, shared upstream runs, schedules, bad parameters."""
import math

import pytest

from reprolib.chapters.delta import CHAPTER
from reprolib.chapters.delta.finetune import ChannelConfig, DeltaConfig, lr_schedule
from reprolib.core.config import ConfigError
from reprolib.core.supervised import TrainConfig


def test_lr_schedules_follow_train_py():
    # full: 9000 iterations × 64 / 12000 images = 48 epochs, decay at int(0.67 · 48) + 1 = 33
    assert lr_schedule("steplr", 48) == {"scheduler": "step", "step_size": 33, "gamma": 0.1}
    exp = lr_schedule("explr", 48)
    assert exp["scheduler"] == "exponential"
    assert exp["gamma"] ** 33 == pytest.approx(0.1)  # ×0.1 every decay epochs
    assert lr_schedule("steplr", 15)["step_size"] == 11
    with pytest.raises(ConfigError, match="schedule"):
        lr_schedule("cosine", 10)


def test_cpu_plan_has_the_report_settings_per_method():
    settings = CHAPTER.settings("cpu")
    plan = CHAPTER.plan(settings)
    seeds = settings.seeds
    assert len(seeds) == 5
    fig1 = plan.figure1_runs()
    assert len(fig1) == 2 * 2 * 5
    for lab, cfg in fig1 + plan.table_runs() + plan.baseline_runs():
        assert isinstance(cfg, DeltaConfig)
        assert cfg.lr == 0.01 and cfg.momentum == 0.9 and cfg.val_fraction == 0.0
        assert cfg.alpha == 0.01 and cfg.beta == 0.01
        if cfg.regularizer == "l2":
            assert cfg.weight_decay == 1e-4  # plain fine-tuning: weight decay, no explicit regulariser
        else:
            assert cfg.weight_decay == 0.0  # the regularised variants have none
    # every run starts from the same offline source model, whatever its method, seed or transforms
    sources = {c.source_config() for c in plan.configs() if isinstance(c, DeltaConfig)}
    assert len(sources) == 1
    (source,) = sources
    assert isinstance(source, TrainConfig) and source.EXPERIMENT == "supervised" and source.seed == 0
    assert set(source.classes).isdisjoint(settings["data.classes"])


def test_channel_evaluation_is_shared_and_only_delta_reads_it():
    plan = CHAPTER.plan(CHAPTER.settings("cpu"))
    channel = plan.channel_configs()
    assert len(channel) == 2 and {c.transforms for c in channel} == {"default", "improved"}
    assert all(isinstance(c, ChannelConfig) and c.epochs == 10 and c.batch_size == 32 and c.eval_batches == 4 for c in channel)
    assert channel[0].gamma == pytest.approx(math.exp(math.log(0.1) / 6))
    for _, cfg in plan.table_runs():
        ups = cfg.upstream()
        assert (cfg.channel_config() in ups) == (cfg.regularizer == "delta")
    # L2-SP ignores the channel weights, so the augmented-channel row reuses the 'with AUG' L2-SP runs
    l2sp = {c for lab, c in plan.table_runs() if c.regularizer == "l2_sp"}
    assert len(l2sp) == 2 * 5
    assert len(plan.configs()) == len(set(plan.configs()))


def test_bad_parameters_fail_before_compute():
    with pytest.raises(ConfigError, match="alphas"):
        CHAPTER.settings("cpu", alphas=[])
    with pytest.raises(ConfigError, match="seeds"):
        CHAPTER.settings("cpu", seeds=[1, 1])
    with pytest.raises(ConfigError, match="unknown delta parameter"):
        CHAPTER.settings("cpu", gamma=3)
    plan = CHAPTER.plan(CHAPTER.settings("smoke"))
    with pytest.raises(ConfigError, match="method"):
        plan.run("dropout")
    with pytest.raises(ConfigError, match="crop_size"):
        DeltaConfig(image_size=24, crop_size=28)
    with pytest.raises(ConfigError, match="regularizer"):
        DeltaConfig(regularizer="fea_map")


def test_smoke_source_model_is_planned_though_the_target_set_is_smaller_than_its_batch():
    """At smoke the target has fewer images (48) than the source's batch (64): the source run is still planned,
    on its own subset, and the same for every fine-tuning run."""
    settings = CHAPTER.settings("smoke")
    plan = CHAPTER.plan(settings)
    assert settings["data.train_size"] < 64
    (source,) = {c.source_config() for c in plan.configs() if isinstance(c, DeltaConfig)}
    assert source.train_size == settings["data.source_train_size"] and source.batch_size == 64
    assert set(source.classes).isdisjoint(settings["data.classes"])

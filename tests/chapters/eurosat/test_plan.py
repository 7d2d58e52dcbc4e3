"""The chapter's settings and plan: bad parameters fail before any compute; every run in one side-by-side call."""
import pytest

from reprolib.chapters.eurosat import CHAPTER
from reprolib.chapters.eurosat.plan import SECTIONS
from reprolib.core.config import ConfigError


@pytest.mark.parametrize("overrides,message", [
    ({"task_b.epochs": 0}, "task_b.epochs must be an integer >= 1"),
    ({"crt_lr": -0.1}, "every value must be > 0"),
    ({"tsne_iterations": 100}, "tsne_iterations must be an integer >= 250"),
    ({"tsne_points": 600}, "tsne_points=600 needs at least that many Task A test images"),
    ({"activation_images": 11}, "at most the 10 classes"),
    ({"svm_weights": {0: 1.0, 2: 1.0}}, "one weight >= 0 for each class index"),
    ({"heads": ["backbone", "LWS"]}, "not allowed"),
])
def test_bad_settings_fail_with_one_line_naming_the_parameter(overrides, message):
    with pytest.raises(ConfigError, match=message):
        CHAPTER.settings("smoke", **overrides)


def test_the_plan_groups_every_run_by_section_and_shares_upstream_runs():
    plan = CHAPTER.plan(CHAPTER.settings("cpu"))
    groups = plan.groups()
    assert set(groups) == set(SECTIONS)
    configs = plan.configs()
    assert len(configs) == sum(len(g) for g in groups.values())  # no run twice
    s = plan.settings
    assert len(groups["task_b"]) == 3 * len(s.seeds)
    assert len(groups["task_c"]) == len(s.seeds) + len(s.imbalance_factors) - 1
    # Task C's heads read exactly the backbones of the plan; Task A's run reads its rotation source model
    assert [c.upstream() for _, c in groups["task_c"]] == [[c] for _, c in groups["task_c_backbones"]]
    a = groups["task_a"][0][1]
    assert a.upstream()[0].task == "rotation" and a.upstream()[0].upstream() == []
    # the tricks model adds exactly the tricks to Model_B
    b, tricks = plan.task_b("Model_B"), plan.task_b("Model_B + tricks")
    changed = {k for k, v in tricks.to_dict().items() if b.to_dict()[k] != v}
    assert changed == {"augment", "crop_padding", "scheduler", "plateau_patience", "label_smoothing"} - (
        {"crop_padding"} if b.crop_padding == tricks.crop_padding else set())


def test_shot_group_sizes_reach_the_heads_and_keep_the_default_key():
    from reprolib.chapters.eurosat import CHAPTER
    from reprolib.core.config import ConfigError

    default = CHAPTER.plan(CHAPTER.settings("smoke")).task_c_runs()[0][1]
    changed = CHAPTER.plan(CHAPTER.settings("smoke", shot_groups=[2, 5, 3])).task_c_runs()[0][1]
    assert default.shot_groups == (3, 4, 3) and changed.shot_groups == (2, 5, 3)
    assert "shot_groups" not in default.key_dict() and changed.key() != default.key()
    with pytest.raises(ConfigError, match="shot_groups"):
        CHAPTER.settings("smoke", shot_groups=[3, 3, 3])

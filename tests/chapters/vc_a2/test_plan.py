"""Seed report 002 chapter: the report CNN, the settings table and plan, the explorer callbacks."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reprolib.chapters.vc_a2 import CHAPTER, figures  # noqa: E402
from reprolib.chapters.vc_a2.settings import PART3_GRID  # noqa: E402
from reprolib.core import models  # noqa: E402
from reprolib.core.config import ConfigError  # noqa: E402
from reprolib.core.widgets import live_explorer  # noqa: E402


# ---------------------------------------------------------------------------- the CNN
def test_report_cnn_output_shape_for_32x32_input():
    model = models.build("report_cnn", num_classes=2, in_channels=3)
    out = model(torch.zeros(5, 3, 32, 32))
    assert out.shape == (5, 2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4


def plan(profile="cpu", **over):
    return CHAPTER.plan(CHAPTER.settings(profile, **over))


def test_cnn_config_has_the_reports_hyperparameters():
    cfg = plan().cnn("DA + WD 1e-5", seed=1)
    assert (cfg.model, cfg.optimizer, cfg.lr, cfg.momentum, cfg.nesterov, cfg.batch_size) == ("report_cnn", "sgd", 0.1, 0.9, True, 128)
    assert cfg.augment == ("crop", "flip") and cfg.weight_decay == 1e-5 and cfg.seed == 1
    assert cfg.classes == (2, 4) and cfg.dataset == "fashion_mnist"


def test_transfer_config_is_feature_extraction():
    cfg = plan().transfer("alexnet", seed=0)
    assert (cfg.freeze, cfg.lr, cfg.weights, cfg.image_size) == ("all_but_head", 0.001, "source", 64)
    assert cfg.source_config().classes == (0, 1, 3, 5, 6, 7, 8, 9)
    full = plan("full").transfer("inception_v3")
    assert (full.weights, full.image_size, full.aux_weight, full.dataset, full.classes) == ("imagenet", 299, 0.4, "cifar10", (3, 5))


def test_profiles_cover_the_report():
    cpu = plan()
    assert len(cpu.settings.seeds) >= 2 and {"resnet18", "alexnet"} <= set(cpu.settings.transfer)
    assert set(plan("full").settings.transfer) == {"resnet18", "alexnet", "vgg11_bn", "squeezenet1_0", "densenet121", "inception_v3"}
    assert len(cpu.cnn_runs()) == len(PART3_GRID) * len(cpu.settings.seeds)
    assert len({c.key() for _, c in cpu.part5_runs()}) == 4 * len(cpu.settings.seeds)
    # Part 5's CNN runs are Part 3's runs (read back from the cache, not retrained)
    p3 = {c.key() for _, c in cpu.cnn_runs()}
    assert all(c.key() in p3 for lab, c in cpu.part5_runs() if lab["model"] == "CNN")


# ---------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": []}, "seeds must be a non-empty list"),
    ({"seeds": [0, -1]}, "seeds must be"),
    ({"seeds": 3}, "seeds must be"),
    ({"grid": ["rotate"]}, "grid: \\['rotate'\\] not allowed"),
    ({"grid": "flip"}, "grid must be a non-empty list"),
    ({"transfer": ["vgg11_bn"]}, "transfer must be a non-empty list"),
    ({"epochs": 3}, "unknown vc_a2 parameter"),
    ({"cnn.lr": -1.0}, "lr"),
])
def test_bad_chapter_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        plan("cpu", **kwargs).configs()


def test_bad_profile_setting_and_model():
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        CHAPTER.settings("gpu")
    with pytest.raises(ConfigError, match="unknown setting"):
        plan().cnn("mixup")
    with pytest.raises(ConfigError, match="not in this execution's transfer models"):
        plan().transfer("densenet121")


def test_none_overrides_keep_profile_defaults():
    assert CHAPTER.settings("smoke", seeds=None, grid=["flip"]).grid == ("none", "flip")


# ---------------------------------------------------------------------------- explorers
def test_live_explorer_recomputes_the_figure_for_new_controls():
    calls = []

    def draw(**kw):
        calls.append(kw)
        return figures.live_draw(**kw, max_steps=20)

    w = live_explorer(draw, function=["matyas", "beale"], start_x=(0.0, 255.0, 1.0), start_y=(0.0, 255.0, 1.0),
                      lr=[1.0, 10.0], beta=(0.0, 0.9, 0.1), nesterov=True, eps=[1.0, 2.0])
    assert calls == []  # nothing drawn until asked (see reprolib.core.widgets.live_explorer)
    ctrl = {c.description: c for c in w.kwargs_widgets}
    ctrl["lr"].value = 10.0
    ctrl["function"].value = "beale"
    w.manual_button.click()
    assert len(calls) == 1 and calls[-1]["lr"] == 10.0 and calls[-1]["function"] == "beale"
    figs = [o for o in w.out.outputs if "image/png" in o.get("data", {})]
    assert len(figs) <= 1


def test_explorer_draw_titles_follow_the_point():
    fig = figures.explorer_draw("matyas", 100.0, "Nesterov", max_steps=30)
    assert isinstance(fig, Figure)
    assert "Nesterov" in fig.axes[0].get_title() and "lr=100" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="method must be"):
        figures.explorer_draw("matyas", 1.0, "adam")
    fig = figures.live_draw("schaffer", 204, 179, lr=10, beta=0.0, nesterov=False, max_steps=20)
    assert "plain GD" in fig.axes[0].get_title()


def test_cpu_budget_makes_part3_differences_testable():
    """The whole Pullover/Coat training split, 20+ epochs and 4+ seeds for every cell of the Part 3 grid."""
    cpu = plan()
    cells = {}
    for lab, cfg in cpu.cnn_runs():
        assert cfg.train_size == 0 and cfg.epochs >= 20
        cells.setdefault(lab["setting"], set()).add(cfg.seed)
    assert set(cells) == set(PART3_GRID) and all(len(seeds) >= 4 for seeds in cells.values())
    assert cpu.settings.part1_starts >= 20

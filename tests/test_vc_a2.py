"""Seed report 002 chapter code: the report CNN, Part 5's accuracy bookkeeping, the
explorer callbacks and the chapter's configuration (reprolib.vc_a2, reprolib.accuracy)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reprolib import accuracy as acc  # noqa: E402
from reprolib import models, vc_a2  # noqa: E402
from reprolib.config import ConfigError  # noqa: E402
from reprolib.widgets import live_explorer  # noqa: E402


# ---------------------------------------------------------------------------- the CNN
def test_report_cnn_output_shape_for_32x32_input():
    model = models.build("report_cnn", num_classes=2, in_channels=3)
    out = model(torch.zeros(5, 3, 32, 32))
    assert out.shape == (5, 2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4


def test_cnn_config_has_the_reports_hyperparameters():
    cfg = vc_a2.cnn_config("cpu", "DA + WD 1e-5", seed=1)
    assert (cfg.model, cfg.optimizer, cfg.lr, cfg.momentum, cfg.nesterov, cfg.batch_size) == ("report_cnn", "sgd", 0.1, 0.9, True, 128)
    assert cfg.augment == ("crop", "flip") and cfg.weight_decay == 1e-5 and cfg.seed == 1
    assert cfg.classes == (2, 4) and cfg.dataset == "fashion_mnist"


def test_transfer_config_is_feature_extraction():
    cfg = vc_a2.transfer_config("cpu", "alexnet", seed=0)
    assert (cfg.freeze, cfg.lr, cfg.weights, cfg.image_size) == ("all_but_head", 0.001, "source", 64)
    assert cfg.source_config().classes == (0, 1, 3, 5, 6, 7, 8, 9)
    full = vc_a2.transfer_config("full", "inception_v3")
    assert (full.weights, full.image_size, full.aux_weight, full.dataset, full.classes) == ("imagenet", 299, 0.4, "cifar10", (3, 5))


def test_profiles_cover_the_issue():
    cpu = vc_a2.chapter_profile("cpu")
    assert len(cpu["seeds"]) >= 2 and {"resnet18", "alexnet"} <= set(cpu["transfer"])
    assert set(vc_a2.PROFILES["full"]["transfer"]) == {"resnet18", "alexnet", "vgg11_bn", "squeezenet1_0", "densenet121", "inception_v3"}
    assert len(vc_a2.cnn_configs(cpu)) == len(vc_a2.SETTINGS) * len(cpu["seeds"])
    assert len({c.key() for _, c in vc_a2.part5_configs(cpu)}) == 4 * len(cpu["seeds"])
    # Part 5's CNN runs are Part 3's runs (read back from the cache, not retrained)
    p3 = {c.key() for _, c in vc_a2.cnn_configs(cpu)}
    assert all(c.key() in p3 for lab, c in vc_a2.part5_configs(cpu) if lab["model"] == "CNN")


# ---------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": []}, "seeds must be a non-empty list"),
    ({"seeds": [0, -1]}, "seeds must be"),
    ({"seeds": 3}, "seeds must be"),
    ({"settings": ["rotate"]}, "settings must be"),
    ({"transfer": ["vgg11_bn"]}, "transfer models must be"),
    ({"epochs": 3}, "unknown chapter setting"),
])
def test_bad_chapter_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        vc_a2.chapter_profile("cpu", **kwargs)


def test_bad_profile_setting_and_model():
    with pytest.raises(ConfigError, match="unknown profile"):
        vc_a2.chapter_profile("gpu")
    with pytest.raises(ConfigError, match="unknown setting"):
        vc_a2.cnn_config("cpu", "mixup")
    with pytest.raises(ConfigError, match="not in this profile"):
        vc_a2.transfer_config("cpu", "densenet121")
    with pytest.raises(ConfigError, match="lr"):
        vc_a2.cnn_config("cpu", "none", lr=-1.0)


def test_none_overrides_keep_profile_defaults():
    assert vc_a2.chapter_profile("smoke", seeds=None, settings=["flip"])["settings"] == ("none", "flip")


# ---------------------------------------------------------------------------- Part 5
PRED = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
TRUE = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 0])
# hits per batch of 4: [1,1,0,1] -> 3/4, [1,0,1,1] -> 3/4, [0,0] -> 0/2; total 6/10


def test_accumulating_vs_overwriting_by_hand():
    assert acc.epoch_accuracy(PRED, TRUE, 4) == pytest.approx(0.6)
    assert acc.epoch_accuracy(PRED, TRUE, 4, overwrite=True) == pytest.approx(0.0)  # last batch only
    np.testing.assert_allclose(acc.batch_accuracies(PRED, TRUE, 4), [0.75, 0.75, 0.0])
    c = acc.compare_updates(PRED, TRUE, 4)
    assert (c["accumulating"], c["overwriting"], c["n_batches"], c["last_batch_size"]) == (pytest.approx(0.6), 0.0, 3, 2)
    assert (c["batch_min"], c["batch_max"]) == (0.0, 0.75)


def test_update_objects_and_logits():
    right, wrong = acc.Accuracy(), acc.OverwritingAccuracy()
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])  # predicts 0, 1, 0
    for a in (right, wrong):
        a.update(logits, torch.tensor([0, 1, 1]))  # 2/3
        a.update(np.array([1]), np.array([1]))  # 1/1
    assert right.accuracy() == pytest.approx(3 / 4)
    assert wrong.accuracy() == 1.0
    with pytest.raises(ValueError, match="before any update"):
        acc.Accuracy().accuracy()
    with pytest.raises(ValueError, match="equally long"):
        right.update([0, 1], [0])
    with pytest.raises(ValueError, match="batch_size"):
        acc.batch_accuracies(PRED, TRUE, 0)


def test_max_of_batches_is_biased_upwards():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    pred = np.where(rng.random(1000) < 0.8, y, 1 - y)
    r = acc.max_of_batches(pred, y, 128, evaluations=200, seed=0)
    assert r["true"] == pytest.approx((pred == y).mean())
    assert abs(r["mean_batch"] - r["true"]) < 0.02
    assert r["max_batch"] > r["true"] + 0.03
    with pytest.raises(ValueError, match="batch_size"):
        acc.max_of_batches(pred, y, 5000)


# ---------------------------------------------------------------------------- explorers
def test_live_explorer_recomputes_the_figure_for_new_controls():
    calls = []

    def draw(**kw):
        calls.append(kw)
        return vc_a2.live_draw(**kw, max_steps=20)

    w = live_explorer(draw, function=["matyas", "beale"], start_x=(0.0, 255.0, 1.0), start_y=(0.0, 255.0, 1.0),
                      lr=[1.0, 10.0], beta=(0.0, 0.9, 0.1), nesterov=True, eps=[1.0, 2.0])
    assert calls == []  # nothing drawn until asked (see reprolib.widgets.live_explorer)
    ctrl = {c.description: c for c in w.kwargs_widgets}
    ctrl["lr"].value = 10.0
    ctrl["function"].value = "beale"
    w.manual_button.click()
    assert len(calls) == 1 and calls[-1]["lr"] == 10.0 and calls[-1]["function"] == "beale"
    figs = [o for o in w.out.outputs if "image/png" in o.get("data", {})]
    assert len(figs) <= 1


def test_explorer_draw_titles_follow_the_point():
    fig = vc_a2.explorer_draw("matyas", 100.0, "Nesterov", max_steps=30)
    assert isinstance(fig, Figure)
    assert "Nesterov" in fig.axes[0].get_title() and "lr=100" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="method must be"):
        vc_a2.explorer_draw("matyas", 1.0, "adam")
    fig = vc_a2.live_draw("schaffer", 204, 179, lr=10, beta=0.0, nesterov=False, max_steps=20)
    assert "plain GD" in fig.axes[0].get_title()

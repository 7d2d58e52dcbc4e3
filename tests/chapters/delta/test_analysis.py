"""Figure 3's distances, the feature-map changes, the schedules through the trainer, and the numbers behind the verdicts."""
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from reprolib.chapters.delta import CHAPTER, analysis
from reprolib.chapters.delta import figures as F
from reprolib.chapters.delta.finetune import lr_schedule
from reprolib.core import models
from reprolib.core.chapter import Verdicts
from reprolib.core.train import TrainSpec, fit


def test_channel_and_stage_distances_hand_computed():
    start = {"layer1.0.conv1.weight": torch.zeros(2, 1, 1, 2), "layer1.0.bn1.weight": torch.ones(2),
             "layer2.0.conv1.weight": torch.zeros(1, 1, 1, 1)}
    state = {"layer1.0.conv1.weight": torch.tensor([[[[3.0, 4.0]]], [[[0.0, 1.0]]]]), "layer1.0.bn1.weight": torch.tensor([1.0, 3.0]),
             "layer2.0.conv1.weight": torch.tensor([[[[2.0]]]])}
    ch = analysis.channel_distances(state, start, stages=("layer1", "layer2"))
    np.testing.assert_allclose(ch["layer1"], [5.0, 1.0])  # one distance per output filter; BN γ is not a filter
    np.testing.assert_allclose(ch["layer2"], [2.0])
    st = analysis.stage_distances(state, start, stages=("layer1", "layer2"))
    assert st["layer1"] == pytest.approx(math.sqrt(25 + 1 + 4))  # conv filters and BN γ together: what L2-SP sees
    assert st["layer2"] == pytest.approx(2.0)
    with pytest.raises(KeyError, match="layer3"):
        analysis.channel_distances(state, start, stages=("layer3",))


def test_map_changes_are_zero_for_the_source_and_relative_for_a_scaled_channel():
    torch.manual_seed(0)
    source = models.build("resnet50-w2-small", num_classes=3, in_channels=3).eval()
    target = models.build("resnet50-w2-small", num_classes=3, in_channels=3).eval()
    target.load_state_dict(source.state_dict())
    name = "layer2.3.conv3"
    with torch.no_grad():
        target.get_submodule(name).weight[1] *= 3.0  # that channel's map becomes 3 s: ‖3s − s‖² / ‖s‖² = 4
    images = torch.randn(5, 3, 16, 16)
    same = analysis.map_changes(source, source, [name], images)[0]
    assert np.allclose(same, 0.0)
    change = analysis.map_changes(target, source, [name], images)[0]
    assert change[1] == pytest.approx(4.0, rel=1e-4)
    assert np.allclose(np.delete(change, 1), 0.0, atol=1e-10)


@pytest.mark.parametrize("kind", ["steplr", "explr"])
def test_the_trainer_follows_step_lr_and_exp_lr_of_train_py(kind):
    """The lr of each epoch under the shared trainer: STEP-LR 0.01 until the decay epoch, then 0.001; EXP-LR
    0.01 · γ^epoch with γ^decay = 0.1 — the scheduler stepped after each epoch (the report's fix)."""
    epochs = 6
    sched = lr_schedule(kind, epochs)
    decay = int(0.67 * epochs) + 1  # 5
    spec = TrainSpec(epochs=epochs, lr=0.01, momentum=0.9, batch_size=8, seed=0, **sched)
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(2)]
    result = fit(nn.Linear(4, 2), loader, None, spec, keep_best=False, progress=False, device="cpu")
    lrs = [e["lr"] for e in result.history["epoch"]]
    if kind == "steplr":
        expected = [0.01 if e < decay else 0.001 for e in range(epochs)]
    else:
        expected = [0.01 * 0.1 ** (e / decay) for e in range(epochs)]
    assert lrs == pytest.approx(expected)


def _results(rows):
    return pd.DataFrame([{"diverged": False, **r} for r in rows])


def test_results_frame_gives_nan_for_a_diverged_run_and_verdicts_leave_it_out():
    class R:
        def __init__(self, acc, diverged=False):
            self.diverged, self.cached = diverged, True
            self.metrics = {} if diverged else {"test_acc": acc, "last_epoch_train_acc": acc, "last_epoch_test_acc": acc,
                                                "train_seconds": 1.0, "end_cross_entropy": 0.5, "end_feature_term": 0.1,
                                                "end_classifier_term": 0.01}

    pairs = [({"row": "without AUG", "method": "delta", "seed": s}, R(0.8 + 0.01 * s)) for s in range(3)]
    pairs += [({"row": "without AUG", "method": "l2_sp", "seed": 0}, R(0.0, diverged=True))]
    df = F.results_frame(pairs)
    assert df.test_acc.iloc[:3].tolist() == pytest.approx([80.0, 81.0, 82.0]) and math.isnan(df.test_acc.iloc[3])
    assert F.diverged_note(df).startswith("**1 run(s) diverged**") and "L2-SP (without AUG, seed 0)" in F.diverged_note(df)
    alpha = pd.DataFrame([{"method": "delta", "alpha": 0.1, "seed": 0, "diverged": True}])
    assert "DELTA (α = 0.1, seed 0)" in F.diverged_note(df, alpha) and "nan" not in F.diverged_note(df, alpha)
    assert F.diverged_note(df[~df.diverged]) == ""
    assert F._acc(df, "l2_sp") == [] and len(F._acc(df, "delta")) == 3


def test_absolute_deviations_and_the_spread_verdict():
    assert F.absolute_deviations([1.0, 2.0, 6.0, float("nan")]) == [1.0, 0.0, 4.0]
    settings = CHAPTER.settings("smoke")
    v = Verdicts("delta", "smoke")
    wide, narrow = [80.0, 90.0, 70.0, 95.0, 65.0, 85.0, 75.0], [80.0, 80.1, 79.9, 80.2, 79.8, 80.05, 79.95]
    rows = []
    for row in ("without AUG", "with AUG", "with AUG (channel evaluation augmented)"):
        rows += [{"row": row, "method": "delta", "seed": i, "test_acc": a} for i, a in enumerate(wide)]
        rows += [{"row": row, "method": "l2_sp", "seed": i, "test_acc": a} for i, a in enumerate(narrow)]
    out = F.spread_and_augmentation_verdicts(v, settings, _results(rows))
    labels = dict(zip(out.claim, out.verdict))
    assert labels["DELTA varies more than L2-SP, without AUG"] == "reproduced"  # spread 10 vs 0.1 points, n = 7
    assert labels["augmented channel evaluation: DELTA varies less"] == "inconclusive"  # the same values in both rows
    assert labels["augmentation raises L2-SP"] == "equivalent"  # the same accuracies with and without, within ±1
    assert len(v.rows) == 5


def test_late_gains_from_the_decay_epoch_to_the_end():
    epochs = 6  # decay epoch int(0.67 · 6) + 1 = 5 (numbered from 1)
    rows = []
    for seed, (at5, at6) in enumerate([(60.0, 63.0), (61.0, 62.0)]):
        for e in range(1, epochs + 1):
            acc = {5: at5, 6: at6}.get(e, 50.0)
            rows += [{"schedule": "steplr", "method": "L2-SP", "seed": seed, "epoch": e, "split": "test", "accuracy": acc},
                     {"schedule": "steplr", "method": "L2-SP", "seed": seed, "epoch": e, "split": "train", "accuracy": 99.0}]
    g = F.late_gains(pd.DataFrame(rows), epochs)
    assert g.gain.tolist() == [3.0, 1.0]


def test_alpha_verdict_names_the_best_alpha_and_stays_inconclusive():
    class R:
        def __init__(self, acc, diverged=False):
            self.diverged = diverged
            self.metrics = {} if diverged else {"test_acc": acc}

    settings = CHAPTER.settings("smoke", alphas=[0.01, 0.1, 1.0])
    results = [({"method": "delta", "alpha": 0.01, "seed": 0}, R(0.6)), ({"method": "delta", "alpha": 0.1, "seed": 0}, R(0.7)),
               ({"method": "delta", "alpha": 1.0, "seed": 0}, R(0.0, diverged=True)),
               ({"method": "l2_sp", "alpha": 1.0, "seed": 0}, R(0.9))]
    v = Verdicts("delta", "smoke")
    F.alpha_verdict(v, results, settings)
    (row,) = v.rows
    assert row["verdict"] == "inconclusive" and "best α" in row["ours"] and ": 0.1 (70.0 %" in row["ours"]


def test_scale_text_states_the_hooked_maps_of_each_profile():
    full = F.scale_text(CHAPTER.settings("full"))
    assert "256×56², 512×28², 1024×14², 2048×7² (ResNet-101" in full and "9,024 iterations" in full
    cpu = F.scale_text(CHAPTER.settings("cpu"))
    assert "`resnet101-w8`" in cpu and "epochs" in cpu


def test_late_gain_verdict_is_inconclusive_when_training_ends_at_the_decay_epoch():
    settings = CHAPTER.settings("smoke", **{"finetune.epochs": 3})  # decay epoch int(0.67 · 3) + 1 = 3: nothing after it
    fig1 = _results([{"schedule": s, "method": m, "seed": i, "test_acc": 80.0 + i, "last_epoch_train_acc": 90.0 + i,
                      "last_epoch_test_acc": 80.0 + i} for s in settings.schedules for m in ("delta", "l2_sp") for i in range(2)])
    v = Verdicts("delta", "smoke")
    F.figure1_verdicts(v, settings, fig1, pd.DataFrame(columns=["schedule", "method", "seed", "epoch", "split", "accuracy"]))
    late = [r for r in v.rows if "still rising" in r["claim"]]
    assert len(late) == len(settings.schedules)
    assert all(r["verdict"] == "inconclusive" and "decay epoch" in r["test"] for r in late)


def test_figure3_draws_a_channel_that_did_not_move_by_counting_it():
    rng = np.random.default_rng(0)
    rows = [{"stage": st, "method": m, "seed": s, "distance": float(d)} for st in ("conv2_x", "conv3_x") for m in ("DELTA", "L2-SP")
            for s in range(2) for d in rng.lognormal(size=20)]
    rows[0]["distance"] = 0.0  # a filter that got no gradient: log(0) would break the density
    fig = F.figure3(pd.DataFrame(rows))
    assert "1 channel(s) with distance 0" in fig.axes[0].get_title()
    plt.close(fig)


def test_map_change_of_a_channel_silent_in_the_source_is_nan_not_huge():
    torch.manual_seed(0)
    source = models.build("resnet50-w2-small", num_classes=3, in_channels=3).eval()
    target = models.build("resnet50-w2-small", num_classes=3, in_channels=3).eval()
    name = "layer2.3.conv3"
    with torch.no_grad():
        source.get_submodule(name).weight[2] = 0.0  # silent in the source: ‖s‖² = 0, any change divides by zero
    target.load_state_dict(source.state_dict())
    with torch.no_grad():
        target.get_submodule(name).weight[2] = 0.1  # the target uses it
    change = analysis.map_changes(target, source, [name], torch.randn(5, 3, 16, 16))[0]
    assert math.isnan(change[2])
    assert np.allclose(np.delete(change, 2), 0.0, atol=1e-10)


def test_spread_verdict_needs_three_runs_per_group():
    """With two runs both |x − median| equal half the range: zero variance in each group, which must not decide."""
    v = Verdicts("delta", "smoke")
    verdict = F.spread_compare(v, "a varies more", [80.0, 82.0], [80.0, 80.5], reported="", names=("a", "b"))
    assert verdict.label == "inconclusive" and "n ≥ 3" in verdict.test
    assert F.spread_compare(v, "a varies more", [70.0, 80.0, 90.0, 75.0, 85.0, 95.0, 65.0],
                            [80.0, 80.1, 79.9, 80.2, 79.8, 80.05, 79.95], reported="", names=("a", "b")).label == "reproduced"


def test_first_finished_pair_skips_seeds_with_a_diverged_method_and_is_none_without_a_pair():
    from types import SimpleNamespace

    from reprolib.chapters.delta import figures as F

    def res(name, diverged=False):
        return SimpleNamespace(name=name, diverged=diverged)

    results = [({"seed": 0, "method": "l2_sp"}, res("a0")), ({"seed": 0, "method": "delta"}, res("b0", diverged=True)),
               ({"seed": 1, "method": "delta"}, res("b1")), ({"seed": 1, "method": "l2_sp"}, res("a1"))]
    pair = F.first_finished_pair(results)
    assert {m: r.name for m, r in pair.items()} == {"l2_sp": "a1", "delta": "b1"}
    assert F.first_finished_pair(results[:2]) is None  # seed 0's DELTA run diverged: nothing to draw, no error

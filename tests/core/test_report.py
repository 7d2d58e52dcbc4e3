import math
from types import SimpleNamespace

import numpy as np
import matplotlib.pyplot as plt
import pytest

from reprolib.core import report


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_mean_std_uses_the_sample_std_and_states_n():
    assert report.mean_std([0.80, 0.90], scale=100) == "85.00 ± 7.07 (n=2)"
    assert report.mean_std([3.0]) == "3.00 ± 0.00 (n=1)"
    assert report.mean_std([]) == "—"


def test_welch_matches_the_hand_computed_statistic():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 3.0]
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va / 4 + vb / 3)
    out = report.welch(a, b, "two-sided")
    assert out["t"] == pytest.approx(t) and out["n_a"] == 4 and out["diff"] == pytest.approx(-0.0)
    assert math.isnan(report.welch([1.0], [2.0, 3.0])["p"])


def test_verdict_reproduced_not_reproduced_inconclusive():
    high, low = [0.90, 0.91, 0.92], [0.80, 0.81, 0.79]
    v = report.verdict(high, low)
    assert v.label == "reproduced" and "Welch one-sided" in v.test and "n = 3, 3" in v.test and v.p < 0.05
    assert report.verdict(low, high).label == "not reproduced"
    assert report.verdict(high, low, "less").label == "not reproduced"
    assert report.verdict([0.8, 0.9], [0.85, 0.84]).label == "inconclusive"
    one = report.verdict([0.9], [0.1])
    assert one.label == "inconclusive" and "n ≥ 2" in one.test
    assert str(v).startswith("reproduced (")


def test_verdict_equivalent_needs_tost_not_a_large_welch_p():
    a = [0.800, 0.801, 0.799, 0.800]
    b = [0.8005, 0.7995, 0.8001, 0.7999]
    same = report.verdict(a, b, "same", margin=0.01)
    assert same.label == "equivalent" and "TOST ±0.01" in same.test
    # a directional claim whose gain is absent within the margin
    assert report.verdict(a, b, "greater", margin=0.01).label == "equivalent"
    # Welch p ≥ 0.05 alone is not "the same": noisy samples with a tight margin stay inconclusive
    noisy_a, noisy_b = [0.70, 0.90], [0.72, 0.88]
    assert report.welch(noisy_a, noisy_b, "two-sided")["p"] > 0.5
    assert report.verdict(noisy_a, noisy_b, "same", margin=0.01).label == "inconclusive"
    # clearly different: a sameness claim is not reproduced
    assert report.verdict(high := [0.9, 0.91, 0.92], [0.5, 0.51, 0.49], "same", margin=0.01).label == "not reproduced"
    with pytest.raises(ValueError, match="needs an equivalence margin"):
        report.verdict(high, high, "same")


def test_tost_matches_two_hand_computed_one_sided_tests():
    from scipy import stats

    a, b, m = np.array([1.0, 1.2, 0.9, 1.1]), np.array([1.05, 0.95, 1.0]), 0.3
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 3
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 2)  # Welch–Satterthwaite
    d = a.mean() - b.mean()
    p_low = stats.t.sf((d + m) / se, df)   # H0: d <= -m
    p_high = stats.t.cdf((d - m) / se, df)  # H0: d >= +m
    assert report.tost(a, b, m)["p"] == pytest.approx(max(p_low, p_high))


def test_verdict_threshold_one_sample():
    assert report.verdict_threshold([85.0, 86.0, 84.5], 80.0).label == "reproduced"
    assert report.verdict_threshold([70.0, 71.0, 69.5], 80.0).label == "not reproduced"
    assert report.verdict_threshold([79.0, 81.0], 80.0).label == "inconclusive"
    assert report.verdict_threshold([90.0, 90.0], 80.0).label == "reproduced"  # no spread: the sign decides
    assert report.verdict_threshold([70.0], 80.0).label == "inconclusive"


def test_verdict_vocabulary_is_fixed():
    assert report.VERDICTS == ("reproduced", "not reproduced", "equivalent", "inconclusive", "not run")
    with pytest.raises(ValueError, match="not one of"):
        report.Verdict("probably")


def test_reported_vs_ours_formats_per_seed_values_and_names_the_source():
    df = report.reported_vs_ours([{"setting": "none", "reported": 0.89, "ours": [0.8, 0.9], "scale": 100}], source="seed 002")
    assert list(df.columns) == ["setting", "reported (seed 002)", "ours"]
    assert df.loc[0, "ours"] == "85.00 ± 7.07 (n=2)"


def test_history_frame_and_curves_aggregate_over_seeds():
    runs = [SimpleNamespace(config=SimpleNamespace(seed=s), history={"epoch": [{"epoch": e, "val_acc": 0.5 + 0.1 * e + 0.01 * s} for e in range(3)]}) for s in (0, 1)]
    df = report.history_frame(runs, "epoch", lr=0.1)
    assert len(df) == 6 and set(df.seed) == {0, 1} and (df.lr == 0.1).all()
    ax = report.curves(df, "epoch", "val_acc", hue="lr")
    line = ax.lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.505, 0.605, 0.705])


def test_image_grid_unnormalises():
    import torch

    ax = report.image_grid(torch.zeros(4, 1, 5, 5), nrow=2, mean=(0.5,), std=(0.25,))
    shown = ax.images[0].get_array()
    assert shown.max() == pytest.approx(1.0) and np.allclose(shown[2, 2], 0.5)  # padding white, image = mean


def test_verdict_without_spread_is_decided_by_the_values_without_a_test_statistic():
    """Deterministic outcomes (e.g. every descent fails: steps = budget + 1) have no variance: no NaN p-values."""
    v = report.verdict([1001.0] * 4, [1001.0] * 4, "less")
    assert v.label == "inconclusive" and "nothing to rank" in v.test
    assert report.verdict([40.0] * 3, [1001.0] * 3, "less").label == "reproduced"
    assert report.verdict([40.0] * 3, [1001.0] * 3, "greater").label == "not reproduced"
    assert report.verdict([1.0, 1.0], [1.001, 1.001], "same", margin=0.01).label == "equivalent"
    assert report.verdict([1.0, 1.0], [2.0, 2.0], "same", margin=0.01).label == "not reproduced"


def _run(acc, seed=0, diverged=False):
    metrics = {"diverged": "loss exploded"} if diverged else {"best_val_acc": acc, "test_acc": acc}
    history = {"epoch": [{"epoch": 0, "val_acc": acc or 0.0, "train_loss": 1e17 if diverged else 0.5}]}
    return SimpleNamespace(metrics=metrics, history=history, diverged=diverged, config=SimpleNamespace(seed=seed))


def test_a_diverged_run_is_never_averaged_and_never_the_best():
    groups = {0.1: [_run(0.80), _run(0.82, 1)], 1e6: [_run(None, diverged=True), _run(0.99, 1)], 0.5: [_run(0.70), _run(0.72, 1)]}
    vals = report.values(groups[1e6], "best_val_acc")
    assert math.isnan(vals[0]) and vals[1] == 0.99
    assert report.mean_std(vals) == "0.99 ± 0.00 (n=1)"  # n counts the finished run only
    assert report.summarize(groups[1e6], "best_val_acc") == "0.99 ± 0.00 (n=1); 1 of 2 diverged"
    assert report.summarize([_run(None, diverged=True)]) == "diverged (1 of 1 runs)"
    assert report.diverged_settings(groups) == [1e6]
    assert report.best_setting(groups, "best_val_acc") == 0.1  # 1e6 has the best seed, but a run of it diverged
    assert report.best_setting(groups, "best_val_acc", higher=False) == 0.5
    assert report.best_setting({1e6: groups[1e6]}) is None
    frame = report.history_frame(groups[1e6])
    assert list(frame["seed"]) == [1] and frame["train_loss"].max() < 1  # the diverged curve is left out


def test_verdict_rates_is_fishers_exact_test_against_hand_computed_hypergeometric_tails():
    # 2 of 4 crop runs diverge, 0 of 32 others: P(both events fall in the 4 crop runs) = C(4,2) / C(36,2) = 6 / 630
    v = report.verdict_rates(2, 4, 0, 32)
    assert v.label == "reproduced" and v.p == pytest.approx(6 / 630) and "2 of 4 vs 0 of 32" in v.test
    # the opposite direction: 0 of 10 vs 8 of 10; P(no event among A's 10) = C(12,10) / C(20,10)
    w = report.verdict_rates(0, 10, 8, 10)
    assert w.label == "not reproduced" and w.p == pytest.approx(math.comb(12, 10) / math.comb(20, 10))
    assert report.verdict_rates(0, 10, 8, 10, claim="less").label == "reproduced"
    # no events anywhere, or one event: neither direction decides
    assert report.verdict_rates(0, 4, 0, 32).label == "inconclusive"
    assert report.verdict_rates(1, 4, 0, 4).label == "inconclusive"
    assert report.verdict_rates(0, 0, 1, 4).label == "inconclusive"
    with pytest.raises(ValueError, match="impossible"):
        report.verdict_rates(5, 4, 0, 4)
    with pytest.raises(ValueError, match="claim"):
        report.verdict_rates(1, 4, 0, 4, claim="same")

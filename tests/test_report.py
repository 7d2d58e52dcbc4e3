import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import pytest

from reprolib import report


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


def test_verdicts():
    high, low = [0.90, 0.91, 0.92], [0.80, 0.81, 0.79]
    assert report.verdict(high, low).startswith("reproduced")
    assert report.verdict(low, high).startswith("not reproduced")
    assert report.verdict([0.8, 0.9], [0.85, 0.84]).startswith("inconclusive")
    assert report.verdict([0.9], [0.1]) == "inconclusive (n < 2 per group)"


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

"""Part 1's rankings are decided by tests over random starts, never by comparing means or by a fixed rule."""
import numpy as np
import pandas as pd
import pytest

from reprolib.chapters.vc_a2 import figures as F
from reprolib.chapters.vc_a2 import optim2d
from reprolib.core.chapter import Verdicts


def _rows(function, steps_by_method, lr=10.0):
    rows = []
    for method, steps in steps_by_method.items():
        beta, nest = F.METHODS[method]
        for i, s in enumerate(steps):
            rows.append(dict(function=function, start=i, lr=lr, beta=beta, nesterov=nest, eps=1.0, method=method,
                             steps_to_global=s, reached_global=s <= 1000))
    return pd.DataFrame(rows)


def _method_verdict(steps_by_method):
    v = Verdicts("vc_a2", "smoke")
    F._ranking(v, "Nesterov is best", _rows("schaffer", steps_by_method), "method", "Nesterov", str, "Nesterov", 1000)
    return v.rows[-1]


def test_no_method_reaching_the_minimum_cannot_make_nesterov_best():
    never = [1001] * 6
    row = _method_verdict({"GD": never, "momentum": never, "Nesterov": never})
    assert row["verdict"] == "inconclusive" and "reached: GD: 0%, Nesterov: 0%, momentum: 0%" in row["claim"]


def test_a_ranking_is_a_one_sided_welch_test_against_the_best_alternative():
    rng = np.random.default_rng(0)
    fast, slow = list(40 + rng.integers(0, 5, 8)), list(400 + rng.integers(0, 50, 8))
    row = _method_verdict({"GD": [1001] * 8, "momentum": slow, "Nesterov": fast})
    assert row["verdict"] == "reproduced" and "best alternative, momentum" in row["claim"] and "Welch" in row["test"]
    row = _method_verdict({"GD": fast, "momentum": slow, "Nesterov": slow})
    assert row["verdict"] == "not reproduced" and "best alternative, GD" in row["claim"]


def test_steps_to_global_counts_failures_as_budget_plus_one():
    surface = optim2d.sample_function("matyas")
    starts = optim2d.random_starts("matyas", 3, seed=1)
    assert all(surface.distance_to_global(p) > 10 for p in starts)
    d = optim2d.sweep(["matyas"], starts=starts, lrs=(1e-3, 100.0), betas=(0.9,), nesterov=(True,), max_steps=50)
    tiny, big = d[d.lr == 1e-3], d[d.lr == 100.0]
    assert (tiny.steps_to_global == 51).all() and not tiny.reached_global.any()
    assert (big.steps_to_global <= big.steps).all() and big.reached_global.all()
    np.testing.assert_array_equal(optim2d.random_starts("matyas", 3, seed=1), starts)  # seeded
    with pytest.raises(ValueError, match="n must be"):
        optim2d.random_starts("matyas", 0)


def _grid_runs(diverged: dict, seeds=4):
    """A Part 3 result table and curves: every setting finishes every seed except ``diverged`` {setting: k}."""
    from types import SimpleNamespace

    grid = ["none", "flip", "crop", "DA + WD 1e-5"]
    rows, hist = [], []
    for g in grid:
        for s in range(seeds):
            if s < diverged.get(g, 0):
                rows.append(dict(setting=g, seed=s, status="diverged"))
                continue
            rows.append(dict(setting=g, seed=s, status="finished", best_val_acc=0.9 + 0.01 * s, best_epoch=3.0,
                             test_acc=0.9))
            hist += [dict(setting=g, seed=s, epoch=e, train_loss=1.0 / e + 0.01 * s, val_acc=0.9) for e in range(1, 6)]
    return SimpleNamespace(grid=grid), pd.DataFrame(rows), pd.DataFrame(hist)


def test_part3_counts_diverged_runs_in_its_table_and_tests_them_with_fishers_exact_test():
    settings, df, hist = _grid_runs({"crop": 3})
    _, table = F.part3(settings, df, hist)
    crop = table.set_index("setting").loc["crop"]
    assert crop["diverged"] == "3 of 4" and table.set_index("setting").loc["none", "diverged"] == "0 of 4"
    assert crop["ours: best val acc"].endswith("(n=1)")  # the one finished crop run; the diverged ones have no result
    assert F.diverged_counts(df, "crop") == ((3, 4), (0, 12))
    v = Verdicts("vc_a2", "smoke")
    F.part3_verdicts(v, settings, df, hist)
    row = next(r for r in v.rows if "diverge" in r["claim"])
    # P(all 3 events among crop's 4 runs) = C(4,3) / C(16,3) = 4 / 560
    assert row["verdict"] == "reproduced" and f"{4 / 560:.2g}" in row["test"] and row["ours"].startswith("crop 3 of 4")


def test_part3_diverged_row_is_inconclusive_when_nothing_or_little_diverges():
    for diverged in ({}, {"crop": 1}):
        settings, df, hist = _grid_runs(diverged)
        v = Verdicts("vc_a2", "smoke")
        F.part3_verdicts(v, settings, df, hist)
        assert next(r for r in v.rows if "diverge" in r["claim"])["verdict"] == "inconclusive"
    settings, df, hist = _grid_runs({"none": 4, "flip": 4})  # the others diverge, crop never: the opposite
    v = Verdicts("vc_a2", "smoke")
    F.part3_verdicts(v, settings, df, hist)
    assert next(r for r in v.rows if "diverge" in r["claim"])["verdict"] == "not reproduced"

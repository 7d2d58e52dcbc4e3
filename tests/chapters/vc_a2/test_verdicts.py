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

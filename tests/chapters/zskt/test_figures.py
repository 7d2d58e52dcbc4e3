"""Numbers the ZSKT chapter's sentences and verdict rows are computed from."""
from types import SimpleNamespace

import numpy as np
import pytest

from reprolib.chapters.zskt import figures as F


def test_teacher_curve_gain_is_the_rise_of_the_teachers_mean_probability():
    p_t = np.zeros((2, 9, 30), np.float32)
    p_t[..., 20:] = np.linspace(0.2, 0.5, 10)  # rises by 0.3 from step 20 to step 29
    curves = {"p_teacher": p_t, "p_student": p_t, "labels": np.zeros(2)}
    assert F.teacher_curve_gain(curves, 20) == pytest.approx(0.3)
    assert F.teacher_curve_gain(curves, 20, 24) == pytest.approx(0.3 * 4 / 9, rel=1e-5)
    assert np.isnan(F.teacher_curve_gain(curves, 40))  # fewer steps than the claim needs
    assert np.isnan(F.teacher_curve_gain({"p_teacher": np.zeros((0, 9, 30))}, 20))


def test_last_half_gains_read_the_accuracy_curve():
    run = SimpleNamespace(history={"curve": {"iteration": [150, 300, 450, 600], "test_acc": [0.5, 0.70, 0.71, 0.73]}})
    assert F.last_half_gains([run]) == pytest.approx([3.0])  # 0.73 at 600 minus 0.70 at 300, in points
    assert F.last_half_gains([SimpleNamespace(history={"curve": {"iteration": [6], "test_acc": [0.1]}})]) == []


def test_every_claim_gets_a_row_at_cpu():
    """The cpu branch of add_verdicts on constructed results: one row per claim, each from the fixed vocabulary."""
    from reprolib.chapters.zskt import CHAPTER, reported as R

    settings = CHAPTER.settings("cpu")
    plan = CHAPTER.plan(settings)
    rng = np.random.default_rng(0)

    def runs(acc, n=2, iterations=1500, spread=0.005):
        curve = {"iteration": [iterations // 2, iterations], "test_acc": [acc - 0.01, acc]}
        return [SimpleNamespace(metrics={"test_acc": acc + spread * rng.standard_normal(), "num_classes": 10,
                                         "teacher_test_acc": 0.9},
                                config=SimpleNamespace(iterations=iterations), history={"curve": curve}) for _ in range(n)]

    archs = {plan.arch(a) for p in R.PAIRS for a in p}
    teachers = {a: SimpleNamespace(metrics={"test_acc": 0.9}) for a in archs}
    zs_pairs = {p: runs(0.74, iterations=plan.pair_iterations(p)) for p in R.PAIRS}
    kd_pairs = {p: runs(0.72) for p in R.PAIRS}
    few = {(mode, m): runs(0.72 if mode == "kd+at" else 0.66, n=4) for m in settings.fewshot_m for mode in ("kd+at", "none")}
    beta_runs = {b: runs(0.6, iterations=500) for b in settings.betas}
    gen_lr = {lr: runs(0.6, iterations=500) for lr in settings.generator_lrs}
    t5 = {"base": beta_runs[250.0], "dynamic": runs(0.6, iterations=500), "same": runs(0.8), "chain": runs(0.7)}
    p_t = np.tile(np.linspace(0, 0.5, settings.tc_steps), (5, 9, 1))
    tc = {k: [{"p_teacher": p_t, "p_student": p_t, "labels": np.zeros(5)}] * 2
          for k in ("zero-shot", "KD+AT", "zero-shot, larger student")}
    mte = {"zero-shot": [0.20, 0.21], "KD+AT": [0.50, 0.52], "zero-shot, larger student": [0.15, 0.16]}
    other = {"digits": runs(0.85, iterations=250)}
    v = CHAPTER.verdicts(settings)
    F.add_verdicts(v, plan, teachers, zs_pairs, kd_pairs, few, beta_runs, t5, gen_lr, tc, mte, other,
                   available=lambda name: name in ("fashion_mnist", "digits"))
    claims = " ".join(r["claim"] for r in v.rows)
    for needle in ("T1", "T2", "T3", "80% of its teacher", "generator learning rate", "M = 10", "M = 50", "β = 250 beats β = 2500",
                   "β = 0", "n_G", "same-architecture", "chain", "Fashion-MNIST", "digits", "CIFAR-100", "second half",
                   "lower MTE", "stops growing", "wider"):
        assert needle in claims, needle
    verdicts = {r["claim"].split(" (")[0]: r["verdict"] for r in v.rows}
    assert verdicts["The authors' zero-shot code reproduces the paper on SVHN: WRN-40-2 → WRN-16-1 within 2 points of 94.20"] == "not run"
    assert next(r for r in v.rows if "SVHN" in r["claim"])["test"] == "not run at cpu: dataset not available offline"
    kd_rows = [r for r in v.rows if r["claim"].startswith("KD+AT beats")]
    assert len(kd_rows) == 2 and all(r["verdict"] == "reproduced" and r["n"] == "4 vs 4" for r in kd_rows)
    assert len(v.rows) == 32  # every claim of the report once (four β rows, six pairs, two M)

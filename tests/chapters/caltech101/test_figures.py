"""The computed sentences of the Caltech-101 page follow from the numbers they are given."""
import pandas as pd

from reprolib.chapters.caltech101 import figures as F


def _scratch(best_accs, other=0.02):
    rows = [{"best": True, "test_acc": a} for a in best_accs] + [{"best": False, "test_acc": other}]
    return pd.DataFrame(rows)


def test_a_scratch_network_near_chance_is_said_to_barely_learn():
    text = F.scratch_sentence(_scratch([0.046, 0.040, 0.052]), classes=26)
    assert "barely learns" in text
    assert "4.6 ± 0.6 % (n = 3)" in text and "1.2× guessing" in text and "1/26 = 3.8 %" in text


def test_a_scratch_network_well_above_chance_is_not_said_to_barely_learn():
    text = F.scratch_sentence(_scratch([0.40, 0.44]), classes=26)
    assert "barely" not in text
    assert "42.0 ± 2.8 % (n = 2)" in text and "10.9× guessing" in text


def test_no_finished_scratch_run_gives_no_sentence():
    assert F.scratch_sentence(_scratch([]), classes=26) == ""


def _runs(diverged_flags, acc=0.6):
    from types import SimpleNamespace

    return [({"seed": i}, SimpleNamespace(diverged=d, reason="alexnet-w4: training diverged: loss became nan at step 40. "
                                           "The run is stopped" if d else "", metrics={} if d else {"test_acc": acc}))
            for i, d in enumerate(diverged_flags)]


def test_the_loss_explosion_row_counts_diverged_runs_with_fishers_exact_test():
    from reprolib.core.chapter import Verdicts

    v = Verdicts("caltech101", "cpu")
    F.loss_explodes_row(v, _runs([True] * 3), _runs([False] * 9))
    row = v.rows[-1]
    # P(all 3 divergences among the 3 runs at lr 0.05 of 12) = 1 / C(12, 3) = 1 / 220
    assert row["verdict"] == "reproduced" and f"{1 / 220:.2g}" in row["test"] and row["n"] == "3 vs 9"
    F.loss_explodes_row(v, _runs([False] * 3), _runs([False] * 9))
    assert v.rows[-1]["verdict"] == "inconclusive"  # nothing diverged: no evidence either way at n = 3
    F.loss_explodes_row(v, [], _runs([False] * 9))
    assert v.rows[-1]["verdict"] == "not run"


def test_the_loss_explosion_sentence_names_each_runs_fate():
    from types import SimpleNamespace

    text = F.explode_sentence(_runs([True, False]), SimpleNamespace(scratch_best=(0.05, 30, 20, 0.1)), classes=26)
    assert "1 of 2 runs diverged" in text and "seed 0: diverged (loss became nan at step 40)" in text
    assert "seed 1: finished, 60.0 % test accuracy." in text and "chance" not in text
    stuck = F.explode_sentence(_runs([False], acc=1 / 26), SimpleNamespace(scratch_best=(0.05, 30, 20, 0.1)), classes=26)
    assert "0 of 1 runs diverged" in stuck and "3.8 % test accuracy — chance level (3.8 %)" in stuck

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

"""Part 5 of seed report 002: accumulating vs overwriting accuracy updates, by hand."""
import numpy as np
import pytest
import torch

from reprolib.chapters.vc_a2 import accuracy as acc


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

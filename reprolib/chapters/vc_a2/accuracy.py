"""Accuracy bookkeeping, right and wrong (seed report 002, section 1.5).

The report's first ``test.py`` *overwrote* the number of correct predictions and the
number of predictions at every ``update`` instead of adding to them, so the "epoch"
accuracy it printed was the accuracy of the **last batch only**.  The corrected version
accumulates.  The report's correction also changed *what* was measured: accuracy on one
128-sample validation batch after every training batch (per-batch) instead of over the
whole validation set once per epoch (per-epoch).  A maximum taken over many noisy
per-batch values is optimistically biased; :func:`max_of_batches` quantifies that.

Everything works on predictions (labels predicted by a model and the true labels), so
the wrong and right updates are compared on exactly the same numbers.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "OverwritingAccuracy", "Accuracy", "batch_accuracies", "epoch_accuracy",
    "compare_updates", "max_of_batches",
]


def _as_labels(x) -> np.ndarray:
    """Predicted labels from labels (1-D) or logits/scores (2-D, argmax over the last axis)."""
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if a.ndim == 2:
        a = a.argmax(1)
    if a.ndim != 1:
        raise ValueError(f"predictions must be labels (N,) or scores (N, C), got shape {a.shape}")
    return a


def _check_pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p, t = _as_labels(pred), np.asarray(target.detach().cpu() if hasattr(target, "detach") else target)
    if t.ndim != 1 or len(p) != len(t):
        raise ValueError(f"predictions ({len(p)}) and targets (shape {t.shape}) must be equally long 1-D arrays")
    return p, t


class Accuracy:
    """The correct update: correct and total predictions are *accumulated* over batches."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, pred, target) -> None:
        p, t = _check_pair(pred, target)
        self.correct += int((p == t).sum())
        self.total += len(t)

    def accuracy(self) -> float:
        if self.total == 0:
            raise ValueError("accuracy() before any update(): no predictions counted")
        return self.correct / self.total


class OverwritingAccuracy(Accuracy):
    """The report's original (wrong) update: each batch *overwrites* the counts, so
    :meth:`accuracy` is the accuracy of the last batch seen."""

    def update(self, pred, target) -> None:
        p, t = _check_pair(pred, target)
        self.correct = int((p == t).sum())
        self.total = len(t)


def batch_accuracies(pred, target, batch_size: int = 128) -> np.ndarray:
    """Accuracy of each consecutive batch of ``batch_size`` predictions (the last may be smaller)."""
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    p, t = _check_pair(pred, target)
    if len(t) == 0:
        raise ValueError("no predictions")
    hits = (p == t).astype(float)
    return np.array([hits[i:i + batch_size].mean() for i in range(0, len(t), batch_size)])


def epoch_accuracy(pred, target, batch_size: int = 128, overwrite: bool = False) -> float:
    """The accuracy a validation loop over ``batch_size`` batches reports, with the right
    (accumulating) or the report's wrong (``overwrite=True``) update."""
    acc = OverwritingAccuracy() if overwrite else Accuracy()
    p, t = _check_pair(pred, target)
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    for i in range(0, len(t), batch_size):
        acc.update(p[i:i + batch_size], t[i:i + batch_size])
    return acc.accuracy()


def compare_updates(pred, target, batch_size: int = 128) -> dict:
    """Both updates on the same predictions, plus the per-batch spread.

    Returns ``accumulating`` (right), ``overwriting`` (wrong = last batch), ``last_batch_size``,
    ``n``, ``n_batches``, ``batch_min``/``batch_max``/``batch_std`` of the per-batch accuracies.
    """
    per = batch_accuracies(pred, target, batch_size)
    n = len(_as_labels(pred))
    return {
        "accumulating": epoch_accuracy(pred, target, batch_size),
        "overwriting": epoch_accuracy(pred, target, batch_size, overwrite=True),
        "n": n,
        "n_batches": len(per),
        "last_batch_size": n - batch_size * (len(per) - 1),
        "batch_min": float(per.min()),
        "batch_max": float(per.max()),
        "batch_std": float(per.std(ddof=1)) if len(per) > 1 else 0.0,
    }


def max_of_batches(pred, target, batch_size: int = 128, evaluations: int = 100, seed: int = 0) -> dict:
    """How much "best per-batch validation accuracy" overstates the true accuracy.

    Draws ``evaluations`` random validation batches of ``batch_size`` (the report evaluated a
    128-sample batch after each training batch) from fixed predictions and returns the true
    (whole-set) accuracy, the mean per-batch accuracy and the maximum over the draws: the
    number a "best validation accuracy" read off per-batch evaluations would report even if
    the model never changed.
    """
    p, t = _check_pair(pred, target)
    if not (isinstance(evaluations, (int, np.integer)) and evaluations >= 1):
        raise ValueError(f"evaluations must be an integer >= 1, got {evaluations!r}")
    if not (isinstance(batch_size, (int, np.integer)) and 1 <= batch_size <= len(t)):
        raise ValueError(f"batch_size must be an integer in [1, {len(t)}], got {batch_size!r}")
    rng = np.random.default_rng(seed)
    hits = (p == t).astype(float)
    draws = np.array([hits[rng.choice(len(t), batch_size, replace=False)].mean() for _ in range(evaluations)])
    return {"true": float(hits.mean()), "mean_batch": float(draws.mean()), "max_batch": float(draws.max()),
            "evaluations": evaluations, "batch_size": batch_size}

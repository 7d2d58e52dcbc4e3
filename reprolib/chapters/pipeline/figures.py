"""Figures and tables of the pipeline chapter (the notebook only calls these)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from reprolib.core import data, report, runs
from reprolib.core.loader import TensorLoader, build_augment

from .plan import Plan


def batch_figure(dataset: str):
    """Two images per class, and one augmented training batch as the trainer sees it."""
    fm = data.load(dataset, "train")
    loader = TensorLoader(fm, batch_size=16, augment=build_augment(("crop", "flip"), 4), seed=0)
    augmented, _ = next(iter(loader))
    first = [int((fm.labels == c).nonzero()[k]) for k in (0, 1) for c in range(fm.num_classes)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3))
    report.image_grid(fm.images[first], nrow=fm.num_classes, ax=axes[0], title=f"{dataset}: two images per class")
    report.image_grid(augmented, nrow=8, mean=fm.mean, std=fm.std, ax=axes[1], title="one augmented training batch")
    return fig


def epochs_frame(by_lr: dict) -> pd.DataFrame:
    """Per-epoch history of the finished runs (a diverged run's curve is not a result: see :func:`curves_figure`)."""
    return pd.concat([report.history_frame(rs, "epoch", **{"learning rate": lr}) for lr, rs in by_lr.items()], ignore_index=True)


def curves_figure(epochs: pd.DataFrame, by_lr: dict | None = None):
    """Validation accuracy and training loss per epoch; learning rates whose runs diverged are named, not drawn."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    if not epochs.empty:
        report.curves(epochs, "epoch", "val_acc", hue="learning rate", ax=axes[0], title="validation accuracy")
        report.curves(epochs, "epoch", "train_loss", hue="learning rate", ax=axes[1], title="training loss")
    diverged = report.diverged_settings(by_lr or {})
    if diverged:
        fig.suptitle("diverged (not drawn): " + ", ".join(
            f"lr {lr:g} ({sum(r.diverged for r in by_lr[lr])} of {len(by_lr[lr])} runs)" for lr in diverged),
            color="firebrick", fontsize="medium")
    fig.tight_layout()
    return fig


def results_table(by_lr: dict) -> pd.DataFrame:
    """Per learning rate: mean ± std over seeds of the finished runs; diverged runs are counted, never averaged."""
    return pd.DataFrame([
        {
            "learning rate": lr,
            "best validation accuracy (%)": report.summarize(rs, "best_val_acc", scale=100),
            "test accuracy of the best checkpoint (%)": report.summarize(rs, "test_acc", scale=100),
            "seconds per run": report.summarize(rs, "train_seconds", digits=0),
            "images/s": report.summarize(rs, "images_per_second", digits=0),
        }
        for lr, rs in by_lr.items()
    ])


def best_lr(by_lr: dict) -> float | None:
    """The learning rate with the highest mean validation accuracy (validation, never test, picks it).

    A learning rate with a diverged run is never picked; None when every one diverged.
    """
    return report.best_setting(by_lr, "best_val_acc")


def lr_verdicts(verdicts, by_lr: dict) -> str:
    """Compare the best learning rate (on validation) with every other on test accuracy; return the sentence to show.

    Welch's test over seeds; a learning rate with a diverged run is never the best, and a
    comparison with it is inconclusive (a diverged run is not a result).
    """
    best = best_lr(by_lr)
    diverged = report.diverged_settings(by_lr)
    if best is None:
        verdicts.not_run("one learning rate is best on validation", "every learning rate has a diverged run", reported="—")
        return "**Every learning rate has a diverged run**, so none is picked as the best."
    for lr in by_lr:
        claim = f"learning rate {best:g} (best on validation) gives a higher test accuracy than {lr:g}"
        if lr in diverged:
            verdicts.inconclusive(claim, f"lr {lr:g}: {report.summarize(by_lr[lr])}; a diverged run is not a result",
                                  reported="—", n=f"{len(by_lr[best])} vs {len(by_lr[lr])}")
        elif lr != best:
            verdicts.compare(claim, report.values(by_lr[best]), report.values(by_lr[lr]), reported="—", scale=100,
                             names=(f"lr {best:g}:", f"lr {lr:g}:"))
    skipped = f" (never picked, a run diverged: {', '.join(f'{lr:g}' for lr in diverged)})" if diverged else ""
    return (f"The learning rate with the best mean validation accuracy here is **{best:g}**{skipped}; "
            "on test accuracy it compares with the others as follows (Welch's test over seeds).")


def draw_runs(epochs: pd.DataFrame, learning_rate: float, quantity: str):
    df = epochs[epochs["learning rate"] == learning_rate] if not epochs.empty else epochs
    fig, ax = plt.subplots(figsize=(6, 3.4))
    if df.empty:
        ax.text(0.5, 0.5, f"lr = {learning_rate:g}: every run diverged (no curve)", ha="center", va="center", color="firebrick")
        ax.set_axis_off()
        return fig
    for seed, part in df.groupby("seed"):
        ax.plot(part["epoch"], part[quantity], marker="o", label=f"seed {seed}")
    ax.set(xlabel="epoch", ylabel=quantity, title=f"lr = {learning_rate:g}: {quantity}")
    ax.legend()
    return fig


def draw_live(plan: Plan, learning_rate: float, seed: int):
    """Trains (or reads from the run cache) the run for any learning rate: the live explorer's drawing."""
    result = runs.run(plan.run(learning_rate, seed), progress=False)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    if result.diverged:
        ax.text(0.5, 0.5, f"lr = {learning_rate:g}, seed {seed}: the run diverged", ha="center", va="center", color="firebrick")
        ax.set_axis_off()
        return fig
    df = pd.DataFrame(result.history["epoch"])
    ax.plot(df["epoch"], df["val_acc"], marker="o")
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title=f"lr = {learning_rate:g}, seed {seed}" + (" (cached)" if result.cached else ""))
    return fig

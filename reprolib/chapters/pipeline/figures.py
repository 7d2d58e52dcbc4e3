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
    return pd.concat([report.history_frame(rs, "epoch", **{"learning rate": lr}) for lr, rs in by_lr.items()], ignore_index=True)


def curves_figure(epochs: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    report.curves(epochs, "epoch", "val_acc", hue="learning rate", ax=axes[0], title="validation accuracy")
    report.curves(epochs, "epoch", "train_loss", hue="learning rate", ax=axes[1], title="training loss")
    fig.tight_layout()
    return fig


def results_table(by_lr: dict) -> pd.DataFrame:
    return pd.DataFrame([
        {
            "learning rate": lr,
            "best validation accuracy (%)": report.mean_std(report.values(rs, "best_val_acc"), scale=100),
            "test accuracy of the best checkpoint (%)": report.mean_std(report.values(rs, "test_acc"), scale=100),
            "seconds per run": report.mean_std(report.values(rs, "train_seconds"), digits=0),
            "images/s": report.mean_std(report.values(rs, "images_per_second"), digits=0),
        }
        for lr, rs in by_lr.items()
    ])


def best_lr(by_lr: dict) -> float:
    """The learning rate with the highest mean validation accuracy (validation, never test, picks it)."""
    return max(by_lr, key=lambda lr: sum(report.values(by_lr[lr], "best_val_acc")) / len(by_lr[lr]))


def draw_runs(epochs: pd.DataFrame, learning_rate: float, quantity: str):
    df = epochs[epochs["learning rate"] == learning_rate]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for seed, part in df.groupby("seed"):
        ax.plot(part["epoch"], part[quantity], marker="o", label=f"seed {seed}")
    ax.set(xlabel="epoch", ylabel=quantity, title=f"lr = {learning_rate:g}: {quantity}")
    ax.legend()
    return fig


def draw_live(plan: Plan, learning_rate: float, seed: int):
    """Trains (or reads from the run cache) the run for any learning rate: the live explorer's drawing."""
    result = runs.run(plan.run(learning_rate, seed), progress=False)
    df = pd.DataFrame(result.history["epoch"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(df["epoch"], df["val_acc"], marker="o")
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title=f"lr = {learning_rate:g}, seed {seed}" + (" (cached)" if result.cached else ""))
    return fig

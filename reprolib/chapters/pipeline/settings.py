"""Every setting of the pipeline chapter, per profile (the one place to change them)."""
from __future__ import annotations

from reprolib.core.chapter import SettingsTable, check_positive, check_seeds, row, same


def _size(n: int) -> str:
    return "all" if n == 0 else f"{n:,}"


TABLE = SettingsTable("pipeline", {
    #                      smoke          cpu            full
    "seeds":          same((0, 1), check=check_seeds, help="model seeds per learning rate"),
    "learning_rates": same((0.02, 0.1, 0.4), check=check_positive, help="SGD learning rates compared"),
}, sections={
    # the fields of the TrainConfig of every run (the rest keep TrainConfig's defaults)
    "train": {
        "dataset":    same("fashion_mnist", help="real Fashion-MNIST (Debian's dataset-fashion-mnist)"),
        "train_size": row(512,           10000,         0, show=_size, help="training images before the 10% validation split"),
        "epochs":     row(2,             5,             30),
        "batch_size": row(64,            128,           128),
        "model":      row("wrn-10-1",    "wrn-16-1",    "wrn-16-2", help="pre-activation wide ResNet"),
    },
})

"""The chapter's run: the shared ``supervised`` experiment with one pretrained source model per architecture.

At ``full`` a transfer run starts from torchvision's ImageNet weights.  Offline (``cpu``,
``smoke``) it starts from a *source model* the project trains itself on the other classes of
the same dataset (``weights="source"``, :mod:`reprolib.core.transfer`).  ImageNet weights are
one published model that every fine-tuning run of the report starts from, whatever its
learning rate, schedule or seed; :meth:`CaltechRun.source_config` keeps that property: the
source run depends only on the data, the architecture and its own recipe (``source_*`` fields,
seed 0), so every target run of one architecture shares one cached source model.
"""
from __future__ import annotations

import dataclasses

from reprolib.core import data as data_mod
from reprolib.core import registry, transfer
from reprolib.core.config import option
from reprolib.core.supervised import TrainConfig, supervised
from reprolib.core.train import OPTIMIZERS

from . import augment  # noqa: F401  (the pipelines must be registered before a config names them)


@dataclasses.dataclass(frozen=True)
class CaltechRun(TrainConfig):
    """A run of the Caltech-101 homework (report sections 2-5): a :class:`TrainConfig` whose offline
    source model is shared across seeds and target hyperparameters."""

    EXPERIMENT = "caltech101"

    source_optimizer: str = option("sgd", choices=OPTIMIZERS, help="optimiser of the offline source model")
    source_lr: float = option(0.01, low=0.0, help="learning rate of the offline source model (cosine schedule)")
    source_batch_size: int = option(128, low=1)
    source_val_fraction: float = option(0.1, low=0.01, high=0.5, help="validation share of the source task's images")
    source_zero_init: bool = option(False, added=True, help="source models start each ResNet block as the identity")

    def source_config(self) -> "CaltechRun":
        """The source task: the dataset's classes that are *not* target classes, trained from scratch with the
        source recipe (momentum 0.9, weight decay 5e-5, cosine schedule, seed 0, ResNet blocks zero-initialised when
        ``source_zero_init``) — one model per architecture."""
        rest = transfer.source_task_classes(self.classes, data_mod.load(self.dataset, "test").num_classes)
        return type(self)(
            dataset=self.dataset, classes=rest, train_size=self.source_train_size, val_fraction=self.source_val_fraction,
            data_seed=0, image_size=self.image_size, model=self.model, weights="none", freeze="none", augment=(),
            epochs=self.source_epochs, batch_size=self.source_batch_size, optimizer=self.source_optimizer,
            lr=self.source_lr, momentum=0.9, weight_decay=5e-5, scheduler="cosine", seed=0, device=self.device,
            source_epochs=self.source_epochs, source_train_size=self.source_train_size,
            source_optimizer=self.source_optimizer, source_lr=self.source_lr, source_batch_size=self.source_batch_size,
            source_val_fraction=self.source_val_fraction, source_zero_init=self.source_zero_init,
            zero_init_residual=self.source_zero_init,
        )


registry.experiment(CaltechRun)(supervised)

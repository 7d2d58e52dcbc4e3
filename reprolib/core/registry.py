"""Everything that is looked up by name: experiments, datasets, models, chapters.

Modules register what they define (``@experiment(ConfigClass)``, ``@dataset(...)``,
``@model(...)``, ``register_chapter(CHAPTER)``); the CLI and the book builder only read
these tables.  :func:`discover` imports every chapter package under
``reprolib.chapters`` (the one sanctioned path from core to the chapters), so adding a
chapter touches no core file.  Registering a name twice is an error: a silent
overwrite would make two experiments share a cache folder.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

EXPERIMENTS: dict[str, "Experiment"] = {}
DATASETS: dict[str, Any] = {}
MODELS: dict[str, "ModelInfo"] = {}
AUGMENTATIONS: dict[str, Callable] = {}
CHAPTERS: dict[str, Any] = {}


class DuplicateName(KeyError):
    """A name registered twice in one table."""


class Diverged(FloatingPointError):
    """Training diverged: the run is never a result.

    Part of the experiment protocol: an experiment function either returns
    ``{"metrics", "history"}`` or raises ``Diverged``; the run cache then stores the run as
    *diverged* (so it is not retrained for nothing) and never reports it as a result.
    ``history`` holds what was recorded up to the divergence (shown, never averaged).
    Raised by the trainer (:mod:`reprolib.core.train`, which re-exports it) and by
    chapter-specific training loops.
    """

    def __init__(self, message: str, *, history: dict | None = None):
        super().__init__(message)
        self.history = history or {}


def _add(table: dict, what: str, name: str, value) -> None:
    if name in table and table[name] is not value:
        raise DuplicateName(f"{what} {name!r} is registered twice ({table[name]!r} and {value!r})")
    table[name] = value


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: its config class and ``fn(config, ctx) -> {"metrics", "history"}`` (or it raises :class:`Diverged`)."""

    name: str
    config_cls: type
    fn: Callable


def experiment(config_cls: type):
    """Register ``fn`` as the experiment that runs ``config_cls`` (named ``config_cls.EXPERIMENT``)."""
    name = getattr(config_cls, "EXPERIMENT", "")
    if not name:
        raise ValueError(f"{config_cls.__name__} has no EXPERIMENT name")

    def deco(fn):
        _add(EXPERIMENTS, "experiment", name, Experiment(name, config_cls, fn))
        return fn

    return deco


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """A model builder ``build(num_classes, in_channels, **kwargs) -> nn.Module``.

    ``any_channels``: the model takes any number of input channels (so grey data is not
    converted to RGB for it); ``pretrained``: torchvision ImageNet weights exist for it.
    """

    name: str
    build: Callable
    any_channels: bool = True
    description: str = ""


def model(name: str, *, any_channels: bool = True, description: str = ""):
    def deco(fn):
        _add(MODELS, "model", name, ModelInfo(name, fn, any_channels, description))
        return fn

    return deco


def augmentation(name: str):
    """Register ``factory(padding) -> transform(x, generator) -> x``: a named batch augmentation for ``augment=(...)``."""

    def deco(fn):
        _add(AUGMENTATIONS, "augmentation", name, fn)
        return fn

    return deco


def register_dataset(name: str, info) -> None:
    _add(DATASETS, "dataset", name, info)


def register_chapter(chapter) -> None:
    _add(CHAPTERS, "chapter", chapter.slug, chapter)


def discover() -> dict[str, Any]:
    """Import every chapter package (they register their experiments and ``CHAPTER``); return CHAPTERS."""
    pkg = importlib.import_module("reprolib.chapters")  # dynamic: core never imports a chapter statically
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    return CHAPTERS

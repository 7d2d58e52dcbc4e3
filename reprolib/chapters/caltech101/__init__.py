"""Homework 2, AlexNet on Caltech-101 (seed report 004): ``book/caltech101.md``.

Modules: ``settings`` (the one settings table), ``reported`` (the report's numbers),
``experiment`` (the chapter's run: ``supervised`` with one shared source model per network),
``augment`` (the report's CS-HF, H-RP and B-GS-R pipelines, batch-wise), ``plan`` (every run
as configs), ``figures`` (tables, figures, verdicts).
"""
from reprolib.core.chapter import Chapter

from . import augment  # noqa: F401  (registers the pipelines as named augmentations)
from .plan import Plan
from .settings import TABLE


def _scale(settings) -> str:
    d = settings.section("data")
    nets = ", ".join(settings.networks.values())
    if d["dataset"] == "caltech101":
        return f"{settings.profile}: Caltech-101, {d['image_size']} px, {nets}, ImageNet weights"
    return (f"{settings.profile}: {d['dataset']} stand-in, {len(d['classes'])} classes, {d['train_size']} training images, "
            f"{d['image_size']} px, {nets}, source models pretrained offline")


CHAPTER = Chapter("caltech101", "Homework 2: AlexNet on Caltech-101", TABLE, Plan,
                  seed_report="seed report 004", scale_note=_scale).register()

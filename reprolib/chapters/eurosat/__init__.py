"""Homework 2 (seed report 003): ResNet-50 features and t-SNE, a modified DenseNet, a long-tailed SVM head: ``book/eurosat.md``.

Modules: ``settings`` (the one settings table), ``reported`` (the report's numbers),
``model_b`` (factorised, noisy DenseNet-121), ``experiment`` (the ``eurosat_hw2`` training
run), ``longtail`` (Task C's decoupled heads, the ``eurosat_hw2_heads`` run), ``embed``
(t-SNE and activation maps), ``plan`` (every run as configs), ``figures``.
"""
from reprolib.core.chapter import Chapter

from . import experiment, longtail  # noqa: F401  (register the experiments)
from .plan import Plan
from .settings import TABLE


def _scale(settings) -> str:
    a, b = settings.section("task_a"), settings.section("task_b")
    if settings.profile == "full":
        return "full: EuroSAT 64 px, ResNet-50 and DenseNet-121 (ImageNet weights)"
    return (f"{settings.profile}: Fashion-MNIST; {a['model']} at {a['image_size'] or 28} px from a rotation source; "
            f"{b['model']} at {b['image_size'] or 28} px; Task B {b['epochs']} epochs, {len(settings.seeds)} seeds")


CHAPTER = Chapter("eurosat", "Homework 2: ResNet-50 features, a modified DenseNet and a long-tailed SVM head", TABLE, Plan,
                  seed_report="seed report 003", scale_note=_scale).register()

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
    """The scale every verdict row states: data, networks, Task B's epochs and seeds."""
    a, b = settings.section("task_a"), settings.section("task_b")
    data = "EuroSAT 64 px" if settings["data.dataset"] == "eurosat" else f"{settings['data.dataset']}"
    return (f"{settings.profile}: {data}; {a['model']} ({a['weights']} weights), {b['model']} ({b['weights']} weights) at "
            f"{b['image_size'] or 'native'} px; Task B {b['epochs']} epochs, {len(settings.seeds)} seeds")


CHAPTER = Chapter("eurosat", "Homework 2: ResNet-50 features, a modified DenseNet and a long-tailed SVM head", TABLE, Plan,
                  seed_report="seed report 003", scale_note=_scale).register()

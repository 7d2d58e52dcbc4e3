"""Deep Learning for Visual Computing, assignment 2 (seed report 002): ``book/vc_a2.md``.

Modules: ``settings`` (the one settings table), ``reported`` (the report's numbers),
``optim2d`` (Part 1: descent on sampled 2-D functions), ``accuracy`` (Part 5: the
accuracy-bookkeeping bug), ``plan`` (every training run as configs), ``figures``.
"""
from reprolib.core.chapter import Chapter

from .plan import Plan
from .settings import TABLE


def _scale(settings) -> str:
    d = settings.section("data")
    return (f"{settings.profile}: {d['dataset']} classes {list(d['classes'])}, "
            f"{d['train_size'] or 'all'} training images, CNN {settings['cnn.epochs']} epochs")


CHAPTER = Chapter("vc_a2", "Deep Learning for Visual Computing, assignment 2", TABLE, Plan,
                  seed_report="seed report 002", scale_note=_scale).register()

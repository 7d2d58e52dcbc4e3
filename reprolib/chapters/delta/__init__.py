"""DELTA: feature-map attention transfer vs L2-SP (seed report 000): ``book/delta.md``.

Modules: ``settings`` (the one settings table), ``reported`` (the paper's and the report's numbers),
``regularizers`` (DELTA, L2-SP and classifier L2, as trainer plug-ins), ``channels`` (hooked layers,
channel evaluation, attention weights), ``finetune`` (the ``delta_channels`` and ``delta``
experiments), ``analysis`` (parameter distances, feature-map changes), ``plan`` (every run as
configs), ``figures``.
"""
from reprolib.core.chapter import Chapter

from . import finetune  # noqa: F401  (registers the experiments)
from .plan import Plan
from .settings import TABLE, scale_note


CHAPTER = Chapter("delta", "DELTA: feature-map attention transfer vs L2-SP", TABLE, Plan,
                  seed_report="seed report 000", scale_note=scale_note).register()

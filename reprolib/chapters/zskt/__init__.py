"""Zero-shot knowledge transfer via adversarial belief matching (seed report 001): ``book/zskt.md``.

Modules: ``settings`` (the one settings table), ``reported`` (the report's numbers),
``distill`` (attention transfer, KL, KD+AT losses, generator), ``teachers`` (the
teacher recipe), ``zeroshot`` and ``fewshot`` (the two experiments), ``probes``
(transition curves, MTE), ``plan`` (every run as configs), ``figures``.
"""
from reprolib.core.chapter import Chapter

from . import fewshot, zeroshot  # noqa: F401  (register the experiments)
from .plan import Plan
from .settings import TABLE


def _scale(settings) -> str:
    pair = settings.section("pair")
    z = settings.section("zeroshot")
    if settings.profile == "full":
        return "full: CIFAR-10, the report's WRNs, 80k iterations"
    return (f"{settings.profile}: {pair['dataset']} at {pair['image_size'] or 'native'} px, WRN-40-k→16-k, 16-k→10-k, "
            f"{z['iterations']} iterations ({settings.sweep_iterations} for the equal-budget sweeps), "
            f"{len(settings.seeds)} seeds")


CHAPTER = Chapter("zskt", "Zero-shot knowledge transfer via adversarial belief matching", TABLE, Plan,
                  seed_report="seed report 001", scale_note=_scale).register()

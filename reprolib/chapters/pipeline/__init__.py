"""The pipeline chapter: the shared machinery end to end on real Fashion-MNIST (``book/pipeline.md``)."""
from reprolib.core.chapter import Chapter

from .plan import Plan
from .settings import TABLE

CHAPTER = Chapter("pipeline", "The pipeline, end to end", TABLE, Plan).register()

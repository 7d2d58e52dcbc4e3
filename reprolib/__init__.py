"""reprolib: the shared PyTorch code behind the reproduction book.

``reprolib.core`` holds what every chapter uses (configs, data, models, the one
trainer, the run cache, reporting, the book builder, the CLI);
``reprolib.chapters.<slug>`` holds one report's methods, settings table, run plan
and figures.  Core never imports a chapter and chapters never import each other.

``__version__`` is part of every run-cache key: bump it when a change to the code
should invalidate earlier results.
"""
__version__ = "0.1.0"

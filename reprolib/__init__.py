"""reprolib: the shared PyTorch code behind the reproduction book.

Modules, one job each: ``config`` (typed run configs and profiles), ``data``
(dataset registry and split helpers), ``loader`` (in-memory batches and batch-wise
augmentation), ``models`` (WRN, the report CNN, torchvision models, freezing),
``train`` (the one supervised loop), ``runs`` (the on-disk run cache),
``experiments`` (named experiments the CLI and chapters run), ``transfer``
(source models and frozen-feature caching), ``report`` (plots, tables, tests),
``widgets`` (explorers that work in the static book), ``book`` (papermill +
Jupyter Book pipeline), ``bench`` (throughput benchmarks), ``cli``.

Chapter modules: ``optim2d`` and ``accuracy`` + ``vc_a2`` (seed report 002),
``distill``, ``zeroshot``, ``probes`` + ``zskt`` (seed report 001, ZSKT).
"""
__version__ = "0.1.0"

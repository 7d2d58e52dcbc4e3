"""Command line: ``python -m reprolib {run,experiments,datasets,chapters,chapter,sweep,book,bench}``.

An expected user error — a bad config value or parameter, an unknown name, a dataset or
weights that are not here, a damaged file, a diverged run, a run cache that cannot be
written, a full disk, a chapter that failed — prints one line on stderr (``error: ...``)
and exits with status 2; ``--debug`` shows the traceback instead.  Anything else is a bug
and keeps its traceback.  Warnings print as one ``warning: ...`` line each.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from pathlib import Path

from .config import PROFILES, ConfigError, check_profile, parse_sets, parse_value


def _cmd_run(args) -> int:
    from . import distributed, registry, runs

    distributed.setup()  # under `torchrun --nproc-per-node N`: one process per GPU, one run (DDP)
    registry.discover()
    if args.experiment not in registry.EXPERIMENTS:
        raise ConfigError(f"unknown experiment {args.experiment!r}; known: {sorted(registry.EXPERIMENTS)}")
    config = registry.EXPERIMENTS[args.experiment].config_cls.from_profile(args.profile, **parse_sets(args.set))
    if args.profile == "full":
        from .sweep import with_upstream

        _warn_full_profile(lambda: with_upstream([config]))
    main = distributed.is_main()
    if main:
        print(f"# {args.experiment} @ profile {args.profile}, key {config.key()}"
              + (f", {distributed.world_size()} processes (DDP)" if distributed.active() else ""))
    result = runs.run(config, progress=main and not args.quiet, force=args.force)
    if main:
        print(json.dumps({"cached": result.cached, "status": result.status, "path": str(result.path),
                          "metrics": dict(result.metrics)}, indent=1, default=str))
    if result.diverged:
        from .registry import Diverged

        raise Diverged(f"the run diverged ({'read from the run cache' if result.cached else 'stored as diverged'} at "
                       f"{result.path}; --force retrains it): {result.reason}")
    return 0


def _cmd_experiments(args) -> int:
    from . import registry

    registry.discover()
    for name, exp in sorted(registry.EXPERIMENTS.items()):
        doc = exp.config_cls.__doc__
        print(f"{name}: {doc.strip().splitlines()[0] if doc else ''}")
        if args.verbose:
            print("   keys:", ", ".join(exp.config_cls.field_names()))
    return 0


def _cmd_datasets(args) -> int:
    from .data import availability

    rows = availability()
    width = max(len(r["dataset"]) for r in rows)
    for r in rows:
        mark = "yes" if r["available"] else "no "
        where = r["location"] or (f"unusable — {r['problem']}" if r["problem"] else f"missing — {r['how to obtain']}")
        print(f"{r['dataset']:<{width}}  {mark}  {where}")
    return 0


def _cmd_chapters(args) -> int:
    from . import registry

    for slug, ch in sorted(registry.discover().items()):
        print(f"{slug:<12} {ch.page:<22} {ch.title}")
    return 0


def _cmd_chapter(args) -> int:
    """Execute one chapter's notebook with papermill (jupytext reads the .md in memory)."""
    from . import registry
    from .book import execute_chapter, find_root

    chapters = registry.discover()
    if args.slug not in chapters:
        raise ConfigError(f"unknown chapter {args.slug!r}; known: {sorted(chapters)}")
    params = {name: parse_value(value) for name, value in args.parameter}
    profile = check_profile(params.pop("profile", "cpu"))
    if profile == "full":
        from .sweep import chapter_configs

        _warn_full_profile(lambda: chapter_configs(args.slug, "full"))
    root = find_root()
    out = Path(args.output).resolve()
    seconds = execute_chapter(root / chapters[args.slug].page, out, profile, params, cwd=root,
                              progress=not args.quiet, chapter=f"book/{args.slug}")
    print(f"{out} ({seconds:.1f} s)")
    return 0


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _cmd_sweep(args) -> int:
    """Submit every run of a chapter's plan that the run cache does not hold (submitit: Slurm or local processes)."""
    from . import sweep

    configs = sweep.chapter_configs(args.slug, args.profile, **parse_sets(args.set))
    if args.status:
        print(sweep.format_status(sweep.status(configs)))
        return 0
    if args.cost:
        print(sweep.format_cost(args.slug, args.profile, sweep.full_cost(args.slug, configs)))
        return 0
    options = sweep.SweepOptions(executor=args.executor, parallel=args.parallel, threads=args.threads,
                                 partition=args.partition, gpus_per_job=args.gpus_per_job,
                                 cpus_per_job=args.cpus_per_job, time_min=args.time_min)
    if args.dry_run:
        print(sweep.slurm_script(options) if args.executor == "slurm" else sweep.format_status(sweep.status(configs)))
        return 0
    if args.profile == "full" and args.executor == "local":
        _warn_full_profile(lambda: configs)
    if args.executor == "local":  # a terminated sweep stops its local jobs too (their checkpoints stay)
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    rows = sweep.submit(configs, options)
    if args.executor == "local":
        print(sweep.format_status(rows))
        return 0 if all(r["state"] == "done" for r in rows) else 1
    print(f"submitted {len(rows)} job(s); `python -m reprolib sweep {args.slug} --profile {args.profile} --status` shows progress")
    return 0


def _cmd_book(args) -> int:
    from .book import build_book

    if args.profile == "full":
        from . import registry
        from .sweep import chapter_configs

        slugs = sorted({Path(c).name for c in args.chapter} if args.chapter else registry.discover())
        _warn_full_profile(lambda: [c for slug in slugs for c in chapter_configs(slug, "full")])
    index = build_book(profile=args.profile, out_dir=args.out, chapters=args.chapter or None)
    print(index)
    return 0


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(quick=args.quick, as_json=args.json, chapter=None if args.no_chapter else args.chapter)


_WARNED_FULL = False


def _warn_full_profile(configs) -> None:
    """Once per process: profile 'full' without a GPU, with an estimate of what it costs on this machine."""
    global _WARNED_FULL
    import torch

    if _WARNED_FULL or torch.cuda.is_available():
        return
    _WARNED_FULL = True
    from .sweep import estimate_text

    try:
        estimate = estimate_text(configs())
    except Exception as err:  # noqa: BLE001 - a warning never stops the command; the command itself reports real errors
        estimate = f"(No estimate: {_one_line(err)})"
    warnings.warn(f"profile 'full' is the reports' own scale, written for CUDA GPUs, and this machine has none. "
                  f"{estimate} Consider a GPU machine (python -m reprolib sweep <chapter> --profile "
                  "full --executor slurm) or profile cpu.", FullProfileWarning, stacklevel=2)


class FullProfileWarning(UserWarning):
    """Profile 'full' requested on a machine without a CUDA GPU."""


def _expected_errors() -> tuple[type, ...]:
    """User errors that get one line and exit status 2 (imported here: ``--help`` stays fast)."""
    from .book import BookError
    from .data import DatasetUnavailable
    from .io import DiskFull
    from .models import ModelUnavailable
    from .registry import Diverged
    from .runs import CacheNotWritable, NoResult

    return (ConfigError, BookError, DatasetUnavailable, DiskFull, ModelUnavailable, Diverged, CacheNotWritable, NoResult)


def _one_line(err: BaseException) -> str:
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {_one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr, flush=True)


def _add(sub, common, name: str, **kwargs) -> argparse.ArgumentParser:
    return sub.add_parser(name, parents=[common], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reprolib", description="Run, cache and publish the book's experiments.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    common = argparse.ArgumentParser(add_help=False)  # `--debug` after the command works too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)

    r = _add(sub, common, "run", help="run one experiment (or read it from the run cache)")
    r.add_argument("experiment", help="experiment name (see `experiments`)")
    r.add_argument("--profile", default="cpu", choices=PROFILES)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)")
    r.add_argument("--force", action="store_true", help="recompute even if cached")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_run)

    e = _add(sub, common, "experiments", help="list the registered experiments")
    e.add_argument("-v", "--verbose", action="store_true")
    e.set_defaults(func=_cmd_experiments)

    d = _add(sub, common, "datasets", help="list datasets and whether they are available here")
    d.set_defaults(func=_cmd_datasets)

    c = _add(sub, common, "chapters", help="list the chapters (slug, page, title)")
    c.set_defaults(func=_cmd_chapters)

    ch = _add(sub, common, "chapter", help="execute one chapter notebook with papermill",
                        description="Like `papermill`: -p NAME VALUE sets a notebook parameter (VALUE parsed as JSON "
                                    "when it can be, e.g. -p seeds '[0, 1]'); profile defaults to cpu.")
    ch.add_argument("slug", help="chapter slug (see `chapters`)")
    ch.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ch.add_argument("-o", "--output", required=True, help="the executed notebook (.ipynb)")
    ch.add_argument("--quiet", action="store_true", help="no cell progress bar")
    ch.set_defaults(func=_cmd_chapter)

    sw = _add(sub, common, "sweep", help="run a chapter's whole plan as jobs (submitit: Slurm or local processes)",
                        description="Submits every run of the chapter's plan (and the runs they read) that the run "
                                    "cache does not hold. The cache ($REPROLIB_CACHE) must be on a folder every job sees.")
    sw.add_argument("slug", help="chapter slug (see `chapters`)")
    sw.add_argument("--profile", default="cpu", choices=PROFILES)
    sw.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE",
                    help="override a chapter setting, e.g. --set seeds=[0,1] (the names of its settings table)")
    sw.add_argument("--executor", default="local", choices=("local", "slurm"))
    sw.add_argument("--parallel", type=int, default=2, help="local: processes at a time; slurm: array parallelism")
    sw.add_argument("--threads", type=int, default=1, help="torch intra-op threads per job (0: torch's default)")
    sw.add_argument("--partition", help="Slurm partition")
    sw.add_argument("--gpus-per-job", type=int, default=None,
                    help="GPUs per job (default: Slurm 1; local: one of this machine's GPUs per job in turn, none "
                         "without a GPU; 0 trains on the CPU)")
    sw.add_argument("--cpus-per-job", type=int, help="CPUs per Slurm job (default 8 per GPU)")
    sw.add_argument("--time-min", type=int, default=240, help="wall-clock limit per job in minutes")
    sw.add_argument("--status", action="store_true", help="show done / running / failed / missing per run and exit")
    sw.add_argument("--cost", action="store_true",
                    help="print the GPU-hours of every run of the plan (the chapter's own per-run estimate) and exit")
    sw.add_argument("--dry-run", action="store_true", help="print the Slurm job script (or the status) without submitting")
    sw.set_defaults(func=_cmd_sweep)

    b = _add(sub, common, "book", help="execute every chapter with papermill and build the HTML")
    b.add_argument("--profile", default="cpu", choices=PROFILES)
    b.add_argument("--out", default="_build")
    b.add_argument("--chapter", action="append", help="only these chapters (repeatable)")
    b.set_defaults(func=_cmd_book)

    bn = _add(sub, common, "bench", help="compute fast path, side-by-side runs, input pipeline, feature caching, a chapter's memory")
    bn.add_argument("--quick", action="store_true", help="fewer steps (a rough check)")
    bn.add_argument("--json", action="store_true", help="print every table as one JSON object (progress on stderr)")
    bn.add_argument("--chapter", default="pipeline", help="the chapter whose cpu build is timed and measured (default pipeline)")
    bn.add_argument("--no-chapter", action="store_true", help="skip the chapter build")
    bn.set_defaults(func=_cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        try:
            return args.func(args)
        except KeyboardInterrupt:
            if args.debug:
                raise
            print("interrupted; an interrupted run resumes from its last checkpoint next time", file=sys.stderr)
            return 130
        except Exception as err:
            if args.debug or not isinstance(err, _expected_errors()):
                raise
            print(f"error: {_one_line(err)}", file=sys.stderr)
            return 2

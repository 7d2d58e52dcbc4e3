"""Command line: ``python -m reprolib {run,datasets,experiments,book,bench}``."""
from __future__ import annotations

import argparse
import json
import sys

from .config import PROFILES, ConfigError, parse_sets


def _cmd_run(args) -> int:
    from . import runs
    from .experiments import CONFIGS

    _load_chapter_experiments()
    if args.experiment not in CONFIGS:
        print(f"error: unknown experiment {args.experiment!r}; known: {sorted(CONFIGS)}", file=sys.stderr)
        return 2
    try:
        config = CONFIGS[args.experiment].from_profile(args.profile, **parse_sets(args.set))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"# {args.experiment} @ profile {args.profile}, key {config.key()}")
    result = runs.run(config, progress=not args.quiet, force=args.force)
    print(json.dumps({"cached": result.cached, "path": str(result.path), "metrics": result.metrics}, indent=1, default=str))
    return 0


def _load_chapter_experiments():
    """Chapter modules register their experiments on import; import those that exist."""
    import importlib

    for mod in ("zeroshot", "vc_a2"):
        try:
            importlib.import_module(f"reprolib.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"reprolib.{mod}":
                raise


def _cmd_experiments(args) -> int:
    from .experiments import CONFIGS

    _load_chapter_experiments()
    for name, cls in sorted(CONFIGS.items()):
        print(f"{name}: {cls.__doc__.strip().splitlines()[0] if cls.__doc__ else ''}")
        if args.verbose:
            print("   keys:", ", ".join(cls.field_names()))
    return 0


def _cmd_datasets(args) -> int:
    from .data import availability

    rows = availability()
    width = max(len(r["dataset"]) for r in rows)
    for r in rows:
        mark = "yes" if r["available"] else "no "
        where = r["location"] or f"missing — {r['how to obtain']}"
        print(f"{r['dataset']:<{width}}  {mark}  {where}")
    return 0


def _cmd_book(args) -> int:
    from .book import BookError, build_book

    try:
        index = build_book(profile=args.profile, out_dir=args.out, chapters=args.chapter or None)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(index)
    return 0


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reprolib", description="Run, cache and publish the book's experiments.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run one experiment (or read it from the run cache)")
    r.add_argument("experiment", help="experiment name (see `experiments`)")
    r.add_argument("--profile", default="cpu", choices=PROFILES)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)")
    r.add_argument("--force", action="store_true", help="recompute even if cached")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_run)

    e = sub.add_parser("experiments", help="list the registered experiments")
    e.add_argument("-v", "--verbose", action="store_true")
    e.set_defaults(func=_cmd_experiments)

    d = sub.add_parser("datasets", help="list datasets and whether they are available here")
    d.set_defaults(func=_cmd_datasets)

    b = sub.add_parser("book", help="execute every chapter with papermill and build the HTML")
    b.add_argument("--profile", default="cpu", choices=PROFILES)
    b.add_argument("--out", default="_build")
    b.add_argument("--chapter", action="append", help="only these chapters (repeatable)")
    b.set_defaults(func=_cmd_book)

    bn = sub.add_parser("bench", help="input-pipeline and feature-caching throughput benchmarks")
    bn.add_argument("--quick", action="store_true", help="fewer steps (a rough check)")
    bn.set_defaults(func=_cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

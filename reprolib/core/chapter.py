"""The chapter contract: one settings table, a plan of runs, a runner with a cost ledger, verdict rows.

A chapter package ``reprolib/chapters/<slug>/`` exports ``CHAPTER`` (a :class:`Chapter`,
registered on import).  Its notebook ``book/<slug>.md`` does, in its first cells::

    settings = CHAPTER.settings(profile, seeds=seeds, ...)   # ConfigError names a bad parameter
    plan = CHAPTER.plan(settings)                             # every run of the chapter, as configs
    runner = CHAPTER.runner(settings)                         # trains or reads the run cache; keeps the cost ledger
    verdicts = CHAPTER.verdicts(settings)                     # reported-vs-ours rows with a test each

* :class:`SettingsTable` — every setting of the chapter for ``smoke``, ``cpu`` and ``full``
  in one place (rows are settings, columns are profiles).  Rows that feed a config class
  sit in a *section*; the config class takes its ``PROFILE_DEFAULTS`` from it.
* :class:`Runner` — runs many configs with one progress bar, times each section, and
  builds the compute table (one row per distinct run, upstream runs included).
* :class:`Verdicts` — one row per claim: reported value, ours (mean ± std, n), verdict
  from :func:`reprolib.core.report.verdict`, scale.  Published for the book's scoreboard.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import registry, report, runs
from .config import PROFILES, ConfigError, check_profile
from .io import atomic_write_json

__all__ = [
    "row", "same", "Row", "SettingsTable", "Settings", "Chapter", "Runner", "Verdicts",
    "check_seeds", "check_positive_int", "check_positive", "check_subset", "verdicts_dir", "scoreboard", "SCOREBOARD_COLUMNS",
]


# ============================================================================ settings
@dataclasses.dataclass(frozen=True)
class Row:
    """One setting: its value per profile, an optional check for overrides and a display function."""

    values: Mapping[str, Any]
    check: Callable[[str, Any, Any], Any] | None = None  # (name, value, profile default) -> normalised value
    help: str = ""
    show: Callable[[Any], str] | None = None


def row(smoke: Any, cpu: Any, full: Any, *, check=None, help: str = "", show=None) -> Row:
    """A setting that differs per profile."""
    return Row({"smoke": smoke, "cpu": cpu, "full": full}, check, help, show)


def same(value: Any, *, check=None, help: str = "", show=None) -> Row:
    """A setting that is the same at every profile."""
    return Row({p: value for p in PROFILES}, check, help, show)


def check_seeds(name: str, value: Any, default: Any) -> tuple[int, ...]:
    """A non-empty list of distinct integers in [0, 2**31)."""
    ok = (isinstance(value, (list, tuple)) and len(value) > 0
          and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in value)
          and len(set(value)) == len(value))
    if not ok:
        raise ConfigError(f"{name} must be a non-empty list of distinct integers in [0, 2**31), e.g. [0, 1]; got {value!r}")
    return tuple(value)


def check_positive_int(name: str, value: Any, default: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
    return value


def check_positive(name: str, value: Any, default: Any) -> Any:
    """A value like the profile's (a number, a list or a dict of numbers) whose every number is > 0: budgets, step sizes, learning rates."""
    value = _like(name, value, default)
    bad = [x for x in _numbers(value) if not x > 0]
    if bad:
        raise ConfigError(f"{name}={value!r}: every value must be > 0 (a budget, size or step); got {bad[0]!r}")
    return value


def _numbers(value: Any) -> list:
    """The numbers in a setting's value (itself, the items of a list, the values of a dict; recursively)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return []


def _check_like_every_profile(name: str, value: Any, r: Row) -> None:
    """The general rule every override meets, from the row's values at all profiles (before any compute).

    When every number of every profile is >= 0 (sizes, counts, budgets, seeds, weights), an
    override's numbers must be >= 0 too; when every profile's list or dict is non-empty
    (seeds, grids, learning rates), the override must not be empty.
    """
    profile_numbers = [x for v in r.values.values() for x in _numbers(v)]
    if profile_numbers and min(profile_numbers) >= 0:
        negative = [x for x in _numbers(value) if x < 0]
        if negative:
            raise ConfigError(f"{name}={value!r}: must not be negative (got {negative[0]!r}); the profiles use "
                              + ", ".join(f"{p}: {_show(v)}" for p, v in r.values.items()))
    sized = [v for v in r.values.values() if isinstance(v, (list, tuple, Mapping))]
    if sized and len(sized) == len(r.values) and all(len(v) for v in sized) \
            and isinstance(value, (list, tuple, Mapping)) and not len(value):
        raise ConfigError(f"{name}={value!r}: must not be empty; e.g. {_show(r.values['smoke'])}")


def check_subset(allowed: Iterable[Any]):
    """A check: a non-empty list whose items are all in ``allowed``."""
    allowed = list(allowed)

    def check(name: str, value: Any, default: Any) -> tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{name} must be a non-empty list of {allowed}; got {value!r}")
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ConfigError(f"{name}: {bad} not allowed; choose from {allowed}")
        return tuple(value)

    return check


def _like(name: str, value: Any, default: Any) -> Any:
    """Default override check: the value must have the type of the profile's own value."""
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (tuple, list)):
        if isinstance(value, (list, tuple)):
            items = tuple(value)
            if default and items:
                items = tuple(_like(f"{name}[{i}]", v, default[0]) for i, v in enumerate(items))
            return items
    elif isinstance(default, Mapping):
        if isinstance(value, Mapping):
            example = next(iter(default.values()), None)
            return {k: _like(f"{name}[{k!r}]", v, default.get(k, example)) for k, v in value.items()}
    else:
        return value
    raise ConfigError(f"{name}={value!r}: expected {type(default).__name__} like the profile's {default!r}")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(_show(v) for v in value) if value else "(none)"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} → {_show(v)}" for k, v in value.items()) if value else "(none)"
    return str(value)


class Settings(Mapping):
    """The settings of one execution: profile values with the notebook's overrides (read-only)."""

    def __init__(self, table: "SettingsTable", profile: str, values: dict[str, Any], overridden: set[str]):
        self._table, self._values, self._overridden = table, dict(values), frozenset(overridden)
        self.profile = profile

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __getattr__(self, key):
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(f"no setting {key!r}; settings: {sorted(self.__dict__.get('_values', {}))}") from None

    def section(self, name: str) -> dict[str, Any]:
        """The values of one section (e.g. the fields of a config class), by field name."""
        return {k: self._values[f"{name}.{k}"] for k in self._table.sections[name]}

    def replace(self, **overrides) -> "Settings":
        return self._table(self.profile, **{**{k: self._values[k] for k in self._overridden}, **overrides})

    def frame(self, profiles: Sequence[str] = PROFILES):
        """This execution beside every profile, one row per setting (values shown as a reader reads them)."""
        import pandas as pd

        rows = []
        for key, r in self._table.rows():
            fmt = r.show or _show
            rows.append({"setting": key, f"this execution ({self.profile})": fmt(self._values[key]) + (" *" if key in self._overridden else ""),
                         **{p: fmt(r.values[p]) for p in profiles}, "meaning": r.help})
        return pd.DataFrame(rows).set_index("setting")


class SettingsTable:
    """Every setting of a chapter at every profile, in one table.

    ``TABLE(profile, **overrides)`` returns :class:`Settings`.  Overrides are the
    notebook's parameters: ``None`` keeps the profile's value (papermill's default), an
    unknown name or a value that fails its row's check raises :class:`ConfigError`
    naming the parameter and the allowed values — before any compute.  A section's
    rows are named ``"<section>.<field>"`` (pass them as ``**{"zeroshot.iterations": 3000}``);
    the config class of a section is then built with those fields and validated too.
    """

    def __init__(self, slug: str, rows: Mapping[str, Row], sections: Mapping[str, Mapping[str, Row]] | None = None,
                 configs: Mapping[str, type] | None = None):
        self.slug = slug
        self.top = dict(rows)
        self.sections = {k: dict(v) for k, v in (sections or {}).items()}
        self.configs = dict(configs or {})  # section -> config class checked with the section's values
        for key, r in self.rows():
            if set(r.values) != set(PROFILES):
                raise ValueError(f"{slug}: setting {key!r} must have a value for each of {PROFILES}")

    def rows(self):
        """``(key, row)`` for every setting; section rows are keyed ``"<section>.<field>"``."""
        yield from self.top.items()
        for sec, rs in self.sections.items():
            for name, r in rs.items():
                yield f"{sec}.{name}", r

    def names(self) -> list[str]:
        return [key for key, _ in self.rows()]

    def profile_defaults(self, section: str) -> dict[str, dict[str, Any]]:
        """``{profile: {field: value}}`` of one section: a config class's ``PROFILE_DEFAULTS``."""
        return {p: {k: r.values[p] for k, r in self.sections[section].items()} for p in PROFILES}

    def __call__(self, profile: str, **overrides) -> Settings:
        check_profile(profile)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        rows = dict(self.rows())
        unknown = sorted(set(overrides) - set(rows))
        if unknown:
            raise ConfigError(f"unknown {self.slug} parameter(s) {unknown}; known: {sorted(rows)}")
        values = {key: r.values[profile] for key, r in rows.items()}
        for key, value in overrides.items():
            r = rows[key]
            values[key] = (r.check or _like)(key, value, r.values[profile])
            _check_like_every_profile(key, values[key], r)
        settings = Settings(self, profile, values, set(overrides))
        for section, cls in self.configs.items():  # a section override must still describe a valid run
            if any(k.startswith(section + ".") for k in overrides):
                cls(**settings.section(section))
        return settings


# ============================================================================ runner
def _config_label(cfg) -> str:
    for attr in ("model", "student"):
        if hasattr(cfg, attr):
            return str(getattr(cfg, attr))
    return type(cfg).__name__


class Runner:
    """Runs (or reads back) a chapter's configs; keeps the time of each section and every result.

    ``run(configs, section=...)`` returns results in order; ``labelled(pairs, ...)`` keeps a
    label dict with each result; ``timed(section)`` times notebook-level work (analyses
    of trained runs).  ``cost_table()`` has one row per distinct run, the upstream runs
    (teachers, source models) included, so it is the cost of the chapter from an empty cache.

    Runs that are not in the cache train **side by side**: up to ``parallel`` worker
    processes (default :func:`reprolib.core.fastpath.parallel_runs`: one per core on a CPU,
    one on a GPU), each run with its own fixed thread count (one by default), so a result
    is the same bit for bit as when the run trains alone, from the CLI or in the notebook.
    Upstream runs (teachers, source models) train first, once, and the runs that read them
    after; a progress bar per running run when ``progress`` is on.
    """

    def __init__(self, progress: bool = False, parallel: int | None = None):
        self.progress = progress
        self.parallel = parallel
        self.results: dict[str, list] = {}
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()
        self.computed_now: set[Path] = set()  # cache entries this runner trained
        self.worker_peak_mb = 0.0  # peak RSS of a side-by-side worker
        self._pool = None

    @contextlib.contextmanager
    def timed(self, section: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[section] = self.seconds.get(section, 0.0) + time.perf_counter() - t0

    def run(self, configs: Iterable, section: str = "runs") -> list:
        configs = list(configs)
        with self.timed(section):
            found = [runs.lookup(c) for c in configs]
            missing = [c for c, r in zip(configs, found) if r is None]
            if missing:
                self._train(missing, section)
                found = [r if r is not None else runs.lookup(c) or runs.run(c, progress=self.progress)
                         for c, r in zip(configs, found)]
        out = [self._mark(r) for r in found]
        self.results.setdefault(section, []).extend(out)
        return out

    def _lookup(self, config):
        """A finished upstream run, checked once per runner (the cost tables ask for it again and again)."""
        cache = self.__dict__.setdefault("_upstream", {})
        if config not in cache or cache[config] is None:
            cache[config] = runs.lookup(config)
        return cache[config]

    def _mark(self, result):
        """The result with ``cached`` telling whether it was read back (False: trained by this runner)."""
        return dataclasses.replace(result, cached=result.path not in self.computed_now)

    def workers(self, configs: Sequence = ()) -> int:
        from .fastpath import parallel_runs

        return self.parallel or parallel_runs(max((getattr(c, "threads", 1) for c in configs), default=1))

    def _train(self, missing: list, section: str) -> None:
        """Train every missing config and the missing runs they read, upstream first, up to ``workers()`` at a time."""
        from .sweep import with_upstream

        todo = [c for c in with_upstream(missing) if runs.lookup(c) is None]
        n = min(self.workers(todo), len(todo))
        if n <= 1:
            from tqdm.auto import tqdm

            for cfg in tqdm(todo, desc=section, leave=False, disable=not self.progress):
                self.computed_now.add(runs.run(cfg, progress=self.progress).path)
            return
        from concurrent.futures.process import BrokenProcessPool

        try:
            peak = _side_by_side(todo, self._executor(n), n, self.progress, section)
            self.worker_peak_mb = max(self.worker_peak_mb, peak)
        except KeyboardInterrupt:
            # the workers ignore SIGINT (no tracebacks from every process); stop them here.  What they had
            # checkpointed stays in the cache and resumes on the next execution.
            self.terminate()
            raise
        except BrokenProcessPool as err:
            # a worker died: out of memory, or a script without `if __name__ == "__main__":` (spawned workers
            # re-import it).  Finished runs are in the cache; the rest train here, one after another.
            self._pool = None
            warnings.warn(f"side-by-side training stopped ({err}); training the remaining runs one after another",
                          RuntimeWarning, stacklevel=3)
            for cfg in todo:
                if runs.lookup(cfg) is None:
                    self.computed_now.add(runs.run(cfg, progress=self.progress).path)
        self.computed_now.update(runs.entry_path(runs_resolve(c)) for c in todo)

    def _executor(self, n: int):
        """A pool of ``n`` spawned worker processes, kept for the runner's lifetime (spawning costs seconds)."""
        import multiprocessing
        import weakref
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None or self._pool[1] < n:
            self.close()
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=(queue, os.getpid()))
            self._pool = (pool, n, queue)
            self._finalizer = weakref.finalize(self, pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def close(self) -> None:
        """Stop the side-by-side workers (they also stop when the runner is garbage-collected)."""
        if self._pool is not None:
            self._pool[0].shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Stop the side-by-side workers now, mid-run (an interrupt: they ignore SIGINT themselves)."""
        if self._pool is not None:
            pool = self._pool[0]
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def grouped(self, groups: Mapping[Any, Iterable], section: str = "runs",
                sections: Mapping[Any, str] | None = None) -> dict[Any, list]:
        """``{key: [configs]}`` -> ``{key: [results]}``, all groups in one :meth:`run` (so they train side by side).

        With ``sections`` (``{key: section}``) the runs still train in one side-by-side call, timed under
        ``section``, but each group's results are filed under its own section in the cost tables (a chapter
        whose tasks should share the cores, e.g. one task's source model beside another task's runs).
        """
        groups = {k: list(v) for k, v in groups.items()}
        if sections:
            with self.timed(section):
                missing = [c for cfgs in groups.values() for c in cfgs if runs.lookup(c) is None]
                if missing:
                    self._train(list(dict.fromkeys(missing)), section)
            return {k: self.run(cfgs, sections.get(k, section)) for k, cfgs in groups.items()}
        flat = self.run([c for cfgs in groups.values() for c in cfgs], section)
        out, i = {}, 0
        for k, cfgs in groups.items():
            out[k], i = flat[i:i + len(cfgs)], i + len(cfgs)
        return out

    def one(self, config, section: str = "runs"):
        return self.run([config], section)[0]

    def labelled(self, pairs: Iterable[tuple[dict, Any]], section: str = "runs") -> list[tuple[dict, Any]]:
        pairs = list(pairs)
        results = self.run([cfg for _, cfg in pairs], section)
        return [(labels, r) for (labels, _), r in zip(pairs, results)]

    def _distinct(self):
        """(section, result) for every distinct run, upstream runs first, each once."""
        seen, out = set(), []

        def add(section, result):
            for up in result.config.upstream():
                found = self._lookup(up)
                if found is not None:
                    add(section + " (upstream)", self._mark(found))
            if result.path not in seen:
                seen.add(result.path)
                out.append((section, result))

        for section, results in self.results.items():
            for r in results:
                add(section, r)
        return out

    def cost_table(self):
        """One row per distinct run: what it is, its training time when computed, its status (finished or diverged) and whether it came from the cache."""
        import pandas as pd

        rows = []
        for section, r in self._distinct():
            m = r.metrics
            rows.append({
                "section": section, "experiment": r.config.EXPERIMENT, "run": _config_label(r.config),
                "seed": getattr(r.config, "seed", None),
                "minutes when computed": round(float(m.get("wall_seconds") or m.get("train_seconds") or float("nan")) / 60, 2),
                "device": m.get("device", ""), "status": r.status, "from cache now": r.cached,
            })
        return pd.DataFrame(rows)

    def section_table(self):
        """Per section: runs, how many were computed now, training minutes when computed, and this execution's minutes."""
        import pandas as pd

        by_section: dict[str, list] = {}
        for section, r in self._distinct():
            by_section.setdefault(section.removesuffix(" (upstream)"), []).append(r)
        rows = []
        for section in dict.fromkeys(list(by_section) + list(self.seconds)):
            rs = by_section.get(section, [])
            secs = [float(r.metrics.get("wall_seconds") or 0.0) for r in rs]
            rows.append({"section": section, "distinct runs": len(rs), "computed now": sum(not r.cached for r in rs),
                         "diverged": sum(r.diverged for r in rs),
                         "training minutes (when computed)": round(sum(secs) / 60, 2),
                         "this execution (min)": round(self.seconds.get(section, 0.0) / 60, 2)})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """One paragraph: hardware and compute path, cold cost (training when computed) and warm cost (this execution)."""
        hw = runs.provenance()
        distinct = self._distinct()
        cold = sum(float(r.metrics.get("wall_seconds") or 0.0) for _, r in distinct)
        now = time.perf_counter() - self.started
        computed = sum(not r.cached for _, r in distinct)
        paths = sorted({r.metrics["compute"]["path"] for _, r in distinct if "path" in r.metrics.get("compute", {})})
        threads = sorted({r.metrics["compute"]["threads"] for _, r in distinct if "threads" in r.metrics.get("compute", {})})
        compute = (f"runs train with {', '.join(map(str, threads))} thread(s) each, up to {self.workers()} side by side"
                   + (f", on {', '.join(paths)}" if paths else "") if threads else f"{hw['threads']} torch threads")
        text = (f"Hardware: {hw['cpu']}, {hw['cores']} cores, device {hw['device']}, torch {hw['torch']}; {compute}. "
                f"**Cold** (from an empty cache): **{len(distinct)} distinct runs** took **{cold / 60:.1f} min** of "
                f"training when computed (each run's own time, summed; analyses excluded). ")
        memory = f" Peak memory (RSS): {peak_rss_mb():,.0f} MB in the notebook"
        if self.worker_peak_mb:
            memory += f", up to {self.worker_peak_mb:,.0f} MB in each of the {self.workers()} training workers"
        if computed:
            return text + (f"This execution trained {computed} of them and took **{now / 60:.1f} min** in all; "
                           f"a re-execution reads them back (warm).{memory}.")
        return text + f"**Warm** (every run read from the cache): this execution took **{now:.0f} s** until this cell.{memory}."


def runs_resolve(config):
    """The config as the run cache keys it on this machine (its precision decided: :func:`reprolib.core.fastpath.resolve`)."""
    from .fastpath import resolve

    return resolve(config)


# ---------------------------------------------------------------------------- side by side
_PROGRESS_QUEUE = None


def _worker_init(queue, parent: int) -> None:
    """A side-by-side worker: one thread outside runs too (each run sets its own count), progress sent to the parent.

    It ignores SIGINT: an interrupted kernel or Ctrl-C signals the whole process group, and the parent
    (:meth:`Runner.terminate`) stops the workers instead of each printing a KeyboardInterrupt traceback.
    If the parent dies (a killed kernel), the worker exits too instead of training on for nobody
    (:func:`_exit_with_parent`); its run resumes from its checkpoint on the next execution.
    """
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)
    global _PROGRESS_QUEUE
    torch.set_num_threads(1)
    _PROGRESS_QUEUE = queue


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored in this process for the moment it takes to spawn a worker (ignored signals are inherited)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """End this process as soon as its parent (process id ``parent``, passed in: a worker still starting up may
    already have been re-parented) is gone."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_run(config, cache: str, run_id: int, progress: bool) -> tuple[str, float]:
    """Train one config in a worker process into the shared run cache; the entry's path and the worker's peak RSS (MB) go back."""
    os.environ["REPROLIB_CACHE"] = cache
    registry.discover()  # the chapter that defines the config registers its experiment
    if progress:
        _forward_progress(run_id)
    return str(runs.run(config, progress=progress).path), peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux/macOS; NaN elsewhere)."""
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    except (ImportError, OSError):
        return float("nan")


def _forward_progress(run_id: int) -> None:
    """Make every tqdm bar of this worker report (description, n, total) to the parent instead of drawing."""
    import io

    import tqdm.auto
    import tqdm.std

    class Forwarding(tqdm.std.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)

        def display(self, msg=None, pos=None):
            if _PROGRESS_QUEUE is not None and not self.disable:
                try:
                    _PROGRESS_QUEUE.put_nowait((run_id, str(self.desc or ""), int(self.n), self.total, self.postfix or ""))
                except Exception:  # noqa: BLE001 - progress is best effort, never a reason to fail a run
                    pass
            return True

    tqdm.auto.tqdm = Forwarding


def _side_by_side(todo: list, executor, n: int, progress: bool, section: str) -> float:
    """Run ``todo`` (upstream runs before the runs that read them) on the pool, a run as soon as what it reads is done."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from queue import Empty

    from tqdm.auto import tqdm

    pool, _, queue = executor
    keys = [f"{c.EXPERIMENT}/{runs_resolve(c).key()}" for c in todo]
    index = dict(zip(keys, range(len(todo))))
    needs = {i: {index[f"{u.EXPERIMENT}/{runs_resolve(u).key()}"] for u in c.upstream()
                 if f"{u.EXPERIMENT}/{runs_resolve(u).key()}" in index} for i, c in enumerate(todo)}
    cache = str(runs.cache_dir())
    overall = tqdm(total=len(todo), desc=f"{section}: {n} side by side", leave=False, disable=not progress)
    bars: dict[int, Any] = {}
    pending, running, done = list(range(len(todo))), {}, set()
    worker_peak = 0.0
    try:
        while pending or running:
            for i in [i for i in pending if needs[i] <= done][: n - len(running)]:
                pending.remove(i)
                with _sigint_ignored():  # a worker spawned here starts with SIGINT ignored, even while importing torch
                    running[pool.submit(_worker_run, todo[i], cache, i, progress)] = i
                if progress:
                    bars[i] = tqdm(total=None, desc=_run_label(todo[i]), leave=False)
            if not running:
                raise RuntimeError(f"runs wait for upstream runs that are not planned: {[keys[i] for i in pending]}")
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            while True:  # progress messages of the running runs
                try:
                    i, desc, count, total, postfix = queue.get_nowait()
                except (Empty, OSError, ValueError):
                    break
                if i in bars:
                    bars[i].total, bars[i].n = total, count
                    bars[i].set_description(f"{_run_label(todo[i])} · {desc}", refresh=False)
                    bars[i].set_postfix_str(postfix, refresh=True)
            for fut in finished:
                i = running.pop(fut)
                _, peak = fut.result()  # a failed run raises here (the others keep what they finished in the cache)
                worker_peak = max(worker_peak, peak)
                done.add(i)
                overall.update(1)
                if i in bars:
                    bars.pop(i).close()
    except BaseException:
        for fut in running:
            fut.cancel()
        raise
    finally:
        for bar in bars.values():
            bar.close()
        overall.close()
    return worker_peak


def _run_label(cfg) -> str:
    seed = getattr(cfg, "seed", None)
    return f"{cfg.EXPERIMENT} {_config_label(cfg)}" + (f" seed {seed}" if seed is not None else "")


# ============================================================================ verdicts
def verdicts_dir() -> Path:
    """Where chapters publish their verdict rows for the scoreboard (``$REPROLIB_VERDICTS``, else ``.cache/verdicts``)."""
    return Path(os.environ.get("REPROLIB_VERDICTS") or ".cache/verdicts").expanduser().resolve()


class Verdicts:
    """The reported-vs-ours rows of one chapter execution, each with a verdict from a test.

    Every row has: claim (with the report section), reported, ours, n, verdict, test, scale.
    ``scale`` multiplies per-seed values for display (100 for accuracies in percent).
    """

    COLUMNS = ("claim", "reported", "ours", "n", "verdict", "test", "scale")

    def __init__(self, chapter: str, profile: str, scale_note: str = ""):
        self.chapter, self.profile = chapter, profile
        self.scale_note = scale_note or f"profile {profile}"
        self.rows: list[dict] = []

    def _add(self, claim, reported, ours, n, v: report.Verdict) -> report.Verdict:
        self.rows.append({"claim": claim, "reported": "" if reported is None else str(reported), "ours": ours,
                          "n": n, "verdict": v.label, "test": v.test, "scale": self.scale_note})
        return v

    def compare(self, claim: str, a: Sequence[float], b: Sequence[float], *, reported: Any = "", how: str = "greater",
                margin: float | None = None, scale: float = 1.0, digits: int = 2, names: tuple[str, str] = ("", "")) -> report.Verdict:
        """A claim about A vs B (``how`` = greater | less | same) from per-seed values; ``margin`` in displayed units."""
        a, b = [x for x in a if _finite(x)], [x for x in b if _finite(x)]
        m = None if margin is None else margin / scale
        v = report.verdict(a, b, how, m)
        if m is not None:  # restate the margin in displayed units
            v = report.Verdict(v.label, v.test.replace(f"±{m:g}", f"±{margin:g}"), v.p)
        na, nb = names
        ours = (f"{na + ' ' if na else ''}{report.mean_std(a, scale, digits)} vs "
                f"{nb + ' ' if nb else ''}{report.mean_std(b, scale, digits)}")
        return self._add(claim, reported, ours, f"{len(a)} vs {len(b)}", v)

    def threshold(self, claim: str, values: Sequence[float], threshold: float, *, reported: Any = "", how: str = "greater",
                  scale: float = 1.0, digits: int = 2) -> report.Verdict:
        """A claim that the mean is above (below) ``threshold`` (in displayed units)."""
        vals = [x for x in values if _finite(x)]
        v = report.verdict_threshold([x * scale for x in vals], threshold, how)
        return self._add(claim, reported, report.mean_std(vals, scale, digits), str(len(vals)), v)

    def rates(self, claim: str, a: tuple[int, int], b: tuple[int, int], *, reported: Any = "", how: str = "greater",
              names: tuple[str, str] = ("A", "B"), event: str = "diverged") -> report.Verdict:
        """A claim that an event (``a`` = (hits, runs) of A, ``b`` of B) is more (less) frequent in A: Fisher's exact test."""
        v = report.verdict_rates(*a, *b, claim=how)
        ours = f"{names[0]} {a[0]} of {a[1]} {event} vs {names[1]} {b[0]} of {b[1]}"
        return self._add(claim, reported, ours, f"{a[1]} vs {b[1]}", v)

    def check(self, claim: str, holds: bool, *, reported: Any = "", ours: str = "", n: Any = "", rule: str = "") -> report.Verdict:
        """A claim decided by a stated rule on deterministic numbers (no sampling: e.g. an optimiser on a fixed function)."""
        v = report.Verdict("reproduced" if holds else "not reproduced", rule)
        return self._add(claim, reported, ours, str(n), v)

    def inconclusive(self, claim: str, why: str, *, reported: Any = "", ours: str = "", n: Any = "") -> report.Verdict:
        return self._add(claim, reported, ours, str(n), report.Verdict("inconclusive", why))

    def not_run(self, claim: str, why: str, *, reported: Any = "") -> report.Verdict:
        return self._add(claim, reported, "—", "0", report.Verdict("not run", why))

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(self.COLUMNS))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["verdict"]] = out.get(r["verdict"], 0) + 1
        return out

    def publish(self) -> Path:
        """Write the rows for the book's scoreboard (one file per chapter and profile) and return its path."""
        path = verdicts_dir() / f"{self.chapter}.{self.profile}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_json(path, {"chapter": self.chapter, "profile": self.profile, "rows": self.rows})


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


#: the columns of the book's scoreboard (and of ``scoreboard.csv``)
SCOREBOARD_COLUMNS = ("chapter", "claim", "reported", "ours", "n", "verdict", "test", "scale", "profile")


def scoreboard(directory: str | os.PathLike | None = None, profile: str | None = None,
               order: Sequence[str] = ()):
    """Every published verdict row (:meth:`Verdicts.publish`) as one table: the book's scoreboard.

    Reads ``<directory>/<chapter>.<profile>.json`` (default :func:`verdicts_dir`), keeps
    ``profile`` only when given, and sorts chapters by ``order`` (e.g. the table of
    contents; chapters not named follow alphabetically), keeping each chapter's row order.
    A chapter added later appears as soon as it has published, with no edit here.
    """
    import json

    import pandas as pd

    directory = Path(directory) if directory is not None else verdicts_dir()
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    rank = {slug: i for i, slug in enumerate(order)}
    tables = []
    for path in files:
        try:
            doc = json.loads(path.read_text())
            chapter, prof, rows = doc["chapter"], doc["profile"], doc["rows"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a published verdict file ({type(err).__name__}: {err})") from None
        if profile is not None and prof != profile:
            continue
        tables.append(((rank.get(chapter, len(rank)), chapter, prof),
                       [{**r, "chapter": chapter, "profile": prof} for r in rows]))
    rows = [r for _, rs in sorted(tables, key=lambda t: t[0]) for r in rs]
    return pd.DataFrame(rows, columns=list(SCOREBOARD_COLUMNS)).fillna("")


# ============================================================================ chapter
@dataclasses.dataclass
class Chapter:
    """One report's chapter: its page, settings table, plan and figures (see the module docstring)."""

    slug: str
    title: str
    table: SettingsTable
    make_plan: Callable[[Settings], Any]
    seed_report: str = ""  # e.g. "seed report 002"
    scale_note: Callable[[Settings], str] | None = None

    @property
    def page(self) -> str:
        return f"book/{self.slug}.md"

    @property
    def figures(self):
        """The chapter's figures module (imported on first use: discovery stays free of matplotlib)."""
        return importlib.import_module(f"reprolib.chapters.{self.slug}.figures")

    @property
    def reported(self):
        return importlib.import_module(f"reprolib.chapters.{self.slug}.reported")

    def settings(self, profile: str, **overrides) -> Settings:
        """The settings of one execution; every run of the plan is built (not run) to check them before any compute.

        A section override that makes a run impossible (``train.epochs=0``, a ``train_size`` too
        small for the split) fails here with a ConfigError naming the parameter and the allowed range.
        """
        settings = self.table(profile, **overrides)
        try:
            self.make_plan(settings).configs()
        except ConfigError as err:
            given = sorted(k for k, v in overrides.items() if v is not None)
            raise ConfigError(f"{self.slug} parameters {given or '(profile ' + profile + ')'}: {err}") from None
        return settings

    def plan(self, settings: Settings):
        return self.make_plan(settings)

    def runner(self, settings: Settings | None = None, progress: bool = False) -> Runner:
        return Runner(progress=progress)

    def verdicts(self, settings: Settings) -> Verdicts:
        note = self.scale_note(settings) if self.scale_note else f"profile {settings.profile}"
        return Verdicts(self.slug, settings.profile, note)

    def register(self) -> "Chapter":
        registry.register_chapter(self)
        return self

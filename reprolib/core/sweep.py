"""Many independent runs on a cluster or on local processes, through submitit.

A chapter's plan is a list of configs whose results land in the run cache; this module
submits every run the cache does not hold yet as a job and reports where each run stands.
The run cache on a shared folder is the meeting point: jobs write results atomically and
take the cache's file lock, so a job killed by the scheduler resumes from its checkpoint
when resubmitted, and two jobs never train the same config.  Once a sweep has finished,
executing the chapter trains nothing and renders from the cache.

* ``executor="slurm"``: one Slurm job array per dependency wave (runs that read other runs
  — teachers, source models — go in a later wave with ``afterok`` on the earlier one);
  partition, GPUs per job, time limit and array parallelism are options.  A job that times
  out or is pre-empted is requeued by submitit and resumes from its checkpoint.
* ``executor="local"``: the same jobs as local processes (submitit's LocalExecutor), at most
  ``parallel`` at a time, each with ``threads`` intra-op threads.

Chapters know nothing of this module: it reads their plans through the registry.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import registry, runs
from .config import Config, ConfigError
from .io import atomic_write_json

STATES = ("done", "diverged", "running", "failed", "missing")


def chapter_configs(slug: str, profile: str, **overrides) -> list[Config]:
    """Every run a chapter needs at ``profile`` (its plan plus upstream runs), upstream first."""
    chapters = registry.discover()
    if slug not in chapters:
        raise ConfigError(f"unknown chapter {slug!r}; known: {sorted(chapters)}")
    chapter = chapters[slug]
    plan = chapter.plan(chapter.settings(profile, **overrides))
    return with_upstream(plan.configs())


def with_upstream(configs: Iterable[Config]) -> list[Config]:
    """``configs`` and every run they read, each once, a run after the runs it reads."""
    ordered: dict[str, Config] = {}

    def visit(cfg: Config, stack: tuple = ()) -> None:
        key = f"{cfg.EXPERIMENT}/{cfg.key()}"
        if key in ordered:
            return
        if key in stack:
            raise ValueError(f"runs depend on each other in a cycle through {key}")
        for up in cfg.upstream():
            visit(up, stack + (key,))
        ordered[key] = cfg

    for c in configs:
        visit(c)
    return list(ordered.values())


def waves(configs: Sequence[Config]) -> list[list[Config]]:
    """Dependency levels: wave 0 reads no other run of the list, wave k reads runs of waves < k."""
    keys = {f"{c.EXPERIMENT}/{c.key()}": c for c in configs}
    level: dict[str, int] = {}

    def depth(cfg: Config) -> int:
        key = f"{cfg.EXPERIMENT}/{cfg.key()}"
        if key not in level:
            ups = [u for u in cfg.upstream() if f"{u.EXPERIMENT}/{u.key()}" in keys]
            level[key] = 1 + max((depth(u) for u in ups), default=-1)
        return level[key]

    out: list[list[Config]] = []
    for key, cfg in keys.items():
        d = depth(cfg)
        while len(out) <= d:
            out.append([])
        out[d].append(cfg)
    return out


def state(config: Config) -> str:
    """``done`` (a finished entry), ``diverged`` (stored as diverged: not resubmitted), ``running`` (its lock is held),
    ``failed`` (started, unfinished, unlocked), or ``missing``."""
    from filelock import FileLock, Timeout

    found = runs.lookup(config)
    if found is not None:
        return "diverged" if found.diverged else "done"
    path = runs.entry_path(config)
    lock_file = Path(str(path) + ".lock")
    if lock_file.exists():
        try:
            with FileLock(str(lock_file), timeout=0):
                pass
        except Timeout:
            return "running"
        except OSError:  # a read-only cache: nobody can be training into it
            pass
    return "failed" if path.exists() else "missing"


def status(configs: Sequence[Config]) -> list[dict[str, Any]]:
    """One row per run: experiment, key, a short description and its state."""
    return [{"experiment": c.EXPERIMENT, "key": c.key(), "run": _describe(c), "state": state(c)} for c in configs]


def job_marker(config: Config) -> Path:
    """Where a sweep job records which process (pid, host) is training ``config``."""
    return runs.cache_dir() / "submitit" / "running" / f"{config.EXPERIMENT}-{config.key()}.json"


def _describe(cfg: Config) -> str:
    d = cfg.to_dict()
    parts = [f"{k}={d[k]}" for k in ("model", "teacher", "student", "dataset", "lr", "m", "mode", "seed") if k in d]
    return ", ".join(parts)


class RunJob:
    """What a job executes: train (or resume) one config into the shared run cache.

    submitit pickles this object; on a timeout or pre-emption it calls :meth:`checkpoint`,
    and the requeued job resumes from the run's own checkpoint.
    """

    def __init__(self, config: Config, cache: str, threads: int = 0):
        self.config, self.cache, self.threads = config, cache, threads

    def __call__(self) -> dict:
        import socket

        os.environ["REPROLIB_CACHE"] = self.cache
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        registry.discover()  # the chapter that defines the config registers its experiment
        marker = job_marker(self.config)
        marker.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(marker, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        try:
            result = runs.run(self.config, progress=False)
        finally:
            marker.unlink(missing_ok=True)
        return {"key": self.config.key(), "cached": result.cached, "status": result.status, "metrics": dict(result.metrics)}

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(RunJob(self.config, self.cache, self.threads))


@dataclasses.dataclass
class SweepOptions:
    executor: str = "local"  # "local" | "slurm"
    parallel: int = 2  # local: processes at a time; slurm: array parallelism
    threads: int = 1  # intra-op threads per job (0: torch's default)
    partition: str | None = None
    gpus_per_job: int | None = None  # None: Slurm 1; local: one of this machine's GPUs per job, round robin (none without)
    cpus_per_job: int | None = None
    time_min: int = 240  # wall-clock limit per job, minutes
    folder: str | None = None  # submitit's logs; default <cache>/submitit

    def __post_init__(self):
        if self.executor not in ("local", "slurm"):
            raise ConfigError(f"executor={self.executor!r}: choose 'local' or 'slurm'")
        for name in ("parallel", "time_min"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        if self.gpus_per_job is not None and self.gpus_per_job < 0:
            raise ConfigError(f"gpus_per_job={self.gpus_per_job!r} must be >= 0")

    @property
    def slurm_gpus(self) -> int:
        return 1 if self.gpus_per_job is None else self.gpus_per_job


def _folder(options: SweepOptions) -> Path:
    return Path(options.folder or runs.cache_dir() / "submitit")


def slurm_parameters(options: SweepOptions, wave_dependency: str | None = None) -> dict[str, Any]:
    """submitit ``SlurmExecutor`` parameters of one job array."""
    params = dict(time=options.time_min, gpus_per_node=options.slurm_gpus, array_parallelism=options.parallel,
                  ntasks_per_node=1, cpus_per_task=options.cpus_per_job or max(1, 8 * options.slurm_gpus),
                  job_name="reprolib", signal_delay_s=120)
    if options.partition:
        params["partition"] = options.partition
    if wave_dependency:
        params["dependency"] = wave_dependency
    return params


def make_executor(options: SweepOptions, wave_dependency: str | None = None):
    """A configured submitit executor (nothing is submitted). Slurm needs ``srun`` on this machine."""
    import submitit

    if options.executor == "local":
        ex = submitit.LocalExecutor(folder=_folder(options))
        ex.update_parameters(timeout_min=options.time_min, gpus_per_node=options.gpus_per_job or 0)
        return ex
    ex = submitit.SlurmExecutor(folder=_folder(options))
    ex.update_parameters(**slurm_parameters(options, wave_dependency))
    return ex


def slurm_script(options: SweepOptions, wave_dependency: str | None = None) -> str:
    """The sbatch script submitit writes for one job array (inspectable where there is no Slurm; submits nothing)."""
    import shlex
    import sys

    from submitit.slurm.slurm import _make_sbatch_string

    folder = _folder(options)
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, **slurm_parameters(options, wave_dependency))


def submit(configs: Sequence[Config], options: SweepOptions, *, log=print) -> list[dict[str, Any]]:
    """Submit every run of ``configs`` that is not done; return the final status (local) or the submitted jobs (slurm)."""
    todo = [c for c in configs if state(c) in ("missing", "failed")]
    log(f"{len(configs)} runs: {len(configs) - len(todo)} already done or running, {len(todo)} to submit "
        f"({options.executor}, {options.parallel} at a time)")
    if not todo:
        return status(configs)
    cache = str(runs.cache_dir())
    if options.executor == "slurm":
        submitted, dependency = [], None
        for wave in waves(todo):
            ex = make_executor(options, dependency)
            with ex.batch():  # one Slurm job array
                jobs = [ex.submit(RunJob(c, cache, options.threads)) for c in wave]
            dependency = "afterok:" + ":".join(dict.fromkeys(j.job_id.split("_")[0] for j in jobs))  # the array(s)
            submitted += [{"key": c.key(), "run": _describe(c), "job": j.job_id} for c, j in zip(wave, jobs)]
            log(f"wave of {len(wave)} submitted: jobs {jobs[0].job_id}…")
        return submitted
    for wave in waves(todo):
        _run_local_wave(wave, options, cache, log)
    return status(configs)


def local_gpus(options: SweepOptions) -> list[int]:
    """The GPU indices local jobs are spread over, one per job in turn: every GPU of this machine by default.

    An explicit ``gpus_per_job`` keeps submitit's own assignment (the first N GPUs; 0 hides them all).
    """
    if options.gpus_per_job is not None:
        return []
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


@contextlib.contextmanager
def _interruptible_children():
    """Processes started inside take SIGINT, even where this one was started with it ignored.

    ``job.cancel()`` stops a local job with SIGINT; a process started in the background of a
    non-interactive shell (``cmd &``, ``nohup``) ignores SIGINT and its children inherit that,
    so a cancelled job would go on training for nobody.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler becomes the default disposition on exec
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_local_wave(wave: Sequence[Config], options: SweepOptions, cache: str, log) -> None:
    """At most ``options.parallel`` local processes at a time; a failed job is reported, the others go on."""
    ex = make_executor(options)
    gpus = local_gpus(options)
    pending, running, started = list(wave), [], 0
    try:
        while pending or running:
            while pending and len(running) < options.parallel:
                cfg = pending.pop(0)
                if gpus:  # submitit exports CUDA_VISIBLE_DEVICES from these (an empty list would hide every GPU)
                    ex.update_parameters(gpus_per_node=1, visible_gpus=[gpus[started % len(gpus)]])
                started += 1
                with _interruptible_children():
                    running.append((cfg, ex.submit(RunJob(cfg, cache, options.threads))))
            time.sleep(0.2)
            still = []
            for cfg, job in running:
                if not job.done():
                    still.append((cfg, job))
                    continue
                try:
                    out = job.result()
                    done = "diverged" if out.get("status") == "diverged" else "done    "
                    log(f"{done} {_describe(cfg)}  ({'from cache' if out['cached'] else 'trained'})")
                except Exception as err:  # noqa: BLE001 - a failed run is reported and left for a resubmission
                    log(f"FAILED  {_describe(cfg)}: {str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__}")
            running = still
    except BaseException:  # interrupted (Ctrl-C, or SIGTERM via the CLI): the jobs stop too; their checkpoints stay
        for _cfg, job in running:
            job.cancel(check=False)
        deadline = time.time() + 60  # and are gone when the sweep returns (submitit kills what ignores the interrupt)
        while any(not job.done() for _cfg, job in running) and time.time() < deadline:
            time.sleep(0.2)
        for cfg, job in running:
            if not job.done():
                log(f"still running after cancel: {_describe(cfg)} (job {job.job_id}); stop it with kill {job.job_id}")
        raise


def format_status(rows: Sequence[dict[str, Any]]) -> str:
    counts = {s: sum(r["state"] == s for r in rows) for s in STATES}
    lines = [f"{r['state']:<8} {r['experiment']:<14} {r['key']}  {r['run']}" for r in rows]
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def full_cost(slug: str, configs: Sequence[Config]) -> list[dict[str, Any]]:
    """GPU-hours of ``configs`` (a chapter's plan with its upstream runs), by experiment, from the chapter's own estimate.

    A chapter states what one run of an experiment costs at the report's scale in
    ``reported.FULL_COST`` — ``{experiment: (low_h, high_h, gpu, basis)}``, taken from its
    report where the report measured it.  Experiments without an estimate are listed with
    their run count and ``None`` hours: never a guessed number.
    """
    try:
        stated = getattr(registry.discover()[slug].reported, "FULL_COST", {})
    except ModuleNotFoundError:  # a chapter without a report (the pipeline)
        stated = {}
    counts: dict[str, int] = {}
    for cfg in configs:
        counts[cfg.EXPERIMENT] = counts.get(cfg.EXPERIMENT, 0) + 1
    rows = []
    for experiment, n in counts.items():
        low, high, gpu, basis = stated.get(experiment, (None, None, "", "no estimate: the report states none"))
        rows.append({"experiment": experiment, "runs": n, "per run (h)": None if low is None else (low, high),
                     "total (GPU-h)": None if low is None else (n * low, n * high), "gpu": gpu, "basis": basis})
    return rows


def format_cost(slug: str, profile: str, rows: Sequence[dict[str, Any]]) -> str:
    def hours(h: float) -> str:
        return f"{h:,.0f}" if h >= 10 else f"{h:.2g}"

    def span(v):
        return "not estimated" if v is None else (hours(v[0]) if v[0] == v[1] else f"{hours(v[0])}-{hours(v[1])}")

    lines = [f"{slug} at profile {profile}: {sum(r['runs'] for r in rows)} runs"]
    for r in rows:
        lines.append(f"  {r['experiment']:<16} {r['runs']:>4} runs x {span(r['per run (h)']):>13} h = "
                     f"{span(r['total (GPU-h)'])} {r['gpu']} GPU-h  ({r['basis']})")
    return "\n".join(lines)


def estimate_text(configs: Sequence[Config]) -> str:
    """What the runs of ``configs`` not yet in the cache would cost here, in one honest sentence.

    Runs whose config has ``estimate_seconds()`` (e.g. ``supervised``: images × epochs at the
    speed of two timed training steps of its model here) are summed; the others are counted
    as not estimated, by experiment.
    """
    todo = [c for c in configs if runs.lookup(c) is None]
    if not todo:
        return f"All {len(configs)} runs are in the run cache, so nothing is trained."
    seconds, unknown = 0.0, {}
    for cfg in todo:
        est = cfg.estimate_seconds() if hasattr(cfg, "estimate_seconds") else None
        if est is None:
            unknown[cfg.EXPERIMENT] = unknown.get(cfg.EXPERIMENT, 0) + 1
        else:
            seconds += est
    known = len(todo) - sum(unknown.values())
    text = f"{len(todo)} of {len(configs)} runs are not in the run cache."
    if known:
        text += (f" Estimated training time of {known} of them on this machine: about {seconds / 3600:.1f} h "
                 "(rough: images × epochs at the speed of two timed training steps of each model here).")
    if unknown:
        text += (" Not estimated: " + ", ".join(f"{n} {name} run(s)" for name, n in sorted(unknown.items()))
                 + " (their experiment gives no estimate, or their data is not here).")
    return text

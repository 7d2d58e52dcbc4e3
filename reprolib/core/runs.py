"""The on-disk run cache: a run is computed once per full config, then read back.

``run(config)`` looks up ``$REPROLIB_CACHE/<experiment>/<config.key()>/``.  A finished
entry holds ``config.json``, ``result.json`` (metrics + history), any saved states and
arrays, and ``manifest.json`` listing every file with its SHA-256 — written last, so
an entry without a valid manifest is unfinished or corrupt.  Otherwise the experiment
function trains in that folder (it may checkpoint there and resume after an
interruption), all writes are atomic (:mod:`reprolib.core.io`), and a file lock
keeps two processes from training the same config at once (a process that waits says
for what and who holds the lock: ``<key>.holder.json`` beside the lock).  A corrupt entry
is reported, moved aside and recomputed.

A run whose experiment raises :class:`~reprolib.core.registry.Diverged` is stored as a
finished entry with status ``diverged`` (reason and history up to the divergence), so
asking again does not retrain it; its :class:`RunResult` has ``diverged=True`` and no
metrics, weights or arrays (asking for them raises :class:`NoResult`).  Finished entries
are read without the lock and without writing, so a read-only cache serves them; a run
that would have to be written there fails with :class:`CacheNotWritable`.

Derived artefacts (transition curves, embeddings, features) are cached the same way
with :func:`memo`, keyed by what they are computed from.

The config hash includes the package version: bump ``reprolib.__version__`` when a
change to the code should invalidate earlier results.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import math
import os
import platform
import shutil
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import distributed, fastpath, registry
from .config import Config
from .io import atomic_np_save, atomic_savez, atomic_torch_save, atomic_write_json, sha256_file
from .registry import Diverged

FINISHED, DIVERGED = "finished", "diverged"
STATUSES = (FINISHED, DIVERGED)


if TYPE_CHECKING:
    import pandas as pd


class CorruptRunWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


class ReadOnlyCacheWarning(UserWarning):
    """Derived arrays were computed but could not be stored: the run cache is not writable."""


class NoResult(LookupError):
    """Asked for a metric, weights or arrays of a diverged run: a diverged run is never a result."""


class CacheNotWritable(PermissionError):
    """The run cache cannot be written: a run that is not in it cannot be trained there."""


class _DivergedMetrics(dict):
    """The metrics of a diverged run: its reason and cost only; any other metric raises :class:`NoResult`."""

    run = ""

    def __missing__(self, key):
        raise NoResult(f"{self.run} diverged, so it has no {key!r}: {self.get('diverged', '')}")


def cache_dir() -> Path:
    """``$REPROLIB_CACHE`` (an empty value counts as unset), else ``.cache/runs`` under the working directory."""
    return Path(os.environ.get("REPROLIB_CACHE") or ".cache/runs").expanduser().resolve()


@dataclasses.dataclass
class RunContext:
    """What an experiment function gets besides its config."""

    dir: Path
    progress: bool = True
    writes: bool = True  # False on the ranks > 0 of a torchrun run: only rank 0 writes the entry

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def save_state(self, state: dict, name: str = "model") -> Path:
        path = self.dir / f"{name}.pt"
        if self.writes:
            atomic_torch_save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state.items()}, path)
        return path

    def save_array(self, name: str, array) -> Path:
        path = self.dir / f"{name}.npy"
        return atomic_np_save(path, array) if self.writes else path

    def child(self, name: str) -> Path:
        """A scratch sub-folder (e.g. for resumable checkpoints of a sub-stage)."""
        path = self.dir / name
        path.mkdir(exist_ok=True)
        return path


@dataclasses.dataclass
class RunResult:
    config: Config
    metrics: dict
    history: dict
    path: Path
    cached: bool  # True when read back rather than computed by this call
    status: str = FINISHED  # or DIVERGED: stored so it is not retrained, never a result

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"run status {self.status!r} is not one of {STATUSES}")
        if self.diverged and not isinstance(self.metrics, _DivergedMetrics):
            self.metrics = _DivergedMetrics(self.metrics)
            self.metrics.run = f"run {self.config.EXPERIMENT}/{self.path.name} ({describe(self.config)})"

    @property
    def diverged(self) -> bool:
        return self.status == DIVERGED

    @property
    def reason(self) -> str:
        """Why the run diverged ("" for a finished run)."""
        return str(self.metrics.get("diverged", "")) if self.diverged else ""

    def _require_result(self, what: str) -> None:
        if self.diverged:
            raise NoResult(f"{self.metrics.run} diverged, so it has no {what}: {self.reason}")

    def load_state(self, name: str = "model") -> dict:
        import torch

        self._require_result(f"saved state {name!r}")
        return torch.load(self.path / f"{name}.pt", map_location="cpu", weights_only=True)

    def load_array(self, name: str) -> np.ndarray:
        self._require_result(f"array {name!r}")
        return np.load(self.path / f"{name}.npy", allow_pickle=False)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith("."))


def entry_path(config: Config) -> Path:
    name = config.EXPERIMENT or type(config).__name__
    return cache_dir() / name / config.key()


def describe(config: Config, limit: int = 6) -> str:
    """A short description of a run for messages: its identifying fields that differ from the defaults (at most ``limit``)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    changed = [f"{k}={v!r}" for k, v in config.to_dict().items() if v != defaults.get(k)]
    return ", ".join(changed[:limit] + (["…"] if len(changed) > limit else [])) or "defaults"


def _nan_for_null(obj):
    """Strict JSON stores NaN/inf as null (:func:`reprolib.core.io.atomic_write_json`); read numbers back as NaN."""
    if obj is None:
        return math.nan
    if isinstance(obj, dict):
        return {k: _nan_for_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_for_null(v) for v in obj]
    return obj


def _read_entry(path: Path, config: Config) -> RunResult | None:
    """The finished entry at ``path`` or None; raises ValueError if it exists but is corrupt (any shape of damage)."""
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise ValueError("manifest.json is not a {'files': {name: sha256}} object")
        for fname, digest in manifest["files"].items():
            if not isinstance(fname, str) or Path(fname).name != fname or fname.startswith("."):
                raise ValueError(f"manifest names {fname!r}, not a file of the entry")
            if not (path / fname).is_file():
                raise ValueError(f"missing file {fname}")
            if sha256_file(path / fname) != digest:
                raise ValueError(f"checksum mismatch in {fname}")
        for needed in ("result.json", "config.json"):
            if needed not in manifest["files"]:
                raise ValueError(f"the manifest does not cover {needed}")
        result = json.loads((path / "result.json").read_text())
        stored = json.loads((path / "config.json").read_text())
        if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict) \
                or not isinstance(result.get("history", {}), dict):
            raise ValueError("result.json is not a {'metrics': {...}, 'history': {...}} object")
        status = result.get("status", FINISHED)
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict) or not config.matches_stored(stored["config"]):
            raise ValueError("stored config differs from the requested one (hash collision?)")
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError, OSError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    return RunResult(config, _nan_for_null(result["metrics"]), _nan_for_null(result.get("history", {})), path,
                     cached=True, status=status)


def _quarantine(path: Path, reason: str) -> None:
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    warnings.warn(f"run cache entry {path} is corrupt ({reason}); moved to {target.name} and recomputing", CorruptRunWarning, stacklevel=3)
    shutil.move(str(path), str(target))


def _not_writable(err: OSError, config: Config) -> CacheNotWritable | None:
    """A one-line :class:`CacheNotWritable` for a permission / read-only error of the cache, else None."""
    if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
        return None
    if err.filename is not None and not str(err.filename).startswith(str(cache_dir())):
        return None  # e.g. an unreadable data file: not the cache's fault
    return CacheNotWritable(
        err.errno, f"the run cache {cache_dir()} is not writable ({os.strerror(err.errno)}: {err.filename}), so run "
        f"{config.EXPERIMENT}/{config.key()} ({describe(config)}) cannot be trained or repaired there; finished runs are "
        "read without writing — set REPROLIB_CACHE to a writable folder to compute this one")


def holder_path(config: Config) -> Path:
    """Beside the lock: which process holds it (pid, host, start time), for a waiting process to say."""
    return Path(str(entry_path(config)) + ".holder.json")


def _acquire(lock, config: Config) -> None:
    """Take the run's lock; when another process holds it, say what we wait for and who holds it, then wait."""
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
        return
    except Timeout:
        pass
    try:
        holder = json.loads(holder_path(config).read_text())
        who = (f"pid {holder['pid']} on {holder['host']}, training since {holder['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        who = "another process (no holder record)"
    print(f"waiting for run {config.EXPERIMENT}/{config.key()} ({describe(config)}): it is held by {who}; "
          f"lock {lock.lock_file}", file=sys.stderr, flush=True)
    lock.acquire()


def lookup(config: Config) -> RunResult | None:
    """The cached result for ``config`` if a valid one exists (never trains)."""
    config = fastpath.resolve(config)
    try:
        return _read_entry(entry_path(config), config)
    except ValueError:
        return None


def run(config: Config, *, progress: bool = True, force: bool = False) -> RunResult:
    """The result of ``config``: from the cache when present and intact, else computed and stored.

    A run that diverges is stored as diverged and returned with ``diverged=True`` (module docstring).
    """
    config = fastpath.resolve(config)  # the precision this machine trains it in is part of its key
    name = config.EXPERIMENT
    if name not in registry.EXPERIMENTS:
        raise KeyError(f"no experiment registered as {name!r}; known: {sorted(registry.EXPERIMENTS)}")
    path = entry_path(config)
    if distributed.active():
        return _run_distributed(config, path, progress, force)
    return _run_main(config, path, progress, force)


def _run_main(config: Config, path: Path, progress: bool, force: bool, announce=None) -> RunResult:
    """The run on one process (or rank 0): read the cache lock-free, else lock, re-check and compute.

    ``announce("compute")`` is called just before training (torchrun: the other ranks join in).
    """
    from filelock import FileLock

    if not force:  # finished entries never change: read them without the lock (works on a read-only cache)
        try:
            found = _read_entry(path, config)
        except ValueError:
            found = None  # re-checked (and quarantined) under the lock below
        if found is not None:
            return found
    lock = FileLock(str(path) + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _acquire(lock, config)
    except OSError as err:
        raise (_not_writable(err, config) or err) from None
    try:
        if not force:
            try:
                found = _read_entry(path, config)
            except ValueError as err:
                _quarantine(path, str(err))
                found = None
            if found is not None:
                return found
        elif path.exists():
            shutil.rmtree(path)
        atomic_write_json(holder_path(config), {"pid": os.getpid(), "host": socket.gethostname(),
                                                "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        if announce is not None:
            announce("compute")  # the other ranks train with this one (see _run_distributed)
        return _compute(config, path, progress)
    except OSError as err:
        raise (_not_writable(err, config) or err) from None
    finally:
        holder_path(config).unlink(missing_ok=True)
        lock.release()


def _run_distributed(config: Config, path: Path, progress: bool, force: bool) -> RunResult:
    """One run trained by every rank of a torchrun job (DistributedDataParallel, :mod:`reprolib.core.distributed`).

    Rank 0 does what a single process does — reads the cache, takes the lock, writes the
    entry — and tells the other ranks whether to train.  They train the same config with
    it (each on its shard of every batch) but write nothing, then read the entry rank 0 wrote.
    """
    if distributed.is_main():
        sent: list[str] = []

        def announce(decision: str) -> None:
            distributed.broadcast(decision)
            sent.append(decision)

        try:
            result = _run_main(config, path, progress, force, announce)
        except BaseException:
            if not sent:  # the other ranks are still waiting for a decision; once training, torchrun ends them
                announce("failed")
            raise
        if not sent:
            announce("cached")  # a finished entry: the other ranks read it
        return result
    decision = distributed.broadcast(None)
    if decision == "failed":
        raise RuntimeError(f"rank 0 could not run {config.EXPERIMENT}/{config.key()}; see its error")
    if decision == "compute":
        try:
            with fastpath.run_scope(config):
                registry.EXPERIMENTS[config.EXPERIMENT].fn(config, RunContext(path, progress=False, writes=False))
        except Diverged:
            pass  # every rank saw the same loss; rank 0 stores the run as diverged
        distributed.barrier()  # rank 0 has written the entry
    found = _read_entry(path, config)
    if found is None:
        raise RuntimeError(f"rank 0 wrote no entry for {config.EXPERIMENT}/{config.key()}")
    return dataclasses.replace(found, cached=decision == "cached")


def _compute(config: Config, path: Path, progress: bool) -> RunResult:
    """Train ``config`` into ``path`` (the lock is held) and write the finished (or diverged) entry."""
    name = config.EXPERIMENT
    path.mkdir(exist_ok=True)
    (path / "manifest.json").unlink(missing_ok=True)
    atomic_write_json(path / "config.json", {"experiment": name, "config": config.to_dict()})
    started = time.time()
    compute = None
    try:
        with fastpath.run_scope(config) as compute:  # the run's own thread count, whoever runs it
            out = registry.EXPERIMENTS[name].fn(config, RunContext(path, progress))
        status = FINISHED
    except Diverged as err:  # stored, so asking again does not retrain it; never a result
        out, status = {"metrics": {"diverged": str(err)}, "history": err.history}, DIVERGED
        for stale in path.iterdir():  # weights or arrays saved before the divergence are not a result either
            if stale.is_file() and stale.name not in ("config.json", "checkpoint.pt"):
                stale.unlink()
    if not isinstance(out, dict) or "metrics" not in out:
        raise TypeError(f"experiment {name!r} must return a dict with 'metrics' (and optionally 'history')")
    metrics = dict(out["metrics"])
    metrics.setdefault("wall_seconds", time.time() - started)
    if compute is not None:
        metrics.setdefault("compute", fastpath.current_record(compute))
    atomic_write_json(path / "result.json", {"status": status, "metrics": metrics, "history": out.get("history", {})})
    atomic_write_json(path / "provenance.json", {**provenance(), **({"threads": compute["threads"], "compute": metrics["compute"]}
                                                                     if compute is not None else {})})
    (path / "checkpoint.pt").unlink(missing_ok=True)
    files = {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"}
    atomic_write_json(path / "manifest.json", {"files": files, "finished": time.time(), "status": status})
    stored = json.loads((path / "result.json").read_text())  # what a later read gets (NaN stored as null, tuples as lists)
    if distributed.active():
        distributed.barrier()  # the other ranks read the entry now
    return RunResult(config, _nan_for_null(stored["metrics"]), _nan_for_null(stored["history"]), path, cached=False,
                     status=status)


def memo(kind: str, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays derived from finished runs, computed once and stored under ``<cache>/<kind>/``.

    ``key`` names what they are computed from (e.g. the runs' cache paths and the probe's
    settings); it is hashed with the package version, like a run key.  A corrupt file is
    discarded and recomputed.
    """
    from reprolib import __version__

    digest = hashlib.sha256(f"{key}|{__version__}".encode()).hexdigest()[:20]
    path = cache_dir() / kind / f"{digest}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, like a corrupt run entry
            warnings.warn(f"{path} is unreadable ({type(err).__name__}); recomputing", CorruptRunWarning, stacklevel=2)
            path.unlink(missing_ok=True)
    with fastpath.threads(1):  # like a run: the same arrays whatever the core count of the machine
        out = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(path, **out)
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        warnings.warn(f"the run cache {cache_dir()} is not writable ({os.strerror(err.errno)}): the {kind} arrays were "
                      "computed but not stored", ReadOnlyCacheWarning, stacklevel=2)
    return out


def memo_frame(kind: str, key: str, compute: Callable[[], "pd.DataFrame"]) -> "pd.DataFrame":
    """A table derived from runs or settings (e.g. a sweep), cached like :func:`memo` (one array per column;
    text columns as strings, a column of equal-length tuples as a 2-D array)."""
    import pandas as pd

    def arrays():
        df = compute()
        out = {}
        for i, col in enumerate(df.columns):
            values = df[col].to_numpy()
            if values.dtype == object and len(values) and all(isinstance(v, tuple) for v in values):
                out[f"{i:04d}:tuple:{col}"] = np.array([list(v) for v in values])
            else:
                out[f"{i:04d}::{col}"] = values.astype(str) if values.dtype == object else values
        return out

    columns = {}
    for name, values in sorted(memo(kind, key, arrays).items()):
        _, how, col = name.split(":", 2)
        columns[col] = [tuple(v) for v in values.tolist()] if how == "tuple" else values
    return pd.DataFrame(columns)


def provenance() -> dict:
    """Where and with what a run was made: CPU, usable cores, device, versions (a manifest in the MLRC sense)."""
    import torch

    from reprolib import __version__

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS/Windows
        cores = os.cpu_count() or 1
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    return {
        "reprolib": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "host": socket.gethostname(),
        "cpu": fastpath.cpu_model(),
        "cores": cores,
        "threads": torch.get_num_threads(),
        "world_size": distributed.world_size(),  # processes that trained the run together (torchrun)
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

"""The on-disk run cache: a run is computed once per full config, then read back.

``run(config)`` looks up ``$REPROLIB_CACHE/<experiment>/<config.key()>/``.  A finished
entry holds ``config.json``, ``result.json`` (metrics + history), any saved states and
arrays, and ``manifest.json`` listing every file with its SHA-256 — written last, so
an entry without a valid manifest is unfinished or corrupt.  Otherwise the experiment
function trains in that folder (it may checkpoint there and resume after an
interruption), all writes are atomic (:mod:`reprolib.core.io`), and a file lock
keeps two processes from training the same config at once.  A corrupt entry is
reported, moved aside and recomputed.

Derived artefacts (transition curves, embeddings, features) are cached the same way
with :func:`memo`, keyed by what they are computed from.

The config hash includes the package version: bump ``reprolib.__version__`` when a
change to the code should invalidate earlier results.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from . import registry
from .config import Config
from .io import atomic_np_save, atomic_savez, atomic_torch_save, atomic_write_json, sha256_file


class CorruptRunWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


def cache_dir() -> Path:
    """``$REPROLIB_CACHE`` (an empty value counts as unset), else ``.cache/runs`` under the working directory."""
    return Path(os.environ.get("REPROLIB_CACHE") or ".cache/runs").expanduser().resolve()


@dataclasses.dataclass
class RunContext:
    """What an experiment function gets besides its config."""

    dir: Path
    progress: bool = True

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def save_state(self, state: dict, name: str = "model") -> Path:
        path = self.dir / f"{name}.pt"
        atomic_torch_save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state.items()}, path)
        return path

    def save_array(self, name: str, array) -> Path:
        return atomic_np_save(self.dir / f"{name}.npy", array)

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

    def load_state(self, name: str = "model") -> dict:
        import torch

        return torch.load(self.path / f"{name}.pt", map_location="cpu", weights_only=True)

    def load_array(self, name: str) -> np.ndarray:
        return np.load(self.path / f"{name}.npy", allow_pickle=False)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith("."))


def entry_path(config: Config) -> Path:
    name = config.EXPERIMENT or type(config).__name__
    return cache_dir() / name / config.key()


def _read_entry(path: Path, config: Config) -> RunResult | None:
    """The finished entry at ``path`` or None; raises ValueError if it exists but is corrupt."""
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        for fname, digest in manifest["files"].items():
            if not (path / fname).exists():
                raise ValueError(f"missing file {fname}")
            if sha256_file(path / fname) != digest:
                raise ValueError(f"checksum mismatch in {fname}")
        result = json.loads((path / "result.json").read_text())
        stored = json.loads((path / "config.json").read_text())
        if not _same_config(stored["config"], config):
            raise ValueError("stored config differs from the requested one (hash collision?)")
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError, OSError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    return RunResult(config, result["metrics"], result.get("history", {}), path, cached=True)


def _same_config(stored: dict, config: Config) -> bool:
    """Whether a stored config is ``config``: every field equal, except that a field declared with
    ``option(..., added=True)`` may be missing from an entry written before it existed while it has its default."""
    want = json.loads(json.dumps(config.to_dict(), default=str))
    absent_ok = {f.name for f in dataclasses.fields(config)
                 if f.metadata.get("added") and getattr(config, f.name) == f.default and f.name not in stored}
    return stored == {k: v for k, v in want.items() if k not in absent_ok}


def _quarantine(path: Path, reason: str) -> None:
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    warnings.warn(f"run cache entry {path} is corrupt ({reason}); moved to {target.name} and recomputing", CorruptRunWarning, stacklevel=3)
    shutil.move(str(path), str(target))


def lookup(config: Config) -> RunResult | None:
    """The cached result for ``config`` if a valid one exists (never trains)."""
    try:
        return _read_entry(entry_path(config), config)
    except ValueError:
        return None


def run(config: Config, *, progress: bool = True, force: bool = False) -> RunResult:
    """The result of ``config``: from the cache when present and intact, else computed and stored."""
    from filelock import FileLock

    name = config.EXPERIMENT
    if name not in registry.EXPERIMENTS:
        raise KeyError(f"no experiment registered as {name!r}; known: {sorted(registry.EXPERIMENTS)}")
    path = entry_path(config)
    if not force:  # finished entries never change: read them without the lock (works on a read-only cache)
        try:
            found = _read_entry(path, config)
        except ValueError:
            found = None  # re-checked (and quarantined) under the lock below
        if found is not None:
            return found
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
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
        path.mkdir(exist_ok=True)
        (path / "manifest.json").unlink(missing_ok=True)
        atomic_write_json(path / "config.json", {"experiment": name, "config": config.to_dict()})
        started = time.time()
        out = registry.EXPERIMENTS[name].fn(config, RunContext(path, progress))
        if not isinstance(out, dict) or "metrics" not in out:
            raise TypeError(f"experiment {name!r} must return a dict with 'metrics' (and optionally 'history')")
        metrics = dict(out["metrics"])
        metrics.setdefault("wall_seconds", time.time() - started)
        atomic_write_json(path / "result.json", {"metrics": metrics, "history": out.get("history", {})})
        atomic_write_json(path / "provenance.json", provenance())
        (path / "checkpoint.pt").unlink(missing_ok=True)
        files = {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"}
        atomic_write_json(path / "manifest.json", {"files": files, "finished": time.time()})
        return RunResult(config, metrics, out.get("history", {}), path, cached=False)


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
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(path, **out)
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


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
        "cpu": _cpu_model(),
        "cores": cores,
        "threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

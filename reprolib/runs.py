"""The on-disk run cache: a run is computed once per full config, then read back.

``run(config)`` looks up ``$REPROLIB_CACHE/<experiment>/<config.key()>/``.  A finished
entry holds ``config.json``, ``result.json`` (metrics + history), any saved states and
arrays, and ``manifest.json`` listing every file with its SHA-256 — written last, so
an entry without a valid manifest is unfinished or corrupt.  Otherwise the experiment
function trains in that folder (it may checkpoint there and resume after an
interruption), all writes are atomic (temporary file, then rename), and a file lock
keeps two processes from training the same config at once.  A corrupt entry is
reported, moved aside and recomputed.

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
from typing import Any, Callable

import numpy as np

from .config import Config

EXPERIMENTS: dict[str, Callable] = {}


class CorruptRunWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


def experiment(name: str):
    """Register ``fn(config, ctx) -> {"metrics": {...}, "history": {...}}`` under ``name``."""

    def deco(fn):
        EXPERIMENTS[name] = fn
        return fn

    return deco


def cache_dir() -> Path:
    return Path(os.environ.get("REPROLIB_CACHE", ".cache/runs")).expanduser().resolve()


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path) -> None:
    """``torch.save`` to a temporary file, then rename: a reader never sees a half-written file."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_json(path: Path, obj: Any) -> None:
    _atomic_bytes(path, json.dumps(obj, indent=1, sort_keys=True, default=_json_default).encode())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        path = self.dir / f"{name}.npy"
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, np.asarray(array))
        os.replace(tmp, path)
        return path

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
        return np.load(self.path / f"{name}.npy")

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
            if _sha256(path / fname) != digest:
                raise ValueError(f"checksum mismatch in {fname}")
        result = json.loads((path / "result.json").read_text())
        stored = json.loads((path / "config.json").read_text())
        if stored["config"] != json.loads(json.dumps(config.to_dict(), default=str)):
            raise ValueError("stored config differs from the requested one (hash collision?)")
    except (ValueError, KeyError, json.JSONDecodeError, OSError) as err:
        raise ValueError(str(err)) from None
    return RunResult(config, result["metrics"], result.get("history", {}), path, cached=True)


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
    if name not in EXPERIMENTS:
        from . import experiments  # noqa: F401  (registers the built-in experiments)
    if name not in EXPERIMENTS:
        raise KeyError(f"no experiment registered as {name!r}; known: {sorted(EXPERIMENTS)}")
    path = entry_path(config)
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
        _atomic_json(path / "config.json", {"experiment": name, "config": config.to_dict()})
        started = time.time()
        out = EXPERIMENTS[name](config, RunContext(path, progress))
        if not isinstance(out, dict) or "metrics" not in out:
            raise TypeError(f"experiment {name!r} must return a dict with 'metrics' (and optionally 'history')")
        metrics = dict(out["metrics"])
        metrics.setdefault("wall_seconds", time.time() - started)
        _atomic_json(path / "result.json", {"metrics": metrics, "history": out.get("history", {})})
        _atomic_json(path / "provenance.json", provenance())
        (path / "checkpoint.pt").unlink(missing_ok=True)
        files = {p.name: _sha256(p) for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"}
        _atomic_json(path / "manifest.json", {"files": files, "finished": time.time()})
        return RunResult(config, metrics, out.get("history", {}), path, cached=False)


def run_many(configs, *, progress: bool = True) -> list[RunResult]:
    """Run (or read back) several configs in order, with an overall progress bar."""
    from tqdm.auto import tqdm

    return [run(c, progress=progress) for c in tqdm(list(configs), desc="runs", leave=False, disable=not progress)]


def provenance() -> dict:
    """Where and with what a run was made (a manifest in the MLRC sense)."""
    import torch

    from . import __version__

    return {
        "reprolib": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

"""The one atomic write every file of the package goes through.

A reader (another process, a resumed run, the book) must never see a half-written
file, and two writers must never clobber each other's temporary file.  So every
write goes to a uniquely named temporary file in the target's folder
(``.<name>.<pid>.<random>.tmp``), is flushed and fsync'ed, and then replaces the
target with ``os.replace`` (atomic on POSIX).  On any failure the temporary file is
removed; a full disk is reported as such, with the path.

This module imports nothing from ``reprolib`` (import-linter checks it): everything
else may use it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save",
    "atomic_np_save", "atomic_savez", "sha256_file", "json_default", "read_json", "DiskFull",
]


class DiskFull(OSError):
    """No space left on the device that holds ``path`` (the temporary file was removed)."""


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def _atomic(path: str | os.PathLike) -> Iterator[Any]:
    """Yield a binary file object; on success it replaces ``path`` atomically."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno == errno.ENOSPC:
            raise DiskFull(errno.ENOSPC, f"no space left on device while writing {path}") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with _atomic(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_default(o):
    """JSON for NumPy scalars/arrays and paths (everything else is an error)."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _finite_or_none(float(o))
    if isinstance(o, np.ndarray):
        return _strict(o.tolist())
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite_or_none(x: float):
    return x if math.isfinite(x) else None


def _strict(obj):
    """Replace NaN/inf floats by ``None``: strict JSON has no NaN (read back as NaN by callers that expect numbers)."""
    if isinstance(obj, float):
        return _finite_or_none(obj)
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> Path:
    """Strict JSON (NaN and infinities written as ``null``), sorted keys, atomically."""
    text = json.dumps(_strict(obj), indent=indent, sort_keys=True, default=json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through the atomic write (serialised in memory first, so a full disk is an OSError, not a torch error)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getbuffer())


def atomic_np_save(path: str | os.PathLike, array) -> Path:
    import numpy as np

    with _atomic(path) as f:
        np.save(f, np.asarray(array), allow_pickle=False)
    return Path(path)


def atomic_savez(path: str | os.PathLike, **arrays) -> Path:
    import numpy as np

    with _atomic(path) as f:
        np.savez(f, **arrays)
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

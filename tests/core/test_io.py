"""The one atomic write: unique temporary names, no leftovers, a full disk said as such, strict JSON."""
import errno
import json
import math
import os
import threading

import pytest
import torch

from reprolib.core import io


def _no_space(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("write", [
    lambda p: io.atomic_write_json(p, {"a": 1}),
    lambda p: io.atomic_torch_save({"w": torch.ones(3)}, p),
    lambda p: io.atomic_np_save(p, [1, 2, 3]),
])
def test_a_full_disk_names_the_path_and_leaves_no_temporary_file(tmp_path, monkeypatch, write):
    target = tmp_path / "out.bin"
    monkeypatch.setattr(io.os, "fsync", _no_space)  # the kernel reports ENOSPC when the data reaches the disk
    with pytest.raises(io.DiskFull, match=f"no space left on device while writing {target}"):
        write(target)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    io.atomic_write_json(target, {"v": 1})
    monkeypatch.setattr(io.os, "fsync", _no_space)
    with pytest.raises(io.DiskFull):
        io.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_concurrent_writers_use_unique_temporary_names(tmp_path, monkeypatch):
    """Two writers of one file never share a temporary file (the old fixed '<file>.tmp' raced)."""
    names, barrier = [], threading.Barrier(2)
    real_replace = os.replace

    def slow_replace(src, dst):
        names.append(os.path.basename(src))
        barrier.wait(timeout=10)  # both temporary files exist at the same time
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", slow_replace)
    threads = [threading.Thread(target=io.atomic_write_bytes, args=(tmp_path / "x", bytes([i]) * 100)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(names)) == 2 and all(n.startswith(".x.") and n.endswith(".tmp") for n in names)
    assert [p.name for p in tmp_path.iterdir()] == ["x"] and len((tmp_path / "x").read_bytes()) == 100


def test_json_is_strict_nan_and_infinity_written_as_null(tmp_path):
    import numpy as np

    path = io.atomic_write_json(tmp_path / "r.json", {"loss": math.nan, "h": [1.0, math.inf], "n": np.float32("nan")})

    def reject(name):
        raise ValueError(f"non-strict JSON constant {name}")

    assert json.loads(path.read_text(), parse_constant=reject) == {"loss": None, "h": [1.0, None], "n": None}

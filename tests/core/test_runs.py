import dataclasses
import json
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reprolib.core import registry, runs
from reprolib.core.config import Config, option
from reprolib.core.io import atomic_write_json, sha256_file
from reprolib.core.registry import Diverged

ROOT = Path(__file__).resolve().parents[2]

CALLS = []


@dataclasses.dataclass(frozen=True)
class ToyConfig(Config):
    EXPERIMENT = "toy"
    x: int = option(1)
    fail_at: int = option(-1)
    steps: int = option(3, low=1)


@registry.experiment(ToyConfig)
def _toy(cfg, ctx):
    """Counts to `steps`, checkpointing each step; `fail_at` simulates a kill."""
    CALLS.append(cfg.x)
    state_file = ctx.dir / "progress.json"
    done = json.loads(state_file.read_text())["done"] if state_file.exists() else 0
    resumed_from = done
    while done < cfg.steps:
        if done == cfg.fail_at and resumed_from == 0:
            raise KeyboardInterrupt("simulated kill")
        done += 1
        atomic_write_json(state_file, {"done": done})
    ctx.save_array("squares", [i * i for i in range(cfg.x)])
    return {"metrics": {"value": cfg.x * 2, "resumed_from": resumed_from}, "history": {"epoch": [{"epoch": 0}]}}


def test_second_run_is_read_from_the_cache():
    CALLS.clear()
    a = runs.run(ToyConfig(x=3))
    b = runs.run(ToyConfig(x=3))
    assert CALLS == [3] and not a.cached and b.cached
    assert b.metrics["value"] == 6 and list(b.load_array("squares")) == [0, 1, 4]
    assert runs.run(ToyConfig(x=4)).metrics["value"] == 8 and CALLS == [3, 4]
    assert runs.lookup(ToyConfig(x=3)).metrics == a.metrics
    assert runs.lookup(ToyConfig(x=99)) is None


def test_interrupted_run_resumes_where_it_stopped():
    with pytest.raises(KeyboardInterrupt):
        runs.run(ToyConfig(x=5, fail_at=2, steps=4))
    assert runs.lookup(ToyConfig(x=5, fail_at=2, steps=4)) is None
    res = runs.run(ToyConfig(x=5, fail_at=2, steps=4))
    assert res.metrics["resumed_from"] == 2 and not res.cached


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate_json", "delete_file"])
def test_corrupt_entry_is_reported_and_recomputed(damage):
    CALLS.clear()
    first = runs.run(ToyConfig(x=7))
    target = first.path / ("squares.npy" if damage != "truncate_json" else "result.json")
    if damage == "flip_bytes":
        blob = bytearray(target.read_bytes())
        blob[-1] ^= 0xFF
        target.write_bytes(bytes(blob))
    elif damage == "truncate_json":
        target.write_text(target.read_text()[:10])
    else:
        target.unlink()
    with pytest.warns(runs.CorruptRunWarning, match="corrupt"):
        again = runs.run(ToyConfig(x=7))
    assert not again.cached and again.metrics["value"] == 14 and CALLS == [7, 7]
    assert list(first.path.parent.glob(f"{first.path.name}.corrupt-*"))


def test_key_changes_with_package_version(monkeypatch):
    import reprolib

    k = ToyConfig(x=1).key()
    monkeypatch.setattr(reprolib, "__version__", "999")
    assert ToyConfig(x=1).key() != k


def test_unregistered_experiment_is_a_clear_error():
    @dataclasses.dataclass(frozen=True)
    class Nope(Config):
        EXPERIMENT = "nope"

    with pytest.raises(KeyError, match="no experiment registered as 'nope'"):
        runs.run(Nope())


def _slow_worker(cache, out):
    import os

    os.environ["REPROLIB_CACHE"] = cache
    import tests.core.test_runs as mod

    res = runs.run(mod.SlowConfig())
    out.put(res.cached)


@dataclasses.dataclass(frozen=True)
class SlowConfig(Config):
    EXPERIMENT = "slow"


@registry.experiment(SlowConfig)
def _slow(cfg, ctx):
    time.sleep(1.0)
    return {"metrics": {"ok": 1}}


def test_two_processes_do_not_train_the_same_config_twice(isolated_cache):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_slow_worker, args=(str(isolated_cache), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sorted([q.get(timeout=5), q.get(timeout=5)]) == [False, True]


def test_an_entry_written_before_an_added_field_existed_is_read_back(isolated_cache):
    """``option(..., added=True)`` keeps the key *and* the stored entry: it is read back, not recomputed."""
    CALLS.clear()
    first = runs.run(ToyConfig(x=7))
    config_file = first.path / "config.json"
    stored = json.loads(config_file.read_text())

    @dataclasses.dataclass(frozen=True)
    class Later(ToyConfig):
        verbose: bool = option(False, added=True)

    Later.__name__ = "ToyConfig"
    assert Later(x=7).key() == ToyConfig(x=7).key()
    again = runs.run(Later(x=7))
    assert again.cached and CALLS == [7] and json.loads(config_file.read_text()) == stored
    assert runs.lookup(Later(x=7, verbose=True)) is None  # a non-default value is another run


# ----------------------------------------------------------------------------- hardening
@dataclasses.dataclass(frozen=True)
class OddConfig(Config):
    EXPERIMENT = "odd"
    value: float = option(1.0)
    diverge: bool = option(False)


@registry.experiment(OddConfig)
def _odd(cfg, ctx):
    CALLS.append(("odd", cfg.value, cfg.diverge))
    if cfg.diverge:
        raise Diverged("loss exploded at step 3", history={"epoch": [{"epoch": 0, "train_loss": 1e17}]})
    return {"metrics": {"loss": math.nan, "acc": cfg.value, "none": None}, "history": {"epoch": [{"loss": math.inf}]}}


def test_nan_is_stored_as_strict_json_null_and_read_back_as_nan():
    fresh = runs.run(OddConfig())
    text = (fresh.path / "result.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c} in result.json"))
    cached = runs.run(OddConfig())
    assert cached.cached and math.isnan(cached.metrics["loss"]) and math.isnan(cached.history["epoch"][0]["loss"])
    assert math.isnan(fresh.metrics["loss"]) and cached.metrics["acc"] == fresh.metrics["acc"] == 1.0  # the same either way


def test_a_diverged_run_is_stored_as_diverged_and_never_a_result():
    CALLS.clear()
    first = runs.run(OddConfig(diverge=True))
    again = runs.run(OddConfig(diverge=True))
    assert CALLS == [("odd", 1.0, True)]  # not retrained
    assert first.diverged and again.diverged and again.cached and first.status == again.status == "diverged"
    assert "loss exploded" in again.reason and again.history["epoch"][0]["train_loss"] == 1e17
    with pytest.raises(runs.NoResult, match="diverged, so it has no 'acc'"):
        again.metrics["acc"]
    with pytest.raises(runs.NoResult):
        again.load_state()
    assert runs.lookup(OddConfig(diverge=True)).diverged
    assert json.loads((again.path / "manifest.json").read_text())["status"] == "diverged"
    forced = runs.run(OddConfig(diverge=True), force=True)  # --force retrains it
    assert forced.diverged and not forced.cached and len(CALLS) == 2


def _entry_with(path, name, text, *, rehash=True):
    (path / name).write_text(text)
    if rehash and name != "manifest.json":
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["files"][name] = sha256_file(path / name)
        (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("name, text", [
    ("manifest.json", "123"),
    ("manifest.json", "[]"),
    ("manifest.json", "{}"),
    ("manifest.json", '{"files": 5}'),
    ("manifest.json", '{"files": {"../../outside.json": "0"}}'),
    ("manifest.json", '{"files": {}}'),
    ("result.json", "[]"),
    ("result.json", '{"metrics": 3}'),
    ("result.json", '{"history": {}}'),
    ("result.json", '{"metrics": {}, "status": "sort of"}'),
    ("config.json", "null"),
])
def test_valid_json_of_the_wrong_shape_is_quarantined_like_any_corrupt_entry(name, text):
    CALLS.clear()
    first = runs.run(ToyConfig(x=11))
    _entry_with(first.path, name, text)
    with pytest.warns(runs.CorruptRunWarning, match="corrupt"):
        again = runs.run(ToyConfig(x=11))
    assert not again.cached and again.metrics["value"] == 22 and CALLS == [11, 11]
    assert runs.lookup(ToyConfig(x=11)).cached


def test_an_empty_REPROLIB_CACHE_counts_as_unset(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_CACHE", "")
    monkeypatch.chdir(tmp_path)
    assert runs.cache_dir() == tmp_path / ".cache" / "runs"
    assert runs.run(ToyConfig(x=2)).path.is_relative_to(tmp_path / ".cache" / "runs")


def _read_only(cache: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` with ``cache`` read-only: chmod for a normal user; for root (whom chmod does not stop) a read-only
    bind mount in a private mount namespace, so the file system itself refuses writes."""
    for p in [cache, *cache.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    env = {**os.environ, "REPROLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("root, and no unshare(1) to make a read-only mount")
        probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {cache} {cache} && mount -o remount,bind,ro {cache}"],
                               capture_output=True)
        if probe.returncode != 0:
            pytest.skip("root without the right to make a read-only bind mount")
        cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(cache), *cmd]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        for p in [cache, *cache.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def test_a_read_only_cache_serves_finished_runs_and_says_when_it_cannot_write(isolated_cache):
    runs.run(ToyConfig(x=3))
    runs.memo("derived", "k", lambda: {"a": np.arange(3)})
    code = """
import numpy as np, warnings
import tests.core.test_runs as t
from reprolib.core import runs
r = runs.run(t.ToyConfig(x=3))
assert r.cached and r.metrics["value"] == 6 and list(r.load_array("squares")) == [0, 1, 4]
assert list(runs.memo("derived", "k", lambda: 1 / 0)["a"]) == [0, 1, 2]
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    assert list(runs.memo("derived", "other", lambda: {"b": np.ones(2)})["b"]) == [1, 1]
print("MEMO", seen[0].message)
try:
    runs.run(t.ToyConfig(x=4))
except runs.CacheNotWritable as err:
    print("ERROR", err)
"""
    proc = _read_only(isolated_cache, code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    memo_line = next(line for line in proc.stdout.splitlines() if line.startswith("MEMO"))
    error_line = next(line for line in proc.stdout.splitlines() if line.startswith("ERROR"))
    assert "not writable" in memo_line and "computed but not stored" in memo_line
    assert "is not writable" in error_line and "toy/" in error_line and "REPROLIB_CACHE" in error_line
    assert not list(isolated_cache.rglob("*.tmp")) and not runs.entry_path(ToyConfig(x=4)).exists()


def _hold_the_lock(cache, started):
    os.environ["REPROLIB_CACHE"] = cache
    import tests.core.test_runs as mod

    started.set()
    runs.run(mod.SlowConfig())


def test_a_waiting_process_says_what_it_waits_for_and_who_holds_the_lock(isolated_cache, capfd):
    ctx = mp.get_context("fork")
    started = ctx.Event()
    holder = ctx.Process(target=_hold_the_lock, args=(str(isolated_cache), started))
    holder.start()
    try:
        record = runs.holder_path(SlowConfig())
        deadline = time.time() + 20
        while not record.exists() and time.time() < deadline:
            time.sleep(0.02)
        assert record.exists(), "the holder never wrote who it is"
        result = runs.run(SlowConfig())
    finally:
        holder.join(30)
    err = capfd.readouterr().err
    assert result.cached and f"held by pid {holder.pid} on " in err and "waiting for run slow/" in err
    assert not record.exists()  # removed with the lock


def test_a_derived_table_is_computed_once_and_read_back_the_same():
    import pandas as pd

    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"name": ["a", "b"], "start": [(1.0, 2.0), (3.0, 4.5)], "x": [0.5, 1.5],
                             "ok": [True, False], "n": [1, 2]})

    first = runs.memo_frame("table", "k", compute)
    again = runs.memo_frame("table", "k", compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again, check_dtype=False)
    assert again.start.tolist() == [(1.0, 2.0), (3.0, 4.5)] and again.ok.dtype == bool


def test_predictions_of_a_finished_run_are_cached(monkeypatch):
    from reprolib.core import supervised
    from reprolib.core.supervised import TrainConfig, predictions

    result = runs.run(TrainConfig(dataset="digits", train_size=200, epochs=1, batch_size=32, model="wrn-10-1"), progress=False)
    first = predictions(result, "val")
    monkeypatch.setattr(supervised, "prepare_data", lambda cfg: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = predictions(result, "val")
    assert all((a == b).all() for a, b in zip(first, again)) and len(first[0]) == len(first[1]) > 0

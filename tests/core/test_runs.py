import dataclasses
import json
import multiprocessing as mp
import time

import pytest

from reprolib.core import registry, runs
from reprolib.core.io import atomic_write_json
from reprolib.core.config import Config, option

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

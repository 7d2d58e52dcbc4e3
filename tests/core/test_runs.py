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

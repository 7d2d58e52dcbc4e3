"""The chapter runner trains missing runs side by side: same results as one after another, upstream runs once and first."""
import shutil

import torch

from reprolib.core import runs
from reprolib.core.chapter import Runner
from reprolib.core.supervised import TrainConfig


def _configs():
    base = TrainConfig(dataset="digits", classes=(0, 1, 2, 3), train_size=160, epochs=1, batch_size=32, model="wrn-10-1",
                       weights="source", source_epochs=1, source_train_size=160)
    return [base.replace(seed=0), base.replace(seed=0, lr=0.05), base.replace(seed=1)]  # the first two share a source model


def _fingerprint(result):
    state = result.load_state()
    return ({k: v for k, v in result.metrics.items() if "seconds" not in k and k != "images_per_second"},
            [e["train_loss"] for e in result.history["epoch"]], {k: v.clone() for k, v in state.items()})


def test_side_by_side_gives_the_results_of_one_after_another(tmp_path, monkeypatch):
    configs = _configs()
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "sequential"))
    sequential = Runner(parallel=1).run(configs, section="s")
    # one machine, one calibration: the side-by-side cache starts from the same measured choice
    (tmp_path / "parallel" / "fastpath").mkdir(parents=True)
    shutil.copy(tmp_path / "sequential" / "fastpath" / "calibration.json", tmp_path / "parallel" / "fastpath")
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "parallel"))
    runner = Runner(parallel=2)
    try:
        side = runner.run(configs, section="s")
    finally:
        runner.close()
    assert [r.config for r in side] == configs
    for a, b in zip(sequential, side):
        ma, la, sa = _fingerprint(a)
        mb, lb, sb = _fingerprint(b)
        assert ma == mb and la == lb
        assert all(torch.equal(sa[k], sb[k]) for k in sa)  # bit for bit
        assert b.metrics["compute"]["threads"] == 1
    # the shared source model was trained once, before the runs that read it; all count as computed now
    assert len(list((tmp_path / "parallel" / "supervised").glob("*/manifest.json"))) == 5
    cost = runner.cost_table()
    assert len(cost) == 5 and not cost["from cache now"].any()
    assert (cost.section == "s (upstream)").sum() == 2


def test_a_second_execution_reads_everything_back():
    configs = _configs()[:2]
    Runner(parallel=1).run(configs)
    again = Runner(parallel=2)
    groups = again.grouped({"first": configs[:1], "rest": configs[1:]})
    assert [r.config for r in groups["first"]] == configs[:1] and [r.config for r in groups["rest"]] == configs[1:]
    results = groups["first"] + groups["rest"]
    assert again._pool is None  # nothing to train: no worker was started
    assert all(r.cached for r in results) and again.cost_table()["from cache now"].all()
    assert "Warm" in again.summary()
    assert runs.lookup(configs[0]) is not None

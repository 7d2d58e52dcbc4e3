"""The chapter runner trains missing runs side by side: same results as one after another, upstream runs once and first."""
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
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


def test_grouped_with_sections_trains_once_and_files_each_group_under_its_section():
    configs = _configs()[:2]
    runner = Runner(parallel=1)
    groups = runner.grouped({"a": configs[:1], "b": configs[1:]}, section="training", sections={"a": "Task A", "b": "Task B"})
    assert [r.config for r in groups["a"]] == configs[:1] and [r.config for r in groups["b"]] == configs[1:]
    assert not any(r.cached for r in groups["a"] + groups["b"])  # trained by this runner, though filed after training
    cost = runner.cost_table()
    assert set(cost.section) == {"Task A", "Task A (upstream)", "Task B"}  # the shared source model: once, first
    table = runner.section_table().set_index("section")
    assert table.loc["training", "distinct runs"] == 0 and table.loc["training", "this execution (min)"] >= 0
    assert table.loc["Task A", "distinct runs"] == 2 and table.loc["Task B", "computed now"] == 1


def test_an_interrupt_stops_the_side_by_side_workers_quietly(capfd):
    """Ctrl-C / a kernel interrupt signals the whole process group: the workers ignore it (no traceback from each),
    the parent stops them, and what they checkpointed stays for the next execution."""
    base = TrainConfig(dataset="digits", train_size=1000, epochs=50, batch_size=32, model="wrn-10-1")
    configs = [base.replace(seed=s) for s in (0, 1)]
    runner = Runner(parallel=2)
    workers = []

    def interrupt(*_):
        workers.extend(runner._pool[0]._processes.values())
        for process in workers:
            os.kill(process.pid, signal.SIGINT)  # what the terminal or the kernel sends to the group
        time.sleep(0.5)
        assert all(process.is_alive() for process in workers)  # ignored by the workers
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(8)  # the workers are spawned and training by then
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(configs)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert len(workers) == 2 and runner._pool is None
    deadline = time.time() + 10
    while any(p.is_alive() for p in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(p.is_alive() for p in workers)
    assert "KeyboardInterrupt" not in capfd.readouterr().err
    assert all(runs.lookup(c) is None for c in configs)  # interrupted runs are never results


PARENT_SCRIPT = '''
import threading
import time

from reprolib.core.chapter import Runner
from reprolib.core.supervised import TrainConfig

if __name__ == "__main__":
    base = TrainConfig(dataset="digits", train_size=1000, epochs=500, batch_size=32, model="wrn-10-1")
    runner = Runner(parallel=2)
    pool = runner._executor(2)[0]
    threading.Thread(target=runner.run, args=([base.replace(seed=s) for s in (0, 1)],), daemon=True).start()
    while len(pool._processes or {}) < 2:
        time.sleep(0.1)
    print(" ".join(str(pid) for pid in pool._processes), flush=True)
    time.sleep(600)
'''


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """A killed kernel must not leave its side-by-side workers training on for nobody."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    env = {**os.environ, "REPROLIB_CACHE": str(tmp_path / "runs")}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        workers = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2
        time.sleep(1.0)
        assert all(w.is_running() for w in workers)
    finally:
        parent.kill()
        parent.wait()

    def alive(w):
        try:
            return w.is_running() and w.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.time() + 15
    while any(alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(w) for w in workers)

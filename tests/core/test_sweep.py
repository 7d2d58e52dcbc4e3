"""Scale-out through submitit: dependency order, the Slurm job script, and a local sweep that survives a
killed job and leaves a cache from which the chapter builds without training."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reprolib.core import runs, sweep

ROOT = Path(__file__).resolve().parents[2]


def test_upstream_runs_come_first_and_form_earlier_waves():
    configs = sweep.chapter_configs("vc_a2", "smoke")
    keys = [c.key() for c in configs]
    for c in configs:
        for up in c.upstream():  # every source model is listed before the transfer run that reads it
            assert keys.index(up.key()) < keys.index(c.key())
    levels = sweep.waves(configs)
    assert len(levels) == 2 and all(c.weights == "source" for c in levels[1])
    assert all(c.weights == "none" for c in levels[0])
    assert sum(map(len, levels)) == len(configs)


def test_slurm_job_script_carries_the_options():
    opts = sweep.SweepOptions(executor="slurm", partition="gpu-a100", gpus_per_job=2, time_min=720, parallel=16,
                              folder="/shared/cache/submitit")
    script = sweep.slurm_script(opts, wave_dependency="afterok:4242")
    for line in ("#SBATCH --partition=gpu-a100", "#SBATCH --gpus-per-node=2", "#SBATCH --time=720",
                 "#SBATCH --dependency=afterok:4242", "#SBATCH --cpus-per-task=16", "#SBATCH --signal=USR2@120",
                 "#SBATCH --output=/shared/cache/submitit/%j_0_log.out"):
        assert line in script, line
    assert "srun" in script and "-m submitit.core._submit /shared/cache/submitit" in script
    assert sweep.slurm_parameters(opts)["array_parallelism"] == 16
    with pytest.raises(Exception, match="executor='pbs'"):
        sweep.SweepOptions(executor="pbs")


def _checkpoints(cache: Path) -> list[Path]:
    return list(cache.glob("supervised/*/checkpoint.pt"))


def test_local_sweep_survives_a_killed_job_and_the_chapter_then_trains_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("REPROLIB_CACHE", str(cache))
    sets = {"seeds": [0, 1], "learning_rates": [0.05, 0.1], "train.epochs": 6}
    configs = sweep.chapter_configs("pipeline", "smoke", **sets)
    assert len(configs) == 4
    opts = sweep.SweepOptions(executor="local", parallel=2, threads=1, time_min=20)
    logs: list[str] = []
    worker = threading.Thread(target=sweep.submit, args=(configs, opts), kwargs={"log": logs.append})
    worker.start()
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline:  # kill the first job that has checkpointed an epoch
        for ckpt in _checkpoints(cache):
            cfg = next(c for c in configs if c.key() == ckpt.parent.name)
            marker = sweep.job_marker(cfg)
            if marker.exists():
                os.kill(json.loads(marker.read_text())["pid"], signal.SIGKILL)
                killed = cfg
                break
        time.sleep(0.05)
    worker.join(600)
    assert killed is not None, logs
    states = {r["key"]: r["state"] for r in sweep.status(configs)}
    assert states[killed.key()] == "failed" and list(states.values()).count("done") == 3, (states, logs)
    assert (runs.entry_path(killed) / "checkpoint.pt").exists()  # the killed run left its last epoch behind

    # resubmitted: only the killed run is submitted, and it resumes from its checkpoint
    logs.clear()
    final = sweep.submit(configs, opts, log=logs.append)
    assert all(r["state"] == "done" for r in final)
    assert "1 to submit" in logs[0]
    resumed = runs.lookup(killed)
    assert len(resumed.history["epoch"]) == 6

    # the chapter, with the same settings, reads every run from the cache
    out = tmp_path / "pipeline.ipynb"
    env = {**os.environ, "REPROLIB_CACHE": str(cache), "REPROLIB_VERDICTS": str(tmp_path / "verdicts")}
    before = {p.parent for p in cache.glob("*/*/manifest.json")}
    cmd = [sys.executable, "-m", "reprolib", "chapter", "pipeline", "-o", str(out), "--quiet",
           "-p", "profile", "smoke", "-p", "seeds", "[0, 1]", "-p", "learning_rates", "[0.05, 0.1]",
           "-p", "overrides", json.dumps({"train.epochs": 6})]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p.parent for p in cache.glob("*/*/manifest.json")} == before
    assert "**Warm** (every run read from the cache)" in out.read_text()

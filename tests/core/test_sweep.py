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


def test_full_cost_multiplies_each_experiments_runs_by_the_chapters_per_run_estimate():
    from reprolib.chapters.zskt.reported import FULL_COST

    configs = sweep.chapter_configs("zskt", "full")
    rows = {r["experiment"]: r for r in sweep.full_cost("zskt", configs)}
    n_zeroshot = sum(c.EXPERIMENT == "zeroshot" for c in configs)
    low, high = FULL_COST["zeroshot"][:2]
    assert rows["zeroshot"]["runs"] == n_zeroshot > 0
    assert rows["zeroshot"]["total (GPU-h)"] == (n_zeroshot * low, n_zeroshot * high)
    assert rows["fewshot_kdat"]["total (GPU-h)"] is None  # no estimate: shown as such, never guessed
    assert sum(r["runs"] for r in rows.values()) == len(configs)
    text = sweep.format_cost("zskt", "full", list(rows.values()))
    assert f"{n_zeroshot * low:,}-{n_zeroshot * high:,} K80 GPU-h" in text and "not estimated" in text


class _RecordingExecutor:
    """Stands in for submitit's LocalExecutor: records the GPUs each job would see, runs nothing."""

    def __init__(self):
        self.parameters, self.seen = {}, []

    def update_parameters(self, **kwargs):
        self.parameters.update(kwargs)

    def submit(self, job):
        self.seen.append(self.parameters.get("visible_gpus"))

        class Done:
            def done(self):
                return True

            def result(self):
                return {"cached": False, "status": "finished"}

        return Done()


@pytest.mark.parametrize("gpus_per_job, gpus_here, expected", [
    (None, 2, [[0], [1], [0]]),  # default: one GPU per job, in turn
    (None, 0, [None, None, None]),  # no GPU: nothing set, the jobs train on the CPU
    (0, 2, [None, None, None]),  # an explicit 0 keeps the jobs on the CPU
])
def test_local_jobs_are_spread_over_the_gpus_by_default(monkeypatch, gpus_per_job, gpus_here, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus_here > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus_here)
    ex = _RecordingExecutor()
    monkeypatch.setattr(sweep, "make_executor", lambda options, dependency=None: ex)
    configs = sweep.chapter_configs("pipeline", "smoke")[:3]
    sweep._run_local_wave(configs, sweep.SweepOptions(executor="local", parallel=3, gpus_per_job=gpus_per_job),
                          "/unused", log=lambda line: None)
    assert ex.seen == expected


def test_slurm_jobs_ask_for_one_gpu_unless_told_otherwise():
    assert sweep.slurm_parameters(sweep.SweepOptions(executor="slurm"))["gpus_per_node"] == 1
    assert sweep.slurm_parameters(sweep.SweepOptions(executor="slurm", gpus_per_job=0))["gpus_per_node"] == 0
    with pytest.raises(Exception, match="gpus_per_job=-1"):
        sweep.SweepOptions(gpus_per_job=-1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not training
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["foreground", "started-with-sigint-ignored"])
def test_a_terminated_local_sweep_stops_its_jobs(tmp_path, sigint_ignored):
    """A sweep started as ``cmd &`` from a script inherits SIGINT ignored; its jobs must still stop."""
    cache = tmp_path / "cache"
    env = {**os.environ, "REPROLIB_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "reprolib", "sweep", "pipeline", "--profile", "smoke", "--executor", "local",
           "--parallel", "1", "--threads", "1", "--set", "train.epochs=200", "--set", "seeds=[0]",
           "--set", "learning_rates=[0.1]"]
    log = (tmp_path / "sweep.log").open("w")  # a file, not a pipe: a pipe would also wait for the jobs' own copies of it
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    sweep_proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=ignore_sigint)
    deadline, job_pid = time.time() + 120, None
    while job_pid is None and time.time() < deadline:  # the job is training once it has written its marker
        markers = list((cache / "submitit" / "running").glob("*.json"))
        if markers:
            job_pid = json.loads(markers[0].read_text())["pid"]
        time.sleep(0.1)
    assert job_pid is not None, "no job started"
    sweep_proc.send_signal(signal.SIGTERM)
    assert sweep_proc.wait(timeout=180) == 130, (tmp_path / "sweep.log").read_text()
    deadline = time.time() + 10  # the sweep waits for its jobs; allow for the last exit being reaped
    while _alive(job_pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(job_pid), "the job went on training after its sweep was terminated"

"""The command line as a user meets it (subprocesses): one line and exit status 2 for an expected error, a
traceback only with --debug, a killed run that resumes, the package importable from anywhere."""
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, cache, timeout=600, cwd=ROOT, **env):
    full_env = {**os.environ, "REPROLIB_CACHE": str(cache), "REPROLIB_DOWNLOAD": "0", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-m", "reprolib", *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd)


SMOKE_DIGITS = ["--profile", "smoke", "--set", "dataset=digits", "--set", "model=wrn-10-1", "--set", "train_size=0", "--quiet"]


@pytest.mark.parametrize("args, message", [
    (["run", "nonsense"], "error: unknown experiment 'nonsense'; known: ["),
    (["run", "supervised", "--profile", "smoke", "--set", "classes=[11]"],
     "error: classes=(11,): fashion_mnist has 10 classes, so each must be in 0..9"),
    (["run", "supervised", "--profile", "smoke", "--set", "lr=Infinity"], "error: lr=inf: expected a finite number"),
    (["run", "supervised", "--profile", "smoke", "--set", "dataset=cifar10", "--quiet"], "error: dataset 'cifar10' is not available"),
    (["run", "supervised", "--profile", "smoke", "--set", "weights=imagenet", "--set", "model=resnet18", "--quiet"],
     "error: ImageNet weights for resnet18"),
    (["chapter", "nope", "-o", "x.ipynb"], "error: unknown chapter 'nope'"),
    (["chapter", "pipeline", "-p", "profile", "gpu", "-o", "x.ipynb"], "error: unknown profile 'gpu'"),
    (["sweep", "pipeline", "--profile", "smoke", "--set", "seeds=[]", "--status"], "error: seeds must be a non-empty list"),
])
def test_an_expected_error_is_one_line_and_exit_status_2(tmp_path, args, message):
    proc = _cli(*args, cache=tmp_path, TORCH_HOME=str(tmp_path / "torch"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in proc.stderr and len(lines) == 1 and lines[0].startswith(message), proc.stderr[-2000:]


def test_debug_shows_the_traceback(tmp_path):
    proc = _cli("--debug", "run", "supervised", "--profile", "smoke", "--set", "dataset=cifar10", "--quiet", cache=tmp_path)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "DatasetUnavailable" in proc.stderr
    after = _cli("run", "nonsense", "--debug", cache=tmp_path)
    assert "Traceback" in after.stderr and "ConfigError: unknown experiment 'nonsense'" in after.stderr


def test_a_diverged_run_is_reported_in_one_line_and_not_retrained(tmp_path):
    """The issue's reproduction, through the CLI: lr=1e6 is stored as diverged, reported as such, never as a result."""
    first = _cli("run", "supervised", *SMOKE_DIGITS, "--set", "epochs=2", "--set", "lr=1e6", cache=tmp_path)
    assert first.returncode == 2 and "Traceback" not in first.stderr, first.stderr[-2000:]
    assert "error: the run diverged (stored as diverged at" in first.stderr and "training diverged" in first.stderr
    assert '"status": "diverged"' in first.stdout and '"test_acc"' not in first.stdout
    again = _cli("run", "supervised", *SMOKE_DIGITS, "--set", "epochs=2", "--set", "lr=1e6", cache=tmp_path)
    assert again.returncode == 2 and "error: the run diverged (read from the run cache at" in again.stderr
    assert '"cached": true' in again.stdout


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL mid-run (no clean-up at all), then the same command: it says where it resumes and finishes."""
    from reprolib.core.supervised import TrainConfig

    args = ["run", "supervised", *SMOKE_DIGITS, "--set", "epochs=12", "--set", "batch_size=32"]
    key = TrainConfig.from_profile("smoke", dataset="digits", model="wrn-10-1", train_size=0, epochs=12, batch_size=32).key()
    checkpoint = tmp_path / "supervised" / key / "checkpoint.pt"
    env = {**os.environ, "REPROLIB_CACHE": str(tmp_path), "REPROLIB_DOWNLOAD": "0", "OMP_NUM_THREADS": "1"}
    victim = subprocess.Popen([sys.executable, "-m", "reprolib", *args], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert checkpoint.exists(), "the run finished or failed before it wrote a checkpoint"
    assert not (checkpoint.parent / "manifest.json").exists()  # not finished: nothing was reported as a result
    done = _cli(*args, cache=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrn-10-1: resuming from epoch " in done.stderr
    out = json.loads(done.stdout[done.stdout.index("{"):])
    assert out["status"] == "finished" and out["metrics"]["epochs_run"] == 12 and not checkpoint.exists()
    history = json.loads((checkpoint.parent / "result.json").read_text())["history"]["epoch"]
    assert [e["epoch"] for e in history] == list(range(12))  # every epoch once, none lost or repeated


def test_the_package_imports_from_any_directory_after_set_up(tmp_path):
    """`make setup` installs reprolib editable (pyproject's [project] table): it imports from outside the checkout."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "reprolib" and project["tool"]["setuptools"]["packages"]["find"]["include"] == ["reprolib*"]
    assert "pip install -q --no-deps --no-build-isolation -e ." in (ROOT / "Makefile").read_text()
    proc = subprocess.run([sys.executable, "-c", "import reprolib.core.runs, reprolib; print(reprolib.__version__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]
    help_text = _cli("--help", cache=tmp_path, cwd=tmp_path)  # the installed checkout's CLI (this venv's editable install)
    assert help_text.returncode == 0 and "datasets" in help_text.stdout

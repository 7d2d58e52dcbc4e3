"""One run on several processes: torchrun + DistributedDataParallel with the gloo backend on the CPU."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(mode: str, out: Path, cache: Path, nproc: int) -> None:
    env = {**os.environ, "REPROLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    if nproc == 1:
        cmd = [sys.executable, str(WORKER), mode, str(out)]
    else:
        torchrun = Path(sys.executable).parent / "torchrun"
        cmd = [str(torchrun), f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1", f"--master-port={_free_port()}",
               str(WORKER), mode, str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def test_two_processes_give_the_weights_of_one_process_on_the_combined_batch(tmp_path):
    """Each rank trains on half of every global batch of 16; gradients are averaged across ranks, so after
    2 epochs (12 SGD steps with momentum and weight decay) the weights equal a single process's on the
    whole batch up to floating-point summation order (tolerance 1e-5); epoch metrics are reduced over ranks."""
    _launch("fit", tmp_path / "one.pt", tmp_path / "c1", 1)
    _launch("fit", tmp_path / "two.pt", tmp_path / "c2", 2)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert (one["rank0_images_per_epoch"], two["rank0_images_per_epoch"]) == (96, 48)  # the data was sharded
    for k in one["state"]:
        assert torch.allclose(one["state"][k], two["state"][k], atol=1e-5), k
    for a, b in zip(one["epochs"], two["epochs"]):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), key


def test_a_torchrun_run_is_cached_once_by_rank_zero_and_records_the_world_size(tmp_path):
    cache = tmp_path / "cache"
    _launch("run", tmp_path / "first.json", cache, 2)
    first = json.loads((tmp_path / "first.json").read_text())
    assert first["world_size"] == 2 and not first["cached"]
    assert first["mean_over_ranks"] == pytest.approx(first["test_acc"])  # every rank got rank 0's result
    entries = list(cache.glob("supervised/*/manifest.json"))
    assert len(entries) == 1 and not list(cache.rglob("*.tmp"))
    _launch("run", tmp_path / "again.json", cache, 2)
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["cached"] and again["test_acc"] == first["test_acc"]

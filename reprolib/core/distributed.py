"""One run on several processes (``torchrun --nproc-per-node N``) with DistributedDataParallel.

torchrun starts N copies of the same command and sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup` joins the process group (NCCL on CUDA, gloo on CPU) once
per process.  The trainer then

* wraps the model in ``DistributedDataParallel`` (gradients averaged across ranks);
* shards every global batch: rank r trains on its ``1/N`` slice of the same randomly
  ordered batch (every rank draws the same permutation from the same seed), so the
  update equals a single process on the whole global batch, up to floating-point order
  (BatchNorm statistics are per rank, as in any DDP run, unless converted to SyncBatchNorm on CUDA);
* sums losses, correct predictions and counts across ranks before it logs or decides anything;
* lets only rank 0 write the run cache and checkpoints (all ranks read a checkpoint to resume).

Outside torchrun everything here is a no-op: world size 1, rank 0.
"""
from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist


def requested() -> bool:
    """Whether this process was started by torchrun (or another launcher) with a world size > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup() -> None:
    """Join the process group once (no-op when not launched by torchrun)."""
    if requested() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(teardown)
        if backend == "nccl":
            torch.cuda.set_device(local_rank())


def teardown() -> None:
    """Leave the process group (registered at exit by :func:`setup`).  A gloo group left to the interpreter's
    shutdown can abort the process ("terminate called without an active exception", SIGABRT) after its work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def device() -> torch.device:
    """This rank's device: its own GPU under torchrun on CUDA, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank() if active() else torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(*values: float) -> list[float]:
    """Sums of Python numbers across ranks (identity on one process)."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device() if torch.cuda.is_available() else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (identity on one process)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        dist.barrier()


def shard(batch_index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous slice of a global batch's indices (the slices of all ranks cover it exactly)."""
    n = world_size()
    if n == 1:
        return batch_index
    return batch_index.tensor_split(n)[rank()]


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` under torchrun, the model itself otherwise."""
    if not active():
        return model
    if torch.cuda.is_available():
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank()])
    return torch.nn.parallel.DistributedDataParallel(model)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model

"""Run under ``torchrun --nproc-per-node 2`` by tests/core/test_distributed.py (or alone, one process).

Mode ``fit``: train a tiny model (no BatchNorm) for a few steps with the shared trainer on a fixed
set; rank 0 saves the weights and the history.  Mode ``run``: one ``supervised`` run through the run
cache; rank 0 saves what every rank got back.
"""
import json
import sys

import torch

from reprolib.core import data, distributed, runs
from reprolib.core.loader import TensorLoader
from reprolib.core.supervised import TrainConfig
from reprolib.core.train import TrainSpec, fit, seed_everything


def tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16, 3))


def main(mode: str, out: str) -> None:
    distributed.setup()
    torch.set_num_threads(1)
    if mode == "fit":
        train = data.synthetic(n=96, num_classes=3, size=8, seed=0)
        val = data.synthetic(n=30, num_classes=3, size=8, seed=0, split="test")
        seed_everything(0)
        model = tiny_model()
        spec = TrainSpec(epochs=2, batch_size=16, lr=0.1, momentum=0.9, weight_decay=1e-4, seed=0)
        result = fit(model, TensorLoader(train, 16, shuffle=True, seed=3), TensorLoader(val, 7, shuffle=False), spec,
                     device="cpu", keep_best=False, progress=False)
        seen = sum(len(y) for _, y in TensorLoader(train, 16, shuffle=True, seed=3))  # this rank's share of an epoch
        if distributed.is_main():
            torch.save({"state": model.state_dict(), "epochs": result.history["epoch"],
                        "world_size": distributed.world_size(), "rank0_images_per_epoch": seen}, out)
    else:
        cfg = TrainConfig(dataset="digits", train_size=300, epochs=1, batch_size=32, model="wrn-10-1", device="cpu")
        result = runs.run(cfg, progress=False)
        got = distributed.all_reduce_sum(result.metrics["test_acc"])[0] / distributed.world_size()
        if distributed.is_main():
            prov = json.loads((result.path / "provenance.json").read_text())
            json.dump({"test_acc": result.metrics["test_acc"], "mean_over_ranks": got, "world_size": prov["world_size"],
                       "cached": result.cached, "path": str(result.path)}, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

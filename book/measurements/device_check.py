"""Device check (not part of the package): CUDA smoke of the fast path, native-bf16 CPU numerics, compute bench.

Usage: python3 data/devcheck.py [--dry]   (writes JSON files to $OUT)
"""
import json
import os
import subprocess
import sys
import time

DRY = "--dry" in sys.argv
OUT = os.environ.get("OUT", "/tmp/devcheck_out")
os.makedirs(OUT, exist_ok=True)
os.environ.setdefault("REPROLIB_CACHE", "/tmp/devcheck_cache/runs")
os.environ["REPROLIB_DOWNLOAD"] = "0"
os.environ["REPROLIB_DATA"] = os.path.abspath("data")  # data/fashion-mnist/*.gz travels with the tree
sys.path.insert(0, os.getcwd())
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1, default=str)


def main():
    import torch  # noqa: E402

    from reprolib.core import fastpath, registry, runs  # noqa: E402

    registry.discover()
    caps = fastpath.detect("cpu")
    env = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
           "caps": caps.__dict__, "cores": fastpath.usable_cores(), "default_threads": torch.get_num_threads()}
    log("env", env)
    dump("env.json", env)

    # 1. CUDA: the supervised trainer on AMP fp16 (fp32 config) and bf16, and the zero-shot loop, at smoke scale
    from reprolib.core.supervised import TrainConfig  # noqa: E402
    from reprolib.chapters.zskt.zeroshot import ZeroShotConfig  # noqa: E402

    cuda = {}
    if torch.cuda.is_available():
        try:
            base = TrainConfig.from_profile("smoke", dataset="synthetic", device="cuda")
            for prec in ("fp32", "bf16"):
                r = runs.run(base.replace(precision=prec), progress=False)
                cuda[f"supervised {prec}"] = {k: r.metrics[k] for k in ("test_acc", "device", "compute", "train_seconds")}
                log("cuda supervised", prec, cuda[f"supervised {prec}"])
            z = runs.run(ZeroShotConfig.from_profile("smoke", device="cuda"), progress=False)
            cuda["zeroshot"] = {k: z.metrics[k] for k in ("test_acc", "compute", "train_seconds")}
            log("cuda zeroshot", cuda["zeroshot"])
        except Exception as err:  # noqa: BLE001
            import traceback

            cuda["error"] = traceback.format_exc()
            log("CUDA FAILED", cuda["error"])
    dump("cuda.json", cuda)

    # 2. CPU numerics: the pipeline chapter's cpu setting, fp32 vs bf16, n = 2 seeds per learning rate
    from reprolib.core.chapter import Runner  # noqa: E402

    os.environ["REPROLIB_PRECISION"] = "fp32"  # pin: the fp32 runs must stay fp32 on a native-bf16 machine
    train = dict(dataset="fashion_mnist", train_size=10000, epochs=5, batch_size=128, model="wrn-16-1", device="cpu")
    if DRY:
        train.update(train_size=600, epochs=1)
    lrs, seeds = (0.02, 0.1, 0.4), (0, 1)
    numerics = {"setting": train, "native_bf16": caps.native_bf16, "runs": []}
    if caps.native_bf16 or DRY:
        cfgs = [TrainConfig(**train, lr=lr, seed=s, precision=p) for p in ("fp32", "bf16") for lr in lrs for s in seeds]
        t = time.time()
        runner = Runner(parallel=min(12, fastpath.usable_cores()))
        try:
            results = runner.run(cfgs)
        finally:
            runner.close()
        numerics["wall_s"] = time.time() - t
        for c, r in zip(cfgs, results):
            numerics["runs"].append({"precision": c.precision, "lr": c.lr, "seed": c.seed, "test_acc": r.metrics["test_acc"],
                                     "best_val_acc": r.metrics["best_val_acc"], "train_seconds": r.metrics["train_seconds"],
                                     "compute": r.metrics.get("compute")})
        log("numerics", json.dumps(numerics["runs"], default=str)[:3000])
    else:
        log("no native bf16 on this CPU: the numerics check is skipped here")
    dump("numerics.json", numerics)
    os.environ.pop("REPROLIB_PRECISION")

    # 3. resolve on this machine (policy auto) for the pipeline config, and the compute bench
    from reprolib.core import bench  # noqa: E402

    out = {"machine": bench.machine()}
    try:
        out["resolved_precision"] = fastpath.resolve(TrainConfig(**train, lr=0.1)).precision
        log("resolve pipeline cpu config ->", out["resolved_precision"])
    except Exception as err:  # noqa: BLE001
        out["resolve_error"] = repr(err)
    models_ = bench.COMPUTE_MODELS[:2] if DRY else bench.COMPUTE_MODELS
    out["compute"] = bench.compute_table(steps=2 if DRY else 6, rounds=1 if DRY else 2, models_=models_)
    dump("bench.json", out)
    os.environ["REPROLIB_PARALLEL"] = "4"
    out["side_by_side"] = bench.side_by_side(steps=20 if DRY else 300)
    log("side by side", out["side_by_side"])
    dump("bench.json", out)
    log("done")


if __name__ == "__main__":
    main()

"""``python -m reprolib bench``: how fast does this machine train the book's models, and does the input pipeline keep up?

1. **Compute** — every model the chapters train at ``cpu``, train-step throughput
   (images/s, one intra-op thread: what a run uses) on each candidate path this machine
   supports (:mod:`reprolib.core.fastpath`: fp32 NCHW, channels_last, bf16 autocast where
   native), the ratio to fp32 NCHW measured in the same run, and the path the cached
   calibration chose.  Target: the chosen path is never slower than fp32 NCHW.
2. **Side by side** — a chapter-shaped workload: four identical short runs of the ZSKT
   ``cpu`` student (WRN-10-1, 16x16 Fashion-MNIST, batch 64), once one after another on
   fp32 NCHW with torch's default threads, once the way the book runs them (fast path, one
   thread per run, one run per core).  Target on a 2-core AVX2 machine: ≥ 1.8x.
3. **Input pipeline** (a regression check) — a. the same pre-made batch every step (the
   ceiling), b. reprolib's in-memory batches with batch-wise crop+flip, c. a torchvision
   PIL ``DataLoader`` at its best worker count.  Target b/a ≥ 0.95 for the report CNN and
   WRN-16-1 (the pipeline costs at most 5 % over no input work at all).
4. **Frozen-feature caching** — training a head on features computed once vs pushing every
   batch through the frozen backbone: ≥ 10x faster per epoch, same weights.
5. **A chapter build** — wall time and peak memory (RSS of the kernel and its training
   workers together) of ``python -m reprolib chapter <slug> -p profile cpu``, warm or cold
   as the run cache finds it.

``--json`` prints all of it as one JSON object (keys ``machine``, ``compute``,
``side_by_side``, ``pipeline``, ``feature_cache``, ``chapter_build``).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import torch
import torch.nn.functional as F

from . import data as data_mod
from . import fastpath, models, transfer
from .loader import FeatureLoader, TensorLoader, build_augment
from .train import seed_everything

#: (model, input channels, side, batch, where the chapters train it at ``cpu``)
COMPUTE_MODELS = (
    ("wrn-10-1", 1, 16, 64, "ZSKT student"),
    ("wrn-16-2", 1, 16, 128, "ZSKT teacher"),
    ("wrn-16-1", 1, 28, 128, "pipeline"),
    ("report_cnn", 1, 28, 128, "VC A2 CNN"),
    ("resnet18", 3, 32, 128, "VC A2 source (ResNet-18)"),
    ("alexnet", 3, 64, 128, "VC A2 source (AlexNet)"),
    ("densenet121-g8-small", 3, 32, 64, "DenseNet-style"),
    ("resnet50-w16-small", 3, 32, 64, "bottleneck ResNet"),
)
#: the side-by-side workload: the ZSKT cpu student on 16x16 Fashion-MNIST
STUDENT = ("wrn-10-1", 16, 64)


def _log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def _throughput(model, batches, steps: int, warmup: int = 3) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    it = iter(batches)
    seen, t0 = 0, None
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
            seen = 0
        x, y = next(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    return seen / (time.perf_counter() - t0)


def _forever(loader):
    while True:
        yield from loader


def _pil_loader(workers: int, batch_size: int, root_data: data_mod.ImageData):
    """The usual torchvision recipe: PIL images, per-sample transforms, DataLoader workers."""
    import torchvision.transforms as T
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    transform = T.Compose([T.RandomCrop(28, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(root_data.mean, root_data.std)])
    images = root_data.images[:, 0].numpy()
    labels = root_data.labels.numpy()

    class PILDataset(Dataset):  # what torchvision.datasets.FashionMNIST.__getitem__ does
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return transform(Image.fromarray(images[i], mode="L")), int(labels[i])

    return DataLoader(PILDataset(), batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=workers > 0)


def pipeline_table(steps: int = 40, batch_size: int = 128, repeats: int = 3) -> list[dict]:
    # Training on one fixed batch (way a) drives gradients towards denormal floats, which
    # are very slow on CPUs: flush them so (a) measures compute, not denormal arithmetic.
    torch.set_flush_denormal(True)
    train = data_mod.subsample(data_mod.load("fashion_mnist", "train"), 20000, seed=0)
    rows = []
    for name in ("report_cnn", "wrn-16-1"):
        seed_everything(0)
        model = models.build(name, num_classes=10, in_channels=1)
        fixed = TensorLoader(train, batch_size, seed=0)
        x0, y0 = next(iter(fixed))
        ours = TensorLoader(train, batch_size, augment=build_augment(("crop", "flip"), 4), seed=0)
        a = b = 0.0
        for _ in range(repeats):  # interleaved, best of each: robust to warm-up and noise
            a = max(a, _throughput(model, _forever([(x0, y0)]), steps))
            b = max(b, _throughput(model, _forever(ours), steps))
        best_c, best_w = 0.0, 0
        for workers in (0, 1, 2):
            loader = _pil_loader(workers, batch_size, train)
            c = max(_throughput(model, _forever(loader), steps) for _ in range(2))
            if c > best_c:
                best_c, best_w = c, workers
            del loader
        rows.append({"model": name, "a: same batch": a, "b: reprolib": b, "c: PIL DataLoader": best_c, "best workers (c)": best_w, "b/a": b / a, "b/c": b / best_c})
    return rows


def feature_cache_table(n: int = 2000, epochs: int = 2, batch_size: int = 128, arch: str = "resnet18", size: int = 32) -> dict:
    """Head training per epoch: through the frozen backbone vs on cached features; same weights?"""
    train = data_mod.to_model_input(data_mod.subsample(data_mod.load("fashion_mnist", "train"), n, seed=0), size=size, channels=3)
    seed_everything(0)
    full = models.build(arch, num_classes=10, in_channels=3)
    backbone, head = transfer.split_head(full)
    import copy

    head_a, head_b = copy.deepcopy(head), copy.deepcopy(head)

    def train_head(head, loader, forward):
        opt = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9)
        per_epoch = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            for x, y in loader:
                loss = F.cross_entropy(head(forward(x)), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            per_epoch.append(time.perf_counter() - t0)
        return min(per_epoch)

    frozen = transfer.FrozenModule(backbone)
    through = TensorLoader(train, batch_size, seed=1)
    t_backbone = train_head(head_a, through, lambda x: frozen(x).flatten(1))
    t0 = time.perf_counter()
    feats, labels = transfer.extract_features(backbone, TensorLoader(train, 256, shuffle=False))
    t_extract = time.perf_counter() - t0
    cached = FeatureLoader(feats, labels, batch_size, seed=1)
    t_cached = train_head(head_b, cached, lambda x: x)
    max_diff = max((pa - pb).abs().max().item() for pa, pb in zip(head_a.parameters(), head_b.parameters()))
    return {
        "backbone": arch,
        "images": n,
        "epoch through frozen backbone (s)": t_backbone,
        "one-off feature extraction (s)": t_extract,
        "epoch on cached features (s)": t_cached,
        "speed-up per epoch": t_backbone / t_cached,
        "max |Δ head weight|": max_diff,
    }


# ---------------------------------------------------------------------------- compute
def chapter_models(profile: str = "cpu") -> tuple:
    """Every (model, channels, size, batch, where) a chapter trains end to end at ``profile``, read from the chapters'
    plans (so a new chapter's networks are benchmarked without editing this file), after :data:`COMPUTE_MODELS`
    (the ZSKT networks, whose zero-shot runs describe no single training workload)."""
    from . import registry, sweep

    seen = {(m[0], m[1], m[2], m[3]) for m in COMPUTE_MODELS}
    found, asked = [], set()
    for slug in sorted(registry.discover()):
        for cfg in sweep.chapter_configs(slug, profile):
            if not hasattr(cfg, "calibration_workload") or getattr(cfg, "freeze", "none") != "none":
                continue
            probe = (cfg.model, getattr(cfg, "dataset", ""), getattr(cfg, "image_size", 0), getattr(cfg, "batch_size", 0))
            if probe in asked:
                continue
            asked.add(probe)
            workload = cfg.calibration_workload()
            if workload is None:
                continue
            batch, channels, size = workload[1][0], workload[1][1], workload[1][2]
            if (cfg.model, channels, size, batch) not in seen:
                seen.add((cfg.model, channels, size, batch))
                found.append((cfg.model, channels, size, batch, f"{slug} ({cfg.dataset})"))
    return COMPUTE_MODELS + tuple(found)


def compute_table(steps: int = 3, rounds: int = 4, models_: tuple | None = None) -> list[dict]:
    """Throughput of every candidate path per model (one thread), ratio to fp32 NCHW, and the calibrated choice."""
    caps = fastpath.detect("cpu")
    paths = fastpath.candidates(caps)
    rows = []
    with fastpath.threads(1):
        for name, channels, size, batch, where in models_ or chapter_models():
            seed_everything(0)
            in_ch = models.input_channels(name, channels)
            model = models.build(name, num_classes=10, in_channels=in_ch)
            shape = (batch, in_ch, size, size)
            best = {p.name: float("inf") for p in paths}
            for _ in range(rounds):  # interleaved, best of each
                for p in paths:
                    best[p.name] = min(best[p.name], fastpath.time_train_steps(model, p, shape, 10, steps=steps))
            before = fastpath.chosen_path(model, shape, 10, caps)  # what a run on this machine used (cached calibration)
            recalibrated = fastpath.recalibrate(model, shape, 10, best, caps)  # this longer measurement wins where they differ
            chosen = fastpath.chosen_path(model, shape, 10, caps)  # what a run uses from now on
            base = best[fastpath.FP32_NCHW.name]
            for p in paths:
                rows.append({"model": name, "input": f"{in_ch}x{size}x{size}", "batch": batch, "where": where,
                             "path": p.name, "img_per_s": batch / best[p.name], "ratio": base / best[p.name],
                             "chosen": p == chosen, "recalibrated_from": before.name if recalibrated else ""})
            _log(f"  {name}: " + ", ".join(f"{p.name} {batch / best[p.name]:,.0f} img/s" for p in paths) + f"; chosen {chosen.name}"
                 + (f" (re-calibrated: the cached calibration chose {before.name})" if recalibrated else ""))
    return rows


# ---------------------------------------------------------------------------- side by side
def _student_data(n: int = 4096) -> data_mod.ImageData:
    name, size, _ = STUDENT
    return data_mod.to_model_input(data_mod.subsample(data_mod.load("fashion_mnist", "train"), n, seed=0), size=size)


def student_run(data: data_mod.ImageData, steps: int, fast: bool) -> float:
    """One short run of the ZSKT cpu student (SGD, the teacher recipe): seconds.

    ``fast``: one thread and the calibrated path (how the book trains it); else fp32 NCHW
    with torch's default threads (how a plain PyTorch loop trains it).
    """
    name, _, batch = STUDENT
    with fastpath.threads(1) if fast else contextlib.nullcontext():
        seed_everything(0)
        model = models.build(name, num_classes=data.num_classes, in_channels=data.channels)
        loader = TensorLoader(data, batch, shuffle=True, seed=0)
        path = fastpath.training_path(model, (batch, *data.images.shape[1:]), data.num_classes) if fast else fastpath.FP32_NCHW
        path.prepare(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        t0, step = time.perf_counter(), 0
        while step < steps:
            for x, y in loader:
                with path.autocast():
                    loss = F.cross_entropy(model(path.format_input(x)), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if step == steps:
                    break
        return time.perf_counter() - t0


_BARRIER = None


def _worker_init(barrier=None) -> None:
    global _BARRIER
    torch.set_num_threads(1)
    _BARRIER = barrier


def _worker_ready(_=None) -> int:
    """Wait until every worker of the pool has started (one such task per worker): its process id."""
    _BARRIER.wait(timeout=300)
    return os.getpid()


def side_by_side(runs: int = 4, steps: int = 300) -> dict:
    """Four identical student runs: one after another (fp32 NCHW, default threads) vs side by side (fast path, one thread each)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    data = _student_data()
    workers = fastpath.parallel_runs()
    with fastpath.threads(1):  # calibrate once (as a run does: one thread), outside the timing
        fastpath.training_path(models.build(STUDENT[0], data.num_classes, data.channels),
                           (STUDENT[2], *data.images.shape[1:]), data.num_classes)  # calibrate once, outside the timing
    student_run(data, 10, fast=False)  # warm-up
    t0 = time.perf_counter()
    for _ in range(runs):
        student_run(data, steps, fast=False)
    sequential = time.perf_counter() - t0
    # A chapter starts its pool once and keeps it for all of its runs (minutes to an hour of training), so the
    # start-up (spawning, importing torch) is timed apart: ``ratio`` is what the runs see once the pool is up,
    # ``ratio_with_startup`` charges the whole start-up to these four short runs.
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(ctx.Barrier(workers),)) as pool:
        pids = set(pool.map(_worker_ready, range(workers)))
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        list(pool.map(student_run, [data] * runs, [steps] * runs, [True] * runs))
        parallel = time.perf_counter() - t1
    return {"model": STUDENT[0], "input": f"1x{STUDENT[1]}x{STUDENT[1]}", "batch": STUDENT[2], "runs": runs, "steps": steps,
            "workers": workers, "workers_started": len(pids), "sequential_threads": torch.get_num_threads(),
            "sequential_s": sequential, "parallel_s": parallel, "ratio": sequential / parallel,
            "startup_s": startup, "ratio_with_startup": sequential / (startup + parallel)}


# ---------------------------------------------------------------------------- a chapter build
def chapter_build(slug: str = "pipeline", profile: str = "cpu") -> dict:
    """Wall time and peak RSS (kernel and workers summed, sampled) of one chapter execution; warm if its runs are cached."""
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    import psutil  # installed with ipykernel

    from .runs import cache_dir

    def finished() -> set:
        return set(cache_dir().glob("*/*/manifest.json"))

    before = finished()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "reprolib", "chapter", slug, "-p", "profile", profile, "-o", str(Path(tmp) / "out.ipynb"), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
        root, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                tree = [root] + root.children(recursive=True)
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak = max(peak, total)
            time.sleep(0.25)
        seconds = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    trained = len(finished() - before)
    return {"chapter": slug, "profile": profile, "seconds": seconds, "peak_rss_mb": peak / 2**20, "trained_runs": trained,
            "warm": trained == 0, "ok": proc.returncode == 0, "error": err.strip().splitlines()[-1] if proc.returncode else ""}


# ---------------------------------------------------------------------------- main
def machine() -> dict:
    caps = fastpath.detect("cpu")
    return {"cpu": caps.cpu, "cpu_capability": caps.cpu_capability, "native_bf16": caps.native_bf16,
            "cores": fastpath.usable_cores(), "torch": torch.__version__, "default_threads": torch.get_num_threads()}


def _fmt(v):
    return f"{v:,.2f}" if isinstance(v, float) and abs(v) < 10 else f"{v:,.0f}" if isinstance(v, float) else str(v)


def main(quick: bool = False, as_json: bool = False, chapter: str | None = "pipeline") -> int:
    import json

    import pandas as pd

    pd.set_option("display.width", 200)
    out = {"machine": machine()}
    say = _log if as_json else print
    m = out["machine"]
    say(f"{m['cpu']} ({m['cpu_capability']}, native bf16: {'yes' if m['native_bf16'] else 'no'}), {m['cores']} usable cores, "
        f"torch {m['torch']}\n")

    say("1. Compute: train-step throughput per path (one thread, as a run trains), ratio to fp32 NCHW in the same run")
    out["compute"] = compute_table(steps=2 if quick else 3, rounds=2 if quick else 4)
    table = pd.DataFrame(out["compute"])
    table["chosen"] = table["chosen"].map({True: "<- chosen", False: ""})
    say(table.to_string(index=False, formatters={"img_per_s": "{:,.0f}".format, "ratio": "{:.2f}x".format}))
    chosen = [r for r in out["compute"] if r["chosen"]]
    worst = min(r["ratio"] for r in chosen)
    say(f"\ntarget: the chosen path is never slower than fp32 NCHW: {'met' if worst >= 1 - fastpath.MARGIN else 'NOT met'} "
        f"(lowest chosen/fp32 ratio {worst:.2f}x; the calibration needs a {fastpath.MARGIN:.0%} gain to leave fp32 NCHW)\n")

    say("2. Side by side: four identical short runs of the ZSKT cpu student")
    sbs = out["side_by_side"] = side_by_side(steps=100 if quick else 300)
    say(f"  one after another, fp32 NCHW, {sbs['sequential_threads']} threads: {sbs['sequential_s']:.1f} s; "
        f"side by side ({sbs['workers']} at a time, fast path, 1 thread each): {sbs['parallel_s']:.1f} s -> {sbs['ratio']:.2f}x "
        f"(target >= 1.8x on a 2-core AVX2 machine: {'met' if sbs['ratio'] >= 1.8 else 'NOT met'}); the pool's start-up, "
        f"paid once per chapter execution: {sbs['startup_s']:.1f} s ({sbs['ratio_with_startup']:.2f}x if these four runs "
        f"paid it alone)\n")

    steps = 15 if quick else 40
    say(f"3. Input pipeline (regression check; batch 128, 28x28x1 Fashion-MNIST, {steps} timed steps, torch's default threads)")
    out["pipeline"] = pipeline_table(steps=steps)
    table = pd.DataFrame(out["pipeline"])
    say(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}" if v < 10 else f"{v:,.0f}"))
    ok_a = (table["b/a"] >= 0.95).all()
    say(f"\ntarget b/a >= 0.95 for both: {'met' if ok_a else 'NOT met'}\n")

    cache = out["feature_cache"] = feature_cache_table(epochs=2 if quick else 3)
    say("4. Frozen-feature caching (head training)")
    for k, v in cache.items():
        say(f"  {k:<36} {v:.4g}" if isinstance(v, float) else f"  {k:<36} {v}")
    ok_f = cache["speed-up per epoch"] >= 10 and cache["max |Δ head weight|"] < 1e-4
    say(f"\ntarget >= 10x per epoch with the same result: {'met' if ok_f else 'NOT met'}\n")

    if chapter:
        say(f"5. A chapter build: python -m reprolib chapter {chapter} -p profile cpu")
        b = out["chapter_build"] = chapter_build(chapter)
        state = "warm (every run read from the cache)" if b["warm"] else f"cold ({b['trained_runs']} runs trained)"
        say(f"  {state}: {b['seconds']:.1f} s, peak RSS {b['peak_rss_mb']:,.0f} MB (kernel and training workers together)"
            + ("" if b["ok"] else f"; FAILED: {b['error']}"))
    if as_json:
        print(json.dumps(out, indent=1, default=str))
    return 0

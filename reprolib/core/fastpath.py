"""The compute fast path: how a run trains on *this* machine, chosen by measurement and recorded.

Which numeric precision and memory format train a model fastest depends on the CPU and
on the model: bf16 autocast is a large win where oneDNN has native bf16 (AVX-512-BF16,
AMX) and about 14x slower where it is emulated (AVX2); ``channels_last`` helps most
convolutional networks on a CPU but not every combination.  So nothing is assumed:

* :func:`detect` reads what PyTorch reports (``torch.backends.cpu.get_cpu_capability()``,
  ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``, CUDA);
* :func:`candidates` lists the paths the hardware supports, fp32 NCHW always among them
  (bf16 only with native bf16);
* :func:`calibrate` times a few train steps of each candidate on the run's own model and
  input shape, once per machine (CPU, capability, torch, threads) and workload, and caches
  the timings in ``<run cache>/fastpath/calibration.json`` (under a file lock, so parallel
  runs agree on one choice);
* :func:`choose` takes the fastest candidate only if it beats fp32 NCHW by
  :data:`MARGIN`; otherwise (slower, unsupported, or within noise) fp32 NCHW.

On CUDA the path is AMP (fp16 autocast with gradient scaling; bf16 autocast for a bf16
run) with ``channels_last``, as before; loops that do not autocast (the zero-shot loop)
train in fp32 with ``channels_last``.

What is keyed and what is recorded (README, "Compute and numerics"):

* **precision** changes results systematically, so it is a config field
  (:class:`ComputeOptions`, ``option(..., added=True)``): fp32 and bf16 runs have different
  cache keys, and every earlier fp32 key is unchanged.  A run is bf16 when its config says
  so, or — opt-in, ``REPROLIB_PRECISION=auto`` — when :func:`resolve` finds its model faster
  in bf16 on a CPU with native bf16;
* **threads**: on a CPU every run trains with ``config.threads`` intra-op threads (default
  1) whatever the process that runs it (notebook, CLI, a side-by-side worker), so a
  config gives the same result on any core count; a non-default count is keyed;
  parallelism comes from running runs side by side (:func:`parallel_runs`);
* **memory format** changes results only at rounding level (like another CPU model): it
  is chosen once per machine and model by the cached calibration and recorded with the
  run (``metrics["compute"]``, ``provenance.json``), not keyed.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .config import Config, option
from .io import atomic_write_json

__all__ = [
    "PRECISIONS", "MEMORY_FORMATS", "MARGIN", "ThreadOptions", "ComputeOptions", "ComputePath", "FP32_NCHW", "Capabilities",
    "detect", "candidates", "calibrate", "choose", "training_path", "chosen_path", "resolve", "run_scope", "current_record",
    "parallel_runs", "usable_cores", "calibration_file", "time_train_steps", "cpu_model",
]

PRECISIONS = ("fp32", "bf16")
MEMORY_FORMATS = ("nchw", "channels_last")
#: a candidate must be at least this much faster than fp32 NCHW to be chosen (timing noise)
MARGIN = 0.03


# ============================================================================ config fields
@dataclasses.dataclass(frozen=True)
class ThreadOptions(Config):
    """The intra-op thread count of a run: results depend on it, so a value other than 1 is keyed."""

    threads: int = option(1, low=1, added=True,
                          help="intra-op CPU threads of the run (results depend on it, so a value other than 1 is keyed)")


@dataclasses.dataclass(frozen=True)
class ComputeOptions(ThreadOptions):
    """Settings that change a run's numerics: keyed when not at their default (earlier keys unchanged)."""

    precision: str = option("fp32", choices=PRECISIONS, added=True,
                            help="training precision: fp32, or bf16 autocast (chosen automatically only where the CPU has native bf16)")


# ============================================================================ paths
@dataclasses.dataclass(frozen=True)
class ComputePath:
    """One way to run a train step: precision × memory format (on a device)."""

    precision: str = "fp32"
    memory_format: str = "nchw"
    device: str = "cpu"

    @property
    def name(self) -> str:
        fmt = "NCHW" if self.memory_format == "nchw" else "channels_last"
        if self.device == "cuda":
            return f"AMP {self.precision} + {fmt}" if self.precision != "fp32" else f"fp32 {fmt} (CUDA)"
        return f"{self.precision} {fmt}" if self.precision == "fp32" else f"{self.precision} autocast {fmt}"

    @property
    def autocast_dtype(self):
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def grad_scaling(self) -> bool:
        """fp16 autocast needs gradient scaling; bf16 and fp32 do not."""
        return self.precision == "fp16"

    def autocast(self):
        """The autocast context of a train step on this path (a no-op for fp32 on a CPU)."""
        import torch

        dtype = self.autocast_dtype
        return torch.autocast(self.device, dtype=dtype, enabled=dtype is not None)

    def prepare(self, model):
        """The model in this path's memory format (in place; returned for chaining)."""
        import torch

        if self.memory_format == "channels_last":
            return model.to(memory_format=torch.channels_last)
        return model

    def format_input(self, x):
        import torch

        if self.memory_format == "channels_last" and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def record(self) -> dict:
        return {"device": self.device, "precision": self.precision, "memory_format": self.memory_format, "path": self.name}


FP32_NCHW = ComputePath()


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What the hardware offers, as PyTorch reports it."""

    device: str = "cpu"  # "cpu" | "cuda"
    cpu_capability: str = "DEFAULT"  # e.g. "AVX2", "AVX512"
    native_bf16: bool = False  # oneDNN bf16 without emulation (AVX-512-BF16 / AMX)
    cpu: str = ""  # the CPU model (part of the calibration's machine key)

    @property
    def machine(self) -> str:
        import torch

        return f"{self.cpu}|{self.cpu_capability}|bf16={self.native_bf16}|{self.device}|torch {torch.__version__}"


def detect(device: str = "cpu") -> Capabilities:
    """The capabilities of ``device`` ("cpu" or "cuda") from PyTorch's own reports."""
    import torch

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = "DEFAULT"
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    cpu = cpu_model()
    if device == "cuda":
        cpu = f"{cpu}; {torch.cuda.get_device_name(0)}"
    return Capabilities(device=device, cpu_capability=capability, native_bf16=native, cpu=cpu)


def candidates(caps: Capabilities, precision: str | None = None, image_input: bool = True,
               cuda_amp: bool = True) -> list[ComputePath]:
    """Paths the hardware supports, fp32 NCHW first; ``precision`` restricts them to one precision.

    On a CPU: fp32 NCHW, fp32 channels_last, and — only with native bf16 — bf16 autocast
    NCHW / channels_last.  On CUDA: one path, channels_last with AMP — fp16 autocast and
    gradient scaling for an fp32 run (as the trainer always did on a GPU), bf16 autocast for
    a bf16 run — or plain fp32 for a loop that does not autocast (``cuda_amp=False``).
    Memory formats only matter for image (4-D) inputs.
    """
    if caps.device == "cuda":
        amp = {"fp32": "fp16", "bf16": "bf16"}[precision or "fp32"] if cuda_amp else "fp32"
        return [ComputePath(amp, "channels_last" if image_input else "nchw", "cuda")]
    precisions = ["fp32"] + (["bf16"] if caps.native_bf16 else [])
    if precision is not None:
        if precision == "bf16" and not caps.native_bf16:
            return [ComputePath("bf16", "nchw")]  # asked for explicitly: emulated, never timed against others
        precisions = [precision]
    formats = MEMORY_FORMATS if image_input else ("nchw",)
    return [ComputePath(p, f) for p in precisions for f in formats]


def choose(timings: dict[str, float], paths: Sequence[ComputePath], margin: float = MARGIN) -> ComputePath:
    """The fastest path by seconds per step, if it beats the baseline (fp32 NCHW, else the first path) by ``margin``.

    A path with no timing (unsupported, or it failed: ``None``) is never chosen; without a
    timing of the baseline nothing else is either.
    """
    base = next((p for p in paths if p == FP32_NCHW), paths[0])
    usable = {n: t for n, t in timings.items() if isinstance(t, (int, float)) and t == t and t != float("inf")}
    if base.name not in usable:
        return base
    timed = [(usable[p.name], p) for p in paths if p.name in usable]
    best_t, best = min(timed, key=lambda tp: tp[0])
    return best if best_t <= usable[base.name] * (1 - margin) else base


# ============================================================================ calibration
def calibration_file() -> Path:
    """``<run cache>/fastpath/calibration.json`` (the run cache's folder, as :func:`reprolib.core.runs.cache_dir`):
    the calibration travels with the runs whose paths it chose."""
    return Path(os.environ.get("REPROLIB_CACHE") or ".cache/runs").expanduser().resolve() / "fastpath" / "calibration.json"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform module says."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _read_calibrations(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def time_train_steps(model, path: ComputePath, input_shape: Sequence[int], num_classes: int,
                     steps: int = 4, warmup: int = 1, device=None) -> float:
    """Seconds per SGD train step (forward, cross-entropy, backward, update) of a copy of ``model`` on ``path``.

    Synthetic inputs from a private generator; the global RNG is restored afterwards, so
    calibrating never changes the run that follows.
    """
    import torch
    import torch.nn.functional as F

    device = torch.device(device or path.device)
    with torch.random.fork_rng(devices=[]):
        m = path.prepare(copy.deepcopy(model).to(device)).train()
        params = [p for p in m.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
        gen = torch.Generator().manual_seed(0)
        x = path.format_input(torch.randn(*input_shape, generator=gen).to(device))
        y = torch.randint(0, num_classes, (input_shape[0],), generator=gen).to(device)
        t0 = 0.0
        for i in range(warmup + steps):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            with path.autocast():
                out = m(x)
                out = out.logits if hasattr(out, "logits") else out
                loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / steps


def calibrate(workload: str, make_model: Callable[[], Any], input_shape: Sequence[int], num_classes: int,
              caps: Capabilities | None = None, *, rounds: int = 6, steps: int = 2,
              timer: Callable[..., float] | None = None) -> dict[str, float]:
    """Seconds per train step of every candidate path for ``workload``, measured once per machine and cached.

    ``workload`` names the model and input (:func:`workload_name`, e.g. ``"WideResNet-78042|1x28x28|b128|c10"``).  The
    cache key adds the machine (:attr:`Capabilities.machine`) and the thread count.  A
    second call, here or in another process, reads the cached timings; the file lock
    makes concurrent callers measure once and agree.  Many short rounds are interleaved
    (path A, path B, A, B, …) and the best of each path kept: load from other processes
    only ever adds time, so the minimum over rounds is the estimate least biased by it.
    """
    from filelock import FileLock

    caps = caps or detect()
    image_input = len(input_shape) == 4
    paths = candidates(caps, image_input=image_input)
    key = _calibration_key(caps, workload)
    path = calibration_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        cached = _read_calibrations(path).get(key)
        if cached and all(p.name in cached["seconds_per_step"] for p in paths):
            return dict(cached["seconds_per_step"])
        timer = timer or time_train_steps
        model = make_model()
        timings: dict[str, float | None] = {p.name: float("inf") for p in paths}
        for _ in range(rounds):
            for p in paths:
                if timings[p.name] is None:
                    continue
                try:
                    timings[p.name] = min(timings[p.name], timer(model, p, input_shape, num_classes, steps=steps))
                except (RuntimeError, NotImplementedError, ValueError):  # an op this path does not support here: never chosen
                    timings[p.name] = None
        _store_calibration(path, key, timings, "calibration")
        return dict(timings)


def _calibration_key(caps: Capabilities, workload: str) -> str:
    import torch

    return f"{caps.machine}|threads={torch.get_num_threads()}|{workload}"


def _store_calibration(path: Path, key: str, timings: dict, source: str) -> None:
    data = _read_calibrations(path)
    data[key] = {"seconds_per_step": timings, "measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "by": source}
    atomic_write_json(path, data)


def recalibrate(model, input_shape: Sequence[int], num_classes: int, timings: dict[str, float],
                caps: Capabilities | None = None) -> bool:
    """Replace the cached calibration of this workload with ``timings`` (seconds per step of every candidate path,
    measured at the current thread count) when they choose a different path; True when they did.

    The calibration is a few steps taken once, possibly while other runs shared the cores; the
    benchmark (``python -m reprolib bench``, run on an idle machine) measures the same paths
    longer, so where the two disagree its measurement wins and later runs follow it.
    """
    from filelock import FileLock

    caps = caps or detect()
    image_input = len(input_shape) == 4
    precision = None if precision_policy() == "auto" else "fp32"  # as chosen_path decides
    if choose(timings, candidates(caps, precision, image_input)) == chosen_path(model, input_shape, num_classes, caps):
        return False
    path = calibration_file()
    with FileLock(str(path) + ".lock"):
        _store_calibration(path, _calibration_key(caps, workload_name(model, input_shape, num_classes)),
                           {p.name: timings.get(p.name) for p in candidates(caps, image_input=image_input)}, "bench")
    return True


def workload_name(model, input_shape: Sequence[int], num_classes: int) -> str:
    """What a calibration is keyed by: the model's class and size, the batch shape and the classes."""
    size = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__}-{size}|{'x'.join(map(str, input_shape[1:]))}|b{input_shape[0]}|c{num_classes}"


def training_path(model, input_shape: Sequence[int], num_classes: int, *, precision: str = "fp32", device=None,
                  caps: Capabilities | None = None, cuda_amp: bool = True) -> ComputePath:
    """The path a run of ``model`` on batches of ``input_shape`` trains on, restricted to ``precision``.

    Calibrates on first use (cached); registers the path with the current :func:`run_scope`
    so it is recorded with the run.  ``cuda_amp=False``: a training loop without autocast.
    """
    import torch

    device = torch.device(device) if device is not None else next(model.parameters()).device
    caps = caps or detect(device.type)
    image_input = len(input_shape) == 4
    paths = candidates(caps, precision, image_input, cuda_amp)
    if len(paths) == 1:
        chosen = paths[0]
    else:
        timings = calibrate(workload_name(model, input_shape, num_classes), lambda: model, input_shape, num_classes, caps)
        chosen = choose(timings, paths)
    _note(chosen)
    return chosen


# ============================================================================ precision of a config
def precision_policy() -> str:
    """``REPROLIB_PRECISION``: ``fp32`` (default: a run trains in the precision its config names) or ``auto``
    (a default-precision run switches to bf16 where the CPU has native bf16 and the calibration finds it faster).

    fp32 is the default because bf16 is not yet shown to give the same results at the
    book's scale (README, "Compute and numerics": 1.25 points lower on average, n = 6,
    neither a difference nor equivalence within ±0.5 points established).
    """
    policy = (os.environ.get("REPROLIB_PRECISION") or "fp32").strip().lower()
    if policy not in ("auto", "fp32"):
        from .config import ConfigError

        raise ConfigError(f"REPROLIB_PRECISION={policy!r}: choose 'auto' or 'fp32'")
    return policy


def resolve(config, caps: Capabilities | None = None):
    """``config`` with its precision decided for this machine (the run cache calls this before keying).

    Only with ``REPROLIB_PRECISION=auto``, and only a config at the default
    ``precision="fp32"`` that can describe its workload (``calibration_workload()``), is
    switched — to bf16, when the CPU has native bf16 and the calibration finds bf16 faster
    for that model; its key then differs from the fp32 run's.  Everywhere else (the default
    policy, no native bf16 as on AVX2, CUDA, an explicit precision) it is returned unchanged
    at no cost.
    """
    if getattr(config, "precision", None) != "fp32" or not hasattr(config, "calibration_workload"):
        return config
    if precision_policy() == "fp32":
        return config
    if getattr(config, "device", "auto") == "cuda":
        return config
    caps = caps or detect("cpu")
    if not caps.native_bf16:
        return config
    import torch

    if getattr(config, "device", "auto") == "auto" and torch.cuda.is_available():
        return config
    workload = config.calibration_workload()
    if workload is None:
        return config
    make_model, input_shape, num_classes = workload
    model = make_model()
    with threads(getattr(config, "threads", 1)):
        timings = calibrate(workload_name(model, input_shape, num_classes), lambda: model, input_shape, num_classes, caps)
    best = choose(timings, candidates(caps, image_input=len(input_shape) == 4))
    return config.replace(precision="bf16") if best.precision == "bf16" else config


def chosen_path(model, input_shape: Sequence[int], num_classes: int, caps: Capabilities | None = None) -> ComputePath:
    """The path a default-precision run of ``model`` trains on here: bf16 only under ``REPROLIB_PRECISION=auto``."""
    caps = caps or detect("cpu")
    timings = calibrate(workload_name(model, input_shape, num_classes), lambda: model, input_shape, num_classes, caps)
    precision = None if precision_policy() == "auto" else "fp32"
    return choose(timings, candidates(caps, precision, len(input_shape) == 4))


# ============================================================================ threads and the run scope
@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block, restored after."""
    import torch

    before = torch.get_num_threads()
    if n and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


_SCOPES: list[dict] = []


@contextlib.contextmanager
def run_scope(config) -> Iterator[dict]:
    """The compute of one run: its thread count is set for the whole run; the paths it trains on are collected.

    Yields the record stored with the run (``metrics["compute"]``): threads, CPU capability,
    native bf16, and the precision / memory format of each model it trained.
    """
    n = int(getattr(config, "threads", 1) or 1)
    caps = detect("cpu")
    scope = {"threads": n, "cpu_capability": caps.cpu_capability, "native_bf16": caps.native_bf16,
             "precision": getattr(config, "precision", "fp32"), "paths": []}
    _SCOPES.append(scope)
    try:
        with threads(n):
            yield scope
    finally:
        _SCOPES.remove(scope)


def _note(path: ComputePath) -> None:
    if _SCOPES and path.record() not in _SCOPES[-1]["paths"]:
        _SCOPES[-1]["paths"].append(path.record())


def current_record(scope: dict) -> dict:
    """The scope as stored: the first path's precision and memory format at top level (what most runs have)."""
    out = {k: v for k, v in scope.items() if k != "paths"}
    if scope["paths"]:
        first = scope["paths"][0]
        out.update(device=first["device"], precision=first["precision"], memory_format=first["memory_format"],
                   path=first["path"])
        if len(scope["paths"]) > 1:
            out["paths"] = scope["paths"]
    return out


# ============================================================================ side by side
def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS/Windows
        return os.cpu_count() or 1


def parallel_runs(threads_per_run: int = 1) -> int:
    """How many runs train side by side: ``REPROLIB_PARALLEL`` if set, else 1 on CUDA, else cores // threads.

    Results do not depend on it (each run has its own fixed thread count), only the wall time.
    """
    env = os.environ.get("REPROLIB_PARALLEL", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            from .config import ConfigError

            raise ConfigError(f"REPROLIB_PARALLEL={env!r}: expected an integer >= 1") from None
        if n < 1:
            from .config import ConfigError

            raise ConfigError(f"REPROLIB_PARALLEL={env!r}: expected an integer >= 1")
        return n
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, usable_cores() // max(1, threads_per_run))

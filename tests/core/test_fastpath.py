"""The compute fast path: detection from PyTorch's reports, choice by measurement with an fp32 fallback,
cached calibration, precision in the cache key, one thread per run recorded with it (no timed tests:
timings are mocked)."""
import json

import pytest
import torch

from reprolib.core import fastpath, models, runs
from reprolib.core.fastpath import FP32_NCHW, Capabilities, ComputePath
from reprolib.core.supervised import TrainConfig

AVX2 = Capabilities(device="cpu", cpu_capability="AVX2", native_bf16=False, cpu="test CPU")
AVX512_BF16 = Capabilities(device="cpu", cpu_capability="AVX512", native_bf16=True, cpu="test CPU")
CL = ComputePath("fp32", "channels_last")
BF16 = ComputePath("bf16", "nchw")
BF16_CL = ComputePath("bf16", "channels_last")


# ---------------------------------------------------------------------------- detection
@pytest.mark.parametrize("native", [True, False])
def test_detect_reads_what_pytorch_reports(monkeypatch, native):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512" if native else "AVX2")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native)
    caps = fastpath.detect()
    assert caps.native_bf16 is native and caps.cpu_capability == ("AVX512" if native else "AVX2")
    names = [p.name for p in fastpath.candidates(caps)]
    assert names[0] == FP32_NCHW.name  # fp32 NCHW always, and first
    assert any("bf16" in n for n in names) is native  # bf16 only where it is native


def test_candidates_per_hardware():
    assert fastpath.candidates(AVX2) == [FP32_NCHW, CL]
    assert fastpath.candidates(AVX512_BF16) == [FP32_NCHW, CL, BF16, BF16_CL]
    assert fastpath.candidates(AVX512_BF16, precision="bf16") == [BF16, BF16_CL]
    assert fastpath.candidates(AVX2, image_input=False) == [FP32_NCHW]  # memory formats only matter for images
    cuda = fastpath.candidates(Capabilities(device="cuda"))
    assert cuda == [ComputePath("fp16", "channels_last", "cuda")] and cuda[0].grad_scaling  # AMP fp16 + channels_last
    assert not fastpath.candidates(Capabilities(device="cuda"), "bf16")[0].grad_scaling
    assert fastpath.candidates(Capabilities(device="cuda"), cuda_amp=False) == [ComputePath("fp32", "channels_last", "cuda")]


# ---------------------------------------------------------------------------- choice
def test_choose_takes_the_fastest_when_it_beats_fp32():
    paths = fastpath.candidates(AVX512_BF16)
    timings = {FP32_NCHW.name: 1.0, CL.name: 0.8, BF16.name: 0.5, BF16_CL.name: 0.42}
    assert fastpath.choose(timings, paths) == BF16_CL


def test_choose_falls_back_to_fp32_when_candidates_are_slower():
    paths = fastpath.candidates(AVX512_BF16)
    timings = {FP32_NCHW.name: 1.0, CL.name: 1.3, BF16.name: 14.0, BF16_CL.name: 3.0}
    assert fastpath.choose(timings, paths) == FP32_NCHW


def test_choose_ignores_a_gain_within_the_noise_margin():
    timings = {FP32_NCHW.name: 1.0, CL.name: 1.0 - fastpath.MARGIN / 2}
    assert fastpath.choose(timings, [FP32_NCHW, CL]) == FP32_NCHW


def test_choose_never_takes_an_unsupported_or_untimed_path():
    paths = fastpath.candidates(AVX512_BF16)
    assert fastpath.choose({FP32_NCHW.name: 1.0, CL.name: None, BF16.name: 0.9}, paths) == BF16
    assert fastpath.choose({FP32_NCHW.name: 1.0, CL.name: None}, paths) == FP32_NCHW
    assert fastpath.choose({CL.name: 0.1}, paths) == FP32_NCHW  # no baseline timing: nothing is proven faster


# ---------------------------------------------------------------------------- calibration
def _fake_timer(table, calls):
    def timer(model, path, input_shape, num_classes, steps):
        calls.append(path.name)
        if table[path.name] is None:
            raise RuntimeError("unsupported here")
        return table[path.name]
    return timer


def test_calibration_is_cached_per_machine_and_workload():
    calls = []
    timer = _fake_timer({FP32_NCHW.name: 1.0, CL.name: 0.7}, calls)
    args = ("wrn-10-1|1x16x16|b64|c10", lambda: models.build("wrn-10-1", 10, 1), (64, 1, 16, 16), 10, AVX2)
    first = fastpath.calibrate(*args, timer=timer, rounds=2)
    assert first == {FP32_NCHW.name: 1.0, CL.name: 0.7} and calls == [FP32_NCHW.name, CL.name] * 2  # interleaved rounds
    calls.clear()
    assert fastpath.calibrate(*args, timer=timer) == first and calls == []  # read back, not re-timed
    stored = json.loads(fastpath.calibration_file().read_text())
    assert len(stored) == 1 and "AVX2" in next(iter(stored)) and "threads=" in next(iter(stored))
    fastpath.calibrate("another|1x16x16|b64|c10", *args[1:], timer=timer)  # another workload is measured
    assert calls
    calls.clear()
    fastpath.calibrate(*args[:4], AVX512_BF16, timer=_fake_timer({p.name: 1.0 for p in fastpath.candidates(AVX512_BF16)}, calls),
                       rounds=2)
    assert len(calls) == 8  # another machine (native bf16: four candidates) is measured too


def test_an_unsupported_candidate_is_recorded_and_never_chosen():
    calls = []
    timer = _fake_timer({FP32_NCHW.name: 1.0, CL.name: None, BF16.name: 0.5, BF16_CL.name: 0.4}, calls)
    timings = fastpath.calibrate("m", lambda: torch.nn.Linear(2, 2), (4, 1, 2, 2), 2, AVX512_BF16, timer=timer)
    assert timings[CL.name] is None and calls.count(CL.name) == 1
    assert fastpath.choose(timings, fastpath.candidates(AVX512_BF16)) == BF16_CL


def test_calibration_measures_real_steps_and_leaves_the_rng_alone():
    torch.manual_seed(0)
    model = models.build("wrn-10-1", num_classes=10, in_channels=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    timings = fastpath.calibrate("wrn-10-1|1x8x8|b8|c10", lambda: model, (8, 1, 8, 8), 10, AVX2, rounds=1, steps=1)
    assert set(timings) == {FP32_NCHW.name, CL.name} and all(t > 0 for t in timings.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # timed on a copy
    state = torch.get_rng_state()
    fastpath.calibrate("wrn-10-1|1x8x8|b4|c10", lambda: model, (4, 1, 8, 8), 10, AVX2, rounds=1, steps=1)
    assert torch.equal(state, torch.get_rng_state())  # calibrating never shifts the run's random stream


def test_training_path_uses_the_calibration_and_is_recorded(monkeypatch):
    monkeypatch.setattr(fastpath, "detect", lambda device="cpu": AVX2)
    monkeypatch.setattr(fastpath, "time_train_steps", _fake_timer({FP32_NCHW.name: 1.0, CL.name: 0.5}, []))
    model = models.build("wrn-10-1", num_classes=10, in_channels=1)
    with fastpath.run_scope(TrainConfig()) as scope:
        path = fastpath.training_path(model, (16, 1, 8, 8), 10)
    assert path == CL
    assert fastpath.current_record(scope)["memory_format"] == "channels_last"
    monkeypatch.setattr(fastpath, "time_train_steps", _fake_timer({FP32_NCHW.name: 1.0, CL.name: 2.0}, []))
    assert fastpath.training_path(model, (16, 1, 4, 4), 10) == FP32_NCHW


def test_a_longer_measurement_that_disagrees_replaces_the_calibration(monkeypatch):
    """The bench re-calibrates: a calibration taken under load chose fp32 NCHW, the idle bench finds channels_last
    faster, and later runs follow the bench; where the two agree nothing is rewritten."""
    monkeypatch.setattr(fastpath, "detect", lambda device="cpu": AVX2)
    monkeypatch.setattr(fastpath, "time_train_steps", _fake_timer({FP32_NCHW.name: 1.0, CL.name: 1.1}, []))
    model = models.build("wrn-10-1", num_classes=10, in_channels=1)
    shape = (16, 1, 8, 8)
    assert fastpath.training_path(model, shape, 10) == FP32_NCHW  # the (loaded) calibration
    before = fastpath.calibration_file().read_text()
    assert not fastpath.recalibrate(model, shape, 10, {FP32_NCHW.name: 1.0, CL.name: 0.99}, AVX2)  # within the margin: agrees
    assert fastpath.calibration_file().read_text() == before
    assert fastpath.recalibrate(model, shape, 10, {FP32_NCHW.name: 1.0, CL.name: 0.75}, AVX2)
    assert fastpath.training_path(model, shape, 10) == CL
    stored = next(iter(json.loads(fastpath.calibration_file().read_text()).values()))
    assert stored["by"] == "bench" and stored["seconds_per_step"] == {FP32_NCHW.name: 1.0, CL.name: 0.75}
    assert not fastpath.recalibrate(model, shape, 10, {FP32_NCHW.name: 1.0, CL.name: 0.75}, AVX2)  # now they agree


# ---------------------------------------------------------------------------- precision and keys
def test_fp32_and_bf16_runs_have_different_keys_and_fp32_keeps_its_key():
    fp32, bf16 = TrainConfig(), TrainConfig(precision="bf16")
    assert fp32.key() != bf16.key()
    assert "precision" not in fp32.key_dict() and "threads" not in fp32.key_dict()  # earlier keys unchanged
    assert TrainConfig(threads=2).key() not in (fp32.key(), bf16.key())  # a thread count that changes results is keyed


def test_an_entry_written_before_the_compute_fields_still_matches():
    cfg = TrainConfig()
    old = {k: v for k, v in json.loads(json.dumps(cfg.to_dict(), default=str)).items() if k not in ("precision", "threads")}
    assert cfg.matches_stored(old)
    assert not TrainConfig(precision="bf16").matches_stored(old)
    assert not TrainConfig(lr=0.5).matches_stored(old)


def test_resolve_keeps_fp32_without_native_bf16(monkeypatch):
    def no_calibration(*a, **k):
        raise AssertionError("no calibration is needed without native bf16")

    monkeypatch.setattr(fastpath, "calibrate", no_calibration)
    monkeypatch.setenv("REPROLIB_PRECISION", "auto")
    cfg = TrainConfig(dataset="digits", model="wrn-10-1")
    assert fastpath.resolve(cfg, AVX2) is cfg


@pytest.mark.parametrize("bf16_seconds, expected", [(0.4, "bf16"), (14.0, "fp32")])
def test_resolve_picks_bf16_only_where_it_is_native_and_faster(monkeypatch, bf16_seconds, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("REPROLIB_PRECISION", "auto")
    timings = {FP32_NCHW.name: 1.0, CL.name: 0.9, BF16.name: bf16_seconds, BF16_CL.name: bf16_seconds}
    monkeypatch.setattr(fastpath, "time_train_steps", _fake_timer(timings, []))
    cfg = TrainConfig(dataset="digits", model="wrn-10-1", batch_size=32)
    resolved = fastpath.resolve(cfg, AVX512_BF16)
    assert resolved.precision == expected
    assert (resolved.key() != cfg.key()) == (expected == "bf16")  # fp32 and bf16 results never share an entry
    model = models.build("wrn-10-1", 10, 1)
    assert fastpath.chosen_path(model, (32, 1, 8, 8), 10, AVX512_BF16).precision == expected
    monkeypatch.setenv("REPROLIB_PRECISION", "fp32")
    assert fastpath.resolve(cfg, AVX512_BF16) is cfg  # the default policy keeps fp32
    assert fastpath.chosen_path(model, (32, 1, 8, 8), 10, AVX512_BF16).precision == "fp32"
    monkeypatch.setenv("REPROLIB_PRECISION", "half")
    with pytest.raises(Exception, match="REPROLIB_PRECISION"):
        fastpath.resolve(cfg, AVX512_BF16)


def test_explicit_bf16_without_native_support_is_honoured_not_timed():
    assert fastpath.candidates(AVX2, precision="bf16") == [BF16]


# ---------------------------------------------------------------------------- threads
def test_a_run_trains_with_its_own_thread_count_and_records_it():
    from reprolib.core import registry
    from reprolib.core.fastpath import ThreadOptions
    import dataclasses

    seen = []

    @dataclasses.dataclass(frozen=True)
    class ThreadProbe(ThreadOptions):
        EXPERIMENT = "thread_probe"
        x: int = 0

    @registry.experiment(ThreadProbe)
    def _probe(cfg, ctx):
        seen.append(torch.get_num_threads())
        return {"metrics": {"x": cfg.x}}

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        r = runs.run(ThreadProbe(x=1), progress=False)
        assert seen == [1] and torch.get_num_threads() == 2  # one thread inside the run, restored after
        assert r.metrics["compute"]["threads"] == 1
        assert json.loads((r.path / "provenance.json").read_text())["threads"] == 1
        runs.run(ThreadProbe(x=2, threads=2), progress=False)
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)
        registry.EXPERIMENTS.pop("thread_probe", None)


def test_parallel_runs(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(fastpath, "usable_cores", lambda: 8)
    assert fastpath.parallel_runs() == 8 and fastpath.parallel_runs(threads_per_run=2) == 4
    monkeypatch.setenv("REPROLIB_PARALLEL", "3")
    assert fastpath.parallel_runs() == 3
    monkeypatch.setenv("REPROLIB_PARALLEL", "0")
    with pytest.raises(Exception, match="REPROLIB_PARALLEL"):
        fastpath.parallel_runs()


def test_the_calibration_lives_in_the_run_cache(monkeypatch, tmp_path):
    for value in (str(tmp_path / "elsewhere"), ""):
        monkeypatch.setenv("REPROLIB_CACHE", value)
        assert fastpath.calibration_file() == runs.cache_dir() / "fastpath" / "calibration.json"


def test_the_same_config_gives_the_same_metrics_whatever_the_callers_thread_count(tmp_path, monkeypatch):
    """A run trains with its own (keyed) thread count, so the machine's or the caller's never changes its numbers."""
    from reprolib.core.supervised import TrainConfig

    cfg = TrainConfig(dataset="digits", model="wrn-10-1", epochs=2, train_size=400, batch_size=32, lr=0.05)
    before, results = torch.get_num_threads(), []
    try:
        for n, cache in ((1, "a"), (2, "b")):
            monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / cache))  # two caches: each run really trains
            torch.set_num_threads(n)
            results.append(runs.run(cfg, progress=False))
    finally:
        torch.set_num_threads(before)
    one, two = results
    assert not one.cached and not two.cached
    for metric in ("test_acc", "test_loss", "best_val_acc", "final_val_acc"):
        assert one.metrics[metric] == two.metrics[metric], metric  # bit for bit, not approximately
    def numbers(history):  # every recorded value but the wall-clock ones
        return {k: [{f: v for f, v in row.items() if "seconds" not in f} for row in rows] for k, rows in history.items()}

    assert numbers(one.history) == numbers(two.history)
    assert one.metrics["compute"]["threads"] == two.metrics["compute"]["threads"] == 1

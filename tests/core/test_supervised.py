import subprocess
import sys

import pytest
import torch

from reprolib.core import data, models, runs, transfer
from reprolib.core.supervised import TrainConfig, load_trained, prepare_data
from reprolib.core.loader import FeatureLoader, TensorLoader
from reprolib.core.train import TrainSpec, evaluate, fit, seed_everything

SMALL = dict(dataset="synthetic", train_size=0, epochs=2, batch_size=32, model="wrn-10-1")


@pytest.fixture(autouse=True)
def small_synthetic(monkeypatch):
    """The synthetic dataset at a test-friendly size (the registry entry takes n as a kwarg)."""
    from reprolib.core import data as d
    from reprolib.core import registry

    info = registry.DATASETS["synthetic"]
    monkeypatch.setitem(registry.DATASETS, "synthetic", info.__class__(info.name, info.description, info.how_to_get,
                        lambda split="train": d.synthetic(n=300, num_classes=4, size=12, split=split), info.probe, True))


def test_supervised_run_is_cached_and_reloadable():
    cfg = TrainConfig.from_profile("smoke", **SMALL)
    first = runs.run(cfg, progress=False)
    assert 0 <= first.metrics["test_acc"] <= 1 and first.metrics["n_train"] + first.metrics["n_val"] == 300
    assert len(first.history["epoch"]) == 2
    again = runs.run(cfg, progress=False)
    assert again.cached and again.metrics == first.metrics
    model = load_trained(again)
    _, _, test = prepare_data(cfg)
    assert evaluate(model, TensorLoader(test, 100, shuffle=False))[1] == pytest.approx(first.metrics["test_acc"])


def test_cached_features_train_the_same_head_as_the_frozen_backbone():
    train = data.to_model_input(data.synthetic(n=64, num_classes=4, size=16), channels=3)
    seed_everything(0)
    model = models.build("resnet18", num_classes=4)
    backbone, head = transfer.split_head(model)
    spec = TrainSpec(epochs=2, lr=0.05, batch_size=16)
    slow = transfer.frozen_backbone_model(model)
    fit(slow, TensorLoader(train, 16, seed=1), None, spec, progress=False, keep_best=False)
    feats, labels = transfer.extract_features(backbone, TensorLoader(train, 64, shuffle=False))
    seed_everything(0)
    model2 = models.build("resnet18", num_classes=4)
    _, head2 = transfer.split_head(model2)
    fit(head2, FeatureLoader(feats, labels, 16, seed=1), None, spec, progress=False, keep_best=False)
    assert torch.allclose(slow[1].weight, head2.weight, atol=1e-5)
    # the frozen part stayed frozen and in eval mode
    assert not any(p.requires_grad for p in slow[0].parameters()) and not slow[0].module.training


def test_offline_source_model_pretrains_on_the_other_classes():
    cfg = TrainConfig.from_profile("smoke", **{**SMALL, "model": "wrn-10-1"}, classes=(0, 1), weights="source", freeze="all_but_head", source_epochs=1)
    assert cfg.source_config().classes == (2, 3)  # the patched synthetic set has 4 classes
    assert transfer.source_task_classes((2, 4)) == (0, 1, 3, 5, 6, 7, 8, 9)
    with pytest.raises(ValueError, match="target classes"):
        transfer.source_task_classes(range(9))


def test_cli_run_and_errors(tmp_path):
    env = {"REPROLIB_CACHE": str(tmp_path), "REPROLIB_DOWNLOAD": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "reprolib", "run", "supervised", "--profile", "smoke", "--set", "dataset=digits",
                          "--set", "epochs=1", "--set", "model=wrn-10-1", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"cached": false' in out.stdout and '"test_acc"' in out.stdout
    again = subprocess.run([sys.executable, "-m", "reprolib", "run", "supervised", "--profile", "smoke", "--set", "dataset=digits",
                            "--set", "epochs=1", "--set", "model=wrn-10-1", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert '"cached": true' in again.stdout
    bad = subprocess.run([sys.executable, "-m", "reprolib", "run", "supervised", "--profile", "smoke", "--set", "epochs=zero"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "epochs='zero': expected int" in bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "reprolib", "run", "nonsense"], capture_output=True, text=True, env=env, timeout=120)
    assert unknown.returncode == 2 and "unknown experiment 'nonsense'" in unknown.stderr
    ds = subprocess.run([sys.executable, "-m", "reprolib", "datasets"], capture_output=True, text=True, env=env, timeout=120)
    assert ds.returncode == 0 and "fashion_mnist" in ds.stdout and "cifar10" in ds.stdout
    helptext = subprocess.run([sys.executable, "-m", "reprolib", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert all(c in helptext.stdout for c in ("run", "datasets", "book", "bench"))


def test_cached_features_train_alexnets_whole_classifier_like_the_frozen_convolutions():
    """freeze='features': AlexNet's convolutions are fixed, so the classifier (with its dropout) trains the same
    on features computed once as on the frozen network run every step."""
    train = data.to_model_input(data.synthetic(n=48, num_classes=3, size=64, channels=3), channels=3)
    spec = TrainSpec(epochs=2, lr=0.01, batch_size=16)
    seed_everything(0)
    model = transfer.freeze(models.build("alexnet-w4", num_classes=3), "features")
    slow = transfer.frozen_backbone_model(model, "features")
    assert isinstance(slow[1], torch.nn.Sequential) and len(slow[1]) == 7  # the whole classifier trains
    seed_everything(1)
    fit(slow, TensorLoader(train, 16, seed=1), None, spec, progress=False, keep_best=False)
    seed_everything(0)
    model2 = transfer.freeze(models.build("alexnet-w4", num_classes=3), "features")
    backbone, top = transfer.split_head(model2, "features")
    feats, labels = transfer.extract_features(backbone, TensorLoader(train, 48, shuffle=False))
    assert feats.shape == (48, 16 * 36)
    seed_everything(1)
    fit(top, FeatureLoader(feats, labels, 16, seed=1), None, spec, progress=False, keep_best=False)
    for a, b in zip(slow[1].parameters(), top.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert transfer.can_cache_features("alexnet-w4", "features", ()) and not transfer.can_cache_features("alexnet-w4", "features", ("flip",))
    assert not transfer.can_cache_features("alexnet-w4", "classifier", ())


def test_eval_train_records_the_training_split_in_eval_mode():
    cfg = TrainConfig.from_profile("smoke", **SMALL, eval_train=True)
    assert cfg.key() != TrainConfig.from_profile("smoke", **SMALL).key()
    assert "eval_train" not in TrainConfig.from_profile("smoke", **SMALL).key_dict()  # earlier runs keep their keys
    r = runs.run(cfg, progress=False)
    last = r.history["epoch"][-1]
    train, _, _ = prepare_data(cfg)
    loss, acc = evaluate(load_trained(r), TensorLoader(train, 100, shuffle=False))
    if r.metrics["best_epoch"] == len(r.history["epoch"]) - 1:  # the saved model is the last epoch's
        assert last["train_eval_acc"] == pytest.approx(acc) and last["train_eval_loss"] == pytest.approx(loss, rel=1e-4)
    assert 0 <= last["train_eval_acc"] <= 1


# ----------------------------------------------------------------------------- hardening
def test_lr_1e6_is_stored_as_diverged_never_a_result(monkeypatch):
    """The issue's reproduction: lr=1e6 gave a finite ~1e17 loss and BN running variances of inf, stored as finished."""
    from reprolib.core import report, supervised
    from reprolib.core.chapter import Runner

    cfg = TrainConfig.from_profile("smoke", **SMALL, lr=1e6)
    runner = Runner()
    first = runner.one(cfg)
    assert first.diverged and "training diverged" in first.reason
    assert first.history["epoch"] and not (first.path / "model.pt").exists()
    monkeypatch.setattr(supervised, "fit", lambda *a, **k: pytest.fail("a diverged run was retrained"))
    again = runs.run(cfg, progress=False)
    assert again.cached and again.diverged
    with pytest.raises(runs.NoResult, match="diverged, so it has no 'test_acc'"):
        again.metrics["test_acc"]
    assert all(v != v for v in report.values([again], "best_val_acc"))  # NaN: left out of every mean and test
    assert report.summarize([again], "test_acc") == "diverged (1 of 1 runs)"
    table = runner.cost_table()
    assert list(table["status"]) == ["diverged"] and runner.section_table()["diverged"].tolist() == [1]


@pytest.mark.parametrize("over, match", [
    ({"train_size": 64, "dataset": "fashion_mnist"}, r"train_size=64: .* at least the 10 classes; use train_size >= 100"),
    ({"train_size": 100, "batch_size": 128}, r"train_size=100 leaves 90 training images, fewer than batch_size=128"),
    ({"model": "wrn-11-1"}, r"wrn-11-1.*6n\+4"),
    ({"classes": [11], "dataset": "fashion_mnist"}, r"classes=\(11,\): fashion_mnist has 10 classes, so each must be in 0\.\.9"),
    ({"classes": [3, 11], "dataset": "fashion_mnist"}, r"fashion_mnist has 10 classes, so each must be in 0\.\.9"),
    ({"classes": [3, 3]}, r"each class may appear once"),
    ({"classes": [4]}, r"at least 2 classes"),
    ({"classes": "cat,dog"}, r"classes\[0\]='cat': expected int"),
    ({"lr": float("inf")}, r"lr=inf: expected a finite number"),
    ({"lr": float("nan")}, r"expected a finite number"),
    ({"seed": 2**32}, r"seed=4294967296 is out of range: must be <= 4294967295"),
    ({"data_seed": 2**40}, r"data_seed=.* must be <= 4294967295"),
    ({"seed": -1}, r"seed=-1 is out of range: must be >= 0"),
    ({"image_size": 1}, r"image_size=1: 0 \(native\) or at least 8 pixels"),
    ({"image_size": 32, "model": "alexnet"}, r"alexnet needs at least 63 pixels"),
    ({"device": "tpu"}, r"device='tpu' is not allowed"),
])
def test_config_values_that_cannot_describe_a_run_are_rejected_with_the_key(over, match):
    from reprolib.core.config import ConfigError

    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_profile("smoke", **over)


def test_classes_from_a_command_line_string_are_parsed():
    assert TrainConfig.from_profile("smoke", classes="3,5").classes == (3, 5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_device_cuda_without_a_gpu_fails_before_any_data_is_loaded(monkeypatch):
    from reprolib.core.config import ConfigError

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data loaded before the device was checked"))
    with pytest.raises(ConfigError, match="device='cuda': no CUDA GPU is available here"):
        runs.run(TrainConfig.from_profile("smoke", **SMALL, device="cuda"), progress=False)


def test_the_cost_estimate_is_measured_and_scales_with_the_work():
    cfg = TrainConfig.from_profile("smoke", **SMALL)
    one = cfg.estimate_seconds()
    assert one > 0 and cfg.replace(epochs=4).estimate_seconds() == pytest.approx(2 * one)
    assert TrainConfig.from_profile("smoke", dataset="cifar10").estimate_seconds() is None  # its data is not here


def test_cli_warns_once_about_profile_full_without_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {"REPROLIB_CACHE": str(tmp_path), "REPROLIB_DOWNLOAD": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "reprolib", "run", "supervised", "--profile", "full", "--set", "dataset=digits",
                          "--set", "epochs=1", "--set", "model=wrn-10-1", "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("warning: profile 'full'") == 1 and "this machine has none" in out.stderr
    assert "1 of 1 runs are not in the run cache. Estimated training time of 1 of them on this machine: about" in out.stderr

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

"""The ``eurosat_hw2`` run: data pools, the rotation source task, long tail, test curves, reload."""
import pytest
import torch

from reprolib.chapters.eurosat.experiment import load_network, prepare, rotations
from reprolib.core import data, runs
from reprolib.core.config import ConfigError
from reprolib.core.train import predict
from reprolib.core.loader import evaluation_batches

from .conftest import tiny


def _rows(d) -> set:
    return {bytes(img.numpy().tobytes()) for img in d.images}


def test_rotations_label_each_quarter_turn():
    d = data.synthetic(n=12, num_classes=3, size=6)
    r = rotations(d)
    assert len(r) == 48 and r.classes == ("0°", "90°", "180°", "270°")
    for k in range(4):
        assert torch.equal(r.images[r.labels == k], torch.rot90(d.images, k, dims=(2, 3)))


def test_the_source_task_never_sees_target_or_test_images():
    target = tiny(weights="rotation", source_train_size=200)
    source = target.source_run()
    assert source.task == "rotation" and source.seed == 0 and source.variant == "plain" and not source.track_test
    s_train, s_val, s_test = prepare(source)
    t_train, t_val, t_test = prepare(target)
    unrotated = s_train.images[s_train.labels == 0]  # the 0° copies are the source pool's own images
    from reprolib.core.data import ImageData
    src = _rows(ImageData(unrotated, torch.zeros(len(unrotated)), ("x",), (0.5,), (0.5,)))
    assert not src & (_rows(t_train) | _rows(t_val))  # disjoint pools of the training split
    full_test = data.to_model_input(data.load("synthetic", "test"), size=8)
    assert not src & _rows(full_test)  # no test image
    assert torch.equal(s_test.images, s_val.images)  # the source task's "test" is its own validation split
    assert target.upstream() == [source]
    with pytest.raises(ConfigError, match="source_fraction"):
        tiny(weights="rotation", source_fraction=0.0)


def test_long_tail_subset_counts_follow_the_exponential_profile():
    # Cao et al.'s CIFAR-10-LT at IF 100: n_i = int(5000 * 0.01 ** (i / 9)), 12,406 images
    assert data.long_tail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    cfg = tiny(imbalance_factor=10.0, lt_n_max=30)
    train, val, test = prepare(cfg)
    assert train.counts().tolist() == [int(30 * 0.1 ** (i / 9)) for i in range(10)] == [30, 23, 17, 13, 10, 8, 6, 5, 3, 3]
    assert val.counts().min() == val.counts().max() == 4  # the validation split stays balanced
    assert len(test) == 200 and test.counts().min() == test.counts().max()


def test_a_run_records_test_curves_and_reloads(one_thread):
    r = runs.run(tiny(epochs=2, variant="model_b"), progress=False)
    epochs = r.history["epoch"]
    assert len(epochs) == 2 and all("test_acc" in e and "test_loss" in e for e in epochs)
    assert r.metrics["max_test_acc"] == max(e["test_acc"] for e in epochs)
    assert len(r.metrics["per_class_test_acc"]) == 10
    net = load_network(r)
    logits, labels = predict(net, evaluation_batches(prepare(r.config)[2]))
    assert abs((logits.argmax(1) == labels).float().mean().item() - r.metrics["test_acc"]) < 1e-6


def test_fine_tuning_from_the_rotation_source(one_thread):
    cfg = tiny(weights="rotation", source_epochs=1, source_train_size=200, model="resnet50-w4-small")
    r = runs.run(cfg, progress=False)
    source = runs.lookup(cfg.source_run())
    assert source is not None and source.metrics["classes"] == ["0°", "90°", "180°", "270°"]
    assert r.metrics["classes"] == [f"class {i}" for i in range(10)]

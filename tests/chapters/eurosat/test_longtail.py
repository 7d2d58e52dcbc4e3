"""Task C's decoupled heads: cached features, τ-norm, shot groups, and heads that never run the backbone."""
import numpy as np
import pytest

from reprolib.chapters.eurosat import longtail
from reprolib.core import runs


def test_tau_normalisation_against_hand_computed_logits():
    w = np.array([[3.0, 4.0], [0.0, 1.0]])  # row norms 5 and 1
    x = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(longtail.tau_normalised_logits(x, w, 0.0), [[7.0, 1.0]])  # plain dot products, no bias
    np.testing.assert_allclose(longtail.tau_normalised_logits(x, w, 1.0), [[7.0 / 5, 1.0]])  # unit-norm rows
    np.testing.assert_allclose(longtail.tau_normalised_logits(x, w, 0.5), [[7.0 / 5 ** 0.5, 1.0]])
    # the big-norm (head) class wins at τ = 0 and loses at τ = 1 for this point: τ picks it on validation
    val_x, val_y = np.array([[0.1, 1.0]]), np.array([1])
    tau, accs = longtail.choose_tau(val_x, val_y, w, (0.0, 1.0, 2.0))
    assert accs == [0.0, 1.0, 1.0] and tau == 1.0  # the smallest τ among the best


def test_shot_groups_are_size_ranks():
    groups = longtail.shot_groups([5, 50, 500, 7, 70, 700, 1, 10, 100, 1000])
    assert groups == {"many": [9, 5, 2], "medium": [8, 4, 1, 7], "few": [3, 0, 6]}
    with pytest.raises(ValueError, match="add up"):
        longtail.shot_groups([1, 2, 3], (1, 1, 2))
    m = longtail.head_metrics(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3, {"many": [0], "medium": [1], "few": [2]})
    assert m["acc"] == 0.75 and m["per_class"] == [1.0, 1.0, 0.5] and m["few_acc"] == 0.5


def test_heads_train_on_cached_features_with_no_backbone_forward(lt_heads, monkeypatch):
    backbone, cfg = lt_heads
    feats = longtail.cached_features(backbone)  # computed once (one backbone pass), stored in the run cache
    assert feats["train_x"].shape[0] == sum(backbone.metrics["train_counts"]) and feats["fc_weight"].shape[0] == 10

    def no_backbone(*a, **k):
        raise AssertionError("the backbone ran again")

    monkeypatch.setattr(longtail, "load_network", no_backbone)
    monkeypatch.setattr(longtail.transfer, "extract_features", no_backbone)
    again = longtail.cached_features(backbone)
    assert all(np.array_equal(feats[k], again[k]) for k in feats)
    svm = longtail.svm_head(again["train_x"], again["train_y"], dict(enumerate(cfg.svm_weights)))
    assert svm.predict(again["test_x"]).shape == again["test_y"].shape
    r = runs.run(cfg, progress=False)  # the whole heads run reads the cached features too
    heads = r.metrics["heads"]
    assert set(heads) == {"backbone", "svm_report", "svm_balanced", "tau_norm", "crt"}
    # the backbone's own head on cached features gives exactly the backbone run's test accuracy
    assert abs(heads["backbone"]["acc"] - backbone.metrics["test_acc"]) < 1e-6
    assert r.metrics["tau"] in cfg.tau_grid and len(r.metrics["tau_val_acc"]) == len(cfg.tau_grid)
    assert r.load_array("pred_svm_report").shape == r.load_array("test_labels").shape
    assert cfg.upstream() == [backbone.config]


def test_crt_is_a_fresh_linear_head_trained_class_balanced():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 4)) * 4
    y = np.repeat(np.arange(3), [300, 30, 5])
    x = (centres[y] + rng.normal(size=(len(y), 4))).astype(np.float32)
    head = longtail.crt_head(x, y, 3, epochs=5, lr=0.2, batch_size=64)
    test_y = np.repeat(np.arange(3), 50)
    test_x = (centres[test_y] + rng.normal(size=(150, 4))).astype(np.float32)
    import torch

    with torch.no_grad():
        pred = head(torch.from_numpy(test_x)).argmax(1).numpy()
    per_class = [(pred[test_y == c] == c).mean() for c in range(3)]
    assert min(per_class) > 0.8  # the 5-image tail class is learned too


def test_heads_on_a_diverged_backbone_are_stored_as_diverged_and_tables_keep_their_rows(one_thread):
    from reprolib.chapters.eurosat import figures
    from reprolib.chapters.eurosat.longtail import HeadsConfig

    from .conftest import tiny

    backbone = tiny(variant="model_b", imbalance_factor=10.0, lt_n_max=30, sampler="class_balanced", lr=1e6)
    assert runs.run(backbone, progress=False).diverged
    heads = runs.run(HeadsConfig(**backbone.to_dict()), progress=False)
    assert heads.diverged and "its backbone diverged" in heads.reason  # stored, never a result, not retrained
    assert runs.lookup(HeadsConfig(**backbone.to_dict())).diverged
    labelled = [({"imbalance_factor": 10.0, "seed": 0}, heads)]
    assert figures.head_frame(labelled).empty and figures.finished(labelled) == []
    table = figures.runs_table([({"model": "Model_B", "seed": 0}, runs.lookup(backbone))])
    assert table.status.tolist() == ["diverged"] and np.isnan(table.test_acc).all()
    assert "1 of 1 backbones diverged" in figures.diverged_note(labelled, "backbones")

"""Task A's analyses: the t-SNE sample and separation numbers, activation maps."""
import numpy as np
import pytest
import torch

from reprolib.chapters.eurosat import embed
from reprolib.core import runs

from .conftest import tiny


def test_tsne_sample_is_480_distinct_test_images():
    idx = embed.tsne_sample(1000, 480, seed=0)
    assert len(idx) == len(set(idx.tolist())) == 480 and idx.max() < 1000
    assert not np.array_equal(idx, embed.tsne_sample(1000, 480, seed=1))
    with pytest.raises(ValueError, match="at least 480"):
        embed.tsne_sample(300, 480)


def test_separation_numbers_on_known_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    tight = np.eye(4)[labels] * 10 + rng.normal(scale=0.1, size=(120, 4))
    s = embed.separation(tight[:, :2] + tight[:, 2:3], tight, labels, k=5)
    assert s["silhouette_features"] > 0.9 and embed.knn_accuracy(tight, labels, 5) == 1.0
    noise = rng.normal(size=(120, 2))
    assert embed.knn_accuracy(noise, labels, 5) < 0.5  # chance is 0.25


def test_tsne_input_has_480_rows_per_network_stage(one_thread):
    cfg = tiny(model="resnet50-w4-small", weights="rotation", source_train_size=100, test_size=500)
    r = runs.run(cfg, progress=False)
    feats = embed.stage_features(r, 480, seed=0)
    assert set(embed.STAGES) <= set(feats)
    for stage in embed.STAGES:
        assert feats[stage].shape == (480, 8 * 4 * 4)  # 8·width channels ×4 (Bottleneck expansion)
    assert len(feats["labels"]) == 480
    assert not np.allclose(feats["untrained"], feats["fine-tuned"])
    emb = embed.embeddings(r, 480, 0, perplexity=30.0)
    assert emb["fine-tuned"].shape == (480, 2)
    nets = embed.network_stages(r)
    x = torch.randn(3, 1, 8, 8)
    acts = embed.activations(nets["fine-tuned"], x)
    assert acts["conv1"].shape == (3, 4, 8, 8) and acts["layer1"].shape == (3, 16, 8, 8)
    assert acts["layer4"].shape == (3, 128, 1, 1) and acts["avgpool"].shape == (3, 128)
    mine = embed.trained_activations(r, 3)
    assert len(set(mine["labels"].tolist())) == 3 and mine["images"].dtype == np.uint8


def test_activation_images_come_from_different_classes():
    labels = np.repeat(np.arange(10), 5)
    idx = embed.activation_images(labels, 4, seed=0)
    assert len(set(labels[idx].tolist())) == 4


def test_leave_one_out_knn_matches_scikit_learn():
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    points = rng.normal(size=(60, 2)) + labels[:, None] * 0.8
    slow = cross_val_score(KNeighborsClassifier(5), points, labels, cv=LeaveOneOut()).mean()
    assert embed.knn_accuracy(points, labels, 5) == pytest.approx(slow)

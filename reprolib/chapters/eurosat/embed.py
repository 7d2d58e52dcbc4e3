"""Task A's analyses of a trained ResNet-50: t-SNE of its penultimate features and its activation maps.

* **t-SNE** (van der Maaten & Hinton, JMLR 2008; scikit-learn's ``TSNE``, Barnes-Hut, PCA
  initialisation, learning rate "auto") of the fc-layer inputs — the 2048-d (narrow model:
  ``8·width·4``-d) average-pooled features — of 480 random test images, as in the report.
  The report shows the trained network only; :func:`network_stages` also gives the untrained
  (randomly initialised) network and the source model before fine-tuning, and
  :func:`separation` puts a number on how well the classes separate: the leave-one-out
  k-NN accuracy in the 2-D embedding and the silhouette score (Rousseeuw 1987) of the true
  classes, in the embedding and in the feature space itself (t-SNE can exaggerate clusters).
* **Activation maps** (the report's Table 1): the outputs of ``conv1``, ``layer1``-``layer4``
  (module names of torchvision's ResNet) and the average-pooled feature vector, recorded
  with forward hooks (:func:`reprolib.core.transfer.capture_outputs`).

Every array here is derived from cached runs and memoised in the run cache.
"""
from __future__ import annotations

import numpy as np
import torch

from reprolib.core import models, runs, transfer
from reprolib.core.loader import evaluation_batches

from .experiment import ROTATIONS, build_network, load_network, prepare

STAGES = ("untrained", "source model", "fine-tuned")


def tsne_sample(n_test: int, n: int = 480, seed: int = 0) -> np.ndarray:
    """``n`` random test indices (without replacement, sorted), the report's "480 random samples"."""
    if n > n_test:
        raise ValueError(f"t-SNE sample of {n} images needs at least {n} test images, the test split has {n_test}")
    return np.sort(np.random.default_rng(seed).choice(n_test, n, replace=False))


def network_stages(result) -> dict[str, torch.nn.Module]:
    """The fine-tuned network of a Task A run, the same architecture before any training (seeded init), and —
    when it had one — its source model before fine-tuning (rotation source or ImageNet weights)."""
    cfg = result.config
    m = result.metrics
    out = {"untrained": build_network(cfg, len(m["classes"]), m["in_channels"], pretrained=False).eval()}
    if cfg.weights == "rotation":
        source = runs.run(cfg.source_run(), progress=False)
        net = models.build(cfg.model, num_classes=len(ROTATIONS), in_channels=m["in_channels"])
        net.load_state_dict(source.load_state())
        out["source model"] = net.eval()
    elif cfg.weights == "imagenet":
        out["source model"] = models.build(cfg.model, num_classes=len(m["classes"]), in_channels=3, weights="imagenet").eval()
    out["fine-tuned"] = load_network(result)
    return out


def penultimate(net: torch.nn.Module, images) -> np.ndarray:
    """The fc layer's input (global-average-pooled features) for a batch of normalised images."""
    body, _ = transfer.split_head(net)
    x, _ = transfer.extract_features(body, [(images, torch.zeros(len(images)))])
    return x.numpy()


def stage_features(result, n: int = 480, seed: int = 0) -> dict[str, np.ndarray]:
    """Penultimate features of ``n`` random test images for each network stage, plus their labels (memoised)."""

    def compute():
        test = prepare(result.config)[2]
        index = tsne_sample(len(test), n, seed)
        images = test.normalized(torch.as_tensor(index))
        out = {"index": index, "labels": test.labels[index].numpy()}
        for stage, net in network_stages(result).items():
            out[stage] = penultimate(net, images)
        return out

    return runs.memo("eurosat_tsne_features", f"{result.path}|{n}|{seed}", compute)


def preprocess(features: np.ndarray, dims: int = 50) -> np.ndarray:
    """Standardise every feature (so no feature dominates by its scale alone; an untrained deep network's features
    differ in scale by orders of magnitude), then keep the first ``dims`` principal components — the usual input of
    t-SNE (van der Maaten & Hinton 2008 reduce to 50 dimensions with PCA first)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(features.astype(np.float64))
    return PCA(n_components=min(dims, *x.shape), random_state=0).fit_transform(x)


def tsne(features: np.ndarray, perplexity: float = 30.0, seed: int = 0, iterations: int = 1000) -> np.ndarray:
    """2-D t-SNE embedding of :func:`preprocess`-ed features (scikit-learn, Barnes-Hut, PCA initialisation,
    learning rate 'auto')."""
    from sklearn.manifold import TSNE

    if not perplexity < len(features):
        raise ValueError(f"perplexity {perplexity} must be below the number of points ({len(features)})")
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed,
                max_iter=iterations).fit_transform(preprocess(features))


def embeddings(result, n: int, sample_seed: int, perplexity: float, tsne_seed: int = 0,
               iterations: int = 1000) -> dict[str, np.ndarray]:
    """t-SNE of every stage's features on one sample (memoised); keys: the stages, ``labels``, ``index``."""
    feats = stage_features(result, n, sample_seed)
    stages = [s for s in STAGES if s in feats]

    def compute():
        return {s: tsne(feats[s], perplexity, tsne_seed, iterations) for s in stages}

    out = runs.memo("eurosat_tsne", f"{result.path}|{n}|{sample_seed}|{perplexity}|{tsne_seed}|{iterations}", compute)
    return {**out, "labels": feats["labels"], "index": feats["index"]}


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out accuracy of a k-nearest-neighbour vote (Euclidean) among ``points``: each point is classified by
    the majority label of its k nearest *other* points (ties: the smallest label, as scikit-learn's vote)."""
    from sklearn.neighbors import NearestNeighbors

    if len(points) <= k:
        raise ValueError(f"k-NN with k={k} needs more than {k} points, got {len(points)}")
    labels = np.asarray(labels)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    others = np.array([row[row != i][:k] for i, row in enumerate(idx)])  # drop the point itself
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax() for row in others])
    return float((votes == labels).mean())


def separation(embedding: np.ndarray, features: np.ndarray, labels: np.ndarray, k: int = 5) -> dict[str, float]:
    """How well the true classes separate: k-NN accuracy and silhouette in the 2-D embedding, silhouette in the
    (standardised, 50-component) feature space that t-SNE embeds."""
    from sklearn.metrics import silhouette_score

    return {"knn_2d": knn_accuracy(embedding, labels, k), "silhouette_2d": float(silhouette_score(embedding, labels)),
            "silhouette_features": float(silhouette_score(preprocess(features), labels))}


# ---------------------------------------------------------------------------- activation maps
def activation_images(test_labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` test indices of ``n`` different classes (a random image of each of ``n`` random classes)."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.unique(test_labels), n, replace=False)
    return np.array([rng.choice(np.flatnonzero(test_labels == c)) for c in classes])


def activations(net: torch.nn.Module, images: torch.Tensor, layers=("conv1", "layer1", "layer2", "layer3", "layer4"),
                pooled: str = "avgpool") -> dict[str, np.ndarray]:
    """The outputs of ``layers`` (N, C, H, W) and the pooled feature vector (N, C) for a batch of normalised images."""
    net = net.eval()
    with torch.no_grad(), transfer.capture_outputs(net, [*layers, pooled], detach=True) as maps:
        net(images)
    out = {name: maps[name].float().numpy() for name in layers}
    out[pooled] = maps[pooled].flatten(1).float().numpy()
    return out


def trained_activations(result, n: int, seed: int = 0, layers=("conv1", "layer1", "layer2", "layer3", "layer4")) -> dict:
    """Activation maps of the fine-tuned network for ``n`` test images of different classes (memoised).

    Keys: each layer, ``avgpool``, ``images`` (uint8, N×C×H×W), ``labels``, ``predicted``.
    """

    def compute():
        test = prepare(result.config)[2]
        index = activation_images(test.labels.numpy(), n, seed)
        net = load_network(result)
        x = test.normalized(torch.as_tensor(index))
        out = activations(net, x, layers)
        with torch.no_grad():
            out["predicted"] = net(x).argmax(1).numpy()
        out.update(images=test.images[index].numpy(), labels=test.labels[index].numpy())
        return out

    return runs.memo("eurosat_activations", f"{result.path}|{n}|{seed}|{','.join(layers)}", compute)


def evaluation_of(result, split: str = "test"):
    """Deterministic batches of a run's ``"val"`` or ``"test"`` split."""
    train, val, test = prepare(result.config)
    return evaluation_batches({"train": train, "val": val, "test": test}[split])

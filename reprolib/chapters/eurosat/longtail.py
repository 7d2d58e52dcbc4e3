"""Task C of seed report 003: decoupled classifiers on a long-tailed backbone's frozen features.

Following Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition"
(ICLR 2020; github.com/facebookresearch/classifier-balancing), the representation is learned
first (the ``eurosat_hw2`` backbone run, trained with class-balanced oversampling) and the
classifier is re-balanced afterwards on the **frozen** features, computed once per backbone
(:func:`cached_features`, stored in the run cache) so no head ever runs the backbone:

* ``backbone`` — the backbone's own linear head (the report's "backbone only");
* ``svm_report`` — scikit-learn's ``SVC`` (its defaults: RBF kernel, C = 1) with the report's
  class weights {0: 1e-4, 1: 1e-3, 2: 1e-3, 7: 1e-2, others 1} (report §C.2);
* ``svm_balanced`` — the same SVM with inverse-frequency weights n / (C·n_c) (``class_weight="balanced"``);
* ``tau_norm`` — τ-normalisation (``tau_norm.py``): each class row of the backbone's head
  divided by ‖w_c‖^τ, bias dropped, τ chosen on the balanced validation split (never on test);
* ``crt`` — classifier re-training (``cls_crt.yaml``): a re-initialised linear head trained with
  class-balanced sampling, SGD lr 0.2 with cosine decay, batch 512, 10 epochs.

Accuracies are reported overall, per class and for many/medium/few-shot classes.  The
ImageNet-LT thresholds (> 100, 20-100, < 20 training images) mean nothing for 10 classes, so
the groups are ranks: the largest, middle and smallest classes (:func:`shot_groups`).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from reprolib.core import registry, runs, transfer
from reprolib.core.config import ConfigError, option
from reprolib.core.registry import Diverged
from reprolib.core.loader import FeatureLoader, evaluation_batches
from reprolib.core.runs import RunContext
from reprolib.core.train import TrainSpec, default_device, fit, seed_everything

from .experiment import HomeworkConfig, load_network, per_class_accuracy, prepare

HEAD_KEYS = {"backbone": "backbone", "SVM, report weights": "svm_report", "SVM, inverse frequency": "svm_balanced",
             "τ-norm": "tau_norm", "cRT": "crt"}


@dataclasses.dataclass(frozen=True)
class HeadsConfig(HomeworkConfig):
    """Task C's decoupled heads on one backbone run (the backbone's fields + the heads' own)."""

    EXPERIMENT = "eurosat_hw2_heads"

    svm_c: float = option(1.0, low=0.0, help="SVC's C (scikit-learn's default)")
    svm_weights: tuple[float, ...] = option((), low=0.0, help="the report's class weights, by class index")
    tau_grid: tuple[float, ...] = option(tuple(round(0.1 * i, 1) for i in range(21)), low=0.0)
    crt_epochs: int = option(10, low=1)
    crt_lr: float = option(0.2, low=0.0)
    crt_batch_size: int = option(512, low=1)
    shot_groups: tuple[int, ...] = option((3, 4, 3), low=1, added=True,
                                          help="many / medium / few-shot group sizes, by training-set size rank")

    def check(self):
        super().check()
        if not self.tau_grid:
            raise ConfigError("tau_grid must hold at least one τ, e.g. (0.0, 0.5, 1.0)")
        if len(self.shot_groups) != 3:
            raise ConfigError(f"shot_groups={self.shot_groups}: three sizes (many, medium, few), e.g. (3, 4, 3)")

    def backbone(self) -> HomeworkConfig:
        """The backbone run these heads read (every field the two classes share)."""
        return HomeworkConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(HomeworkConfig)})

    def upstream(self) -> list[HomeworkConfig]:
        return [self.backbone()]


# ---------------------------------------------------------------------------- features
def cached_features(backbone_run) -> dict[str, np.ndarray]:
    """The frozen backbone's penultimate features of its (long-tailed) training, validation and test
    splits, and its head's weight and bias — computed once per backbone run, then read from the run cache."""

    def compute() -> dict[str, np.ndarray]:
        device = default_device(backbone_run.config.device)
        net = load_network(backbone_run)
        body, head = transfer.split_head(net)
        out = {"fc_weight": head.weight.detach().numpy(), "fc_bias": head.bias.detach().numpy()}
        for name, split in zip(("train", "val", "test"), prepare(backbone_run.config)):
            x, y = transfer.extract_features(body, evaluation_batches(split, device=device), device)
            out[f"{name}_x"], out[f"{name}_y"] = x.numpy(), y.numpy()
        return out

    return runs.memo("eurosat_features", str(backbone_run.path), compute)


# ---------------------------------------------------------------------------- heads
def tau_normalised_logits(x: np.ndarray, weight: np.ndarray, tau: float) -> np.ndarray:
    """Logits with each class row w_c scaled to w_c / ‖w_c‖^τ and no bias (Kang et al.'s ``tau_norm.py``)."""
    norms = np.linalg.norm(weight, axis=1, keepdims=True)
    return x @ (weight / np.power(norms, tau)).T


def choose_tau(val_x: np.ndarray, val_y: np.ndarray, weight: np.ndarray, grid) -> tuple[float, list[float]]:
    """The τ of ``grid`` with the best validation accuracy (the smallest on ties) and the accuracy of every τ."""
    accs = [float((tau_normalised_logits(val_x, weight, t).argmax(1) == val_y).mean()) for t in grid]
    return float(grid[int(np.argmax(accs))]), accs


def svm_head(train_x: np.ndarray, train_y: np.ndarray, class_weight, c: float = 1.0):
    """scikit-learn's ``SVC`` (RBF kernel, ``gamma="scale"``) with per-class penalties C·w_c."""
    from sklearn.svm import SVC

    return SVC(C=c, kernel="rbf", gamma="scale", class_weight=class_weight).fit(train_x, train_y)


def crt_head(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, epochs: int = 10, lr: float = 0.2,
             batch_size: int = 512, seed: int = 0, progress: bool = False) -> torch.nn.Linear:
    """Classifier re-training: a fresh linear layer on frozen features, class-balanced batches (an epoch =
    n_max · C draws, as Kang et al.'s ClassAwareSampler), SGD momentum 0.9, wd 5e-4, lr cosine to 0."""
    seed_everything(seed)
    head = torch.nn.Linear(train_x.shape[1], num_classes)
    n_max = int(np.bincount(train_y, minlength=num_classes).max())
    loader = FeatureLoader(torch.from_numpy(train_x), torch.from_numpy(train_y).long(), batch_size, seed=seed,
                           sampler="class_balanced", epoch_size=n_max * num_classes)
    spec = TrainSpec(epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9, weight_decay=5e-4, scheduler="cosine", seed=seed)
    fit(head, loader, None, spec, device="cpu", keep_best=False, progress=progress, desc="cRT")
    return head.eval()


def fit_heads(feats: dict[str, np.ndarray], cfg: HeadsConfig, progress: bool = False) -> tuple[dict, dict]:
    """Every head on cached features only: ``({head key: test predictions}, extra numbers)``."""
    tr_x, tr_y, te_x = feats["train_x"], feats["train_y"], feats["test_x"]
    w, b = feats["fc_weight"], feats["fc_bias"]
    num_classes = w.shape[0]
    preds = {"backbone": (te_x @ w.T + b).argmax(1)}
    if cfg.svm_weights:
        if len(cfg.svm_weights) != num_classes:
            raise ConfigError(f"svm_weights has {len(cfg.svm_weights)} values for {num_classes} classes")
        preds["svm_report"] = svm_head(tr_x, tr_y, dict(enumerate(cfg.svm_weights)), cfg.svm_c).predict(te_x)
    preds["svm_balanced"] = svm_head(tr_x, tr_y, "balanced", cfg.svm_c).predict(te_x)
    tau, tau_accs = choose_tau(feats["val_x"], feats["val_y"], w, cfg.tau_grid)
    preds["tau_norm"] = tau_normalised_logits(te_x, w, tau).argmax(1)
    crt = crt_head(tr_x, tr_y, num_classes, cfg.crt_epochs, cfg.crt_lr, cfg.crt_batch_size, cfg.seed, progress)
    with torch.no_grad():
        preds["crt"] = crt(torch.from_numpy(te_x)).argmax(1).numpy()
    return preds, {"tau": tau, "tau_val_acc": tau_accs}


def shot_groups(train_counts, sizes=(3, 4, 3)) -> dict[str, list[int]]:
    """Classes by training-set size rank: the ``sizes[0]`` largest are many-shot, the ``sizes[2]`` smallest few-shot."""
    counts = np.asarray(train_counts)
    if sum(sizes) != len(counts):
        raise ValueError(f"shot group sizes {tuple(sizes)} must add up to the {len(counts)} classes")
    order = [int(c) for c in np.argsort(-counts, kind="stable")]
    a, b = sizes[0], sizes[0] + sizes[1]
    return {"many": order[:a], "medium": order[a:b], "few": order[b:]}


def head_metrics(pred: np.ndarray, labels: np.ndarray, num_classes: int, groups: dict[str, list[int]]) -> dict:
    """Overall accuracy, per-class accuracy and the mean per-class accuracy of each shot group."""
    per_class = per_class_accuracy(pred, labels, num_classes)
    out = {"acc": float((pred == labels).mean()), "per_class": per_class}
    for g, classes in groups.items():
        out[f"{g}_acc"] = float(np.nanmean([per_class[c] for c in classes]))
    return out


@registry.experiment(HeadsConfig)
def decoupled_heads(cfg: HeadsConfig, ctx: RunContext) -> dict:
    backbone = runs.run(cfg.backbone(), progress=ctx.progress)
    if backbone.diverged:  # no features to re-balance: the heads are not a result either
        raise Diverged(f"its backbone diverged ({backbone.reason})")
    t0 = time.perf_counter()
    feats = cached_features(backbone)
    extract = time.perf_counter() - t0
    preds, extra = fit_heads(feats, cfg, ctx.progress)
    labels = feats["test_y"]
    groups = shot_groups(np.bincount(feats["train_y"], minlength=feats["fc_weight"].shape[0]), cfg.shot_groups)
    ctx.save_array("test_labels", labels)
    heads = {}
    for key, pred in preds.items():
        ctx.save_array(f"pred_{key}", pred.astype(np.int64))
        heads[key] = head_metrics(pred, labels, feats["fc_weight"].shape[0], groups)
    return {"metrics": {"heads": heads, "groups": groups, "train_counts": np.bincount(feats["train_y"]).tolist(),
                        "feature_dim": int(feats["train_x"].shape[1]), "extract_seconds": extract,
                        "train_seconds": time.perf_counter() - t0, "backbone_test_acc": backbone.metrics["test_acc"],
                        **extra}}

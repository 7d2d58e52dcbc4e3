"""Tables, figures, explorers and verdicts of the Homework 2 chapter (the notebook only calls these).

Colours are fixed across the chapter: one colour per class (seaborn's ``tab10`` in class order:
t-SNE points, per-class bars), one per Task B model and one per Task C head.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from reprolib.core import data as data_mod
from reprolib.core import models, report, runs
from reprolib.core.loader import AFFINE, TensorLoader, build_augment

from . import embed, model_b
from .experiment import load_network, prepare
from .plan import SECTIONS, Plan
from .reported import REPORTED
from .settings import ACTIVATION_LAYERS, HEADS, TASK_B_MODELS

MODEL_COLORS = dict(zip(TASK_B_MODELS, sns.color_palette("colorblind", 3)))
HEAD_COLORS = dict(zip(HEADS, sns.color_palette("Dark2", len(HEADS))))
KEY_OF_HEAD = {"backbone": "backbone", "SVM, report weights": "svm_report", "SVM, inverse frequency": "svm_balanced",
               "τ-norm": "tau_norm", "cRT": "crt"}
AUGMENT_NAMES = {"crop": "random crop (zero padding {p} px)", "flip": "horizontal flip", "vflip": "vertical flip",
                 "rot90": "random 90° rotation",
                 "affine": (f"random affine (rotation ±{AFFINE['degrees']:g}°, shift ±{AFFINE['translate'][0]:.0%}, "
                            f"scale {AFFINE['scale'][0]:g}-{AFFINE['scale'][1]:g})")}


def class_colors(n: int) -> list:
    """One colour per class, the same in every figure of the chapter."""
    return sns.color_palette("tab10", n) if n <= 10 else sns.color_palette("husl", n)


def class_names(settings) -> tuple[str, ...]:
    return data_mod.load(settings["data.dataset"], "test").classes


def pct(x: float, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f} %"


def history(results) -> pd.DataFrame:
    """Per-epoch curves of labelled runs in long form (epoch 1-based), for seaborn."""
    parts = [report.history_frame([r], "epoch", one_based=True, **lab) for lab, r in results]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def train_all(runner, plan: Plan) -> dict[str, list]:
    """Every run of the chapter, trained (or read back) in one side-by-side call: ``{group: [(labels, result)]}``.

    The tasks share the cores (Task A's source model and fine-tuning run one after the other, beside Task B's
    runs); each group's runs are filed under its own section of the cost tables (:data:`~.plan.SECTIONS`).
    """
    groups = plan.groups()
    results = runner.grouped({k: [cfg for _, cfg in pairs] for k, pairs in groups.items()},
                             section="training (all tasks side by side)", sections=SECTIONS)
    return {k: [(lab, r) for (lab, _), r in zip(groups[k], results[k])] for k in groups}


def finished(results) -> list:
    """The labelled runs that finished (a diverged run is never a result)."""
    return [(lab, r) for lab, r in results if not r.diverged]


def diverged_note(results, what: str) -> str:
    """A sentence naming the diverged runs of ``results`` ("" when none diverged)."""
    bad = [(lab, r) for lab, r in results if r.diverged]
    if not bad:
        return ""
    return (f"**{len(bad)} of {len(results)} {what} diverged** and are left out (never a result): "
            + "; ".join(f"{', '.join(f'{k} {v}' for k, v in lab.items())}: {r.reason}" for lab, r in bad) + ".")


_RUN_METRICS = ("test_acc", "max_test_acc", "best_val_acc", "final_train_acc", "final_test_acc")


def runs_table(results) -> pd.DataFrame:
    """One row per run: labels and the run's headline metrics (NaN, status ``diverged``, for a diverged run)."""
    rows = []
    for lab, r in results:
        m = r.metrics
        if r.diverged:
            rows.append({**lab, **dict.fromkeys(_RUN_METRICS, float("nan")), "best_epoch": float("nan"),
                         "parameters": float("nan"), "n_train": float("nan"), "n_test": float("nan"),
                         "minutes": m.get("wall_seconds", float("nan")) / 60, "cached": r.cached, "status": "diverged"})
            continue
        rows.append({**lab, "status": "finished", "test_acc": m["test_acc"], "max_test_acc": m["max_test_acc"], "best_val_acc": m["best_val_acc"],
                     "best_epoch": m["best_epoch"] + 1, "final_train_acc": m["final_train_acc"],
                     "final_test_acc": m["final_test_acc"], "parameters": m["parameters"], "n_train": m["n_train"],
                     "n_test": m["n_test"], "minutes": m.get("wall_seconds", float("nan")) / 60, "cached": r.cached})
    return pd.DataFrame(rows)


def _count(values) -> str:
    """A parameter count of finished runs ("—" when every run diverged)."""
    values = pd.Series(values).dropna()
    return f"{int(values.iloc[0]):,}" if len(values) else "—"


# ============================================================================ setup
def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def setup_text(settings) -> str:
    s = settings
    a, b, c, t = (s.section(k) for k in ("task_a", "task_b", "task_c", "tricks"))
    ds = s["data.dataset"]
    if ds == "eurosat":
        data = "**EuroSAT** RGB (64 × 64 px, 10 land-use classes; torchvision's loader, fixed 80/20 stratified split)"
        source = "torchvision's **ImageNet** weights"
    else:
        data = (f"**{ds}** (10 classes, 28 × 28 grey) in place of EuroSAT, which is not on this offline machine; "
                f"Task A at {a['image_size'] or 28} px, Tasks B and C resized to {b['image_size'] or 28} px")
        source = (f"a source model that this book pretrains itself (**not ImageNet**): the same architecture trained to "
                  f"predict image rotations (0/90/180/270°) on {a['source_train_size']:,} training images set aside for it "
                  f"({s['data.source_fraction']:.0%} of the training split is reserved for the source task and never used by "
                  f"the targets; no test image and no class label is ever seen by it), {_n(a['source_epochs'], 'epoch')}")
    size = lambda n: "all" if n == 0 else f"{n:,}"  # noqa: E731
    return (
        f"**Setup at profile `{s.profile}`.** Data: {data}. "
        f"**Task A:** `{a['model']}` fine-tuned from {source}; {size(a['train_size'])} training images (10 % of them held "
        f"out for validation), {size(a['test_size'])} test images, {_n(a['epochs'], 'epoch')}, SGD lr {a['lr']:g} ({a['scheduler']}), "
        f"seeds {list(s.task_a_seeds)}. "
        f"**Task B:** `{b['model']}` ({'ImageNet weights' if b['weights'] == 'imagenet' else 'trained from scratch'}) and "
        f"Model_B built from it; {size(b['train_size'])} training images, {size(b['test_size'])} test images, "
        f"{_n(b['epochs'], 'epoch')}, SGD lr {b['lr']:g}, no augmentation or schedule; tricks: "
        f"{', '.join(AUGMENT_NAMES[n].format(p=t['crop_padding']) for n in t['augment'])}, ReduceLROnPlateau "
        f"(×{t['gamma']:g}, patience {t['plateau_patience']}), label smoothing {t['label_smoothing']:g}; seeds "
        f"{list(s.seeds)} (n = {len(s.seeds)} per model). "
        f"**Task C:** a long-tailed training set (exponential profile, imbalance factor {s.imbalance_factors[0]:g}, "
        f"head class {c['lt_n_max'] or 'all'} images) for Model_B + tricks + class-balanced oversampling, "
        f"{_n(c['epochs'], 'epoch')}, seeds {list(s.seeds)}; the test set stays balanced. Batch {s['data.batch_size']}, "
        f"momentum {s['data.momentum']:g}, weight decay {s['data.weight_decay']:g} everywhere.")


# ============================================================================ Task A
def _curve_frame(hist: pd.DataFrame) -> pd.DataFrame:
    """Long form with a ``split`` column (train / validation / test) for loss and accuracy."""
    parts = []
    for split, (loss, acc) in {"train": ("train_loss", "train_acc"), "validation": ("val_loss", "val_acc"),
                               "test": ("test_loss", "test_acc")}.items():
        if loss in hist:
            part = hist[[c for c in hist.columns if c not in (loss, acc)]].copy()
            part["loss"], part["accuracy"], part["split"] = hist[loss], hist[acc], split
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def training_curves(hist: pd.DataFrame, results, title: str, reported: float | None = None):
    """Training, validation and test loss and accuracy per epoch (mean ± sd over seeds); dotted: best-validation epochs."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    if hist.empty:
        fig.text(0.5, 0.5, f"{title}: every run diverged (no curve)", ha="center", va="center", color="firebrick")
        a1.axis("off"), a2.axis("off")
        return fig
    df = _curve_frame(hist)
    for ax, y in ((a1, "loss"), (a2, "accuracy")):
        sns.lineplot(data=df, x="epoch", y=y, hue="split", errorbar="sd", marker="o", ax=ax,
                     palette={"train": "#555555", "validation": "#0173b2", "test": "#de8f05"})
        ax.set_title(f"{title}: {y}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for _, r in finished(results):
        a2.axvline(r.metrics["best_epoch"] + 1, color="#0173b2", ls=":", lw=1)
    if reported is not None:
        a2.axhline(reported, color="grey", ls="--", lw=1, label=f"reported best {reported:.1%} (EuroSAT)")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def task_a_curves(hist: pd.DataFrame, results):
    """The report's Figure 1 for the fine-tuned ResNet-50, the report's best accuracy marked."""
    return training_curves(hist, results, "Task A, fine-tuned ResNet-50", REPORTED["task_a_best"])


def sparsity(acts: dict, top: float = 0.1) -> float:
    """Mean share of the avgpool vector's total (non-negative) mass held by its top ``top`` fraction of features."""
    shares = []
    for v in acts["avgpool"]:
        v = np.sort(np.abs(v))[::-1]
        shares.append(v[: max(1, int(round(top * len(v))))].sum() / max(v.sum(), 1e-12))
    return float(np.mean(shares))


def task_a_table(df: pd.DataFrame, settings) -> pd.DataFrame:
    rows = [{"quantity": "best accuracy (the report: best test accuracy over epochs)", "reported": f"{REPORTED['task_a_best']:.3f}",
             "ours": report.mean_std(df.max_test_acc, digits=3)},
            {"quantity": "test accuracy of the best-validation model (selection without the test set)", "reported": "—",
             "ours": report.mean_std(df.test_acc, digits=3)},
            {"quantity": "parameters", "reported": "25.6 M (ResNet-50)", "ours": _count(df.parameters)}]
    return pd.DataFrame(rows)


def absolute_verdict(v, claim: str, values, reported: float, settings) -> None:
    """An absolute accuracy claim: tested against the reported number on EuroSAT; on another dataset it cannot be."""
    if settings["data.dataset"] == "eurosat":
        v.threshold(claim, list(values), reported, reported=f"{reported:.3f}", how="greater", digits=3)
    else:
        finite = [x for x in values if np.isfinite(x)]
        v.inconclusive(claim, f"not comparable: {settings['data.dataset']} at this profile, EuroSAT in the report",
                       reported=f"{reported:.3f}", ours=report.mean_std(finite, digits=3), n=len(finite))


def tsne_reading(scores: dict, k: int, num_classes: int) -> str:
    """The sentences under the t-SNE figure, computed from its separation numbers."""
    u, t = scores["untrained"], scores["fine-tuned"]
    chance = 1 / num_classes
    return (f"**Reading the plot.** Fine-tuning moves the {k}-NN accuracy in the embedding from {u['knn_2d']:.2f} "
            f"(untrained) to {t['knn_2d']:.2f} ({t['knn_2d'] - u['knn_2d']:+.2f}), and the silhouette in feature space from "
            f"{u['silhouette_features']:.2f} to {t['silhouette_features']:.2f}. The untrained network's k-NN accuracy is "
            f"{u['knn_2d'] / chance:.1f} times the {chance:.2f} of chance"
            + (": a random network already maps similar images to similar features, so a t-SNE of trained features alone, "
               "as in the report, does not show what training added. " if u["knn_2d"] > 2 * chance else ". ")
            + "Distances *between* t-SNE clusters carry little meaning, only neighbourhoods do, hence numbers computed from "
              "neighbours and from the feature space.")


#: shown instead of Task A's analyses when every Task A run diverged
NO_TASK_A = ("**Every Task A run diverged**, so there is no fine-tuned network to embed or to look inside: the t-SNE, "
             "the activation maps and their explorers are left out (a diverged run is never a result).")


def explorer_key(kind: str, result, names, settings) -> str:
    """What a Task A explorer's images are drawn from (the run and the settings its drawing reads), for its image cache."""
    keys = ("tsne_points", "tsne_seed", "tsne_iterations", "knn_k", "activation_images", "activation_channels")
    return f"eurosat {kind}|{result.path}|{list(names)}|" + "|".join(f"{k}={settings[k]}" for k in keys)


def tsne_verdict(v, scores: dict, k: int) -> None:
    """The report's t-SNE claim (the classes form clusters) made testable: the fine-tuned network's features separate
    the classes better than the untrained network's, by both numbers of :func:`embed.separation`."""
    u, t = scores["untrained"], scores["fine-tuned"]
    v.check("Fine-tuned fc-layer features cluster by class in t-SNE (Task A.2, Figure 2)",
            t["knn_2d"] > u["knn_2d"] and t["silhouette_features"] > u["silhouette_features"],
            reported="classes form clusters (figure only)",
            ours=(f"{k}-NN acc in the embedding {t['knn_2d']:.2f} vs untrained {u['knn_2d']:.2f}; silhouette in feature "
                  f"space {t['silhouette_features']:.2f} vs {u['silhouette_features']:.2f}"),
            n="480 images, 1 network",
            rule="both numbers higher than the untrained network's on the same 480 test images (deterministic given the seeds)")


# ---------------------------------------------------------------------------- t-SNE
def _legend(fig, names, colors, **kw):
    handles = [Line2D([], [], marker="o", ls="", markersize=7, color=c) for c in colors]
    fig.legend(handles, names, title="class", frameon=False, **kw)


def _label_classes(ax, pts: np.ndarray, labels: np.ndarray, names, colors) -> None:
    """Each class's name at the median of its points (white halo), so the map reads without the legend; a class
    whose points are scattered gets its name where its median lands, which is itself telling."""
    from matplotlib import patheffects

    for c in np.unique(labels):
        x, y = np.median(pts[labels == c], axis=0)
        ax.text(x, y, names[c], fontsize=7.5, ha="center", va="center", weight="bold", color=colors[c],
                path_effects=[patheffects.withStroke(linewidth=2.8, foreground="white")])


def tsne_figure(result, names, perplexity: float, sample_seed: int, tsne_seed: int, n: int, k: int,
                stages=embed.STAGES, size: float = 4.4, iterations: int = 1000, label_classes: bool = True):
    """Side-by-side t-SNE of the fc-layer input at each stage, one colour per class (names at the class medians),
    separation numbers in the titles."""
    emb = embed.embeddings(result, n, sample_seed, perplexity, tsne_seed, iterations)
    feats = embed.stage_features(result, n, sample_seed)
    stages = [s for s in stages if s in emb]
    labels = emb["labels"]
    colors = class_colors(len(names))
    fig, axes = plt.subplots(1, len(stages), figsize=(size * len(stages) + 2.2, size + 0.6), squeeze=False)
    scores = {}
    for ax, stage in zip(axes[0], stages):
        pts = emb[stage]
        sc = embed.separation(pts, feats[stage], labels, k)
        scores[stage] = sc
        for c in range(len(names)):
            sel = labels == c
            ax.scatter(pts[sel, 0], pts[sel, 1], s=11, color=colors[c], alpha=0.85, linewidths=0)
        if label_classes:
            _label_classes(ax, pts, labels, names, colors)
        ax.set_title(f"{stage}\n{k}-NN acc {sc['knn_2d']:.2f} · silhouette {sc['silhouette_2d']:.2f}", fontsize="medium")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_aspect("equal", "datalim")
    _legend(fig, names, colors, loc="center right", fontsize="small")
    fig.suptitle(f"t-SNE of the fc-layer input: {len(labels)} random test images (perplexity {perplexity:g}, "
                 f"sample seed {sample_seed}, t-SNE seed {tsne_seed}, {iterations} iterations)", fontsize="medium")
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 1))
    fig.scores = scores
    return fig


def separation_table(scores: dict, k: int) -> pd.DataFrame:
    return pd.DataFrame([{"network": stage, f"{k}-NN accuracy in the 2-D embedding (leave-one-out)": round(s["knn_2d"], 3),
                          "silhouette, 2-D embedding": round(s["silhouette_2d"], 3),
                          "silhouette, feature space": round(s["silhouette_features"], 3)} for stage, s in scores.items()])


def tsne_explorer_draw(result, names, settings):
    """The static explorer's drawing: untrained vs fine-tuned at one perplexity and sample."""
    def draw(perplexity, sample):
        return tsne_figure(result, names, perplexity, sample, settings.tsne_seed, settings.tsne_points, settings.knn_k,
                           stages=("untrained", "fine-tuned"), size=3.6, iterations=settings.tsne_iterations)
    return draw


# ---------------------------------------------------------------------------- activation maps
def _top_channels(a: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` channels of one image's maps (C, H, W) with the largest mean |activation|."""
    return np.argsort(-np.abs(a).mean(axis=(1, 2)), kind="stable")[:k]


def _tile(maps: np.ndarray, cols: int) -> np.ndarray:
    """(k, H, W) maps as one (rows·(H+1)−1, cols·(W+1)−1) mosaic with NaN gutters."""
    k, h, w = maps.shape
    rows = math.ceil(k / cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = maps[i]
    return out


def _map_style(maps: np.ndarray):
    """Post-ReLU layers on a sequential scale from 0; conv1 (before BN/ReLU, signed) on a symmetric diverging one."""
    finite = maps[np.isfinite(maps)]
    if finite.min() < 0:
        lim = float(np.percentile(np.abs(finite), 99.5)) or 1.0
        cmap = plt.get_cmap("RdBu_r").copy()
        vmin, vmax = -lim, lim
    else:
        cmap = plt.get_cmap("magma").copy()
        vmin, vmax = 0.0, float(np.percentile(finite, 99.5)) or 1.0
    cmap.set_bad("white")
    return dict(cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")


def _show_input(ax, acts, i, names, data_std=None):
    img = acts["images"][i]
    ax.imshow(img.transpose(1, 2, 0).squeeze(), cmap="gray" if img.shape[0] == 1 else None, interpolation="nearest")
    true, pred = names[acts["labels"][i]], names[acts["predicted"][i]]
    ax.set_title(f"input: {true}\npredicted: {pred}", fontsize="small", color="black" if true == pred else "#c0392b")
    ax.axis("off")


def channel_grid(ax, a: np.ndarray, layer: str, k: int, cols: int = 4):
    """The ``k`` most active channels of one layer's maps (C, H, W) for one image, as a mosaic with a colour bar."""
    idx = _top_channels(a, k)
    mosaic = _tile(a[idx], cols)
    im = ax.imshow(mosaic, **_map_style(mosaic))
    ax.set_title(f"{layer}\n{a.shape[0]}×{a.shape[1]}×{a.shape[2]} · top {len(idx)}", fontsize="small")
    ax.axis("off")
    return im


def activation_figure(acts: dict, i: int, names, k: int = 16, layers=ACTIVATION_LAYERS):
    """The report's Table 1 for one image: the input, a grid of the most active channels of conv1 and layer1-4
    (shared colour scale within a layer), and the average-pooled feature vector over feature index."""
    fig = plt.figure(figsize=(2.6 * (len(layers) + 1), 4.5), layout="constrained")
    gs = fig.add_gridspec(2, len(layers) + 1, height_ratios=(2.6, 1.1))
    _show_input(fig.add_subplot(gs[0, 0]), acts, i, names)
    for j, layer in enumerate(layers):
        ax = fig.add_subplot(gs[0, j + 1])
        im = channel_grid(ax, acts[layer][i], layer, k)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    ax = fig.add_subplot(gs[1, :])
    vec = acts["avgpool"][i]
    ax.plot(np.arange(len(vec)), vec, lw=0.8, color=class_colors(len(names))[acts["labels"][i]])
    ax.set_xlim(0, len(vec) - 1)
    ax.set_xlabel("feature index")
    ax.set_ylabel("value")
    ax.set_title(f"avgpool: the {len(vec)}-d feature vector the fc layer sees", fontsize="small")
    return fig


def activation_overview(acts: dict, names, layers=ACTIVATION_LAYERS):
    """Every image × layer: the mean over channels of |activation| (where each layer 'looks'), plus the avgpool vector."""
    n = len(acts["labels"])
    fig, axes = plt.subplots(n, len(layers) + 2, figsize=(1.9 * (len(layers) + 1) + 3.2, 1.95 * n + 0.4), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * (len(layers) + 1) + [2.2]})
    colors = class_colors(len(names))
    for i in range(n):
        _show_input(axes[i, 0], acts, i, names)
        for j, layer in enumerate(layers):
            a = np.abs(acts[layer][i]).mean(0)
            ax = axes[i, j + 1]
            ax.imshow(a, cmap="magma", interpolation="nearest")
            ax.axis("off")
            if i == 0:
                ax.set_title(f"{layer}\n{a.shape[0]}×{a.shape[1]}", fontsize="small")
        ax = axes[i, -1]
        ax.plot(acts["avgpool"][i], lw=0.6, color=colors[acts["labels"][i]])
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.set_title("avgpool vector", fontsize="small")
    fig.suptitle("Where each layer responds: mean |activation| over channels (each panel on its own scale)", fontsize="medium")
    fig.tight_layout()
    return fig


def activation_explorer_draw(acts: dict, names, k: int):
    """The static explorer's drawing: one layer's channel grid for one image (bigger than in the summary)."""
    def draw(layer, image):
        i = int(image)
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(7.4, 3.6), gridspec_kw={"width_ratios": (1, 2)})
        _show_input(a0, acts, i, names)
        im = channel_grid(a1, acts[layer][i], layer, k, cols=int(math.ceil(math.sqrt(k))))
        fig.colorbar(im, ax=a1, fraction=0.046, pad=0.03)
        fig.tight_layout()
        return fig
    return draw


# ============================================================================ Task B
def task_b_curves(hist: pd.DataFrame):
    """The report's Tables 2 and 3: training and test loss and accuracy of the three models (mean ± sd over seeds)."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    for ax, (y, title) in zip(axes, (("train_loss", "training loss"), ("test_loss", "test loss"),
                                     ("train_acc", "training accuracy"), ("test_acc", "test accuracy"))):
        sns.lineplot(data=hist, x="epoch", y=y, hue="model", errorbar="sd", ax=ax, palette=MODEL_COLORS, marker="o",
                     hue_order=[m for m in TASK_B_MODELS if m in set(hist.model)])
        ax.set_title(title)
        ax.set_ylabel("")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax is not axes[-1] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def oscillation(test_loss: pd.Series) -> float:
    """The report's 'vibration' of a loss curve: mean absolute change of the test loss from one epoch to the next."""
    v = np.asarray(test_loss, float)
    return float(np.abs(np.diff(v)).mean()) if len(v) > 1 else float("nan")


def late_improvement(test_loss: pd.Series) -> float:
    """How much the test loss still falls at the end of training: the best test loss of the epochs before the last
    quarter minus the best of the last quarter (> 0: still improving; the report: "in the last few epochs the test
    loss still decreases" for Model_B, no improvement for the baseline)."""
    v = np.asarray(test_loss, float)
    q = max(1, len(v) // 4)
    return float(v[:-q].min() - v[-q:].min()) if len(v) > q else float("nan")


def task_b_frame(results, hist: pd.DataFrame) -> pd.DataFrame:
    df = runs_table(results)
    df["gap"] = df.final_train_acc - df.final_test_acc
    by_run = hist.groupby(["model", "seed"]).test_loss
    curves = pd.concat([by_run.apply(oscillation).rename("oscillation"), by_run.apply(late_improvement).rename("late_gain")],
                       axis=1).reset_index()
    return df.merge(curves, on=["model", "seed"], how="left")  # a diverged run keeps its row (NaN)


def task_b_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for m in TASK_B_MODELS:
        d = df[df.model == m]
        if d.empty:
            continue
        rows.append({"model": m, "reported best accuracy": REPORTED["task_b"][m], "ours": list(d.max_test_acc),
                     "test acc of the best-validation model": report.mean_std(d.test_acc, digits=3),
                     "train − test acc, last epoch": report.mean_std(d.gap, digits=3),
                     "test-loss oscillation": report.mean_std(d.oscillation, digits=3),
                     "parameters": _count(d.parameters), "digits": 3})
    return report.reported_vs_ours(rows).rename(columns={"ours": "ours: best test acc over epochs"})


def parameter_table(settings) -> pd.DataFrame:
    """DenseNet-121 vs Model_B parameter counts, at this profile's width and at DenseNet-121's own, beside the
    hand formula: each 3x3 conv C_in → C_out saves 6·C_in·C_out − 3·C_out² weights (built once, then cached)."""
    cases = {"this profile": settings["task_b.model"], "DenseNet-121 (growth 32, ImageNet layout)": "densenet121"}

    def compute():
        rows = []
        for label, name in cases.items():
            base = models.build(name, num_classes=10, in_channels=1 if models.any_channels(name) else 3)
            n_base, saving = models.count_parameters(base), model_b.factorization_saving(base)
            n_b = models.count_parameters(model_b.to_model_b(base, 0.005, 6))  # (transforms ``base`` in place)
            rows.append({"network": label, "model": name, "DenseNet-121": f"{n_base:,}", "Model_B": f"{n_b:,}",
                         "saved (counted)": f"{n_base - n_b:,}", "saved (formula)": f"{saving:,}",
                         "reduction": f"{(n_base - n_b) / n_base:.1%}"})
        return pd.DataFrame(rows)

    return runs.memo_frame("eurosat_parameters", repr(sorted(cases.items())), compute)


def task_b_verdicts(v, df: pd.DataFrame, params: pd.DataFrame, settings) -> None:
    acc = lambda m, col="max_test_acc": list(df[df.model == m][col])  # noqa: E731
    rb = REPORTED["task_b"]
    v.compare("Model_B beats the DenseNet-121 baseline (best accuracy; §B.2, Table 2)", acc("Model_B"), acc("DenseNet-121"),
              reported=f"{rb['Model_B']} vs {rb['DenseNet-121']}", margin=1.0, scale=100, digits=1, names=("Model_B", "DenseNet"))
    v.compare("The tricks improve Model_B (best accuracy; §B.3.4, Table 3)", acc("Model_B + tricks"), acc("Model_B"),
              reported=f"{rb['Model_B + tricks']} vs {rb['Model_B']} (+3.2 %)", margin=1.0, scale=100, digits=1,
              names=("tricks", "Model_B"))
    v.compare("The tricks shrink the generalisation gap (train − test accuracy, last epoch; §B.3.4)",
              acc("Model_B + tricks", "gap"), acc("Model_B", "gap"), how="less", reported="gap decreased", margin=1.0,
              scale=100, digits=1, names=("tricks", "Model_B"))
    v.compare("Model_B's test loss oscillates less than the baseline's (mean |Δ| per epoch; §B.2)",
              acc("Model_B", "oscillation"), acc("DenseNet-121", "oscillation"), how="less", reported="vibration mitigated",
              digits=3, names=("Model_B", "DenseNet"))
    v.compare("Model_B's test loss still falls in the last epochs, the baseline's less (§B.2; best test loss of the last "
              "quarter of epochs below the best before it)", acc("Model_B", "late_gain"), acc("DenseNet-121", "late_gain"),
              reported="still decreasing vs no improvement in the last 40 epochs", digits=3, names=("Model_B", "DenseNet"))
    here = params.iloc[0]
    v.check("Model_B has fewer parameters than DenseNet-121 (§B.1 A)", int(here["Model_B"].replace(",", "")) < int(here["DenseNet-121"].replace(",", "")),
            reported="fewer", ours=f"{here['Model_B']} vs {here['DenseNet-121']} ({here['reduction']} fewer)", n=1,
            rule="parameter count (deterministic)")
    for m, where in (("DenseNet-121", "§B.2, Table 2"), ("Model_B", "§B.2, Table 2"), ("Model_B + tricks", "§B.3.4, Table 3")):
        absolute_verdict(v, f"{m} reaches the report's best accuracy ({where})", acc(m), rb[m], settings)


def augment_examples(settings, n: int = 8):
    """A few Task B training images and the same images after the tricks' augmentation (two draws)."""
    cfg = Plan(settings).task_b("Model_B + tricks")
    sub = prepare(cfg)[0].subset(np.arange(n))
    aug = build_augment(cfg.augment, cfg.crop_padding, mean=sub.mean, std=sub.std)
    torch.manual_seed(0)  # RandomAffine draws from the global RNG
    x = next(iter(TensorLoader(sub, n, shuffle=False)))[0]
    rows = [x, aug(x.clone(), torch.Generator().manual_seed(1)), aug(x.clone(), torch.Generator().manual_seed(2))]
    fig, axes = plt.subplots(3, 1, figsize=(n * 0.95, 3.4))
    for ax, batch, title in zip(axes, rows, ("original", "augmented (draw 1)", "augmented (draw 2)")):
        report.image_grid(batch, nrow=n, mean=sub.mean, std=sub.std, ax=ax)
        ax.set_title(title, fontsize="small")
    fig.tight_layout()
    return fig


# ============================================================================ Task C
def head_frame(results) -> pd.DataFrame:
    """One row per (Task C run, head): accuracy overall, per shot group and per class."""
    key_to_label = {v: k for k, v in KEY_OF_HEAD.items()}
    rows = []
    for lab, r in finished(results):
        for key, h in r.metrics["heads"].items():
            rows.append({**lab, "classifier": key_to_label[key], "acc": h["acc"], "many": h["many_acc"], "medium": h["medium_acc"],
                         "few": h["few_acc"], **{f"class {c}": a for c, a in enumerate(h["per_class"])}})
    return pd.DataFrame(rows, columns=None if rows else ["imbalance_factor", "seed", "classifier", "acc", "many", "medium", "few"])


def long_tail_figure(results, names):
    """Training images per class of each imbalance factor (log scale), the report's SVM weights beside them."""
    fig, ax = plt.subplots(figsize=(9, 3.4))
    seen = {}
    for lab, r in finished(results):
        seen.setdefault(lab["imbalance_factor"], r.metrics["train_counts"])
    width = 0.8 / max(len(seen), 1)
    for j, (f, counts) in enumerate(sorted(seen.items())):
        bars = ax.bar(np.arange(len(counts)) + (j - (len(seen) - 1) / 2) * width, counts, width, label=f"imbalance factor {f:g}")
        ax.bar_label(bars, fontsize=6)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="both", labelsize=7)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("training images")
    ax.legend(fontsize="small")
    ax.set_title("Task C: the long-tailed training set (exponential profile; the test set stays balanced)")
    fig.tight_layout()
    return fig


def shot_groups_text(result, names) -> str:
    """Which classes form the many-, medium- and few-shot groups of a Task C run, by name, with their training images."""
    m = result.metrics
    counts = m["train_counts"]
    return "**Shot groups** (training images per class): " + "; ".join(
        f"{group}-shot: " + ", ".join(f"{names[c]} ({counts[c]})" for c in m["groups"][group]) for group in ("many", "medium", "few")) + "."


def task_c_table(hf: pd.DataFrame, factor: float, heads=tuple(HEADS)) -> pd.DataFrame:
    d = hf[hf.imbalance_factor == factor]
    base = d[d.classifier == "backbone"].set_index("seed").acc
    rows = []
    for head in heads:
        h = d[d.classifier == head]
        if h.empty:
            continue
        gain = h.set_index("seed").acc - base
        rows.append({"classifier": head, "how": HEADS[head], "test accuracy": report.mean_std(h.acc, 100, 1),
                     "Δ vs backbone (points)": report.mean_std(gain.dropna(), 100, 1),
                     "many-shot": report.mean_std(h.many, 100, 1), "medium-shot": report.mean_std(h.medium, 100, 1),
                     "few-shot": report.mean_std(h.few, 100, 1)})
    return pd.DataFrame(rows)


def confusion_pair(result, names, heads=("backbone", "SVM, report weights")):
    """Row-normalised confusion matrices (seaborn) of two heads on the same backbone and test set (the report's Figure 5)."""
    from sklearn.metrics import confusion_matrix

    labels = result.load_array("test_labels")
    fig, axes = plt.subplots(1, len(heads), figsize=(6.2 * len(heads), 5.4), squeeze=False)
    for ax, head in zip(axes[0], heads):
        pred = result.load_array(f"pred_{KEY_OF_HEAD[head]}")
        cm = confusion_matrix(labels, pred, labels=range(len(names)), normalize="true")
        sns.heatmap(cm, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax, annot_kws={"fontsize": 7},
                    xticklabels=names, yticklabels=names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (rows sum to 1; head classes first)")
        ax.set_title(f"{head}: accuracy {(pred == labels).mean():.1%}", fontsize="medium")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def per_class_figure(hf: pd.DataFrame, factor: float, names, heads=tuple(HEADS)):
    """Per-class test accuracy of each head (mean over seeds), classes from head to tail."""
    d = hf[hf.imbalance_factor == factor]
    long = d.melt(id_vars=["classifier", "seed"], value_vars=[f"class {c}" for c in range(len(names))], var_name="class", value_name="accuracy")
    long["class"] = long["class"].map(lambda s: names[int(s.split()[1])])
    fig, ax = plt.subplots(figsize=(12, 3.8))
    sns.barplot(data=long, x="class", y="accuracy", hue="classifier", hue_order=[h for h in heads if h in set(d.classifier)],
                palette=HEAD_COLORS, errorbar="sd", ax=ax, order=list(names), err_kws={"linewidth": 1})
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize="small")
    ax.set_xlabel("class (training images decrease left to right)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="x-small", ncols=len(heads), loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    ax.set_title(f"Task C: per-class test accuracy (imbalance factor {factor:g}, mean ± sd over seeds)")
    fig.tight_layout()
    return fig


def task_c_explorer_draw(by_factor: dict, names):
    """The static explorer's drawing: one head's confusion matrix and per-class accuracy at one imbalance factor."""
    from sklearn.metrics import confusion_matrix

    def draw(imbalance_factor, head):
        r = by_factor[imbalance_factor]
        labels, pred = r.load_array("test_labels"), r.load_array(f"pred_{KEY_OF_HEAD[head]}")
        cm = confusion_matrix(labels, pred, labels=range(len(names)), normalize="true")
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": (1.1, 1)})
        sns.heatmap(cm, cmap="Blues", vmin=0, vmax=1, cbar=False, ax=a0, xticklabels=names, yticklabels=names,
                    annot=True, fmt=".1f", annot_kws={"fontsize": 6})
        a0.tick_params(labelsize=6)
        a0.set_title(f"{head}, IF {imbalance_factor:g}: accuracy {(pred == labels).mean():.1%}", fontsize="small")
        per = [float((pred[labels == c] == c).mean()) for c in range(len(names))]
        a1.bar(range(len(names)), per, color=class_colors(len(names)))
        counts = r.metrics["train_counts"]
        for c, (p, n) in enumerate(zip(per, counts)):
            a1.text(c, p + 0.02, str(n), ha="center", fontsize=6)
        a1.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=6)
        a1.set_ylim(0, 1.1)
        a1.set_title("per-class accuracy (numbers: training images)", fontsize="small")
        fig.tight_layout()
        return fig
    return draw


def task_c_verdicts(v, hf: pd.DataFrame, backbones: pd.DataFrame, factor: float, settings) -> None:
    """The report's Task C claims (always: they need the backbone and the report-weight SVM) and, for the heads
    this execution shows, whether each beats the backbone alone.  ``backbones``: :func:`runs_table` of the backbones."""
    d = hf[hf.imbalance_factor == factor]
    acc = lambda h: list(d[d.classifier == h].sort_values("seed").acc)  # noqa: E731
    bb = backbones[backbones.imbalance_factor == factor]
    v.compare("The long-tailed backbone overfits (last-epoch training accuracy above test accuracy; §C.2, Figure 4)",
              list(bb.final_train_acc), list(bb.final_test_acc), reported="overfits", margin=1.0, scale=100, digits=1,
              names=("train", "test"))
    v.compare("The SVM head with the report's weights beats the backbone alone (+1.5 %; §C.2)", acc("SVM, report weights"),
              acc("backbone"), reported="0.865 (+1.5 %)", margin=1.0, scale=100, digits=1, names=("SVM", "backbone"))
    for head in ("SVM, inverse frequency", "τ-norm", "cRT"):
        if head in settings.heads:
            v.compare(f"{head} beats the backbone alone (a decoupled classifier the report did not try)", acc(head),
                      acc("backbone"), reported="—", margin=1.0, scale=100, digits=1, names=(head, "backbone"))
    absolute_verdict(v, "The SVM head reaches the report's accuracy (§C.2)", acc("SVM, report weights"), REPORTED["task_c_svm"], settings)


# ============================================================================ live explorers
def live_tsne(result, names, settings):
    """Live explorer: any perplexity, sample seed and t-SNE seed (computes in the kernel; memoised)."""
    def draw(perplexity=30.0, sample=0, tsne_seed=0):
        return tsne_figure(result, names, float(perplexity), int(sample), int(tsne_seed), settings.tsne_points, settings.knn_k,
                           iterations=settings.tsne_iterations)
    return draw


def live_activations(result, names, settings):
    """Live explorer: the activation figure of any test image (index into the run's test subset)."""
    def draw(image=0, layer="layer2", channels=16):
        test = prepare(result.config)[2]
        i = int(image) % len(test)
        net = load_network(result)
        x = test.normalized(torch.as_tensor([i]))
        acts = embed.activations(net, x)
        with torch.no_grad():
            acts["predicted"] = net(x).argmax(1).numpy()
        acts.update(images=test.images[[i]].numpy(), labels=test.labels[[i]].numpy())
        return activation_explorer_draw(acts, names, int(channels))(layer, 0)
    return draw


def live_task_c(plan: Plan, names, runner=None):
    """Live explorer: any imbalance factor (a new one trains a backbone: minutes) and head."""
    def draw(imbalance_factor=10.0, head="SVM, report weights"):
        cfg = plan.task_c(float(imbalance_factor), plan.settings.seeds[0])
        r = runner.one(cfg, section="live explorer") if runner is not None else None
        return task_c_explorer_draw({float(imbalance_factor): r}, names)(float(imbalance_factor), head)
    return draw

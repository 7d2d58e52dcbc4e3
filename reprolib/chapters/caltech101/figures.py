"""Tables, figures, explorers and verdicts of the Caltech-101 homework chapter (the notebook only calls these)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from reprolib.core import report
from reprolib.core.supervised import prepare_data

from .augment import pipeline_transform
from .plan import Plan
from .reported import REPORTED
from .settings import NETWORK_LABELS, PIPELINE_LABELS, PIPELINES, POLICIES

ROW_COLUMNS = ["LR", "NUM_EPOCHS", "STEP_SIZE", "GAMMA"]


def _row_key(lab: dict) -> tuple:
    return tuple(lab[c] for c in ROW_COLUMNS)


def row_label(row) -> str:
    return f"lr {row[0]:g}, {row[1]} ep., step {row[2]}, γ {row[3]:g}"


# ---------------------------------------------------------------------------- setup and data
def setup_text(settings) -> str:
    d = settings.section("data")
    t = settings.section("train")
    nets = ", ".join(f"{NETWORK_LABELS[k]} = `{v}`" for k, v in settings.networks.items())
    if d["dataset"] == "caltech101":
        data = ("**Caltech-101** through torchvision (BACKGROUND_Google dropped; the course's train/test split files when "
                f"present, else a fixed stratified 2:1 split), {d['image_size']} px (resize + centre crop), ImageNet weights.")
    else:
        data = (f"the offline stand-in **{d['dataset']}** (see below): {len(d['classes'])} target classes, {d['train_size']} "
                f"training images ({d['train_size'] // len(d['classes'])} per class) halved into train/validation, "
                f"{d['image_size']} px. Pretrained weights come from source models the project trains itself on the "
                f"{t['source_train_size']:,} images of the other 36 classes (digits and lower-case letters; cosine schedule, "
                + "; ".join(f"{NETWORK_LABELS[k]}: {o} lr {lr:g}, {e} epochs" for k, (o, lr, e) in settings.source_recipes.items()
                            if k in settings.networks) + "), **not ImageNet**.")
    return (f"**Setup at profile `{settings.profile}`.** Data: {data} Networks: {nets}. Batch {t['batch_size']}, SGD with "
            f"momentum {t['momentum']:g} and weight decay {t['weight_decay']:g}, StepLR. Seeds: {list(settings.seeds)} "
            f"(n = {len(settings.seeds)} for every run a verdict compares; the other rows of the hyperparameter tables use "
            f"the first {settings.grid_seeds}).")


def splits(plan: Plan):
    """(train, val, test) of the chapter's target task, exactly as every run sees them."""
    return prepare_data(plan.run("alexnet"))


def class_counts(plan: Plan) -> pd.DataFrame:
    train, val, test = splits(plan)
    return pd.DataFrame({"class": list(train.classes), "train": train.counts(), "validation": val.counts(),
                         "test": test.counts()}).set_index("class")


def class_count_figure(counts: pd.DataFrame):
    """Images per class in each split (report section 1: the 1:1 train/validation split is stratified by class)."""
    fig, ax = plt.subplots(figsize=(max(7, 0.16 * len(counts) + 2), 3.6))
    counts.plot.bar(stacked=True, ax=ax, width=0.85)
    ax.set(xlabel="class", ylabel="images", title="Images per class and split")
    if len(counts) > 40:
        ax.set_xticks([])
    fig.tight_layout()
    return fig


def count_summary(counts: pd.DataFrame) -> pd.DataFrame:
    out = counts.agg(["sum", "min", "median", "max"]).T
    out.columns = ["images", "fewest per class", "median per class", "most per class"]
    return out.astype(int)


def sample_figure(plan: Plan, n: int = 16, seed: int = 0):
    train, _, _ = splits(plan)
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    fig, ax = plt.subplots(figsize=(n * 0.55, 1.0))
    report.image_grid(train.images[idx], nrow=n, ax=ax)
    ax.set_title("Training images: " + " ".join(train.classes[int(i)] for i in train.labels[idx]), fontsize="small")
    return fig


# ---------------------------------------------------------------------------- results
def results_frame(results) -> pd.DataFrame:
    """One row per run: its labels, best validation accuracy, test accuracy of the best-validation model, final losses
    and the train-minus-validation gaps at the last epoch (train measured in eval mode on un-augmented images)."""
    rows = []
    for lab, r in results:
        m, last = r.metrics, r.history["epoch"][-1]
        train_acc = last.get("train_eval_acc", last["train_acc"])
        train_loss = last.get("train_eval_loss", last["train_loss"])
        rows.append({**lab, "best_val_acc": m["best_val_acc"], "best_epoch": m["best_epoch"] + 1, "test_acc": m["test_acc"],
                     "final_train_loss": last["train_loss"], "acc_gap": train_acc - last["val_acc"],
                     "loss_gap": last["val_loss"] - train_loss, "mode": m["training_mode"],
                     "train_minutes": m["train_seconds"] / 60, "cached": r.cached})
    return pd.DataFrame(rows)


def scratch_sentence(scratch: pd.DataFrame, classes: int) -> str:
    """How far the best from-scratch setting gets above guessing (1 / classes): the report's scratch AlexNet learnt
    (49 % test accuracy, §2); at a small scale it may barely leave chance, and then no learning-rate comparison decides."""
    best = scratch.loc[scratch.best, "test_acc"]
    if best.empty:
        return ""
    chance, mean = 1 / classes, best.mean()
    spread = best.std(ddof=1) if len(best) > 1 else 0.0
    ours = f"{100 * mean:.1f} ± {100 * spread:.1f} % (n = {len(best)})"
    if mean < 2 * chance:
        return (f"**From scratch the network barely learns here:** the best setting reaches {ours} test accuracy, "
                f"{mean / chance:.1f}× guessing (1/{classes} = {100 * chance:.1f} %); the report's scratch AlexNet reached "
                "49 % on Caltech-101. So little above chance, this section's learning-rate comparison says little about the "
                "report's, and transfer (section 3) is compared with a network that learnt almost nothing.")
    return (f"From scratch the best setting reaches {ours} test accuracy, {mean / chance:.1f}× guessing "
            f"(1/{classes} = {100 * chance:.1f} %); the report's scratch AlexNet reached 49 %.")


def history_frame(results, key: str = "epoch") -> pd.DataFrame:
    parts = [report.history_frame([r], key, one_based=key == "epoch", **{k: v for k, v in lab.items() if k != "seed"})
             for lab, r in results]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _ours(d: pd.DataFrame, col: str, digits: int = 3) -> str:
    return report.mean_std(d[col], digits=digits)


def hyper_table(df: pd.DataFrame, reported: dict, with_test: bool = True) -> pd.DataFrame:
    """The report's hyperparameter table with ours beside each row (mean ± std over seeds, n)."""
    rows = []
    for key, d in df.groupby(ROW_COLUMNS, sort=False):
        rep = reported.get(tuple(key))
        rep_val, rep_test = (rep if isinstance(rep, tuple) else (rep, None)) if rep is not None else (None, None)
        row = {"LR": f"{key[0]:g}", "NUM_EPOCHS": int(key[1]), "STEP_SIZE": int(key[2]), "GAMMA": f"{key[3]:g}"}
        row.update({"MAX_VAL_ACC reported": "—" if rep_val is None else f"{rep_val:.2f}", "MAX_VAL_ACC ours": _ours(d, "best_val_acc")})
        if with_test:
            row.update({"TEST_ACC reported": "—" if rep_test is None else f"{rep_test:.2f}", "TEST_ACC ours": _ours(d, "test_acc")})
        row["best epoch"] = ", ".join(str(e) for e in d.best_epoch)
        rows.append(row)
    return pd.DataFrame(rows)


def curves_figure(hist_steps: pd.DataFrame, hist_epochs: pd.DataFrame, title: str):
    """Loss per training step and accuracy per epoch (train and validation), mean ± std over seeds."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    report.curves(hist_steps, "step", "loss", ax=a1, title="Training loss per step")
    long = hist_epochs.melt(id_vars=["epoch", "seed"], value_vars=[c for c in ("train_eval_acc", "val_acc") if c in hist_epochs],
                            var_name="split", value_name="accuracy")
    long["split"] = long["split"].map({"train_eval_acc": "train", "val_acc": "validation"})
    report.curves(long, "epoch", "accuracy", hue="split", ax=a2, title="Accuracy per epoch")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def select(results, **match):
    return [(lab, r) for lab, r in results if all(lab.get(k) == v for k, v in match.items())]


def run_curves(results, title: str):
    return curves_figure(history_frame(results, "step"), history_frame(results, "epoch"), title)


# ---------------------------------------------------------------------------- section 3: policies
def policy_table(pol: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label in POLICIES:
        d = pol[pol.policy == label]
        rep_loss, rep_acc = REPORTED["policies"][label]
        rows.append({"POLICY": label, "FINAL_TRAIN_LOSS reported": f"{rep_loss:.3f}", "FINAL_TRAIN_LOSS ours": _ours(d, "final_train_loss"),
                     "TEST_ACCURACY reported": f"{rep_acc:.2f}", "TEST_ACCURACY ours": _ours(d, "test_acc"),
                     "training": d["mode"].iloc[0] if len(d) else "—"})
    return pd.DataFrame(rows)


def policy_curves(policy_results):
    hist = history_frame(policy_results, "epoch")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    report.curves(hist, "epoch", "train_loss", hue="policy", ax=a1, title="Training loss")
    report.curves(hist, "epoch", "val_acc", hue="policy", ax=a2, title="Validation accuracy")
    if a2.get_legend() is not None:
        a2.get_legend().remove()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- section 4: augmentation
def augmentation_examples(plan: Plan, n: int = 6, seed: int = 0):
    """One row per pipeline: the same training images, original and under the pipeline (applied with p = 1)."""
    train, _, _ = splits(plan)
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    x = train.images[idx].float() / 255
    rows = [("original", x)]
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    for name in plan.settings.pipelines:
        t = pipeline_transform(name)
        rows.append((PIPELINE_LABELS[name], torch.stack([t(img) for img in x])))
    torch.set_rng_state(torch_state)
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * 0.9, len(rows) * 1.05))
    for ax, (label, imgs) in zip(np.atleast_1d(axes), rows):
        report.image_grid(imgs, nrow=n, ax=ax)
        ax.set_title(label, fontsize="small", loc="left")
    fig.tight_layout()
    return fig


def pipelines_table(settings) -> pd.DataFrame:
    ops = {"cs-hf": "contrast ±{contrast:g}, saturation ±{saturation:g}, then horizontal flip",
           "h-rp": "hue ±{hue:g}, then random perspective (distortion {perspective:g})",
           "b-gs-r": "brightness ±{brightness:g}, then grayscale, then rotation up to ±{rotation:g}°"}
    return pd.DataFrame([{"pipeline": PIPELINE_LABELS[p], "operations (torchvision v2)": ops[p].format(**PIPELINES[p]),
                          "applied to": "each training image with p = 0.5"} for p in settings.pipelines])


def augmentation_table(aug: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, d in aug.groupby("augmentation", sort=False):
        rep = REPORTED["augmentation"].get(label)
        rep = ("—",) * 3 if rep is None else tuple(f"{x:.2f}" for x in rep)
        rows.append({"AUG_TYPE": label,
                     "TEST_ACCURACY reported": rep[0], "TEST_ACCURACY ours": _ours(d, "test_acc"),
                     "ACCURACY_GAP reported": rep[1], "ACCURACY_GAP ours": _ours(d, "acc_gap"),
                     "LOSS_GAP reported": rep[2], "LOSS_GAP ours": _ours(d, "loss_gap")})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- section 5: networks
def networks_table(net: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, d in net.groupby("network", sort=False):
        rep = tuple(f"{x:.2f}" for x in REPORTED["networks"][label])
        rows.append({"NET": label, "TEST_ACCURACY reported": rep[0], "TEST_ACCURACY ours": _ours(d[d.freeze == "none"], "test_acc"),
                     "TEST_ACCURACY_FREEZE reported": rep[1], "TEST_ACCURACY_FREEZE ours": _ours(d[d.freeze == "features"], "test_acc")})
    return pd.DataFrame(rows)


def networks_figure(net: pd.DataFrame):
    d = net.assign(training=net.freeze.map({"none": "all layers trained", "features": "convolutional layers frozen"}))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    import seaborn as sns

    sns.pointplot(data=d, x="network", y="test_acc", hue="training", errorbar="sd", dodge=0.3, ax=ax, linestyle="none")
    sns.stripplot(data=d, x="network", y="test_acc", hue="training", dodge=0.3, ax=ax, alpha=0.4, legend=False)
    ax.set(ylabel="test accuracy", title="Other networks (points: seeds; bars: ± std)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- source models
def source_frame(plan: Plan, runner) -> pd.DataFrame:
    """Each network's offline source model (none with ImageNet weights) and how well it learnt its own task.

    A transfer result says something about a network only if its pretrained weights do: a source model
    below ``source_min_acc`` validation accuracy is flagged, and the verdicts that compare its network
    say "not comparable" instead of ranking an untrained network (:func:`verdict_rows`).
    """
    s = plan.settings
    columns = ["network", "classes", "train images", "chance", "best_val_acc", "test_acc", "usable"]
    if s.weights != "source":
        return pd.DataFrame(columns=columns)
    nets = list(s.networks)
    results = runner.run([plan.run(n).source_config() for n in nets], section="source models")
    rows = []
    for n, r in zip(nets, results):
        classes = len(r.config.classes)
        val = float("nan") if r.diverged else r.metrics["best_val_acc"]
        rows.append({"network": NETWORK_LABELS[n], "classes": classes, "train images": r.config.train_size,
                     "chance": 1 / classes, "best_val_acc": val,
                     "test_acc": float("nan") if r.diverged else r.metrics["test_acc"],
                     "usable": bool(val >= s.source_min_acc)})
    return pd.DataFrame(rows, columns=columns)


def source_table(src: pd.DataFrame) -> pd.DataFrame:
    pct = lambda x: "diverged" if x != x else f"{100 * x:.1f}"  # noqa: E731
    return pd.DataFrame({"network": src.network, "source classes": src.classes, "chance %": src.chance.map(pct),
                         "validation accuracy %": src.best_val_acc.map(pct), "test accuracy %": src.test_acc.map(pct),
                         "usable": src.usable.map({True: "yes", False: "no"})})


def source_sentence(src: pd.DataFrame, settings) -> str:
    if src.empty:
        return "Every network starts from torchvision's ImageNet weights."
    bar = f"{100 * settings.source_min_acc:g} % validation accuracy on its own {int(src.classes.iloc[0])}-class task"
    weak = src[~src.usable]
    if weak.empty:
        return f"Every source model clears the bar of {bar} (lowest: {100 * src.best_val_acc.min():.1f} %)."
    names = ", ".join(f"{r.network} ({'diverged' if r.best_val_acc != r.best_val_acc else f'{100 * r.best_val_acc:.1f} %'})"
                      for r in weak.itertuples())
    return (f"**Below the bar of {bar}: {names}.** A transfer run from such weights says little about the network, so "
            "the verdicts that compare it are *not comparable*.")


# ---------------------------------------------------------------------------- verdicts
def _test_accuracies(d: pd.DataFrame, **match) -> list[float]:
    """The test accuracies of the rows whose columns equal ``match``."""
    return d.loc[np.logical_and.reduce([d[k] == x for k, x in match.items()]), "test_acc"].tolist()


def verdict_rows(v, settings, scratch: pd.DataFrame, transfer: pd.DataFrame, pol: pd.DataFrame, aug: pd.DataFrame,
                 net: pd.DataFrame, sources: pd.DataFrame | None = None) -> None:
    """One row per claim of the report, each decided by a test on per-seed values (accuracies in %); a network whose
    source model is below the bar (:func:`source_frame`) is not compared."""
    pct = dict(scale=100, digits=1)
    best_s = scratch[scratch.best].test_acc.tolist()
    best_t = transfer[transfer.best].test_acc.tolist()
    small = scratch[[_row_key(r) == settings.scratch_small for _, r in scratch.iterrows()]].test_acc.tolist()
    v.compare(f"Scratch: a too small LR learns less — {row_label(settings.scratch_best)} beats {row_label(settings.scratch_small)} (§2)",
              best_s, small, reported="0.49 vs 0.13", names=("good LR", "small LR"), **pct)
    v.threshold("Scratch: even the best setting stays below 50 % test accuracy (§2)", best_s, 50.0, how="less",
                reported="0.49", **pct)
    v.compare("Transfer learning beats training from scratch (§3.1 vs §2)", best_t, best_s, reported="0.82 vs 0.49",
              names=("transfer", "scratch"), **pct)
    acc = _test_accuracies
    all_layers = acc(pol, freeze="none")
    v.compare("Freezing the convolutional layers is at least as good as training all layers (§3.2)",
              acc(pol, freeze="features"), all_layers, reported="0.84 vs 0.82", margin=100 * settings.same_margin,
              names=("conv frozen", "all trained"), **pct)
    shift = settings.much_worse
    v.compare(f"Freezing the fully connected layers is much worse: at least {100 * shift:g} points below training all (§3.2)",
              acc(pol, freeze="classifier"), [a - shift for a in all_layers], how="less", reported="0.39 vs 0.82",
              names=("FC frozen", f"all trained − {100 * shift:g}"), **pct)
    base = aug[aug.augmentation == "none"]
    for label in [PIPELINE_LABELS[p] for p in settings.pipelines]:
        d = aug[aug.augmentation == label]
        rep = REPORTED["augmentation"][label]
        v.compare(f"{label} changes the test accuracy little (§4)", d.test_acc.tolist(), base.test_acc.tolist(),
                  how="same", margin=100 * settings.same_margin, reported=f"{rep[0]:.2f} vs 0.82 (none)",
                  names=(label, "none"), **pct)
        v.compare(f"{label} changes overfitting (train − validation accuracy gap) little (§4)", d.acc_gap.tolist(),
                  base.acc_gap.tolist(), how="same", margin=100 * settings.gap_margin, reported=f"gap {rep[1]:.2f}",
                  names=(label, "none"), **pct)
    labels = [PIPELINE_LABELS[p] for p in settings.pipelines]
    if "CS-HF" in labels and "B-GS-R" in labels:
        v.compare("The more complex transformation, the lower the test accuracy: CS-HF beats B-GS-R (§4)",
                  aug[aug.augmentation == "CS-HF"].test_acc.tolist(), aug[aug.augmentation == "B-GS-R"].test_acc.tolist(),
                  reported="0.85 vs 0.81", names=("CS-HF", "B-GS-R"), **pct)
    network_verdict_rows(v, settings, net, sources)


def network_verdict_rows(v, settings, net: pd.DataFrame, sources: pd.DataFrame | None = None) -> None:
    """Section 5: each deeper network against the next shallower one, trained whole and frozen; a pair with a source
    model below ``source_min_acc`` is "not comparable" (its weights learnt too little to speak for the architecture)."""
    pct = dict(scale=100, digits=1)
    acc = _test_accuracies
    order = [NETWORK_LABELS[n] for n in settings.networks]
    for freeze, what in (("none", "all layers trained"), ("features", "convolutional layers frozen")):
        for shallow, deep in zip(order, order[1:]):
            rep = REPORTED["networks"]
            col = 0 if freeze == "none" else 1
            claim, reported = f"The deeper network does better: {deep} beats {shallow}, {what} (§5)", f"{rep[deep][col]:.2f} vs {rep[shallow][col]:.2f}"
            weak = [] if sources is None else sources[sources.network.isin([deep, shallow]) & ~sources.usable].network.tolist()
            if weak:
                v.inconclusive(claim, f"not comparable: the {' and '.join(weak)} source model{'s' if len(weak) > 1 else ''} "
                               f"reached less than {100 * settings.source_min_acc:g} % on its own task", reported=reported)
                continue
            v.compare(claim, acc(net, network=deep, freeze=freeze), acc(net, network=shallow, freeze=freeze),
                      reported=reported, names=(deep, shallow), **pct)


def _diverged(results) -> tuple[int, int]:
    return sum(bool(r.diverged) for _, r in results), len(results)


def explode_sentence(explode_results, settings, classes: int) -> str:
    """What became of each fine-tuning run at the scratch hyperparameters (diverged: why; else its test accuracy, and
    whether that is chance: a run can fail without a non-finite loss, its network stuck at guessing)."""
    if not explode_results:
        return ""
    k, n = _diverged(explode_results)
    chance = 1 / classes
    parts = []
    for lab, r in explode_results:
        if r.diverged:
            parts.append(f"seed {lab['seed']}: diverged ({_diverged_reason(r)})")
            continue
        acc = r.metrics["test_acc"]
        parts.append(f"seed {lab['seed']}: finished, {100 * acc:.1f} % test accuracy"
                     + (f" — chance level ({100 * chance:.1f} %): the loss did not explode but the network stopped "
                        "learning" if acc < 1.5 * chance else ""))
    return (f"**Fine-tuning at the scratch hyperparameters** ({row_label(settings.scratch_best)}, the report's §3.1 remark): "
            f"{k} of {n} runs diverged. " + "; ".join(parts) + ". A diverged run is stopped and counted, never kept "
            "as a result; the verdict row below compares the count with the runs at the fine-tuning rates above.")


def _diverged_reason(r) -> str:
    """The trainer's reason without the model prefix and the advice ("resnet18: training diverged: X. The run is ...")."""
    return str(r.reason or "diverged").split(": ")[-1].split(". The run is stopped")[0].split("; the run diverged")[0]


def loss_explodes_row(v, explode_results, transfer_results) -> None:
    """§3.1: the loss explodes when the pretrained network is fine-tuned at the scratch learning rate: Fisher's exact
    test of the diverged runs against those of section 3.1's fine-tuning rows."""
    claim = ("Fine-tuning with the scratch hyperparameters (lr 0.05) makes the loss explode: more of its runs diverge "
             "than at the report's fine-tuning rates (§3.1)")
    if not explode_results:
        v.not_run(claim, "no run at the scratch hyperparameters in this execution", reported="loss explodes after a few epochs")
        return
    v.rates(claim, _diverged(explode_results), _diverged(transfer_results), reported="loss explodes after a few epochs",
            names=("lr 0.05", "fine-tuning rates"))


# ---------------------------------------------------------------------------- explorers
def explorer_grid(plan: Plan) -> dict:
    s = plan.settings
    rows = [("from scratch", r) for r in dict.fromkeys((*s.scratch_rows, s.scratch_best))]
    rows += [("pretrained", r) for r in dict.fromkeys((*s.transfer_rows, s.transfer_best))]
    return {"run": [f"{kind}: {row_label(r)}" for kind, r in rows], "curve": ["accuracy", "loss"]}


def explorer_draw(results_by_label: dict, run: str, curve: str) -> Figure:
    """The static explorer's drawing: the curves of one row of the hyperparameter tables (seeds as a band)."""
    results = results_by_label[run]
    fig = Figure(figsize=(6.2, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if curve == "accuracy":
        hist = history_frame(results, "epoch")
        long = hist.melt(id_vars=["epoch", "seed"], value_vars=[c for c in ("train_eval_acc", "val_acc") if c in hist],
                         var_name="split", value_name="accuracy")
        long["split"] = long["split"].map({"train_eval_acc": "train", "val_acc": "validation"})
        report.curves(long, "epoch", "accuracy", hue="split", ax=ax)
        ax.set_ylim(0, 1)
    else:
        report.curves(history_frame(results, "step"), "step", "loss", ax=ax)
    test = report.mean_std([r.metrics["test_acc"] for _, r in results], digits=3)
    ax.set_title(f"{run}\ntest accuracy of the best-validation model: {test}", fontsize="medium")
    return fig


def results_by_label(scratch_results, transfer_results) -> dict:
    out: dict[str, list] = {}
    for kind, results in (("from scratch", scratch_results), ("pretrained", transfer_results)):
        for lab, r in results:
            out.setdefault(f"{kind}: {row_label(_row_key(lab))}", []).append((lab, r))
    return out


def live_draw(plan: Plan, runner, network: str = "alexnet", pretrained: bool = True, lr: float = 0.005, epochs: int = 20,
              step_size: int = 10, gamma: float = 0.1, freeze: str = "none", augmentation: str = "none", seed: int = 0) -> Figure:
    """The live explorer's drawing: trains (or reads from the run cache) any point through the chapter's runner."""
    aug = () if augmentation == "none" else (augmentation,)
    cfg = plan.run(network, (float(lr), int(epochs), int(step_size), float(gamma)), pretrained=bool(pretrained),
                   freeze=freeze, augment=aug, seed=int(seed))
    result = runner.one(cfg, section="live explorer")
    lab = {"network": network, "seed": int(seed)}
    fig = curves_figure(history_frame([(lab, result)], "step"), history_frame([(lab, result)], "epoch"),
                        f"{NETWORK_LABELS[network]}, {'pretrained' if pretrained else 'scratch'}, freeze={freeze}, "
                        f"augment={augmentation}: test accuracy {result.metrics['test_acc']:.3f}")
    return fig

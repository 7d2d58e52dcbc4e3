"""Tables, figures and verdicts of the DELTA chapter (the notebook only calls these)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from reprolib.core import models, report, runs
from reprolib.core.data import load as load_data

from . import analysis
from .channels import channel_weights_from_losses
from .finetune import DIFFERENCES, channel_losses, decay_epoch, delta_data, load_model, source_network
from .reported import PAPER, REPORT, REPORT_SETUP, REPORT_VERDICT
from .settings import METHOD_LABELS, SCHEDULE_LABELS, TABLE_ROWS

PCT = 100.0  # accuracies are shown in percent, as in the report


# ---------------------------------------------------------------------------- setup
def setup_text(settings) -> str:
    d = settings.section("data")
    f = settings.section("finetune")
    if d["weights"] == "imagenet":
        source = f"torchvision's ImageNet weights of {d['model']}"
        target = f"{d['dataset']} ({d['train_size'] or 'all'} training images)"
    else:
        names = load_data(d["dataset"], "test").classes
        rest = [names[i] for i in range(len(names)) if i not in d["classes"]]
        source = (f"a source model **pretrained by this project** on the {len(rest)} other {d['dataset']} classes "
                  f"({', '.join(rest)}; {d['source_train_size'] or 'all'} images, {d['source_epochs']} epochs) — **not ImageNet**")
        target = (f"**{', '.join(names[c] for c in d['classes'])}** of {d['dataset']} ({d['train_size']} training images, "
                  f"{d['test_size'] or 'all'} test images)")
    return (f"**Setup at profile `{settings.profile}`.** Network: `{d['model']}` (torchvision's `ResNet` class with "
            f"`Bottleneck` blocks). Source: {source}. Target task: {target}; images held at {d['image_size']} px, the network "
            f"sees {d['crop_size']} px crops. Fine-tuning: SGD lr {f['lr']:g}, momentum {f['momentum']:g}, batch "
            f"{f['batch_size']}, {f['epochs']} epochs, α = {f['alpha']:g}, β = {f['beta']:g}. Seeds {list(settings.seeds)} "
            f"(n = {len(settings.seeds)} runs per setting; the report ran 5). Equivalence margin ±{settings.margin:g} points.")


def hooked_shapes(model_name: str, crop_size: int) -> list[tuple[str, int, int, int]]:
    """(layer, channels, height, width) of the hooked maps of ``model_name`` at ``crop_size`` px (one dummy forward)."""
    from .channels import hooked_layers

    net = models.build(model_name, num_classes=2, in_channels=3)
    layers = hooked_layers(net)
    maps = analysis.feature_maps(net, layers, torch.zeros(1, 3, crop_size, crop_size))
    return [(name, m.shape[1], m.shape[2], m.shape[3]) for name, m in zip(layers, maps)]


#: ResNet-101 at 224 px, the paper's hooked maps (methods of the original train.py): channels, side
_PAPER_MAPS = ((256, 56), (512, 28), (1024, 14), (2048, 7))
_PAPER_BATCH = 64


def scale_text(settings) -> str:
    """How this profile's scale relates to the paper's, computed from the settings: the network, the hooked maps and
    the per-element strength of DELTA's term (B·C/(H·W), since it sums over the batch and channels and divides by H·W)."""
    d, f = settings.section("data"), settings.section("finetune")
    shapes = hooked_shapes(d["model"], d["crop_size"])
    b = f["batch_size"]
    ours = ", ".join(f"{b * c / (h * w):,.0f}" for _, c, h, w in shapes)
    paper = ", ".join(f"{_PAPER_BATCH * c / (s * s):,.0f}" for c, s in _PAPER_MAPS)
    steps = -(-d["train_size"] // b) if d["train_size"] else None
    maps = ", ".join(f"{c}×{h}²" for _, c, h, _ in shapes)
    return (f"**Scale at `{settings.profile}`.** `{d['model']}` on {d['crop_size']} px crops of images held at {d['image_size']} px: "
            f"the hooked `conv3` maps are {maps} (ResNet-101 at 224 px: "
            + ", ".join(f"{c}×{s}²" for c, s in _PAPER_MAPS) + f"). With batch {b}, B·C/(H·W) of the four layers — how strongly "
            f"α weighs each map element, since DELTA's term is a sum over the batch and the channels divided by H·W — is {ours} "
            f"(the paper's batch 64 at 224 px: {paper}). Fine-tuning runs {f['epochs']} epochs"
            + (f" of {steps} batches ({f['epochs'] * steps:,} iterations; the paper: 9,000 of 64)" if steps else "") + ".")


def differences_table() -> pd.DataFrame:
    return pd.DataFrame({"deliberate difference from the original code": DIFFERENCES})


# ---------------------------------------------------------------------------- runs as frames
def train_all(runner, plan) -> tuple[list, dict[str, list]]:
    """Every run of the chapter in one call, so that they train side by side (upstream runs first, each as soon as
    what it reads is done): (channel-evaluation results, ``{group: [(labels, result)]}`` of :meth:`Plan.groups`)."""
    groups = plan.groups()
    results = runner.grouped({"channel evaluation": plan.channel_configs(), **{k: [c for _, c in v] for k, v in groups.items()}},
                             section="training (all runs side by side)")
    channel_results = results.pop("channel evaluation")
    return channel_results, {k: [(lab, r) for (lab, _), r in zip(groups[k], results[k])] for k in groups}


def finished(results) -> list:
    """The ``(labels, result)`` pairs whose run finished (a diverged run has no weights and no result)."""
    return [(lab, r) for lab, r in results if not r.diverged]


def results_frame(results) -> pd.DataFrame:
    """One row per run: its labels and its final numbers (accuracies in %); NaN for a diverged run, which every
    summary and test then leaves out (the n shown counts the finished runs)."""
    nan = float("nan")
    rows = []
    for lab, r in results:
        m = {} if r.diverged else r.metrics
        rows.append({**lab, "test_acc": PCT * m.get("test_acc", nan), "last_epoch_train_acc": PCT * m.get("last_epoch_train_acc", nan),
                     "last_epoch_test_acc": PCT * m.get("last_epoch_test_acc", nan), "seconds": m.get("train_seconds", nan),
                     "end_cross_entropy": m.get("end_cross_entropy", nan), "end_feature_term": m.get("end_feature_term", nan),
                     "end_classifier_term": m.get("end_classifier_term", nan), "diverged": r.diverged, "cached": r.cached})
    return pd.DataFrame(rows)


_LABEL_FORMAT = {"row": str, "schedule": lambda s: SCHEDULE_LABELS.get(s, s), "alpha": lambda a: f"α = {a:g}",
                 "seed": lambda x: f"seed {int(x)}"}


def diverged_note(*frames: pd.DataFrame) -> str:
    """A sentence naming the diverged runs (empty when none diverged)."""
    d = pd.concat(frames, ignore_index=True)
    d = d[d.diverged]
    if d.empty:
        return ""
    def label(row) -> str:  # the labels a run has (the groups label different things: row, schedule, α)
        parts = {k: row[k] for k in ("method", "row", "schedule", "alpha", "seed") if k in row and pd.notna(row[k])}
        name = METHOD_LABELS.get(parts.pop("method", ""), "")
        return f"{name} ({', '.join(_LABEL_FORMAT[k](v) for k, v in parts.items())})"

    labels = [label(row) for _, row in d.iterrows()]
    return (f"**{len(labels)} run(s) diverged** and are left out of every mean, curve and test (n counts the finished runs): "
            + "; ".join(labels) + ".")


def history_frame(results) -> pd.DataFrame:
    """Per-epoch train and test accuracy (%) of every run, long form: one row per run, epoch and split."""
    parts = [report.history_frame([r], "epoch", one_based=True, **lab) for lab, r in results]
    df = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    long = df.melt(id_vars=[c for c in df.columns if c not in ("train_acc", "test_acc")], value_vars=["train_acc", "test_acc"],
                   var_name="split", value_name="accuracy")
    long["split"] = long["split"].str.replace("_acc", "", regex=False)
    long["accuracy"] *= PCT
    long["method"] = long["method"].map(METHOD_LABELS)
    return long


# ---------------------------------------------------------------------------- channel weights
def channel_weight_frame(channel_results) -> pd.DataFrame:
    """c · w_c of every hooked channel (c·w has mean 1 per layer), per channel-evaluation run."""
    rows = []
    for r in channel_results:
        for name, d in zip(r.metrics["layers"], channel_losses(r)):
            w = channel_weights_from_losses(d).numpy()
            rows += [{"transforms": r.config.transforms, "layer": name, "channel": j, "loss increase": float(d[j]),
                      "c·w": len(w) * float(w[j])} for j in range(len(w))]
    return pd.DataFrame(rows)


def channel_weight_summary(weights: pd.DataFrame) -> str:
    """Per layer (the first transforms mode): the range of c·w and the share of channels above twice the mean."""
    d = weights[weights.transforms == weights.transforms.iloc[0]]
    parts = [f"{name}: c·w from {g['c·w'].min():.2g} to {g['c·w'].max():.2g}, {100 * (g['c·w'] > 2).mean():.0f} % of "
             "channels above 2" for name, g in d.groupby("layer", sort=False)]
    return f"**Channel weights ({d.transforms.iloc[0]} transforms).** " + "; ".join(parts) + "."


def channel_table(channel_results) -> pd.DataFrame:
    rows = []
    for r in channel_results:
        m = r.metrics
        rows.append({"channel evaluation on": f"{r.config.transforms} transforms", "head warm-up: train acc (%)": PCT * m["warmup_train_acc"],
                     "head warm-up: test acc (%)": PCT * m["warmup_test_acc"], "channels per layer": ", ".join(map(str, m["channels"])),
                     "minutes": m.get("wall_seconds", float("nan")) / 60})
    return pd.DataFrame(rows)


def channel_weights_figure(weights: pd.DataFrame):
    layers = list(dict.fromkeys(weights.layer))
    fig, axes = plt.subplots(1, len(layers), figsize=(3.4 * len(layers), 3.2), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), layers):
        d = weights[weights.layer == name]
        sns.histplot(d, x="c·w", hue="transforms", log_scale=True, element="step", fill=False, ax=ax, bins=20, common_norm=False,
                     stat="density")
        ax.axvline(1.0, ls=":", color="grey")
        ax.set_title(f"{name} ({d.channel.nunique()} ch.)", fontsize="small")
    fig.suptitle("Channel weights c·w_c (1 = the mean of a layer)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- Figure 1
def figure1(hist: pd.DataFrame):
    """Top-1 train and test accuracy over training, L2-SP vs DELTA, per schedule; mean ± std over seeds."""
    schedules = list(dict.fromkeys(hist.schedule))
    fig, axes = plt.subplots(1, len(schedules), figsize=(6.5 * len(schedules), 4.2), sharey=True, squeeze=False)
    for ax, sch in zip(axes[0], schedules):
        d = hist[hist.schedule == sch]
        sns.lineplot(d, x="epoch", y="accuracy", hue="method", style="split", errorbar="sd", ax=ax,
                     marker="o" if d.epoch.nunique() < 30 else None, markersize=4)
        ax.set_title(f"{SCHEDULE_LABELS.get(sch, sch)} (n = {d.seed.nunique()} seeds, mean ± std)")
        ax.set_ylabel("top-1 accuracy (%)")
    fig.tight_layout()
    return fig


def final_frame(df: pd.DataFrame, keys=("method",)) -> pd.DataFrame:
    """mean ± std (n) of the final train and test accuracy per group."""
    rows = []
    for key, d in df.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "final train acc (%)": report.mean_std(d.last_epoch_train_acc, digits=1),
                     "final test acc (%)": report.mean_std(d.test_acc, digits=2),
                     "train − test gap": report.mean_std(d.last_epoch_train_acc - d.last_epoch_test_acc, digits=1)})
    out = pd.DataFrame(rows)
    if "method" in out:
        out["method"] = out["method"].map(METHOD_LABELS)
    if "schedule" in out:
        out["schedule"] = out["schedule"].map(SCHEDULE_LABELS)
    return out


def _acc(d: pd.DataFrame, method: str, column: str = "test_acc") -> list[float]:
    """The finite per-seed values of one method in ``d`` (a diverged run's NaN left out)."""
    return [x for x in d[d.method == method][column] if np.isfinite(x)]


def late_gains(hist: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per run: test accuracy at the last epoch minus that at 2/3 of training (the STEP-LR drop), in points."""
    test = hist[hist.split == "test"]
    mark = decay_epoch(epochs)
    rows = []
    for key, d in test.groupby(["schedule", "method", "seed"]):
        at = d.set_index("epoch").accuracy
        if mark in at.index and epochs in at.index:
            rows.append(dict(zip(("schedule", "method", "seed"), key), gain=float(at[epochs] - at[mark])))
    return pd.DataFrame(rows, columns=["schedule", "method", "seed", "gain"])


def figure1_verdicts(v, settings, fig1: pd.DataFrame, hist: pd.DataFrame) -> None:
    """Figure 1's claims per schedule: DELTA ends higher, overfits less; and the report's remark that L2-SP's
    trajectory was still rising (it might overtake with more training)."""
    epochs = settings["finetune.epochs"]
    gains = late_gains(hist, epochs)
    for sch in settings.schedules:
        d = fig1[fig1.schedule == sch]
        v.compare(f"DELTA's final test accuracy beats L2-SP's under {SCHEDULE_LABELS[sch]} (paper Fig. 1; report §3)",
                  _acc(d, "delta"), _acc(d, "l2_sp"), reported="DELTA above L2-SP", margin=settings.margin, names=("DELTA", "L2-SP"))
        gap = {m: list((d[d.method == m].last_epoch_train_acc - d[d.method == m].last_epoch_test_acc).dropna()) for m in ("l2_sp", "delta")}
        v.compare(f"DELTA overfits less than L2-SP: smaller train − test gap at the end, {SCHEDULE_LABELS[sch]} "
                  "(our reading of Fig. 1)", gap["l2_sp"], gap["delta"], reported="DELTA's curves closer together",
                  margin=settings.margin, names=("L2-SP gap", "DELTA gap"))
        claim = (f"L2-SP's test accuracy is still rising at the end more than DELTA's, {SCHEDULE_LABELS[sch]} (report §3: "
                 "'its trajectory implies' it may overtake; gain from 2/3 of training to the end)")
        if decay_epoch(epochs) >= epochs:
            v.inconclusive(claim, f"training ends at the decay epoch ({epochs} epochs): no epoch after it to measure a gain",
                           reported="L2-SP still rising", n=0)
            continue
        g = gains[gains.schedule == sch]
        v.compare(claim, list(g[g.method == "L2-SP"].gain), list(g[g.method == "DELTA"].gain), reported="L2-SP still rising",
                  margin=settings.margin, names=("L2-SP", "DELTA"))


# ---------------------------------------------------------------------------- Tables 1 and 2
def comparison_table(settings, table: pd.DataFrame, baseline: pd.DataFrame, v) -> pd.DataFrame:
    """The report's table — paper, report and ours side by side — with Welch's test and TOST on DELTA vs L2-SP per row.

    Adds one verdict row per table row to ``v`` (the central question of the chapter), and the paper's
    claims that both regularisers beat plain fine-tuning.
    """
    rows = []
    margin = settings.margin
    for row in TABLE_ROWS:
        d = table[table.row == row]
        delta, l2sp = _acc(d, "delta"), _acc(d, "l2_sp")
        welch = report.welch(delta, l2sp, "greater")
        eq = report.tost(delta, l2sp, margin)
        verdict = v.compare(f"DELTA beats L2-SP, {row} (paper Tables 1-2; the report's central question)", delta, l2sp,
                            reported=f"paper {PAPER[row]['delta'] or '—'} vs {PAPER[row]['l2_sp'] or '—'}; "
                                     f"report {REPORT[row]['delta'] or '—'} vs {REPORT[row]['l2_sp'] or '—'}",
                            margin=margin, names=("DELTA", "L2-SP"))
        rows.append({"row": row, "paper L2-SP": PAPER[row]["l2_sp"] or "—", "paper DELTA": PAPER[row]["delta"] or "—",
                     "report L2-SP": REPORT[row]["l2_sp"] or "—", "report DELTA": REPORT[row]["delta"] or "—",
                     "ours L2-SP": report.mean_std(l2sp, digits=2), "ours DELTA": report.mean_std(delta, digits=2),
                     "ours DELTA − L2-SP": f"{np.mean(delta) - np.mean(l2sp):+.2f}" if delta and l2sp else "—",
                     "Welch p (DELTA > L2-SP)": _p(welch["p"]), f"TOST p (±{margin:g})": _p(eq["p"]),
                     "verdict": verdict.label})
    base = [x for x in baseline.test_acc if np.isfinite(x)]
    if len(baseline):
        rows.append({"row": "without AUG: plain fine-tuning (L2, weight decay 1e-4)", "ours L2-SP": report.mean_std(base, digits=2),
                     "paper L2-SP": "—", "paper DELTA": "—", "report L2-SP": "—", "report DELTA": "—", "ours DELTA": "—",
                     "ours DELTA − L2-SP": "—", "Welch p (DELTA > L2-SP)": "—", f"TOST p (±{margin:g})": "—", "verdict": "reference"})
        d = table[table.row == "without AUG"]
        for m in ("l2_sp", "delta"):
            v.compare(f"{METHOD_LABELS[m]} beats plain fine-tuning (L2), without AUG (paper Table 1)",
                      _acc(d, m), base, reported=f"{METHOD_LABELS[m]} above L2", margin=margin, names=(METHOD_LABELS[m], "L2"))
    return pd.DataFrame(rows)


def _p(p: float) -> str:
    return "—" if p != p else (f"{p:.3f}" if p >= 1e-3 else f"{p:.1e}")


def central_answer(settings, table: pd.DataFrame) -> str:
    """The chapter's answer to the report's question, in words, from the same tests as the table."""
    parts = []
    for row in TABLE_ROWS:
        d = table[table.row == row]
        delta, l2sp = _acc(d, "delta"), _acc(d, "l2_sp")
        v = report.verdict(delta, l2sp, "greater", settings.margin)  # accuracies and margin in points
        diff = np.mean(delta) - np.mean(l2sp) if delta and l2sp else float("nan")
        word = {"reproduced": "DELTA is better, and the difference is statistically real",
                "not reproduced": "L2-SP is better: the opposite of the paper's claim",
                "equivalent": f"the two are equivalent within ±{settings.margin:g} points",
                "inconclusive": "the runs cannot decide"}[v.label]
        parts.append(f"*{row}*: DELTA − L2-SP = {diff:+.2f} points, n = {len(delta)} vs {len(l2sp)} — {word} "
                     f"({v.test}).")
    return ("**Is DELTA's advantage over L2-SP statistically real? At this scale:** " + " ".join(parts)
            + " The report's own conclusions: " + "; ".join(f"{k}: {v}" for k, v in REPORT_VERDICT.items()) + ".")


def absolute_deviations(values) -> list[float]:
    """|x − median| of each value: Welch's test on these compares the spreads of two groups (Brown & Forsythe, 1974)."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return list(np.abs(x - np.median(x))) if len(x) else []


def spread_compare(v, claim: str, a, b, *, reported: str, names: tuple[str, str]):
    """The Brown–Forsythe test that ``a`` varies more than ``b`` (Welch on :func:`absolute_deviations`). It needs
    n ≥ 3 per group: with two runs both deviations equal half their range, a zero-variance group no test can use."""
    a, b = [x for x in a if np.isfinite(x)], [x for x in b if np.isfinite(x)]
    if min(len(a), len(b)) < 3:
        return v.inconclusive(claim, f"n = {len(a)}, {len(b)}: comparing spreads needs n ≥ 3 per group (Brown–Forsythe)",
                              reported=reported, ours=f"std {_std(a)} vs {_std(b)}", n=f"{len(a)} vs {len(b)}")
    return v.compare(claim, absolute_deviations(a), absolute_deviations(b), reported=reported, names=names)


def spread_and_augmentation_verdicts(v, settings, table: pd.DataFrame) -> pd.DataFrame:
    """The report's remarks beside Tables 1-2, each tested: DELTA's runs vary more than L2-SP's (Brown–Forsythe:
    Welch's test on the absolute deviations from each group's median); augmenting the channel evaluation lowers
    DELTA's spread; augmentation raises both methods' accuracy (Table 2 over Table 1)."""
    rows = []
    by = {(row, m): _acc(table[table.row == row], m) for row in TABLE_ROWS for m in ("l2_sp", "delta")}
    for row in ("without AUG", "with AUG"):
        verdict = spread_compare(v, f"DELTA's accuracies vary more than L2-SP's, {row} (report §3: "
                                 f"±{REPORT[row]['delta'].split('± ')[1]} vs ±{REPORT[row]['l2_sp'].split('± ')[1]})",
                                 by[row, "delta"], by[row, "l2_sp"], reported=f"{REPORT[row]['delta']} vs {REPORT[row]['l2_sp']}",
                                 names=("DELTA |x − median|", "L2-SP"))
        rows.append({"claim": f"DELTA varies more than L2-SP, {row}", "DELTA std": _std(by[row, "delta"]),
                     "other std": f"L2-SP {_std(by[row, 'l2_sp'])}", "verdict": verdict.label})
    aug, aug_ch = "with AUG", "with AUG (channel evaluation augmented)"
    verdict = spread_compare(v, "Augmenting the channel evaluation lowers DELTA's spread (report §3: ±0.6 vs ±1)",
                             by[aug, "delta"], by[aug_ch, "delta"], reported=f"{REPORT[aug_ch]['delta']} vs {REPORT[aug]['delta']}",
                             names=("channel eval. not augmented |x − median|", "augmented"))
    rows.append({"claim": "augmented channel evaluation: DELTA varies less", "DELTA std": _std(by[aug_ch, "delta"]),
                 "other std": f"DELTA, channel eval. not augmented {_std(by[aug, 'delta'])}", "verdict": verdict.label})
    for m in ("l2_sp", "delta"):
        verdict = v.compare(f"Augmentation raises {METHOD_LABELS[m]}'s accuracy (paper Table 2 over Table 1)", by[aug, m],
                            by["without AUG", m], reported=f"paper {PAPER[aug][m]} vs {PAPER['without AUG'][m]}; "
                            f"report {REPORT[aug][m]} vs {REPORT['without AUG'][m]}", margin=settings.margin,
                            names=("with AUG", "without"))
        rows.append({"claim": f"augmentation raises {METHOD_LABELS[m]}", "DELTA std": "",
                     "other std": f"{report.mean_std(by[aug, m])} vs {report.mean_std(by['without AUG', m])}", "verdict": verdict.label})
    return pd.DataFrame(rows)


def _std(values) -> str:
    return f"{np.std(values, ddof=1):.2f} (n={len(values)})" if len(values) > 1 else "—"


def alpha_verdict(v, alpha_results, settings) -> None:
    """The report's guess that tuning α (the paper cross-validated it) would help DELTA: the grid has one seed per α,
    which shows but cannot test it."""
    groups: dict = {}
    for lab, r in alpha_results:
        if lab["method"] == "delta":
            groups.setdefault(lab["alpha"], []).append(r)
    best = report.best_setting(groups, metric="test_acc")
    ours = "every DELTA run of the grid diverged" if best is None else (
        f"best α of {list(settings.alphas)} for DELTA: {best:g} ({100 * report.values(groups[best])[0]:.1f} %; "
        f"α = {settings['finetune.alpha']:g} is the default)")
    v.inconclusive("Tuning α would improve DELTA and lower its spread (report §3, a conjecture)",
                   "one seed per α (the explorer's grid): it shows the trend, no test can decide", reported="conjecture",
                   ours=ours, n=1)


def not_run_rows(v) -> None:
    """Claims of the paper this chapter, like the report, does not run."""
    v.not_run("DELTA's activations on 15 discriminative parts of CUB-200-2011 are higher than other methods' (paper Table 3)",
              "needs CUB-200-2011 part annotations; the report left it out too (§5)", reported="paper Table 3")


def aug_history_figure(hist: pd.DataFrame):
    """Accuracy over training with augmentation (the report's Figure 1b/2): L2-SP, DELTA, DELTA with augmented channel evaluation."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    d = hist.copy()
    d["setting"] = d["method"] + np.where(d["row"].str.contains("channel"), " (channel eval. augmented)", "")
    sns.lineplot(d, x="epoch", y="accuracy", hue="setting", style="split", errorbar="sd", ax=ax, marker="o", markersize=4)
    ax.set_title(f"With augmentation, STEP-LR (n = {d.seed.nunique()} seeds; test curve: centre crop)")
    ax.set_ylabel("top-1 accuracy (%)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- Figure 3
_SOURCES: dict = {}


def _source(cfg):
    """The source network of a run (read once per source: every run of the chapter shares it)."""
    key = cfg.source_config() if cfg.weights == "source" else (cfg.weights, cfg.model)
    if key not in _SOURCES:
        _SOURCES[key] = source_network(cfg)
    return _SOURCES[key]


def _start_parameters(cfg) -> dict:
    """w⁰: the source's parameters outside the head (BN running statistics are buffers, not parameters)."""
    net = _source(cfg)
    heads = tuple(h + "." for h in models.head_names(net))
    return {k: v.detach() for k, v in net.named_parameters() if not k.startswith(heads)}


def run_names(results) -> list[str]:
    """``experiment/key`` of every ``(labels, result)``: what a cached figure is drawn from."""
    return [_run_name(r) for _, r in results]


NO_FINISHED_PAIR = ("**No activation maps:** no seed has both an L2-SP and a DELTA run that finished (see the diverged "
                    "runs above), so there is no pair to draw; a diverged run is never shown as a result.")


def first_finished_pair(results) -> dict | None:
    """``{method: result}`` of L2-SP and DELTA at the first seed where both finished (the activation maps' runs);
    ``None`` when no seed has both (the page then says so instead of drawing)."""
    by_seed: dict = {}
    for lab, r in finished(results):
        by_seed.setdefault(lab["seed"], {})[lab["method"]] = r
    for seed in sorted(by_seed):
        if {"l2_sp", "delta"} <= set(by_seed[seed]):
            return {m: by_seed[seed][m] for m in ("l2_sp", "delta")}
    return None


def _run_name(result) -> str:
    """``experiment/key`` of a run: what a derived array is computed from (independent of where the cache lives)."""
    return f"{result.config.EXPERIMENT}/{result.path.name}"


def run_distances(result) -> dict[str, np.ndarray]:
    """``{"channels:<stage>": per-channel distances, "stage:<stage>": the stage's distance}`` of one finished run,
    from its saved weights and its starting point (computed once, then read from the run cache)."""
    def compute():
        start, state = _start_parameters(result.config), result.load_state()
        out = {f"channels:{k}": v for k, v in analysis.channel_distances(state, start).items()}
        out.update({f"stage:{k}": np.asarray(v) for k, v in analysis.stage_distances(state, start).items()})
        return out

    return runs.memo("delta_distances", _run_name(result), compute)


def distance_frames(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-channel distances, per-stage distances) of every finished run."""
    channel_rows, stage_rows = [], []
    for lab, r in finished(results):
        arrays = run_distances(r)
        for stage in analysis.STAGES:
            name = analysis.STAGE_NAMES[stage]
            channel_rows += [{**lab, "stage": name, "distance": float(x)} for x in arrays[f"channels:{stage}"]]
            stage_rows.append({**lab, "stage": name, "distance": float(arrays[f"stage:{stage}"])})
    ch, st = pd.DataFrame(channel_rows), pd.DataFrame(stage_rows)
    for df in (ch, st):
        df["method"] = df["method"].map(METHOD_LABELS)
    return ch, st


def figure3(channels: pd.DataFrame):
    """The paper's Figure 3: per stage, the distribution of the channels' distances, DELTA vs L2-SP, on a log scale
    (a channel that did not move at all, distance 0, cannot be drawn there: the title counts them)."""
    moved = channels[channels.distance > 0]
    still = len(channels) - len(moved)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    sns.violinplot(moved, x="stage", y="distance", hue="method", split=True, inner="quart", cut=0, log_scale=True, ax=ax,
                   density_norm="width")
    ax.set_title(f"Distance of each channel's filter from the starting point (all {channels.seed.nunique()} seeds pooled)"
                 + (f"\n{still} channel(s) with distance 0 not drawn on the log scale" if still else ""))
    ax.set_ylabel("‖w_c − w⁰_c‖₂ (log scale)")
    fig.tight_layout()
    return fig


def distance_table(stages: pd.DataFrame, v, settings) -> pd.DataFrame:
    rows = []
    for stage, d in stages.groupby("stage", sort=False):
        delta, l2sp = list(d[d.method == "DELTA"].distance), list(d[d.method == "L2-SP"].distance)
        verdict = v.compare(f"DELTA's {stage} parameters move further from the start than L2-SP's (paper Fig. 3)", delta, l2sp,
                            reported="DELTA constrains behaviour, not weights", digits=3, names=("DELTA", "L2-SP"))
        rows.append({"stage": stage, "L2-SP": report.mean_std(l2sp, digits=3), "DELTA": report.mean_std(delta, digits=3),
                     "DELTA / L2-SP": f"{np.mean(delta) / np.mean(l2sp):.2f}", "verdict": verdict.label})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- feature maps
_PROBES: dict = {}


def probe_images(cfg, n: int) -> torch.Tensor:
    """The first ``n`` images of the run's test subset as the network sees them (one view, normalised; read once)."""
    from reprolib.core.views import center_crop

    key = (cfg.channel_config(), cfg.transforms, n)  # the data fields of the run, whatever its method and seed
    if key not in _PROBES:
        _, test = delta_data(cfg)
        x = test.normalized(torch.arange(min(n, len(test))))
        _PROBES[key] = center_crop(x, cfg.crop_size) if x.shape[-1] != cfg.crop_size else x
    return _PROBES[key]


def run_map_changes(result, layers, n_images: int) -> list[np.ndarray]:
    """Per hooked layer, per channel: how far the run's feature maps on the first ``n_images`` test images moved
    from the source's (:func:`.analysis.map_changes`; computed once, then read from the run cache)."""
    def compute():
        changes = analysis.map_changes(load_model(result), _source(result.config), layers, probe_images(result.config, n_images))
        return {f"{i}": c for i, c in enumerate(changes)}

    arrays = runs.memo("delta_map_changes", f"{_run_name(result)}|{'|'.join(layers)}|{n_images}|silent<{analysis.SILENT:g}", compute)
    return [arrays[f"{i}"] for i in range(len(layers))]


def map_change_frame(results, channel_result, settings) -> pd.DataFrame:
    """Per finished run, layer and channel: the relative change of its feature map from the source's, with its weight c·w."""
    weights = [len(d) * channel_weights_from_losses(d).numpy() for d in channel_losses(channel_result)]
    layers = channel_result.metrics["layers"]
    rows = []
    for lab, r in finished(results):
        for name, cw, change in zip(layers, weights, run_map_changes(r, layers, settings.probe_images)):
            order = np.argsort(np.argsort(cw)) / max(len(cw) - 1, 1)  # weight rank within the layer, 0..1
            rows += [{**lab, "layer": name, "channel": j, "c·w": float(cw[j]), "weight rank": float(order[j]),
                      "relative change": float(change[j])} for j in range(len(cw))]
    df = pd.DataFrame(rows)
    df["method"] = df["method"].map(METHOD_LABELS)
    return df


def map_change_figure(df: pd.DataFrame):
    layers = list(dict.fromkeys(df.layer))
    fig, axes = plt.subplots(1, len(layers), figsize=(3.4 * len(layers), 3.3), sharey=True)
    seed0 = df[df.seed == df.seed.min()]
    for ax, name in zip(np.atleast_1d(axes), layers):
        sns.scatterplot(seed0[seed0.layer == name], x="c·w", y="relative change", hue="method", s=10, alpha=0.6, ax=ax,
                        legend=name == layers[-1])
        ax.set(xscale="log", yscale="log", title=name)
    silent = int(seed0["relative change"].isna().sum())
    fig.suptitle("How far each channel's feature map moved from the source's, against its DELTA weight (first seed, test images)"
                 + (f"; {silent} channel(s) silent in the source, no relative change, not drawn" if silent else ""))
    fig.tight_layout()
    return fig


def quartile_changes(df: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean relative change of the top-quartile and of the bottom-quartile weighted channels (all layers)."""
    top = df[df["weight rank"] >= 0.75].groupby(["method", "seed"])["relative change"].mean().rename("high-weight channels")
    low = df[df["weight rank"] <= 0.25].groupby(["method", "seed"])["relative change"].mean().rename("low-weight channels")
    return pd.concat([top, low], axis=1).reset_index()


def map_change_verdicts(v, q: pd.DataFrame, settings) -> pd.DataFrame:
    d, l = q[q.method == "DELTA"], q[q.method == "L2-SP"]
    v.compare("DELTA keeps its high-weight channels' feature maps closer to the source than L2-SP (paper §3: attention)",
              list(d["high-weight channels"]), list(l["high-weight channels"]), how="less",
              reported="the attended channels are preserved", digits=3, names=("DELTA", "L2-SP"))
    v.compare("Under DELTA the low-weight channels change more than the high-weight ones (paper §3: channel re-use)",
              list(d["low-weight channels"]), list(d["high-weight channels"]), reported="unactivated channels are re-used",
              digits=3, names=("low", "high"))
    return pd.DataFrame([{"method": m, "high-weight channels": report.mean_std(g["high-weight channels"], digits=3),
                          "low-weight channels": report.mean_std(g["low-weight channels"], digits=3)} for m, g in q.groupby("method")])


def activation_figure(by_method: dict, channel_result, layer_index: int = 1, n_images: int = 4):
    """The same test images through the source, L2-SP and DELTA (``{method: finished run}``): the highest- and the
    lowest-weight channel of one layer."""
    any_run = next(iter(by_method.values()))
    name = channel_result.metrics["layers"][layer_index]
    w = channel_weights_from_losses(channel_losses(channel_result)[layer_index])
    hi, lo = int(torch.argmax(w)), int(torch.argmin(w))
    images = probe_images(any_run.config, n_images)
    nets = {"source": _source(any_run.config), **{METHOD_LABELS[m]: load_model(r) for m, r in by_method.items()}}
    maps = {k: analysis.feature_maps(net, [name], images)[0] for k, net in nets.items()}
    rows = [("input", None)] + [(k, hi) for k in nets] + [(k, lo) for k in nets]
    fig, axes = plt.subplots(len(rows), n_images, figsize=(1.5 * n_images + 1.5, 1.45 * len(rows)), squeeze=False)
    c = len(w)
    for i, (key, ch) in enumerate(rows):
        for j in range(n_images):
            ax = axes[i, j]
            if ch is None:
                ax.imshow(images[j].mean(0), cmap="gray")
            else:
                lim = max(float(maps[k][:, ch].abs().max()) for k in nets)
                ax.imshow(maps[key][j, ch], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                label = "input" if ch is None else f"{key}\nch {ch} (c·w={c * float(w[ch]):.2g})"
                ax.set_ylabel(label, fontsize="x-small", rotation=0, ha="right", va="center")
    fig.suptitle(f"{name}: highest-weight channel (rows 2-4) and lowest-weight channel (rows 5-7)", fontsize="small")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- α explorer
def alpha_frame(alpha_results) -> pd.DataFrame:
    df = results_frame(alpha_results)
    df["method"] = df["method"].map(METHOD_LABELS)
    return df


def alpha_draw(hist: pd.DataFrame, summary: pd.DataFrame, alpha: float, method: str):
    """One α of the explorer: that run's curves (left) and every α's final test accuracy (right)."""
    label = METHOD_LABELS.get(method, method)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    d = hist[(hist.method == label) & (np.isclose(hist.alpha, alpha))] if len(hist) else hist
    if len(d):
        sns.lineplot(d, x="epoch", y="accuracy", style="split", ax=a1, color="C1" if label == "DELTA" else "C0", marker="o", markersize=4)
    else:
        a1.text(0.5, 0.5, "this run diverged: no curve", ha="center", transform=a1.transAxes)
    a1.set(ylabel="top-1 accuracy (%)", title=f"{label}, α = {alpha:g}")
    s = summary[np.isclose(summary.alpha, alpha) & (summary.method == label) & ~summary.diverged]
    if len(s):
        r = s.iloc[0]
        a1.text(0.02, 0.04, f"final test {r.test_acc:.2f} %\nat the end: CE {r.end_cross_entropy:.3g}, "
                f"α·Ω {r.end_feature_term:.3g}, β·Ω_cls {r.end_classifier_term:.3g}", transform=a1.transAxes, fontsize="x-small")
    sns.lineplot(summary, x="alpha", y="test_acc", hue="method", marker="o", ax=a2, hue_order=["L2-SP", "DELTA"])
    if len(s):
        a2.scatter([alpha], [s.test_acc.iloc[0]], s=160, facecolors="none", edgecolors="k", zorder=5)
    a2.set(xscale="log", ylabel="final test accuracy (%)", xlabel="α", title="all α (first seed)")
    fig.tight_layout()
    return fig


def live_draw(runner, plan, method: str = "delta", alpha: float = 0.01, schedule: str = "steplr", row: str = "without AUG",
              seed: int = 0):
    """The live explorer: trains (or reads) the run for any α, schedule, table row and seed, and draws its curves."""
    cfg = plan.run(method, schedule=schedule, row=row, seed=int(seed), alpha=float(alpha))
    r = runner.one(cfg, section="live explorer")
    lab = {"method": method, "alpha": float(alpha), "seed": int(seed)}
    hist = history_frame([(lab, r)])
    return alpha_draw(hist, alpha_frame([(lab, r)]), float(alpha), method)


__all__ = ["run_names", "first_finished_pair", "NO_FINISHED_PAIR", "setup_text", "hooked_shapes", "scale_text", "differences_table", "train_all", "finished", "diverged_note", "results_frame", "history_frame", "channel_weight_frame", "channel_table",
           "channel_weights_figure", "channel_weight_summary", "figure1", "final_frame", "late_gains", "figure1_verdicts", "comparison_table", "central_answer",
           "absolute_deviations", "spread_compare", "spread_and_augmentation_verdicts", "alpha_verdict", "not_run_rows",
           "aug_history_figure", "distance_frames", "figure3", "distance_table", "map_change_frame", "map_change_figure",
           "quartile_changes", "map_change_verdicts", "activation_figure", "alpha_frame", "alpha_draw", "live_draw", "REPORT_SETUP"]

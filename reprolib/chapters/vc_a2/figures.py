"""Tables, figures and verdicts of the Visual Computing assignment 2 chapter (the notebook only calls these)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from reprolib.core import report, runs
from reprolib.core.supervised import predictions

from . import accuracy, optim2d
from .reported import REPORTED
from .settings import MODEL_LABELS

#: descent methods of Part 1: name → (β, Nesterov)
METHODS = {"GD": (0.0, False), "momentum": (0.9, False), "Nesterov": (0.9, True)}


# ---------------------------------------------------------------------------- runs
def results_table(results) -> pd.DataFrame:
    """One row per run: labels, best validation accuracy and its (1-based) epoch, test accuracy, time."""
    rows = []
    for lab, r in results:
        m = r.metrics
        rows.append({**lab, "best_val_acc": m["best_val_acc"], "best_epoch": m["best_epoch"] + 1,
                     "final_val_acc": m["final_val_acc"], "test_acc": m["test_acc"], "epochs": m["epochs_run"],
                     "train_seconds": m["train_seconds"], "wall_seconds": m.get("wall_seconds", float("nan")),
                     "n_train": m["n_train"], "n_val": m["n_val"], "n_test": m["n_test"], "cached": r.cached})
    return pd.DataFrame(rows)


def history_frame(results) -> pd.DataFrame:
    """Per-epoch curves in long form (epoch 1-based, as in the report's figures) for seaborn."""
    parts = [report.history_frame([r], "epoch", one_based=True, **lab) for lab, r in results]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def setup_text(settings, class_names) -> str:
    d = settings.section("data")
    pair = " vs ".join(class_names[c] for c in d["classes"])
    source = ("ImageNet weights (torchvision)" if settings.weights == "imagenet" else
              f"offline source models pretrained on the other {len(class_names) - len(d['classes'])} {d['dataset']} classes, NOT ImageNet")
    standin = "" if d["dataset"] == "cifar10" else "; these two Fashion-MNIST classes are the most similar pair, and the CPU can train on them"
    return (f"**Setup at profile `{settings.profile}`.** Data: **{d['dataset']}**, classes **{pair}** (the report used CIFAR-10 "
            f"cat vs dog{standin}). Training subset: {d['train_size'] or 'all'} images, 10 % of them held out for validation; "
            f"the test split of the two classes is reported too. Seeds: {list(settings.seeds)} (n = {len(settings.seeds)} per "
            f"setting). CNN: {settings['cnn.epochs']} epochs. Transfer: "
            f"{', '.join(f'{m} at {s} px' for m, s in settings.transfer.items())}, {settings['transfer.epochs']} epochs, from {source}.")


# ---------------------------------------------------------------------------- Part 1
def part1_sweep(settings) -> pd.DataFrame:
    """Every Part 1 descent (deterministic: computed once per setting and package version, then read back)."""
    s = settings
    grid = dict(functions=tuple(s.part1_functions), lrs=tuple(s.part1_lrs), betas=tuple(s.part1_betas),
                nesterov=tuple(s.part1_nesterov), epss=tuple(s.part1_epss), max_steps=s.part1_max_steps)

    def compute():
        sweep = optim2d.sweep(grid["functions"], lrs=grid["lrs"], betas=grid["betas"], nesterov=grid["nesterov"],
                              epss=grid["epss"], max_steps=grid["max_steps"])
        sweep["method"] = np.where(sweep.beta == 0, "GD", np.where(sweep.nesterov, "Nesterov", "momentum"))
        return sweep

    return runs.memo_frame("vc_a2_part1", repr(sorted(grid.items())), compute)


def part1_table(main: pd.DataFrame):
    table = (main.groupby(["function", "lr", "beta", "method"])
                 .agg(reached=("reached_global", "sum"), runs=("reached_global", "size"),
                      converged=("converged", "sum"), median_steps=("steps", "median"),
                      mean_final_value=("final_value", "mean"))
                 .reset_index())
    table["reached"] = table["reached"].astype(str) + "/" + table["runs"].astype(str)
    return table.drop(columns="runs").style.format({"mean_final_value": "{:.3g}", "median_steps": "{:.0f}"}).hide(axis="index")


def _best(df, key):
    g = df.groupby(key).agg(reached=("reached_global", "mean"), steps=("steps", "median"))
    g = g.sort_values(["reached", "steps"], ascending=[False, True])
    return g.index[0], g


def part1_verdicts(v, settings, sweep: pd.DataFrame) -> None:
    """Part 1's claims: deterministic descents (no seeds), so each is decided by a stated rule."""
    main = sweep[sweep.eps == 1.0]
    rule = "best = most starts reaching a global minimum, then fewest median steps (ε = 1)"
    for fn in settings.part1_functions:
        d = main[main.function == fn]
        lr_best, g = _best(d, "lr")
        v.check(f"Learning rate 10 works best ({fn}; §1.1)", lr_best == 10, reported="lr = 10",
                ours=f"lr = {lr_best:g} (reached: " + ", ".join(f"{k:g}: {x:.0%}" for k, x in g.reached.sort_index().items()) + ")",
                n=len(d), rule=rule)
        mom = d[d.beta > 0]
        if len(mom):
            b_best, g = _best(mom, "beta")
            v.check(f"β = 0.9 is the best trade-off ({fn}; §1.1)", b_best == 0.9, reported="β = 0.9",
                    ours=f"β = {b_best:g} (reached: " + ", ".join(f"{k:g}: {x:.0%}" for k, x in g.reached.sort_index().items()) + ")",
                    n=len(mom), rule=rule)
            m9 = d[d.beta == max(settings.part1_betas)]
            n_best, g = _best(m9, "method")
            v.check(f"Nesterov (β = {max(settings.part1_betas):g}) is the best method ({fn}; §1.1)", n_best == "Nesterov",
                    reported="Nesterov",
                    ours=f"{n_best} (" + ", ".join(f"{k}: {r.reached:.0%} reached, {r.steps:.0f} steps" for k, r in g.iterrows()) + ")",
                    n=len(m9), rule=rule)
    sch = main[main.function == "schaffer"]
    if len(sch):
        v.check("Schaffer's function traps descent in local minima (§1.1)", sch.reached_global.mean() < 0.25,
                reported="struggles to escape", ours=f"{int(sch.reached_global.sum())}/{len(sch)} runs reach a global minimum",
                n=len(sch), rule="fewer than 25% of descents reach a global minimum")


def part1_trajectories(settings):
    fns = settings.part1_functions
    fig, axes = plt.subplots(len(fns), 3, figsize=(12, 4 * len(fns)), squeeze=False)
    for i, fn in enumerate(fns):
        surface = optim2d.sample_function(fn)
        for j, (name, (beta, nest)) in enumerate(METHODS.items()):
            trajs = [optim2d.descend(surface, s, 10.0, beta, nest, 1.0, max_steps=settings.part1_max_steps) for s in surface.starts]
            optim2d.plot_trajectories(axes[i, j], surface, trajs, labels=[f"{t.steps} steps, {t.reason}" for t in trajs])
            axes[i, j].set_title(f"{fn}: {name}" + (f" β={beta:g}" if beta else ""), fontsize="medium")
    fig.tight_layout()
    return fig


def explorer_draw(function: str, lr: float, method: str, eps: float = 1.0, max_steps: int = 1000):
    """The static explorer's drawing: one descent from the function's first start.
    ``method``: "GD" (β = 0), "momentum" (β = 0.9) or "Nesterov" (β = 0.9)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    beta, nesterov = METHODS[method]
    surface = optim2d.sample_function(function, 256)
    fig = optim2d.draw_descent(function, surface.starts[0], lr, beta, nesterov, eps, max_steps=max_steps)
    fig.set_size_inches(4.6, 4.2)
    return fig


def live_draw(function: str = "schaffer", start_x: float = 204.0, start_y: float = 179.0, lr: float = 10.0,
              beta: float = 0.9, nesterov: bool = True, eps: float = 1.0, max_steps: int = 1000):
    """The live explorer's drawing: any start (pixels of the 256×256 grid), lr, β, Nesterov, ε."""
    return optim2d.draw_descent(function, (float(start_x), float(start_y)), float(lr), float(beta), bool(nesterov),
                                float(eps), max_steps=int(max_steps))


# ---------------------------------------------------------------------------- Part 2
def part2(cnn_df: pd.DataFrame, cnn_hist: pd.DataFrame):
    none_hist = cnn_hist[cnn_hist.setting == "none"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    report.curves(none_hist, "epoch", "train_loss", ax=a1, title="Training loss (no augmentation / regularisation)")
    report.curves(none_hist, "epoch", "val_acc", ax=a2, title="Validation accuracy")
    a2.axhline(REPORTED["part2_val_max"], ls="--", color="grey", label="reported max (CIFAR-10 cat vs dog)")
    a2.legend(fontsize="small")
    none = cnn_df[cnn_df.setting == "none"]
    table = report.reported_vs_ours([
        {"quantity": "max validation accuracy, no DA/regularisation", "reported": REPORTED["part2_val_max"],
         "ours": list(none.best_val_acc), "digits": 3},
        {"quantity": "final training loss", "reported": "goes to zero very quickly",
         "ours": report.mean_std(none_hist[none_hist.epoch == none_hist.epoch.max()].train_loss, digits=3)},
        {"quantity": "test accuracy of the best-validation model", "reported": "—", "ours": list(none.test_acc), "digits": 3},
    ], source="report 002")
    return fig, table


# ---------------------------------------------------------------------------- Part 3
def part3(settings, cnn_df: pd.DataFrame, cnn_hist: pd.DataFrame):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 4.5))
    report.curves(cnn_hist, "epoch", "train_loss", hue="setting", ax=a1, title="Training loss (Fig. 2)")
    report.curves(cnn_hist, "epoch", "val_acc", hue="setting", ax=a2, title="Validation accuracy (Fig. 3)")
    a1.set_yscale("log")
    if a2.get_legend() is not None:
        a2.get_legend().remove()
    none_acc = list(cnn_df[cnn_df.setting == "none"].best_val_acc)
    rows = []
    for g in settings.grid:
        d = cnn_df[cnn_df.setting == g]
        rep = (f"{REPORTED['part3_best_val']} at epoch {REPORTED['part3_best_epoch']} (best)"
               if g == REPORTED["part3_best_setting"] else "figure only")
        rows.append({"setting": g, "reported": rep, "ours: best val acc": report.mean_std(d.best_val_acc, digits=3),
                     "epoch of best": ", ".join(str(e) for e in d.best_epoch), "test acc": report.mean_std(d.test_acc, digits=3),
                     "vs none": "—" if g == "none" else str(report.verdict(list(d.best_val_acc), none_acc, "greater"))})
    return fig, pd.DataFrame(rows)


def part3_verdicts(v, settings, cnn_df: pd.DataFrame, cnn_hist: pd.DataFrame) -> None:
    rep_best = REPORTED["part3_best_setting"]
    means = cnn_df.groupby("setting").best_val_acc.mean().sort_values(ascending=False)
    if rep_best not in means:
        v.not_run(f"{rep_best} gives the highest validation accuracy (§1.3)", f"{rep_best} is not in this execution's grid",
                  reported=REPORTED["part3_best_val"])
        return
    acc = lambda g: list(cnn_df[cnn_df.setting == g].best_val_acc)  # noqa: E731
    for g in means.index:
        if g != rep_best:
            v.compare(f"{rep_best} beats {g} (best validation accuracy; §1.3, Fig. 3)", acc(rep_best), acc(g),
                      reported=f"{REPORTED['part3_best_val']} (best of all)", digits=3, margin=0.01)
    last = cnn_hist[cnn_hist.epoch == cnn_hist.epoch.max()].groupby("setting").train_loss.mean().sort_values()
    if "crop" in last:
        v.check("Cropping alone has the worst training loss (§1.3, Fig. 2)", last.index[-1] == "crop", reported="worst",
                ours=f"highest final training loss: {last.index[-1]} ({last.iloc[-1]:.3g}); crop: {last['crop']:.3g}",
                n=len(cnn_df), rule="highest mean final training loss over seeds")


# ---------------------------------------------------------------------------- Part 4
def part4(settings, cnn_hist: pd.DataFrame, tr_hist: pd.DataFrame, tr_results, v):
    n_ep = settings["transfer.epochs"]
    cnn_first = cnn_hist[(cnn_hist.setting == "none") & (cnn_hist.epoch <= n_ep)]
    both = pd.concat([cnn_first, tr_hist], ignore_index=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    report.curves(both, "epoch", "train_loss", hue="model", ax=a1, title="Training loss (Fig. 4)")
    report.curves(both, "epoch", "val_acc", hue="model", ax=a2, title="Validation accuracy (Fig. 5)")

    def early(df):
        g = df.groupby("seed")
        return g.val_acc.mean().values, g.val_acc.max().values, g.train_loss.last().values

    cnn_mean, cnn_max, cnn_loss = early(cnn_first)
    source = "ImageNet" if settings.weights == "imagenet" else "offline source model (other classes)"
    rows = [{"model": "CNN (ours, from scratch)", "source weights": "none", "input": "native",
             f"mean val acc, epochs 1-{n_ep}": report.mean_std(cnn_mean, digits=3),
             f"best val acc ≤ {n_ep} ep.": report.mean_std(cnn_max, digits=3), "final train loss": report.mean_std(cnn_loss, digits=3)}]
    for lab_model, d in tr_hist.groupby("model", sort=False):
        m_mean, m_max, m_loss = early(d)
        cfg = next(r.config for lab, r in tr_results if lab["model"] == lab_model)
        rows.append({"model": lab_model, "source weights": source, "input": f"{cfg.image_size} px",
                     f"mean val acc, epochs 1-{n_ep}": report.mean_std(m_mean, digits=3),
                     f"best val acc ≤ {n_ep} ep.": report.mean_std(m_max, digits=3),
                     "final train loss": report.mean_std(m_loss, digits=3)})
        claim = ("ResNet-18 has a much better validation accuracy than the CNN in the first 10 epochs (§1.4, Fig. 5)"
                 if lab_model == "ResNet-18" else f"{lab_model} starts above the CNN (mean validation accuracy, §1.4)")
        v.compare(claim, list(m_mean), list(cnn_mean), reported="better than the CNN", digits=3, names=(lab_model, "CNN"))
    return fig, pd.DataFrame(rows)


# ---------------------------------------------------------------------------- Part 5
def part5_bug_table(p5) -> pd.DataFrame:
    """Both accuracy updates applied to the same predictions (each run's best model on its validation split)."""
    rows = []
    for lab, r in p5:
        pred, y = predictions(r, "val")
        c = accuracy.compare_updates(pred, y, 128)
        mb = accuracy.max_of_batches(pred, y, min(128, len(y)), evaluations=100, seed=lab["seed"])
        rows.append({**lab, "accumulating (right)": c["accumulating"], "overwriting (report's bug)": c["overwriting"],
                     "last batch size": c["last_batch_size"], "per-batch min": c["batch_min"], "per-batch max": c["batch_max"],
                     "max of 100 random batches": mb["max_batch"]})
    return pd.DataFrame(rows)


def part5_table(p5_df: pd.DataFrame, bug: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, setting), rep in REPORTED["part5"].items():
        d = p5_df[(p5_df.model == model) & (p5_df.setting == setting)]
        b = bug[(bug.model == model) & (bug.setting == setting)]
        rows.append({"model": model, "setting": setting, "reported": rep, "ours": list(d.best_val_acc),
                     "ours, overwriting update": report.mean_std(b["overwriting (report's bug)"], digits=3),
                     "ours, max per-batch": report.mean_std(b["max of 100 random batches"], digits=3), "digits": 3})
    return report.reported_vs_ours(rows, source="report 002")


def part5_verdicts(v, p5_df: pd.DataFrame) -> None:
    def accs(model, setting):
        return list(p5_df[(p5_df.model == model) & (p5_df.setting == setting)].best_val_acc)

    v.compare("DA + WD 1e-5 improves the CNN (§1.5)", accs("CNN", "DA + WD 1e-5"), accs("CNN", "none"),
              reported="0.8035 → 0.8644", digits=3, margin=0.01)
    v.compare("DA + WD 1e-5 improves ResNet-18 (§1.5)", accs("ResNet-18", "DA + WD 1e-5"), accs("ResNet-18", "none"),
              reported="0.8589 → 0.86321", digits=3, margin=0.01)
    v.compare("ResNet-18 does not outperform the CNN with DA + WD: the two perform the same (§1.5)",
              accs("CNN", "DA + WD 1e-5"), accs("ResNet-18", "DA + WD 1e-5"), how="same", margin=0.01,
              reported="0.86321 vs 0.8644", digits=3, names=("CNN", "ResNet-18"))


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name)

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
    """One row per run: labels, best validation accuracy and its (1-based) epoch, test accuracy, time.

    A diverged run keeps its row (status ``diverged``) with NaN for every result, which means and tests leave out.
    """
    rows = []
    for lab, r in results:
        if r.diverged:
            rows.append({**lab, "status": "diverged", "wall_seconds": r.metrics.get("wall_seconds", float("nan")),
                         "cached": r.cached})
            continue
        m = r.metrics
        rows.append({**lab, "status": "finished", "best_val_acc": m["best_val_acc"], "best_epoch": m["best_epoch"] + 1,
                     "final_val_acc": m["final_val_acc"], "test_acc": m["test_acc"], "epochs": m["epochs_run"],
                     "train_seconds": m["train_seconds"], "wall_seconds": m.get("wall_seconds", float("nan")),
                     "n_train": m["n_train"], "n_val": m["n_val"], "n_test": m["n_test"], "cached": r.cached})
    return pd.DataFrame(rows)


def history_frame(results) -> pd.DataFrame:
    """Per-epoch curves in long form (epoch 1-based, as in the report's figures) for seaborn."""
    parts = [report.history_frame([r], "epoch", one_based=True, **lab) for lab, r in results]
    parts = [p for p in parts if not p.empty]  # a diverged run has no curve (report.history_frame)
    if parts:
        return pd.concat(parts, ignore_index=True)
    labels = list(results[0][0]) if results else []
    return pd.DataFrame(columns=list(dict.fromkeys(["epoch", "seed", "train_loss", "val_acc", *labels])))


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
#: the report's recommended descent (§1.1): learning rate 10, Nesterov momentum with β = 0.9, ε = 1 pixel
REPORT_DESCENT = {"lr": 10.0, "beta": 0.9, "nesterov": True, "eps": 1.0}


def part1_starts(settings) -> dict:
    """Random starts per function (seeded by the function's position), shared by every setting of the sweep."""
    return {fn: optim2d.random_starts(fn, settings.part1_starts, seed=i) for i, fn in enumerate(settings.part1_functions)}


def part1_sweep(settings) -> pd.DataFrame:
    """Every Part 1 descent (deterministic: computed once per setting and package version, then read back)."""
    s = settings
    grid = dict(functions=tuple(s.part1_functions), starts=s.part1_starts, lrs=tuple(s.part1_lrs), betas=tuple(s.part1_betas),
                nesterov=tuple(s.part1_nesterov), epss=tuple(s.part1_epss), max_steps=s.part1_max_steps)

    def compute():
        sweep = optim2d.sweep(grid["functions"], starts=part1_starts(s), lrs=grid["lrs"], betas=grid["betas"],
                              nesterov=grid["nesterov"], epss=grid["epss"], max_steps=grid["max_steps"])
        sweep["method"] = np.where(sweep.beta == 0, "GD", np.where(sweep.nesterov, "Nesterov", "momentum"))
        return sweep

    return runs.memo_frame("vc_a2_part1", repr(sorted(grid.items())), compute)


def part1_table(main: pd.DataFrame):
    table = (main.groupby(["function", "lr", "beta", "method"])
                 .agg(reached=("reached_global", "sum"), runs=("reached_global", "size"),
                      steps_to_minimum=("steps_to_global", "mean"), converged=("converged", "sum"),
                      mean_final_value=("final_value", "mean"))
                 .reset_index())
    table["reached"] = table["reached"].astype(str) + "/" + table["runs"].astype(str)
    return (table.drop(columns="runs").rename(columns={"steps_to_minimum": "mean steps to the minimum"})
                 .style.format({"mean_final_value": "{:.3g}", "mean steps to the minimum": "{:.0f}"}).hide(axis="index"))


def _nesterov(d: pd.DataFrame) -> pd.DataFrame:
    return d[(d.method == "Nesterov") & (d.beta == d.beta.max())]


def best_lr(d: pd.DataFrame) -> float:
    """The learning rate with the fewest mean steps to the global minimum under Nesterov (max β) on one function."""
    return float(_nesterov(d).groupby("lr").steps_to_global.mean().idxmin())


def _reach(d: pd.DataFrame, key: str, fmt) -> str:
    g = d.groupby(key).reached_global.mean()
    return ", ".join(f"{fmt(k)}: {x:.0%}" for k, x in g.items())


def _ranking(v, claim: str, d: pd.DataFrame, key: str, claimed, fmt, reported: str, budget: int) -> None:
    """A ranking claim "``claimed`` is best" as a test: Welch on steps to the minimum against the strongest alternative."""
    if claimed not in set(d[key]):
        v.not_run(claim, f"{fmt(claimed)} is not in this execution's sweep", reported=reported)
        return
    means = d.groupby(key).steps_to_global.mean()
    rival = means.drop(claimed).idxmin()
    v.compare(f"{claim} (steps to the global minimum, {budget + 1} = never; against the best alternative, "
              f"{fmt(rival)}; reached: {_reach(d, key, fmt)})",
              list(d[d[key] == claimed].steps_to_global), list(d[d[key] == rival].steps_to_global),
              how="less", reported=reported, digits=0, names=(fmt(claimed), fmt(rival)))


def part1_verdicts(v, settings, sweep: pd.DataFrame) -> None:
    """Part 1's claims, each a ranking decided by a test over random starts (one descent per start and setting)."""
    main = sweep[sweep.eps == REPORT_DESCENT["eps"]]
    budget = settings.part1_max_steps
    top = max(settings.part1_betas)
    for fn in settings.part1_functions:
        d = main[main.function == fn]
        _ranking(v, f"Learning rate 10 works best ({fn}, Nesterov β = {top:g}; §1.1)", _nesterov(d), "lr",
                 REPORT_DESCENT["lr"], lambda x: f"lr {x:g}", "lr = 10", budget)
        lr = best_lr(d)
        at = d[d.lr == lr]
        heavy = at[~at.nesterov]
        _ranking(v, f"β = 0.9 is the best trade-off ({fn}, heavy-ball momentum at our best lr {lr:g}; §1.1)", heavy,
                 "beta", 0.9, lambda x: f"β {x:g}", "β = 0.9", budget)
        methods = at[at.beta.isin([0.0, top])]
        _ranking(v, f"Nesterov (β = {top:g}) is the best method ({fn}, at our best lr {lr:g}; §1.1)", methods,
                 "method", "Nesterov", str, "Nesterov", budget)
    sch = main[main.function == "schaffer"]
    rec = sch[(sch.lr == REPORT_DESCENT["lr"]) & (sch.beta == top) & sch.nesterov]
    if len(rec):
        v.threshold(f"Schaffer's function traps descent in local minima: fewer than 25% of random starts reach a global "
                    f"minimum (lr 10, Nesterov β = {top:g}; §1.1)", list(100.0 * rec.reached_global), 25.0, how="less",
                    reported="struggles to escape the local minimum", digits=0)


def part1_lr_note(sweep: pd.DataFrame) -> str:
    """Which learning rate reaches the minimum from how many starts, per function (Nesterov, ε = 1): the runs' own words."""
    main = sweep[sweep.eps == REPORT_DESCENT["eps"]]
    parts = []
    for fn, d in main.groupby("function", sort=False):
        n = _nesterov(d)
        parts.append(f"**{fn}**: best lr {best_lr(d):g}; starts reaching the minimum per lr: "
                     + _reach(n, "lr", lambda x: f"{x:g}")
                     + "; mean steps to it: " + ", ".join(f"{k:g}: {x:.0f}" for k, x in n.groupby("lr").steps_to_global.mean().items()))
    return "; ".join(parts) + "."


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


#: "goes to zero": the final training loss of a model without augmentation or regularisation is below this
ZERO_LOSS = 0.05


def _per_seed(hist: pd.DataFrame, setting: str, fn) -> list[float]:
    """One number per seed from a setting's epoch curves (``fn`` maps one seed's curve, sorted by epoch, to a float)."""
    d = hist[hist.setting == setting].sort_values("epoch")
    return [float(fn(g)) for _, g in d.groupby("seed")]


def part2_verdicts(v, settings, cnn_df: pd.DataFrame, cnn_hist: pd.DataFrame) -> None:
    """Part 2 (and the overfitting remark of §1.3), each a test over seeds."""
    v.threshold(f"Without augmentation or regularisation the training loss goes to zero (final training loss below "
                f"{ZERO_LOSS:g}; §1.2, Fig. 1)", _per_seed(cnn_hist, "none", lambda g: g.train_loss.iloc[-1]), ZERO_LOSS,
                how="less", reported="goes to zero very quickly", digits=3)
    v.threshold("The validation loss starts to increase at some point: the model overfits (final minus lowest validation "
                "loss > 0; §1.3)", _per_seed(cnn_hist, "none", lambda g: g.val_loss.iloc[-1] - g.val_loss.min()), 0.0,
                how="greater", reported="starts to increase at some point", digits=3)
    none = list(cnn_df[cnn_df.setting == "none"].best_val_acc)
    claim = "The CNN reaches a validation accuracy of 0.89 (best epoch; §1.2, Fig. 1)"
    if settings["data.dataset"] == "cifar10":
        v.threshold(claim + ": ours at least 0.87", none, 0.87, reported=REPORTED["part2_val_max"], digits=3)
    else:
        v.not_run(claim, f"an absolute accuracy on CIFAR-10 cat vs dog; profile {settings.profile} trains on "
                         f"{settings['data.dataset']} (CIFAR-10 is the full profile's data)", reported=REPORTED["part2_val_max"])


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
        runs = len(d)
        d = d[d.status == "finished"]  # a diverged run has no result (counted in the last column)
        rep = (f"{REPORTED['part3_best_val']} at epoch {REPORTED['part3_best_epoch']} (best)"
               if g == REPORTED["part3_best_setting"] else "figure only")
        rows.append({"setting": g, "reported": rep, "ours: best val acc": report.mean_std(d.best_val_acc, digits=3),
                     "epoch of best": ", ".join(str(int(e)) for e in d.best_epoch), "test acc": report.mean_std(d.test_acc, digits=3),
                     "vs none": "—" if g == "none" else str(report.verdict(list(d.best_val_acc), none_acc, "greater")),
                     "diverged": f"{runs - len(d)} of {runs}"})
    return fig, pd.DataFrame(rows)


def diverged_counts(cnn_df: pd.DataFrame, setting: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(diverged, runs) of ``setting`` and of every other setting together."""
    mine = cnn_df.setting == setting
    div = cnn_df.status == "diverged"
    return (int((mine & div).sum()), int(mine.sum())), (int((~mine & div).sum()), int((~mine).sum()))


def _extreme(v, claim: str, values: dict, target: str, how: str, reported: str, digits: int = 3) -> None:
    """"``target`` is the highest (``how="greater"``) / lowest (``"less"``)": Welch against the nearest other setting.

    A setting whose runs all diverged has no values and no mean: it is left out of the search for the nearest one.
    """
    if target in values and not len(values[target]):
        v.inconclusive(claim, f"every {target} run diverged: no value to rank", reported=reported)
        return
    values = {k: x for k, x in values.items() if len(x)}
    if target not in values or len(values) < 2:
        v.not_run(claim, f"{target} and another setting are needed in this execution's grid", reported=reported)
        return
    means = {k: float(np.mean(x)) for k, x in values.items() if k != target}
    rival = max(means, key=means.get) if how == "greater" else min(means, key=means.get)
    v.compare(f"{claim} (against the nearest other setting, {rival})", values[target], values[rival], how=how,
              reported=reported, digits=digits, names=(target, rival))


def part3_verdicts(v, settings, cnn_df: pd.DataFrame, cnn_hist: pd.DataFrame) -> None:
    rep_best = REPORTED["part3_best_setting"]
    grid = list(settings.grid)
    if rep_best not in grid:
        v.not_run(f"{rep_best} gives the highest validation accuracy (§1.3)", f"{rep_best} is not in this execution's grid",
                  reported=REPORTED["part3_best_val"])
    acc = lambda g: list(cnn_df[cnn_df.setting == g].best_val_acc)  # noqa: E731
    if rep_best in grid:
        for g in grid:
            if g != rep_best:
                v.compare(f"{rep_best} beats {g} (best validation accuracy; §1.3, Fig. 3)", acc(rep_best), acc(g),
                          reported=f"{REPORTED['part3_best_val']} (best of all)", digits=3, margin=0.01)
    accs = {g: acc(g) for g in grid}
    _extreme(v, "Without augmentation or regularisation the validation accuracy is the worst (§1.3, Fig. 3)", accs, "none",
             "less", "worse performance ... very prominent")
    final_loss = {g: _per_seed(cnn_hist, g, lambda d: d.train_loss.iloc[-1]) for g in grid}
    _extreme(v, "Cropping alone has the worst (highest) final training loss (§1.3, Fig. 2)", final_loss, "crop", "greater",
             "worst training loss", digits=4)
    if "crop" in grid and len(grid) > 1:
        # A run that diverges (non-finite loss, or accuracy back at chance) has the worst training loss of all, and the
        # test above leaves it out; this row counts it (Fisher's exact test, crop against the other settings together).
        crop, rest = diverged_counts(cnn_df[cnn_df.setting.isin(grid)], "crop")
        v.rates("Cropping alone trains worst counting the runs that diverge: more crop runs diverge than runs of the other "
                "settings (§1.3, Fig. 2)", crop, rest, reported="worst training loss", names=("crop", "the others"))
    # "with weight decay 1e-5 and 1e-6 [the training loss] stays at zero and there are less fluctuations"
    half = lambda d: d.train_loss.iloc[len(d) // 2:].std(ddof=1)  # noqa: E731
    for g in ("WD 1e-5", "WD 1e-6"):
        if g in grid:
            v.compare(f"{g}: the training loss fluctuates less than without regularisation (std over the second half of "
                      "training; §1.3, Fig. 2)", _per_seed(cnn_hist, g, half), _per_seed(cnn_hist, "none", half), how="less",
                      reported="less fluctuations", digits=4, names=(g, "none"))


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
    by_model: dict[str, list] = {}
    for lab, r in tr_results:
        by_model.setdefault(lab["model"], []).append(r)
    for lab_model, rs in by_model.items():
        d = tr_hist[tr_hist.model == lab_model]  # finished runs only: a diverged run is never a result
        claim = ("ResNet-18 has a much better validation accuracy than the CNN in the first 10 epochs (§1.4, Fig. 5)"
                 if lab_model == "ResNet-18" else f"{lab_model} starts above the CNN (mean validation accuracy, §1.4)")
        n_div = sum(r.diverged for r in rs)
        note = f" ({n_div} of {len(rs)} runs diverged)" if n_div else ""
        row = {"model": lab_model + note, "source weights": source, "input": f"{rs[0].config.image_size} px"}
        if d.empty:
            rows.append({**row, f"mean val acc, epochs 1-{n_ep}": "diverged", f"best val acc ≤ {n_ep} ep.": "diverged",
                         "final train loss": "diverged"})
            v.inconclusive(claim, f"every {lab_model} run diverged: {rs[0].reason}", reported="better than the CNN",
                           n=f"0 vs {len(cnn_mean)}")
            continue
        m_mean, m_max, m_loss = early(d)
        rows.append({**row, f"mean val acc, epochs 1-{n_ep}": report.mean_std(m_mean, digits=3),
                     f"best val acc ≤ {n_ep} ep.": report.mean_std(m_max, digits=3),
                     "final train loss": report.mean_std(m_loss, digits=3)})
        v.compare(claim, list(m_mean), list(cnn_mean), reported="better than the CNN", digits=3, names=(lab_model, "CNN"))
    losses = {m: early(d)[2] for m, d in tr_hist.groupby("model", sort=False)}
    if {"ResNet-18", "AlexNet"} <= set(losses):
        v.compare("ResNet-18 reaches a lower training loss than AlexNet (final epoch; §1.4, Fig. 4)", list(losses["ResNet-18"]),
                  list(losses["AlexNet"]), how="less", reported="ResNet performs better concerning training loss", digits=3,
                  names=("ResNet-18", "AlexNet"))
    return fig, pd.DataFrame(rows)


# ---------------------------------------------------------------------------- Part 5
def part5_bug_table(p5) -> pd.DataFrame:
    """Both accuracy updates applied to the same predictions (each run's best model on its validation split)."""
    rows = []
    for lab, r in p5:
        if r.diverged:  # no model to predict with
            continue
        pred, y = predictions(r, "val")
        c = accuracy.compare_updates(pred, y, 128)
        mb = accuracy.max_of_batches(pred, y, min(128, len(y)), evaluations=100, seed=lab["seed"])
        rows.append({**lab, "accumulating (right)": c["accumulating"], "overwriting (report's bug)": c["overwriting"],
                     "last batch size": c["last_batch_size"], "per-batch min": c["batch_min"], "per-batch max": c["batch_max"],
                     "max of 100 random batches": mb["max_batch"]})
    return pd.DataFrame(rows)


def part5_figure(p5):
    """The report's Figures 6 and 7: training loss and validation accuracy of the four final trainings."""
    hist = history_frame(p5)
    hist["training"] = hist.model + ", " + hist.setting
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4))
    report.curves(hist, "epoch", "train_loss", hue="training", ax=a1, title="Training loss (Fig. 6)")
    report.curves(hist, "epoch", "val_acc", hue="training", ax=a2, title="Validation accuracy (Fig. 7)")
    a1.set_yscale("log")
    for (model, setting), rep in REPORTED["part5"].items():
        a2.axhline(rep, ls=":", lw=1, color="grey")
    a2.text(0.01, 0.02, "dotted: the report's four best values (CIFAR-10 cat vs dog)", transform=a2.transAxes, fontsize="x-small")
    return fig


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

"""Generate book/visual_computing_a2.ipynb (no outputs)."""
import nbformat as nbf

cells = []
def md(s): cells.append(nbf.v4.new_markdown_cell(s.strip()))
def code(s, tags=()):
    c = nbf.v4.new_code_cell(s.strip())
    if tags: c.metadata["tags"] = list(tags)
    cells.append(c)

md(r"""
# Deep Learning for Visual Computing, assignment 2 (seed report 002)

**The report** (Konefal & Lazic, January 2019) makes claims in five parts. (1) On 2-D test functions, gradient descent works best with learning rate 10, β = 0.9 and Nesterov momentum, and Schaffer's function traps it in local minima. (2) A five-layer CNN reaches a validation accuracy of 0.89 on CIFAR-10 cat vs dog. (3) Flipping + cropping + weight decay 10⁻⁵ is the best regularisation, at 0.921875 after 12 epochs. (4) Feature extraction from ImageNet ResNet-18 beats the CNN in the first 10 epochs. (5) After the accuracy bookkeeping bug was fixed, the best accuracies were 0.8035, 0.8644, 0.8589 and 0.86321.

**This chapter** reruns every part with `reprolib`: `reprolib.optim2d` for Part 1, `reprolib.vc_a2` for the experiment grids (one place per hyperparameter), `reprolib.accuracy` for Part 5, and the shared trainer and run cache for all the training. Each claim is set beside our measurement with a verdict. Numbers marked *reported* are quoted from the report. *Ours* means mean ± standard deviation over seeds, with n stated.
""")
code('''
profile = "cpu"
seeds = None
settings = None
transfer_models = None
''', tags=["parameters"])
md(r"""
The parameters above are papermill's: `profile` is `smoke` (seconds, for tests), `cpu` (the default book, ≤ 30 min on 2 cores) or `full` (the report's scale on a GPU). `seeds`, `settings` (labels from the Part 3 grid) and `transfer_models` override the profile's lists when they are not `None`.
""")
code('''
import time
import json
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from reprolib import optim2d, report, vc_a2
from reprolib import accuracy as acc_mod
from reprolib.data import load as load_data
from reprolib.widgets import explorer, live_explorer

report.set_style()
chapter_start = time.time()
prof = vc_a2.chapter_profile(profile, seeds=seeds, settings=settings, transfer=transfer_models)
class_names = load_data(prof["dataset"], "test").classes
pair = " vs ".join(class_names[c] for c in prof["classes"])
source_note = ("ImageNet weights (torchvision)" if prof["weights"] == "imagenet" else
               f"offline source models pretrained on the other {10 - len(prof['classes'])} {prof['dataset']} classes, NOT ImageNet")
display(Markdown(f"""
**Setup at profile `{profile}`.** Data: **{prof['dataset']}**, classes **{pair}**
(the report used CIFAR-10 cat vs dog{'' if prof['dataset'] == 'cifar10' else '; these two Fashion-MNIST classes are the most similar pair, and the CPU can train on them'}).
Training subset: {prof['train_size'] or 'all'} images, 10 % of them held out for validation. The test split of the two classes is reported too.
Seeds: {list(prof['seeds'])} (n = {len(prof['seeds'])} per setting). CNN: {prof['cnn_epochs']} epochs.
Transfer: {', '.join(f'{m} at {s} px' for m, s in prof['transfer'].items())}, {prof['transfer_epochs']} epochs, from {source_note}.
"""))
''', tags=["remove-input"])

# ---------------------------------------------------------------- Part 1
md(r"""
## Part 1: gradient descent on 2-D functions

**Method.** Three functions are sampled on a 256 × 256 grid, the way the assignment handed them out as images:
Schaffer N.4 (rings of sharp local minima), Matyas (a smooth convex bowl) and log(1 + Beale) (smooth but not convex).
Values between grid points come from bilinear interpolation (`optim2d.bilinear`). The gradient is a central difference with step ε pixels. Descent is plain (β = 0), heavy-ball momentum, or Nesterov, and it stops when the gradient norm drops below 10⁻³ or the step budget runs out.
Each function is started from three fixed points. A run *reaches the global minimum* if it ends within 5 pixels of one.
""")
code('''
p1 = prof["part1"]
t_sweep = time.time()
sweep = optim2d.sweep(p1["functions"], lrs=p1["lrs"], betas=p1["betas"], nesterov=p1["nesterov"],
                      epss=p1["epss"], max_steps=p1["max_steps"])
t_sweep = time.time() - t_sweep
sweep["method"] = np.where(sweep.beta == 0, "GD", np.where(sweep.nesterov, "Nesterov", "momentum"))
main = sweep[sweep.eps == 1.0]
table = (main.groupby(["function", "lr", "beta", "method"])
             .agg(reached=("reached_global", "sum"), runs=("reached_global", "size"),
                  converged=("converged", "sum"), median_steps=("steps", "median"),
                  mean_final_value=("final_value", "mean"))
             .reset_index())
table["reached"] = table["reached"].astype(str) + "/" + table["runs"].astype(str)
display(Markdown(f"**Steps to converge and final value** for ε = 1: {len(main)} descents "
                 f"(budget {p1['max_steps']} steps; the whole sweep of {len(sweep)} descents took {t_sweep:.0f} s)."))
display(table.drop(columns="runs").style.format({"mean_final_value": "{:.3g}", "median_steps": "{:.0f}"}).hide(axis="index"))
''', tags=["remove-input"])
code('''
def best(df, key):
    g = df.groupby(key).agg(reached=("reached_global", "mean"), steps=("steps", "median"))
    g = g.sort_values(["reached", "steps"], ascending=[False, True])
    return g.index[0], g

rows = []
for fn in p1["functions"]:
    d = main[main.function == fn]
    lr_best, g = best(d, "lr")
    rows.append({"claim": "learning rate 10 works best", "function": fn, "reported": "lr = 10",
                 "ours": f"lr = {lr_best:g} (reached: " + ", ".join(f"{k:g}: {v:.0%}" for k, v in g.reached.sort_index().items()) + ")",
                 "verdict": "reproduced" if lr_best == 10 else "not reproduced"})
    mom = d[d.beta > 0]
    if len(mom):
        b_best, g = best(mom, "beta")
        rows.append({"claim": "β = 0.9 is the best trade-off", "function": fn, "reported": "β = 0.9",
                     "ours": f"β = {b_best:g} (reached: " + ", ".join(f"{k:g}: {v:.0%}" for k, v in g.reached.sort_index().items()) + ")",
                     "verdict": "reproduced" if b_best == 0.9 else "not reproduced"})
        m9 = d[d.beta == max(p1["betas"])]
        n_best, g = best(m9, "method")
        rows.append({"claim": f"Nesterov (β = {max(p1['betas']):g}) is best", "function": fn, "reported": "Nesterov",
                     "ours": f"{n_best} (" + ", ".join(f"{k}: {r.reached:.0%} reached, {r.steps:.0f} steps" for k, r in g.iterrows()) + ")",
                     "verdict": "reproduced" if n_best == "Nesterov" else "not reproduced"})
sch = main[main.function == "schaffer"]
if len(sch):
    frac = sch.reached_global.mean()
    rows.append({"claim": "Schaffer traps descent in local minima", "function": "schaffer", "reported": "struggles to escape",
                 "ours": f"{sch.reached_global.sum()}/{len(sch)} runs reach a global minimum",
                 "verdict": "reproduced" if frac < 0.25 else "not reproduced"})
if len(p1["epss"]) > 1:
    for fn in p1["functions"]:
        d = sweep[(sweep.function == fn)]
        g = d.groupby("eps").agg(reached=("reached_global", "mean"), steps=("steps", "median"))
        rows.append({"claim": "larger ε speeds up but can overshoot", "function": fn, "reported": "(qualitative)",
                     "ours": ", ".join(f"ε={k:g}: {r.reached:.0%} reached, {r.steps:.0f} steps" for k, r in g.iterrows()),
                     "verdict": "see numbers"})
part1_claims = pd.DataFrame(rows)
display(Markdown("**Reported vs ours (Part 1).** The *reached* percentages are over all starts and the other hyperparameters, with ε = 1."))
display(part1_claims.style.hide(axis="index"))
''', tags=["remove-input"])
md(r"""
**Why Matyas differs.** Learning rates only mean something relative to the function's value range per pixel. Sampled on its usual domain [-10, 10]², Matyas is so flat per pixel that lr 100 is the first learning rate that gets there within the budget. The report's PNGs were normalised to [0, 1] at an unknown resolution, so its absolute learning rates can be compared with ours only in order of magnitude (see `reprolib.optim2d`).

**Trajectories at lr 10** from the three starts (circles; crosses are end points, stars global minima):
""")
code('''
fig, axes = plt.subplots(len(p1["functions"]), 3, figsize=(12, 4 * len(p1["functions"])), squeeze=False)
for i, fn in enumerate(p1["functions"]):
    surface = optim2d.sample_function(fn)
    for j, (name, (beta, nest)) in enumerate(vc_a2.METHODS.items()):
        trajs = [optim2d.descend(surface, s, 10.0, beta, nest, 1.0, max_steps=p1["max_steps"]) for s in surface.starts]
        optim2d.plot_trajectories(axes[i, j], surface, trajs, labels=[f"{t.steps} steps, {t.reason}" for t in trajs])
        axes[i, j].set_title(f"{fn}: {name}" + (f" β={beta:g}" if beta else ""), fontsize="medium")
fig.tight_layout()
plt.show()
''', tags=["remove-input"])
md(r"""
### Explorer

The **static explorer** below works in the published book without a kernel. Each combination of function, learning rate and method (β = 0.9 for momentum and Nesterov, ε = 1, first start) was drawn when the page was executed, and the controls switch between those images in the browser. The **live explorer** at the end of the page ([](#live-explorer)) recomputes for any start point, learning rate, β, Nesterov and ε, but only in a running notebook.
""")
code('''
grid = p1["explorer"]
explorer(grid, lambda function, lr, method: vc_a2.explorer_draw(function, lr, method, max_steps=p1["max_steps"]),
         title="Gradient descent: function × learning rate × method (precomputed)", dpi=60)
''', tags=["remove-input"])

# ---------------------------------------------------------------- Part 2
md(r"""
## Part 2: the report's CNN

**Method.** This is the CNN of the report's Listing 1 (`reprolib.models.ReportCNN`): five 3 × 3 convolutions with 32, 64, 128, 256 and 512 channels, each followed by ReLU, with 2 × 2 max-pooling after the first four, then global average pooling and a linear layer to the two classes. It is trained with cross-entropy and SGD with Nesterov momentum 0.9, batch 128, learning rate 0.1, on inputs normalised by the dataset mean and std. The model with the best validation accuracy is kept.
""")
code('''
cnn_results = vc_a2.run_labelled(vc_a2.cnn_configs(prof))
cnn_df = vc_a2.results_table(cnn_results)
cnn_hist = vc_a2.history_frame(cnn_results)
none_hist = cnn_hist[cnn_hist.setting == "none"]
fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
report.curves(none_hist, "epoch", "train_loss", ax=a1, title="Training loss (no augmentation / regularisation)")
report.curves(none_hist, "epoch", "val_acc", ax=a2, title="Validation accuracy")
a2.axhline(vc_a2.REPORTED["part2_val_max"], ls="--", color="grey", label="reported max (CIFAR-10 cat vs dog)")
a2.legend(fontsize="small")
plt.show()
none = cnn_df[cnn_df.setting == "none"]
display(report.reported_vs_ours([
    {"quantity": "max validation accuracy, no DA/regularisation", "reported": vc_a2.REPORTED["part2_val_max"],
     "ours": list(none.best_val_acc), "digits": 3},
    {"quantity": "final training loss", "reported": "goes to zero very quickly",
     "ours": report.mean_std(none_hist[none_hist.epoch == none_hist.epoch.max()].train_loss, digits=3)},
    {"quantity": "test accuracy of the best-validation model", "reported": "—", "ours": list(none.test_acc), "digits": 3},
], source="report 002").style.hide(axis="index"))
''', tags=["remove-input"])

# ---------------------------------------------------------------- Part 3
md(r"""
## Part 3: augmentation and regularisation

**Method.** The same CNN and optimiser are run under the grid of the report's Figures 2 and 3: no augmentation; horizontal flip; random crop (4-pixel zero padding in normalised space); flip + crop; weight decay 10⁻⁴, 10⁻⁵ and 10⁻⁶; and flip + crop combined with weight decay 10⁻⁴ or 10⁻⁵ ("DA + WD").
Early stopping is done as in the report's Listing 2: the model with the highest validation accuracy is kept, and its epoch is reported.
""")
code('''
fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 4.5))
report.curves(cnn_hist, "epoch", "train_loss", hue="setting", ax=a1, title="Training loss (Fig. 2)")
report.curves(cnn_hist, "epoch", "val_acc", hue="setting", ax=a2, title="Validation accuracy (Fig. 3)")
a1.set_yscale("log")
a2.get_legend().remove()
plt.show()
none_acc = list(cnn_df[cnn_df.setting == "none"].best_val_acc)
rows = []
for s in prof["settings"]:
    d = cnn_df[cnn_df.setting == s]
    rep = (f"{vc_a2.REPORTED['part3_best_val']} at epoch {vc_a2.REPORTED['part3_best_epoch']} (best)"
           if s == vc_a2.REPORTED["part3_best_setting"] else "figure only")
    w = report.welch(d.best_val_acc, none_acc, "greater") if s != "none" else None
    rows.append({"setting": s, "reported": rep, "ours: best val acc": report.mean_std(d.best_val_acc, digits=3),
                 "epoch of best": ", ".join(str(e) for e in d.best_epoch),
                 "test acc": report.mean_std(d.test_acc, digits=3),
                 "vs none (Welch, one-sided)": "—" if w is None else f"Δ = {w['diff']:+.3f}, p = {w['p']:.2g}"})
part3 = pd.DataFrame(rows)
display(part3.style.hide(axis="index"))
means = cnn_df.groupby("setting").best_val_acc.mean().sort_values(ascending=False)
best_setting = means.index[0]
rep_best = vc_a2.REPORTED["part3_best_setting"]
claims = []
if rep_best in means:
    b = cnn_df[cnn_df.setting == rep_best].best_val_acc
    others = cnn_df[(cnn_df.setting != rep_best)]
    runner = means.drop(rep_best).index[0] if len(means) > 1 else None
    claims.append({"claim": f"{rep_best} gives the highest validation accuracy", "reported": f"{vc_a2.REPORTED['part3_best_val']}",
                   "ours": f"best setting: {best_setting} ({means.iloc[0]:.3f}); {rep_best}: {means[rep_best]:.3f} (rank {list(means.index).index(rep_best) + 1}/{len(means)})",
                   "verdict": ("inconclusive: only one setting" if runner is None else
                               report.verdict(b, cnn_df[cnn_df.setting == runner].best_val_acc, "greater") + f" vs runner-up {runner}"
                               if best_setting == rep_best else f"not reproduced (best is {best_setting})")})
    claims.append({"claim": f"{rep_best} beats no augmentation/regularisation", "reported": "\\"very prominent\\" gap",
                   "ours": f"Δ = {b.mean() - np.mean(none_acc):+.3f}", "verdict": report.verdict(b, none_acc, "greater")})
    claims.append({"claim": "best epoch", "reported": vc_a2.REPORTED["part3_best_epoch"],
                   "ours": ", ".join(str(e) for e in cnn_df[cnn_df.setting == rep_best].best_epoch) + f" (of {prof['cnn_epochs']})",
                   "verdict": "see numbers (our epochs are on a smaller data set)"})
last = cnn_hist[cnn_hist.epoch == cnn_hist.epoch.max()].groupby("setting").train_loss.mean().sort_values()
if "crop" in last:
    claims.append({"claim": "cropping only has the worst training loss", "reported": "worst",
                   "ours": f"highest final training loss: {last.index[-1]} ({last.iloc[-1]:.3g}); crop: {last['crop']:.3g}",
                   "verdict": "reproduced" if last.index[-1] == "crop" else "not reproduced"})
display(Markdown("**Verdicts (Part 3).** Welch's one-sided test on the best validation accuracy per seed, α = 0.05."))
display(pd.DataFrame(claims).style.hide(axis="index"))
''', tags=["remove-input"])

# ---------------------------------------------------------------- Part 4
md(r"""
## Part 4: transfer learning by feature extraction

**Method.** A torchvision model is loaded and its classification layer replaced by a new one for the two classes. Everything except that new head is frozen (`freeze="all_but_head"`), and the head is trained with SGD at learning rate 0.001 for the report's 10 epochs. Inception v3 takes 299-px inputs, and its auxiliary output enters the loss with weight 0.4.
At `full` the source weights are ImageNet's and all six of the report's models run. At `cpu` and `smoke` this offline machine cannot download ImageNet weights, so each source model is **pretrained offline on the other Fashion-MNIST classes** (a separate, cached run), and only ResNet-18 and AlexNet run, the two the report trained. They are shown at small input sizes a CPU can handle.
Because the backbone is frozen and the inputs are not augmented, its features are computed once and the head is trained on them. The result is the same as running the backbone every step (see `reprolib.transfer`).
""")
code('''
tr_results = vc_a2.run_labelled(vc_a2.transfer_configs(prof))
tr_df = vc_a2.results_table(tr_results)
tr_hist = vc_a2.history_frame(tr_results)
n_ep = prof["transfer_epochs"]
cnn_first = cnn_hist[(cnn_hist.setting == "none") & (cnn_hist.epoch <= n_ep)]
both = pd.concat([cnn_first, tr_hist], ignore_index=True)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
report.curves(both, "epoch", "train_loss", hue="model", ax=a1, title="Training loss (Fig. 4)")
report.curves(both, "epoch", "val_acc", hue="model", ax=a2, title="Validation accuracy (Fig. 5)")
plt.show()

def early(df):
    g = df.groupby("seed")
    return g.val_acc.mean().values, g.val_acc.max().values, g.train_loss.last().values

cnn_mean, cnn_max, cnn_loss = early(cnn_first)
rows = [{"model": "CNN (ours, from scratch)", "source weights": "none", "input": f"native",
         f"mean val acc, epochs 1-{n_ep}": report.mean_std(cnn_mean, digits=3),
         f"best val acc ≤ {n_ep} ep.": report.mean_std(cnn_max, digits=3), "final train loss": report.mean_std(cnn_loss, digits=3),
         "vs CNN (Welch on mean val acc)": "—"}]
for lab_model, d in tr_hist.groupby("model", sort=False):
    m_mean, m_max, m_loss = early(d)
    cfg = next(r.config for lab, r in tr_results if lab["model"] == lab_model)
    rows.append({"model": lab_model, "source weights": source_note if prof["weights"] != "imagenet" else "ImageNet",
                 "input": f"{cfg.image_size} px", f"mean val acc, epochs 1-{n_ep}": report.mean_std(m_mean, digits=3),
                 f"best val acc ≤ {n_ep} ep.": report.mean_std(m_max, digits=3), "final train loss": report.mean_std(m_loss, digits=3),
                 "vs CNN (Welch on mean val acc)": report.verdict(m_mean, cnn_mean, "greater") + " (claim: better than CNN)"})
display(pd.DataFrame(rows).style.hide(axis="index"))
tl = tr_hist[tr_hist.epoch == tr_hist.epoch.max()].train_loss
display(Markdown(f"""
**Reported:** ResNet-18 has a much better validation accuracy than the CNN in the first 10 epochs, and a lower training loss than AlexNet; AlexNet starts above the CNN and then levels out; the transfer models' training loss stops falling at about 0.4.
**Ours:** the table above gives a Welch verdict per model against our CNN. The transfer models' final training loss is {report.mean_std(tl, digits=2)}, against about 0.4 reported.
{'Our source models were trained on 8 Fashion-MNIST classes, not ImageNet, so they transfer from a much closer domain than ImageNet does to CIFAR-10. A gap to the report in either direction is therefore expected.' if prof['weights'] != 'imagenet' else ''}
"""))
''', tags=["remove-input"])

# ---------------------------------------------------------------- Part 5
md(r"""
## Part 5: the accuracy-accumulation bug

The report's first `test.py` **overwrote** the count of correct predictions and the count of predictions at each batch instead of adding to them, so its "epoch accuracy" was the accuracy of the *last validation batch*.
The corrected version **accumulates**, and it also changed *what* is measured: accuracy on a 128-sample validation batch after every training batch (*per-batch*) instead of over the whole validation set once per epoch (*per-epoch*).
Below, both updates (`reprolib.accuracy`) are applied to the **same predictions**, those of each run's best model on its validation split, in batches of 128. The last column is the maximum accuracy over 100 random 128-sample validation batches, which is what "best per-batch validation accuracy" would report even if the model never changed.
""")
code('''
p5 = vc_a2.run_labelled(vc_a2.part5_configs(prof))
p5_df = vc_a2.results_table(p5)
bug_rows = []
for lab, r in p5:
    pred, y = vc_a2.validation_predictions(r)
    c = acc_mod.compare_updates(pred, y, 128)
    mb = acc_mod.max_of_batches(pred, y, min(128, len(y)), evaluations=100, seed=lab["seed"])
    bug_rows.append({**lab, "accumulating (right)": c["accumulating"], "overwriting (report's bug)": c["overwriting"],
                     "last batch size": c["last_batch_size"], "per-batch min": c["batch_min"], "per-batch max": c["batch_max"],
                     "max of 100 random batches": mb["max_batch"]})
bug = pd.DataFrame(bug_rows)
display(Markdown(f"**Same predictions, two updates** (validation set of {p5_df.n_val.iloc[0]} images, batches of 128):"))
display(bug.drop(columns="part").style.format(precision=3).hide(axis="index"))

rows = []
for (model, setting), rep in vc_a2.REPORTED["part5"].items():
    d = p5_df[(p5_df.model == model) & (p5_df.setting == setting)]
    b = bug[(bug.model == model) & (bug.setting == setting)]
    rows.append({"model": model, "setting": setting, "reported": rep, "ours": list(d.best_val_acc),
                 "ours, overwriting update": report.mean_std(b["overwriting (report's bug)"], digits=3),
                 "ours, max per-batch": report.mean_std(b["max of 100 random batches"], digits=3), "digits": 3})
display(Markdown("**The report's final four numbers beside ours** (best validation accuracy, accumulating update, per-epoch over the whole validation set):"))
display(report.reported_vs_ours(rows, source="report 002").style.hide(axis="index"))

def accs(model, setting):
    return list(p5_df[(p5_df.model == model) & (p5_df.setting == setting)].best_val_acc)
claims = [
    {"claim": "DA + WD 1e-5 improves the CNN", "reported": "0.8035 → 0.8644",
     "verdict": report.verdict(accs("CNN", "DA + WD 1e-5"), accs("CNN", "none"), "greater")},
    {"claim": "DA + WD 1e-5 improves ResNet-18", "reported": "0.8589 → 0.86321",
     "verdict": report.verdict(accs("ResNet-18", "DA + WD 1e-5"), accs("ResNet-18", "none"), "greater")},
    {"claim": "ResNet does not outperform the CNN with DA + WD", "reported": "0.86321 < 0.8644",
     "verdict": report.verdict(accs("CNN", "DA + WD 1e-5"), accs("ResNet-18", "DA + WD 1e-5"), "greater")},
]
display(pd.DataFrame(claims).style.hide(axis="index"))
''', tags=["remove-input"])
md(r"""
The overwriting update is exact for none of the runs unless the last batch happens to have the same accuracy as the whole set. With the validation size not a multiple of 128, the last batch is a small, noisy sample. The maximum over per-batch evaluations is biased upwards, even with the model held fixed. That bias is the reason this chapter reports per-epoch accuracy over the whole validation set everywhere else.
""")

# ---------------------------------------------------------------- compute
md("## Compute")
code('''
all_results = cnn_results + tr_results + p5
comp = vc_a2.compute_table(all_results)
prov = json.loads((all_results[0][1].path / "provenance.json").read_text())
total = comp.wall_seconds.sum()
display(Markdown(f"""
Hardware of the runs: **{prov['cpu']}**, {prov['cores']} cores, GPU: {prov['gpu'] or 'none'}; torch {prov['torch']}, reprolib {prov['reprolib']}.
**{len(comp)} distinct runs** (shared runs counted once; offline source models included) took **{total / 60:.1f} min** of training wall time in total
(median {comp.wall_seconds.median():.0f} s per run; {int(comp.cached.sum())} of them were read back from the run cache for this execution).
This page executed in {(time.time() - chapter_start) / 60:.1f} min, Part 1's descent sweep included.
"""))
display(comp.style.format({"wall_seconds": "{:.1f}", "images_per_second": "{:.0f}"}).hide(axis="index"))
''', tags=["remove-input"])
md(r"""
## Deviations from the report

* **Data.** At `cpu` the two classes are Fashion-MNIST Pullover vs Coat (28 × 28 grey, a subset of the training split), not CIFAR-10 cat vs dog (32 × 32 colour). Absolute accuracies are therefore not comparable to the report's; the *orderings* between settings are what is tested. `full` uses CIFAR-10 cat vs dog.
* **Transfer sources.** At `cpu` the source models are pretrained offline on the other eight Fashion-MNIST classes, not on ImageNet, and run at small input sizes (ResNet-18 at 32 px, AlexNet at 64 px) instead of 224/299 px. Only ResNet-18 and AlexNet run at `cpu`, which are the two the report trained. Feature extraction with data augmentation (Part 5, ResNet DA + WD) runs the frozen backbone on every augmented batch, and its source model is trained with weight decay 10⁻⁵ (the offline source run inherits the target's optimiser settings).
* **Epochs and seeds.** The CNN gets fewer epochs at `cpu` than the report used. There are 2 seeds per setting at `cpu` (3 at `full`), so Welch's test can separate only large differences, and many verdicts are *inconclusive* for that reason.
* **Part 1.** The functions are re-sampled by us (the assignment's PNGs are not available), which changes the absolute scale of good learning rates (see the Matyas note).
* **Part 5.** The report's per-training-batch validation accuracy needs the model at every step. We show its effect on fixed predictions instead: the overwrite bug, and the upward bias of a maximum over per-batch values.
""")

md("""
(live-explorer)=
## Appendix: live explorer (Part 1)

This redraws the descent for any function, start point (in pixels of the 256 × 256 grid), learning rate, β, Nesterov and ε. It needs a running Python kernel, so open the notebook in Jupyter to use it. It draws on the first change of a control. In the static book it cannot draw; use the precomputed explorer in Part 1 there.
""")
code('''
live_explorer(vc_a2.live_draw, function=list(optim2d.FUNCTIONS), start_x=(0.0, 255.0, 1.0), start_y=(0.0, 255.0, 1.0),
              lr=[0.1, 1.0, 10.0, 100.0, 1000.0], beta=(0.0, 0.99, 0.05), nesterov=True, eps=[0.25, 0.5, 1.0, 2.0, 4.0])
''', tags=["remove-input"])

nb = nbf.v4.new_notebook()
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
nbf.write(nb, "book/visual_computing_a2.ipynb")
print("written", len(cells), "cells")

import nbformat as nbf

nb = nbf.v4.new_notebook()
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s.strip()))
def code(s, tags=()):
    c = nbf.v4.new_code_cell(s.strip())
    if tags:
        c.metadata["tags"] = list(tags)
    cells.append(c)

md("""
# The pipeline, end to end

**Question.** Does the shared machinery every chapter stands on — datasets, the in-memory
input pipeline, models, the one trainer, the run cache, the reporting helpers and the
explorers — work end to end on real data, on this machine, at the chosen profile?

This page is the smallest real experiment that exercises all of it: a pre-activation
WRN trained on **real Fashion-MNIST** (Debian's `dataset-fashion-mnist`) at a few learning
rates and seeds, with curves over seeds, a results table, a cached re-run, and an explorer
that works in the static book.
""")
code("""
profile = "cpu"
seeds = [0, 1]
learning_rates = [0.02, 0.1, 0.4]
""", tags=("parameters",))
code("""
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from reprolib import data, models, report, runs, widgets
from reprolib.experiments import TrainConfig, prepare_data
from reprolib.loader import TensorLoader, build_augment
from reprolib.train import default_device

report.set_style()
chapter_start = time.perf_counter()
base = TrainConfig.from_profile(profile)
configs = [base.replace(lr=float(lr), seed=int(s)) for lr in learning_rates for s in seeds]
""", tags=("remove-input",))
md("""
## Data available here

`reprolib.data` registers every dataset the book uses. Those marked available are on this
machine; the others fail with a message naming the paths searched and how to obtain them
(`python -m reprolib datasets` prints the same list).
""")
code("""
pd.DataFrame(data.availability())[["dataset", "available", "description", "how to obtain"]]
""", tags=("remove-input",))
md("""
A batch as the trainer sees it: the whole split lives in memory as one `uint8` tensor;
a batch is one index operation, and augmentation (random crop with 4-pixel padding,
horizontal flip) runs on the whole batch at once — no per-image PIL work.
""")
code("""
fm = data.load(base.dataset, "train")
loader = TensorLoader(fm, batch_size=16, augment=build_augment(("crop", "flip"), 4), seed=0)
augmented, labels = next(iter(loader))
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
first = [int((fm.labels == c).nonzero()[0]) for c in range(fm.num_classes)] + [int((fm.labels == c).nonzero()[1]) for c in range(fm.num_classes)]
report.image_grid(fm.images[first], nrow=10, ax=axes[0], title="Fashion-MNIST: two images per class")
report.image_grid(augmented, nrow=8, mean=fm.mean, std=fm.std, ax=axes[1], title="one augmented training batch")
plt.show()
""", tags=("remove-input",))
md("""
## Setup

One `TrainConfig` describes a run completely; the profile fills its defaults and the
page's parameters override the learning rate and seed. The run cache keys each run by a
hash of this full config (plus the package version), so re-rendering the book re-uses
finished runs and an interrupted run resumes from its last epoch.
""")
code("""
setup = pd.DataFrame(
    {"value": [profile, base.dataset, base.train_size or "all", base.model, base.epochs, base.batch_size,
               f"{base.optimizer}, momentum {base.momentum}", ", ".join(map(str, learning_rates)), ", ".join(map(str, seeds)), str(default_device())]},
    index=["profile", "dataset", "training images (before the 10% validation split)", "model", "epochs", "batch size", "optimizer",
           "learning rates", "seeds", "device"],
)
setup
""", tags=("remove-input",))
code("""
results = runs.run_many(configs)
by_lr = {lr: [r for r in results if r.config.lr == lr] for lr in learning_rates}
""")
md("""
## Results

Validation accuracy and training loss per epoch, mean ± one standard deviation over seeds.
""")
code("""
epochs = pd.concat([report.history_frame(by_lr[lr], "epoch", **{"learning rate": lr}) for lr in learning_rates], ignore_index=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
report.curves(epochs, "epoch", "val_acc", hue="learning rate", ax=axes[0], title="validation accuracy")
report.curves(epochs, "epoch", "train_loss", hue="learning rate", ax=axes[1], title="training loss")
fig.tight_layout()
plt.show()
""", tags=("remove-input",))
code("""
table = pd.DataFrame([
    {
        "learning rate": lr,
        "best validation accuracy (%)": report.mean_std([r.metrics["best_val_acc"] for r in by_lr[lr]], scale=100),
        "test accuracy of the best checkpoint (%)": report.mean_std([r.metrics["test_acc"] for r in by_lr[lr]], scale=100),
        "seconds per run": report.mean_std([r.metrics["train_seconds"] for r in by_lr[lr]], digits=0),
        "images/s": report.mean_std([r.metrics["images_per_second"] for r in by_lr[lr]], digits=0),
    }
    for lr in learning_rates
])
table
""", tags=("remove-input",))
code("""
best_lr = max(learning_rates, key=lambda lr: sum(r.metrics["best_val_acc"] for r in by_lr[lr]))
others = [lr for lr in learning_rates if lr != best_lr]
lines = [f"The best learning rate here is **{best_lr}**."]
for lr in others:
    a = [r.metrics["test_acc"] for r in by_lr[best_lr]]
    b = [r.metrics["test_acc"] for r in by_lr[lr]]
    lines.append(f"- test accuracy at {best_lr} vs {lr}: {report.verdict(a, b)}")
display(Markdown("\\n".join(lines)))
""", tags=("remove-input",))
md("""
## Explore

Choose a learning rate and a quantity; the figure switches in your browser (the images were
computed when the page was built, so this works in the static book without a kernel).
""")
code("""
def draw_runs(learning_rate, quantity):
    df = epochs[epochs["learning rate"] == learning_rate]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for seed, part in df.groupby("seed"):
        ax.plot(part["epoch"], part[quantity], marker="o", label=f"seed {seed}")
    ax.set(xlabel="epoch", ylabel=quantity, title=f"lr = {learning_rate}: {quantity}")
    ax.legend()
    return fig

widgets.explorer({"learning_rate": learning_rates, "quantity": ["val_acc", "train_loss", "train_acc"]}, draw_runs,
                 title="Per-seed curves of the runs above")
""", tags=("remove-input",))
md("""
With a live kernel (open this notebook in Jupyter), the explorer below trains — or reads
from the run cache — a run for *any* learning rate, not just the precomputed ones.
""")
code("""
def draw_live(learning_rate=learning_rates[0], seed=seeds[0]):
    result = runs.run(base.replace(lr=float(learning_rate), seed=int(seed)), progress=False)
    df = pd.DataFrame(result.history["epoch"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(df["epoch"], df["val_acc"], marker="o")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"lr = {learning_rate}, seed {seed}" + (" (cached)" if result.cached else ""))
    return fig

widgets.live_explorer(draw_live, learning_rate=widgets.widgets.FloatLogSlider(value=learning_rates[0], base=10, min=-3, max=0, step=0.25), seed=seeds)
""", tags=("remove-input",))
md("""
## The run cache

Asking for a finished run again reads it back instead of training; its entry on disk holds
the config, metrics, history, weights, provenance and a checksummed manifest.
""")
code("""
t0 = time.perf_counter()
again = runs.run(configs[0], progress=False)
print(f"cached: {again.cached}; read back in {time.perf_counter() - t0:.2f} s; files: {', '.join(again.files())}")
""")
md("""
## Verdict and cost

The pipeline trains real models on real data through the shared code path, caches and
reloads them, and the explorer switches its figures client-side. The compute used by
this page (from the runs' own records, so it is the cost from an empty cache even when
the page was rendered from the cache):
""")
code("""
train_total = sum(r.metrics["wall_seconds"] for r in results)
print(f"{len(results)} runs, {train_total / 60:.1f} min of training in total on {results[0].metrics['device']}; "
      f"this execution took {(time.perf_counter() - chapter_start) / 60:.1f} min")
""", tags=("remove-input",))
nb.cells = cells
import pathlib
nbf.write(nb, pathlib.Path(__file__).resolve().parents[1] / "book" / "pipeline.ipynb")

"""Reporting shared by every chapter: style, curves over seeds, reported-vs-ours tables, tests.

Conventions (MLRC / ReScience): reported numbers cite the seed report they come from;
ours are ``mean ± std (n=…)`` over seeds; a claim "A beats B" is checked with Welch's
t-test, and a verdict says *reproduced*, *not reproduced* or *inconclusive*.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

PALETTE = "colorblind"


def set_style() -> None:
    """One look for every figure in the book."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update({"figure.dpi": 90, "savefig.dpi": 90, "figure.figsize": (7, 4), "axes.titleweight": "bold"})


def mean_std(values: Iterable[float], scale: float = 1.0, digits: int = 2) -> str:
    """``"m ± s (n=k)"``, sample std (ddof=1; 0 for one value)."""
    v = np.asarray([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], dtype=float) * scale
    if len(v) == 0:
        return "—"
    s = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {s:.{digits}f} (n={len(v)})"


def history_frame(results, key: str = "epoch", label: str | None = None, **labels) -> pd.DataFrame:
    """Long-form history of several runs: one row per (run, epoch or step), with ``seed`` and labels."""
    frames = []
    for r in results:
        df = pd.DataFrame(r.history.get(key, []))
        if df.empty:
            continue
        df["seed"] = r.config.seed if hasattr(r.config, "seed") else 0
        if label is not None:
            df["setting"] = label
        for k, v in labels.items():
            df[k] = v
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def curves(df: pd.DataFrame, x: str, y: str, hue: str | None = None, ax=None, title: str | None = None, band: str = "sd"):
    """Mean curve with a ± std band over seeds (seaborn aggregates the rows sharing ``x`` and ``hue``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots()
    sns.lineplot(data=df, x=x, y=y, hue=hue, errorbar=band, ax=ax, marker="o" if df[x].nunique() < 30 else None)
    if title:
        ax.set_title(title)
    if hue and ax.get_legend() is not None:
        ax.legend(title=hue, fontsize="small")
    return ax


def welch(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> dict:
    """Welch's unequal-variance t-test of mean(a) vs mean(b) (scipy); NaN p when n < 2 in a group."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return {"t": float("nan"), "p": float("nan"), "diff": float(a.mean() - b.mean()) if len(a) and len(b) else float("nan"), "n_a": len(a), "n_b": len(b)}
    res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    return {"t": float(res.statistic), "p": float(res.pvalue), "diff": float(a.mean() - b.mean()), "n_a": len(a), "n_b": len(b)}


def verdict(a: Sequence[float], b: Sequence[float], claim_holds_if: str = "greater", alpha: float = 0.05) -> str:
    """Verdict on the claim "A {greater|less} than B" from Welch's test.

    *reproduced* when the one-sided test rejects at ``alpha``; *not reproduced* when the
    opposite one-sided test does; else *inconclusive* (too few seeds or too small a gap).
    """
    if len(a) < 2 or len(b) < 2:
        return "inconclusive (n < 2 per group)"
    opposite = "less" if claim_holds_if == "greater" else "greater"
    p = welch(a, b, claim_holds_if)["p"]
    if p < alpha:
        return f"reproduced (Welch p = {p:.3g})"
    q = welch(a, b, opposite)["p"]
    if q < alpha:
        return f"not reproduced: the opposite holds (Welch p = {q:.3g})"
    return f"inconclusive (Welch p = {p:.3g})"


def reported_vs_ours(rows: Sequence[dict], source: str | None = None) -> pd.DataFrame:
    """A table of rows like ``{"setting": ..., "reported": 0.89, "ours": [0.87, 0.88], "verdict": ...}``.

    ``ours`` may be a list of per-seed values (formatted ``mean ± std (n)``) or a string.
    ``source`` names the seed report the reported values come from (shown in the header).
    """
    out = []
    for row in rows:
        row = dict(row)
        ours = row.get("ours")
        if isinstance(ours, (list, tuple, np.ndarray)):
            row["ours"] = mean_std(ours, scale=row.pop("scale", 1.0), digits=row.pop("digits", 2))
        else:
            row.pop("scale", None)
            row.pop("digits", None)
        out.append(row)
    df = pd.DataFrame(out)
    if source and "reported" in df:
        df = df.rename(columns={"reported": f"reported ({source})"})
    return df


def image_grid(images, nrow: int = 8, mean=None, std=None, ax=None, title: str | None = None):
    """Show a batch of (N, C, H, W) images (optionally un-normalising) as one grid."""
    import matplotlib.pyplot as plt
    import torch
    import torchvision

    x = torch.as_tensor(images).detach().float().cpu()
    if mean is not None:
        x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    elif x.max() > 1.5:
        x = x / 255.0
    grid = torchvision.utils.make_grid(x.clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.8, math.ceil(len(x) / nrow) * 0.8 + 0.3))
    ax.imshow(grid.permute(1, 2, 0).numpy().squeeze(), cmap="gray" if grid.shape[0] == 1 or x.shape[1] == 1 else None)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def compute_table(results, label_key=None) -> pd.DataFrame:
    """Hardware and time per run, for a chapter's compute section."""
    rows = []
    for r in results:
        m = r.metrics
        rows.append(
            {
                "experiment": r.config.EXPERIMENT,
                "run": label_key(r) if label_key else r.path.name[:10],
                "seconds": m.get("wall_seconds", float("nan")),
                "device": m.get("device", ""),
                "from cache": r.cached,
            }
        )
    return pd.DataFrame(rows)

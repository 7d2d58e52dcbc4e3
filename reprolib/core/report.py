"""Reporting shared by every chapter: style, curves over seeds, reported-vs-ours tables, tests.

Conventions (MLRC / ReScience): reported numbers cite the seed report they come from;
ours are ``mean ± std (n=…)`` over seeds.  A verdict follows from a test
(:func:`verdict`): a difference from Welch's t-test, "the same" from an equivalence
test (two one-sided tests, TOST, with a stated margin), "inconclusive" when neither
decides.  The vocabulary is fixed: :data:`VERDICTS`.

A diverged run (``result.diverged``, see :mod:`reprolib.core.runs`) is never a result:
:func:`values` gives NaN for it (so means, tests and verdicts leave it out and show the
smaller n), :func:`summarize` says how many runs diverged, :func:`history_frame` leaves
its curves out, and :func:`best_setting` never picks a setting with a diverged run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
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


def history_frame(results, key: str = "epoch", label: str | None = None, one_based: bool = False, **labels) -> pd.DataFrame:
    """Long-form history of several finished runs (diverged runs are left out): one row per (run, epoch or step), with ``seed`` and labels.

    ``one_based`` numbers epochs from 1, as most reports' figures do.
    """
    frames = []
    for r in results:
        if is_diverged(r):  # its curve up to the divergence is not a result (and would wreck the axes)
            continue
        df = pd.DataFrame(r.history.get(key, []))
        if df.empty:
            continue
        df["seed"] = r.config.seed if hasattr(r.config, "seed") else 0
        if label is not None:
            df["setting"] = label
        for k, v in labels.items():
            df[k] = v
        if one_based and "epoch" in df:
            df["epoch"] = df["epoch"] + 1
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


@contextlib.contextmanager
def _quiet_constant_samples():
    """scipy warns ("precision loss") when one group has no spread; Welch's test is still defined then."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        yield


def welch(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> dict:
    """Welch's unequal-variance t-test of mean(a) vs mean(b) (scipy); NaN p when n < 2 in a group."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return {"t": float("nan"), "p": float("nan"), "diff": float(a.mean() - b.mean()) if len(a) and len(b) else float("nan"), "n_a": len(a), "n_b": len(b)}
    with _quiet_constant_samples():
        res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    return {"t": float(res.statistic), "p": float(res.pvalue), "diff": float(a.mean() - b.mean()), "n_a": len(a), "n_b": len(b)}


def tost(a: Sequence[float], b: Sequence[float], margin: float) -> dict:
    """Two one-sided Welch tests of |mean(a) − mean(b)| < ``margin`` (Schuirmann 1987).

    H0₁: diff ≤ −margin and H0₂: diff ≥ +margin; the equivalence p-value is the larger
    of the two one-sided p-values (NaN when a group has fewer than 2 values).
    """
    from scipy import stats

    if margin <= 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin}")
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return {"p": float("nan"), "diff": float(a.mean() - b.mean()) if len(a) and len(b) else float("nan"), "margin": margin}
    with _quiet_constant_samples():
        p_low = stats.ttest_ind(a + margin, b, equal_var=False, alternative="greater").pvalue
        p_high = stats.ttest_ind(a - margin, b, equal_var=False, alternative="less").pvalue
    return {"p": float(max(p_low, p_high)), "diff": float(a.mean() - b.mean()), "margin": margin}


#: the fixed verdict vocabulary of the book
VERDICTS = ("reproduced", "not reproduced", "equivalent", "inconclusive", "not run")
CLAIMS = ("greater", "less", "same")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A verdict label from :data:`VERDICTS` and the test that decided it (``str()`` gives both)."""

    label: str
    test: str = ""
    p: float | None = None

    def __post_init__(self):
        if self.label not in VERDICTS:
            raise ValueError(f"verdict {self.label!r} is not one of {VERDICTS}")

    def __str__(self) -> str:
        return f"{self.label} ({self.test})" if self.test else self.label


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def verdict(a: Sequence[float], b: Sequence[float], claim: str = "greater", margin: float | None = None,
            alpha: float = 0.05) -> Verdict:
    """Verdict on a claim about A vs B from per-seed values.

    ``claim="greater"`` (or ``"less"``): A is better (worse) than B.  *reproduced* when the
    one-sided Welch test in the claimed direction rejects at ``alpha``; *not reproduced*
    when the opposite one-sided test does; *equivalent* when TOST with ``margin`` shows
    A and B the same (the claimed difference is absent at this scale); else *inconclusive*.

    ``claim="same"``: A and B perform the same.  *equivalent* when TOST with ``margin``
    rejects (the claim holds); *not reproduced* when a two-sided Welch test finds a
    difference; else *inconclusive*.  A sameness claim needs a margin.
    """
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {CLAIMS}, got {claim!r}")
    na, nb = len(a), len(b)
    n = f"n = {na}, {nb}"
    if na < 2 or nb < 2:
        return Verdict("inconclusive", f"{n}: a test needs n ≥ 2 per group")
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread in either group: no t statistic, the values decide
        gap = float(a[0]) - float(b[0])
        if gap == 0:
            return Verdict("inconclusive", f"every value equals {float(a[0]):g} in both groups: nothing to rank, {n}")
        holds = {"greater": gap > 0, "less": gap < 0, "same": margin is not None and abs(gap) < margin}[claim]
        if claim == "same" and margin is None:
            raise ValueError("a sameness claim needs an equivalence margin (TOST)")
        label = ("equivalent" if holds else "not reproduced") if claim == "same" else ("reproduced" if holds else "not reproduced")
        return Verdict(label, f"no spread: all of A = {float(a[0]):g}, all of B = {float(b[0]):g}, {n}")
    eq = None
    if margin is not None:
        eq = tost(a, b, margin)
    if claim == "same":
        if margin is None:
            raise ValueError("a sameness claim needs an equivalence margin (TOST)")
        if eq["p"] < alpha:
            return Verdict("equivalent", f"TOST ±{margin:g}: p = {_fmt_p(eq['p'])}, {n}", eq["p"])
        p2 = welch(a, b, "two-sided")["p"]
        if p2 < alpha:
            return Verdict("not reproduced", f"Welch two-sided p = {_fmt_p(p2)}, {n}", p2)
        return Verdict("inconclusive", f"TOST ±{margin:g}: p = {_fmt_p(eq['p'])}; Welch p = {_fmt_p(p2)}, {n}", eq["p"])
    opposite = "less" if claim == "greater" else "greater"
    p = welch(a, b, claim)["p"]
    if p < alpha:
        return Verdict("reproduced", f"Welch one-sided p = {_fmt_p(p)}, {n}", p)
    q = welch(a, b, opposite)["p"]
    if q < alpha:
        return Verdict("not reproduced", f"the opposite holds: Welch one-sided p = {_fmt_p(q)}, {n}", q)
    if eq is not None and eq["p"] < alpha:
        return Verdict("equivalent", f"no difference beyond ±{margin:g}: TOST p = {_fmt_p(eq['p'])}; Welch p = {_fmt_p(p)}, {n}", eq["p"])
    extra = f"; TOST ±{margin:g}: p = {_fmt_p(eq['p'])}" if eq is not None else ""
    return Verdict("inconclusive", f"Welch one-sided p = {_fmt_p(p)}{extra}, {n}", p)


def verdict_threshold(values: Sequence[float], threshold: float, claim: str = "greater", alpha: float = 0.05) -> Verdict:
    """Verdict on "the mean of ``values`` is above (``greater``) or below (``less``) ``threshold``": one-sample t-tests."""
    from scipy import stats

    if claim not in ("greater", "less"):
        raise ValueError(f"claim must be 'greater' or 'less', got {claim!r}")
    v = np.asarray(values, float)
    n = f"n = {len(v)}"
    if len(v) < 2:
        return Verdict("inconclusive", f"{n}: a test needs n ≥ 2")
    if np.std(v) == 0:  # identical values: the sign of the gap decides without a test statistic
        gap = v[0] - threshold
        holds = gap > 0 if claim == "greater" else gap < 0
        return Verdict("reproduced" if holds else "not reproduced", f"all {len(v)} values equal {v[0]:g}")
    opposite = "less" if claim == "greater" else "greater"
    p = float(stats.ttest_1samp(v, threshold, alternative=claim).pvalue)
    if p < alpha:
        return Verdict("reproduced", f"one-sample t-test vs {threshold:g}: p = {_fmt_p(p)}, {n}", p)
    q = float(stats.ttest_1samp(v, threshold, alternative=opposite).pvalue)
    if q < alpha:
        return Verdict("not reproduced", f"the opposite holds: one-sample t-test vs {threshold:g}: p = {_fmt_p(q)}, {n}", q)
    return Verdict("inconclusive", f"one-sample t-test vs {threshold:g}: p = {_fmt_p(p)}, {n}", p)


def verdict_rates(hits_a: int, n_a: int, hits_b: int, n_b: int, claim: str = "greater", alpha: float = 0.05) -> Verdict:
    """Verdict on "events (e.g. diverged runs) are more (``greater``) or less (``less``) frequent in A than in B".

    Counts, not per-seed means: Fisher's exact test on the 2×2 table (hits and misses of A and B), one-sided
    in the claimed direction; *not reproduced* when the opposite one-sided test rejects; else *inconclusive*.
    """
    from scipy import stats

    if claim not in ("greater", "less"):
        raise ValueError(f"claim must be 'greater' or 'less', got {claim!r}")
    for hits, n in ((hits_a, n_a), (hits_b, n_b)):
        if not 0 <= hits <= n:
            raise ValueError(f"a count of {hits} events in {n} runs is impossible")
    n = f"{hits_a} of {n_a} vs {hits_b} of {n_b}"
    if n_a == 0 or n_b == 0:
        return Verdict("inconclusive", f"{n}: a group has no runs")
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    p = float(stats.fisher_exact(table, alternative=claim).pvalue)
    if p < alpha:
        return Verdict("reproduced", f"Fisher's exact one-sided p = {_fmt_p(p)}, {n}", p)
    q = float(stats.fisher_exact(table, alternative="less" if claim == "greater" else "greater").pvalue)
    if q < alpha:
        return Verdict("not reproduced", f"the opposite holds: Fisher's exact one-sided p = {_fmt_p(q)}, {n}", q)
    return Verdict("inconclusive", f"Fisher's exact one-sided p = {_fmt_p(p)}, {n}", p)


def is_diverged(result) -> bool:
    """Whether a run result is a diverged run (no metrics; never a result)."""
    return bool(getattr(result, "diverged", False))


def values(results, metric: str = "test_acc") -> list[float]:
    """One metric of several runs (e.g. the per-seed test accuracies of one setting); NaN for a diverged run.

    NaN is what every summary here leaves out (:func:`mean_std`, ``Verdicts``), so the n
    they show counts the finished runs only; :func:`summarize` also says how many diverged.
    """
    return [math.nan if is_diverged(r) else r.metrics[metric] for r in results]


def summarize(results, metric: str = "test_acc", scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± std (n=k)`` of the finished runs, with ``"; d of N diverged"`` — or ``"diverged (N of N runs)"``."""
    results = list(results)
    n_div = sum(is_diverged(r) for r in results)
    if results and n_div == len(results):
        return f"diverged ({n_div} of {n_div} runs)"
    text = mean_std(values(results, metric), scale, digits)
    return text + (f"; {n_div} of {len(results)} diverged" if n_div else "")


def diverged_settings(groups: dict) -> list:
    """The labels of ``{label: [results]}`` with at least one diverged run."""
    return [label for label, rs in groups.items() if any(is_diverged(r) for r in rs)]


def best_setting(groups: dict, metric: str = "best_val_acc", higher: bool = True):
    """The label of ``{label: [results]}`` with the best mean ``metric``, or None.

    A setting with a diverged run is never the best (a setting that diverges for one seed is
    not a reliable choice), nor one without finite values; None when no setting qualifies.
    """
    means = {}
    for label, rs in groups.items():
        vals = [v for v in values(rs, metric) if v is not None and math.isfinite(v)]
        if rs and not any(is_diverged(r) for r in rs) and len(vals) == len(rs):
            means[label] = float(np.mean(vals))
    if not means:
        return None
    return (max if higher else min)(means, key=means.get)


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

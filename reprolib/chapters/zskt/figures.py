"""Tables, figures and verdicts of the ZSKT chapter (the notebook only calls these)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from reprolib.core import report
from reprolib.core.supervised import load_trained

from . import probes, reported as R
from .plan import Plan, short
from .zeroshot import DIFFERENCES, load_student

accs = report.values


def pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.2f}"


def ms(results, metric: str = "test_acc") -> str:
    """Test accuracies of several runs as percent ``m ± s (n=k)``."""
    return report.mean_std(accs(results, metric), scale=100)


# ---------------------------------------------------------------------------- setup
def pair_table(plan: Plan) -> pd.DataFrame:
    return pd.DataFrame([{"report teacher": short(t), "report student": short(s), "our teacher": short(plan.arch(t)),
                          "our student": short(plan.arch(s))} for t, s in R.PAIRS])


def differences(plan: Plan) -> str:
    lines = [f"- {d}" for d in DIFFERENCES]
    if plan.settings.profile != "full":
        lines.append(f"- Reduced scale (see the settings table): fewer iterations, smaller networks and images, and "
                     f"n_S = {plan.base.n_s} student steps per iteration instead of 10, so that the zero-shot loop trains "
                     f"in minutes; a generator of width {plan.base.gen_width:g} keeps its capacity near the small "
                     "students' (the original authors scale the generator with the task).")
    return "\n".join(lines)


def teacher_table(teachers: dict) -> pd.DataFrame:
    return pd.DataFrame([{"architecture": short(a), "test accuracy (%)": pct(r.metrics["test_acc"]),
                          "epochs": r.metrics["epochs_run"], "train images": r.metrics["n_train"],
                          "minutes": round((r.metrics.get("wall_seconds") or np.nan) / 60, 2)} for a, r in teachers.items()])


# ---------------------------------------------------------------------------- tables
def table1(plan: Plan, teachers: dict, kd_pairs: dict) -> pd.DataFrame:
    rows = []
    for p in R.PAIRS:
        ts, ss, theirs, paper = R.TABLE1[p]
        rows.append({"teacher": short(p[0]), "student": short(p[1]), "ours": f"{short(plan.arch(p[0]))} → {short(plan.arch(p[1]))}",
                     "teacher scratch (report)": ts, "teacher scratch (ours)": pct(teachers[plan.arch(p[0])].metrics["test_acc"]),
                     "student scratch (report)": ss, "student scratch (ours)": pct(teachers[plan.arch(p[1])].metrics["test_acc"]),
                     "KD+AT, authors' code (report)": theirs, "KD+AT (paper)": paper,
                     f"KD+AT, ours (M={plan.settings.kdat_m})": ms(kd_pairs[p])})
    return pd.DataFrame(rows)


def table24(plan: Plan, teachers: dict, zs_pairs: dict) -> pd.DataFrame:
    rows = []
    for p in R.PAIRS:
        t4_t, t4_s, t4_zs = R.TABLE4[p]
        t2_code, t2_paper = R.TABLE2[p]
        rows.append({"teacher": short(p[0]), "student": short(p[1]), "ours": f"{short(plan.arch(p[0]))} → {short(plan.arch(p[1]))}",
                     "teacher scratch (report T4)": t4_t, "teacher scratch (ours)": pct(teachers[plan.arch(p[0])].metrics["test_acc"]),
                     "student scratch (report T4)": t4_s, "student scratch (ours)": pct(teachers[plan.arch(p[1])].metrics["test_acc"]),
                     "zero-shot, authors' code (report T2)": t2_code, "zero-shot (paper)": t2_paper,
                     "zero-shot, report's code (T4)": t4_zs, "zero-shot (ours)": ms(zs_pairs[p])})
    return pd.DataFrame(rows)


def fewshot_table(main_zs: list, few: dict) -> pd.DataFrame:
    rows = [{"method": "zero-shot (M = 0)", "M": 0, "ours": ms(main_zs), "paper (CIFAR-10)": 83.69}]
    for (mode, m), rs in few.items():
        pub = dict(zip(R.FEWSHOT_PUBLISHED["M"], R.FEWSHOT_PUBLISHED["KD+AT" if mode == "kd+at" else "no teacher"]))
        rows.append({"method": "KD+AT" if mode == "kd+at" else "no teacher", "M": m, "ours": ms(rs),
                     "paper (CIFAR-10)": pub.get(m, "—")})
    return pd.DataFrame(rows)


def fewshot_figure(plan: Plan, main_zs: list, few: dict):
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    m_values = sorted({m for _, m in few})
    for mode, label, col in (("kd+at", "KD+AT", "C1"), ("none", "no teacher", "C2")):
        vals = np.array([[100 * a for a in accs(few[(mode, m)])] for m in m_values])
        ax.errorbar(m_values, vals.mean(1), yerr=vals.std(1, ddof=1) if vals.shape[1] > 1 else None, marker="o",
                    color=col, label=label, capsize=3)
    zs_vals = 100 * np.array(accs(main_zs))
    ax.axhline(zs_vals.mean(), color="C0", label="zero-shot (M = 0)")
    ax.axhspan(zs_vals.mean() - zs_vals.std(), zs_vals.mean() + zs_vals.std(), color="C0", alpha=0.15)
    ax.axhline(100 / main_zs[0].metrics["num_classes"], color="gray", ls=":", label="chance")
    ax.set_xlabel("M (images per class)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    ax.set_title(f"{short(plan.arch(R.MAIN_PAIR[0]))} → {short(plan.arch(R.MAIN_PAIR[1]))}, mean ± std over "
                 f"{len(plan.seeds)} seed(s)", fontsize=9)
    return fig


def beta_table(plan: Plan, beta_runs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"β": f"{b:g}" + (" (baseline)" if b == plan.base.beta else ""), "report": R.TABLE5_BETA.get(b, "—"),
                          "ours": ms(rs)} for b, rs in beta_runs.items()])


def setups_table(plan: Plan, teachers: dict, t5: dict, zs_pairs: dict) -> pd.DataFrame:
    """Table 5's other set-ups: dynamic n_G, same architecture, the chain."""
    same_pair = tuple(plan.arch(a) for a in R.SAME_ARCH["pair"])
    a = plan.arch
    return pd.DataFrame([
        {"set-up": "n_G constant = 1 (baseline)", "report": R.DYNAMIC_NG[1], "ours": ms(t5["base"])},
        {"set-up": "n_G dynamic 1 → 2 → 4", "report": R.DYNAMIC_NG[0], "ours": ms(t5["dynamic"])},
        {"set-up": f"same architecture {short(same_pair[0])} → {short(same_pair[1])}: teacher", "report": R.SAME_ARCH["teacher"],
         "ours": pct(teachers[same_pair[0]].metrics["test_acc"])},
        {"set-up": "same architecture: zero-shot student", "report": R.SAME_ARCH["student"], "ours": ms(t5["same"])},
        {"set-up": f"chain: middle student {short(a(R.CHAIN['via']))} (zero-shot from {short(a(R.CHAIN['teacher']))})",
         "report": R.CHAIN["middle"], "ours": ms(zs_pairs[(R.CHAIN["teacher"], R.CHAIN["via"])])},
        {"set-up": f"chain: final student {short(a(R.CHAIN['student']))} (zero-shot from the middle student)",
         "report": R.CHAIN["final"], "ours": ms(t5["chain"])},
        {"set-up": f"for comparison: {short(a(R.CHAIN['via']))} teacher trained on data → {short(a(R.CHAIN['student']))}",
         "report": R.TABLE4[(R.CHAIN["via"], R.CHAIN["student"])][2], "ours": ms(zs_pairs[(R.CHAIN["via"], R.CHAIN["student"])])},
    ])


def table6(plan: Plan, teachers: dict, main_zs: list, other: dict, scratch: dict, available) -> pd.DataFrame:
    names = ["svhn", "mnist", "fashion_mnist", "cifar100"] + (["digits"] if "digits" in plan.settings.datasets else [])
    rows = []
    for name in names:
        rep = R.TABLE6.get(name, ("—", "—", "—", "—"))
        row = {"dataset": name, "teacher scratch (report)": rep[0], "student scratch (report)": rep[1],
               "zero-shot (report)": rep[2], "batches (report)": rep[3]}
        if name == plan.base.dataset:
            row.update({"teacher scratch (ours)": pct(teachers[plan.arch(R.MAIN_PAIR[0])].metrics["test_acc"]),
                        "student scratch (ours)": pct(teachers[plan.arch(R.MAIN_PAIR[1])].metrics["test_acc"]),
                        "zero-shot (ours)": ms(main_zs), "batches (ours)": plan.base.iterations})
        elif name in other:
            rs = other[name]
            row.update({"teacher scratch (ours)": pct(rs[0].metrics["teacher_test_acc"]),
                        "student scratch (ours)": pct(scratch[name].metrics["test_acc"]),
                        "zero-shot (ours)": ms(rs), "batches (ours)": rs[0].config.iterations})
        else:
            why = "not available offline" if not available(name) else f"not run at profile {plan.settings.profile}"
            row.update({"teacher scratch (ours)": why, "student scratch (ours)": "", "zero-shot (ours)": "", "batches (ours)": ""})
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- transition curves
def plot_transition(ax, curves: dict, title: str, source=None, target=None, num_classes: int = 10, steps: int | None = None):
    out = probes.pair_curve(curves, source, target, num_classes)
    if out is None:
        ax.text(0.5, 0.5, "no image both nets agree on", ha="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=9)
        return
    (ms_, bs), (mt, bt), n = out
    k = np.arange(len(ms_)) if steps is None else np.arange(min(steps, len(ms_)))
    for (m, b), lab, col in (((ms_, bs), "student (net A)", "C0"), ((mt, bt), "teacher (net B)", "C3")):
        ax.plot(k, m[k], color=col, label=lab)
        ax.fill_between(k, (m - b)[k], (m + b)[k], color=col, alpha=0.25)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("adversarial step k")
    ax.set_ylabel("p(target j)")
    ax.set_title(f"{title}  (n={n})", fontsize=9)


class Curves:
    """Transition curves of the chapter's students against a teacher (memoised in the run cache)."""

    def __init__(self, plan: Plan, teacher_result, test):
        self.plan, self.test = plan, test
        self.teacher_result = teacher_result
        self.teacher = load_trained(teacher_result)
        s = plan.settings
        self.n_images, self.steps, self.step_size = s.tc_images, s.tc_steps, s.tc_step_size

    def of(self, student_result, student=None) -> dict:
        student = student if student is not None else (
            load_trained(student_result) if student_result.config.EXPERIMENT == "supervised" else load_student(student_result))
        return probes.curves(student, self.teacher, self.test, self.n_images, self.steps, self.step_size,
                             cache_key=f"{student_result.path}|{self.teacher_result.path}")


def figure2(plan: Plan, tc: dict):
    big = R.BIG_PAIR
    k = min(plan.settings.tc_steps, 30)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), sharey=True)
    labels = {"KD+AT": f"(a) KD+AT student (M={plan.settings.kdat_m})", "zero-shot": "(b) zero-shot student",
              "scratch": "(c) student trained on data", "zero-shot, larger student": f"(d) zero-shot {short(plan.arch(big[1]))}"}
    for ax, key in zip(axes, labels):
        plot_transition(ax, tc[key][0], labels[key], steps=k)
    next((ax.legend(fontsize=8) for ax in axes if ax.get_legend_handles_labels()[0]), None)
    fig.suptitle(f"Figure 2 (ours): {plan.base.dataset}, teacher {short(plan.arch(R.MAIN_PAIR[0]))}, student "
                 f"{short(plan.arch(R.MAIN_PAIR[1]))} (d: {short(plan.arch(big[1]))}), seed {plan.seeds[0]}, first {k} steps",
                 fontsize=10)
    fig.tight_layout()
    return fig


def mte_values(tc: dict, steps: int) -> dict:
    return {k: [probes.mean_transition_error(c["p_student"], c["p_teacher"], steps) for c in v] for k, v in tc.items()}


def mte_table(mte: dict, steps: int) -> pd.DataFrame:
    pub = R.MTE_PUBLISHED
    return pd.DataFrame([{"student": k, f"MTE, ours (first {steps} steps)": report.mean_std(v, 1.0, 4),
                          "MTE, authors (CIFAR-10, 100 steps)": pub["cifar10"].get(k, "—"),
                          "MTE, authors (SVHN)": pub["svhn"].get(k, "—")} for k, v in mte.items()])


# ---------------------------------------------------------------------------- samples and accuracy curves
def show_images(ax, samples: np.ndarray, mean, std, nrow: int = 8, title: str = ""):
    """Generator samples (normalised space) as one grid."""
    report.image_grid(samples, nrow=nrow, mean=mean, std=std, ax=ax, title=title or None)


def samples_figure(result, seed: int):
    samples, its = result.load_array("samples"), result.load_array("sample_iterations")
    mean, std = result.metrics["mean"], result.metrics["std"]
    fig, axes = plt.subplots(len(its), 1, figsize=(7, 1.1 * len(its) + 0.4))
    for ax, s, it in zip(np.atleast_1d(axes), samples, its):
        show_images(ax, s, mean, std, nrow=16)
        ax.set_title(f"iteration {it}", fontsize=8, loc="left")
    fig.suptitle(f"Generator samples over training (fixed z; main pair, seed {seed})", fontsize=10)
    fig.tight_layout()
    return fig


def curve_frame(results, label: str) -> pd.DataFrame:
    return pd.DataFrame([{"iteration": it, "acc": 100 * a, "seed": r.config.seed, "run": label}
                         for r in results for it, a in zip(r.history["curve"]["iteration"], r.history["curve"]["test_acc"])])


def accuracy_curves_figure(plan: Plan, zs_pairs: dict, beta_runs: dict):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    groups_by_panel = (
        ({f"{short(plan.arch(p[0]))}→{short(plan.arch(p[1]))}": zs_pairs[p] for p in R.PAIRS}, "pairs"),
        ({f"β={b:g}": rs for b, rs in beta_runs.items()}, "β (main pair)"),
    )
    for ax, (groups, title) in zip(axes, groups_by_panel):
        for label, rs in groups.items():
            d = curve_frame(rs, label).groupby("iteration")["acc"].agg(["mean", "min", "max"])
            ax.plot(d.index, d["mean"], label=label)
            ax.fill_between(d.index, d["min"], d["max"], alpha=0.2)
        ax.set_xlabel("outer iteration")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"accuracy over training: {title} (mean, min–max over seeds)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- explorer
def explorer_pairs(test) -> tuple[list[str], dict]:
    classes = list(test.classes)
    nc = len(classes)
    shown = [(0, 6), (7, 5), (4, 2), (1, 3)] if nc == 10 and classes[0] == "T-shirt/top" else [(i, (i + 1) % nc) for i in range(min(4, nc))]
    labels = ["all classes"] + [f"{classes[a]} → {classes[b]}" for a, b in shown]
    return labels, dict(zip(labels, [(None, None)] + shown))


def draw_beta_pair(beta_runs: dict, beta_curves: dict, test, steps: int, beta, class_pair, pair_of: dict):
    classes = list(test.classes)
    src, dst = pair_of[class_pair] if isinstance(class_pair, str) else class_pair
    title = class_pair if isinstance(class_pair, str) else f"{classes[src]} → {classes[dst]}"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1.2, 1]})
    plot_transition(a1, beta_curves[beta], f"β = {beta:g}: {title}", src, dst, len(classes), steps=min(steps, 30))
    a1.legend(fontsize=7)
    r = beta_runs[beta][0]
    show_images(a2, r.load_array("samples")[-1], r.metrics["mean"], r.metrics["std"], nrow=4,
                title=f"generator samples, β = {beta:g} (acc {100 * r.metrics['test_acc']:.1f}%)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- verdicts
def add_verdicts(v, plan: Plan, teachers: dict, zs_pairs: dict, few: dict, beta_runs: dict, t5: dict, mte: dict,
                 other: dict, available) -> None:
    """One row per claim of the report (section in the claim), each decided by a test on our runs."""
    main_zs = zs_pairs[R.MAIN_PAIR]
    chance = 1.0 / main_zs[0].metrics["num_classes"]
    all_zs = [a for p in R.PAIRS for a in accs(zs_pairs[p])]
    v.threshold("Zero-shot training produces a working student without data, for every pair (§4.2, T2/T4): "
                "mean accuracy above chance + 20 points", all_zs, 100 * (chance + 0.2),
                reported="69.75–84.20% (chance 10%)", scale=100)
    for p in R.PAIRS:
        scratch = teachers[plan.arch(p[1])].metrics["test_acc"]
        v.threshold(f"The zero-shot {short(p[0])} → {short(p[1])} student stays below the same student trained on all "
                    f"data (T4; ours {short(plan.arch(p[0]))} → {short(plan.arch(p[1]))})", accs(zs_pairs[p]),
                    100 * scratch, how="less", reported=f"{R.TABLE4[p][2]} < {R.TABLE4[p][1]}", scale=100)
    small = [m for m in plan.settings.fewshot_m if m <= 10] or [min(plan.settings.fewshot_m)]
    for m in small:
        for mode, name in (("kd+at", "KD+AT"), ("none", "no teacher")):
            pub = dict(zip(R.FEWSHOT_PUBLISHED["M"], R.FEWSHOT_PUBLISHED["KD+AT" if mode == "kd+at" else "no teacher"]))
            v.compare(f"Zero-shot beats {name} with M = {m} images per class (paper: accuracy vs M)", accs(main_zs),
                      accs(few[(mode, m)]), reported=f"83.69 vs {pub.get(m, pub[10])} (M={m if m in pub else 10})",
                      scale=100, names=("zero-shot", name))
    best = plan.base.beta
    for b, rs in beta_runs.items():
        if b != best:
            v.compare(f"β = {best:g} beats β = {b:g} (T5, §5.1)", accs(beta_runs[best]), accs(rs),
                      reported=f"{R.TABLE5_BETA[best]} vs {R.TABLE5_BETA.get(b, '—')}", scale=100)
    v.compare("n_G matters little: dynamic 1→2→4 performs like n_G = 1 (§5.1)", accs(t5["base"]), accs(t5["dynamic"]),
              how="same", margin=2.0, reported="77.35 vs 76.82", scale=100, names=("constant", "dynamic"))
    same_pair = tuple(plan.arch(a) for a in R.SAME_ARCH["pair"])
    t_same = 100 * teachers[same_pair[0]].metrics["test_acc"]
    v.threshold("A same-architecture zero-shot student stays more than 2 points below its teacher (§5.2)",
                accs(t5["same"]), t_same - 2.0, how="less", reported="87.58 vs 92.69 (−5.1)", scale=100)
    chain_mid = zs_pairs[(R.CHAIN["teacher"], R.CHAIN["via"])]
    v.compare("The chain's final student is worse than its zero-shot teacher (§5.2)", accs(chain_mid), accs(t5["chain"]),
              reported="83.39 > 72.26", scale=100, names=("middle", "final"))
    v.compare("…and performs like the student of a data-trained teacher of the middle size (§5.2)", accs(t5["chain"]),
              accs(zs_pairs[(R.CHAIN["via"], R.CHAIN["student"])]), how="same", margin=2.0, reported="72.26 vs 72.47",
              scale=100, names=("chain", "direct"))
    v.compare("Zero-shot students match the teacher near their boundaries better than KD+AT ones (lower MTE; §6)",
              mte["zero-shot"], mte["KD+AT"], how="less", reported="0.2182 vs 0.7182 (authors)", digits=4,
              names=("zero-shot", "KD+AT"))
    v.compare("A more accurate (wider) zero-shot student follows the teacher more closely (§6, Fig. 2d)",
              mte["zero-shot, larger student"], mte["zero-shot"], how="less", reported="qualitative (curves)", digits=4,
              names=("wider", "main"))
    for name, rs in other.items():
        t_acc = 100 * rs[0].metrics["teacher_test_acc"]
        v.threshold(f"On simple datasets the zero-shot student gets within 10 points of its teacher (T6; here {name})",
                    accs(rs), t_acc - 10.0, reported="MNIST −0.3, Fashion −6.6, SVHN −4.5", scale=100)
    if not available("cifar100") or "cifar100" not in plan.settings.datasets:
        v.not_run("Zero-shot fails on CIFAR-100 (T6)", "CIFAR-100 is not available offline" if not available("cifar100")
                  else f"not run at profile {plan.settings.profile}", reported="13.15 vs teacher 74.01")

"""Tables, figures and verdicts of the ZSKT chapter (the notebook only calls these)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from reprolib.core import report
from reprolib.core.supervised import load_trained

from . import distill, probes, reported as R
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
    s, b = plan.settings, plan.base
    size = b.image_size or "native"
    if b.beta_units == "paper":
        lines.append(f"- β is given in the paper's units. The attention term is a mean over the positions of unit-normalised "
                     f"maps, so at {size}-px inputs the same β would weigh (32/{size})² = "
                     f"{1 / distill.paper_beta_scale(b.image_size):g}× more than on the paper's 32-px images; the term is "
                     f"multiplied by ({size}/32)² (`distill.paper_beta_scale`), which is exactly the loss of the same maps "
                     "brought to 32 px. The KD+AT baseline's β = 1000 is treated the same way.")
    if s.profile != "full":
        lines.append(f"- Reduced scale (see the settings table): smaller networks and images, n_S = {b.n_s} student steps "
                     f"per iteration instead of 10, batch {b.batch_size} instead of 128, and {b.iterations:,} outer "
                     f"iterations instead of 80,000 for the runs that other claims build on (the main pair, the wider "
                     f"student, the chain, the same-architecture student); the comparisons made at equal budget (β, n_G, "
                     f"the generator's learning rate and the three pairs nothing else uses) train for "
                     f"{s.sweep_iterations:,}. A generator of width {b.gen_width:g} keeps its capacity near the small "
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
                     "zero-shot, report's code (T4)": t4_zs, "zero-shot (ours)": ms(zs_pairs[p]),
                     "iterations (ours)": zs_pairs[p][0].config.iterations})
    return pd.DataFrame(rows)


def ratio_table(plan: Plan, teachers: dict, zs_pairs: dict) -> pd.DataFrame:
    """Zero-shot student accuracy as a fraction of its teacher's, ours beside the paper's and the report's."""
    rows = []
    for p in R.PAIRS:
        t = teachers[plan.arch(p[0])].metrics["test_acc"]
        rows.append({"pair (report)": f"{short(p[0])} → {short(p[1])}",
                     "student / teacher, ours": report.mean_std([a / t for a in accs(zs_pairs[p])], 100, 1),
                     "report T4": f"{100 * R.TABLE4[p][2] / R.TABLE4[p][0]:.1f}",
                     "paper": (f"{100 * R.PAPER_ZS_TEACHER[0] / R.PAPER_ZS_TEACHER[1]:.1f}" if p == R.MAIN_PAIR else "—"),
                     "iterations (ours)": zs_pairs[p][0].config.iterations})
    return pd.DataFrame(rows)


def last_half_gains(results) -> list[float]:
    """Per run: test accuracy (points) gained over the second half of training, from the run's accuracy curve."""
    out = []
    for r in results:
        it, acc = np.asarray(r.history["curve"]["iteration"]), np.asarray(r.history["curve"]["test_acc"])
        if len(it) < 2:
            continue
        half = int(np.argmin(np.abs(it - it[-1] / 2)))
        out.append(100 * (acc[-1] - acc[half]))
    return out


def plateau_text(plan: Plan, zs_pairs: dict) -> str:
    """Where the accuracy curves flatten, in words computed from the curves (never fixed text)."""
    parts = []
    for p in R.PAIRS:
        g = last_half_gains(zs_pairs[p])
        if not g:
            continue
        its = zs_pairs[p][0].config.iterations
        trend = "still rising" if min(g) > 2.0 else "flat" if max(g) < 1.0 else "rising slowly or unevenly across seeds"
        parts.append(f"{short(plan.arch(p[0]))} → {short(plan.arch(p[1]))} ({its} iterations): "
                     f"{np.mean(g):+.1f} points over the second half ({trend})")
    return ("**Accuracy gained over the second half of training** (mean over seeds, read off the curves below; "
            "\"flat\" < 1 point for every seed, \"still rising\" > 2 points for every seed): " + "; ".join(parts) + ".")


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
                 f"{len(plan.fewshot_seeds)} seeds (zero-shot: {len(plan.seeds)})", fontsize=9)
    return fig


def beta_table(plan: Plan, beta_runs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"β (paper's units)": f"{b:g}" + (" (baseline)" if b == plan.base.beta else ""),
                          "report": R.TABLE5_BETA.get(b, "—"), "ours": ms(rs), "iterations (ours)": rs[0].config.iterations}
                         for b, rs in beta_runs.items()])


def setups_table(plan: Plan, teachers: dict, t5: dict, zs_pairs: dict, gen_lr: dict) -> pd.DataFrame:
    """Table 5's other set-ups: dynamic n_G, the generator's learning rate, same architecture, the chain."""
    same_pair = tuple(plan.arch(a) for a in R.SAME_ARCH["pair"])
    a = plan.arch
    lr_rows = [{"set-up": f"generator learning rate {lr:g}" + (" (the code's)" if lr == 1e-3 else " (the paper's text)"),
                "report": "baseline" if lr == 1e-3 else f"about {R.GENERATOR_LR_GAIN:g} points lower", "ours": ms(rs)}
               for lr, rs in gen_lr.items()]
    return pd.DataFrame(lr_rows + [
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
    names = ["svhn (T3)", "svhn", "mnist", "fashion_mnist", "cifar100"] + (["digits"] if "digits" in plan.settings.datasets else [])
    rows = []
    for label in names:
        name = label.split()[0]
        rep = ((R.TABLE3["teacher"], R.TABLE3["student"], f"{R.TABLE3['code']} (authors' code; paper {R.TABLE3['paper']})",
                "—") if label == "svhn (T3)" else R.TABLE6.get(name, ("—", "—", "—", "—")))
        row = {"dataset": label, "teacher scratch (report)": rep[0], "student scratch (report)": rep[1],
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

    def of(self, student_result, student=None, n_images: int | None = None) -> dict:
        student = student if student is not None else (
            load_trained(student_result) if student_result.config.EXPERIMENT == "supervised" else load_student(student_result))
        return probes.curves(student, self.teacher, self.test, n_images or self.n_images, self.steps, self.step_size,
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


def mte_text(plan: Plan, tc: dict, mte: dict) -> str:
    """Ours beside the authors' MTE, with what differs between the two numbers (computed, not fixed text)."""
    s = plan.settings
    n = [len(c["labels"]) for c in tc["zero-shot"]]
    targets = tc["zero-shot"][0]["p_student"].shape[1]
    zs, kd = np.nanmean(mte["zero-shot"]), np.nanmean(mte["KD+AT"])
    pub = R.MTE_PUBLISHED["cifar10"]
    return (f"**MTE beside the authors'.** Ours averages |p_teacher − p_student| over {min(n) if n else 0} test images "
            f"per student (the authors: 1000), the {targets} other classes and the first {s.mte_steps} of {s.tc_steps} adversarial steps (the authors: 100 of 200), on "
            f"{plan.base.dataset} at {plan.base.image_size or 'native'} px with our smaller networks (the authors: "
            f"CIFAR-10, WRN-40-2 → WRN-16-1). Zero-shot: {zs:.4f} (authors {pub['zero-shot']}); KD+AT: {kd:.4f} "
            f"(authors {pub['KD+AT']}, their M not stated). The ratio KD+AT / zero-shot is {kd / zs:.1f} here and "
            f"{pub['KD+AT'] / pub['zero-shot']:.1f} for the authors. Fewer steps average over the early part of the "
            "curves, where both probabilities are still small, so our absolute MTEs are not comparable to the authors'; "
            "the ordering between students is what the verdicts test.")


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
def teacher_curve_gain(curves: dict, start: int, end: int | None = None) -> float:
    """How much the teacher's p(target) rises between adversarial steps ``start`` and ``end`` (mean over images, targets)."""
    p_t = curves["p_teacher"]
    if len(p_t) == 0 or p_t.shape[-1] <= start:
        return float("nan")
    end = p_t.shape[-1] - 1 if end is None else min(end, p_t.shape[-1] - 1)
    return float(p_t[..., end].mean() - p_t[..., start].mean())


def add_verdicts(v, plan: Plan, teachers: dict, zs_pairs: dict, kd_pairs: dict, few: dict, beta_runs: dict, t5: dict, gen_lr: dict,
                 tc: dict, mte: dict, other: dict, available) -> None:
    """One row per claim of the report (section in the claim), each decided by a test on our runs."""
    s = plan.settings
    main_zs = zs_pairs[R.MAIN_PAIR]
    teacher_acc = teachers[plan.arch(R.MAIN_PAIR[0])].metrics["test_acc"]
    chance = 1.0 / main_zs[0].metrics["num_classes"]
    full = s.profile == "full" and plan.base.dataset == "cifar10"
    on_cifar = "run at profile full (CIFAR-10 with the report's networks)"

    # ---- §3, Tables 1-3: the authors' code against the paper (absolute CIFAR-10 / SVHN numbers)
    kd_main = accs(kd_pairs[R.MAIN_PAIR])
    if full:
        v.threshold("The authors' KD+AT code matches the paper: WRN-40-2 → WRN-16-1 with M = 200 within 2 points of 81.25 "
                    "(§3, T1)", kd_main, 81.25 - 2.0, reported="81.74 (their code) vs 81.25 ± 0.67 (paper)", scale=100)
        v.threshold("The authors' zero-shot code matches the paper: WRN-40-2 → WRN-16-1 within 2 points of 83.69 (§3, T2)",
                    accs(main_zs), 83.69 - 2.0, reported="84.29 (their code) vs 83.69 ± 0.58 (paper)", scale=100)
    else:
        v.not_run("The authors' KD+AT code matches the paper (§3, T1)", f"absolute CIFAR-10 accuracies: {on_cifar}",
                  reported="81.74 vs 81.25 ± 0.67 (WRN-40-2 → WRN-16-1)")
        v.not_run("The authors' zero-shot code matches the paper (§3, T2)", f"absolute CIFAR-10 accuracies: {on_cifar}",
                  reported="84.29 vs 83.69 ± 0.58 (WRN-40-2 → WRN-16-1)")
    svhn = "The authors' zero-shot code reproduces the paper on SVHN: WRN-40-2 → WRN-16-1 within 2 points of 94.20 (§3, T3)"
    t3 = f"{R.TABLE3['code']} vs {R.TABLE3['paper']} (teacher {R.TABLE3['teacher']})"
    if "svhn" in other:
        v.threshold(svhn, accs(other["svhn"]), R.TABLE3["code"] - 2.0, reported=t3, scale=100)
    else:
        v.not_run(svhn, f"not run at {s.profile}: " + ("dataset not available offline" if not available("svhn")
                                                          else "SVHN is not among this profile's datasets"), reported=t3)

    # ---- §4.2, Tables 2/4: zero-shot works, and stays below data-trained students
    all_zs = [a for p in R.PAIRS for a in accs(zs_pairs[p])]
    v.threshold("Zero-shot training produces a working student without data, for every pair (§4.2, T2/T4): "
                "mean accuracy above chance + 20 points", all_zs, 100 * (chance + 0.2),
                reported="69.75–84.20% (chance 10%)", scale=100)
    v.threshold(f"The zero-shot student reaches at least 80% of its teacher's accuracy (main pair, "
                f"{main_zs[0].config.iterations} iterations; paper {100 * R.PAPER_ZS_TEACHER[0] / R.PAPER_ZS_TEACHER[1]:.0f}%, "
                f"report T4 {100 * R.TABLE4[R.MAIN_PAIR][2] / R.TABLE4[R.MAIN_PAIR][0]:.0f}%)",
                [a / teacher_acc for a in accs(main_zs)], 80.0, reported="83.69 / 95.13 (paper); 77.35 / 94.29 (T4)",
                scale=100, digits=1)
    for p in R.PAIRS:
        scratch = teachers[plan.arch(p[1])].metrics["test_acc"]
        v.threshold(f"The zero-shot {short(p[0])} → {short(p[1])} student stays below the same student trained on all "
                    f"data (T4; ours {short(plan.arch(p[0]))} → {short(plan.arch(p[1]))}, "
                    f"{zs_pairs[p][0].config.iterations} iterations)", accs(zs_pairs[p]),
                    100 * scratch, how="less", reported=f"{R.TABLE4[p][2]} < {R.TABLE4[p][1]}", scale=100)
    lr_lo, lr_hi = sorted(gen_lr)
    v.compare(f"A generator learning rate of {lr_lo:g} (the code's) beats {lr_hi:g} (the paper's text) (§4.2; main pair, "
              f"{gen_lr[lr_lo][0].config.iterations} iterations)", accs(gen_lr[lr_lo]), accs(gen_lr[lr_hi]),
              reported=f"gained around {R.GENERATOR_LR_GAIN:g}% on each experiment", scale=100,
              names=(f"lr_G {lr_lo:g}", f"lr_G {lr_hi:g}"))

    # ---- the paper's accuracy-against-M figure (few-shot baselines)
    for m in sorted({m for _, m in few}):
        pub_kd = dict(zip(R.FEWSHOT_PUBLISHED["M"], R.FEWSHOT_PUBLISHED["KD+AT"]))
        pub_nt = dict(zip(R.FEWSHOT_PUBLISHED["M"], R.FEWSHOT_PUBLISHED["no teacher"]))
        v.compare(f"KD+AT beats a student trained on the same M = {m} images per class without a teacher "
                  "(paper: accuracy vs M)", accs(few[("kd+at", m)]), accs(few[("none", m)]),
                  reported=f"{pub_kd[m]} vs {pub_nt[m]}" if m in pub_kd else "KD+AT above no teacher for every M",
                  scale=100, names=("KD+AT", "no teacher"))
    small = [m for m in sorted({m for _, m in few}) if m <= 10] or [min(m for _, m in few)]
    for m in small:
        for mode, name in (("kd+at", "KD+AT"), ("none", "no teacher")):
            pub = dict(zip(R.FEWSHOT_PUBLISHED["M"], R.FEWSHOT_PUBLISHED["KD+AT" if mode == "kd+at" else "no teacher"]))
            v.compare(f"Zero-shot beats {name} with M = {m} images per class (paper: accuracy vs M)", accs(main_zs),
                      accs(few[(mode, m)]), reported=f"83.69 vs {pub.get(m, pub[10])} (M={m if m in pub else 10})",
                      scale=100, names=("zero-shot", name))

    # ---- §5.1, Table 5: β and n_G (equal budgets: sweep_iterations)
    best = plan.base.beta
    for b, rs in beta_runs.items():
        if b != best:
            v.compare(f"β = {best:g} beats β = {b:g} (T5, §5.1; β in the paper's units, {rs[0].config.iterations} iterations)",
                      accs(beta_runs[best]), accs(rs), reported=f"{R.TABLE5_BETA[best]} vs {R.TABLE5_BETA.get(b, '—')}",
                      scale=100)
    if 0.0 in beta_runs and 2500.0 in beta_runs:
        v.compare("Without attention transfer (β = 0) the student is still better than with β = 2500 (§5.1)",
                  accs(beta_runs[0.0]), accs(beta_runs[2500.0]), reported="73.47 > 72.23", scale=100,
                  names=("β 0", "β 2500"))
    v.compare("n_G matters little: dynamic 1→2→4 performs like n_G = 1 (§5.1)", accs(t5["base"]), accs(t5["dynamic"]),
              how="same", margin=2.0, reported="77.35 vs 76.82", scale=100, names=("constant", "dynamic"))

    # ---- §5.2: same architecture, chain
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

    # ---- §5.3, Table 6: other datasets, CIFAR-100, the batch count
    if plan.base.dataset == "fashion_mnist":
        v.threshold("On Fashion-MNIST the zero-shot student gets within 10 points of its teacher (T6; our main pair)",
                    accs(main_zs), 100 * teacher_acc - 10.0, reported="87.38 vs teacher 94.01 (−6.6)", scale=100)
    elif "fashion_mnist" not in other:
        v.not_run("On Fashion-MNIST the zero-shot student gets within 10 points of its teacher (T6)",
                  "Fashion-MNIST is not among this profile's datasets", reported="87.38 vs teacher 94.01")
    for name, rs in other.items():
        t_acc = 100 * rs[0].metrics["teacher_test_acc"]
        v.threshold(f"On simple datasets the zero-shot student gets within 10 points of its teacher (T6; here {name})",
                    accs(rs), t_acc - 10.0, reported="MNIST −0.3, Fashion −6.6, SVHN −4.5", scale=100)
    if "cifar100" in other:
        v.threshold("Zero-shot fails on CIFAR-100: the student stays more than 30 points below its teacher (T6)",
                    accs(other["cifar100"]), 100 * other["cifar100"][0].metrics["teacher_test_acc"] - 30.0, how="less",
                    reported="13.15 vs teacher 74.01", scale=100)
    else:
        v.not_run("Zero-shot fails on CIFAR-100 (T6)", "CIFAR-100 is not available offline" if not available("cifar100")
                  else f"not run at profile {s.profile}", reported="13.15 vs teacher 74.01")
    v.threshold(f"More batches would not help: over the second half of training the student gains less than "
                f"{R.LAST_HALF_GAIN:g} points (§5.3, said of CIFAR-10 and CIFAR-100; here the main pair, "
                f"{main_zs[0].config.iterations} iterations)", last_half_gains(main_zs), R.LAST_HALF_GAIN, how="less",
                reported="only 2% in the last 40k of 80k batches", digits=2)

    # ---- §6: transition curves and MTE
    v.compare("Zero-shot students match the teacher near their boundaries better than KD+AT ones (lower MTE; §6)",
              mte["zero-shot"], mte["KD+AT"], how="less", reported="0.2182 vs 0.7182 (authors)", digits=4,
              names=("zero-shot", "KD+AT"))
    k0 = R.KDAT_PLATEAU_STEP
    if s.tc_steps > k0 + 1:
        end = s.tc_steps - 1
        v.compare(f"After {k0} adversarial steps the teacher's curve stops growing for the KD+AT student but keeps growing "
                  f"for the zero-shot one (rise of the teacher's p(target) from step {k0} to {end}; §6, Fig. 2)",
                  [teacher_curve_gain(c, k0, end) for c in tc["zero-shot"]],
                  [teacher_curve_gain(c, k0, end) for c in tc["KD+AT"]], reported="KD+AT flat after 15–20 steps",
                  digits=3, names=("zero-shot", "KD+AT"))
    else:
        v.not_run(f"The KD+AT curve stops growing after {k0} adversarial steps (§6)",
                  f"the curves have {s.tc_steps} steps at this profile", reported="flat after 15–20 steps")
    v.compare("A more accurate (wider) zero-shot student follows the teacher more closely (§6, Fig. 2d)",
              mte["zero-shot, larger student"], mte["zero-shot"], how="less", reported="qualitative (curves)", digits=4,
              names=("wider", "main"))


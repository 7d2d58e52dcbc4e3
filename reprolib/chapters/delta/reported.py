"""The numbers of seed report 000 (Abuammar, Ball & Pillai, "Reproducibility challenge: DELTA", Southampton COMP6248)
and of the paper it reproduces (Li et al., "DELTA: DEep Learning Transfer using Feature Map with Attention for
Convolutional Networks", ICLR 2019), as the report quotes them.

Top-1 test accuracy (%) on Stanford Dogs 120, ResNet-101 from ImageNet weights, mean ± std over runs (5 in the
report).  "with AUG (channel evaluation augmented)" is the report's "With Aug (source model augmented)": the
channel-evaluation stage (``channel_eval.py``) also trained on augmented images (report §3, §4).
"""
from __future__ import annotations

#: row → method → "mean ± std" (None: not reported)
PAPER = {
    "without AUG": {"l2_sp": "88.3 ± 0.2", "delta": "88.7 ± 0.1"},
    "with AUG": {"l2_sp": "90.8 ± 0.2", "delta": "91.2 ± 0.2"},
    "with AUG (channel evaluation augmented)": {"l2_sp": None, "delta": None},
}
REPORT = {
    "without AUG": {"l2_sp": "87.5 ± 0.2", "delta": "88.3 ± 1.2"},
    "with AUG": {"l2_sp": "90.4 ± 0.3", "delta": "89.3 ± 1"},
    "with AUG (channel evaluation augmented)": {"l2_sp": None, "delta": "89.8 ± 0.6"},
}
#: what the report concludes for each row (§3): does DELTA beat L2-SP?
REPORT_VERDICT = {
    "without AUG": "DELTA higher on average, but the ± std ranges overlap: not shown",
    "with AUG": "L2-SP higher on average, ranges overlap: DELTA 'still delivers the best one' is unfounded",
    "with AUG (channel evaluation augmented)": "ranges still overlap; smaller spread",
}
#: the report's runs: ResNet-101, batch 32 instead of 64 (out of memory), so 24 epochs for 9,000 iterations
REPORT_SETUP = {"runs": 5, "batch_size": 32, "iterations": 9000, "epochs": 24, "alpha": 0.01, "beta": 0.01,
                "hours_mean": 8, "hours_explr": 4, "hours_aug": 12}

#: What one run costs at the report's scale (``python -m reprolib sweep delta --profile full --cost``): the report
#: measured 4 h (EXP-LR) to 12 h (with augmentation), 8 h on average, per ResNet-101 fine-tuning run on the
#: Colab / Azure GPUs it used (its section on challenges); a channel evaluation runs one forward pass per channel
#: of the four hooked layers over a training sample:
#: our estimate, 0.5-2 h.
FULL_COST = {"delta": (REPORT_SETUP["hours_explr"], REPORT_SETUP["hours_aug"], "Colab/Azure",
                       "report: 4-12 h per fine-tuning run, 8 h on average"),
             "delta_channels": (0.5, 2, "current", "our estimate: one forward pass per hooked channel over a training sample")}

"""The numbers of seed report 002 (Konefal & Lazic, "Deep Learning for Visual Computing", assignment 2, 2019).

Validation accuracies on CIFAR-10 cat vs dog, quoted as reported.
"""
from __future__ import annotations

REPORTED = {
    "part2_val_max": 0.89,                       # §1.2, Fig. 1: CNN without DA/regularisation
    "part3_best_setting": "DA + WD 1e-5",        # §1.3: flip + crop + weight decay 1e-5
    "part3_best_val": 0.921875,
    "part3_best_epoch": 12,
    "part5": {                                   # §1.5, best validation accuracy, corrected update
        ("CNN", "none"): 0.8035,
        ("CNN", "DA + WD 1e-5"): 0.8644,
        ("ResNet-18", "none"): 0.8589,
        ("ResNet-18", "DA + WD 1e-5"): 0.86321,
    },
}

#: What one run costs at the report's scale (``python -m reprolib sweep vc_a2 --profile full --cost``).  The
#: report states no compute cost; our estimate: the report's CNN trains 30 CIFAR-10 epochs (1.5 M images of
#: 32 px, a few minutes on one current GPU), a frozen ImageNet backbone costs one cached-feature pass over the
#: 60k images (ResNet-18 to Inception-v3, 1-5 minutes) plus a linear head.
FULL_COST = {"supervised": (0.02, 0.1, "current", "our estimate: 1.5 M small images or one 60k-image feature pass")}

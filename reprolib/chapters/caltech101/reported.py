"""The numbers of seed report 004 (Frattin, "Homework 2 — Deep learning: training a CNN", AlexNet on Caltech-101).

Quoted as reported; accuracies are fractions.
"""
from __future__ import annotations

REPORTED = {
    # section 2 table: (LR, NUM_EPOCHS, STEP_SIZE, GAMMA) -> (MAX_VAL_ACC, TEST_ACC), from scratch, batch 256
    "scratch": {
        (0.001, 30, 20, 0.1): (0.16, 0.09),
        (0.005, 20, 10, 0.1): (0.15, 0.13),
        (0.01, 30, 15, 0.1): (0.25, 0.26),
        (0.05, 30, 20, 0.1): (0.47, 0.49),
        (0.1, 30, 5, 0.5): (0.40, 0.42),
        (0.05, 40, 20, 0.1): (0.41, 0.42),
    },
    # section 3.1 table: training the whole ImageNet-pretrained AlexNet -> MAX_VAL_ACC
    "transfer": {
        (0.001, 30, 20, 0.1): 0.82,
        (0.005, 20, 10, 0.1): 0.85,
        (0.0005, 40, 30, 0.5): 0.82,
    },
    # section 3 table: policy -> (FINAL_TRAIN_LOSS, TEST_ACCURACY)
    "policies": {
        "train the entire model": (0.044, 0.82),
        "freeze convolutional layers": (0.035, 0.84),
        "freeze fully connected layers": (2.628, 0.39),
    },
    # section 4 table: pipeline -> (TEST_ACCURACY, ACCURACY_GAP, LOSS_GAP); gaps are train minus validation
    "augmentation": {
        "CS-HF": (0.85, 0.12, 0.66),
        "H-RP": (0.83, 0.15, 0.75),
        "B-GS-R": (0.81, 0.16, 0.77),
    },
    # section 5 table: network -> (TEST_ACCURACY, TEST_ACCURACY_FREEZE) — freezing the convolutional layers
    "networks": {
        "AlexNet": (0.82, 0.84),
        "ResNet-18": (0.87, 0.91),
        "ResNet-50": (0.91, 0.93),
    },
}

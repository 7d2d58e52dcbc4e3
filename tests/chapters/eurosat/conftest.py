"""Tiny runs of the chapter's experiments on the procedural ``synthetic`` dataset (seconds on a CPU)."""
import pytest

from reprolib.chapters.eurosat.experiment import HomeworkConfig
from reprolib.chapters.eurosat.longtail import HeadsConfig
from reprolib.core import runs


def tiny(**over) -> HomeworkConfig:
    fields = dict(dataset="synthetic", image_size=8, model="densenet121-g2-small", train_size=400, test_size=200,
                  epochs=1, batch_size=64, lr=0.1, source_fraction=0.5)
    fields.update(over)
    return HomeworkConfig(**fields)


@pytest.fixture
def lt_heads(one_thread):
    """A long-tailed Model_B backbone with oversampling and its heads config (imbalance factor 10)."""
    backbone = tiny(variant="model_b", imbalance_factor=10.0, lt_n_max=30, sampler="class_balanced")
    heads = HeadsConfig(**backbone.to_dict(), svm_weights=(1e-4, 1e-3, 1e-3, 1, 1, 1, 1, 1e-2, 1, 1), crt_epochs=2)
    return runs.run(backbone, progress=False), heads

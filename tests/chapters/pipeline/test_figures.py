"""The pipeline chapter's logic with a diverging learning rate (the issue's reproduction: lr=1e6 once printed
"best lr 1e6"): the diverged runs are stored as such, shown as diverged, and never picked as the best."""
import matplotlib.pyplot as plt
import pytest

from reprolib.chapters.pipeline import CHAPTER


@pytest.fixture(autouse=True)
def closed_figures(one_thread):
    yield
    plt.close("all")


def test_a_diverging_learning_rate_is_shown_as_diverged_and_never_the_best():
    settings = CHAPTER.settings("smoke", seeds=[0], learning_rates=[0.1, 1e6], **{"train.train_size": 300, "train.epochs": 2})
    plan, runner, verdicts, figures = CHAPTER.plan(settings), CHAPTER.runner(settings), CHAPTER.verdicts(settings), CHAPTER.figures
    by_lr = {lr: runner.run(cfgs) for lr, cfgs in plan.by_lr().items()}
    assert by_lr[1e6][0].diverged and not by_lr[0.1][0].diverged
    assert figures.best_lr(by_lr) == 0.1
    table = figures.results_table(by_lr).set_index("learning rate")
    assert table.loc[1e6, "test accuracy of the best checkpoint (%)"] == "diverged (1 of 1 runs)"
    assert table.loc[0.1, "test accuracy of the best checkpoint (%)"].endswith("(n=1)")
    sentence = figures.lr_verdicts(verdicts, by_lr)
    assert "**0.1**" in sentence and "never picked, a run diverged: 1e+06" in sentence
    assert [(r["verdict"], "diverged" in r["test"]) for r in verdicts.rows] == [("inconclusive", True)]
    epochs = figures.epochs_frame(by_lr)
    assert set(epochs["learning rate"]) == {0.1}  # the diverged curve is not drawn ...
    fig = figures.curves_figure(epochs, by_lr)
    assert "diverged (not drawn): lr 1e+06 (1 of 1 runs)" in fig._suptitle.get_text()  # ... but named
    assert "every run diverged" in figures.draw_runs(epochs, 1e6, "val_acc").axes[0].texts[0].get_text()
    assert "the run diverged" in figures.draw_live(plan, 1e6, 0).axes[0].texts[0].get_text()
    assert list(runner.cost_table()["status"]) == ["finished", "diverged"]


def test_every_learning_rate_diverged():
    settings = CHAPTER.settings("smoke", seeds=[0], learning_rates=[1e6], **{"train.train_size": 300, "train.epochs": 1})
    runner, verdicts = CHAPTER.runner(settings), CHAPTER.verdicts(settings)
    by_lr = {lr: runner.run(cfgs) for lr, cfgs in CHAPTER.plan(settings).by_lr().items()}
    assert CHAPTER.figures.best_lr(by_lr) is None
    assert "none is picked" in CHAPTER.figures.lr_verdicts(verdicts, by_lr) and verdicts.rows[0]["verdict"] == "not run"

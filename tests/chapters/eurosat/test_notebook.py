"""The Homework 2 chapter runs at smoke with non-default parameters (CLI → jupytext → papermill)."""
import json

from tests.chapters.notebooks import html_tables, outputs, pngs, run_chapter, widget_models


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    cache = tmp_path / "cache"
    proc = run_chapter("eurosat", out, cache, timeout=1800, profile="smoke", seeds=[3, 4], imbalance_factors=[20],
                       heads=["backbone", "SVM, report weights", "cRT"], overrides={"task_b.epochs": 2})
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["seeds"] == [3, 4]
    # Task A curves, t-SNE, two activation figures, parameters/augmentation, Task B curves, long tail, Task C curves,
    # confusion matrices, per-class accuracy
    assert len(pngs(nb)) >= 10
    html = "\n".join(html_tables(nb))
    text = json.dumps(outputs(nb))
    for needle in ("0.892", "Model_B + tricks", "SVM, report weights", "cRT", "silhouette", "Ankle boot", "not comparable"):
        assert needle in html or needle in text, needle
    assert "τ-norm" not in html  # heads=[...] leaves it out of the tables
    assert sum(m.get("model_name") == "StackModel" for m in widget_models(nb)) >= 3  # three precomputed explorers
    configs = [json.loads(p.read_text())["config"] for p in cache.rglob("config.json")]
    trained = [c for c in configs if c.get("task") == "classify" and c["model"].startswith("densenet")]
    assert trained and {c["seed"] for c in trained} == {3, 4}  # seeds=[3, 4] was honoured
    assert {c["imbalance_factor"] for c in trained} == {1.0, 20.0}  # imbalance_factors=[20] was honoured
    assert {c["epochs"] for c in trained if c["imbalance_factor"] == 1.0} == {2}  # overrides reached Task B
    assert (tmp_path / "verdicts" / "eurosat.smoke.json").is_file()


def test_bad_parameter_fails_with_a_clear_error(tmp_path):
    proc = run_chapter("eurosat", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke", imbalance_factors=[0.5])
    assert proc.returncode == 2  # the CLI exits 2 on a bad parameter
    assert "imbalance_factors must be a non-empty list of imbalance factors >= 1" in proc.stderr

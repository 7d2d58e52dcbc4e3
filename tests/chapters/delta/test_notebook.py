"""The DELTA chapter runs at smoke with non-default parameters (CLI → jupytext → papermill)."""
import json

from tests.chapters.notebooks import html_tables, outputs, pngs, run_chapter, widget_models


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    cache = tmp_path / "cache"
    proc = run_chapter("delta", out, cache, profile="smoke", seeds=[3, 4], alphas=[0.05],
                       overrides={"finetune.epochs": 3})
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    params = nb["metadata"]["papermill"]["parameters"]
    assert params["seeds"] == [3, 4] and params["alphas"] == [0.05]
    assert len(pngs(nb)) >= 6  # channel weights, Figure 1, augmented curves, Figure 3, activation maps, map changes
    html = "\n".join(html_tables(nb))
    text = json.dumps(outputs(nb))
    for needle in ("88.7 ± 0.1", "90.4 ± 0.3", "89.8 ± 0.6", "STEP-LR", "EXP-LR", "conv5_x", "Welch", "TOST ±1",
                   "T-shirt/top", "not ImageNet"):
        assert needle in html or needle in text, needle
    assert "n = 2, 2" in html  # two seeds per method in every test
    assert any(m.get("model_name") == "StackModel" for m in widget_models(nb))
    # the verdicts reached the scoreboard
    published = json.loads((tmp_path / "verdicts" / "delta.smoke.json").read_text())
    assert len(published["rows"]) >= 12
    assert {r["verdict"] for r in published["rows"]} <= {"reproduced", "not reproduced", "equivalent", "inconclusive", "not run"}
    # the parameters reached the runs: fine-tuning seeds 3 and 4, 3 epochs, the α grid; channel evaluation and source once
    configs = [json.loads(p.read_text()) for p in cache.rglob("config.json")]
    finetune = [c["config"] for c in configs if c["experiment"] == "delta"]
    assert {c["seed"] for c in finetune} == {3, 4}
    assert {c["epochs"] for c in finetune} == {3}
    assert {c["alpha"] for c in finetune} == {0.01, 0.05}
    assert {c["regularizer"] for c in finetune} == {"l2", "l2_sp", "delta"}
    assert len([c for c in configs if c["experiment"] == "delta_channels"]) == 2
    assert len([c for c in configs if c["experiment"] == "supervised"]) == 1


def test_bad_parameter_fails_with_a_clear_error(tmp_path):
    proc = run_chapter("delta", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke", alphas=[0.1, -1])
    assert proc.returncode == 2
    assert "alphas must be a non-empty list of distinct numbers > 0" in proc.stderr

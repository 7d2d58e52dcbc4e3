"""The Caltech-101 chapter runs at smoke with non-default parameters (CLI → jupytext → papermill)."""
import json

from tests.chapters.notebooks import html_tables, outputs, pngs, run_chapter, widget_models


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    cache = tmp_path / "cache"
    proc = run_chapter("caltech101", out, cache, profile="smoke", seeds=[3], pipelines=["h-rp"],
                       networks=["alexnet", "resnet18"], scratch_rows=[[0.01, 1, 1, 0.1]], timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["pipelines"] == ["h-rp"]
    assert len(pngs(nb)) >= 7  # counts, samples, 2 scratch curves, transfer curves, policies, augmentation examples, networks
    html = "\n".join(html_tables(nb))
    text = html + json.dumps(outputs(nb))
    for needle in ("0.49", "freeze fully connected layers", "H-RP", "ResNet-18", "glyphs", "Transfer learning beats"):
        assert needle in text, needle
    assert "B-GS-R changes" not in text and "ResNet-50" not in html  # left out by the parameters
    assert any(m.get("model_name") == "StackModel" for m in widget_models(nb))
    configs = [json.loads(p.read_text())["config"] for p in cache.rglob("config.json")]
    targets = [c for c in configs if c["classes"] and len(c["classes"]) == 26]
    assert targets and all(c["seed"] == 3 for c in targets)  # seed 3 only (source models use seed 0)
    assert {c["model"] for c in configs} == {"alexnet-w16", "resnet18-w8"}
    assert {(c["lr"], c["epochs"]) for c in targets if c["weights"] == "none"} >= {(0.01, 1)}
    verdicts = json.loads((cache.parent / "verdicts" / "caltech101.smoke.json").read_text())
    assert len(verdicts["rows"]) >= 8


def test_bad_parameter_fails_with_a_clear_error(tmp_path):
    proc = run_chapter("caltech101", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke", pipelines=["mixup"])
    assert proc.returncode == 2
    assert "pipelines must be a non-empty list" in proc.stderr

"""The VC assignment 2 chapter runs at smoke with non-default parameters (CLI → jupytext → papermill)."""
import json

from tests.chapters.notebooks import html_tables, outputs, pngs, run_chapter, widget_models


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    cache = tmp_path / "cache"
    proc = run_chapter("vc_a2", out, cache, profile="smoke", seeds=[3], grid=["flip"], transfer_models=["resnet18"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["seeds"] == [3]
    assert len(pngs(nb)) >= 4  # trajectories, Part 2, Part 3, Part 4 curves (explorer images live in widget state)
    tables = html_tables(nb)
    assert len(tables) >= 8
    html = "\n".join(tables)
    # (the reported Part 3 best, 0.921875, belongs to DA + WD 1e-5, which grid=["flip"] leaves out)
    for needle in ("0.8035", "0.86321", "overwriting", "ResNet-18", "flip", "Pullover"):
        assert needle in html or needle in json.dumps(outputs(nb)), needle
    assert any(m.get("model_name") == "StackModel" for m in widget_models(nb))
    # seed 3 only: every run in the cache is seed 3 (or an offline source model derived from it)
    configs = [json.loads(p.read_text())["config"] for p in cache.rglob("config.json")]
    assert configs and all(c["seed"] == 3 for c in configs)
    assert {c["model"] for c in configs} == {"report_cnn", "resnet18"}  # transfer_models=["resnet18"] was honoured
    assert {c["weight_decay"] for c in configs if c["model"] == "report_cnn"} >= {0.0, 1e-5}  # Part 5's DA + WD


def test_bad_parameter_fails_with_a_clear_error(tmp_path):
    proc = run_chapter("vc_a2", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke", seeds=[])
    assert proc.returncode == 2
    assert "seeds must be a non-empty list" in proc.stderr

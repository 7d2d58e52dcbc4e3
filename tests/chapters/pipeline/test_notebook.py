"""The pipeline chapter runs at smoke with non-default parameters; a learning rate that does not exist in
the profile reaches the runs."""
import json

from tests.chapters.notebooks import html_tables, pngs, run_chapter


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "pipeline.ipynb"
    cache = tmp_path / "cache"
    proc = run_chapter("pipeline", out, cache, profile="smoke", seeds=[2], learning_rates=[0.05, 0.2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    assert len(pngs(nb)) >= 2 and len(html_tables(nb)) >= 3
    configs = [json.loads(p.read_text())["config"] for p in (cache / "supervised").glob("*/config.json")]
    assert sorted((c["lr"], c["seed"]) for c in configs) == [(0.05, 2), (0.2, 2)]
    assert "cached: True" in json.dumps(nb)


def test_unknown_parameter_names_the_allowed_ones(tmp_path):
    proc = run_chapter("pipeline", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke", learning_rates=["fast"])
    assert proc.returncode == 2 and "learning_rates[0]='fast'" in proc.stderr

"""The ZSKT chapter executes end to end at smoke with non-default parameters (CLI → jupytext → papermill)."""
import json

from tests.chapters.notebooks import html_tables, pngs, run_chapter, widget_models


def test_chapter_runs_at_smoke_with_non_default_parameters(tmp_path):
    out = tmp_path / "zskt.ipynb"
    proc = run_chapter("zskt", out, tmp_path / "cache", profile="smoke", seeds=[3], threads=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["seeds"] == [3]
    text = json.dumps(nb, ensure_ascii=False)
    for needle in ("KD+AT, ours (M=5)", "zero-shot (ours)", "β", "MTE, ours", "reprolib-explorer", "verdict",
                   "inconclusive", "training minutes", "n=1", "this execution (smoke)"):
        assert needle in text, needle
    assert len(pngs(nb)) >= 4 and len(html_tables(nb)) >= 10
    assert any(m.get("model_name") == "StackModel" for m in widget_models(nb))
    # the non-default seed reached the student runs (chain links name their own seed too)
    zs_runs = list((tmp_path / "cache" / "zeroshot").glob("*/config.json"))
    assert zs_runs and all(json.loads(p.read_text())["config"]["seed"] == 3 for p in zs_runs)
    # the verdict rows were published for the scoreboard
    rows = json.loads((tmp_path / "verdicts" / "zskt.smoke.json").read_text())["rows"]
    assert rows and {r["verdict"] for r in rows} <= {"reproduced", "not reproduced", "equivalent", "inconclusive", "not run"}


def test_bad_parameter_fails_before_compute_with_a_clear_error(tmp_path):
    proc = run_chapter("zskt", tmp_path / "bad.ipynb", tmp_path / "cache", profile="smoke",
                       overrides={"zeroshot.iterations": 0})
    assert proc.returncode == 2
    assert "zeroshot.iterations must be" in proc.stderr or "iterations=0 is out of range" in proc.stderr, proc.stderr
    assert not (tmp_path / "cache").exists()  # nothing was trained

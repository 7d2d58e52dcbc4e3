"""The benchmark's tables have the shape the README and ``bench --json`` promise (speed itself is never asserted:
timings belong to ``python -m reprolib bench`` on an idle machine, not to tests)."""
from __future__ import annotations

import pytest

from reprolib.core import bench, data, fastpath


def test_compute_table_has_one_chosen_path_per_model_and_fp32_nchw_as_the_unit(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache"))  # the calibration cache: a fresh machine
    rows = bench.compute_table(steps=1, rounds=1, models_=(("wrn-10-1", 1, 16, 8, "ZSKT student"),))
    paths = [p.name for p in fastpath.candidates(fastpath.detect("cpu"))]
    assert [r["path"] for r in rows] == paths and fastpath.FP32_NCHW.name in paths
    assert sum(r["chosen"] for r in rows) == 1
    base = next(r for r in rows if r["path"] == fastpath.FP32_NCHW.name)
    assert base["ratio"] == pytest.approx(1.0)
    for r in rows:
        assert r["img_per_s"] > 0 and r["ratio"] == pytest.approx(r["img_per_s"] / base["img_per_s"])
        assert {"model", "input", "batch", "where", "path", "img_per_s", "ratio", "chosen"} <= set(r)


@pytest.mark.skipif(not data.available("fashion_mnist"), reason="needs Fashion-MNIST")
def test_side_by_side_record_has_the_json_keys():
    out = bench.side_by_side(runs=2, steps=2)
    assert {"sequential_s", "parallel_s", "ratio", "workers"} <= set(out)
    assert out["ratio"] == pytest.approx(out["sequential_s"] / out["parallel_s"])
    # the pool's start-up is timed apart, with every worker started before the timed runs
    assert out["workers_started"] == out["workers"] and out["startup_s"] > 0
    assert out["ratio_with_startup"] == pytest.approx(out["sequential_s"] / (out["startup_s"] + out["parallel_s"]))


def test_the_compute_table_covers_every_network_a_chapter_trains_end_to_end_at_cpu():
    from reprolib.core import registry, sweep

    listed = {(m[0], m[1], m[2], m[3]) for m in bench.chapter_models()}
    for slug in registry.discover():
        for cfg in sweep.chapter_configs(slug, "cpu"):
            if hasattr(cfg, "calibration_workload") and getattr(cfg, "freeze", "none") == "none":
                shape = cfg.calibration_workload()[1]
                assert (cfg.model, shape[1], shape[2], shape[0]) in listed, (slug, cfg.model, shape)

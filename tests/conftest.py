"""Shared fixtures: every test gets its own empty run cache and no downloads."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "runs"))
    monkeypatch.setenv("REPROLIB_DOWNLOAD", "0")
    return tmp_path / "runs"

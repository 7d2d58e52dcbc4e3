"""Shared fixtures: every test gets its own empty run cache and no downloads."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "runs"))
    monkeypatch.setenv("REPROLIB_DOWNLOAD", "0")
    return tmp_path / "runs"


@pytest.fixture
def one_thread():
    """One intra-op thread, as the chapters' runs use at ``cpu``: tiny models train faster, results do not depend on
    the machine's core count, and a test does not fight other jobs for cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

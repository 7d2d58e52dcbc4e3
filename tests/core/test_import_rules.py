"""The package's import rules (pyproject.toml [tool.importlinter]): core never imports a chapter, chapters
are independent, ``core.io`` is a leaf, core modules import only lower layers, and inside a chapter
figures → plan → settings."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(exe), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_planted_violation_breaks_the_contracts(tmp_path):
    """The contracts can fail: a core module that imports a chapter is reported."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "reprolib", copy / "reprolib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    bad = copy / "reprolib" / "core" / "report.py"
    bad.write_text(bad.read_text() + "\nfrom reprolib.chapters.zskt import reported  # planted\n")
    proc = _lint(copy)
    assert proc.returncode != 0 and "reprolib.core never imports reprolib.chapters BROKEN" in proc.stdout

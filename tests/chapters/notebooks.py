"""Helpers for the chapter notebook tests: execute a chapter through the CLI, read its outputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_chapter(slug: str, out: Path, cache: Path, timeout: int = 900, **parameters) -> subprocess.CompletedProcess:
    """``python -m reprolib chapter <slug> -p name value ... -o out`` in a subprocess, with its own run cache."""
    cmd = [sys.executable, "-m", "reprolib", "chapter", slug, "-o", str(out), "--quiet"]
    for name, value in parameters.items():
        cmd += ["-p", name, value if isinstance(value, str) else json.dumps(value)]
    env = {**os.environ, "REPROLIB_CACHE": str(cache), "REPROLIB_VERDICTS": str(cache.parent / "verdicts")}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def html_tables(nb: dict) -> list[str]:
    html = ["".join(o["data"]["text/html"]) for o in outputs(nb) if "text/html" in o.get("data", {})]
    return [h for h in html if "<table" in h]


def pngs(nb: dict) -> list[dict]:
    return [o for o in outputs(nb) if "image/png" in o.get("data", {})]


def widget_models(nb: dict) -> list[dict]:
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return list(state.get("state", {}).values())

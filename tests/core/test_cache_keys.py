"""The guard: every run of every chapter's ``cpu`` plan keeps its cache key, so a user's built run cache stays valid.

The golden file was recorded from the plans before the code moved into ``reprolib/core`` +
``reprolib/chapters``; a change that alters a budget on purpose updates it in the same commit.
"""
import json
from pathlib import Path

from reprolib.core import registry

GOLDEN = Path(__file__).parent / "data" / "cpu_plan_keys.json"


def closure(configs) -> list[str]:
    """A run plus everything it reads (teachers, source models, chain links), as ``experiment/key``."""
    seen, todo = set(), list(configs)
    while todo:
        c = todo.pop()
        path = f"{c.EXPERIMENT}/{c.key()}"
        if path not in seen:
            seen.add(path)
            todo += c.upstream()
    return sorted(seen)


def planned() -> dict[str, list[str]]:
    chapters = registry.discover()
    out = {}
    for slug, ch in chapters.items():
        plan = ch.plan(ch.settings("cpu"))
        configs = plan.configs(available_only=False) if "available_only" in plan.configs.__code__.co_varnames else plan.configs()
        out[slug] = closure(configs)
    return out


def test_cpu_plan_cache_keys_are_unchanged():
    golden = json.loads(GOLDEN.read_text())
    now = planned()
    for slug in golden:
        assert slug in now, f"chapter {slug} is gone"
        added, removed = sorted(set(now[slug]) - set(golden[slug])), sorted(set(golden[slug]) - set(now[slug]))
        assert not added and not removed, f"{slug}: {len(added)} new keys {added[:3]}, {len(removed)} lost keys {removed[:3]}"


def test_transition_curve_cache_path_is_unchanged(isolated_cache):
    """Transition curves land where the chapter's earlier code stored them: sha256 of the runs' paths,
    the probe's settings and the version (so a built cache keeps its curves)."""
    import hashlib

    import torch

    from reprolib import __version__
    from reprolib.chapters.zskt import probes
    from reprolib.core import data, models

    test = data.synthetic(n=40, num_classes=4, size=8, seed=1, split="test")
    torch.manual_seed(0)
    net = models.build("wrn-10-1", num_classes=4, in_channels=1)
    probes.curves(net, net, test, n_images=3, steps=2, step_size=1.0, seed=0, cache_key="runA|runB")
    old = hashlib.sha256(f"runA|runB|3|2|1.0|0|{__version__}".encode()).hexdigest()[:20]
    assert (isolated_cache / "transition_curves" / f"{old}.npz").is_file()

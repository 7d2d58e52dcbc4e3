"""Seed report 004 chapter: settings table, plan, shared source models, bad parameters."""
import pytest

from reprolib.chapters.caltech101 import CHAPTER
from reprolib.chapters.caltech101.reported import REPORTED
from reprolib.chapters.caltech101.settings import SCRATCH_ROWS, TRANSFER_ROWS
from reprolib.core.config import ConfigError


def plan(profile="cpu", **over):
    return CHAPTER.plan(CHAPTER.settings(profile, **over))


def test_cpu_plan_runs_every_row_of_the_reports_tables():
    p = plan()
    s = p.settings
    scratch = p.scratch_runs()
    assert {tuple(lab[k] for k in ("LR", "NUM_EPOCHS", "STEP_SIZE", "GAMMA")) for lab, _ in scratch} == set(REPORTED["scratch"])
    assert set(SCRATCH_ROWS) == set(REPORTED["scratch"]) and set(TRANSFER_ROWS) == set(REPORTED["transfer"])
    n_seeds = {}
    for lab, cfg in scratch:
        row = (lab["LR"], lab["NUM_EPOCHS"], lab["STEP_SIZE"], lab["GAMMA"])
        n_seeds[row] = n_seeds.get(row, 0) + 1
        assert (cfg.lr, cfg.epochs, cfg.step_size, cfg.gamma) == row and cfg.weights == "none" and cfg.scheduler == "step"
    assert n_seeds[s.scratch_best] == n_seeds[s.scratch_small] == len(s.seeds) >= 3
    assert all(v == s.grid_seeds for k, v in n_seeds.items() if k not in (s.scratch_best, s.scratch_small))
    cfg = p.run("alexnet")
    assert (cfg.momentum, cfg.weight_decay, cfg.val_fraction, cfg.optimizer) == (0.9, 5e-5, 0.5, "sgd")
    assert (cfg.lr, cfg.epochs, cfg.step_size, cfg.gamma) == (0.005, 20, 10, 0.1) and cfg.eval_train


def test_every_compared_setting_has_every_seed():
    p = plan()
    seeds = set(p.settings.seeds)
    for runs, key in ((p.policy_runs(), "policy"), (p.augmentation_runs(), "augmentation"), (p.network_runs(), "network")):
        groups = {}
        for lab, _ in runs:
            groups.setdefault((lab[key], lab.get("freeze")), set()).add(lab["seed"])
        assert all(g == seeds for g in groups.values()), key
    assert {lab["augmentation"] for lab, _ in p.augmentation_runs()} == {"none", "CS-HF", "H-RP", "B-GS-R"}
    aug = [c for lab, c in p.augmentation_runs() if lab["augmentation"] == "H-RP"]
    assert all(c.augment == ("h-rp",) and c.freeze == "none" for c in aug)


def test_one_source_model_per_network_shared_by_every_run():
    """Like ImageNet weights: the source run depends on the network only, not on the seed or the target's recipe."""
    p = plan()
    by_model = {}
    for cfg in p.configs():
        if cfg.weights == "source":
            by_model.setdefault(cfg.model, set()).add(cfg.source_config().key())
    assert set(by_model) == set(p.settings.networks.values()) and all(len(k) == 1 for k in by_model.values())
    src = p.run("resnet50", seed=2).source_config()
    assert src.seed == 0 and src.weights == "none" and src.augment == () and src.freeze == "none"
    assert len(src.classes) == 36 and not set(src.classes) & set(p.settings["data.classes"])  # digits + lower case
    assert (src.optimizer, src.lr, src.scheduler, src.train_size, src.epochs) == ("sgd", 0.1, "cosine", 36 * 200, 12)
    assert src.zero_init_residual  # the narrow ResNet-50 barely leaves chance without it
    alex = p.run("alexnet", seed=1).source_config()
    assert (alex.optimizer, alex.lr, alex.epochs) == ("adam", 1e-3, 30)  # AlexNet has no batch normalisation
    assert len(p.sources()) == 3 and len(set(p.configs())) == len(p.configs())


def test_policies_map_to_the_freezing_policies():
    p = plan()
    freezes = {lab["policy"]: cfg.freeze for lab, cfg in p.policy_runs()}
    assert freezes == {"train the entire model": "none", "freeze convolutional layers": "features",
                       "freeze fully connected layers": "classifier"}


def test_full_profile_is_the_reports_setup():
    p = plan("full")
    cfg = p.run("resnet50")
    assert (cfg.dataset, cfg.weights, cfg.image_size, cfg.batch_size, cfg.model, cfg.classes) == (
        "caltech101", "imagenet", 224, 256, "resnet50", ())
    assert cfg.upstream() == [] and p.sources() == []
    assert p.run("alexnet", p.settings.scratch_best, pretrained=False).weights == "none"


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": []}, "seeds must be a non-empty list"),
    ({"scratch_rows": [[0.05, 30, 20]]}, "scratch_rows must be a non-empty list of \\[lr"),
    ({"scratch_rows": [[0.05, 0, 20, 0.1]]}, "scratch_rows must be"),
    ({"pipelines": ["mixup"]}, "pipelines must be a non-empty list of distinct pipelines"),
    ({"networks": ["vgg16"]}, "networks must be a non-empty list of"),
    ({"epochs": 3}, "unknown caltech101 parameter"),
])
def test_bad_parameters_fail_before_any_compute(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        plan("cpu", **kwargs)


def test_a_network_left_out_cannot_be_planned():
    with pytest.raises(ConfigError, match="not in this execution's networks"):
        plan("cpu", networks=["alexnet"]).run("resnet18")


def test_the_loss_explosion_runs_fine_tune_the_pretrained_network_at_the_scratch_hyperparameters():
    p = plan()
    s = p.settings
    runs = p.explode_runs()
    assert sorted(lab["seed"] for lab, _ in runs) == sorted(s.seeds)
    for _, cfg in runs:
        assert (cfg.lr, cfg.epochs, cfg.step_size, cfg.gamma) == s.scratch_best == (0.05, 30, 20, 0.1)
        assert cfg.weights == "source" and cfg.freeze == "none" and cfg.model == s.networks["alexnet"]
    assert {c for _, c in runs} <= set(p.configs())

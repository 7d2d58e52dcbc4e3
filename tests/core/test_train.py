import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.core import data
from reprolib.core.loader import TensorLoader
from reprolib.core.train import (CorruptCheckpointWarning, Diverged, TrainSpec, check_finite, classification_loss,
                                 collapsed_to_chance, evaluate, fit, make_optimizer, make_scheduler, seed_everything)


def _loaders(n=600, classes=4, size=12, seed=0):
    tr = data.load("synthetic", n=n, num_classes=classes, size=size, seed=seed)
    va = data.load("synthetic", n=200, num_classes=classes, size=size, seed=seed, split="test")
    return TensorLoader(tr, 32, seed=seed), TensorLoader(va, 100, shuffle=False)


def _small_cnn(classes=4):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))


def test_trainer_learns_a_separable_task():
    seed_everything(0)
    tr, va = _loaders()
    model = _small_cnn()
    res = fit(model, tr, va, TrainSpec(epochs=8, lr=0.05, optimizer="sgd", nesterov=True), progress=False)
    assert res.best_val_acc > 0.95
    assert evaluate(model, va)[1] == pytest.approx(res.best_val_acc)
    assert len(res.history["epoch"]) == 8 and len(res.history["step"]) == 8 * len(tr)


def test_cpu_runs_repeat_exactly():
    def once():
        seed_everything(3)
        tr, va = _loaders(n=200)
        m = _small_cnn()
        fit(m, tr, va, TrainSpec(epochs=2, lr=0.05), progress=False)
        return torch.cat([p.flatten() for p in m.parameters()])

    assert torch.equal(once(), once())


@pytest.mark.parametrize(
    "spec,expected",
    [
        (dict(scheduler="step", step_size=2, gamma=0.5), [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]),
        (dict(scheduler="multistep", milestones=(1, 4), gamma=0.1), [1.0, 0.1, 0.1, 0.1, 0.01, 0.01]),
        (dict(scheduler="exponential", gamma=0.5), [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
        (dict(scheduler="cosine"), [0.5 * (1 + math.cos(math.pi * e / 6)) for e in range(6)]),
        (dict(scheduler="none"), [1.0] * 6),
    ],
)
def test_schedulers_give_the_right_lr_per_epoch(spec, expected):
    model = nn.Linear(2, 2)
    s = TrainSpec(epochs=6, lr=1.0, **spec)
    opt = make_optimizer(model.parameters(), s)
    sched = make_scheduler(opt, s)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    assert seen == pytest.approx(expected)


def test_fit_records_the_scheduled_lr_per_epoch():
    tr, va = _loaders(n=64)
    res = fit(_small_cnn(), tr, va, TrainSpec(epochs=3, lr=0.1, scheduler="step", step_size=1, gamma=0.5), progress=False)
    assert [e["lr"] for e in res.history["epoch"]] == pytest.approx([0.1, 0.05, 0.025])
    assert {s["lr"] for s in res.history["step"] if s["epoch"] == 1} == {0.05}


def test_plateau_scheduler_cuts_lr_when_validation_stalls():
    model = nn.Linear(2, 2)
    s = TrainSpec(epochs=6, lr=1.0, scheduler="plateau", plateau_patience=1, gamma=0.5)
    opt = make_optimizer(model.parameters(), s)
    sched = make_scheduler(opt, s)
    for acc in (0.5, 0.5, 0.5, 0.5):
        opt.step()
        sched.step(acc)
    assert opt.param_groups[0]["lr"] == 0.5


def test_sgd_nesterov_update_matches_the_formula():
    w = nn.Parameter(torch.tensor([1.0]))
    opt = make_optimizer([w], TrainSpec(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01))
    for _ in range(2):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    # by hand: g = 2w + wd*w; v = 0.9 v + g; w -= lr (g + 0.9 v)
    x, v = 1.0, 0.0
    for _ in range(2):
        g = 2 * x + 0.01 * x
        v = 0.9 * v + g
        x -= 0.1 * (g + 0.9 * v)
    assert w.item() == pytest.approx(x)


def test_non_finite_loss_stops_with_the_step():
    tr, va = _loaders(n=64)

    def exploding(model, x, y):
        logits = model(x)
        return logits.sum() * float("nan"), logits

    with pytest.raises(Diverged, match="at step 0"):
        fit(_small_cnn(), tr, va, TrainSpec(epochs=1), loss_fn=exploding, progress=False)


def test_early_stopping_keeps_the_best_model():
    tr, va = _loaders(n=64)
    calls = []
    res = fit(_small_cnn(), tr, va, TrainSpec(epochs=30, lr=0.0, early_stopping=2), progress=False, on_epoch_end=lambda e, r: calls.append(e))
    assert res.stopped_early and len(calls) == 3 and res.best_epoch == 0


def test_extra_loss_hook_and_label_smoothing():
    tr, va = _loaders(n=64)
    model = _small_cnn()
    seen = []
    fit(model, tr, va, TrainSpec(epochs=1, label_smoothing=0.1), extra_loss=lambda m: seen.append(1) or m[-1].weight.pow(2).sum() * 0, progress=False)
    assert len(seen) == len(tr)
    logits = torch.tensor([[2.0, 0.0]])
    loss, _ = classification_loss(label_smoothing=0.2)(lambda x: logits, None, torch.tensor([0]))
    p = torch.log_softmax(logits, 1)[0]
    assert loss.item() == pytest.approx(-(0.9 * p[0] + 0.1 * p[1]).item())


def test_resume_after_interruption_gives_the_same_model(tmp_path):
    def make():
        seed_everything(1)
        tr, va = _loaders(n=128)
        return _small_cnn(), tr, va

    spec = TrainSpec(epochs=4, lr=0.05, scheduler="step", step_size=1, gamma=0.7)
    m, tr, va = make()
    straight = fit(m, tr, va, spec, progress=False)
    ref = torch.cat([p.detach().flatten() for p in m.parameters()])

    class Kill(Exception):
        pass

    def killer(epoch, record):
        if epoch == 1:
            raise Kill

    ckpt = tmp_path / "ckpt.pt"
    m, tr, va = make()
    with pytest.raises(Kill):
        fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False, on_epoch_end=killer)
    assert ckpt.exists()
    m, tr, va = make()
    resumed = fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False)
    assert [e["epoch"] for e in resumed.history["epoch"]] == [0, 1, 2, 3]
    assert torch.allclose(ref, torch.cat([p.detach().flatten() for p in m.parameters()]), atol=1e-6)
    assert resumed.best_val_acc == pytest.approx(straight.best_val_acc)


def test_inception_aux_loss_weight():
    class FakeInception(nn.Module):
        def forward(self, x):
            from torchvision.models import InceptionOutputs

            return InceptionOutputs(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))

    loss, logits = classification_loss(aux_weight=0.4)(FakeInception(), None, torch.tensor([0]))
    ce = torch.nn.functional.cross_entropy
    assert loss.item() == pytest.approx((ce(torch.tensor([[1.0, 0.0]]), torch.tensor([0])) + 0.4 * ce(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))).item())


def test_check_finite_names_the_quantity_and_the_step():
    check_finite("x", torch.ones(3), "here")
    with pytest.raises(Diverged, match="diverged: x is not finite at step 7"):
        check_finite("x", torch.tensor([1.0, float("nan")]), "step 7")


# ----------------------------------------------------------------------------- divergence, checkpoints
def _bn_cnn(classes=4):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, classes))


def test_collapsed_to_chance_thresholds():
    assert collapsed_to_chance(0.10, 0.80, 10) and collapsed_to_chance(0.145, 0.55, 10)
    assert not collapsed_to_chance(0.16, 0.80, 10)  # above chance still
    assert not collapsed_to_chance(0.10, 0.50, 10)  # it never was well above chance
    assert collapsed_to_chance(0.5, 0.8, 2) and not collapsed_to_chance(0.6, 0.8, 2) and not collapsed_to_chance(0.5, 0.7, 2)


def test_a_non_finite_buffer_is_a_divergence_even_with_a_finite_loss():
    """The issue's case: BatchNorm running variances of inf after lr=1e6 (the loss itself stayed finite)."""
    tr, va = _loaders(n=64)
    model = _bn_cnn()

    def poison(epoch, record):
        if epoch == 0:
            model[1].running_var.fill_(float("inf"))

    with pytest.raises(Diverged, match=r"1\.running_var is not finite at the end of epoch 1") as err:
        fit(model, tr, None, TrainSpec(epochs=3, lr=0.0), progress=False, on_epoch_end=poison)
    assert [e["epoch"] for e in err.value.history["epoch"]] == [0, 1]  # the history up to the divergence


def test_an_exploding_finite_loss_is_a_divergence():
    tr, va = _loaders(n=64)
    steps = []

    def exploding(model, x, y):
        logits = model(x)
        steps.append(1)
        return F.cross_entropy(logits, y) * (1.0 if len(steps) == 1 else 1e4), logits

    with pytest.raises(Diverged, match="mean training loss of epoch 0 is .*more than 100x the first step's"):
        fit(_small_cnn(), tr, va, TrainSpec(epochs=2, lr=0.0), loss_fn=exploding, progress=False)


def test_a_one_epoch_dip_to_chance_is_not_a_divergence():
    seed_everything(0)
    tr, va = _loaders()
    model = _small_cnn()
    dead = []
    model.register_forward_hook(lambda m, i, out: out * 0 if len(dead) == 1 else out)

    def dip(epoch, record):
        if (record["val_acc"] > 0.9 and not dead) or len(dead) == 1:
            dead.append(epoch)

    res = fit(model, tr, va, TrainSpec(epochs=12, lr=0.05, optimizer="sgd", nesterov=True), progress=False, on_epoch_end=dip)
    assert len(dead) == 2 and dead[1] < 11 and res.history["epoch"][dead[1]]["val_acc"] == 0.25 and res.history["epoch"][-1]["val_acc"] > 0.9


def test_accuracy_back_at_chance_after_it_was_well_above_is_a_divergence():
    seed_everything(0)
    tr, va = _loaders()
    model = _small_cnn()
    dead = []
    model.register_forward_hook(lambda m, i, out: out * 0 if dead else out)  # a network that lost everything

    def kill(epoch, record):
        if record["val_acc"] > 0.9 and not dead:
            dead.append(epoch + 1)

    with pytest.raises(Diverged, match=r"accuracy fell to 0\.250 after epoch (\d) \(chance: 0\.250\) after reaching 0\.9") as err:
        fit(model, tr, va, TrainSpec(epochs=10, lr=0.05, optimizer="sgd", nesterov=True), progress=False, on_epoch_end=kill)
    assert dead and f"after epoch {min(dead[0] + 1, 9)} " in str(err.value)  # the 2nd epoch at chance (or the last)


def _straight_and_checkpoint(tmp_path):
    def make():
        seed_everything(1)
        tr, va = _loaders(n=128)
        return _small_cnn(), tr, va

    spec = TrainSpec(epochs=3, lr=0.05)
    m, tr, va = make()
    fit(m, tr, va, spec, progress=False)
    return make, spec, torch.cat([p.detach().flatten() for p in m.parameters()]), tmp_path / "checkpoint.pt"


class _Payload:
    """Unpickling this runs code (it would create ``marker``): what a tampered checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "tampered", "wrong content"])
def test_an_unusable_checkpoint_is_discarded_with_a_warning_and_training_restarts(tmp_path, damage):
    make, spec, reference, ckpt = _straight_and_checkpoint(tmp_path)
    marker = tmp_path / "code-ran"

    class Kill(Exception):
        pass

    def killer(epoch, record):
        if epoch == 1:
            raise Kill

    m, tr, va = make()
    with pytest.raises(Kill):
        fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False, on_epoch_end=killer)
    blob = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 100)
    elif damage == "tampered":
        state = torch.load(ckpt, weights_only=True)
        state["history"] = _Payload(marker)
        torch.save(state, ckpt)
    else:
        state = torch.load(ckpt, weights_only=True)
        state["model"] = {"nonsense": torch.zeros(1)}
        torch.save(state, ckpt)
    m, tr, va = make()
    with pytest.warns(CorruptCheckpointWarning, match=f"checkpoint {ckpt} is unreadable"):
        res = fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False)
    assert not marker.exists()  # nothing in the file ran: checkpoints load with weights_only=True
    assert [e["epoch"] for e in res.history["epoch"]] == [0, 1, 2]  # restarted from the beginning ...
    assert torch.allclose(reference, torch.cat([p.detach().flatten() for p in m.parameters()]), atol=1e-6)  # ... cleanly


def test_a_resumed_run_says_from_which_epoch(tmp_path, capfd):
    make, spec, reference, ckpt = _straight_and_checkpoint(tmp_path)

    def killer(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    m, tr, va = make()
    with pytest.raises(KeyboardInterrupt):
        fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False, on_epoch_end=killer, desc="cnn")
    capfd.readouterr()
    m, tr, va = make()
    fit(m, tr, va, spec, checkpoint_path=ckpt, progress=False, desc="cnn")
    assert "cnn: resuming from epoch 1 (1 of 3 epochs done" in capfd.readouterr().err  # killed before epoch 1 was saved


def test_nothing_in_the_package_unpickles_what_it_reads():
    """Everything read from disk loads without executing code: torch.load(weights_only=True),
    np.load(allow_pickle=False), yaml.safe_load, no pickle/marshal/shelve/eval of file contents."""
    import ast
    from pathlib import Path

    import reprolib

    problems = []
    for path in Path(reprolib.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if name.endswith("torch.load") and kwargs.get("weights_only") != "True":
                    problems.append(f"{path.name}:{node.lineno} torch.load without weights_only=True")
                if name in ("np.load", "numpy.load") and kwargs.get("allow_pickle") != "False":
                    problems.append(f"{path.name}:{node.lineno} np.load without allow_pickle=False")
                if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "eval", "exec") or \
                        name.split(".")[0] in ("pickle", "marshal", "shelve", "dill", "cloudpickle"):
                    problems.append(f"{path.name}:{node.lineno} {name}")
    assert not problems, problems

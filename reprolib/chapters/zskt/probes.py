"""Transition curves and Mean Transition Error (ZSKT paper Algorithm 2, report §6; original ``utils/transition_curves.py``).

Stepping an image across network A's decision boundaries towards class j, and
recording how both networks' probability of j evolves, probes whether B "believes"
like A near A's boundaries.  Following the original ``utils/transition_curves.py``:
plain gradient steps (not the sign) of size ξ on CE(net_A(x), j), in normalised
input space, no clamping, probabilities recorded *before* each update (step 0 is
the clean image), targets j = every class other than the image's label.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@torch.no_grad()
def predictions(net: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    was = net.training
    net.eval()
    out = torch.cat([net(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])
    net.train(was)
    return out


def select_agreeing(net_a: nn.Module, net_b: nn.Module, images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0):
    """The first ``n`` images (in a seeded shuffle of the set) on which both nets predict the same class.

    The original walks the shuffled test set (RNG seed 0) and keeps N = 1000 such images.
    Returns ``(images, labels, index)``.
    """
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    order = order[: max(4 * n + 64, 256)]  # enough candidates (nets agree on most images); avoids a full pass
    agree = (predictions(net_a, images[order]) == predictions(net_b, images[order])).nonzero().flatten()
    keep = order[agree[:n]]
    if len(keep) == 0:
        raise ValueError("the two networks agree on none of the images; transition curves need agreeing images")
    return images[keep], labels[keep], keep


def transition_curves(
    net_a: nn.Module,
    net_b: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int = 30,
    step_size: float = 1.0,
    num_classes: int | None = None,
    batch_size: int = 1024,
    check_agreement: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 2: probabilities of each other class j along gradient steps on net_A's CE towards j.

    ``images`` (N, C, H, W) are normalised inputs that both nets classify the same
    (see :func:`select_agreeing`; checked unless ``check_agreement=False``), ``labels``
    their dataset labels.  For every image and every class j ≠ label, x is stepped
    ``steps`` times along −ξ·∂CE(net_A(x), j)/∂x; p_A(j) and p_B(j) are recorded at each
    step before the update.  Returns two float arrays shaped (N, classes−1, steps),
    targets ordered j = (label + k + 1) mod classes for k = 0..classes−2 (as the original).
    """
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"images must be (N, C, H, W) with one label each, got {tuple(images.shape)} and {len(labels)} labels")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    was_a, was_b = net_a.training, net_b.training
    net_a.eval()
    net_b.eval()
    device = next(net_a.parameters()).device
    images, labels = images.to(device), labels.to(device).long()
    if check_agreement:
        pa, pb = predictions(net_a, images), predictions(net_b, images)
        if not torch.equal(pa, pb):
            bad = int((pa != pb).sum())
            raise ValueError(f"{bad} of {len(images)} images are classified differently by the two nets; pass only agreeing images (select_agreeing)")
    if num_classes is None:
        with torch.no_grad():
            num_classes = net_a(images[:1]).shape[1]
    k = num_classes - 1
    n = len(images)
    # every (image, target) pair as one row: row = i*k + t
    targets = ((labels[:, None] + torch.arange(1, num_classes, device=device)[None, :]) % num_classes).reshape(-1)
    src = torch.arange(n, device=device).repeat_interleave(k)
    p_a = np.empty((n * k, steps), dtype=np.float32)
    p_b = np.empty((n * k, steps), dtype=np.float32)
    for start in range(0, n * k, batch_size):
        rows = slice(start, min(start + batch_size, n * k))
        x = images[src[rows]].clone()
        j = targets[rows]
        ar = torch.arange(len(j), device=device)
        for s in range(steps):
            x.requires_grad_(True)
            logits_a = net_a(x)
            with torch.no_grad():
                logits_b = net_b(x)
                p_a[rows, s] = F.softmax(logits_a.detach(), 1)[ar, j].cpu().numpy()
                p_b[rows, s] = F.softmax(logits_b, 1)[ar, j].cpu().numpy()
            # sum: each row's gradient is that of its own CE (the original uses batch size 1)
            loss = F.cross_entropy(logits_a, j, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
            x = (x.detach() - step_size * grad).detach()
    net_a.train(was_a)
    net_b.train(was_b)
    return p_a.reshape(n, k, steps), p_b.reshape(n, k, steps)


def mean_transition_error(p_a: np.ndarray, p_b: np.ndarray, steps: int | None = None) -> float:
    """MTE: mean |p_B − p_A| over images, target classes and the first ``steps`` steps (the original: 100 of 200)."""
    p_a, p_b = np.asarray(p_a), np.asarray(p_b)
    if p_a.shape != p_b.shape or p_a.ndim != 3:
        raise ValueError(f"p_a and p_b must have the same (N, classes-1, steps) shape, got {p_a.shape} and {p_b.shape}")
    if steps is not None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        p_a, p_b = p_a[..., :steps], p_b[..., :steps]
    if p_a.size == 0:
        return float("nan")
    return float(np.abs(p_b - p_a).mean())


def curve_band(p: np.ndarray, z: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over images and targets per step, and z standard errors (std / sqrt(N·(C−1))), as the original plots."""
    flat = np.asarray(p).reshape(-1, np.shape(p)[-1])
    return flat.mean(0), z * flat.std(0) / np.sqrt(len(flat))


def curves(student: nn.Module, teacher: nn.Module, test, n_images: int, steps: int, step_size: float = 1.0,
           seed: int = 0, cache_key: str | None = None) -> dict[str, np.ndarray]:
    """Algorithm 2 with net_A = the student (whose boundaries are crossed) and net_B = the teacher.

    ``test`` is an :class:`~reprolib.core.data.ImageData`.  With ``cache_key`` (the two runs'
    cache paths) the arrays are stored in the run cache (:func:`reprolib.core.runs.memo`) and
    read back on the next execution.  Nets that agree on no image (untrained, at ``smoke``)
    give empty curves, whose MTE is NaN.
    """
    from reprolib.core import runs

    def compute():
        x_all = test.normalized()
        try:
            x, y, _ = select_agreeing(student, teacher, x_all, test.labels, n_images, seed=seed)
        except ValueError:
            empty = np.zeros((0, test.num_classes - 1, steps), np.float32)
            return {"p_student": empty, "p_teacher": empty.copy(), "labels": np.zeros(0, np.int64)}
        p_s, p_t = transition_curves(student, teacher, x, y, steps=steps, step_size=step_size, num_classes=test.num_classes)
        return {"p_student": p_s, "p_teacher": p_t, "labels": y.numpy()}

    if cache_key is None:
        return compute()
    return runs.memo("transition_curves", f"{cache_key}|{n_images}|{steps}|{step_size}|{seed}", compute)


def pair_curve(curves: dict, source: int | None, target: int | None, num_classes: int):
    """Mean ± 2 SE curves restricted to images labelled ``source`` stepped towards ``target`` (None = all)."""
    p_s, p_t, labels = curves["p_student"], curves["p_teacher"], curves["labels"]
    if len(labels) == 0:
        return None
    if source is None:
        return curve_band(p_s), curve_band(p_t), len(labels) * p_s.shape[1]
    k = (target - source - 1) % num_classes
    rows = labels == source
    if not rows.any() or target == source:
        return None
    return curve_band(p_s[rows][:, k:k + 1]), curve_band(p_t[rows][:, k:k + 1]), int(rows.sum())

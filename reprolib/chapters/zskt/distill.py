"""Distillation losses and the ZSKT generator (Micaelli & Storkey 2019; Zagoruyko & Komodakis 2017).

Everything here follows the original code, not the papers' prose, where the two
differ (ZSKT ``solver.py``, github.com/polo5/ZeroShotKnowledgeTransfer; FewShotKT
``solver.py``, github.com/polo5/FewShotKnowledgeTransfer; attention transfer ``utils.py``,
github.com/szagoruyko/attention-transfer):

* :func:`attention_map` / :func:`attention_loss` are the attention-transfer repo's
  ``at`` / ``at_loss``: a *squared* L2 distance averaged over batch and positions,
  not the paper's ‖·‖₂ norm.
* :func:`kl_divergence` makes the reduction explicit.  Both original repos call
  ``F.kl_div`` with PyTorch's default ``reduction='mean'``, which divides the sum by
  B·C, i.e. it is ``KL_batchmean / C``.  ZSKT's β = 250 is balanced against that
  ``KL/C`` (with C = 10 classes): against a batch-mean KL the same balance is β/C.
* :func:`kd_at_loss` is FewShotKT's pre-fix KD+AT loss.
* :func:`paper_beta_scale` expresses β in the paper's units at any input size: the
  attention term is a *mean* over the H·W positions of unit-normalised maps, so the
  same β is (32/s)² times stronger on s-px inputs than on the paper's 32-px CIFAR
  images; multiplying the term by (s/32)² makes it a sum over positions divided by the
  number of positions the paper's maps have, i.e. the paper's β means the same thing.
"""
from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from reprolib.core import models

REDUCTIONS = ("mean", "batchmean", "sum")


# ---------------------------------------------------------------------------- attention transfer
def attention_map(x: torch.Tensor) -> torch.Tensor:
    """Per-sample L2-normalised channel mean of squared activations, flattened to (B, H·W).

    AT repo ``utils.at``; mean vs sum over channels is irrelevant after the
    normalisation (attention-transfer ``utils.at``; github.com/szagoruyko/attention-transfer/issues/34).
    """
    if x.ndim < 3:
        raise ValueError(f"attention_map expects (B, C, ...) activations, got shape {tuple(x.shape)}")
    return F.normalize(x.pow(2).mean(1).reshape(x.size(0), -1), dim=1)


def attention_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over batch and positions of the squared difference of two attention maps.

    ``a``/``b`` are raw activations (B, C, H, W) with equal B, H, W (channels may differ).
    This ``.mean()`` is what the AT paper calls "β = 10³ divided by the number of
    elements in the attention map and batch size" (the AT paper §4; github.com/szagoruyko/attention-transfer/issues/32).
    """
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(
            f"attention_loss needs equal batch and spatial sizes, got {tuple(a.shape)} and {tuple(b.shape)}; "
            "teacher and student groups must downsample alike"
        )
    return (attention_map(a) - attention_map(b)).pow(2).mean()


#: input size the papers' β values were tuned at (CIFAR-10 / SVHN, 32×32)
PAPER_INPUT_SIZE = 32


def paper_beta_scale(input_size: int, reference_size: int = PAPER_INPUT_SIZE) -> float:
    """Factor that turns a β given in the paper's units into the β the per-position mean needs at ``input_size``.

    Every WRN group downsamples alike, so group l has (s/2^l)² positions at an s-px input
    against (32/2^l)² in the paper; the mean over positions is (32/s)² times larger for
    the same maps (each unit-normalised entry squared is ~1/positions).  Scaling the term
    by (s/32)² = positions / paper positions cancels that for every group at once.
    """
    if input_size < 1 or reference_size < 1:
        raise ValueError(f"input sizes must be >= 1, got {input_size} and {reference_size}")
    return (input_size / reference_size) ** 2


def attention_losses(groups_s, groups_t) -> torch.Tensor:
    """Σ over groups of :func:`attention_loss` (ZSKT uses all three WRN groups)."""
    if len(groups_s) != len(groups_t):
        raise ValueError(f"student has {len(groups_s)} groups, teacher {len(groups_t)}: attention transfer needs equal numbers")
    return sum(attention_loss(s, t) for s, t in zip(groups_s, groups_t))


# ---------------------------------------------------------------------------- KL
def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Forward KL(teacher ‖ student) of the temperature-``T`` softmaxes, no T² factor.

    ``reduction``:

    * ``"mean"`` – the originals' choice (PyTorch's ``F.kl_div`` default): sum / (B·C),
      i.e. ``batchmean / C``.  ZSKT's β = 250 and FewShotKT's 2αT² weight assume it.
    * ``"batchmean"`` – the true per-sample KL, sum / B (C times larger).
    * ``"sum"``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"logit shapes differ: student {tuple(student_logits.shape)}, teacher {tuple(teacher_logits.shape)}")
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    p_t = F.softmax(teacher_logits / T, dim=1)
    # written out (not F.kl_div) so the 'mean' reduction stays explicit and warning-free
    total = (torch.xlogy(p_t, p_t) - p_t * log_p_s).sum()
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / student_logits.shape[0]
    return total / student_logits.numel()


def beta_against_batchmean(beta: float, num_classes: int) -> float:
    """The β that gives the same KL/AT balance when the KL uses ``batchmean`` instead of ``mean``.

    ``mean`` = ``batchmean``/C, so L = KL_mean + β·AT = (KL_batchmean + C·β·AT)/C ... the
    *relative* weight of AT against a batch-mean KL is β/C (ZSKT ``solver.py`` uses the 'mean' reduction).
    """
    return beta / num_classes


def zskt_student_loss(s_logits, s_groups, t_logits, t_groups, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ZSKT L_S = KL_mean(T‖S) + β·Σ_l AT_l (solver.py); returns (total, kl, at)."""
    kl = kl_divergence(s_logits, t_logits, reduction="mean")
    at = attention_losses(s_groups, t_groups) if beta != 0 else kl.new_zeros(())
    return kl + beta * at, kl, at


def kd_at_loss(s_logits, s_groups, t_logits, t_groups, labels, T: float = 4.0, alpha: float = 0.9, beta: float = 1000.0) -> torch.Tensor:
    """FewShotKT 'KD+AT': (1−α)·CE + 2αT²·KL_mean(T) + β·Σ AT (FewShotKnowledgeTransfer ``solver.py``).

    The 2αT² weight is the AT repo's *pre-fix* KD (before PR #30) and multiplies a
    ``mean``-reduced KL, so against the true batch-mean KL it is 2αT²/C = 0.2·α·T²
    for C = 10 classes, five times smaller than the fixed AT-repo KD.  Kept as is
    because the published KD+AT numbers were produced with it.
    """
    ce = F.cross_entropy(s_logits, labels)
    kl = kl_divergence(s_logits, t_logits, T=T, reduction="mean")
    loss = (1 - alpha) * ce + 2 * alpha * T * T * kl
    if beta:
        loss = loss + beta * 3 / len(s_groups) * attention_losses(s_groups, t_groups)
    return loss


# ---------------------------------------------------------------------------- model checks
def check_pair(teacher: str, student: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Both must be WRNs (attention transfer compares their 3 groups); clear errors otherwise."""
    out = []
    for role, name in (("teacher", teacher), ("student", student)):
        parsed = models.parse_wrn(name)
        if parsed is None:
            raise ValueError(
                f"{role} {name!r} is not a WideResNet name 'wrn-<depth>-<width>' (depth 6n+4): zero-shot and KD+AT "
                "attention transfer need the three WRN groups of both networks"
            )
        d, k = parsed
        if (d - 4) % 6 or d < 10 or k < 1:
            raise ValueError(f"{role} {name!r}: WRN depth must be 6n+4 >= 10 and width >= 1")
        out.append(parsed)
    return out[0], out[1]


def groups_of(model: nn.Module) -> int:
    n = getattr(model, "num_groups", None)
    if n is None or not hasattr(model, "forward_groups"):
        raise ValueError(f"{type(model).__name__} has no forward_groups/num_groups: attention transfer needs a WRN-like model")
    return n


def check_groups(teacher: nn.Module, student: nn.Module) -> int:
    nt, ns = groups_of(teacher), groups_of(student)
    if nt != ns:
        raise ValueError(f"teacher has {nt} groups but student has {ns}: attention transfer pairs groups one to one")
    return nt


# ---------------------------------------------------------------------------- generator
class Generator(nn.Module):
    """ZSKT generator (ZeroShotKnowledgeTransfer ``models/generator.py``), adapted to any channels/size.

    z(100) → Linear → (128, s/4, s/4) → BN → [Up×2, conv3x3 128→128, BN, LReLU 0.2]
    → [Up×2, conv3x3 128→64, BN, LReLU 0.2] → conv3x3 64→C → BN(C, affine).
    No tanh: the last BN puts each channel near zero mean / unit variance over the
    batch, the normalised-image space the teacher was trained on.  ``width`` scales
    the 128/64 channels (1.0 = original); ``size`` must be divisible by 4.
    """

    def __init__(self, z_dim: int = 100, channels: int = 3, size: int = 32, width: float = 1.0):
        super().__init__()
        if size % 4 or size < 4:
            raise ValueError(f"generator image size must be a positive multiple of 4, got {size}")
        c1, c2 = max(8, int(round(128 * width))), max(8, int(round(64 * width)))
        self.z_dim, self.channels, self.size, self.init = z_dim, channels, size, size // 4
        self.linear = nn.Linear(z_dim, c1 * self.init * self.init)
        self.c1 = c1
        self.bn0 = nn.BatchNorm2d(c1)
        self.block1 = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c1, c1, 3, 1, 1), nn.BatchNorm2d(c1), nn.LeakyReLU(0.2))
        self.block2 = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c1, c2, 3, 1, 1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2))
        self.out = nn.Conv2d(c2, channels, 3, 1, 1)
        self.out_bn = nn.BatchNorm2d(channels, affine=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z).view(z.size(0), self.c1, self.init, self.init)
        x = self.block2(self.block1(self.bn0(x)))
        return self.out_bn(self.out(x))

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator, device=device)

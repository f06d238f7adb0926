"""The Binary cross-entropy chapter's comparisons with PyTorch, for the parity gate.

The same computations as docs/binary-cross-entropy.py, on seeded inputs made
here: the loss and its gradient from large logits (where the naive formula
gives inf), a random batch in float64 and float32, ``pos_weight`` set to each
label's negatives-to-positives ratio, ``weight`` with each reduction, and a
two-class softmax against the binary loss of the logits' difference.
"""

from __future__ import annotations

import numpy as np

import celoss
from celoss.parity import ParityReport, compare_arrays

CHAPTER = "Binary cross-entropy"
PAGE = "binary-cross-entropy.py"

SEED = 20260106


def _labels():
    """Logits (8, 3), multi-label targets with 4, 2 and 1 positives, pos_weight."""
    rng = np.random.default_rng(SEED)
    labels = np.zeros((8, 3))  # (N, C)
    labels[:4, 0], labels[:2, 1], labels[:1, 2] = 1, 1, 1
    positives = labels.sum(axis=0)  # (C,)
    pos_weight = (len(labels) - positives) / positives  # (C,): [1, 3, 7]
    return rng.standard_normal(labels.shape), labels, pos_weight


def large_logits(dtype):
    """Every step at logits where the naive formula overflows or gives inf."""
    logits = np.array([-1000.0, -40.0, -17.0, 17.0, 40.0, 1000.0], dtype=dtype)
    targets = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=dtype)
    return celoss.compare_binary_with_torch(logits, targets, reduction="none",
                                            raise_on_mismatch=False)


def random_batch(dtype):
    """Every step on a random multi-label batch."""
    rng = np.random.default_rng([SEED, np.dtype(dtype).itemsize])
    logits = (rng.standard_normal((6, 3)) * 5).astype(dtype)  # (N, C)
    targets = (rng.random((6, 3)) < 0.5).astype(dtype)  # (N, C)
    return celoss.compare_binary_with_torch(logits, targets, raise_on_mismatch=False)


def weighted(reduction, use_weight, use_pos_weight):
    """Every step with weight and/or pos_weight and one reduction."""
    logits, labels, pos_weight = _labels()
    weight = np.linspace(0.5, 2.0, len(labels))[:, None]  # (N, 1): per example
    return celoss.compare_binary_with_torch(
        logits, labels, weight=weight if use_weight else None,
        pos_weight=pos_weight if use_pos_weight else None, reduction=reduction,
        raise_on_mismatch=False)


def two_class():
    """Two-class cross-entropy against torch's binary loss of b - a, and gradients."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng([SEED, 2])
    pairs = rng.standard_normal((6, 2)) * 3  # (N, 2): logits (a, b)
    classes = rng.integers(0, 2, size=6)  # (N,)
    margin = pairs[:, 1] - pairs[:, 0]  # (N,): b - a
    m = torch.tensor(margin, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(
        m, torch.from_numpy(classes.astype(np.float64)), reduction="none")
    loss.sum().backward()
    ours_loss = celoss.cross_entropy(pairs, classes, reduction="none")  # (N,)
    ours_grad = celoss.cross_entropy_grad(pairs, classes, reduction="sum")  # (N, 2)

    return ParityReport(
        {"softmax over": "(a, b)", "binary logit": "b - a"}, "float64", pairs.shape, [
            compare_arrays("two-class cross_entropy vs torch BCE of b - a", ours_loss,
                           loss.detach().numpy(), "float64"),
            compare_arrays("class-1 gradient vs torch BCE gradient", ours_grad[:, 1],
                           m.grad.numpy(), "float64"),
            compare_arrays("class-0 gradient vs minus torch BCE gradient",
                           ours_grad[:, 0], -m.grad.numpy(), "float64"),
        ], torch.__version__, np.__version__)


def cases():
    """Yield (case id, run); run() returns a ParityReport."""
    for dtype in ("float64", "float32"):
        yield f"large logits (|x| up to 1000), {dtype}", (
            lambda dtype=dtype: large_logits(dtype))
        yield f"random batch, {dtype}", lambda dtype=dtype: random_batch(dtype)
    for reduction in ("mean", "sum", "none"):
        yield f"pos_weight = negatives / positives, {reduction}", (
            lambda reduction=reduction: weighted(reduction, False, True))
        yield f"weight per example, {reduction}", (
            lambda reduction=reduction: weighted(reduction, True, False))
        yield f"weight and pos_weight, {reduction}", (
            lambda reduction=reduction: weighted(reduction, True, True))
    yield "two-class softmax = binary loss of b - a", two_class

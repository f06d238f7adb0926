"""The Information theory chapter's comparisons with PyTorch, for the parity gate.

The same computations as docs/information-theory.py, on seeded inputs made
here: entropy against ``Categorical.entropy``, cross-entropy with
probability targets, ``kl_div`` against ``F.kl_div`` for each reduction and
``log_target``, the identity H(p, q) = H(p) + KL(p || q), the shared gradient
of cross-entropy and KL, and the distillation loss with its T^2 factor.
"""

from __future__ import annotations

import warnings

import numpy as np

import celoss
from celoss.parity import ParityReport, compare_arrays

CHAPTER = "Information theory"
PAGE = "information-theory.py"

SEED = 20260105
N, C = 5, 4
KL_REDUCTIONS = ("none", "sum", "batchmean", "mean")
TEMPERATURES = (1.0, 4.0, 64.0)


def _inputs():
    """Model logits (N, C) and target probabilities (N, C), one with a zero."""
    rng = np.random.default_rng(SEED)
    logits = rng.standard_normal((N, C)) * 2  # (N, C)
    targets = celoss.softmax(rng.standard_normal((N, C)) * 2, axis=1)  # (N, C)
    targets[0] = [0.7, 0.3, 0.0, 0.0]  # 0 log 0 = 0 must hold on both sides
    return logits, targets


def _report(options, shape, steps):
    """A ParityReport for checks made here with compare_arrays."""
    import torch

    return ParityReport(options, "float64", shape, steps, torch.__version__,
                        np.__version__)


def entropy():
    """celoss.entropy against Categorical(probs).entropy()."""
    import torch

    _, targets = _inputs()
    theirs = torch.distributions.Categorical(probs=torch.from_numpy(targets)).entropy()
    return _report({}, targets.shape, [
        compare_arrays("entropy", celoss.entropy(targets, axis=1), theirs.numpy(),
                       "float64")])


def probability_targets(reduction):
    """Every step of cross-entropy with probability targets."""
    logits, targets = _inputs()
    return celoss.compare_with_torch(logits, targets, reduction=reduction,
                                     raise_on_mismatch=False)


def kl(reduction, log_target=False):
    """celoss.kl_div against F.kl_div with one reduction."""
    import torch
    import torch.nn.functional as F

    logits, targets = _inputs()
    if log_target:
        targets = targets[1:]  # log 0 is -inf: rows without zeros
        logits = logits[1:]
    log_q = celoss.log_softmax(logits, axis=1)  # (N, C)
    given = np.log(targets) if log_target else targets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that "mean" is not the KL
        theirs = F.kl_div(torch.from_numpy(log_q), torch.from_numpy(given),
                          reduction=reduction, log_target=log_target).numpy()
    ours = celoss.kl_div(log_q, given, reduction=reduction, log_target=log_target)
    return _report({"reduction": reduction, "log_target": log_target}, logits.shape,
                   [compare_arrays("kl_div", ours, theirs, "float64")])


def decomposition():
    """H(p, q) = H(p) + KL(p || q), each side against torch."""
    import torch
    import torch.nn.functional as F

    logits, targets = _inputs()
    log_q = celoss.log_softmax(logits, axis=1)  # (N, C)
    cross = celoss.cross_entropy(logits, targets, reduction="none")  # (N,)
    divergence = celoss.kl_div(log_q, targets, reduction="none").sum(axis=1)  # (N,)
    p_t = torch.from_numpy(targets)
    entropy_t = torch.distributions.Categorical(probs=p_t).entropy().numpy()
    cross_t = F.cross_entropy(torch.from_numpy(logits), p_t, reduction="none").numpy()
    kl_t = F.kl_div(torch.from_numpy(log_q), p_t, reduction="none").sum(dim=1).numpy()
    return _report({"identity": "H(p, q) = H(p) + KL(p || q)"}, logits.shape, [
        compare_arrays("H(p, q) - KL(p || q) vs torch H(p)", cross - divergence,
                       entropy_t, "float64"),
        compare_arrays("H(p) + KL(p || q) vs torch H(p, q)",
                       celoss.entropy(targets, axis=1) + divergence, cross_t, "float64"),
        compare_arrays("KL(p || q) vs torch", divergence, kl_t, "float64"),
    ])


def same_gradient():
    """cross_entropy_grad against autograd of F.kl_div(log_softmax(x), p)."""
    import torch
    import torch.nn.functional as F

    logits, targets = _inputs()
    ours = celoss.cross_entropy_grad(logits, targets, reduction="sum")  # (N, C)
    x = torch.tensor(logits, requires_grad=True)
    F.kl_div(torch.log_softmax(x, dim=1), torch.from_numpy(targets),
             reduction="sum").backward()
    return _report({"loss": "KL(p || softmax(x)), sum"}, logits.shape, [
        compare_arrays("cross_entropy_grad vs d KL / dx", ours, x.grad.numpy(),
                       "float64")])


def distillation(temperature):
    """T^2 KL of the softened distributions and its gradient, against autograd."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng([SEED, int(temperature)])
    teacher = rng.standard_normal((4, 10)) * 3  # (N, C)
    student = rng.standard_normal((4, 10)) * 3  # (N, C)
    soft = celoss.softmax(teacher / temperature, axis=1)  # (N, C)
    ours_loss = temperature**2 * celoss.kl_div(
        celoss.log_softmax(student / temperature, axis=1), soft, reduction="batchmean")
    ours_grad = temperature * celoss.cross_entropy_grad(student / temperature, soft)
    s = torch.tensor(student, requires_grad=True)
    loss = temperature**2 * F.kl_div(
        F.log_softmax(s / temperature, dim=1),
        F.softmax(torch.from_numpy(teacher) / temperature, dim=1), reduction="batchmean")
    loss.backward()
    return _report({"T": temperature, "loss": "T^2 KL, batchmean"}, student.shape, [
        compare_arrays("distillation loss", ours_loss, loss.item(), "float64"),
        compare_arrays("distillation gradient", ours_grad, s.grad.numpy(), "float64"),
    ])


def cases():
    """Yield (case id, run); run() returns a ParityReport."""
    yield "entropy vs Categorical.entropy", entropy
    for reduction in ("mean", "none"):
        yield f"cross-entropy, probability targets, {reduction}", (
            lambda reduction=reduction: probability_targets(reduction))
    for reduction in KL_REDUCTIONS:
        yield f"kl_div, {reduction}", lambda reduction=reduction: kl(reduction)
    yield "kl_div, batchmean, log_target", lambda: kl("batchmean", log_target=True)
    yield "H(p, q) = H(p) + KL(p || q)", decomposition
    yield "cross-entropy and KL: the same gradient", same_gradient
    for temperature in TEMPERATURES:
        yield f"distillation, T = {temperature:g}", (
            lambda temperature=temperature: distillation(temperature))

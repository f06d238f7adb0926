"""The Information theory chapter's comparisons with PyTorch, for the parity gate.

The same computations as docs/information-theory.py, on seeded inputs made
here, with the page's letters (p = softmax(x) the model, t the target):
entropy against ``Categorical.entropy``, cross-entropy with probability
targets, ``kl_div`` against ``F.kl_div`` for each reduction and
``log_target``, the identity H(t, p) = H(t) + KL(t || p), the shared gradient
of cross-entropy and KL, the mean loss as maximum likelihood and as the
cross-entropy to the labels' frequencies, the Hessian diag(p) - p p^T, and
the distillation loss with its T^2 factor.
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
    log_p = celoss.log_softmax(logits, axis=1)  # (N, C)
    given = np.log(targets) if log_target else targets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that "mean" is not the KL
        theirs = F.kl_div(torch.from_numpy(log_p), torch.from_numpy(given),
                          reduction=reduction, log_target=log_target).numpy()
    ours = celoss.kl_div(log_p, given, reduction=reduction, log_target=log_target)
    return _report({"reduction": reduction, "log_target": log_target}, logits.shape,
                   [compare_arrays("kl_div", ours, theirs, "float64")])


def decomposition():
    """H(t, p) = H(t) + KL(t || p), each side against torch."""
    import torch
    import torch.nn.functional as F

    logits, targets = _inputs()
    log_p = celoss.log_softmax(logits, axis=1)  # (N, C)
    cross = celoss.cross_entropy(logits, targets, reduction="none")  # (N,)
    divergence = celoss.kl_div(log_p, targets, reduction="none").sum(axis=1)  # (N,)
    targets_t = torch.from_numpy(targets)
    entropy_t = torch.distributions.Categorical(probs=targets_t).entropy().numpy()
    cross_t = F.cross_entropy(torch.from_numpy(logits), targets_t, reduction="none").numpy()
    kl_t = F.kl_div(torch.from_numpy(log_p), targets_t, reduction="none").sum(dim=1).numpy()
    return _report({"identity": "H(t, p) = H(t) + KL(t || p)"}, logits.shape, [
        compare_arrays("H(t, p) - KL(t || p) vs torch H(t)", cross - divergence,
                       entropy_t, "float64"),
        compare_arrays("H(t) + KL(t || p) vs torch H(t, p)",
                       celoss.entropy(targets, axis=1) + divergence, cross_t, "float64"),
        compare_arrays("KL(t || p) vs torch", divergence, kl_t, "float64"),
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
    return _report({"loss": "KL(t || softmax(x)), sum"}, logits.shape, [
        compare_arrays("cross_entropy_grad vs d KL / dx", ours, x.grad.numpy(),
                       "float64")])


def maximum_likelihood():
    """The mean loss on labels = -log(likelihood) / N = H(label frequencies, p)."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng([SEED, 6])
    labels = rng.integers(0, C, size=12)  # (N,)
    x = rng.standard_normal(C)  # (C,): one prediction for every sample
    frequencies = np.bincount(labels, minlength=C) / len(labels)  # (C,)
    mean_loss = celoss.cross_entropy(np.tile(x, (len(labels), 1)), labels)  # ()
    cross = celoss.cross_entropy(x[None, :], frequencies[None, :])  # ()
    likelihood_t = torch.distributions.Categorical(logits=torch.from_numpy(x)).log_prob(
        torch.from_numpy(labels))  # (N,)
    cross_t = F.cross_entropy(torch.from_numpy(x[None, :]),
                              torch.from_numpy(frequencies[None, :]))
    return _report({"model": "one prediction for all samples"}, (len(labels), C), [
        compare_arrays("mean loss vs torch -log(likelihood) / N", mean_loss,
                       -likelihood_t.mean().item(), "float64"),
        compare_arrays("H(frequencies, p) vs torch", cross, cross_t.item(), "float64"),
    ])


def hessian(target):
    """diag(p) - p p^T against torch.autograd.functional.hessian of F.cross_entropy."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng([SEED, 7])
    x = rng.standard_normal(C) * 2  # (C,): one sample's logits
    p = celoss.softmax(x[None, :], axis=1)[0]  # (C,)
    ours = np.diag(p) - np.outer(p, p)  # (C, C)
    target_t = (torch.tensor([1]) if target == "index"
                else torch.from_numpy(_inputs()[1][1:2]))  # (1,) or (1, C)
    theirs = torch.autograd.functional.hessian(
        lambda logits: F.cross_entropy(logits[None, :], target_t), torch.from_numpy(x))
    return _report({"target": target}, (1, C), [
        compare_arrays("Hessian diag(p) - p p^T", ours, theirs.numpy(), "float64")])


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
    yield "H(t, p) = H(t) + KL(t || p)", decomposition
    yield "cross-entropy and KL: the same gradient", same_gradient
    yield "mean loss = maximum likelihood = H(label frequencies, p)", maximum_likelihood
    for target in ("index", "probabilities"):
        yield f"Hessian diag(p) - p p^T, {target} target", (
            lambda target=target: hessian(target))
    for temperature in TEMPERATURES:
        yield f"distillation, T = {temperature:g}", (
            lambda temperature=temperature: distillation(temperature))

"""Verification cases of "The gradient" chapter (docs/gradient.py).

The chapter's inputs (the seed's logits, its options, a batch with every
option at once) compared with PyTorch's autograd, and the gradient-descent
trajectory compared with the same descent on torch autograd.
"""

import numpy as np

import celoss
from celoss.parity import compare_arrays, import_torch

CHAPTER = "The gradient"
PAGE = "gradient.py"

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])  # the seed's (N, C)
TARGETS = np.array([0, 1])  # (N,)
WEIGHT = np.array([1.0, 3.0, 0.5])  # (C,)
SOFT_TARGETS = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])  # (N, C)
EPSILON = 0.1


def _compare(logits, targets, **options):
    return lambda: celoss.compare_with_torch(logits, targets, raise_on_mismatch=False,
                                             **options)


def _descent(eta=2.0, steps=25):
    """Gradient descent from the seed's logits: celoss's gradient against autograd's."""
    torch = import_torch()
    x = LOGITS.copy()  # (N, C)
    losses = [float(celoss.cross_entropy(x, TARGETS))]
    for _ in range(steps):
        x = x - eta * celoss.cross_entropy_grad(x, TARGETS)  # (N, C)
        losses.append(float(celoss.cross_entropy(x, TARGETS)))
    x_t = torch.tensor(LOGITS, requires_grad=True)
    torch_losses = []
    for step in range(steps + 1):
        loss = torch.nn.functional.cross_entropy(x_t, torch.from_numpy(TARGETS))
        torch_losses.append(loss.item())
        if step < steps:
            loss.backward()
            with torch.no_grad():
                x_t -= eta * x_t.grad  # plain SGD
            x_t.grad = None
    steps_checked = [compare_arrays("descent_losses", np.array(losses),
                                    np.array(torch_losses), "float64"),
                     compare_arrays("descent_final_logits", x,
                                    x_t.detach().numpy(), "float64")]
    return celoss.ParityReport({"eta": eta, "steps": steps}, "float64", LOGITS.shape,
                               steps_checked, torch.__version__, np.__version__)


def cases():
    """Yield (case_id, run) for the Verification page."""
    yield "seed: softmax minus one-hot", _compare(LOGITS, TARGETS)
    yield "seed: class weights", _compare(LOGITS, TARGETS, weight=WEIGHT)
    yield "seed: sample 1 ignored", _compare(LOGITS, np.array([0, -100]))
    yield "seed: label smoothing 0.1", _compare(LOGITS, TARGETS, label_smoothing=EPSILON)
    gap = np.log((1 - EPSILON + EPSILON / 3) / (EPSILON / 3))
    yield ("label smoothing's optimum: zero gradient",
           _compare(np.array([[gap, 0.0, 0.0]]), np.array([0]), label_smoothing=EPSILON))
    yield ("seed: probability targets with weights",
           _compare(LOGITS, SOFT_TARGETS, weight=WEIGHT))
    batch = np.random.default_rng(2).normal(size=(3, 3))  # (N, C)
    for reduction in ("mean", "sum", "none"):
        yield (f"every option at once, reduction={reduction}",
               _compare(batch, np.array([2, -100, 1]), weight=WEIGHT,
                        label_smoothing=EPSILON, reduction=reduction))
    yield "gradient descent on the seed, 25 steps, against torch autograd", _descent

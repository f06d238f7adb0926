"""cross_entropy_grad: torch autograd, central finite differences, the formula."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from celoss import TOLERANCES, cross_entropy, cross_entropy_grad, smoothed_targets, softmax
from conftest import problems


def torch_grad(logits, targets, **options):
    """d loss / d logits from torch autograd (sum of losses for 'none')."""
    x = torch.tensor(logits, requires_grad=True)
    probability = np.shape(targets) == np.shape(logits)
    t = torch.tensor(targets) if probability else torch.tensor(targets, dtype=torch.long)
    if options.get("weight") is not None:
        options = {**options, "weight": torch.tensor(options["weight"], dtype=x.dtype)}
    loss = F.cross_entropy(x, t, **options)
    (loss.sum() if options.get("reduction") == "none" else loss).backward()
    return x.grad.numpy()


@settings(max_examples=300, deadline=None)
@given(problems())
def test_gradient_matches_torch_autograd(problem):
    logits, targets, options = problem
    ours = cross_entropy_grad(logits, targets, **options)
    theirs = torch_grad(logits, targets, **options)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    rtol, atol = (1e-10, 1e-12) if logits.dtype == np.float64 else (2e-5, 1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


@settings(max_examples=100, deadline=None)
@given(problems(dtypes=[np.float64]))
def test_gradient_matches_central_finite_differences(problem):
    logits, targets, options = problem
    total = cross_entropy(logits, targets, **options)
    if not np.all(np.isfinite(total)):
        return  # a mean over nothing has no derivative to approximate
    step = 1e-6
    numeric = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (np.sum(cross_entropy(plus, targets, **options))
                          - np.sum(cross_entropy(minus, targets, **options))) / (2 * step)
    np.testing.assert_allclose(cross_entropy_grad(logits, targets, **options), numeric,
                               rtol=1e-5, atol=1e-7)


def test_gradient_formula_transcribed_literally():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(5, 3))
    y = np.array([0, 2, -100, 1, 2])
    w = np.array([0.5, 2.0, 1.5])
    eps = 0.3
    p = softmax(x, axis=1)
    D = sum(w[y[n]] for n in range(5) if y[n] != -100)
    expected = np.zeros_like(x)
    for n in range(5):
        if y[n] == -100:
            continue
        q = [(1 - eps) * (c == y[n]) + eps / 3 for c in range(3)]
        total = sum(w[k] * q[k] for k in range(3))
        for c in range(3):
            expected[n, c] = (p[n, c] * total - w[c] * q[c]) / D
    ours = cross_entropy_grad(x, y, weight=w, label_smoothing=eps)
    np.testing.assert_allclose(ours, expected, rtol=1e-13)


def test_unweighted_gradient_is_softmax_minus_one_hot_and_rows_sum_to_zero(seed_logits,
                                                                           seed_targets):
    grad = cross_entropy_grad(seed_logits, seed_targets, reduction="sum")
    expected = softmax(seed_logits, axis=1) - np.eye(3)[seed_targets]
    np.testing.assert_allclose(grad, expected, rtol=1e-15)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


def test_smoothed_targets_rows_sum_to_one_or_zero():
    q = smoothed_targets(np.array([[0, 2], [-100, 1]]), 3, label_smoothing=0.2)
    assert q.shape == (2, 3, 2)
    np.testing.assert_allclose(q.sum(axis=1), [[1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(q[0, :, 0], [0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_zero_total_weight_gives_nan_as_torch(reduction):
    logits = np.array([[3.4, 4.2], [3.7, 3.8]])
    targets = np.array([1, -100])
    weight = np.array([2.0, 0.0])
    ours = cross_entropy_grad(logits, targets, weight=weight, label_smoothing=0.1,
                              reduction=reduction)
    theirs = torch_grad(logits, targets, weight=weight, label_smoothing=0.1, reduction=reduction)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("bad_weight", [np.inf, np.nan], ids=["inf", "nan"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient_with_a_non_finite_class_weight_matches_torch(seed, bad_weight,
                                                              label_smoothing, reduction):
    # Without smoothing torch touches only w_{y_n}: rows whose target class has a
    # finite weight keep a finite gradient; ignored rows get 0.
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(8, 4))
    targets = rng.integers(0, 4, size=8)
    targets[rng.random(8) < 0.3] = -100
    weight = rng.uniform(0.5, 2.0, size=4)
    weight[rng.integers(4)] = bad_weight
    options = dict(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    np.testing.assert_allclose(cross_entropy_grad(logits, targets, **options),
                               torch_grad(logits, targets, **options),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("zero_total", ["zero-weights", "weights-cancel"])
def test_gradient_of_a_mean_over_zero_total_weight_matches_torch(seed, label_smoothing,
                                                                 zero_total):
    # torch divides each term by the total weight before the softmax's backward:
    # a zero total gives inf and NaN in a pattern the gradient must reproduce.
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, 3))
    if zero_total == "zero-weights":
        targets, weight = rng.integers(0, 3, size=6), np.zeros(3)
    else:
        targets = np.array([0, 1] * 3)
        weight = np.array([1.0, -1.0, rng.uniform(0.5, 2.0)])
    options = dict(weight=weight, label_smoothing=label_smoothing)
    np.testing.assert_allclose(cross_entropy_grad(logits, targets, **options),
                               torch_grad(logits, targets, **options),
                               rtol=1e-10, atol=1e-14)


def float16_mean_beyond_65504(overflow, rng):
    """float16 logits (N, 3), targets and weight whose mean's total weight is beyond 65504.

    ``"count"``: 65,600 examples and no weight; ``"weights"``: 700 examples, 500
    of them of a class weighing 200.
    """
    if overflow == "count":
        num_examples, weight = 65_600, None
    else:
        num_examples, weight = 700, np.array([200.0, 1.0, 1.0], dtype=np.float16)
    logits = rng.normal(size=(num_examples, 3)).astype(np.float16)  # (N, C)
    targets = rng.integers(0, 3, size=num_examples)  # (N,)
    targets[:500] = 0
    return logits, targets, weight


# Two float16 subnormal units: the gradients of 65,600 examples are near 1e-6.
FLOAT16_GRAD_TOLERANCE = {"rtol": 2.0**-10, "atol": 2 * 2.0**-24}


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("overflow", ["count", "weights"])
def test_float16_mean_over_a_total_weight_beyond_65504_has_torchs_gradient(label_smoothing,
                                                                           overflow):
    # torch's nll_loss holds the mean's total weight in float16: beyond 65504 it
    # is inf, so the target part's gradient is 0 (and the loss NaN, as these
    # losses' float16 sum overflows too). The smoothing
    # part divides by the count of examples without a weight (an integer, not
    # rounded) and by the float16 total with one (0 again).
    logits, targets, weight = float16_mean_beyond_65504(overflow, np.random.default_rng(0))
    options = dict(weight=weight, label_smoothing=label_smoothing)
    ours = cross_entropy_grad(logits, targets, **options)
    theirs = torch_grad(logits, targets, **options)
    assert ours.dtype == theirs.dtype == np.float16
    np.testing.assert_allclose(ours, theirs, **FLOAT16_GRAD_TOLERANCE)
    assert np.isnan(cross_entropy(logits, targets, **options))  # as torch's


def test_float16_eps_over_c_is_torchs_float16_scalar():
    # torch's autograd multiplies by eps / C = 1/3 as a float16 scalar, 0.33325,
    # and rounds each step; with the float32 1/3 the cancelling first element
    # was 0.3015 (float64 says 0.2929; torch's float16 steps give 0.2783).
    logits = np.array([[8.39, 5.895, 8.87]], dtype=np.float16)  # (1, C)
    targets = np.array([1])
    options = dict(weight=np.array([182.75, 311.75, 0.0], dtype=np.float16),
                   reduction="none", label_smoothing=1.0)
    ours = cross_entropy_grad(logits, targets, **options)
    np.testing.assert_allclose(ours, torch_grad(logits, targets, **options),
                               rtol=2.0**-10, atol=2.0**-10)


def test_float16_gradients_follow_torchs_float16_steps_in_random_cases():
    # Random float16 problems with large weights, masked classes and smoothing:
    # each of torch's backward steps is rounded to float16 (the mean's division,
    # each product with a weight or target, 1 - eps and eps / C), and so are
    # celoss's. Of these 1,500 cases, 3 fell outside tolerance before.
    rng = np.random.default_rng(2)
    rtol, atol = TOLERANCES["float16"]
    for _ in range(1500):
        num_examples, num_classes = rng.integers(1, 6), rng.integers(2, 7)
        logits = (rng.standard_normal((num_examples, num_classes))
                  * rng.choice([1, 10, 100])).astype(np.float16)  # (N, C)
        if rng.random() < 0.3:  # classes masked with float16's minimum
            logits[rng.random(logits.shape) < 0.3] = np.finfo(np.float16).min
        if rng.random() < 0.5:
            targets = rng.dirichlet(np.ones(num_classes), num_examples).astype(np.float16)
        else:
            targets = rng.integers(0, num_classes, num_examples)  # (N,)
            targets[rng.random(num_examples) < 0.2] = -100
        weight = None if rng.random() < 0.3 else (
            rng.random(num_classes) * rng.choice([1, 3, 100, 1000])).astype(np.float16)
        options = dict(weight=weight, reduction=str(rng.choice(["mean", "sum", "none"])),
                       label_smoothing=float(rng.choice([0.0, 0.1, 0.3, 1.0])))
        ours = cross_entropy_grad(logits, targets, **options)
        theirs = torch_grad(logits, targets, **options)
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol,
                                   err_msg=f"{logits!r} {targets!r} {options}")

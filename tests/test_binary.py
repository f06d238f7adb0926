"""Binary cross-entropy with logits against torch, the formula and finite differences."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import celoss
from celoss import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    log_sigmoid,
    sigmoid,
)
from celoss.parity import TOLERANCES


@st.composite
def binary_problems(draw, dtypes=(np.float32, np.float64)):
    dtype = draw(st.sampled_from(dtypes))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 1e4]))
    logits = (rng.normal(size=shape) * scale).astype(dtype)
    targets = rng.random(size=shape).astype(dtype)
    if draw(st.booleans()):
        targets = (targets > 0.5).astype(dtype)
    options = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 2.0, size=shape[-1:]).astype(dtype)
    if draw(st.booleans()):
        options["pos_weight"] = rng.uniform(0.1, 4.0, size=shape[-1:]).astype(dtype)
    return logits, targets, options


@settings(max_examples=200, deadline=None)
@given(binary_problems())
def test_binary_loss_and_gradient_match_torch(problem):
    logits, targets, options = problem
    assert celoss.compare_binary_with_torch(logits, targets, **options).passed


@settings(max_examples=50, deadline=None)
@given(binary_problems(dtypes=(np.float64,)))
def test_binary_gradient_matches_central_finite_differences(problem):
    logits, targets, options = problem
    if logits.size == 0 or np.abs(logits).max() > 100:
        return  # nothing to differentiate; or a kink-free but flat region beyond float64
    step = 1e-6
    numeric = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (
            np.sum(binary_cross_entropy_with_logits(plus, targets, **options))
            - np.sum(binary_cross_entropy_with_logits(minus, targets, **options))
        ) / (2 * step)
    np.testing.assert_allclose(binary_cross_entropy_with_logits_grad(logits, targets, **options),
                               numeric, rtol=1e-5, atol=1e-7)


def test_binary_formula_transcribed_literally():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)) * 2
    y = rng.random(size=(4, 3))
    w = rng.uniform(0.5, 2.0, size=3)
    p = rng.uniform(0.5, 3.0, size=3)
    expected = np.empty_like(x)
    for n in range(4):
        for c in range(3):
            s = 1 / (1 + math.exp(-x[n, c]))
            expected[n, c] = -w[c] * (p[c] * y[n, c] * math.log(s)
                                      + (1 - y[n, c]) * math.log(1 - s))
    ours = binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=p, reduction="none")
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_two_class_softmax_is_the_sigmoid_of_the_logit_difference():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 2)) * 3
    targets = rng.integers(0, 2, size=6)
    softmax_loss = celoss.cross_entropy(logits, targets, reduction="none")
    binary_loss = binary_cross_entropy_with_logits(logits[:, 1] - logits[:, 0],
                                                   targets.astype(float), reduction="none")
    np.testing.assert_allclose(softmax_loss, binary_loss, rtol=1e-12)


def test_sigmoid_and_log_sigmoid_are_finite_for_huge_logits():
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    np.testing.assert_array_equal(sigmoid(x), torch.sigmoid(torch.tensor(x)).numpy())
    assert np.all(np.isfinite(log_sigmoid(x)))
    np.testing.assert_allclose(log_sigmoid(x), torch.nn.functional.logsigmoid(
        torch.tensor(x)).numpy(), rtol=1e-15)


BAD = {
    "shape-mismatch": (dict(targets=np.zeros(3)), ValueError, "targets shape"),
    "integer-targets": (dict(targets=np.zeros((2, 2), dtype=int)), TypeError, "floating point"),
    "integer-logits": (dict(logits=np.zeros((2, 2), dtype=int)), TypeError, "logits must be"),
    "weight-shape": (dict(weight=np.ones(3)), ValueError, "weight of shape"),
    "pos-weight-shape": (dict(pos_weight=np.ones(3)), ValueError, "pos_weight of shape"),
    "reduction": (dict(reduction="avg"), ValueError, "reduction must be"),
}


@pytest.mark.parametrize("bad, error, message", BAD.values(), ids=BAD.keys())
def test_bad_input_raises_an_error_naming_it(bad, error, message):
    arguments = {"logits": np.zeros((2, 2)), "targets": np.zeros((2, 2)), **bad}
    logits, targets = arguments.pop("logits"), arguments.pop("targets")
    for function in (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad):
        with pytest.raises(error, match=message):
            function(logits, targets, **arguments)


FLOATS = [np.float16, np.float32, np.float64]


@st.composite
def mixed_dtype_problems(draw):
    """Logits, targets, weight and pos_weight of independently drawn float dtypes."""
    dtypes = [draw(st.sampled_from(FLOATS), label=name)
              for name in ("logits", "targets", "weight", "pos_weight")]
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = (rng.normal(size=shape) * draw(st.sampled_from([0.1, 1.0, 3.0]))).astype(dtypes[0])
    targets = rng.random(size=shape).astype(dtypes[1])
    options = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 2.0, size=shape[-1:]).astype(dtypes[2])
    if draw(st.booleans()):
        options["pos_weight"] = rng.uniform(0.1, 4.0, size=shape[-1:]).astype(dtypes[3])
    return logits, targets, options


def torch_loss_and_grad(logits, targets, options, dtype=None):
    """torch's loss and gradient; every input cast to ``dtype`` when given."""
    def tensor(value):
        return torch.tensor(value if dtype is None else np.asarray(value, dtype=dtype))
    x = tensor(logits).requires_grad_()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        x, tensor(targets), reduction=options["reduction"],
        **{name: tensor(options[name]) for name in ("weight", "pos_weight") if name in options})
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


@settings(max_examples=300, deadline=None)
@given(mixed_dtype_problems())
def test_loss_has_the_targets_dtype_and_gradient_the_logits_dtype_as_in_torch(problem):
    """torch 2.13 returns the targets' dtype for the loss, the logits' for the gradient.

    The values are checked against torch in float64 with the tolerance of the
    least precise input: with float16 inputs torch rounds its intermediates to
    half precision, celoss only its result.
    """
    logits, targets, options = problem
    loss = binary_cross_entropy_with_logits(logits, targets, **options)
    grad = binary_cross_entropy_with_logits_grad(logits, targets, **options)
    torch_loss, torch_grad = torch_loss_and_grad(logits, targets, options)
    assert loss.dtype == torch_loss.dtype == targets.dtype
    assert grad.dtype == torch_grad.dtype == logits.dtype
    assert loss.shape == torch_loss.shape and grad.shape == torch_grad.shape
    exact_loss, exact_grad = torch_loss_and_grad(logits, targets, options, dtype=np.float64)
    least = max([logits, targets, *(options.get(n) for n in ("weight", "pos_weight"))],
                key=lambda value: -1 if value is None else np.finfo(value.dtype).eps)
    rtol, atol = TOLERANCES[least.dtype.name]
    np.testing.assert_allclose(loss.astype(np.float64), exact_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad.astype(np.float64), exact_grad, rtol=rtol, atol=atol)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(2,), (4, 3), (2, 3, 5)]),
       st.sampled_from(["mean", "sum"]), st.booleans())
def test_half_precision_losses_are_summed_in_float32_as_in_torch(seed, shape, reduction,
                                                                 weighted):
    """Losses near float16's largest value, 65504: their sum overflows, their mean need not."""
    rng = np.random.default_rng(seed)
    logits = -rng.uniform(1e4, 6e4, size=shape).astype(np.float16)
    targets = (rng.random(size=shape) < 0.9).astype(np.float16)
    options = {"reduction": reduction}
    if weighted:
        options["weight"] = rng.uniform(0.5, 1.0, size=shape[-1:]).astype(np.float16)
    ours = binary_cross_entropy_with_logits(logits, targets, **options)
    theirs, _ = torch_loss_and_grad(logits, targets, options)
    assert ours.dtype == theirs.dtype == np.float16
    rtol, atol = TOLERANCES["float16"]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)  # inf only where torch's is
    if reduction == "mean":
        assert np.isfinite(ours)


def test_half_precision_mean_of_two_large_losses_is_finite():
    # The fuzzer's case: torch gives 40000 (each loss is 40000, their float16 sum inf).
    logits, targets = np.full(2, -40000, np.float16), np.ones(2, np.float16)
    theirs, _ = torch_loss_and_grad(logits, targets, {"reduction": "mean"})
    assert float(theirs) == 40000.0
    assert binary_cross_entropy_with_logits(logits, targets) == theirs


BROADER = {
    "weight-adds-an-axis": ((2,), "weight", (3, 2)),
    "weight-stretches-an-axis": ((1, 3), "weight", (4, 3)),
    "pos-weight-adds-an-axis": ((2,), "pos_weight", (3, 2)),
    "pos-weight-adds-two-axes": ((2, 3), "pos_weight", (5, 1, 1, 3)),
}


@pytest.mark.parametrize("shape, name, weight_shape", BROADER.values(), ids=BROADER.keys())
def test_a_weight_that_broadcasts_beyond_the_logits_raises_as_torch_raises(shape, name,
                                                                           weight_shape):
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=shape), rng.random(size=shape)
    value = rng.uniform(0.5, 2.0, size=weight_shape)
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(logits), torch.tensor(targets), **{name: torch.tensor(value)})
    message = (rf"{name} of shape {re.escape(str(weight_shape))} does not broadcast to the "
               rf"logits' shape {re.escape(str(shape))}")
    for function in (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad):
        for reduction in ("mean", "sum", "none"):
            with pytest.raises(ValueError, match=message):
                function(logits, targets, reduction=reduction, **{name: value})

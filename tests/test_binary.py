"""Binary cross-entropy with logits against torch, the formula and finite differences."""

import math

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

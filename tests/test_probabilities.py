"""softmax and log_softmax: properties, the formula, and torch."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from celoss import log_softmax, logsumexp, softmax


def random_logits(seed, shape, scale=3.0, dtype=np.float64):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(dtype)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(4,), (3, 5), (2, 3, 4)]),
       st.sampled_from([np.float32, np.float64]))
def test_softmax_and_log_softmax_match_torch(seed, shape, dtype):
    logits = random_logits(seed, shape, dtype=dtype)
    for axis in range(len(shape)):
        x = torch.tensor(logits)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(softmax(logits, axis=axis),
                                   torch.softmax(x, dim=axis).numpy(), rtol=rtol, atol=1e-7)
        np.testing.assert_allclose(log_softmax(logits, axis=axis),
                                   torch.log_softmax(x, dim=axis).numpy(), rtol=rtol, atol=1e-6)


def test_softmax_rows_sum_to_one():
    probs = softmax(random_logits(0, (6, 5)), axis=1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-15)
    assert np.all(probs >= 0)


def test_softmax_is_shift_invariant():
    logits = random_logits(1, (4, 3))
    shift = np.array([[100.0], [-7.0], [0.5], [1e3]])
    np.testing.assert_allclose(softmax(logits + shift), softmax(logits), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_is_finite_where_the_naive_formula_overflows(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [1000.0, 999.0, 998.0]], dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert not np.all(np.isfinite(naive))  # the naive version breaks on this input
    probs = softmax(logits)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs, torch.softmax(torch.tensor(logits), 1).numpy(), rtol=1e-6)


def test_log_softmax_is_finite_where_log_of_softmax_is_not():
    logits = np.array([1000.0, 0.0, -1000.0])
    with np.errstate(divide="ignore"):
        naive = np.log(softmax(logits))
    assert naive[2] == -np.inf
    np.testing.assert_allclose(log_softmax(logits), [0.0, -1000.0, -2000.0], rtol=1e-15)


def test_log_softmax_is_log_of_softmax_on_moderate_logits():
    logits = random_logits(2, (5, 4))
    np.testing.assert_allclose(log_softmax(logits), np.log(softmax(logits)), rtol=1e-13)


def test_softmax_formula_transcribed_literally():
    logits = random_logits(3, (3, 4))
    expected = np.empty_like(logits)
    for n in range(3):
        m = max(logits[n])
        total = sum(math.exp(logits[n, k] - m) for k in range(4))
        for c in range(4):
            expected[n, c] = math.exp(logits[n, c] - m) / total
    np.testing.assert_allclose(softmax(logits), expected, rtol=1e-14)


def test_non_finite_rows_give_what_torch_gives():
    logits = np.array([[-np.inf, -np.inf], [np.inf, 0.0], [np.nan, 0.0], [-np.inf, 0.0]])
    x = torch.tensor(logits)
    np.testing.assert_array_equal(softmax(logits), torch.softmax(x, 1).numpy())
    np.testing.assert_array_equal(log_softmax(logits), torch.log_softmax(x, 1).numpy())


def test_inputs_are_not_modified():
    logits = random_logits(4, (3, 3))
    copy = logits.copy()
    softmax(logits)
    log_softmax(logits)
    np.testing.assert_array_equal(logits, copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_logsumexp_matches_torch_and_is_finite_for_huge_logits(dtype):
    logits = np.array([[1e4, 1e4, 0.0], [-1e4, 0.0, 3.0], [1.0, 2.0, 3.0]], dtype=dtype)
    ours = logsumexp(logits, axis=1)
    assert ours.dtype == dtype and np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, torch.logsumexp(torch.tensor(logits), 1).numpy(),
                               rtol=1e-6)
    # x - logsumexp(x) is log_softmax, but at |x| = 1e4 it rounds in float32 (the
    # reason log_softmax subtracts the maximum before it adds the log of the sum).
    moderate = logits[2:]
    np.testing.assert_allclose(log_softmax(moderate, axis=1),
                               moderate - logsumexp(moderate, axis=1)[:, None], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_matches_torch_on_masked_infinite_and_nan_rows(dtype):
    inf, nan = np.inf, np.nan
    logits = np.array([[-inf, -inf, -inf], [-inf, 2.0, -inf], [inf, 1.0, -inf],
                       [inf, inf, 0.0], [nan, 1.0, 2.0], [1000.0, -inf, 999.0]], dtype=dtype)
    ours = logsumexp(logits, axis=1)
    theirs = torch.logsumexp(torch.tensor(logits), 1).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # -inf == -inf, inf == inf
    assert ours[0] == -np.inf and ours[2] == np.inf


def test_logsumexp_formula_transcribed_literally():
    logits = random_logits(5, (3, 4))
    expected = [math.log(sum(math.exp(logits[n, c]) for c in range(4))) for n in range(3)]
    np.testing.assert_allclose(logsumexp(logits, axis=1), expected, rtol=1e-14)

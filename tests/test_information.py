"""Entropy and KL divergence: torch, the formula, and H(p, q) = H(p) + KL(p || q)."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from celoss import cross_entropy, entropy, kl_div, log_softmax, softmax


def random_distributions(seed, shape, zeros=False):
    rng = np.random.default_rng(seed)
    log_q = log_softmax(rng.normal(size=shape) * 2, axis=1)
    p = softmax(rng.normal(size=shape) * 2, axis=1)
    if zeros:
        p[0] = 0.0
        p[0, 0] = 1.0
    return log_q, p


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True], ids=["probs", "log-probs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_kl_div_matches_torch(reduction, log_target, dtype):
    log_q, p = random_distributions(0, (5, 4), zeros=not log_target)
    log_q, p = log_q.astype(dtype), p.astype(dtype)
    target = np.log(p) if log_target else p
    ours = kl_div(log_q, target, reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about "mean"
        theirs = F.kl_div(torch.tensor(log_q), torch.tensor(target), reduction=reduction,
                          log_target=log_target).numpy()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_cross_entropy_is_entropy_plus_kl():
    log_q, p = random_distributions(1, (6, 5), zeros=True)
    np.testing.assert_allclose(
        cross_entropy(log_q, p, reduction="none"),
        entropy(p, axis=1) + kl_div(log_q, p, reduction="none").sum(axis=1), rtol=1e-12)


def test_entropy_formula_transcribed_literally_and_its_extremes():
    _, p = random_distributions(2, (3, 4), zeros=True)
    expected = [-sum(p[n, c] * math.log(p[n, c]) for c in range(4) if p[n, c] > 0)
                for n in range(3)]
    np.testing.assert_allclose(entropy(p, axis=1), expected, rtol=1e-14)
    assert entropy(np.eye(3), axis=1).tolist() == [0.0, 0.0, 0.0]
    assert entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))


def test_kl_of_a_distribution_with_itself_is_zero():
    log_q, _ = random_distributions(3, (4, 3))
    assert abs(kl_div(log_q, np.exp(log_q), reduction="sum")) < 1e-15


def test_bad_kl_input_raises():
    with pytest.raises(ValueError, match="target_probs shape"):
        kl_div(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="'batchmean'"):
        kl_div(np.zeros((2, 3)), np.zeros((2, 3)), reduction="avg")


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(2,), (1, 2), (4, 3), (2, 3, 5)]),
       st.sampled_from(["mean", "batchmean", "sum", "none"]), st.booleans())
def test_half_precision_kl_is_summed_in_float32_as_in_torch(seed, shape, reduction, log_target):
    """Terms near float16's largest value, 65504: their sum overflows, their mean need not.

    torch's "batchmean" divides the sum already rounded to float16 by N, so it
    overflows where "mean" does not; celoss follows it.
    """
    rng = np.random.default_rng(seed)
    log_q = -rng.uniform(1e4, 6e4, size=shape).astype(np.float16)
    target = rng.uniform(0.5, 1.0, size=shape).astype(np.float16)
    if log_target:
        target = np.log(target)
    ours = kl_div(log_q, target, reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about "mean"
        theirs = F.kl_div(torch.tensor(log_q), torch.tensor(target), reduction=reduction,
                          log_target=log_target).numpy()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float16
    np.testing.assert_allclose(ours, theirs, rtol=5e-3, atol=2e-3)  # inf only where torch's is
    if reduction == "mean":
        assert np.isfinite(ours)


@pytest.mark.parametrize("reduction, expected", [("mean", 40000.0), ("batchmean", np.inf),
                                                 ("sum", np.inf)])
def test_the_fuzzers_half_precision_kl_gives_torchs_values(reduction, expected):
    # torch 2.13 on the fuzzer's case: mean 40000, batchmean and sum inf (80000 in float16).
    log_q, p = np.full(2, -40000, np.float16), np.ones(2, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about "mean"
        theirs = F.kl_div(torch.tensor(log_q), torch.tensor(p), reduction=reduction).numpy()
    assert float(theirs) == expected
    assert kl_div(log_q, p, reduction=reduction) == theirs

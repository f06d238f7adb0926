"""nll_loss, soft_target_loss and target_weights against the formula and torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from celoss import log_softmax, nll_loss, soft_target_loss, softmax, target_weights


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_nll_loss_matches_torch_nll_loss(seed, dtype):
    rng = np.random.default_rng(seed)
    log_probs = log_softmax(rng.normal(size=(6, 4, 3)), axis=1).astype(dtype)
    targets = rng.integers(0, 4, size=(6, 3))
    targets[rng.random((6, 3)) < 0.3] = 2  # ignored below
    weight = rng.uniform(0.1, 2.0, size=4).astype(dtype)
    ours = nll_loss(log_probs, targets, weight=weight, ignore_index=2)
    theirs = F.nll_loss(torch.tensor(log_probs), torch.tensor(targets),
                        weight=torch.tensor(weight), ignore_index=2, reduction="none")
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_nll_loss_transcribed_literally():
    rng = np.random.default_rng(5)
    log_probs = log_softmax(rng.normal(size=(5, 3)), axis=1)
    targets = np.array([0, 2, -100, 1, 2])
    w = np.array([0.5, 2.0, 1.5])
    expected = [0.0 if targets[n] == -100 else -w[targets[n]] * log_probs[n, targets[n]]
                for n in range(5)]
    np.testing.assert_allclose(nll_loss(log_probs, targets, weight=w), expected, rtol=1e-15)


def test_soft_target_loss_transcribed_literally():
    rng = np.random.default_rng(6)
    log_probs = log_softmax(rng.normal(size=(4, 3)), axis=1)
    t = softmax(rng.normal(size=(4, 3)), axis=1)
    w = np.array([0.5, 2.0, 1.5])
    expected = [-sum(w[c] * t[n, c] * log_probs[n, c] for c in range(3)) for n in range(4)]
    np.testing.assert_allclose(soft_target_loss(log_probs, t, weight=w), expected, rtol=1e-14)


def test_soft_target_loss_of_one_hot_targets_is_nll_loss():
    rng = np.random.default_rng(7)
    log_probs = log_softmax(rng.normal(size=(5, 4)), axis=1)
    targets = rng.integers(0, 4, size=5)
    one_hot = np.eye(4)[targets]
    np.testing.assert_allclose(soft_target_loss(log_probs, one_hot), nll_loss(log_probs, targets),
                               rtol=1e-15)


def test_target_weights_are_zero_where_ignored():
    weights = target_weights(np.array([2, -100, 0]), weight=np.array([1.0, 2.0, 3.0]),
                             dtype=np.float32)
    np.testing.assert_array_equal(weights, [3.0, 0.0, 1.0])
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(target_weights(np.array([1, 5]), ignore_index=5), [1.0, 0.0])


LOG_PROBS = np.log(np.full((4, 3), 1 / 3))

# Each is an input torch's nll_loss refuses: celoss raises too, naming it.
NLL_BAD_INPUTS = {
    "batch-mismatch": ((LOG_PROBS, np.array([0])), {}, ValueError, "targets shape"),
    "weight-wrong-length": ((LOG_PROBS, np.array([0, 1, 2, 0])), {"weight": np.ones(5)},
                            ValueError, "weight must have shape"),
    "spatial-mismatch": ((np.zeros((2, 3, 4)), np.zeros((2, 1), dtype=int)), {},
                         ValueError, "targets shape"),
    "integer-log-probs": ((np.zeros((2, 3), dtype=int), np.array([0, 1])), {},
                          TypeError, "log_probs must be a floating-point array"),
    "out-of-range": ((LOG_PROBS, np.array([0, 1, 3, 0])), {}, IndexError, "class index 3"),
    "probabilities": ((LOG_PROBS, np.full((4, 3), 1 / 3)), {}, ValueError, "class indices"),
    "bool-ignore-index": ((LOG_PROBS, np.array([0, 1, 2, 0])), {"ignore_index": True},
                          TypeError, "ignore_index"),
}


@pytest.mark.parametrize("args, kwargs, error, message", NLL_BAD_INPUTS.values(),
                         ids=NLL_BAD_INPUTS.keys())
def test_nll_loss_refuses_what_torch_refuses_naming_the_problem(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        nll_loss(*args, **kwargs)
    torch_args = [torch.tensor(a) for a in args]
    torch_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                    for k, v in kwargs.items()}
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError, NotImplementedError)):
        F.nll_loss(*torch_args, reduction="none", **torch_kwargs)


@pytest.mark.parametrize("targets", [np.array(1), np.array([1])], ids=["()", "(1,)"])
def test_nll_loss_of_one_example_accepts_what_torch_accepts(targets):
    log_probs = log_softmax(np.array([0.5, 2.0, -1.0]))
    ours = nll_loss(log_probs, targets)
    theirs = F.nll_loss(torch.tensor(log_probs), torch.tensor(targets), reduction="none")
    np.testing.assert_allclose(ours, theirs.numpy().reshape(ours.shape), rtol=1e-14)


def test_nll_loss_of_float16_log_probs_is_float16_as_in_torch():
    log_probs = log_softmax(np.random.default_rng(3).normal(size=(5, 4))).astype(np.float16)
    targets = np.array([0, 3, 1, 2, 0])
    ours = nll_loss(log_probs, targets)
    theirs = F.nll_loss(torch.tensor(log_probs), torch.tensor(targets), reduction="none")
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_nll_loss_overflowing_float16_is_inf_silently_as_in_torch(seed):
    # A weighted loss beyond 65504 is inf in float16, without a warning (the
    # suite turns warnings into errors).
    rng = np.random.default_rng(seed)
    log_probs = -rng.uniform(0, 40_000, size=(6, 3)).astype(np.float16)  # (N, C)
    targets = rng.integers(0, 3, size=6)  # (N,)
    weight = np.array([3.0, 1.0, 2.0], np.float16)  # (C,)
    ours = nll_loss(log_probs, targets, weight=weight)
    theirs = F.nll_loss(torch.tensor(log_probs), torch.tensor(targets),
                        weight=torch.tensor(weight), reduction="none").numpy()
    assert np.isinf(theirs).any()  # the overflow the test is about
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)

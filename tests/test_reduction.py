"""reduce_loss: the three reductions and the mean's denominator."""

import math

import numpy as np
import pytest

from celoss import reduce_loss


def test_none_returns_the_losses():
    losses = np.array([0.5, 1.5, 2.0])
    np.testing.assert_array_equal(reduce_loss(losses, "none"), losses)


def test_sum_and_default_mean():
    losses = np.array([0.5, 1.5, 2.0])
    assert reduce_loss(losses, "sum") == 4.0
    assert reduce_loss(losses) == pytest.approx(4.0 / 3)


def test_mean_divides_by_total_weight():
    losses = np.array([0.5, 1.5, 2.0])
    assert reduce_loss(losses, "mean", total_weight=8.0) == 0.5


def test_mean_over_zero_total_weight_is_nan_without_a_warning():
    assert math.isnan(reduce_loss(np.zeros(3), "mean", total_weight=0.0))
    assert math.isnan(reduce_loss(np.zeros(0), "mean"))


def test_dtype_and_shape_are_kept():
    loss = reduce_loss(np.ones(4, dtype=np.float32), "mean", total_weight=np.float64(3))
    assert loss.dtype == np.float32 and loss.shape == ()


def test_unknown_reduction_raises():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        reduce_loss(np.ones(2), "avg")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_float16_losses_are_summed_in_float32_as_in_torch(seed, reduction):
    # torch accumulates float16 in float32 and rounds once: the mean of losses
    # near 40000 is near 40000, not the inf of a float16 running sum, and a sum
    # beyond 65504 is inf without a warning.
    import torch

    losses = np.random.default_rng(seed).uniform(3e4, 5e4, size=7).astype(np.float16)
    theirs = getattr(torch.tensor(losses), reduction)().numpy()
    ours = reduce_loss(losses, reduction)
    assert ours.dtype == np.float16
    np.testing.assert_array_equal(ours, theirs)


def test_integer_losses_sum_to_int64_and_refuse_a_mean_as_in_torch():
    import torch

    losses = np.random.default_rng(4).integers(0, 5, size=6).astype(np.int8)
    theirs = torch.tensor(losses).sum().numpy()
    ours = reduce_loss(losses, "sum")
    assert ours.dtype == theirs.dtype and ours == theirs
    with pytest.raises(RuntimeError):
        torch.tensor(losses).mean()
    with pytest.raises(TypeError, match="floating point for a mean"):
        reduce_loss(losses, "mean")  # not a truncated integer mean

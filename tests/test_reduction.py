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

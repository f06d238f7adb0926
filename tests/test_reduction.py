"""reduce_loss: the three reductions and the mean's denominator."""

import math

import numpy as np
import pytest
import torch

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


def torch_reduce(losses, reduction):
    return getattr(torch.from_numpy(np.array(losses)), reduction)().numpy()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_big_endian_float16_is_summed_in_float32_and_returned_native_as_in_torch(seed,
                                                                                 reduction):
    # NumPy does not count '>f2' equal to float16: it was summed in float16
    # (40000s overflowed to inf) and returned as '>f2'. torch is given the
    # native copy (it has no big-endian tensors).
    losses = np.random.default_rng(seed).uniform(30000, 50000, size=8).astype(np.float16)
    ours = reduce_loss(losses.astype(">f2"), reduction)
    theirs = torch_reduce(losses, reduction)
    assert ours.dtype == theirs.dtype == np.float16
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=["float16", "float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_infinities_and_overflow_give_torchs_nan_and_inf_without_a_warning(seed, dtype,
                                                                           reduction):
    # inf + -inf (NaN) and a sum beyond the dtype's range (inf) warned, an
    # error under this suite's filterwarnings. Each case has one outcome in
    # any summation order: opposite infinities, or only huge positive terms.
    rng = np.random.default_rng(seed)
    huge = np.finfo(dtype).max / 2  # any two of them overflow the dtype
    opposite = rng.normal(size=6).astype(dtype)
    opposite[rng.choice(6, size=2, replace=False)] = [np.inf, -np.inf]
    overflowing = (rng.uniform(1, 1.9, size=6) * huge).astype(dtype)
    for losses in (opposite, overflowing):
        ours = reduce_loss(losses, reduction)
        theirs = torch_reduce(losses, reduction)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)  # NaN where torch has NaN, inf for inf


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_complex_losses_are_summed_as_torch_sums_them(seed, reduction):
    # torch's sum and mean take complex tensors; the sum cast them to int64
    # (a ComplexWarning) and dropped the imaginary part.
    rng = np.random.default_rng(seed)
    losses = rng.normal(size=5) + 1j * rng.normal(size=5)
    ours = reduce_loss(losses, reduction)
    theirs = torch_reduce(losses, reduction)
    assert ours.dtype == theirs.dtype == np.complex128
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)


def test_the_sum_of_integers_is_a_0d_ndarray_as_every_other_reduction():
    losses = np.random.default_rng(3).integers(0, 10, size=7)
    ours = reduce_loss(losses, "sum")
    assert isinstance(ours, np.ndarray) and ours.shape == ()
    assert ours == torch_reduce(losses, "sum")


@pytest.mark.parametrize("bad", [np.array([1.0, None]), np.array(["1.0"]),
                                 np.array([1], dtype="timedelta64[s]")],
                         ids=["object", "string", "timedelta"])
def test_losses_that_are_not_numbers_raise_type_error_naming_them(bad):
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(TypeError, match="losses must be numbers"):
            reduce_loss(bad, reduction)

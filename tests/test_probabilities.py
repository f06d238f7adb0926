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


INTEGER_DTYPES = [np.int64, np.int32, np.int8, np.uint8, np.bool_]
INTEGER_IDS = ["int64", "int32", "int8", "uint8", "bool"]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=INTEGER_IDS)
@pytest.mark.parametrize("function, torch_function",
                         [(softmax, torch.softmax), (log_softmax, torch.log_softmax)],
                         ids=["softmax", "log_softmax"])
def test_softmax_of_integer_logits_raises_type_error_as_torch_raises(function, torch_function,
                                                                     dtype):
    logits = np.random.default_rng(0).integers(0, 2, size=(3, 4)).astype(dtype)
    with pytest.raises((NotImplementedError, RuntimeError)):  # torch: no integer kernel
        torch_function(torch.tensor(logits), 1)
    with pytest.raises(TypeError, match=rf"floating-point array, got dtype {logits.dtype}"):
        function(logits, axis=1)


@pytest.mark.parametrize("axis", [None, 1.0, True, "1"], ids=["None", "float", "bool", "str"])
@pytest.mark.parametrize("function, torch_function",
                         [(softmax, torch.softmax), (log_softmax, torch.log_softmax),
                          (logsumexp, torch.logsumexp)],
                         ids=["softmax", "log_softmax", "logsumexp"])
def test_an_axis_that_is_not_an_integer_raises_type_error_as_torch_raises(
        function, torch_function, axis):
    logits = random_logits(1, (2, 3))
    with pytest.raises(TypeError):
        torch_function(torch.tensor(logits), axis)
    with pytest.raises(TypeError, match=rf"axis must be an integer, got {axis!r}"):
        function(logits, axis=axis)


def test_numpy_integer_axes_and_logsumexp_axis_tuples_are_accepted_as_by_torch():
    logits = random_logits(2, (2, 3, 4))
    x = torch.tensor(logits)
    np.testing.assert_allclose(softmax(logits, axis=np.int64(1)), torch.softmax(x, 1).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(logsumexp(logits, axis=(0, 2)),
                               torch.logsumexp(x, (0, 2)).numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="axis must be an integer, got None"):
        logsumexp(logits, axis=(0, None))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(5,), (3, 4), (2, 3, 4)]),
       st.sampled_from(INTEGER_DTYPES))
def test_logsumexp_of_integer_logits_is_float32_as_in_torch(seed, shape, dtype):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        logits = rng.random(size=shape) < 0.5
    else:
        info = np.iinfo(dtype)
        logits = rng.integers(max(info.min, -200), min(info.max, 200), size=shape,
                              endpoint=True).astype(dtype)
    for axis in range(len(shape)):
        ours = logsumexp(logits, axis=axis)
        theirs = torch.logsumexp(torch.tensor(logits), axis).numpy()
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=3).filter(lambda s: 0 in s),
       st.sampled_from([np.float16, np.float32, np.float64]), st.data())
def test_an_empty_axis_gives_what_torch_gives(shape, dtype, data):
    """C = 0 gives empty probabilities and a log-sum-exp of -inf, as in torch."""
    logits = np.zeros(shape, dtype=dtype)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = torch.tensor(logits)
    for ours, theirs in [(softmax(logits, axis=axis), torch.softmax(x, axis)),
                         (log_softmax(logits, axis=axis), torch.log_softmax(x, axis)),
                         (logsumexp(logits, axis=axis), torch.logsumexp(x, axis))]:
        theirs = theirs.numpy()
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    if shape[axis] == 0:
        assert np.all(logsumexp(logits, axis=axis) == -np.inf)


@pytest.mark.parametrize("seed", range(5))
def test_float16_is_computed_in_float32_and_rounded_once_as_in_torch(seed):
    # Along a non-last axis torch's CPU kernel computes float16 in float32 and
    # rounds once: its log-softmax is then ours bit for bit; its softmax stays
    # within a float16 rounding (the kernel divides differently).
    logits = random_logits(seed, (3, 6, 4), dtype=np.float16)
    x = torch.tensor(logits)
    assert log_softmax(logits, axis=1).dtype == np.float16
    np.testing.assert_array_equal(log_softmax(logits, axis=1),
                                  torch.log_softmax(x, 1).numpy())
    np.testing.assert_allclose(softmax(logits, axis=1), torch.softmax(x, 1).numpy(),
                               rtol=2**-10, atol=2**-24)
    np.testing.assert_allclose(logsumexp(logits, axis=1), torch.logsumexp(x, 1).numpy(),
                               rtol=2**-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_logits_whose_difference_overflows_match_torch_without_a_warning(dtype):
    # max - min overflows to -inf (a RuntimeWarning, an error under this suite's
    # filterwarnings); torch returns probability 0 and log-probability -inf.
    big = np.finfo(dtype).max
    logits = np.array([[big, -big, 0.0], [1.0, -big, big]], dtype=dtype)
    x = torch.tensor(logits)
    np.testing.assert_array_equal(softmax(logits), torch.softmax(x, -1).numpy())
    np.testing.assert_array_equal(log_softmax(logits), torch.log_softmax(x, -1).numpy())
    np.testing.assert_array_equal(logsumexp(logits), torch.logsumexp(x, -1).numpy())


def test_logsumexp_takes_a_list_of_axes_and_refuses_none_as_torch():
    logits = random_logits(7, (2, 3, 4))
    x = torch.tensor(logits)
    np.testing.assert_allclose(logsumexp(logits, axis=[0, 2]),
                               torch.logsumexp(x, [0, 2]).numpy(), rtol=1e-12)
    np.testing.assert_allclose(logsumexp(logits[0, 0, 0]), torch.logsumexp(x[0, 0, 0], -1),
                               rtol=1e-12)  # a 0-d array has axis -1 in both
    with pytest.raises(RuntimeError):
        torch.logsumexp(x, ())
    with pytest.raises(ValueError, match="at least one axis"):
        logsumexp(logits, axis=())


FLOAT_DTYPES = [np.float16, np.float32, np.float64]
FLOAT_IDS = ["float16", "float32", "float64"]
STEPS = [(softmax, torch.softmax), (log_softmax, torch.log_softmax),
         (logsumexp, torch.logsumexp)]
STEP_IDS = ["softmax", "log_softmax", "logsumexp"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=FLOAT_IDS)
@pytest.mark.parametrize("function, torch_function", STEPS, ids=STEP_IDS)
def test_big_endian_logits_give_torchs_native_result(function, torch_function, dtype, seed):
    # torch has no big-endian tensors, so it is given the native copy; a '>f2'
    # array is not == np.float16 to NumPy, and was summed in float16 (a mean
    # of 40000s overflowed) and returned as '>f2'.
    # Along the first axis torch's float16 kernel rounds once, as celoss does.
    logits = random_logits(seed, (5, 4), scale=5.0, dtype=dtype)
    big_endian = logits.astype(logits.dtype.newbyteorder(">"))
    ours = function(big_endian, axis=0)
    theirs = torch_function(torch.tensor(logits), 0).numpy()
    assert ours.dtype == theirs.dtype  # native, as torch's
    np.testing.assert_array_equal(ours, function(logits, axis=0))
    np.testing.assert_allclose(ours, theirs, rtol=2**-10 if dtype == np.float16 else 1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("function, torch_function", STEPS, ids=STEP_IDS)
def test_a_0d_input_gives_a_0d_ndarray_as_torch_gives_a_0d_tensor(function, torch_function,
                                                                  axis):
    logit = np.random.default_rng(11).normal() * 10  # a Python-level float; as torch.tensor
    ours = function(np.array(logit), axis=axis)
    theirs = torch_function(torch.tensor(logit, dtype=torch.float64), axis)
    assert isinstance(ours, np.ndarray) and ours.shape == () == tuple(theirs.shape)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_float16_log_softmax_below_its_range_is_minus_inf_without_a_warning(seed):
    # Rows spread over more than 65504: the float32 log-probability is beyond
    # float16's range, torch rounds it to -inf; the cast warned here (an
    # error under this suite's filterwarnings).
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-60000, 60000, size=(6, 5)).astype(np.float16)
    ours = log_softmax(logits)
    theirs = torch.log_softmax(torch.tensor(logits), -1).numpy()
    assert np.isneginf(theirs).any()  # the case is exercised
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0], dtype=object), np.array(["1", "2"])],
                         ids=["object", "string"])
def test_logsumexp_of_non_numbers_raises_type_error_naming_the_logits(bad):
    with pytest.raises(TypeError, match="logits must be a floating-point array"):
        logsumexp(bad)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(300, 2), (40, 17), (6, 1000), (5, 3, 7)], ids=str)
def test_float16_log_softmax_and_logsumexp_take_torchs_steps_on_every_axis(shape, seed):
    # torch's last-axis log-softmax kernel rounds the normaliser and its log to
    # float16 (a row [-0.8833, -8.51] gives the log-probability 0, not -0.000488);
    # torch.logsumexp rounds every step. Both were rounded once here, 1 to 478
    # float16 units away from torch in 5 to 50% of the rows.
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=shape) * 5).astype(np.float16)
    logits.flat[::11] = rng.choice([np.inf, -np.inf, 60000.0, -60000.0], logits.flat[::11].shape)
    x = torch.from_numpy(logits)
    for axis in range(-len(shape), len(shape)):
        np.testing.assert_array_equal(log_softmax(logits, axis=axis),
                                      torch.log_softmax(x, axis).numpy())
        np.testing.assert_array_equal(logsumexp(logits, axis=axis),
                                      torch.logsumexp(x, axis).numpy())
    np.testing.assert_array_equal(logsumexp(logits, axis=(0, -1)),
                                  torch.logsumexp(x, (0, -1)).numpy())

"""Entropy and KL divergence: torch, the formula, and H(p, q) = H(p) + KL(p || q).

kl_div is compared with torch.nn.functional.kl_div on seeded random cases:
shapes of 0 to 3 axes (some empty) broadcast against each other, every
float16/32/64 pair, every reduction, log_target, and NaN, inf, -inf and zero
values in either argument; then on the edge cases one by one.
"""

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


# ---- kl_div against torch, case by case and on seeded random cases ----------------------

REDUCTIONS = ["mean", "batchmean", "sum", "none"]
FLOATS = [np.float16, np.float32, np.float64]
# Largest difference from torch accepted, relative and absolute, by the least precise
# dtype involved: float32 log and exp differ from torch's by an ulp or two, sums by order.
TOLERANCE = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf]


def torch_kl_div(log_q, target, **options):
    """torch's F.kl_div on copies of the arrays, as an ndarray; its exception if it raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch warns about "mean"
            return F.kl_div(torch.from_numpy(np.array(log_q)), torch.from_numpy(np.array(target)),
                            **options).numpy()
    except (RuntimeError, ValueError) as error:
        return error


def assert_matches_torch(log_q, target, **options):
    """celoss.kl_div is an ndarray of torch's shape and dtype, with torch's values, NaN and inf."""
    theirs = torch_kl_div(log_q, target, **options)
    assert isinstance(theirs, np.ndarray), f"torch raised {theirs!r}"
    ours = kl_div(log_q, target, **options)
    assert type(ours) is np.ndarray
    assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
    tol = max(TOLERANCE[np.dtype(d)] for d in (np.asarray(log_q).dtype,
                                               np.asarray(target).dtype, theirs.dtype))
    # assert_allclose also requires NaN and +-inf in the same places.
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64),
                               rtol=tol, atol=tol)
    return ours


def broadcast_partner(rng, shape):
    """A shape broadcasting with ``shape``: axes set to 1, leading ones dropped or one added."""
    partner = [1 if rng.random() < 0.3 else size for size in shape]
    if rng.random() < 0.5:
        partner = partner[rng.integers(0, len(partner) + 1):]
    elif rng.random() < 0.5:
        partner = [int(rng.integers(1, 4)), *partner]
    return tuple(partner)


def random_case(seed):
    """A seeded random kl_div call: (log_q, target, options), shapes broadcasting."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(size) for size in rng.integers(0, 4, size=rng.integers(0, 4)))
    shapes = [shape, broadcast_partner(rng, shape)]
    rng.shuffle(shapes)
    dtypes = rng.choice(len(FLOATS), size=2)
    log_target = bool(rng.integers(2))
    log_q = -rng.exponential(2.0, size=shapes[0])
    target = -rng.exponential(2.0, size=shapes[1]) if log_target else rng.uniform(
        0, 1, size=shapes[1]) * (rng.random(shapes[1]) < 0.7)  # some zero targets
    if rng.random() < 0.3:  # NaN, inf, -inf and signed zeros in either argument
        log_q = np.where(rng.random(shapes[0]) < 0.3, rng.choice(SPECIAL, shapes[0]), log_q)
        target = np.where(rng.random(shapes[1]) < 0.3, rng.choice(SPECIAL, shapes[1]), target)
    options = {"reduction": REDUCTIONS[rng.integers(4)], "log_target": log_target}
    return (np.asarray(log_q).astype(FLOATS[dtypes[0]]),
            np.asarray(target).astype(FLOATS[dtypes[1]]), options)


def case_id(seed):
    log_q, target, options = random_case(seed)
    log = "-log" if options["log_target"] else ""
    return (f"{seed}:{log_q.shape}{log_q.dtype}-{target.shape}{target.dtype}-"
            f"{options['reduction']}{log}").replace(" ", "")


@pytest.mark.parametrize("seed", range(400), ids=case_id)
def test_kl_div_matches_torch_on_random_broadcast_cases(seed):
    assert_matches_torch(*random_case(seed)[:2], **random_case(seed)[2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True], ids=["probs", "log-probs"])
@pytest.mark.parametrize("log_q_shape, target_shape", [
    ((2, 2), (2,)), ((2,), (3, 2)), ((1, 3), (4, 3)), ((4, 3), (1, 3)), ((), (3,)), ((3,), ()),
    ((2, 1, 3), (4, 1)), ((1,), (2, 3)), ((0,), (1,)), ((1,), (0,)), ((0, 3), (3,)),
], ids=str)
def test_kl_div_broadcasts_like_torch(log_q_shape, target_shape, reduction, log_target):
    rng = np.random.default_rng(5)
    log_q = -rng.exponential(size=log_q_shape)
    target = rng.uniform(size=target_shape)
    assert_matches_torch(log_q, np.log(target) if log_target else target,
                         reduction=reduction, log_target=log_target)


@pytest.mark.parametrize("log_q_shape, target_shape, divisor", [
    ((4, 3), (1, 3), 4), ((1, 3), (4, 3), 1), ((2,), (5, 2), 2), ((), (3,), 1), ((0, 3), (3,), 0),
], ids=str)
def test_batchmean_divides_by_log_probs_first_axis_not_the_broadcast_shape(
        log_q_shape, target_shape, divisor):
    rng = np.random.default_rng(6)
    log_q, target = -rng.exponential(size=log_q_shape), rng.uniform(size=target_shape)
    total = float(kl_div(log_q, target, reduction="sum"))
    with np.errstate(invalid="ignore"):  # 0 / 0 when N = 0
        expected = np.float64(total) / divisor if log_q_shape else total
    batchmean = assert_matches_torch(log_q, target, reduction="batchmean")
    np.testing.assert_allclose(batchmean, expected, rtol=1e-15)


@pytest.mark.parametrize("log_q_shape, target_shape", [
    ((2, 3), (2, 2)), ((3,), (4,)), ((2, 3, 4), (3, 3, 4)), ((0,), (2,)),
], ids=str)
def test_shapes_that_do_not_broadcast_raise_value_error_naming_both(log_q_shape, target_shape):
    log_q, target = np.zeros(log_q_shape), np.full(target_shape, 0.5)
    assert isinstance(torch_kl_div(log_q, target), RuntimeError)  # torch refuses them too
    with pytest.raises(ValueError) as raised:
        kl_div(log_q, target)
    assert f"log_probs shape {log_q_shape}" in str(raised.value)
    assert f"target_probs shape {target_shape}" in str(raised.value)


@pytest.mark.parametrize("bad_dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128],
                         ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("argument", ["log_probs", "target_probs"])
def test_non_floating_input_raises_type_error_naming_it(argument, bad_dtype):
    arrays = {"log_probs": np.zeros(3), "target_probs": np.full(3, 0.5)}
    arrays[argument] = np.ones(3, dtype=bad_dtype)
    theirs = torch_kl_div(arrays["log_probs"], arrays["target_probs"])
    assert isinstance(theirs, RuntimeError)
    assert "Integral inputs" in str(theirs) or "Complex inputs" in str(theirs)
    with pytest.raises(TypeError, match=f"^{argument} must be a floating-point array, "
                                        f"got dtype {np.dtype(bad_dtype).name}"):
        kl_div(arrays["log_probs"], arrays["target_probs"])


def test_unknown_reduction_raises_value_error_as_in_torch():
    assert isinstance(torch_kl_div(np.zeros(2), np.zeros(2), reduction="avg"), ValueError)
    with pytest.raises(ValueError, match="'batchmean'.*got 'avg'"):
        kl_div(np.zeros((2, 3)), np.zeros((2, 3)), reduction="avg")


@pytest.mark.parametrize("log_q_dtype", FLOATS, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("target_dtype", FLOATS, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("log_q_shape, target_shape", [((3,), (3,)), ((), (3,)), ((3,), ()),
                                                       ((), ())], ids=str)
def test_result_dtype_is_torchs_promotion(log_q_shape, target_shape, log_q_dtype, target_dtype):
    """float32 with float64 is float64; a 0-d array yields to one with dimensions (NumPy's
    promotion would make it float64 there too)."""
    log_q = np.full(log_q_shape, -1.0, log_q_dtype)
    target = np.full(target_shape, 0.25, target_dtype)
    for reduction in REDUCTIONS:
        ours = assert_matches_torch(log_q, target, reduction=reduction)
        if log_q.ndim == target.ndim:
            assert ours.dtype == np.result_type(log_q_dtype, target_dtype)
        else:
            assert ours.dtype == (log_q if log_q.ndim else target).dtype


@pytest.mark.parametrize("shape, expected", [
    ((0, 3), {"mean": np.nan, "batchmean": np.nan, "sum": 0.0}),
    ((3, 0), {"mean": np.nan, "batchmean": 0.0, "sum": 0.0}),  # 0 / N with N = 3
    ((0,), {"mean": np.nan, "batchmean": np.nan, "sum": 0.0}),
], ids=str)
@pytest.mark.parametrize("log_target", [False, True], ids=["probs", "log-probs"])
def test_empty_input_gives_torchs_nan_or_zero(shape, expected, log_target):
    # Expected values: torch 2.13's F.kl_div on these empty float32 tensors.
    log_q, target = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for reduction, value in expected.items():
        ours = assert_matches_torch(log_q, target, reduction=reduction, log_target=log_target)
        np.testing.assert_array_equal(ours, np.float32(value))
    assert assert_matches_torch(log_q, target, reduction="none").shape == shape


@pytest.mark.parametrize("log_target", [False, True], ids=["probs", "log-probs"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda dtype: np.dtype(dtype).name)
def test_nan_inf_and_zeros_in_either_argument_give_torchs_terms(dtype, log_target):
    log_q, target = np.meshgrid(np.array(SPECIAL, dtype), np.array(SPECIAL, dtype))  # (8, 8)
    for reduction in REDUCTIONS:
        assert_matches_torch(log_q, target, reduction=reduction, log_target=log_target)


def test_zero_probabilities_follow_torch_zero_times_minus_inf_is_nan():
    # p log p is 0 at p = 0; but 0 * log q is NaN at log q = -inf, and with log_target
    # exp(-inf) * (-inf - log q) is NaN even for finite log q: torch gives NaN for both.
    terms = kl_div(np.array([-1.0, -np.inf]), np.array([0.0, 0.0]), reduction="none")
    assert terms[0] == 0.0 and np.isnan(terms[1])
    terms = kl_div(np.array([-1.0, -np.inf]), np.array([-np.inf, -np.inf]), reduction="none",
                   log_target=True)
    assert np.isnan(terms).all()
    assert_matches_torch(np.array([-1.0, -np.inf]), np.array([-np.inf, -np.inf]),
                         reduction="none", log_target=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_dimensional_inputs_give_a_zero_dimensional_ndarray(reduction):
    ours = assert_matches_torch(np.float64(-1.0), np.float64(0.5), reduction=reduction)
    assert ours.shape == () and ours == pytest.approx(0.5 * (math.log(0.5) + 1.0), rel=1e-15)


def test_kl_div_formula_transcribed_literally():
    log_q, p = random_distributions(7, (4, 3), zeros=True)
    expected = sum(p[n, c] * (math.log(p[n, c]) - log_q[n, c])
                   for n in range(4) for c in range(3) if p[n, c] > 0) / 4
    assert float(kl_div(log_q, p, reduction="batchmean")) == pytest.approx(expected, rel=1e-14)


# ---- entropy against torch --------------------------------------------------------------

@pytest.mark.parametrize("seed", range(60))
def test_entropy_is_torchs_entr_summed(seed):
    """H(p) = torch.special.entr(p).sum(axis): float16 bit for bit (summed in float32)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(size) for size in rng.integers(0, 5, size=rng.integers(1, 4)))
    axis = int(rng.integers(-len(shape), len(shape)))
    dtype = FLOATS[seed % 3]
    probs = rng.uniform(size=shape) * (rng.random(shape) < 0.8)  # some zeros
    with np.errstate(invalid="ignore"):  # 0 / 0 for an all-zero row, kept out below
        probs = np.nan_to_num(probs / probs.sum(axis=axis, keepdims=True)).astype(dtype)
    ours = entropy(probs, axis=axis)
    theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=axis).numpy()
    assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
    if dtype == np.float16:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[np.dtype(dtype)], atol=0)


@pytest.mark.parametrize("probs", [
    [[0, 1, 2], [1, 0, 0]],  # integers: float32, as torch
    [[True, False], [False, False]],  # bool: float32
    [[-0.5, 0.0, 0.5], [0.2, 0.3, 0.5]],  # a negative entry: -inf, as entr
    [[np.nan, 0.5, 0.5], [np.inf, 0.0, 1.0]],  # NaN stays NaN; inf log inf is inf
    [0.25, 0.25, 0.5],  # 1-D: a 0-d ndarray
], ids=["int", "bool", "negative", "nan-inf", "1-d"])
def test_entropy_of_odd_inputs_is_torchs_entr_summed(probs):
    probs = np.array(probs)
    ours = entropy(probs)
    theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=-1).numpy()
    assert isinstance(ours, np.ndarray)
    assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)  # equal_nan, inf == inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_entropy_matches_torch_categorical_entropy(dtype):
    _, p = random_distributions(8, (6, 5), zeros=True)
    p = p.astype(dtype)
    theirs = torch.distributions.Categorical(probs=torch.from_numpy(p)).entropy().numpy()
    ours = entropy(p)
    assert ours.dtype == theirs.dtype
    # Categorical renormalises p: its one-hot row is 1.2e-7, not 0, in float32.
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape, axis", [((12, 12), 0), ((3, 12, 4), 1)], ids=str)
def test_half_precision_entropy_is_summed_in_float32_as_in_torch(shape, axis):
    # NumPy alone adds float16 across a strided axis in float16, a few ulps off torch.
    rng = np.random.default_rng(9)
    probs = softmax(rng.normal(size=shape) * 2, axis=axis).astype(np.float16)
    theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=axis).numpy()
    np.testing.assert_array_equal(entropy(probs, axis=axis), theirs)


@pytest.mark.parametrize("seed", range(6))
def test_entropy_of_probabilities_whose_p_log_p_overflows_is_torchs_minus_inf(seed):
    # p log p beyond the dtype's range warned (an error under this suite's
    # filterwarnings); torch's entr gives -inf there and its sum -inf.
    rng = np.random.default_rng(seed)
    dtype = FLOATS[seed % 3]
    probs = rng.uniform(size=(3, 4))
    probs[rng.integers(3), rng.integers(4)] = np.finfo(dtype).max / rng.uniform(1, 4)
    probs = probs.astype(dtype)
    ours = entropy(probs)
    theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=-1).numpy()
    assert np.isneginf(theirs).any()  # the case is exercised
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[np.dtype(dtype)], atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_entropy_sums_a_list_or_tuple_of_axes_or_every_axis_as_torch(seed):
    # torch's sum takes a list of dims; NumPy's refused it with a TypeError.
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=(2, 3))  # (2, 3, 4)
    for axis in ([0, 2], (1, -1), [-3], None):
        ours = entropy(probs, axis=axis)
        theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=axis).numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)


def test_entropy_refuses_an_empty_axis_whose_meaning_torch_and_numpy_dispute():
    # torch's sum reads () as every axis, NumPy's as none, torch's logsumexp
    # refuses it: celoss refuses it too rather than pick one silently.
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=2)
    assert torch.special.entr(torch.from_numpy(probs)).sum(dim=()).shape == ()
    with pytest.raises(ValueError, match="axis must name at least one axis"):
        entropy(probs, axis=())


@pytest.mark.parametrize("bad", [np.array([0.5 + 0j, 0.5]), np.array([0.5, None])],
                         ids=["complex", "object"])
def test_entropy_of_non_real_input_raises_type_error_naming_it(bad):
    # It was cast to float32 with a ComplexWarning, the imaginary part dropped.
    if bad.dtype.kind == "c":
        with pytest.raises(NotImplementedError):  # torch refuses complex too
            torch.special.entr(torch.from_numpy(bad))
    with pytest.raises(TypeError, match="probs must be a floating-point array"):
        entropy(bad)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("swapped_names", [("log_probs",), ("target_probs",),
                                           ("log_probs", "target_probs")], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_big_endian_inputs_give_torchs_native_result(reduction, swapped_names, seed):
    # '>f2' is not == np.float16 to NumPy, so a float16 check can miss it (it
    # did in reduce_loss and softmax); here NumPy's promotion already made the
    # terms native. torch, which has no big-endian tensors, takes the native copy.
    rng = np.random.default_rng(seed)
    arrays = {"log_probs": -rng.uniform(0.5, 1.0, size=(2, 3)).astype(np.float16),
              "target_probs": rng.uniform(20000, 40000, size=(2, 3)).astype(np.float16)}
    swapped = {name: value.astype(">f2") if name in swapped_names else value
               for name, value in arrays.items()}
    ours = kl_div(swapped["log_probs"], swapped["target_probs"], reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's note on reduction="mean"
        theirs = F.kl_div(torch.from_numpy(arrays["log_probs"]),
                          torch.from_numpy(arrays["target_probs"]), reduction=reduction)
    assert ours.dtype == theirs.numpy().dtype == np.float16
    np.testing.assert_array_equal(ours, theirs.numpy())
    probs = rng.dirichlet(np.ones(3), size=4).astype(np.float16)
    ours = entropy(probs.astype(">f2"))
    theirs = torch.special.entr(torch.from_numpy(probs)).sum(dim=-1).numpy()
    assert ours.dtype == theirs.dtype == np.float16
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("log_target", [1, 0, "yes", None], ids=["1", "0", "str", "None"])
def test_a_log_target_that_is_not_a_bool_raises_type_error_as_torch(log_target):
    log_q, p = random_distributions(3, (2, 3))
    with pytest.raises(TypeError, match="log_target"):  # torch: "must be bool, not int"
        F.kl_div(torch.from_numpy(log_q), torch.from_numpy(p), reduction="sum",
                 log_target=log_target)
    with pytest.raises(TypeError, match="log_target must be a bool"):
        kl_div(log_q, p, reduction="sum", log_target=log_target)


def test_a_numpy_bool_log_target_is_read_as_the_bool():
    log_q, p = random_distributions(4, (2, 3))
    for log_target in (np.True_, np.False_):
        np.testing.assert_array_equal(
            kl_div(log_q, p, reduction="sum", log_target=log_target),
            kl_div(log_q, p, reduction="sum", log_target=bool(log_target)))


@pytest.mark.parametrize("num_rows", [65_503, 70_000])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum"])
def test_float16_kl_div_over_more_rows_than_float16_can_count_is_torchs(num_rows, reduction):
    # torch divides 'batchmean' by N as a Python int: 70000 float16 rows are
    # divided by 70000, not by float16's inf (which gave 0, or NaN).
    log_q, p = random_distributions(num_rows, (num_rows, 3), zeros=False)
    log_q, p = log_q.astype(np.float16), p.astype(np.float16)
    ours = kl_div(log_q, p, reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about "mean"
        theirs = F.kl_div(torch.tensor(log_q), torch.tensor(p), reduction=reduction).numpy()
    assert ours.dtype == theirs.dtype == np.float16
    assert np.isfinite(theirs) == np.isfinite(ours)
    np.testing.assert_allclose(ours, theirs, rtol=5e-3)
    if reduction == "batchmean":
        assert theirs > 0  # the value the overflowing divisor lost

"""Binary cross-entropy with logits against torch, the formulas and finite differences.

Expected values come from torch 2.13 (CPU) run on the same arrays in the same
dtypes, unless a test says otherwise.
"""

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
from celoss.binary import _torch_cast
from celoss.parity import TOLERANCES, compare_arrays

FLOATS = [np.float16, np.float32, np.float64]
EXTREMES = [1e4, -1e4, np.inf, -np.inf, np.nan]


def torch_loss_and_grad(logits, targets, options, dtype=None):
    """torch's loss and gradient; every input cast to ``dtype`` when given."""
    def tensor(value):
        return torch.tensor(np.asarray(value) if dtype is None else np.asarray(value, dtype))
    x = tensor(logits).requires_grad_()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        x, tensor(targets), reduction=options.get("reduction", "mean"),
        **{name: tensor(options[name]) for name in ("weight", "pos_weight") if name in options})
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


def celoss_loss_and_grad(logits, targets, options):
    return (binary_cross_entropy_with_logits(logits, targets, **options),
            binary_cross_entropy_with_logits_grad(logits, targets, **options))


def least_precise(*arrays):
    """Name of the least precise floating dtype among ``arrays`` (None and integers skipped)."""
    floating = [np.dtype(np.asarray(a).dtype) for a in arrays
                if a is not None and np.issubdtype(np.asarray(a).dtype, np.floating)]
    return max(floating, key=lambda dtype: np.finfo(dtype).eps).name


def assert_matches_torch(logits, targets, options):
    """Loss and gradient equal torch's in dtype and shape; values within the tolerance of
    the least precise input (float32 logits make a float64 loss only float32-accurate)."""
    loss, grad = celoss_loss_and_grad(logits, targets, options)
    torch_loss, torch_grad = torch_loss_and_grad(logits, targets, options)
    assert (loss.dtype, loss.shape) == (torch_loss.dtype, torch_loss.shape)
    assert (grad.dtype, grad.shape) == (torch_grad.dtype, torch_grad.shape)
    dtype = least_precise(logits, targets, options.get("weight"), options.get("pos_weight"))
    for step, ours, theirs in (("loss", loss, torch_loss), ("grad", grad, torch_grad)):
        check = compare_arrays(step, ours, theirs, dtype)
        assert check.passed, check


def broadcast_shape(draw, shape):
    """A shape that broadcasts to ``shape`` without changing it: a suffix, some axes 1."""
    suffix = shape[len(shape) - draw(st.integers(0, len(shape))):]
    return tuple(1 if draw(st.booleans()) else size for size in suffix)


@st.composite
def binary_problems(draw, dtypes=FLOATS, extreme=True):
    """Logits, targets, weight and pos_weight of every shape, dtype and range.

    Shapes: 0-d to 4-d, empty axes included; weights of any shape that
    broadcasts to the logits' (0-d, a suffix, axes of 1), floating or
    integer; each array of its own dtype. Values: logits at several scales,
    some replaced by +-1e4, +-inf or NaN; targets hard, soft or outside [0, 1].
    """
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = {name: draw(st.sampled_from(dtypes), label=name)
             for name in ("logits", "targets", "weight", "pos_weight")}
    logits = rng.normal(size=shape) * draw(st.sampled_from([0.1, 1.0, 10.0, 1e4]))
    if extreme and draw(st.booleans()):
        logits = np.where(rng.random(shape) < 0.3, rng.choice(EXTREMES, size=shape), logits)
    kind = draw(st.sampled_from(["hard", "soft", "outside"]))
    targets = {"hard": lambda: rng.integers(0, 2, size=shape) * 1.0,
               "soft": lambda: rng.random(size=shape),
               "outside": lambda: rng.uniform(-2.0, 3.0, size=shape)}[kind]()
    options = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    for name, high in (("weight", 2.0), ("pos_weight", 4.0)):
        if draw(st.booleans(), label=f"has {name}"):
            size = broadcast_shape(draw, shape)
            if draw(st.booleans(), label=f"integer {name}"):
                options[name] = np.asarray(rng.integers(0, 4, size=size))
            else:
                options[name] = np.asarray(rng.uniform(0.1, high, size=size), dtype[name])
    return np.asarray(logits, dtype["logits"]), np.asarray(targets, dtype["targets"]), options


@settings(max_examples=600, deadline=None)
@given(binary_problems())
def test_loss_and_gradient_match_torch_for_every_shape_dtype_and_option(problem):
    """The loss has the targets' dtype, the gradient the logits'; values within their tolerance.

    celoss takes torch's steps in torch's dtypes, so even float16 results are
    compared with torch's float16 results at float16's tolerance, where terms
    cancel too.
    """
    assert_matches_torch(*problem)


@settings(max_examples=100, deadline=None)
@given(binary_problems(dtypes=[np.float32, np.float64], extreme=False))
def test_parity_report_passes_for_random_problems(problem):
    logits, targets, options = problem
    # The report sends weights to torch in the logits' dtype and uses the logits'
    # tolerance: one dtype for every array.
    options = {name: value if name == "reduction" else value.astype(logits.dtype)
               for name, value in options.items()}
    targets = targets.astype(logits.dtype)
    assert celoss.compare_binary_with_torch(logits, targets, **options).passed


@settings(max_examples=50, deadline=None)
@given(binary_problems(dtypes=[np.float64], extreme=False))
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
    grad = binary_cross_entropy_with_logits_grad(logits, targets, **options)
    scale = max(1.0, float(np.abs(targets).max(initial=0.0)))  # targets up to 3 scale the loss
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7 * scale)


def formula_inputs():
    """Logits x, soft targets y, weights w and pos_weight p of a (4, 3) problem."""
    rng = np.random.default_rng(0)
    return (rng.normal(size=(4, 3)) * 2, rng.random(size=(4, 3)),
            rng.uniform(0.5, 2.0, size=3), rng.uniform(0.5, 3.0, size=3))


def test_binary_formula_transcribed_literally():
    x, y, w, p = formula_inputs()
    expected = np.empty_like(x)
    for n, c in np.ndindex(x.shape):
        s = 1 / (1 + math.exp(-x[n, c]))
        expected[n, c] = -w[c] * (p[c] * y[n, c] * math.log(s)
                                  + (1 - y[n, c]) * math.log(1 - s))
    ours = binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=p, reduction="none")
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_binary_gradient_formula_transcribed_literally():
    x, y, w, p = formula_inputs()
    expected = np.empty_like(x)
    for n, c in np.ndindex(x.shape):
        s = 1 / (1 + math.exp(-x[n, c]))
        expected[n, c] = w[c] * ((p[c] * y[n, c] + 1 - y[n, c]) * s - p[c] * y[n, c])
    ours = binary_cross_entropy_with_logits_grad(x, y, weight=w, pos_weight=p, reduction="sum")
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


def test_sigmoid_and_log_sigmoid_formulas_transcribed_literally():
    x = np.linspace(-30, 30, 61)
    expected_probs = [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
                      for v in x]
    expected_log_probs = [min(v, 0) - math.log1p(math.exp(-abs(v))) for v in x]
    np.testing.assert_allclose(sigmoid(x), expected_probs, rtol=1e-15)
    np.testing.assert_allclose(log_sigmoid(x), expected_log_probs, rtol=1e-15)


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


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda dtype: dtype.__name__)
def test_sigmoid_and_log_sigmoid_keep_the_dtype_and_non_finite_values_of_torch(dtype):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1e4, -1e4], dtype=dtype)
    tensor = torch.tensor(x)
    for ours, theirs in ((sigmoid(x), torch.sigmoid(tensor)),
                         (log_sigmoid(x), torch.nn.functional.logsigmoid(tensor))):
        assert ours.dtype == theirs.numpy().dtype == dtype
        np.testing.assert_array_equal(ours, theirs.numpy())  # NaN where torch's is NaN


def test_sigmoid_and_log_sigmoid_of_a_0d_array_are_0d_arrays():
    for function in (sigmoid, log_sigmoid):
        result = function(np.float32(1.5))
        assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float32


def test_sigmoid_is_within_one_unit_in_the_last_place_of_torch_on_every_float16():
    """Exhaustive: every finite float16. Both compute in float32 and round once.

    The float32 values differ in their last bits (torch's vectorised exp
    against NumPy's), which changes the rounding only next to a tie: 6 of the
    63,488 values, found by this comparison in torch 2.13.
    """
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)]
    ours, theirs = sigmoid(halves), torch.sigmoid(torch.tensor(halves)).numpy()
    apart = np.abs(ours.astype(np.float64) - theirs)
    assert np.all(apart <= np.spacing(theirs).astype(np.float64))
    assert np.count_nonzero(apart) <= 10
    np.testing.assert_array_equal(log_sigmoid(halves),
                                  torch.nn.functional.logsigmoid(torch.tensor(halves)).numpy())


def test_integer_logits_give_a_float32_sigmoid_and_no_log_sigmoid_as_in_torch():
    ints = np.array([-3, 0, 2])
    theirs = torch.sigmoid(torch.tensor(ints)).numpy()
    assert sigmoid(ints).dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(sigmoid(ints), theirs)
    with pytest.raises(NotImplementedError):
        torch.nn.functional.logsigmoid(torch.tensor(ints))
    with pytest.raises(TypeError, match="logits must be a floating-point array"):
        log_sigmoid(ints)


def test_half_precision_gradient_with_pos_weight_rounds_where_torch_rounds():
    """torch's backward computes (p y + 1 - y) sigma(x) - p y, rounding each step to float16.

    Here the two terms nearly cancel: torch's float16 result is -0.1953, the
    float64 value (by hand from the same float16 inputs) -0.19140. celoss
    takes the same steps and gives torch's value; computing in float64 and
    rounding once (celoss before this test) gave -0.1913, outside float16's
    tolerance of torch.
    """
    x, y, p = (np.array([value], dtype=np.float16) for value in (2.78, 0.9834, 3.602))
    options = {"pos_weight": p, "reduction": "none"}
    _, theirs = torch_loss_and_grad(x, y, options)
    exact = (float(p[0]) * float(y[0]) + 1 - float(y[0])) / (1 + math.exp(-float(x[0]))) \
        - float(p[0]) * float(y[0])
    rtol, atol = TOLERANCES["float16"]
    assert abs(float(theirs[0]) - exact) > atol + rtol * abs(float(theirs[0]))
    np.testing.assert_array_equal(binary_cross_entropy_with_logits_grad(x, y, **options), theirs)


@pytest.mark.parametrize("pos_weight_shape", [(), (1,), (5,), (200, 5)],
                         ids=["0-d", "one", "per-output", "full"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_half_precision_loss_and_gradient_equal_torch_bit_for_bit(pos_weight_shape, reduction):
    """float16 everywhere: the same steps give the same bits, wherever torch's sigmoid does.

    The only differences left are the rare float16 sigmoids that round the
    other way (see the exhaustive sigmoid test); each changes one gradient.
    """
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(200, 5)) * 3).astype(np.float16)
    y = rng.random(size=(200, 5)).astype(np.float16)
    options = {"reduction": reduction,
               "weight": rng.uniform(0.1, 2.0, size=(5,)).astype(np.float16),
               "pos_weight": rng.uniform(0.1, 4.0, size=pos_weight_shape).astype(np.float16)}
    loss, grad = celoss_loss_and_grad(x, y, options)
    torch_loss, torch_grad = torch_loss_and_grad(x, y, options)
    np.testing.assert_array_equal(loss, torch_loss)
    sigmoid_differs = sigmoid(x) != torch.sigmoid(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(grad[~sigmoid_differs], torch_grad[~sigmoid_differs])


@pytest.mark.parametrize("shape", [(), (1,)], ids=["0-d", "1-d"])
def test_a_float64_weight_is_read_as_torch_reads_it_whether_0d_or_not(shape):
    """float64 weights with float16 logits and targets.

    Of shape (1,) they promote as in NumPy: torch computes in float64. 0-d,
    they do not: torch casts a 0-d pos_weight to float16 before
    multiplying, and its float16 kernel reads a 0-d right factor (the
    weight) in float32. The two give different float16 results; celoss
    gives torch's for each.
    """
    rng = np.random.default_rng(3)
    x = (rng.normal(size=4000) * 3).astype(np.float16)
    y = rng.random(size=4000).astype(np.float16)
    options = {"reduction": "none", "weight": np.full(shape, 0.3),
               "pos_weight": np.full(shape, 3.7)}
    loss, grad = celoss_loss_and_grad(x, y, options)
    torch_loss, torch_grad = torch_loss_and_grad(x, y, options)
    np.testing.assert_array_equal(loss, torch_loss)
    sigmoid_differs = sigmoid(x) != torch.sigmoid(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(grad[~sigmoid_differs], torch_grad[~sigmoid_differs])
    other = {name: value if name == "reduction" else value.reshape((1,) if shape == () else ())
             for name, value in options.items()}
    other_loss, other_grad = torch_loss_and_grad(x, y, other)
    assert not np.array_equal(other_loss, torch_loss)
    assert not np.array_equal(other_grad, torch_grad)


def test_float64_to_float16_rounds_through_float32_as_torch_does():
    rng = np.random.default_rng(0)
    values = rng.normal(size=100_000)
    theirs = torch.tensor(values).half().numpy()
    np.testing.assert_array_equal(_torch_cast(values, np.float16), theirs)
    assert np.count_nonzero(values.astype(np.float16) != theirs) > 0  # NumPy rounds once


@pytest.mark.parametrize("reduction, expected", [("mean", np.nan), ("sum", 0.0)])
def test_empty_input_gives_torch_mean_and_sum(reduction, expected):
    empty = np.zeros((0, 3))
    theirs, _ = torch_loss_and_grad(empty, empty, {"reduction": reduction})
    np.testing.assert_array_equal(theirs, expected)
    np.testing.assert_array_equal(binary_cross_entropy_with_logits(empty, empty,
                                                                   reduction=reduction), theirs)
    assert binary_cross_entropy_with_logits_grad(empty, empty, reduction=reduction).shape == (0, 3)


def test_targets_outside_zero_one_are_used_unchecked_as_in_torch():
    x = np.array([0.5, -1.0, 2.0])
    y = np.array([2.0, -1.0, 5.0])
    options = {"reduction": "none", "pos_weight": np.array([2.0, 2.0, 2.0])}
    loss, grad = celoss_loss_and_grad(x, y, options)
    torch_loss, torch_grad = torch_loss_and_grad(x, y, options)
    assert np.any(torch_loss < 0)  # no longer a negative log-likelihood
    np.testing.assert_allclose(loss, torch_loss, rtol=1e-15)
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-15)


BAD = {
    "shape-mismatch": (dict(targets=np.zeros(3)), ValueError,
                       r"targets shape \(3,\) must be the same as the logits' shape \(2, 2\)"),
    "same-size-other-shape": (dict(targets=np.zeros((1, 4))), ValueError,
                              r"targets shape \(1, 4\) .* logits' shape \(2, 2\)"),
    "integer-targets": (dict(targets=np.zeros((2, 2), dtype=int)), TypeError,
                        "targets must be floating point"),
    "bool-targets": (dict(targets=np.zeros((2, 2), dtype=bool)), TypeError,
                     "targets must be floating point"),
    "integer-logits": (dict(logits=np.zeros((2, 2), dtype=int)), TypeError, "logits must be"),
    "weight-shape": (dict(weight=np.ones(3)), ValueError,
                     r"weight of shape \(3,\) does not broadcast to the logits' shape \(2, 2\)"),
    "pos-weight-shape": (dict(pos_weight=np.ones(3)), ValueError, "pos_weight of shape"),
    "bool-pos-weight": (dict(pos_weight=np.ones(2, dtype=bool)), TypeError,
                        "pos_weight must be integer or floating, got dtype bool"),
    "complex-weight": (dict(weight=np.ones(2, dtype=complex)), TypeError,
                       "weight must be bool or integer or floating"),
    "reduction": (dict(reduction="avg"), ValueError, "reduction must be"),
}


@pytest.mark.parametrize("bad, error, message", BAD.values(), ids=BAD.keys())
def test_bad_input_raises_where_torch_raises_with_an_error_naming_it(bad, error, message):
    arguments = {"logits": np.zeros((2, 2)), "targets": np.zeros((2, 2)), **bad}
    logits, targets = arguments.pop("logits"), arguments.pop("targets")
    with pytest.raises((ValueError, RuntimeError, NotImplementedError)):  # torch refuses it too
        torch_loss_and_grad(logits, targets, arguments)
    for function in (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad):
        with pytest.raises(error, match=message):
            function(logits, targets, **arguments)


def test_torch_reports_a_target_shape_mismatch_as_a_value_error():
    with pytest.raises(ValueError, match=r"Target size .* must be the same as input size"):
        torch_loss_and_grad(np.zeros((2, 2)), np.zeros(3), {})


@pytest.mark.parametrize("dtype", [np.int64, np.bool_], ids=["integer", "bool"])
def test_integer_and_bool_weights_are_accepted_as_in_torch(dtype):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(3, 4)) * 2).astype(np.float16)
    y = rng.random(size=(3, 4)).astype(np.float16)
    assert_matches_torch(x, y, {"weight": rng.integers(0, 2, size=4).astype(dtype)})


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
    "weight-on-0d-logits": ((), "weight", (1,)),
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


LAYOUTS = {
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "fortran-order": np.asfortranarray,
    "reversed": lambda a: np.ascontiguousarray(a[..., ::-1])[..., ::-1],
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
    "read-only": lambda a: np.lib.stride_tricks.as_strided(a, writeable=False),
}


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda dtype: dtype.__name__)
@pytest.mark.parametrize("argument", ["logits", "targets", "weight", "pos_weight"])
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_any_memory_layout_gives_torchs_result_on_the_same_values(layout, argument, dtype, seed):
    # torch is given a native contiguous copy (it has no big-endian tensors).
    # A '>f2' array is not == np.float16 to NumPy: its steps were not rounded
    # where torch rounds, and the result came back as '>f2'.
    rng = np.random.default_rng(seed)
    arrays = {"logits": rng.normal(size=(3, 4)) * 4, "targets": rng.random((3, 4)),
              "weight": rng.uniform(0.1, 2.0, size=(3, 4)),
              "pos_weight": rng.uniform(0.1, 4.0, size=(2, 3, 4))[0]}
    arrays = {name: value.astype(dtype) for name, value in arrays.items()}
    arrays[argument] = layout(arrays[argument])
    native = {name: np.array(value, dtype=np.dtype(dtype)) for name, value in arrays.items()}
    for reduction in ("mean", "sum", "none"):
        options = {"weight": arrays["weight"], "pos_weight": arrays["pos_weight"],
                   "reduction": reduction}
        loss, grad = celoss_loss_and_grad(arrays["logits"], arrays["targets"], options)
        native_options = {**options, "weight": native["weight"],
                          "pos_weight": native["pos_weight"]}
        assert_matches_torch(native["logits"], native["targets"], native_options)
        native_loss, native_grad = celoss_loss_and_grad(native["logits"], native["targets"],
                                                        native_options)
        assert loss.dtype == native_loss.dtype and grad.dtype == native_grad.dtype
        np.testing.assert_array_equal(loss, native_loss)
        np.testing.assert_array_equal(grad, native_grad)


@pytest.mark.parametrize("function", [sigmoid, log_sigmoid], ids=["sigmoid", "log_sigmoid"])
@pytest.mark.parametrize("bad", [np.array([1.0 + 1.0j]), np.array([1.0], dtype=object),
                                 np.array(["1.0"])], ids=["complex", "object", "string"])
def test_logits_that_are_not_real_numbers_raise_type_error_naming_them(function, bad):
    # sigmoid cast them to float32 (dropping the imaginary part with a
    # ComplexWarning). torch.sigmoid takes complex logits, F.logsigmoid does
    # not; the stable form compares x with 0, which needs real numbers.
    with pytest.raises(TypeError, match="logits must be a floating-point array"):
        function(bad)

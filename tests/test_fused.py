"""celoss.fused: the blockwise, threaded path against cross_entropy and torch.

Expected values come from celoss.cross_entropy / cross_entropy_grad (the
reference path, itself checked against torch in test_loss.py), from torch
run in the test, or from literal loops over n and c that transcribe the
docstring formulas. Small ``BLOCK_BYTES`` force many blocks and column tiles
on small inputs, so every boundary case runs in milliseconds.
"""

import contextlib
import inspect
import math
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import celoss
from celoss import cross_entropy, cross_entropy_grad, fused
from celoss.fused import block_shape, fused_cross_entropy, online_logsumexp
from test_docstrings import FENCE
from test_gradient import FLOAT16_GRAD_TOLERANCE, float16_mean_beyond_65504
from test_loss import BAD_INPUTS, SPECIAL_LOGITS, _assert_float16_as_torch

REDUCTIONS = ["mean", "sum", "none"]


@contextlib.contextmanager
def block_bytes(budget):
    """Run the body with ``fused.BLOCK_BYTES = budget``."""
    saved = fused.BLOCK_BYTES
    fused.BLOCK_BYTES = budget
    try:
        yield
    finally:
        fused.BLOCK_BYTES = saved


def torch_loss_and_grad(logits, targets, **options):
    """torch's loss and d loss / d logits (of the sum for 'none') as NumPy arrays."""
    x = torch.tensor(logits, requires_grad=True)
    if options.get("weight") is not None:
        options = {**options, "weight": torch.tensor(options["weight"], dtype=x.dtype)}
    loss = F.cross_entropy(x, torch.tensor(targets, dtype=torch.long), **options)
    (loss.sum() if options.get("reduction") == "none" else loss).backward()
    return loss.detach().numpy(), x.grad.numpy()


@st.composite
def fused_problems(draw, dtypes=(np.float32, np.float64)):
    """Draw (logits (N, V), targets (N,), options, block_bytes).

    N from 0 and V from 1, options in every combination, some targets set to
    ignore_index, some rows offset far from 0, and a block budget from one
    element (every row is cut into one-column tiles) to the default (one
    block). Values come from a NumPy generator seeded by the draw.
    """
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    num_rows = draw(st.integers(0, 40))
    num_classes = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    logits = rng.normal(size=(num_rows, num_classes)) * scale
    if draw(st.booleans()):
        # Rows far from 0, where e^x would overflow or underflow without the
        # shift by the row's maximum, among rows near 0.
        logits += rng.choice([0.0, 0.0, -60.0, 95.0, -800.0, 800.0], size=(num_rows, 1))
    logits = logits.astype(dtype)
    targets = rng.integers(0, num_classes, size=num_rows)
    options = {"reduction": draw(st.sampled_from(REDUCTIONS))}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 3.0, size=num_classes).astype(dtype)
    if draw(st.booleans()):
        options["label_smoothing"] = draw(st.sampled_from([0.05, 0.1, 0.5, 1.0]))
    if draw(st.booleans()):
        ignore_index = draw(st.sampled_from([-100, -1, 0, num_classes - 1]))
        options["ignore_index"] = ignore_index
        targets = np.where(rng.random(num_rows) < draw(st.sampled_from([0.3, 1.0])),
                           ignore_index, targets)
    elements = draw(st.sampled_from([1, 3, 16, 64, 1 << 20]))
    return logits, targets, options, elements * dtype.itemsize


def assert_close(ours, expected, dtype):
    rtol, atol = celoss.TOLERANCES[np.dtype(dtype).name]
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol)


# Value and gradient: the reference path and torch, every option and block size.


@settings(max_examples=300, deadline=None)
@given(fused_problems())
def test_fused_matches_cross_entropy_and_its_gradient(problem):
    logits, targets, options, budget = problem
    with block_bytes(budget):
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    assert_close(loss, cross_entropy(logits, targets, **options), logits.dtype)
    assert_close(grad, cross_entropy_grad(logits, targets, **options), logits.dtype)
    assert_close(fused_cross_entropy(logits, targets, **options), loss, logits.dtype)


@settings(max_examples=200, deadline=None)
@given(fused_problems())
def test_fused_matches_torch_value_and_gradient(problem):
    logits, targets, options, budget = problem
    with block_bytes(budget):
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    torch_loss, torch_grad = torch_loss_and_grad(logits, targets, **options)
    assert_close(loss, torch_loss, logits.dtype)
    assert_close(grad, torch_grad, logits.dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1], ids=["eps0", "eps0.1"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_fused_matches_torch_at_language_model_shape_in_float32(reduction, label_smoothing,
                                                                weighted, monkeypatch):
    # GPT-2's vocabulary; 64 KiB blocks cut each row into four tiles.
    monkeypatch.setattr(fused, "BLOCK_BYTES", 64 * 1024)
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(64, 50_257)).astype(np.float32) * 3
    targets = rng.integers(0, 50_257, size=64)
    targets[::7] = -100
    options = {"reduction": reduction, "label_smoothing": label_smoothing,
               "weight": rng.uniform(0.5, 2, 50_257).astype(np.float32) if weighted else None}
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    torch_loss, _ = torch_loss_and_grad(logits, targets, **options)
    assert_close(loss, torch_loss, np.float32)
    # The gradient is compared with torch in float64 on the same float32
    # inputs: at this width torch's own float32 gradient with smoothing and
    # reduction="sum" is off by up to 1e-4 (measured against float64), more
    # than the float32 tolerance, while ours stays within 1e-7.
    options64 = {**options, "weight": None if options["weight"] is None
                 else options["weight"].astype(np.float64)}
    exact_loss, exact_grad = torch_loss_and_grad(logits.astype(np.float64), targets,
                                                 **options64)
    assert_close(loss.astype(np.float64), exact_loss, np.float32)
    assert_close(grad.astype(np.float64), exact_grad, np.float32)


def test_float16_logits_give_float16_loss_and_gradient_as_the_reference():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(9, 20)).astype(np.float16)
    targets = rng.integers(0, 20, size=9)
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True, reduction="none")
    expected = cross_entropy(logits, targets, reduction="none")
    assert loss.dtype == np.float16
    np.testing.assert_allclose(loss, expected, rtol=5e-3, atol=2e-3)
    expected_grad = cross_entropy_grad(logits, targets, reduction="none")
    assert grad.dtype == expected_grad.dtype == np.float16
    np.testing.assert_allclose(grad, expected_grad, rtol=5e-3, atol=2e-3)


# Blocks: boundaries, tiles and threads change nothing.

# (rows, V, block elements): rows_per_block and tile come from block_shape.
BOUNDARIES = {
    "N-multiple-of-block": (12, 5, 20),  # 4 rows per block, 3 full blocks
    "N-not-multiple-of-block": (13, 5, 20),  # last block has 1 row
    "N-smaller-than-block": (3, 5, 20),
    "N-one": (1, 5, 20),
    "N-zero": (0, 5, 20),
    "V-multiple-of-tile": (4, 12, 4),  # one row per block, three tiles
    "V-not-multiple-of-tile": (4, 13, 4),  # last tile has 1 column
    "one-column-tiles": (3, 6, 1),
    "one-class": (5, 1, 1),
}


@pytest.mark.parametrize("num_rows, num_classes, elements", BOUNDARIES.values(),
                         ids=BOUNDARIES.keys())
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_block_boundaries_change_nothing(num_rows, num_classes, elements, reduction):
    rng = np.random.default_rng(num_rows * 100 + num_classes)
    logits = rng.normal(size=(num_rows, num_classes)) * 4
    targets = rng.integers(0, num_classes, size=num_rows)
    weight = rng.uniform(0.5, 2.0, size=num_classes)
    options = {"reduction": reduction, "weight": weight, "label_smoothing": 0.2}
    with block_bytes(elements * 8):
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    with np.errstate(invalid="ignore"):  # the empty mean is NaN on both sides
        expected = cross_entropy(logits, targets, **options)
    np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, cross_entropy_grad(logits, targets, **options),
                               rtol=1e-12, atol=1e-14)


def test_block_shape_keeps_rows_whole_until_a_row_exceeds_the_budget():
    assert block_shape(1000, 4, 4000 * 4) == (4, 1000)
    assert block_shape(1000, 4, 1000 * 4) == (1, 1000)
    assert block_shape(1001, 4, 1000 * 4) == (1, 1000)
    assert block_shape(5, 8, 1) == (1, 1)  # at least one element per block


@pytest.mark.parametrize("elements", [1, 7, 64, 1 << 20], ids=lambda e: f"{e}-elements")
def test_result_is_bitwise_independent_of_thread_count(elements, monkeypatch):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(50, 30)).astype(np.float32)
    targets = rng.integers(0, 30, size=50)
    monkeypatch.setattr(fused, "BLOCK_BYTES", elements * 4)
    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(fused, "WORKERS", workers)
        results.append(fused_cross_entropy(logits, targets, return_grad=True,
                                           reduction="none", label_smoothing=0.1))
    for loss, grad in results[1:]:
        np.testing.assert_array_equal(loss, results[0][0])
        np.testing.assert_array_equal(grad, results[0][1])


def test_non_contiguous_logits_give_the_same_result():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(40, 30))
    targets = rng.integers(0, 30, size=20)
    strided = logits[::2]  # every other row
    fortran = np.asfortranarray(strided)
    expected_loss, expected_grad = fused_cross_entropy(strided.copy(), targets, return_grad=True)
    for view in (strided, fortran):
        loss, grad = fused_cross_entropy(view, targets, return_grad=True)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-14)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-16)


# The corners: ignored examples and infinite logits.


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3], ids=["eps0", "eps0.3"])
def test_all_ignored_gives_torchs_nan_mean_and_zero_gradient(reduction, label_smoothing):
    logits = np.random.default_rng(4).normal(size=(6, 4))
    targets = np.full(6, -100)
    options = {"reduction": reduction, "label_smoothing": label_smoothing}
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    torch_loss, torch_grad = torch_loss_and_grad(logits, targets, **options)
    if reduction == "mean":
        assert np.isnan(loss) and np.isnan(torch_loss)
    else:
        np.testing.assert_array_equal(loss, np.zeros_like(loss))
        np.testing.assert_array_equal(loss, torch_loss)
    np.testing.assert_array_equal(grad, np.zeros_like(grad))
    np.testing.assert_array_equal(grad, torch_grad)


@pytest.mark.parametrize("elements", [2, 1 << 20], ids=["tiled", "whole-rows"])
def test_minus_inf_logits_are_handled_as_torch(elements, monkeypatch):
    # Row 0 masks its first two classes (a whole first tile when tiled); row 1
    # puts -inf on its target; row 2 is all -inf, which torch turns into NaN.
    logits = np.array([[-np.inf, -np.inf, 0.5, 1.0, -2.0],
                       [0.0, -np.inf, 1.0, 2.0, 3.0],
                       [-np.inf] * 5])
    targets = np.array([3, 1, 0])
    monkeypatch.setattr(fused, "BLOCK_BYTES", elements * 8)
    for options in [{}, {"label_smoothing": 0.1}]:
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True,
                                         reduction="none", **options)
        torch_loss, torch_grad = torch_loss_and_grad(logits, targets, reduction="none",
                                                     **options)
        np.testing.assert_allclose(loss, torch_loss, rtol=1e-12)
        np.testing.assert_allclose(grad, torch_grad, rtol=1e-12, atol=1e-15)
        # Masked classes cost nothing without smoothing; smoothing puts mass on them.
        assert np.isfinite(loss[0]) == (not options)
        assert np.all(np.isfinite(grad[:2])) and np.all(np.isnan(grad[2]))


@pytest.mark.parametrize("magnitude", [1e4, -1e4, 1e30], ids=["+1e4", "-1e4", "1e30"])
def test_huge_logits_stay_finite(magnitude, monkeypatch):
    logits = np.array([[magnitude, 0.0, -magnitude], [0.0, magnitude, 1.0]], dtype=np.float32)
    targets = np.array([2, 0])
    # One-column tiles: every merge rescales the running sum.
    monkeypatch.setattr(fused, "BLOCK_BYTES", 4)
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True, label_smoothing=0.1)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert_close(loss, cross_entropy(logits, targets, label_smoothing=0.1), np.float32)


@pytest.mark.parametrize("offset", [1e2, 1e4, 1e6, -1e6], ids=lambda o: f"{o:+.0e}")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_smoothing_is_exact_when_the_logits_share_a_large_offset(offset, weighted, monkeypatch):
    # Summing the logits and subtracting C * max afterwards cancels: at 1e4 in
    # float32 the loss was off in its fourth digit. Each logit is now shifted first.
    rng = np.random.default_rng(11)
    logits = (offset + rng.normal(size=(7, 50))).astype(np.float32)
    targets = rng.integers(0, 50, size=7)
    options = {"label_smoothing": float(rng.uniform(0.05, 1.0)),
               "weight": rng.uniform(0.5, 2.0, size=50).astype(np.float32) if weighted else None}
    monkeypatch.setattr(fused, "BLOCK_BYTES", 16 * 4)  # tiles of 16 columns
    for reduction in REDUCTIONS:
        loss = fused_cross_entropy(logits, targets, reduction=reduction, **options)
        torch_loss, _ = torch_loss_and_grad(logits, targets, reduction=reduction, **options)
        assert_close(loss, torch_loss, np.float32)
        assert_close(loss, cross_entropy(logits, targets, reduction=reduction, **options),
                     np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_confident_rows_lose_nothing_and_are_never_negative(dtype):
    # The target's term e^{x_y - m} is exactly 1 after the shift, so the loss is
    # log(1 + the rest): 0 or more, as in torch. Exponentials of the unshifted
    # logits (tried, and measured 7% faster) round e^{x_y} and gave losses of
    # -1e-7 here.
    rng = np.random.default_rng(20)
    logits = (rng.normal(size=(64, 100)) - 5).astype(dtype)  # (N, V)
    targets = rng.integers(0, 100, size=64)
    logits[np.arange(64), targets] = rng.uniform(20, 40, size=64)  # losses of 1e-7 to 1e-15
    loss, grad = fused_cross_entropy(logits, targets, reduction="none", return_grad=True)
    torch_loss, torch_grad = torch_loss_and_grad(logits, targets, reduction="none")
    assert np.all(loss >= 0)
    np.testing.assert_allclose(loss, torch_loss, rtol=0, atol=4 * np.finfo(dtype).eps)
    assert_close(grad, torch_grad, dtype)


# A class weight that makes w_{y_n} / d_n overflow where torch's w_{y_n} p_{n,c}
# is finite (or inf, not NaN, for an infinite weight), on rows whose plain sum
# of e^x is near the underflow edge. (dtype, top logit, low logit, weight)
HUGE_WEIGHTS = {
    "float32-1e21": (np.float32, -43.0, -110.0, 1e21),
    "float32-inf": (np.float32, -40.0, -110.0, np.inf),
    "float64-1e200": (np.float64, -350.0, -760.0, 1e200),
    "float64-inf": (np.float64, -340.0, -760.0, np.inf),
}


@pytest.mark.parametrize("dtype, top, low, big", HUGE_WEIGHTS.values(), ids=HUGE_WEIGHTS.keys())
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_huge_and_infinite_weights_on_tiny_logits_give_torchs_gradient(dtype, top, low, big,
                                                                       reduction):
    logits = np.array([[top, top - 0.5, low], [0.0, 1.0, 2.0]], dtype)
    targets = np.array([0, 1])
    options = {"weight": np.array([big, 1.0, 1.0], dtype), "reduction": reduction}
    _, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    _, torch_grad = torch_loss_and_grad(logits, targets, **options)
    assert_close(grad, torch_grad, dtype)  # NaN against inf fails too


def test_gradient_near_the_overflow_edge_with_tiny_weights_keeps_its_precision():
    logits = np.full((4, 5), 80.0, np.float32)
    logits[:, 0] = 88.0
    targets = np.array([1, 2, 3, 4])
    weight = np.full(5, 1e-7, np.float32)
    _, grad = fused_cross_entropy(logits, targets, return_grad=True, weight=weight,
                                  reduction="sum")
    _, exact = torch_loss_and_grad(logits.astype(np.float64), targets,
                                   weight=weight.astype(np.float64), reduction="sum")
    np.testing.assert_allclose(grad, exact, rtol=1e-6)


def test_float64_confident_rows_far_from_zero_sum_as_torch():
    # The sum of 20000 losses near 1e-9 from rows near 700: a log-sum-exp
    # rounded at the scale of 700 (5.7e-14 each) would be off by 4e-12.
    rng = np.random.default_rng(2)
    num_rows, num_classes = 20000, 5
    logits = 700.0 + np.concatenate([np.zeros((num_rows, 1)),
                                     -rng.uniform(20, 30, (num_rows, num_classes - 1))], axis=1)
    logits += rng.uniform(-5, 5, (num_rows, 1))
    targets = np.zeros(num_rows, dtype=np.int64)
    loss = fused_cross_entropy(logits, targets, reduction="sum")
    torch_loss, _ = torch_loss_and_grad(logits, targets, reduction="sum")
    assert_close(loss, torch_loss, np.float64)


def test_smoothing_near_the_largest_float_is_finite_as_in_torch():
    logits = np.array([[3e38, 3e38], [3e38, -3e38]], dtype=np.float32)
    targets = np.array([0, 0])
    loss = fused_cross_entropy(logits, targets, label_smoothing=0.1, reduction="none")
    torch_loss, _ = torch_loss_and_grad(logits, targets, label_smoothing=0.1, reduction="none")
    assert np.isfinite(loss[0]) and loss[0] == pytest.approx(math.log(2), rel=1e-6)
    np.testing.assert_array_equal(np.isfinite(loss), np.isfinite(torch_loss))
    assert_close(loss[0], torch_loss[0], np.float32)


@pytest.mark.parametrize("weight", [[0.0, 1.0, 1.0], [1.0, -1.0, 2.0]],
                         ids=["target-weight-0", "weights-cancel"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.5, 1.0])
def test_a_mean_over_zero_total_weight_is_what_torch_gives(weight, label_smoothing):
    # torch reduces the two smoothing losses apart before mixing them: with a
    # denominator of 0, (1 - eps) * (0 / 0) is NaN whatever the uniform part adds,
    # and weights that cancel give +-inf or NaN by the same rule.
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    targets = np.array([0, 0]) if weight[0] == 0 else np.array([0, 1])
    options = {"weight": np.array(weight), "label_smoothing": label_smoothing}
    loss = fused_cross_entropy(logits, targets, **options)
    torch_loss, _ = torch_loss_and_grad(logits, targets, **options)
    np.testing.assert_array_equal(loss, torch_loss)  # NaN == NaN, inf == inf here
    np.testing.assert_array_equal(loss, cross_entropy(logits, targets, **options))


# out=: the training-loop path.


def test_out_receives_the_gradient_in_place_and_is_returned():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(10, 6)).astype(np.float32)
    targets = rng.integers(0, 6, size=10)
    out = np.full_like(logits, np.nan)
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True, out=out)
    assert grad is out
    assert_close(out, cross_entropy_grad(logits, targets), np.float32)
    assert_close(loss, cross_entropy(logits, targets), np.float32)


def test_out_can_be_a_strided_view():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(10, 6))
    targets = rng.integers(0, 6, size=10)
    buffer = np.zeros((10, 12))
    fused_cross_entropy(logits, targets, return_grad=True, out=buffer[:, ::2])
    np.testing.assert_allclose(buffer[:, ::2], cross_entropy_grad(logits, targets),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(buffer[:, 1::2], 0)  # nothing written between


BAD_OUT = {
    "wrong-shape": (lambda x: np.empty((2, 2)), ValueError, "out must have the gradient's shape"),
    "wrong-dtype": (lambda x: np.empty(x.shape, np.float32), ValueError, "dtype float64"),
    "not-an-array": (lambda x: x.tolist(), TypeError, "out must be a NumPy array"),
    "read-only": (lambda x: np.broadcast_to(np.empty(3), x.shape), ValueError, "writeable"),
    "is-the-logits": (lambda x: x, ValueError, "share memory"),
}


@pytest.mark.parametrize("make_out, error, message", BAD_OUT.values(), ids=BAD_OUT.keys())
def test_bad_out_raises_an_error_naming_it(make_out, error, message):
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    with pytest.raises(error, match=message):
        fused_cross_entropy(logits, np.array([0, 2]), return_grad=True, out=make_out(logits))


def test_out_without_return_grad_is_an_error():
    logits = np.array([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="return_grad=True"):
        fused_cross_entropy(logits, np.array([0]), out=np.empty_like(logits))


# Bad input: the very errors of cross_entropy.


@pytest.mark.parametrize("bad", BAD_INPUTS.keys())
def test_bad_input_raises_the_same_error_as_cross_entropy(bad):
    arguments = {"logits": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
                 "targets": np.array([0, 2]), **BAD_INPUTS[bad][0]}
    logits, targets = arguments.pop("logits"), arguments.pop("targets")
    with pytest.raises(BAD_INPUTS[bad][1]) as reference:
        cross_entropy(logits, targets, **arguments)
    with pytest.raises(reference.type) as ours:
        fused_cross_entropy(logits, targets, return_grad=True, **arguments)
    assert str(ours.value) == str(reference.value)


@pytest.mark.parametrize(
    "logits, targets",
    [(np.ones(3), np.array(0)),
     (np.ones((2, 3, 4)), np.zeros((2, 4), dtype=int)),
     (np.ones((2, 3)), np.full((2, 3), 1 / 3))],
    ids=["unbatched", "k-dimensional", "probability-targets"],
)
def test_other_layouts_are_sent_to_cross_entropy(logits, targets):
    cross_entropy(logits, targets)  # valid input for the reference path
    with pytest.raises(ValueError, match="use celoss.cross_entropy"):
        fused_cross_entropy(logits, targets)


def test_inputs_are_never_modified(monkeypatch):
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(8, 5))
    targets = np.array([0, 1, -100, 4, 3, 3, 2, 0])
    weight = np.array([1.0, 2.0, 3.0, 0.5, 1.5])
    copies = [a.copy() for a in (logits, targets, weight)]
    monkeypatch.setattr(fused, "BLOCK_BYTES", 16)
    fused_cross_entropy(logits, targets, weight=weight, label_smoothing=0.3, return_grad=True)
    fused_cross_entropy(logits, targets, weight=weight, label_smoothing=0.3)
    for original, copy in zip((logits, targets, weight), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


# Memory: tracemalloc sees every NumPy allocation, so the peak is exact.


def traced_peak(function):
    """Peak bytes allocated (by NumPy and Python) while ``function`` runs."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("return_grad", [False, True], ids=["loss", "loss-and-grad"])
def test_extra_memory_is_a_few_blocks_not_the_logits(return_grad, monkeypatch):
    rng = np.random.default_rng(10)
    logits = rng.normal(size=(2048, 4096)).astype(np.float32)  # 32 MiB
    targets = rng.integers(0, 4096, size=2048)
    weight = rng.uniform(0.5, 2, size=4096).astype(np.float32)
    monkeypatch.setattr(fused, "WORKERS", 2)

    def run():
        fused_cross_entropy(logits, targets, weight=weight, label_smoothing=0.1,
                            return_grad=return_grad)

    returned = logits.nbytes if return_grad else 0
    extra = traced_peak(run) - returned
    # Per thread one block of scratch (2 x 1 MiB measured), with room for
    # one more block-sized array each; plus O(N) vectors for the whole batch.
    bound = 2 * 2 * fused.BLOCK_BYTES + 64 * logits.shape[0] + (1 << 16)
    assert extra <= bound, f"{extra} bytes beyond inputs and gradient, bound {bound}"
    # The bound can fail: the reference path holds (N, V) intermediates.
    reference = traced_peak(lambda: cross_entropy(logits, targets, weight=weight,
                                                  label_smoothing=0.1))
    assert reference >= 2 * logits.nbytes


# The docstring formulas, transcribed literally, and the docstring examples.


def literal_online_logsumexp(row, tile):
    """The online_logsumexp recurrence over tiles, one scalar at a time."""
    m, d = -math.inf, 0.0
    for start in range(0, len(row), tile):
        tile_values = row[start:start + tile]
        m_new = max(m, max(tile_values))
        d = d * math.exp(m - m_new) + sum(math.exp(v - m_new) for v in tile_values)
        m = m_new
    return m + math.log(d)


@pytest.mark.parametrize("tile", [1, 2, 3, 7])
def test_online_logsumexp_formula_transcribed_literally(tile):
    x = np.random.default_rng(12).normal(size=(4, 7)) * 5
    lse, shifts, total = online_logsumexp(x, np.empty((4, tile)), tile)
    for n in range(4):
        assert lse[n, 0] == pytest.approx(literal_online_logsumexp(list(x[n]), tile),
                                          rel=1e-14)
        assert lse[n, 0] == pytest.approx(math.log(sum(math.exp(v) for v in x[n])), rel=1e-14)
    np.testing.assert_array_equal(shifts[-1][:, 0], x.max(axis=1))
    np.testing.assert_allclose(np.log(total[:, 0]) + shifts[-1][:, 0], lse[:, 0], rtol=1e-15)


def test_online_logsumexp_keeps_full_width_exponentials_for_the_gradient():
    x = np.random.default_rng(13).normal(size=(3, 5))
    exps = np.empty_like(x)
    lse, shifts, _ = online_logsumexp(x, exps, tile=2)
    for k, start in enumerate(range(0, 5, 2)):
        np.testing.assert_allclose(exps[:, start:start + 2],
                                   np.exp(x[:, start:start + 2] - shifts[k]), rtol=1e-15)


def test_loss_and_gradient_formulas_transcribed_literally():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(6, 4)) * 2
    y = np.array([0, 3, -100, 2, 2, 1])
    w = rng.uniform(0.5, 2.0, size=4)
    eps, num_classes = 0.2, 4
    total_class_weight = sum(w)
    losses, grad, denominator = [], np.zeros_like(x), 0.0
    for n in range(6):
        if y[n] == -100:
            losses.append(0.0)
            continue
        lse = math.log(sum(math.exp(x[n, c]) for c in range(num_classes)))
        log_probs = [x[n, c] - lse for c in range(num_classes)]
        losses.append((1 - eps) * w[y[n]] * (lse - x[n, y[n]])
                      - eps / num_classes * sum(w[c] * log_probs[c] for c in range(num_classes)))
        denominator += w[y[n]]
        for c in range(num_classes):
            p = math.exp(x[n, c] - lse)
            grad[n, c] = (((1 - eps) * w[y[n]] + eps / num_classes * total_class_weight) * p
                          - (1 - eps) * w[y[n]] * (c == y[n]) - eps / num_classes * w[c])
    options = {"weight": w, "label_smoothing": eps}
    ours, ours_grad = fused_cross_entropy(x, y, reduction="none", return_grad=True, **options)
    np.testing.assert_allclose(ours, losses, rtol=1e-12)
    np.testing.assert_allclose(ours_grad, grad, rtol=1e-12, atol=1e-15)
    mean, mean_grad = fused_cross_entropy(x, y, return_grad=True, **options)
    assert mean == pytest.approx(sum(losses) / denominator, rel=1e-12)
    np.testing.assert_allclose(mean_grad, grad / denominator, rtol=1e-12, atol=1e-15)


def test_public_functions_have_examples():
    for function in (fused_cross_entropy, online_logsumexp, block_shape,
                     fused.weighted_log_prob_sums):
        assert FENCE.search(inspect.getdoc(function)), function.__name__


def test_fused_module_imports_only_numpy_and_the_standard_library():
    import ast
    import pathlib
    import sys
    tree = ast.parse(pathlib.Path(fused.__file__).read_text())
    absolute = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    absolute |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert absolute - {"numpy"} <= set(sys.stdlib_module_names), absolute
    assert celoss.fused is fused


def _assert_same_values(ours, theirs, rtol):
    """Same dtype, same NaN and inf positions, and close finite values."""
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)  # inf must equal inf


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=["float16", "float32", "float64"])
def test_extreme_logits_give_cross_entropys_and_torchs_nan_and_inf(dtype, seed):
    # inf, NaN, masked and near-limit logits, a zero, inf or NaN class weight, and
    # label smoothing, whose term torch sums over the classes before scaling by
    # eps / C (so it overflows where torch's does); tiles of 3 columns.
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(5, 7))
    mask = rng.random(logits.shape) < 0.3
    logits[mask] = rng.choice(SPECIAL_LOGITS, size=mask.sum())
    with np.errstate(over="ignore"):
        logits = logits.astype(dtype)
    targets = rng.integers(0, 7, size=5)
    targets[rng.random(5) < 0.2] = -100
    weight = rng.uniform(0.5, 2.0, size=7).astype(dtype)
    weight[rng.integers(7)] = rng.choice([0.0, np.inf, np.nan])
    rtol = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    for options in [dict(reduction=r, label_smoothing=s, weight=w)
                    for r in REDUCTIONS for s in [0.0, 0.3] for w in [None, weight]]:
        with block_bytes(3 * np.dtype(dtype).itemsize):
            loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
        theirs, their_grad = torch_loss_and_grad(logits, targets, **options)
        _assert_same_values(loss, cross_entropy(logits, targets, **options), rtol)
        _assert_same_values(loss, theirs, rtol)
        _assert_same_values(grad, cross_entropy_grad(logits, targets, **options), rtol)
        _assert_same_values(grad, their_grad, rtol)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_float16_mean_is_inf_when_the_float16_sum_overflows_as_in_torch(label_smoothing, seed):
    # torch stores the float16 sum before the mean divides it: 8192 losses near 9.5
    # give inf, in torch, cross_entropy and the fused path alike.
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(8192, 10)) * 6).astype(np.float16)
    targets = rng.integers(0, 10, size=8192)
    for reduction in ["mean", "sum"]:
        options = dict(reduction=reduction, label_smoothing=label_smoothing)
        theirs, _ = torch_loss_and_grad(logits, targets, **options)
        assert np.isinf(theirs)
        _assert_same_values(fused_cross_entropy(logits, targets, **options), theirs, 2e-3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1},
                                     {"label_smoothing": 0.1, "weight": [1.0, 1.0, 1.0, 0.0]},
                                     {"label_smoothing": 0.1, "weight": [1.0, 2.0, 1.0, -1.0]},
                                     {"weight": [2.0, 2.0, 1.0, 0.5]}],
                         ids=["plain", "smoothing", "smoothing-zero-weight",
                              "smoothing-negative-weight", "weight"])
def test_float16_masked_classes_give_torchs_inf_and_nan(options, reduction):
    # float16's minimum masks class 3. Row 1's target is the masked class,
    # 65604 below the row's maximum: torch's float16 log-probability is -inf
    # and the loss +inf (weighted by 0.5 too); a zero weight on the class makes
    # the smoothing term 0 * -inf = NaN, and a negative one makes its rounded
    # product +inf. Row 0's smoothing sum, 65514, is held in float16 (65504).
    logits = np.array([[5.0, 0.0, 0.0, np.finfo(np.float16).min],
                       [100.0, 2.0, 3.0, np.finfo(np.float16).min],
                       [1.0, 2.0, 3.0, 4.0]], dtype=np.float16)  # (N, V)
    targets = np.array([0, 3, 1])
    options = {**options, "reduction": reduction}
    if "weight" in options:
        options["weight"] = np.array(options["weight"], dtype=np.float16)
    for rows in [slice(None), slice(0, 1), slice(0, 3, 2)]:  # with row 1, and without it
        torch_loss, _ = torch_loss_and_grad(logits[rows], targets[rows], **options)
        loss = fused_cross_entropy(logits[rows], targets[rows], **options)
        assert loss.dtype == np.float16
        _assert_float16_as_torch(loss, torch_loss)


def test_float16_weighted_log_probabilities_overflow_as_torchs():
    # torch rounds each w_c log p_c to float16: 2 * -65504 is -inf there, and
    # the smoothing term +inf, where the unrounded sum -131008 + 65504 is finite.
    masked = np.finfo(np.float16).min
    logits = np.array([[0.0, masked, masked]], dtype=np.float16)
    options = {"weight": np.array([1.0, 2.0, -1.0], dtype=np.float16),
               "label_smoothing": 0.1, "reduction": "none"}
    loss = fused_cross_entropy(logits, np.array([0]), **options)
    torch_loss, _ = torch_loss_and_grad(logits, np.array([0]), **options)
    assert np.isinf(torch_loss[0]) and torch_loss[0] > 0
    np.testing.assert_array_equal(loss, torch_loss)


@pytest.mark.parametrize("overflow", ["count", "weights"])
def test_float16_mean_over_a_total_weight_beyond_65504_has_torchs_gradient(overflow):
    # As cross_entropy_grad: the target part divides by the float16 total (inf,
    # so 0), the smoothing part by the count of examples without a weight.
    logits, targets, weight = float16_mean_beyond_65504(overflow, np.random.default_rng(1))
    for label_smoothing in [0.0, 0.2]:
        options = dict(weight=weight, label_smoothing=label_smoothing)
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
        torch_loss, torch_grad = torch_loss_and_grad(logits, targets, **options)
        assert np.isnan(loss) and np.isnan(torch_loss)
        assert grad.dtype == torch_grad.dtype == np.float16
        np.testing.assert_allclose(grad, torch_grad, **FLOAT16_GRAD_TOLERANCE)


@pytest.mark.parametrize("weight", [[2662.0, 0.0], [np.inf, 0.0]])
def test_float16_confident_row_has_torchs_zero_log_probability(weight):
    # torch's float16 log-softmax holds a confident row's sum, 1 + e^-7.7, in
    # float16: 1, so the top class's log-probability is exactly 0, and its weight
    # of 2662 (or inf) times 0 gives a loss of 0 (or NaN); float32's -log(1 +
    # e^-7.7) = -4.4e-4 gave 0.58 (or inf).
    logits = np.array([[11.79, 4.055], [7.152, -1.384]], dtype=np.float16)  # (N, C)
    targets = np.array([1, 0])
    options = dict(weight=np.array(weight, dtype=np.float16), reduction="none",
                   label_smoothing=1.0)
    ours = fused_cross_entropy(logits, targets, **options)
    theirs, _ = torch_loss_and_grad(logits, targets, **options)
    _assert_float16_as_torch(ours, theirs)
    np.testing.assert_array_equal(ours, cross_entropy(logits, targets, **options))


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.3, "reduction": "sum"},
                                     {"weight": True, "reduction": "none"},
                                     {"weight": True, "label_smoothing": 1.0}],
                         ids=["mean", "smoothing-sum", "weight-none", "weight-smoothing-1"])
def test_float16_gradient_is_cross_entropy_grads_with_and_without_out(options):
    # torch's float16 gradient rounds each backward step from the float16
    # log-softmax; cross_entropy_grad follows those steps, and the fused path
    # returns its gradient for float16 rather than one from float32 blocks.
    rng = np.random.default_rng(11)
    logits = (rng.normal(size=(64, 300)) * 4).astype(np.float16)  # (N, V)
    logits[:, :5] = np.finfo(np.float16).min  # masked classes
    targets = rng.integers(5, 300, size=64)  # (N,)
    targets[::7] = -100
    if options.get("weight"):
        options = {**options, "weight": rng.uniform(0, 3000, size=300).astype(np.float16)}
    expected = cross_entropy_grad(logits, targets, **options)
    with block_bytes(1024):  # rows cut into tiles, blocks shared by threads
        _, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
        out = np.full(logits.shape, np.nan, dtype=np.float16)
        _, returned = fused_cross_entropy(logits, targets, return_grad=True, out=out, **options)
    np.testing.assert_array_equal(grad, expected)
    assert returned is out
    np.testing.assert_array_equal(out, expected)


def test_a_float16_gradient_beyond_65504_is_torchs_inf_without_a_warning():
    # Weights of 1000 with full smoothing: the first class's gradient, about
    # 2000 * 33.3, is beyond float16's range, inf in torch, silently.
    logits = np.array([[10.0, 0.0, 0.0]], dtype=np.float16)  # (N, C)
    targets = np.array([0])
    options = dict(weight=np.array([0.01, 1000.0, 1000.0], dtype=np.float16),
                   label_smoothing=1.0)
    _, torch_grad = torch_loss_and_grad(logits, targets, **options)
    assert np.isinf(torch_grad).any()
    _, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
    _assert_float16_as_torch(grad, torch_grad)
    _assert_float16_as_torch(cross_entropy_grad(logits, targets, **options), torch_grad)

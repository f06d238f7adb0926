"""celoss.cross_entropy against torch.nn.functional.cross_entropy.

Expected values come from torch itself (the oracle, run in the test) or from
a literal loop over n and c that transcribes the docstring formula.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

import celoss
from celoss import cross_entropy, cross_entropy_grad
from conftest import problems


def torch_cross_entropy(logits, targets, **options):
    """torch's loss for NumPy inputs, as a NumPy array."""
    x = torch.tensor(logits)
    probability_targets = np.shape(targets) == np.shape(logits)
    t = torch.tensor(targets) if probability_targets else torch.tensor(targets, dtype=torch.long)
    if options.get("weight") is not None:
        options = {**options, "weight": torch.tensor(options["weight"], dtype=x.dtype)}
    return F.cross_entropy(x, t, **options).numpy()


# Property tests: every layout, option and combination, value and gradient.


@settings(max_examples=400, deadline=None)
@given(problems())
def test_cross_entropy_matches_torch_value_and_gradient(problem):
    logits, targets, options = problem
    report = celoss.compare_with_torch(logits, targets, **options)
    assert report.passed


@settings(max_examples=150, deadline=None)
@given(problems(extreme=True))
def test_cross_entropy_matches_torch_for_extreme_and_infinite_logits(problem):
    logits, targets, options = problem
    report = celoss.compare_with_torch(logits, targets, **options)
    assert report.passed


@settings(max_examples=100, deadline=None)
@given(problems(dtypes=[np.float16]))
def test_cross_entropy_matches_torch_in_float16(problem):
    logits, targets, options = problem
    assert celoss.compare_with_torch(logits, targets, **options).passed


# The seed walkthrough.


def test_seed_loss_matches_the_walkthrough(seed_logits, seed_targets):
    # 0.3185397696491857 is the seed notebook's manual float64 loss; composing
    # the steps via log_softmax may differ from it in the last bit only.
    loss = cross_entropy(seed_logits, seed_targets)
    assert loss.dtype == np.float64 and loss.shape == ()
    assert float(loss) == pytest.approx(0.3185397696491857, rel=1e-15, abs=0)
    # torch's float32 value in the seed is 0.31853973865509033; float32 sums in
    # another order may land one unit in the last place away.
    ours32 = cross_entropy(seed_logits.astype(np.float32), seed_targets)
    theirs32 = torch_cross_entropy(seed_logits.astype(np.float32), seed_targets)
    assert theirs32.item() == 0.31853973865509033
    rtol, atol = celoss.TOLERANCES["float32"]
    np.testing.assert_allclose(ours32, theirs32, rtol=rtol, atol=atol)


# The corners people get wrong, one regression test each.


def test_weighted_mean_divides_by_sum_of_target_weights_not_n():
    logits = np.array([[1.0, 2.0, 0.5], [0.3, 0.1, 2.0], [1.5, 1.5, 0.0]])
    targets = np.array([0, 2, 2])
    weight = np.array([1.0, 2.0, 4.0])
    losses = cross_entropy(logits, targets, weight=weight, reduction="none")
    mean = cross_entropy(logits, targets, weight=weight)
    assert mean == pytest.approx(losses.sum() / (1.0 + 4.0 + 4.0))
    assert mean != pytest.approx(losses.sum() / 3)
    np.testing.assert_allclose(mean, torch_cross_entropy(logits, targets, weight=weight),
                               rtol=1e-12)


def test_ignored_targets_count_in_neither_numerator_nor_denominator():
    logits = np.array([[1.0, 2.0, 0.5], [0.3, 0.1, 2.0], [1.5, 1.5, 0.0]])
    weight = np.array([1.0, 2.0, 4.0])
    with_ignored = cross_entropy(logits, np.array([0, -100, 1]), weight=weight)
    without = cross_entropy(logits[[0, 2]], np.array([0, 1]), weight=weight)
    assert with_ignored == pytest.approx(without, rel=1e-14)
    losses = cross_entropy(logits, np.array([0, -100, 1]), reduction="none")
    assert losses[1] == 0.0


@pytest.mark.parametrize("ignore_index", [-100, 2], ids=["ignore-100", "ignore-class-2"])
def test_label_smoothing_combined_with_weight_and_ignore_index(ignore_index):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(6, 4))
    targets = np.array([0, 1, 2, 3, ignore_index, 1])
    weight = np.array([0.5, 1.0, 2.0, 3.0])
    for reduction in ["mean", "sum", "none"]:
        options = dict(weight=weight, ignore_index=ignore_index, label_smoothing=0.2,
                       reduction=reduction)
        np.testing.assert_allclose(cross_entropy(logits, targets, **options),
                                   torch_cross_entropy(logits, targets, **options),
                                   rtol=1e-12)


def test_probability_targets_mean_divides_by_number_of_examples_not_weights():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 3))
    targets = celoss.softmax(rng.normal(size=(5, 3)), axis=1)
    weight = np.array([0.2, 5.0, 1.0])
    losses = cross_entropy(logits, targets, weight=weight, reduction="none")
    mean = cross_entropy(logits, targets, weight=weight)
    assert mean == pytest.approx(losses.sum() / 5)
    np.testing.assert_allclose(mean, torch_cross_entropy(logits, targets, weight=weight),
                               rtol=1e-12)


def test_all_ignored_mean_is_nan_and_gradient_is_zero():
    logits = np.array([[1.0, 2.0], [0.5, 0.1]])
    targets = np.array([-100, -100])
    assert math.isnan(cross_entropy(logits, targets))
    assert math.isnan(cross_entropy(logits, targets, label_smoothing=0.1,
                                    weight=np.array([1.0, 2.0])))
    assert cross_entropy(logits, targets, reduction="sum") == 0.0
    np.testing.assert_array_equal(cross_entropy_grad(logits, targets), np.zeros((2, 2)))


@pytest.mark.parametrize("probability", [False, True], ids=["index", "probability"])
def test_empty_batch(probability):
    logits = np.zeros((0, 4), dtype=np.float32)
    targets = np.zeros((0, 4), np.float32) if probability else np.zeros(0, dtype=np.int64)
    assert math.isnan(cross_entropy(logits, targets))
    assert cross_entropy(logits, targets, reduction="sum") == 0.0
    none = cross_entropy(logits, targets, reduction="none")
    assert none.shape == (0,) and none.dtype == np.float32
    assert cross_entropy_grad(logits, targets).shape == (0, 4)


SHAPES = {
    "unbatched": ((5,), ()),
    "unbatched-target-(1,)": ((5,), (1,)),
    "batched": ((3, 5), (3,)),
    "2d-image": ((2, 5, 4, 3), (2, 4, 3)),
    "1d-sequence": ((2, 5, 7), (2, 7)),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=["float16", "float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES.keys())
def test_output_shape_and_dtype_are_torchs(shapes, reduction, dtype):
    logits_shape, target_shape = shapes
    rng = np.random.default_rng(0)
    logits = rng.normal(size=logits_shape).astype(dtype)
    targets = rng.integers(0, 5, size=target_shape)
    ours = cross_entropy(logits, targets, reduction=reduction)
    theirs = torch_cross_entropy(logits, targets, reduction=reduction)
    assert isinstance(ours, np.ndarray)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if target_shape == (1,):
        # torch's forward takes a (1,) target for unbatched logits, its backward not.
        x = torch.tensor(logits, requires_grad=True)
        with pytest.raises(RuntimeError, match="size mismatch"):
            F.cross_entropy(x, torch.tensor(targets), reduction=reduction).sum().backward()
        with pytest.raises(ValueError, match=r"targets of shape \(1,\)"):
            cross_entropy_grad(logits, targets, reduction=reduction)
        return
    grad = cross_entropy_grad(logits, targets, reduction=reduction)
    assert grad.shape == logits.shape and grad.dtype == logits.dtype


def test_probability_targets_promote_dtype_as_torch():
    logits = np.zeros((2, 3), dtype=np.float32)
    targets = np.full((2, 3), 1 / 3, dtype=np.float64)
    assert cross_entropy(logits, targets).dtype == torch_cross_entropy(logits, targets).dtype
    assert cross_entropy_grad(logits, targets).dtype == np.float32


def test_inputs_are_never_modified():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3, 2))
    targets = np.array([[0, 1], [2, -100], [1, 1], [0, 2]])
    weight = np.array([1.0, 2.0, 3.0])
    copies = [a.copy() for a in (logits, targets, weight)]
    cross_entropy(logits, targets, weight=weight, label_smoothing=0.3)
    cross_entropy_grad(logits, targets, weight=weight, label_smoothing=0.3)
    for original, copy in zip((logits, targets, weight), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("magnitude", [1e4, -1e4, 1e30], ids=["+1e4", "-1e4", "1e30"])
def test_loss_and_gradient_are_finite_for_huge_logits(dtype, magnitude):
    logits = np.array([[magnitude, 0.0, -magnitude], [0.0, magnitude, 1.0]], dtype=dtype)
    targets = np.array([2, 0])
    for options in [{}, {"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 3.0])}]:
        loss = cross_entropy(logits, targets, **options)
        grad = cross_entropy_grad(logits, targets, **options)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(loss, torch_cross_entropy(logits, targets, **options),
                                   rtol=1e-6)


def test_minus_inf_logits_are_handled_as_torch():
    logits = np.array([[-np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0]])
    targets = np.array([1, 0])
    cases = [
        ({}, [None, math.inf]),  # loss of the -inf class is +inf
        ({"label_smoothing": 0.1}, [math.inf, math.inf]),
    ]
    for options, _ in cases:
        ours = cross_entropy(logits, targets, reduction="none", **options)
        theirs = torch_cross_entropy(logits, targets, reduction="none", **options)
        np.testing.assert_array_equal(ours, theirs)
    finite = cross_entropy(logits[:1], targets[:1])
    assert np.isfinite(finite)  # a -inf logit of another class costs nothing
    probs = celoss.softmax(logits[:1], axis=1)
    assert np.isnan(cross_entropy(logits[:1], probs))  # 0 * -inf, as in torch
    assert np.isnan(torch_cross_entropy(logits[:1], probs))


# The docstring formula, transcribed literally.


def literal_cross_entropy(x, y, w, ignore_index, eps, reduction):
    """The Notes formula of cross_entropy as loops over n and c, class indices."""
    num, num_classes = x.shape
    losses, weights = [], []
    for n in range(num):
        if y[n] == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        log_norm = math.log(sum(math.exp(x[n, k]) for k in range(num_classes)))
        log_p = [x[n, c] - log_norm for c in range(num_classes)]
        smooth = sum(w[c] * log_p[c] for c in range(num_classes))
        losses.append(-((1 - eps) * w[y[n]] * log_p[y[n]] + eps / num_classes * smooth))
        weights.append(w[y[n]])
    if reduction == "none":
        return np.array(losses)
    if reduction == "sum":
        return sum(losses)
    return sum(losses) / sum(weights)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_formula_transcribed_literally_class_indices(reduction):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(7, 4)) * 2
    y = np.array([0, 3, 1, -100, 2, 2, 0])
    w = rng.uniform(0.5, 2.0, size=4)
    expected = literal_cross_entropy(x, y, w, -100, 0.15, reduction)
    ours = cross_entropy(x, y, weight=w, label_smoothing=0.15, reduction=reduction)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_formula_transcribed_literally_probability_targets():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(5, 3))
    t = celoss.softmax(rng.normal(size=(5, 3)), axis=1)
    w = np.array([0.5, 1.0, 2.0])
    eps = 0.2
    total = 0.0
    for n in range(5):
        log_norm = math.log(sum(math.exp(x[n, k]) for k in range(3)))
        for c in range(3):
            t_smoothed = (1 - eps) * t[n, c] + eps / 3
            total += -w[c] * t_smoothed * (x[n, c] - log_norm)
    ours = cross_entropy(x, t, weight=w, label_smoothing=eps)
    assert ours == pytest.approx(total / 5, rel=1e-12)


# Bad input: the error names the argument and what was expected.

BAD_INPUTS = {
    "target-out-of-range": (dict(targets=np.array([0, 3])), IndexError, "class index 3"),
    "negative-target": (dict(targets=np.array([0, -1])), IndexError, "class index -1"),
    "shape-mismatch": (dict(targets=np.array([0, 1, 2])), ValueError, "targets shape"),
    "weight-wrong-length": (dict(weight=np.ones(4)), ValueError, "weight must have shape"),
    "weight-2d": (dict(weight=np.ones((1, 3))), ValueError, "weight must have shape"),
    "label-smoothing-above-1": (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
    "label-smoothing-negative": (dict(label_smoothing=-0.1), ValueError, "label_smoothing"),
    "unknown-reduction": (dict(reduction="avg"), ValueError, "reduction must be"),
    "float-index-targets": (dict(targets=np.array([0.0, 1.0])), TypeError, "integers"),
    "integer-probability-targets": (dict(targets=np.zeros((2, 3), dtype=int)), TypeError,
                                    "must be floating point"),
    "ignore-index-with-probabilities": (dict(targets=np.full((2, 3), 1 / 3), ignore_index=0),
                                        ValueError, "ignore_index=0"),
    "integer-logits": (dict(logits=np.ones((2, 3), dtype=int)), TypeError, "logits must be"),
    "scalar-logits": (dict(logits=np.array(1.0), targets=np.array(0)), ValueError,
                      "logits must have shape"),
    "no-classes": (dict(logits=np.ones((2, 0))), ValueError, "at least one class"),
    "float-ignore-index": (dict(ignore_index=1.5), TypeError, "ignore_index"),
    # operator.index(True) is 1: a bool would silently ignore class 1.
    "bool-ignore-index": (dict(ignore_index=True), TypeError, "ignore_index"),
}


@pytest.mark.parametrize("bad, error, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_an_error_naming_it(bad, error, message):
    arguments = {"logits": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
                 "targets": np.array([0, 2]), **bad}
    logits, targets = arguments.pop("logits"), arguments.pop("targets")
    with pytest.raises(error, match=message):
        cross_entropy(logits, targets, **arguments)
    with pytest.raises(error, match=message):
        cross_entropy_grad(logits, targets, **arguments)


@pytest.mark.parametrize(
    "bad",
    [k for k in BAD_INPUTS if k not in {"label-smoothing-negative", "float-ignore-index",
                                        "bool-ignore-index", "no-classes"}],
)
def test_torch_also_rejects_what_celoss_rejects(bad):
    arguments = {"logits": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
                 "targets": np.array([0, 2]), **BAD_INPUTS[bad][0]}
    logits, targets = arguments.pop("logits"), arguments.pop("targets")
    x = torch.tensor(logits)
    t = torch.tensor(targets)
    if "weight" in arguments:
        arguments["weight"] = torch.tensor(arguments["weight"], dtype=x.dtype)
    with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError)):
        F.cross_entropy(x, t, **arguments)


@pytest.mark.parametrize("ignore_index", [True, 1.5])
def test_torch_refuses_a_non_integer_ignore_index_with_a_type_error(ignore_index):
    with pytest.raises(TypeError):
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), ignore_index=ignore_index)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_probability_targets_promote_with_the_weight_as_in_torch(seed, label_smoothing):
    # torch multiplies the probabilities by the weight and promotes: float32
    # logits and targets with a float64 weight give a float64 loss; an integer
    # weight takes the float's dtype. (Class-index targets: see the docstring.)
    rng = np.random.default_rng(seed)
    dtypes = [np.float16, np.float32, np.float64]
    logits = rng.normal(size=(5, 4)).astype(dtypes[rng.integers(1, 3)])
    targets = rng.dirichlet(np.ones(4), size=5).astype(dtypes[rng.integers(1, 3)])
    for weight_dtype in [np.float16, np.float32, np.float64, np.int64]:
        weight = rng.integers(1, 4, size=4).astype(weight_dtype)
        ours = cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing)
        theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                                 weight=torch.tensor(weight), label_smoothing=label_smoothing)
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), weight_dtype
        # Both compute the log-softmax in the logits' dtype: the least precise input sets it.
        least_precise = "float32" if np.float32 in (logits.dtype, targets.dtype) else "float64"
        rtol, atol = celoss.TOLERANCES[least_precise]
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=rtol, atol=atol)
        grad = cross_entropy_grad(logits, targets, weight=weight,
                                  label_smoothing=label_smoothing)
        assert grad.dtype == logits.dtype


@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{"reduction": "none"}, {"reduction": "sum"},
                                     {"label_smoothing": 0.2}])
def test_a_wider_weight_with_float16_logits_and_class_indices_is_cast_to_float16(
        weight_dtype, options):
    # torch raises ("expected scalar type Half but found Float"); celoss casts the
    # weight to the logits' dtype, as for float32 logits, so the result is the
    # one torch gives for the float16 weight, not a float32 weight's.
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(300, 5)).astype(np.float16)
    targets = rng.integers(0, 5, size=300)
    weight = rng.uniform(0.1, 1.0, size=5).astype(weight_dtype)  # (C,): not float16 values
    half_weight = weight.astype(np.float16)
    theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                             weight=torch.tensor(half_weight), **options)
    loss = cross_entropy(logits, targets, weight=weight, **options)
    np.testing.assert_array_equal(loss, cross_entropy(logits, targets, weight=half_weight,
                                                      **options))
    assert loss.dtype == theirs.numpy().dtype
    rtol, atol = celoss.TOLERANCES["float16"]
    np.testing.assert_allclose(loss, theirs.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_array_equal(
        cross_entropy_grad(logits, targets, weight=weight, **options),
        cross_entropy_grad(logits, targets, weight=half_weight, **options))
    fused = celoss.fused_cross_entropy(logits, targets, weight=weight, return_grad=True,
                                       **options)
    fused_half = celoss.fused_cross_entropy(logits, targets, weight=half_weight,
                                            return_grad=True, **options)
    for ours, expected in zip(fused, fused_half, strict=True):
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_probability_products_are_rounded_one_at_a_time_as_torch(reduction):
    # torch makes a float16 tensor of log_probs * targets, then of its product
    # with the weight: each product beyond float16's range is inf before the sum.
    # Row 0: -32752 * 3.0 is -inf, and a weight of 0 makes it NaN. Row 1:
    # (-30000 * 1) * -3 is +inf, which -40000 from the next class cannot bring
    # back (celoss held the products in float32 and gave a finite -50000).
    masked = np.finfo(np.float16).min
    logits = np.array([[0.0, masked / 2, 0.0], [0.0, -30000.0, -20000.0]],
                      dtype=np.float16)  # (N, C)
    targets = np.array([[0.0, 3.0, 0.0], [0.0, 1.0, 2.0]], dtype=np.float16)  # (N, C)
    for weight in [np.array([1.0, 0.0, 1.0]), np.array([1.0, -3.0, 1.0])]:
        options = {"weight": weight.astype(np.float16), "reduction": reduction}
        ours = cross_entropy(logits, targets, **options)
        theirs = torch_cross_entropy(logits, targets, **options)
        _assert_float16_as_torch(ours, theirs)
        assert not np.all(np.isfinite(ours))


def test_a_float32_weight_beyond_float16s_range_is_cast_to_inf_without_a_warning():
    # The cast is silent, as torch's float16 weight would hold it: inf.
    logits = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0]], dtype=np.float16)  # (N, C)
    targets = np.array([2, 1])
    weight = np.array([1.0, 1e5, 1.0], dtype=np.float32)  # (C,): float16 holds 1e5 as inf
    for reduction in ["none", "sum"]:
        theirs = torch_cross_entropy(logits, targets, reduction=reduction,
                                     weight=np.array([1.0, np.inf, 1.0], dtype=np.float16))
        _assert_float16_as_torch(cross_entropy(logits, targets, weight=weight,
                                               reduction=reduction), theirs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_smoothing_products_with_class_indices_are_rounded_as_torch(reduction):
    # torch's smoothing term -(log_probs * weight).sum(1) makes a float16 tensor of
    # the products: -40000 * 2 is -inf and -30000 * -3 is +inf, so the row's sum
    # is NaN; in float32 they were -80000 + 90000 = 10000 and the loss finite.
    logits = np.array([[0.0, -40000.0, -30000.0], [0.0, 1.0, 2.0]], dtype=np.float16)
    targets = np.array([0, 2])
    options = {"weight": np.array([1.0, 2.0, -3.0], dtype=np.float16),
               "label_smoothing": 0.5, "reduction": reduction}
    ours = cross_entropy(logits, targets, **options)
    _assert_float16_as_torch(ours, torch_cross_entropy(logits, targets, **options))
    assert np.isnan(ours.flat[0])


# Unusual inputs and options, each against torch.


def test_unbatched_target_of_shape_1_with_label_smoothing_raises_as_torch():
    logits = np.random.default_rng(4).normal(size=5)
    targets = np.array([2])
    with pytest.raises(RuntimeError):  # torch: "output with shape [] doesn't match [1]"
        F.cross_entropy(torch.tensor(logits), torch.tensor(targets), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"shape \(1,\).*label_smoothing"):
        cross_entropy(logits, targets, label_smoothing=0.1)
    # Without smoothing torch's forward takes it: the same loss as a 0-d target.
    np.testing.assert_allclose(cross_entropy(logits, targets),
                               torch_cross_entropy(logits, targets), rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bool_weight_with_probability_targets_is_a_zero_one_weight_as_in_torch(seed, reduction):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(4, 5))
    targets = celoss.softmax(rng.normal(size=(4, 5)))
    weight = rng.random(5) < 0.6
    x = torch.tensor(logits, requires_grad=True)
    theirs = F.cross_entropy(x, torch.tensor(targets), weight=torch.tensor(weight),
                             reduction=reduction, label_smoothing=0.2)
    theirs.sum().backward()
    ours = cross_entropy(logits, targets, weight=weight, reduction=reduction,
                         label_smoothing=0.2)
    assert ours.dtype == theirs.detach().numpy().dtype
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12)
    grad = cross_entropy_grad(logits, targets, weight=weight, reduction=reduction,
                              label_smoothing=0.2)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("ignore_index", [2**63, -2**63 - 1])
def test_ignore_index_beyond_int64_raises_as_torch(ignore_index):
    logits, targets = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises((ValueError, RuntimeError)):
        F.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index=ignore_index)
    with pytest.raises(ValueError, match="ignore_index must fit in int64"):
        cross_entropy(logits, targets, ignore_index=ignore_index)


@pytest.mark.parametrize("seed", range(5))
def test_float16_logits_with_float64_targets_use_torchs_float16_log_probs(seed):
    # torch rounds the log-softmax of float16 logits to float16 and multiplies it
    # by the float64 targets in float64. Where our float16 log-probabilities are
    # torch's bit for bit, the float64 losses must agree to float64 precision.
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(3, 5, 4)) * 3).astype(np.float16)
    targets = celoss.softmax(rng.normal(size=(3, 5, 4)), axis=1)
    theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), reduction="none")
    ours = cross_entropy(logits, targets, reduction="none")
    assert ours.dtype == np.float64
    same_log_probs = np.all(celoss.log_softmax(logits, axis=1)
                            == torch.log_softmax(torch.tensor(logits), 1).numpy(), axis=1)
    assert same_log_probs.mean() > 0.5  # the test has rows to look at
    np.testing.assert_allclose(ours[same_log_probs], theirs.numpy()[same_log_probs],
                               rtol=1e-12)


def _random_case(rng, shape, dtype):
    """Logits, class-index targets, probability targets and a weight for ``shape``."""
    num_classes = shape[0] if len(shape) == 1 else shape[1]
    index_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    logits = rng.normal(size=shape).astype(dtype)
    targets = rng.integers(0, num_classes, size=index_shape)
    probabilities = celoss.softmax(rng.normal(size=shape), axis=0 if len(shape) == 1 else 1)
    weight = rng.uniform(0.1, 2.0, size=num_classes).astype(dtype)
    return logits, targets, probabilities.astype(dtype), weight


def _torch_loss_and_grad(logits, targets, weight=None, **options):
    """torch's loss and autograd gradient (of the sum) for native NumPy inputs."""
    x = torch.tensor(logits, requires_grad=True)
    w = None if weight is None else torch.tensor(weight)
    loss = F.cross_entropy(x, torch.tensor(targets), weight=w, **options)
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (3, 4, 2)], ids=["C", "NC", "NCd"])
def test_big_endian_inputs_give_torchs_native_results(shape, dtype, seed):
    # torch has no big-endian tensors, so its results are native float32 etc.; a
    # '>f2' array must also be computed in float32 like any float16 (it was not:
    # its dtype is not equal to np.float16).
    rng = np.random.default_rng(seed)
    logits, targets, probabilities, weight = _random_case(rng, shape, dtype)
    big = dtype(0).dtype.newbyteorder(">")
    for options in [dict(reduction="none", label_smoothing=0.2, weight=weight),
                    dict(reduction="mean")]:
        for target in (targets, probabilities):
            theirs, their_grad = _torch_loss_and_grad(logits, target, **options)
            big_options = {**options, "weight": None if "weight" not in options
                           else options["weight"].astype(big)}
            big_target = target.astype(target.dtype.newbyteorder(">"))
            ours = cross_entropy(logits.astype(big), big_target, **big_options)
            grad = cross_entropy_grad(logits.astype(big), big_target, **big_options)
            assert ours.dtype == theirs.dtype and grad.dtype == their_grad.dtype
            rtol, atol = {np.float16: (2e-3, 2e-3), np.float32: (1e-5, 1e-6),
                          np.float64: (1e-12, 1e-14)}[dtype]
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
            np.testing.assert_allclose(grad, their_grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("logits_dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_float16_probability_targets_are_smoothed_in_float16_as_in_torch(logits_dtype, seed):
    # torch computes (1 - eps) * t and eps / C in the targets' dtype: with float16
    # targets both are rounded to float16 before they are added. Smoothing in
    # float32 instead moved float32 losses by ~5e-4.
    rng = np.random.default_rng(seed)
    logits, _, _, weight = _random_case(rng, (6, 5), logits_dtype)
    targets = rng.uniform(0, 1, size=(6, 5)).astype(np.float16)
    for label_smoothing in [0.1, 0.3, 0.7]:
        for w in [None, weight]:
            options = dict(weight=w, label_smoothing=label_smoothing, reduction="none")
            theirs, their_grad = _torch_loss_and_grad(logits, targets, **options)
            ours = cross_entropy(logits, targets, **options)
            assert ours.dtype == theirs.dtype
            rtol = 1e-6 if logits_dtype == np.float32 else 1e-12
            np.testing.assert_allclose(ours, theirs, rtol=rtol)
            np.testing.assert_allclose(cross_entropy_grad(logits, targets, **options),
                                       their_grad, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("label_smoothing", ["0.2", np.array(0.2), np.array([0.2]), None, 0.2j],
                         ids=["str", "0-d-array", "1-element-array", "None", "complex"])
def test_label_smoothing_that_is_not_a_number_raises_type_error_as_torch(label_smoothing):
    logits, targets = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), np.array([0, 2])
    with pytest.raises(TypeError):
        F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                        label_smoothing=label_smoothing)
    with pytest.raises(TypeError, match="label_smoothing must be a real number"):
        cross_entropy(logits, targets, label_smoothing=label_smoothing)
    with pytest.raises(TypeError, match="label_smoothing must be a real number"):
        cross_entropy_grad(logits, targets, label_smoothing=label_smoothing)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("label_smoothing", [np.float32(0.25), np.float16(0.5), True, False, 1, 0,
                                             np.bool_(True)],
                         ids=["float32", "float16", "True", "False", "int-1", "int-0", "np.bool"])
def test_label_smoothing_of_any_number_type_is_accepted_as_torch(label_smoothing, seed):
    rng = np.random.default_rng(seed)
    logits, targets, probabilities, weight = _random_case(rng, (4, 5), np.float64)
    for target in (targets, probabilities):
        options = dict(weight=weight, label_smoothing=label_smoothing, reduction="none")
        theirs, their_grad = _torch_loss_and_grad(logits, target, **options)
        np.testing.assert_allclose(cross_entropy(logits, target, **options), theirs,
                                   rtol=1e-12)
        np.testing.assert_allclose(cross_entropy_grad(logits, target, **options),
                                   their_grad, rtol=1e-12, atol=1e-15)


def _assert_matches_torch(ours, theirs, dtype):
    """Same dtype, same NaN and inf positions, and values within celoss.TOLERANCES."""
    rtol, atol = celoss.TOLERANCES[np.dtype(dtype).name]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)  # inf must equal inf


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.1},
                                     {"probabilities": True}],
                         ids=["plain", "weight", "smoothing", "probabilities"])
def test_float16_mean_is_inf_when_the_float16_sum_overflows_as_in_torch(options, seed):
    # torch's cross-entropy stores the sum in float16 before the mean divides it:
    # 8192 losses near 9.5 sum beyond 65504, so torch's mean is inf (a float32
    # sum divided first would give 9.5).
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(8192, 10)) * 6).astype(np.float16)
    targets = rng.integers(0, 10, size=8192)
    if options.get("probabilities"):
        targets = celoss.softmax(rng.normal(size=(8192, 10)) * 3).astype(np.float16)
    weight = rng.uniform(0.5, 2.0, size=10).astype(np.float16) if "weight" in options else None
    smoothing = options.get("label_smoothing", 0.0)
    for reduction in ["mean", "sum"]:
        theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                                 weight=None if weight is None else torch.tensor(weight),
                                 reduction=reduction, label_smoothing=smoothing).numpy()
        ours = cross_entropy(logits, targets, weight=weight, reduction=reduction,
                             label_smoothing=smoothing)
        assert np.isinf(theirs)  # the test has the overflow it is about
        _assert_matches_torch(ours, theirs, np.float16)
    # A batch small enough for a finite sum keeps a finite mean in both.
    small = slice(0, 512)
    ours = cross_entropy(logits[small], targets[small], weight=weight, label_smoothing=smoothing)
    theirs = F.cross_entropy(torch.tensor(logits[small]), torch.tensor(targets[small]),
                             weight=None if weight is None else torch.tensor(weight),
                             label_smoothing=smoothing).numpy()
    assert np.isfinite(theirs)
    _assert_matches_torch(ours, theirs, np.float16)


@pytest.mark.parametrize("shape", [(70_000, 4), (2, 4, 40_000)], ids=["rows", "pixels"])
@pytest.mark.parametrize("options", [
    {}, {"weight": True}, {"label_smoothing": 0.01},
    {"label_smoothing": 0.01, "weight": True}, {"label_smoothing": 0.01, "ignore_index": 1},
    {"probabilities": True}, {"probabilities": True, "label_smoothing": 0.01},
], ids=["plain", "weight", "smoothing", "smoothing-weight", "smoothing-ignored",
        "probabilities", "probabilities-smoothing"])
def test_float16_mean_over_more_examples_than_float16_can_count_is_torchs(options, shape):
    # More than 65504 examples: a denominator stored in float16 is inf. torch
    # stores the sum of class weights in float16 (nll_loss's total weight) but
    # divides the probability targets' sum, and the unweighted smoothing
    # term's, by an integer count: confident predictions then give 0.054,
    # not 0.
    rng = np.random.default_rng(sum(shape))
    num_classes = shape[1]
    index_shape = (shape[0], *shape[2:])
    targets = rng.integers(0, num_classes, size=index_shape)
    one_hot = np.moveaxis(np.eye(num_classes)[targets], -1, 1)  # (N, C, ...)
    logits = (rng.normal(size=shape) * 0.1 + 4.0 * one_hot).astype(np.float16)
    if options.get("probabilities"):
        targets = one_hot.astype(np.float16)
    elif "ignore_index" in options:
        targets = np.where(rng.random(index_shape) < 0.3, options["ignore_index"], targets)
    kwargs = {"label_smoothing": options.get("label_smoothing", 0.0)}
    if "ignore_index" in options:
        kwargs["ignore_index"] = options["ignore_index"]
    if "weight" in options:
        kwargs["weight"] = rng.uniform(0.5, 2.0, size=num_classes).astype(np.float16)
    torch_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                    for k, v in kwargs.items()}
    for reduction in ["mean", "sum"]:
        theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                                 reduction=reduction, **torch_kwargs).numpy()
        ours = cross_entropy(logits, targets, reduction=reduction, **kwargs)
        _assert_matches_torch(ours, theirs, np.float16)
        if len(shape) == 2 and not options.get("probabilities"):
            fused = celoss.fused_cross_entropy(logits, targets, reduction=reduction, **kwargs)
            _assert_matches_torch(fused, theirs, np.float16)
    if options.get("probabilities"):
        assert np.isfinite(theirs) and theirs > 0  # the case this test is about


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype, masked", [(np.float16, -1e4), (np.float32, -3e38),
                                           (np.float64, -1.7e308)],
                         ids=["float16", "float32", "float64"])
def test_label_smoothing_sum_overflows_where_torchs_does(dtype, masked, seed):
    # torch sums -w_c log p_{n,c} over the classes, reduces, and only then scales
    # by eps / C. Masked logits (float16's -1e4, or near the float's limit) make
    # that sum overflow to inf; scaling each term by 1/C first kept it finite.
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, 12))
    logits[rng.random((6, 12)) < 0.6] = masked
    logits = logits.astype(dtype)
    targets = np.argmax(logits, axis=1)
    targets[rng.random(6) < 0.3] = -100
    weight = rng.uniform(0.5, 2.0, size=12).astype(dtype)
    for w in [None, weight]:
        for reduction in ["mean", "sum", "none"]:
            options = dict(weight=w, reduction=reduction, label_smoothing=0.2)
            theirs, _ = _torch_loss_and_grad(logits, targets, **options)
            _assert_matches_torch(cross_entropy(logits, targets, **options), theirs, dtype)
    with np.errstate(over="ignore"):  # the test has rows that overflow in torch
        assert np.isinf(_torch_loss_and_grad(logits, targets, weight=None,
                                             reduction="none", label_smoothing=0.2)[0]).any()


SPECIAL_LOGITS = [np.inf, -np.inf, np.nan, 0.0, 1e4, -1e4, 65504.0, 3e38, -3e38, 1e300]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=["float16", "float32", "float64"])
def test_extreme_logits_match_torch_without_warnings(dtype, seed):
    # inf, NaN and values near the float's limit (cast to float16 they overflow to
    # inf): torch's loss has NaN and inf in the same places, and raises no warning
    # (pytest turns a RuntimeWarning into a failure here).
    rng = np.random.default_rng(seed)
    shape = (3, 4) if seed % 3 else (3, 4, 2)
    logits = rng.normal(size=shape)
    mask = rng.random(shape) < 0.3
    logits[mask] = rng.choice(SPECIAL_LOGITS, size=mask.sum())
    with np.errstate(over="ignore"):
        logits = logits.astype(dtype)
    targets = rng.integers(0, 4, size=(3, *shape[2:]))
    targets[rng.random(targets.shape) < 0.2] = -100
    probabilities = rng.uniform(0, 1, size=shape).astype(dtype)
    weight = rng.uniform(0.5, 2.0, size=4).astype(dtype)
    weight[rng.integers(4)] = rng.choice([0.0, np.inf, np.nan])
    for target in (targets, probabilities):
        for options in [dict(reduction=r, label_smoothing=s, weight=w)
                        for r in ["mean", "sum", "none"] for s in [0.0, 0.3]
                        for w in [None, weight]]:
            theirs, their_grad = _torch_loss_and_grad(logits, target, **options)
            _assert_matches_torch(cross_entropy(logits, target, **options), theirs, dtype)
            _assert_matches_torch(cross_entropy_grad(logits, target, **options), their_grad,
                                  dtype)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(7,), (16, 9), (4, 9, 3)], ids=["C", "NC", "NCd"])
def test_float16_logits_with_float64_targets_match_torch_on_every_row(shape, seed):
    # torch's float16 log-softmax along the last axis rounds its normaliser and
    # log to float16 (celoss.log_softmax takes those steps for float16 input):
    # cross_entropy must hand it the float16 logits, not the float32 copy its
    # checks make, for the float64 loss to be torch's to float64 precision.
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=shape) * 3).astype(np.float16)
    axis = 0 if len(shape) == 1 else 1
    targets = celoss.softmax(rng.normal(size=shape), axis=axis)  # float64
    for reduction in ["none", "sum"]:
        theirs, their_grad = _torch_loss_and_grad(logits, targets, reduction=reduction)
        ours = cross_entropy(logits, targets, reduction=reduction)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        np.testing.assert_array_equal(cross_entropy_grad(logits, targets, reduction=reduction),
                                      their_grad)


# float16 rows masked with float16's minimum, with label smoothing.


def _assert_float16_as_torch(ours, theirs):
    """Within float16's tolerance, with inf and NaN in the same places."""
    rtol, atol = celoss.TOLERANCES["float16"]
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_row_masked_with_the_minimum_is_reduced_as_torch(reduction):
    # Row 0's class 3 is float16's minimum: its log-probability is -65504 in
    # torch's float16 log-softmax, and the row's smoothing sum, 65514, is held
    # in float16 (65504) before the batch is reduced, so the batch's sum,
    # 65512, stays finite. Summing the rows first gave 65522: inf in float16.
    logits = np.array([[5.0, 0.0, 0.0, np.finfo(np.float16).min],
                       [1.0, 2.0, 3.0, 4.0]], dtype=np.float16)  # (N, C)
    targets = np.array([0, 3])
    options = {"label_smoothing": 0.1, "reduction": reduction}
    _assert_float16_as_torch(cross_entropy(logits, targets, **options),
                             torch_cross_entropy(logits, targets, **options))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_probability_targets_are_summed_over_the_whole_batch_as_torch(reduction):
    # For a sum or mean, torch adds every element of -(log_probs * targets *
    # weight) at once: row 0's 65509 and row 1's 12.7 overflow float16 together
    # (inf), where rounding row 0 to 65504 first would keep the sum finite.
    masked = np.finfo(np.float16).min
    logits = np.array([[0.0, masked, -10.0], [-12.0, 0.0, 0.0]], dtype=np.float16)  # (N, C)
    targets = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=np.float16)  # (N, C)
    options = {"weight": np.array([1.0, 2.0, 1.0], dtype=np.float16), "reduction": reduction}
    _assert_float16_as_torch(cross_entropy(logits, targets, **options),
                             torch_cross_entropy(logits, targets, **options))

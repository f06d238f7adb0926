"""compare_with_torch: reports agreement, and names the step that disagrees."""

import importlib

import numpy as np
import pytest
import torch

import celoss
import celoss.parity as parity
from celoss import ParityError, compare_with_torch


def test_report_passes_and_lists_every_step(seed_logits, seed_targets):
    report = compare_with_torch(seed_logits, seed_targets, weight=np.array([1.0, 2.0, 3.0]))
    assert report.passed
    assert [c.step for c in report.steps] == ["softmax", "log_softmax", "correct_class_probs",
                                              "nll_loss", "cross_entropy", "cross_entropy_grad"]
    assert report.torch_version == torch.__version__ and report.numpy_version == np.__version__
    assert report.dtype == "float64" and report.options == {"weight": [1.0, 2.0, 3.0]}
    assert all(c.rtol == celoss.TOLERANCES["float64"][0] for c in report.steps)


def test_probability_targets_compare_the_soft_target_loss(seed_logits):
    report = compare_with_torch(seed_logits, celoss.softmax(seed_logits * 2, axis=1),
                                label_smoothing=0.1)
    assert "soft_target_loss" in [c.step for c in report.steps]


@pytest.mark.parametrize("step, target", [
    ("softmax", "softmax"),
    ("log_softmax", "log_softmax"),
    ("nll_loss", "nll_loss"),
    ("cross_entropy", "cross_entropy"),
    ("cross_entropy_grad", "cross_entropy_grad"),
])
def test_a_perturbed_celoss_step_raises_naming_the_step(monkeypatch, seed_logits,
                                                        seed_targets, step, target):
    original = getattr(parity, target)
    monkeypatch.setattr(parity, target, lambda *a, **k: original(*a, **k) * (1 + 1e-6))
    with pytest.raises(ParityError, match=f"step '{step}'.*max rel diff 1.0"):
        compare_with_torch(seed_logits, seed_targets)


def test_a_perturbed_torch_result_raises_naming_the_step(monkeypatch, seed_logits,
                                                         seed_targets):
    original = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda *a, **k: original(*a, **k) + 1e-3)
    with pytest.raises(ParityError, match="step 'cross_entropy'.*tolerance rtol=1e-10"):
        compare_with_torch(seed_logits, seed_targets)


def test_error_message_names_options_and_dtype(monkeypatch, seed_logits, seed_targets):
    monkeypatch.setattr(parity, "softmax", lambda *a, **k: np.zeros((2, 3)))
    with pytest.raises(ParityError, match=r"float32 logits of shape \(2, 3\), options "
                                          r"\{'reduction': 'sum', 'label_smoothing': 0.1\}"):
        compare_with_torch(seed_logits.astype(np.float32), seed_targets,
                           reduction="sum", label_smoothing=0.1)


def test_without_raising_the_report_records_the_failure(monkeypatch, seed_logits, seed_targets):
    monkeypatch.setattr(parity, "softmax", lambda *a, **k: np.zeros((2, 3)))
    report = compare_with_torch(seed_logits, seed_targets, raise_on_mismatch=False)
    assert not report.passed
    assert not report.step("softmax").passed and report.step("cross_entropy").passed


def test_a_dtype_mismatch_fails(monkeypatch, seed_logits, seed_targets):
    original = parity.cross_entropy
    monkeypatch.setattr(parity, "cross_entropy",
                        lambda *a, **k: original(*a, **k).astype(np.float32))
    with pytest.raises(ParityError, match="dtypes float32 vs float64"):
        compare_with_torch(seed_logits, seed_targets)


def test_compare_arrays_matches_non_finite_values_exactly():
    check = parity.compare_arrays
    assert check("s", np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0]),
                 "float64").passed
    assert not check("s", np.array([np.nan]), np.array([1.0]), "float64").passed
    assert not check("s", np.array([np.inf]), np.array([-np.inf]), "float64").passed
    assert not check("s", np.zeros(2), np.zeros(3), "float64").passed


def test_missing_torch_names_the_extra_to_install(monkeypatch, seed_logits, seed_targets):
    real_import = importlib.import_module

    def no_torch(name, *args):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args)

    monkeypatch.setattr(parity.importlib, "import_module", no_torch)
    with pytest.raises(ImportError, match=r"pip install 'celoss\[torch\]'"):
        compare_with_torch(seed_logits, seed_targets)


# ------------------------------------------------ chunked_linear_cross_entropy

def linear_problem(num_rows, dim, vocab, dtype, ignored=(), seed=0):
    """hidden (N, d), weight (V, d) leaves and targets (N,) with some rows ignored."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(num_rows, dim, generator=generator, dtype=dtype)  # (N, d)
    weight = torch.randn(vocab, dim, generator=generator, dtype=dtype)  # (V, d)
    targets = torch.randint(0, vocab, (num_rows,), generator=generator)  # (N,)
    targets[list(ignored)] = -100
    return hidden.requires_grad_(), weight.requires_grad_(), targets


def value_and_grads(loss_of, hidden, weight, targets, upstream=1.0):
    """loss_of's value and, through backward of upstream * loss, both gradients."""
    hidden = hidden.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    loss = loss_of(hidden, weight, targets)
    (upstream * loss).backward()
    return loss.detach(), hidden.grad, weight.grad


def assert_same(ours, theirs, dtype):
    rtol, atol = celoss.TOLERANCES[str(dtype).removeprefix("torch.")]
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol)


def unchunked(reduction="mean", ignore_index=-100):
    return lambda h, w, t: torch.nn.functional.cross_entropy(
        h @ w.T, t, reduction=reduction, ignore_index=ignore_index)


def chunked(chunk_rows, reduction="mean", ignore_index=-100):
    return lambda h, w, t: parity.chunked_linear_cross_entropy(
        h, w, t, chunk_rows=chunk_rows, reduction=reduction, ignore_index=ignore_index)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("num_rows, dim, vocab, chunk_rows, ignored", [
    (12, 5, 7, 4, ()),  # chunks divide N
    (13, 5, 7, 4, (0, 12)),  # a short last chunk; first and last rows ignored
    (9, 3, 50, 1, (4,)),  # one row per chunk
    (9, 3, 50, 100, (1, 2)),  # one chunk larger than N
    (40, 16, 300, 7, tuple(range(0, 40, 3))),  # a third of the rows ignored
], ids=["divides", "short-last-chunk", "one-row-chunks", "one-chunk", "many-ignored"])
def test_chunked_linear_cross_entropy_matches_torch_value_and_gradients(
        dtype, reduction, num_rows, dim, vocab, chunk_rows, ignored):
    problem = linear_problem(num_rows, dim, vocab, dtype, ignored)
    ours = value_and_grads(chunked(chunk_rows, reduction), *problem)
    assert_same(ours, value_and_grads(unchunked(reduction), *problem), dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_gradients_scale_with_the_upstream_gradient(reduction):
    problem = linear_problem(10, 4, 9, torch.float64, ignored=(3,))
    ours = value_and_grads(chunked(3, reduction), *problem, upstream=-2.5)
    assert_same(ours, value_and_grads(unchunked(reduction), *problem, upstream=-2.5),
                torch.float64)


def test_chunked_with_every_row_ignored_is_nan_for_the_mean_and_0_for_the_sum():
    # torch: a mean over no rows is 0 / 0 = NaN, with zero gradients.
    problem = linear_problem(6, 3, 5, torch.float64, ignored=range(6))
    for reduction in ("mean", "sum"):
        ours = value_and_grads(chunked(4, reduction), *problem)
        theirs = value_and_grads(unchunked(reduction), *problem)
        assert_same(ours, theirs, torch.float64)
        assert ours[0].isnan().item() == (reduction == "mean")
        assert not ours[1].any() and not ours[2].any()


def test_chunked_takes_any_ignore_index():
    problem = linear_problem(8, 3, 6, torch.float64)
    problem[2][[1, 5]] = 2  # class 2 is ignored below
    ours = value_and_grads(chunked(3, ignore_index=2), *problem)
    assert_same(ours, value_and_grads(unchunked(ignore_index=2), *problem), torch.float64)


def test_chunked_gradient_matches_finite_differences():
    hidden, weight, targets = linear_problem(5, 3, 4, torch.float64, ignored=(2,))
    _, grad_hidden, grad_weight = value_and_grads(chunked(2), hidden, weight, targets)
    step = 1e-6
    for tensor, grad in [(hidden, grad_hidden), (weight, grad_weight)]:
        numeric = torch.zeros_like(grad)
        for index in np.ndindex(*tensor.shape):
            with torch.no_grad():
                values = []
                for sign in (1, -1):
                    moved = tensor.detach().clone()
                    moved[index] += sign * step
                    pair = (moved, weight) if tensor is hidden else (hidden, moved)
                    values.append(parity.chunked_loss_and_grads(
                        *pair, targets, 2, -100, "mean")[0])
                numeric[index] = (values[0] - values[1]) / (2 * step)
        np.testing.assert_allclose(grad.numpy(), numeric.numpy(), rtol=1e-6, atol=1e-8)


def test_chunked_keeps_only_the_two_gradients_for_the_backward():
    hidden, weight, targets = linear_problem(64, 8, 100, torch.float32)
    shapes = {"chunked": [], "unchunked": []}
    for name, loss_of in [("chunked", chunked(16)), ("unchunked", unchunked())]:
        def pack(tensor, name=name):
            shapes[name].append(tuple(tensor.shape))
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss_of(hidden, weight, targets)
    assert sorted(shapes["chunked"]) == [(64, 8), (100, 8)]  # (N, d) and (V, d)
    assert (64, 100) in shapes["unchunked"]  # torch keeps an (N, V) log-softmax


def smallest_peak(function, repeats=3):
    """The least extra memory ``function()`` held, over a few calls after a warm-up.

    What the function allocates is the same every call; what the process
    does beside it is not (in about one pytest run in three, one of the first
    calls measured 8 MiB more: torch's thread pool and glibc's per-thread
    arenas settling). Each call only adds to the peak, so the smallest is
    the function's own.
    """
    from celoss.display import peak_memory

    function()  # warm up
    return min(peak_memory(function)[1] for _ in range(repeats))


def test_chunked_peak_memory_is_a_fraction_of_the_unchunked():
    hidden, weight, targets = linear_problem(1024, 32, 8192, torch.float32)  # logits 32 MiB
    peaks = {}
    for name, loss_of in [("chunked", chunked(64)), ("unchunked", unchunked())]:
        peaks[name] = smallest_peak(lambda f=loss_of: value_and_grads(f, hidden, weight,
                                                                       targets))
    logits_bytes = 1024 * 8192 * 4
    assert peaks["unchunked"] > 2 * logits_bytes  # logits, log-softmax, their gradients
    assert peaks["chunked"] < peaks["unchunked"] / 4  # a 64-row chunk is 2 MiB


def test_chunked_forward_holds_one_chunk_of_logits_at_a_time():
    hidden, weight, targets = linear_problem(1024, 16, 8192, torch.float32)
    hidden, weight = hidden.detach(), weight.detach()  # the loss only: no gradient arrays
    chunk_bytes = 128 * 8192 * 4  # 4 MiB
    loss_of = chunked(128)
    peak = smallest_peak(lambda: loss_of(hidden, weight, targets))
    assert peak < 1.5 * chunk_bytes  # not two chunks alive at once


def test_chunked_computes_only_the_gradients_autograd_asks_for():
    hidden, weight, targets = linear_problem(20, 4, 30, torch.float64, ignored=(2,))
    frozen = weight.detach()  # e.g. a tied or frozen output layer
    loss = parity.chunked_linear_cross_entropy(hidden, frozen, targets, chunk_rows=6)
    loss.backward()
    reference_hidden = hidden.detach().clone().requires_grad_()
    torch.nn.functional.cross_entropy(reference_hidden @ frozen.T, targets).backward()
    np.testing.assert_allclose(hidden.grad.numpy(), reference_hidden.grad.numpy(),
                               rtol=1e-10, atol=1e-12)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t,
                                                  lambda t: t):
        parity.chunked_linear_cross_entropy(hidden, frozen, targets, chunk_rows=6)
    assert saved == [(20, 4)]  # no (V, d) gradient for the frozen weight
    with torch.no_grad():  # e.g. a validation loss: the value only
        value = parity.chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=6)
    assert value.grad_fn is None
    assert value.item() == pytest.approx(
        torch.nn.functional.cross_entropy(hidden @ weight.T, targets).item(), rel=1e-12)


def test_chunked_under_bfloat16_autocast_matches_float32():
    hidden, weight, targets = linear_problem(40, 16, 300, torch.float32, ignored=(3,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = value_and_grads(chunked(16), hidden, weight, targets)
    reference = value_and_grads(chunked(16), hidden, weight, targets)  # float32
    assert ours[0].dtype == torch.float32  # as autocast's own cross-entropy
    assert [grad.dtype for grad in ours[1:]] == [torch.float32, torch.float32]
    assert_same(ours, reference, torch.float32)  # autocast changes nothing inside
    half = value_and_grads(chunked(16), hidden.bfloat16(), weight.bfloat16(), targets)
    assert [grad.dtype for grad in half[1:]] == [torch.bfloat16, torch.bfloat16]
    np.testing.assert_allclose(half[0].item(), reference[0].item(), rtol=1e-2)


def test_chunked_second_derivative_raises_instead_of_returning_zero():
    hidden, weight, targets = linear_problem(8, 3, 5, torch.float64)
    loss = parity.chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=3)
    with pytest.raises(RuntimeError, match="no second derivative"):
        torch.autograd.grad(loss, hidden, create_graph=True)
    loss = parity.chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=3)
    (grad_hidden,) = torch.autograd.grad(loss, hidden)  # a first derivative is fine
    assert grad_hidden.shape == hidden.shape


@pytest.mark.parametrize("options, message", [
    ({"reduction": "none"}, 'reduction must be "mean" or "sum"'),
    ({"chunk_rows": 0}, "chunk_rows must be at least 1"),
], ids=["reduction-none", "chunk-rows-0"])
def test_chunked_rejects_what_it_does_not_support(options, message):
    hidden, weight, targets = linear_problem(4, 3, 5, torch.float64)
    with pytest.raises(ValueError, match=message):
        parity.chunked_linear_cross_entropy(hidden, weight, targets, **options)


def test_chunked_rejects_shapes_that_do_not_fit():
    hidden, weight, targets = linear_problem(4, 3, 5, torch.float64)
    with pytest.raises(ValueError, match=r"hidden \(N, d\), weight \(V, d\).*\(4, 3\), "
                                         r"\(5, 2\) and \(4,\)"):
        parity.chunked_linear_cross_entropy(hidden, weight[:, :2], targets)


# ------------------------------------------------------ compare_binary_with_torch


@pytest.mark.parametrize("dtypes", [("float32", "float64", "float16"),
                                    ("float64", "float32", "float64"),
                                    ("float16", "float64", "float32"),
                                    ("float64", "float16", "float16")])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_comparison_passes_on_mixed_dtypes_and_catches_an_error(dtypes, reduction,
                                                                       monkeypatch):
    """Each step is judged at the coarser of the logits' and the result's dtype."""
    logits_dtype, targets_dtype, weight_dtype = dtypes
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((5, 3)) * 3).astype(logits_dtype)
    targets = rng.uniform(0, 1, (5, 3)).astype(targets_dtype)
    options = {"weight": rng.uniform(0.5, 2, 3).astype(weight_dtype),
               "pos_weight": rng.uniform(0.5, 3, 3).astype(weight_dtype),
               "reduction": reduction}
    report = parity.compare_binary_with_torch(logits, targets, **options)
    assert report.passed
    loss_step = report.steps[2]
    assert loss_step.step == "binary_cross_entropy_with_logits"
    coarsest = max(celoss.TOLERANCES[logits_dtype], celoss.TOLERANCES[targets_dtype])
    assert (loss_step.rtol, loss_step.atol) == coarsest
    # One part in a hundred off is beyond even float16's tolerance: caught.
    real = parity.binary_cross_entropy_with_logits
    monkeypatch.setattr(parity, "binary_cross_entropy_with_logits",
                        lambda *args, **kwargs: (real(*args, **kwargs) * 1.01).astype(
                            np.dtype(targets_dtype)))
    with pytest.raises(ParityError, match="binary_cross_entropy_with_logits"):
        parity.compare_binary_with_torch(logits, targets, **options)

"""The comparison with PyTorch: every step, the loss and its gradient.

This is the only module of celoss that imports torch, and it does so lazily,
when a comparison runs: the math modules stay copyable with NumPy alone.
:func:`compare_with_torch` runs each step in celoss and the matching torch
operation on the same input and raises :class:`ParityError` at the first
disagreement beyond the dtype's tolerance.
"""

import dataclasses
import functools
import importlib

import numpy as np

from .binary import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    log_sigmoid,
    sigmoid,
)
from .correct_class import class_axis, correct_class_probs
from .gradient import cross_entropy_grad
from .loss import cross_entropy
from .nll import nll_loss, soft_target_loss
from .probabilities import log_softmax, softmax

#: ``(rtol, atol)`` per dtype, the one place tolerances are stated. A value
#: passes when ``|celoss - torch| <= atol + rtol * |torch|``; NaN must meet NaN
#: and an infinity the same infinity. float64 leaves room only for summation
#: order; float32 for a few units in the last place; float16 for torch
#: rounding its intermediate log-softmax to half precision.
TOLERANCES = {
    "float64": (1e-10, 1e-12),
    "float32": (2e-5, 1e-6),
    "float16": (5e-3, 2e-3),
}


class ParityError(AssertionError):
    """celoss and PyTorch disagree on a step beyond the dtype's tolerance."""


@dataclasses.dataclass(frozen=True)
class StepCheck:
    """One step compared: its largest differences and whether they pass."""

    step: str
    max_abs_diff: float
    max_rel_diff: float
    rtol: float
    atol: float
    passed: bool


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """Every step of one input compared with torch."""

    options: dict
    dtype: str
    logits_shape: tuple
    steps: list
    torch_version: str
    numpy_version: str

    @property
    def passed(self):
        """True when every step is within tolerance."""
        return all(check.passed for check in self.steps)

    def step(self, name):
        """The :class:`StepCheck` called ``name``."""
        return next(check for check in self.steps if check.step == name)

    def __str__(self):
        lines = [f"{self.dtype} logits {self.logits_shape} {self.options}"]
        lines += [
            f"  {c.step:<24} max abs {c.max_abs_diff:.2e}  max rel {c.max_rel_diff:.2e}"
            f"  {'ok' if c.passed else 'FAIL'}"
            for c in self.steps
        ]
        return "\n".join(lines)


def import_torch():
    """Import torch, or say which extra installs it.

    Returns
    -------
    torch : module
        The ``torch`` package.

    Raises
    ------
    ImportError
        With the install command, when torch is missing.
    """
    try:
        return importlib.import_module("torch")
    except ImportError as error:
        raise ImportError(
            "celoss.parity compares with PyTorch, which is not installed: "
            "pip install 'celoss[torch]'"
        ) from error


def compare_arrays(step, ours, theirs, dtype):
    """Compare two arrays with the tolerance of ``dtype``.

    Parameters
    ----------
    step : str
        Name of the step, for the report.
    ours, theirs : ndarray
        celoss's and torch's results, of the same shape.
    dtype : str
        Key of :data:`TOLERANCES`.

    Returns
    -------
    check : StepCheck
        Largest absolute difference over the finite entries, largest relative
        difference over the finite entries larger than ``atol``, and whether
        every entry passes (non-finite ones must match exactly).
    """
    rtol, atol = TOLERANCES[dtype]
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return StepCheck(step, np.inf, np.inf, rtol, atol, False)
    finite = np.isfinite(ours) & np.isfinite(theirs)
    same_nonfinite = np.array_equal(ours[~finite], theirs[~finite], equal_nan=True)
    abs_diff = np.abs(ours[finite] - theirs[finite])
    # Relative differences of values below atol say nothing: leave them out.
    large = np.abs(theirs[finite]) > atol
    rel_diff = abs_diff[large] / np.abs(theirs[finite][large])
    max_abs = float(abs_diff.max(initial=0.0))
    max_rel = float(rel_diff.max(initial=0.0))
    within = bool(np.all(abs_diff <= atol + rtol * np.abs(theirs[finite])))
    return StepCheck(step, max_abs, max_rel, rtol, atol, within and same_nonfinite)


class _Checks:
    """Collects :class:`StepCheck` results for one input; raises on the first failure."""

    def __init__(self, dtype, shape, shown_options, raise_on_mismatch):
        self.dtype, self.shape, self.shown_options = dtype, shape, shown_options
        self.raise_on_mismatch = raise_on_mismatch
        self.steps = []

    def __call__(self, step, ours, theirs):
        theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
        ours = np.asarray(ours)
        # The coarser tolerance of the logits' dtype and the result's: the
        # binary loss has the targets' dtype, which may be coarser or finer.
        dtype = max([self.dtype, theirs.dtype.name],
                    key=lambda name: TOLERANCES.get(name, (0.0, 0.0)))
        result = compare_arrays(step, ours, theirs, dtype)
        if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
            result = dataclasses.replace(result, passed=False)
        self.steps.append(result)
        if self.raise_on_mismatch and not result.passed:
            raise ParityError(
                f"celoss and torch disagree at step {step!r} for {self.dtype} logits of "
                f"shape {self.shape}, options {self.shown_options or 'default'}: "
                f"max abs diff {result.max_abs_diff:.3e}, max rel diff "
                f"{result.max_rel_diff:.3e}, tolerance rtol={result.rtol:g} "
                f"atol={result.atol:g}; shapes {ours.shape} vs {theirs.shape}, "
                f"dtypes {ours.dtype} vs {theirs.dtype}"
            )

    def report(self, torch):
        return ParityReport(self.shown_options, self.dtype, self.shape, self.steps,
                            torch.__version__, np.__version__)


def _shown(options, defaults):
    """The options that differ from their defaults, arrays as short lists."""
    shown = {}
    for name, value in options.items():
        if value is None and defaults[name] is None:
            continue
        if isinstance(value, np.ndarray | list | tuple):
            shown[name] = np.asarray(value).round(4).tolist()
        elif value != defaults[name]:
            shown[name] = value
    return shown


def compare_with_torch(logits, targets, *, weight=None, ignore_index=-100,
                       reduction="mean", label_smoothing=0.0, raise_on_mismatch=True):
    """Run every step in celoss and in torch on one input and compare.

    The steps are softmax, log-softmax, the correct-class probabilities
    (class-index targets), the per-example loss (``F.nll_loss`` or the
    probability-target loss), the full loss (``F.cross_entropy``, shape and
    dtype included) and its gradient (torch autograd). Both sides compute in
    the logits' dtype.

    Parameters
    ----------
    logits, targets, weight, ignore_index, reduction, label_smoothing
        As in :func:`celoss.cross_entropy`.
    raise_on_mismatch : bool, default True
        Raise :class:`ParityError` on the first failing step instead of
        returning a failing report.

    Returns
    -------
    report : ParityReport
        One :class:`StepCheck` per step, with the torch and numpy versions.

    Raises
    ------
    ParityError
        Naming the step, the options, the dtype, the largest absolute and
        relative differences and the tolerance.
    ImportError
        If torch is not installed.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import compare_with_torch

    report = compare_with_torch(np.array([[2.0, 1.0, 0.1]]), np.array([0]))
    print(report.passed, len(report.steps), report.steps[-1].step)
    #> True 6 cross_entropy_grad
    ```
    """
    torch = import_torch()
    functional = torch.nn.functional
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    options = {"weight": weight, "ignore_index": ignore_index,
               "reduction": reduction, "label_smoothing": label_smoothing}
    defaults = {"weight": None, "ignore_index": -100, "reduction": "mean",
                "label_smoothing": 0.0}
    check = _Checks(logits.dtype.name, logits.shape, _shown(options, defaults),
                    raise_on_mismatch)
    axis = class_axis(logits.ndim)
    probability_targets = targets.shape == logits.shape

    x = torch.tensor(logits, requires_grad=True)
    t = torch.tensor(targets) if probability_targets else torch.tensor(targets, dtype=torch.long)
    w = None if weight is None else torch.tensor(np.asarray(weight), dtype=x.dtype)

    with torch.no_grad():
        torch_log_probs = torch.log_softmax(x, dim=axis)
        check("softmax", softmax(logits, axis=axis), torch.softmax(x, dim=axis))
        check("log_softmax", log_softmax(logits, axis=axis), torch_log_probs)
        if probability_targets:
            smoothed = t
            if label_smoothing > 0:
                smoothed = t * (1 - label_smoothing) + label_smoothing / logits.shape[axis]
            check("soft_target_loss",
                  soft_target_loss(log_softmax(logits, axis=axis),
                                   smoothed.numpy(), weight=weight),
                  functional.cross_entropy(x, smoothed, weight=w, reduction="none"))
        else:
            safe = np.where(targets != ignore_index, targets, 0)
            check("correct_class_probs",
                  correct_class_probs(softmax(logits, axis=axis), safe),
                  torch.softmax(x, dim=axis).gather(
                      axis, torch.tensor(safe, dtype=torch.long).unsqueeze(axis)
                  ).squeeze(axis))
            check("nll_loss",
                  nll_loss(log_softmax(logits, axis=axis), targets, weight=weight,
                           ignore_index=ignore_index),
                  functional.nll_loss(torch_log_probs, t, weight=w,
                                      ignore_index=ignore_index, reduction="none"))
    loss = functional.cross_entropy(x, t, weight=w, ignore_index=ignore_index,
                                    reduction=reduction, label_smoothing=label_smoothing)
    check("cross_entropy", cross_entropy(logits, targets, **options), loss)
    (loss.sum() if reduction == "none" else loss).backward()
    check("cross_entropy_grad", cross_entropy_grad(logits, targets, **options), x.grad)
    return check.report(torch)


def compare_binary_with_torch(logits, targets, *, weight=None, pos_weight=None,
                              reduction="mean", raise_on_mismatch=True):
    """Compare the binary loss, step by step, with torch.

    The steps are the sigmoid, the log-sigmoid, the loss
    (``F.binary_cross_entropy_with_logits``, shape and dtype included) and its
    gradient (torch autograd). The weights reach torch in their own dtypes.
    Each step passes within :data:`TOLERANCES` of the coarser of the logits'
    dtype and the step's result dtype (the loss has the targets' dtype).

    Parameters
    ----------
    logits, targets, weight, pos_weight, reduction
        As in :func:`celoss.binary_cross_entropy_with_logits`.
    raise_on_mismatch : bool, default True
        Raise :class:`ParityError` on the first failing step.

    Returns
    -------
    report : ParityReport
        One :class:`StepCheck` per step.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.parity import compare_binary_with_torch

    report = compare_binary_with_torch(np.array([2.0, -1.0]), np.array([1.0, 0.0]),
                                       pos_weight=np.array([3.0, 3.0]))
    print(report.passed, [check.step for check in report.steps][-1])
    #> True binary_cross_entropy_with_logits_grad
    ```
    """
    torch = import_torch()
    functional = torch.nn.functional
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    options = {"weight": weight, "pos_weight": pos_weight, "reduction": reduction}
    defaults = {"weight": None, "pos_weight": None, "reduction": "mean"}
    check = _Checks(logits.dtype.name, logits.shape, _shown(options, defaults),
                    raise_on_mismatch)
    x = torch.tensor(logits, requires_grad=True)
    torch_options = {name: value if name == "reduction" or value is None
                     else torch.tensor(np.asarray(value))  # its own dtype, as celoss reads it
                     for name, value in options.items()}
    with torch.no_grad():
        check("sigmoid", sigmoid(logits), torch.sigmoid(x))
        check("log_sigmoid", log_sigmoid(logits), functional.logsigmoid(x))
    loss = functional.binary_cross_entropy_with_logits(x, torch.tensor(targets),
                                                       **torch_options)
    check("binary_cross_entropy_with_logits",
          binary_cross_entropy_with_logits(logits, targets, **options), loss)
    (loss.sum() if reduction == "none" else loss).backward()
    check("binary_cross_entropy_with_logits_grad",
          binary_cross_entropy_with_logits_grad(logits, targets, **options), x.grad)
    return check.report(torch)


def chunked_loss_and_grads(hidden, weight, targets, chunk_rows, ignore_index, reduction,
                           need_hidden=True, need_weight=True):
    r"""The loss of ``hidden @ weight.T`` and its gradients, ``chunk_rows`` rows at a time.

    The body of :func:`chunked_linear_cross_entropy`'s forward. It records no
    autograd graph and builds no array of shape (N, V): the one (R, V) array,
    a chunk's logits, is turned in place into their exponentials, the softmax
    and its gradient, and released before the next chunk's is made. float16
    and bfloat16 inputs are computed in float32, with autocast off, as
    autocast computes cross-entropy; the gradients come back in the inputs'
    dtypes.

    Parameters
    ----------
    hidden : torch.Tensor of shape (N, d)
        The last hidden states $h_n$.
    weight : torch.Tensor of shape (V, d)
        The output layer's weight $W$; the logits are $x_n = W h_n$.
    targets : torch.Tensor of int, shape (N,)
        Class indices $y_n$, or ``ignore_index``.
    chunk_rows : int
        R, rows per chunk.
    ignore_index : int
        Target value that counts for nothing.
    reduction : {"mean", "sum"}
        Mean over the rows not ignored, or sum.
    need_hidden, need_weight : bool, default True
        Whether to compute $\partial \ell / \partial h$ and
        $\partial \ell / \partial W$; without them only the loss is computed.

    Returns
    -------
    loss : torch.Tensor of shape ()
        $\ell$, in float32 for float16 or bfloat16 inputs; NaN for a mean
        over no rows, as in torch.
    grad_hidden : torch.Tensor of shape (N, d) or None
        $\partial \ell / \partial h$, if ``need_hidden``.
    grad_weight : torch.Tensor of shape (V, d) or None
        $\partial \ell / \partial W$, if ``need_weight``.
    """
    torch = import_torch()
    dtype = torch.promote_types(hidden.dtype, weight.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32  # as autocast runs cross-entropy
    device = hidden.device
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        hidden_c, weight_c = hidden.to(dtype), weight.to(dtype)  # (N, d), (V, d)
        num_rows = hidden.shape[0]
        kept = targets != ignore_index  # (N,)
        count = kept.sum().to(dtype)  # (): the mean's denominator
        scale = 1 / count if reduction == "mean" else torch.ones((), dtype=dtype,
                                                                device=device)  # ()
        total = torch.zeros((), dtype=dtype, device=device)  # (): sum of the losses
        grad_hidden = torch.empty_like(hidden_c) if need_hidden else None  # (N, d)
        grad_weight = torch.zeros_like(weight_c) if need_weight else None  # (V, d)
        for start in range(0, num_rows, chunk_rows):
            rows = slice(start, min(start + chunk_rows, num_rows))
            h = hidden_c[rows]  # (R, d)
            kept_rows = kept[rows]  # (R,)
            safe_targets = torch.where(kept_rows, targets[rows], 0)  # (R,)
            logits = h @ weight_c.T  # (R, V): the only (R, V) array
            correct = logits.gather(1, safe_targets[:, None])  # (R, 1)
            row_max = logits.amax(dim=1, keepdim=True)  # (R, 1)
            exps = logits.sub_(row_max).exp_()  # (R, V): e^{x - m}, in place
            sums = exps.sum(dim=1, keepdim=True)  # (R, 1)
            losses = sums.log() - (correct - row_max)  # (R, 1): lse - x_y
            total += torch.where(kept_rows, losses[:, 0], 0).sum()  # ()
            if need_hidden or need_weight:
                grad_logits = exps.div_(sums)  # (R, V): p, in place
                grad_logits[torch.arange(len(h), device=device), safe_targets] -= 1
                grad_logits *= torch.where(kept_rows, scale, 0)[:, None]  # (R, V)
                if need_hidden:
                    grad_hidden[rows] = grad_logits @ weight_c  # (R, d)
                if need_weight:
                    grad_weight.addmm_(grad_logits.T, h)  # (V, d): += G^T h
            # Release the chunk's (R, V) array before the next chunk's is made.
            logits = exps = grad_logits = None
        loss = total / count if reduction == "mean" else total  # ()
    if grad_hidden is not None:
        grad_hidden = grad_hidden.to(hidden.dtype)  # (N, d)
    if grad_weight is not None:
        grad_weight = grad_weight.to(weight.dtype)  # (V, d)
    return loss, grad_hidden, grad_weight


@functools.cache
def chunked_function():
    """The ``torch.autograd.Function`` behind :func:`chunked_linear_cross_entropy`.

    Made on first use, so that importing celoss never imports torch. The
    forward computes the loss and the gradients autograd will ask for (for
    an upstream gradient of 1) and keeps only those gradients; the backward
    scales them by the upstream gradient. Nothing of size (N, V) is kept
    between the two. The backward is not itself differentiable: asked for a
    graph of it (``create_graph=True``), it raises.
    """
    torch = import_torch()

    class ChunkedLinearCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, hidden, weight, targets, chunk_rows, ignore_index, reduction):
            need_hidden, need_weight = ctx.needs_input_grad[:2]
            loss, grad_hidden, grad_weight = chunked_loss_and_grads(
                hidden, weight, targets, chunk_rows, ignore_index, reduction,
                need_hidden=need_hidden, need_weight=need_weight)
            ctx.save_for_backward(grad_hidden, grad_weight)  # (N, d), (V, d) or None
            return loss  # ()

        @staticmethod
        def backward(ctx, grad_output):
            if torch.is_grad_enabled():  # create_graph=True: a derivative of this backward
                raise RuntimeError(
                    "chunked_linear_cross_entropy has no second derivative: its backward "
                    "scales gradients the forward computed; use F.cross_entropy for that")
            grad_hidden, grad_weight = ctx.saved_tensors
            scaled = [None if grad is None else grad_output.to(grad.dtype) * grad
                      for grad in (grad_hidden, grad_weight)]
            # d loss / d hidden and d weight, then None for the four other inputs.
            return *scaled, None, None, None, None

    return ChunkedLinearCrossEntropy


def chunked_linear_cross_entropy(hidden, weight, targets, *, chunk_rows=256,
                                 ignore_index=-100, reduction="mean"):
    r"""Cross-entropy of a language model's output layer without its (N, V) logits.

    In training, the logits $x = h W^\top$ of N positions over a vocabulary
    of V tokens are the largest arrays of the step, and autograd keeps a
    log-softmax that size for the backward. This function takes the hidden
    states and the output layer's weight instead, and runs over the rows
    in chunks: each chunk's logits, loss and gradients are computed in the
    forward and the logits dropped; only the gradients with respect to
    ``hidden`` and ``weight``, (N, d) and (V, d), are kept for the
    backward, and only those autograd will ask for (none under
    ``torch.no_grad()``, none for a frozen weight). Memory beyond the
    inputs: one chunk's logits, ``chunk_rows`` x V, while the forward runs;
    the kept gradients, the sizes of ``hidden`` and ``weight``; and, in the
    backward, one more array of each size (the gradients scaled by the
    upstream gradient). Under ``torch.autocast``, or for float16 and
    bfloat16 inputs, it computes in float32 (as autocast runs cross-entropy)
    and returns a float32 loss; half-precision inputs then also hold float32
    copies of ``hidden`` and ``weight`` and build their gradients in float32.

    Parameters
    ----------
    hidden : torch.Tensor of shape (N, d)
        Hidden states $h_n$, floating point (flatten (B, T, d) to (B*T, d)).
    weight : torch.Tensor of shape (V, d)
        The output layer's weight $W$ (``nn.Linear(d, V, bias=False).weight``).
    targets : torch.Tensor of int, shape (N,)
        Class indices $y_n$ in ``[0, V)`` or ``ignore_index``.
    chunk_rows : int, default 256
        Rows per chunk: memory against the number of matrix products.
    ignore_index : int, default -100
        Target value that contributes to neither the loss, the mean's
        denominator, nor the gradients.
    reduction : {"mean", "sum"}, default "mean"
        As in ``torch.nn.functional.cross_entropy``.

    Returns
    -------
    loss : torch.Tensor of shape ()
        ``F.cross_entropy(hidden @ weight.T, targets, ...)``, differentiable
        with respect to ``hidden`` and ``weight``.

    Raises
    ------
    ValueError
        For a reduction other than "mean" or "sum", ``chunk_rows < 1``, or
        shapes that do not fit together.
    ImportError
        If torch is not installed.

    Notes
    -----
    With $p_n = \mathrm{softmax}(W h_n)$, $e_{y_n}$ the one-hot vector of
    the target (1 at $y_n$, 0 elsewhere),
    $s_n = 1/D$ for the mean over the $D$ rows not ignored ($1$ for the sum)
    and $s_n = 0$ for an ignored row, the gradient of the logits is
    $g_n = s_n (p_n - e_{y_n})$, and

    $$\frac{\partial \ell}{\partial h_n} = W^\top g_n, \qquad
    \frac{\partial \ell}{\partial W} = \sum_n g_n h_n^\top$$

    summed chunk by chunk. Not supported: class weights, label smoothing,
    ``reduction="none"``, probability targets, a bias, gradients for the
    targets, and a second derivative (``create_graph=True`` raises an error
    rather than dropping the term).

    Examples
    --------
    ```python
    import torch
    import torch.nn.functional as F
    from celoss.parity import chunked_linear_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(6, 4, requires_grad=True)  # (N, d)
    weight = torch.randn(10, 4, requires_grad=True)  # (V, d)
    targets = torch.tensor([1, 5, -100, 9, 0, 3])  # (N,): one ignored
    loss = chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=4)
    loss.backward()
    reference = F.cross_entropy(hidden @ weight.T, targets)
    print(f"{loss.item():.5f} {reference.item():.5f}", tuple(weight.grad.shape))
    #> 3.38282 3.38282 (10, 4)
    ```
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f'reduction must be "mean" or "sum", got {reduction!r} '
                         '(for "none", use torch.nn.functional.cross_entropy)')
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if (hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1]
            or targets.shape != hidden.shape[:1]):
        raise ValueError(
            "expected hidden (N, d), weight (V, d) and targets (N,), got "
            f"{tuple(hidden.shape)}, {tuple(weight.shape)} and {tuple(targets.shape)}")
    return chunked_function().apply(hidden, weight, targets, chunk_rows, ignore_index,
                                    reduction)

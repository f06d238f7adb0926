"""The comparison with PyTorch: every step, the loss and its gradient.

This is the only module of celoss that imports torch, and it does so lazily,
when a comparison runs: the math modules stay copyable with NumPy alone.
:func:`compare_with_torch` runs each step in celoss and the matching torch
operation on the same input and raises :class:`ParityError` at the first
disagreement beyond the dtype's tolerance.
"""

import dataclasses
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
        result = compare_arrays(step, ours, theirs, self.dtype)
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
    gradient (torch autograd).

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
                     else torch.tensor(np.asarray(value), dtype=x.dtype)
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

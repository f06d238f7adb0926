"""Checks shared by every cross-entropy entry point, with torch's rules.

Each check raises where ``torch.nn.functional.cross_entropy`` raises, with a
message that names the argument and what was expected. What passes is
returned normalised, so the math modules never re-check.
"""

import numbers
import operator
from typing import NamedTuple

import numpy as np

from ._dtypes import native, require_floating, widen_half
from .correct_class import class_axis
from .reduction import REDUCTIONS


class CrossEntropyInputs(NamedTuple):
    """Checked inputs of a cross-entropy call."""

    logits: np.ndarray  # (N, C, ...) floating, float16 widened to float32
    targets: np.ndarray  # (N, ...) int, or (N, C, ...) floating probabilities
    weight: np.ndarray | None  # (C,) in the logits' dtype (float16 widened); with
    # probability targets, promoted with them as torch promotes
    ignore_index: int
    reduction: str
    label_smoothing: float
    class_axis: int
    num_classes: int
    probability_targets: bool
    dtype: np.dtype  # dtype of the loss, as torch would return it
    logits_dtype: np.dtype  # dtype of the caller's logits, and of the gradient
    targets_dtype: np.dtype  # dtype of the caller's targets (float16 smoothing rounds to it)


def check_inputs(logits, targets, weight, ignore_index, reduction, label_smoothing,
                 name="logits"):
    """Check and normalise the arguments of ``cross_entropy``.

    Parameters
    ----------
    logits, targets, weight, ignore_index, reduction, label_smoothing
        As in :func:`celoss.cross_entropy`.
    name : str, default "logits"
        What the messages call the first argument (``nll_loss`` takes
        log-probabilities).

    Returns
    -------
    inputs : CrossEntropyInputs
        The same arguments as arrays, with the class axis, C, the kind of
        targets and the result dtype.

    Raises
    ------
    TypeError
        Non-floating logits, non-integer class-index targets, non-floating
        probability targets, a non-integer ignore_index, a label_smoothing
        that is not a real number.
    ValueError
        Wrong shapes, a weight of the wrong length, label_smoothing outside
        [0, 1], an unknown reduction, a non-negative ignore_index with
        probability targets, an ignore_index beyond int64, a target of shape
        (1,) for unbatched logits with label_smoothing.
    IndexError
        A class index outside [0, C) that is not ignore_index.
    """
    logits = require_floating(logits, name)  # native byte order, as torch's tensors
    targets = native(np.asarray(targets))
    if logits.ndim == 0:
        raise ValueError(
            f"{name} must have shape (C,), (N, C) or (N, C, d1, ..., dK), got shape ()"
        )
    axis = class_axis(logits.ndim)
    num_classes = logits.shape[axis]
    if num_classes == 0:
        raise ValueError(f"{name} must have at least one class, got shape {logits.shape}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    # torch takes a number (NumPy's included), never a string or an array.
    if not isinstance(label_smoothing, (numbers.Real, np.bool_)):
        raise TypeError(
            f"label_smoothing must be a real number, got {type(label_smoothing).__name__}"
        )
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    try:
        if isinstance(ignore_index, (bool, np.bool_)):
            raise TypeError  # operator.index(True) is 1: torch refuses a bool
        ignore_index = operator.index(ignore_index)
    except TypeError:
        raise TypeError(
            f"ignore_index must be an integer, got {type(ignore_index).__name__}"
        ) from None
    if not -2**63 <= ignore_index < 2**63:  # torch holds it in an int64
        raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")

    # float16 is computed in float32 and rounded back at the end, as torch's CPU
    # kernels accumulate half precision in float.
    result_dtype = logits.dtype
    logits = widen_half(logits)
    probability_targets = targets.shape == logits.shape  # torch's rule: same shape
    loss_dtype = result_dtype  # promoted below with probability targets, as torch does
    if weight is not None:
        weight = native(np.asarray(weight))
        if weight.shape != (num_classes,):
            raise ValueError(
                f"weight must have shape (C,) = ({num_classes},), one weight per "
                f"class, got shape {weight.shape}"
            )
        # torch multiplies probabilities by a bool weight (as 0 and 1), but has no
        # class-index kernel for one.
        real = (np.issubdtype(weight.dtype, np.floating)
                or np.issubdtype(weight.dtype, np.integer)
                or (probability_targets and weight.dtype == np.bool_))
        if not real:
            raise TypeError(f"weight must be a real array, got dtype {weight.dtype}")
        if probability_targets and np.issubdtype(weight.dtype, np.floating):
            # Probabilities meet the weight in a product, and torch promotes it:
            # float32 logits with a float64 weight give a float64 loss.
            loss_dtype = np.result_type(loss_dtype, weight.dtype)
            weight = weight.astype(np.result_type(logits.dtype, weight.dtype))
        else:
            # Cast to the caller's dtype (float16 included) before widening, so a
            # float32 weight with float16 logits is the float16 weight torch wants
            # (beyond 65504, inf: silently, as torch's float16 weight holds it).
            with np.errstate(over="ignore"):
                weight = widen_half(weight.astype(result_dtype))

    if probability_targets:
        if not np.issubdtype(targets.dtype, np.floating):
            raise TypeError(
                f"targets of the {name}' shape {logits.shape} are class probabilities "
                f"and must be floating point, got dtype {targets.dtype}; class indices "
                f"have shape {_index_shape(logits.shape)}"
            )
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index={ignore_index} is not supported with class-probability "
                "targets (it applies to class indices only); leave it at -100"
            )
        return CrossEntropyInputs(
            logits, widen_half(targets), weight, ignore_index, reduction,
            label_smoothing, axis, num_classes, True,
            np.result_type(loss_dtype, targets.dtype),  # torch promotes
            result_dtype, targets.dtype,
        )

    expected = _index_shape(logits.shape)
    if logits.ndim == 1 and targets.shape == (1,):
        if label_smoothing > 0:  # torch's smoothing term cannot broadcast (1,) to ()
            raise ValueError(
                f"targets of shape (1,) for unbatched {name} of shape {logits.shape} "
                "cannot be combined with label_smoothing; give a 0-d target"
            )
        targets = targets.reshape(())  # torch accepts (1,) for one example
    if targets.shape != expected:
        raise ValueError(
            f"targets shape {targets.shape} does not match {name} shape "
            f"{logits.shape}: expected {expected} for class indices or "
            f"{logits.shape} for class probabilities"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(
            f"targets of shape {targets.shape} are class indices and must be "
            f"integers, got dtype {targets.dtype}; class probabilities have the "
            f"{name}' shape {logits.shape}"
        )
    out_of_range = (targets != ignore_index) & ((targets < 0) | (targets >= num_classes))
    if np.any(out_of_range):
        bad = targets[out_of_range].flat[0]
        raise IndexError(
            f"targets: class index {bad} is out of range for C={num_classes} classes "
            f"(expected 0 <= y_n < {num_classes}, or ignore_index={ignore_index})"
        )
    return CrossEntropyInputs(
        logits, targets, weight, ignore_index, reduction, label_smoothing,
        axis, num_classes, False, result_dtype, result_dtype, targets.dtype,
    )


def _index_shape(logits_shape):
    """Shape of class-index targets for logits of ``logits_shape``."""
    if len(logits_shape) == 1:
        return ()
    return (logits_shape[0], *logits_shape[2:])

r"""Binary cross-entropy with logits: one independent yes/no per output.

Where softmax cross-entropy picks one class out of C, binary cross-entropy
scores every output on its own: the sigmoid turns each logit into the
probability of "yes", and the loss is the negative log-likelihood of the
target $y \in [0, 1]$. A two-class softmax is the sigmoid of the logits'
difference, so the two losses meet there.

The loss and its gradient take torch's steps in torch's dtypes: where torch
updates an array in place, the result is rounded back to that array's dtype
(``_torch_cast`` below). In float16 this is what makes the two agree where
terms cancel: both then carry the same rounding error.
"""

from typing import NamedTuple

import numpy as np

from ._dtypes import as_real_float, native, require_floating, widen_half
from .reduction import REDUCTIONS, reduce_loss


def sigmoid(logits):
    r"""The logistic function $\sigma(x) = 1 / (1 + e^{-x})$, without overflow.

    $e^{-x}$ overflows for very negative $x$; writing the function with
    $e^{-|x|} \le 1$ on both sides of 0 avoids it.

    Parameters
    ----------
    logits : array_like of shape (N,)
        Any shape. Integer or bool logits are computed in float32, as
        ``torch.sigmoid`` computes them.

    Returns
    -------
    probs : ndarray of the logits' shape
        Values in [0, 1]; the logits' floating dtype in native byte order
        (float32 for integer logits). float16 is computed in float32 and
        rounded once, as torch does.

    Raises
    ------
    TypeError
        Complex logits (``torch.sigmoid`` takes them, but the stable form
        below compares $x$ with 0, which needs real numbers) and arrays that
        are not numbers.

    Notes
    -----
    $$\sigma(x) = \begin{cases} \dfrac{1}{1 + e^{-x}} & x \ge 0 \\[1ex]
    \dfrac{e^{x}}{1 + e^{x}} & x < 0 \end{cases}$$

    Below about $x = -88.7$ in float32 and $x = -709.8$ in float64, where
    $\sigma(x)$ is a subnormal number, torch returns 0 and this function the
    subnormal value. Elsewhere the two differ by a few units in the last
    place in float32 and float64; in float16, where both round a float32
    value once, in 6 of the 63,488 finite values (next to a tie), by one
    unit.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import sigmoid

    print(sigmoid(np.array([-1000.0, 0.0, 2.0])).round(4))
    #> [0.     0.5    0.8808]
    ```
    """
    logits = as_real_float(logits)  # torch: integer and bool logits give float32
    wide = widen_half(logits)  # (N,)
    small = np.exp(-np.abs(wide))  # (N,), in [0, 1]
    probs = np.where(wide >= 0, 1 / (1 + small), small / (1 + small))  # (N,)
    return np.asarray(probs).astype(logits.dtype, copy=False)  # (N,)


def log_sigmoid(logits):
    r"""$\log \sigma(x)$, finite wherever $x$ is.

    $\log \sigma(x) = -\log(1 + e^{-x})$ overflows for very negative $x$;
    splitting off $\min(x, 0)$ keeps the exponent at or below 0.

    Parameters
    ----------
    logits : array_like of shape (N,)
        Any shape, floating point.

    Returns
    -------
    log_probs : ndarray of the logits' shape
        Values $\le 0$, in the logits' dtype (float16 is computed in float32
        and rounded once, as torch does).

    Raises
    ------
    TypeError
        Integer or bool logits (``F.logsigmoid`` raises for them too).

    Notes
    -----
    $$\log \sigma(x) = \min(x, 0) - \log\left(1 + e^{-|x|}\right)$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import log_sigmoid

    print(log_sigmoid(np.array([-1000.0, 0.0, 2.0])).round(4))
    #> [-1.000e+03 -6.931e-01 -1.269e-01]
    ```
    """
    logits = require_floating(logits)
    wide = widen_half(logits)  # (N,)
    with np.errstate(invalid="ignore"):  # NaN logits stay NaN
        log_probs = np.minimum(wide, 0) - np.log1p(np.exp(-np.abs(wide)))  # (N,)
    return np.asarray(log_probs).astype(logits.dtype, copy=False)  # (N,)


class BinaryInputs(NamedTuple):
    """Checked arguments of the binary loss."""

    logits: np.ndarray  # (N, C), floating
    targets: np.ndarray  # (N, C), floating
    weight: np.ndarray | None  # broadcasts to (N, C); bool, integer or floating
    pos_weight: np.ndarray | None  # broadcasts to (N, C); integer or floating


def _check_binary(logits, targets, weight, pos_weight, reduction):
    """Check the arguments of the binary loss; return them as arrays."""
    logits = require_floating(logits)
    targets = native(np.asarray(targets))  # torch has no big-endian tensors
    if targets.shape != logits.shape:  # torch: "Target size ... must be the same as input size"
        raise ValueError(
            f"targets shape {targets.shape} must be the same as the logits' shape "
            f"{logits.shape}"
        )
    if not np.issubdtype(targets.dtype, np.floating):  # torch cannot write a float loss into them
        raise TypeError(
            f"targets must be floating point (0.0 / 1.0 or probabilities), got dtype "
            f"{targets.dtype}; convert with targets.astype(logits.dtype)"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    kinds = {"weight": (np.bool_, np.integer, np.floating),
             "pos_weight": (np.integer, np.floating)}  # torch cannot compute True - 1
    checked = {}
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            checked[name] = None
            continue
        value = native(np.asarray(value))
        if not any(np.issubdtype(value.dtype, kind) for kind in kinds[name]):
            allowed = " or ".join(kind.__name__.strip("_") for kind in kinds[name])
            raise TypeError(f"{name} must be {allowed}, got dtype {value.dtype}")
        try:
            shape = np.broadcast_shapes(value.shape, logits.shape)
        except ValueError:
            shape = None
        if shape != logits.shape:  # a weight may not add axes or stretch the logits, as in torch
            raise ValueError(
                f"{name} of shape {value.shape} does not broadcast to the logits' "
                f"shape {logits.shape}"
            )
        checked[name] = value
    return BinaryInputs(logits, targets, checked["weight"], checked["pos_weight"])


def _torch_cast(array, dtype):
    """``array`` rounded to ``dtype`` as torch rounds it.

    torch stores the result of an in-place operation in the array's own
    dtype, and turns float64 into float16 through float32 (``c10::Half`` is
    built from a float): rounding twice, which differs from NumPy's single
    rounding in about 1 value in 20000.
    """
    array = np.asarray(array)
    if dtype == np.float16 and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array.astype(dtype, copy=False)


def _as_torch_operand(value, array, *, right_factor=False):
    """``value`` as torch reads it in an operation with the floating ``array``.

    Between arrays with axes torch promotes as NumPy does. A 0-d ``value``
    (when ``array`` has axes), an integer or a bool one never raises
    ``array``'s dtype: torch casts it to that dtype (a 0-d float64
    ``pos_weight`` of 3.7 meets float16 targets as 3.699), except as the
    right factor of a float16 product (``right_factor``), which torch's
    kernel reads in float32.
    """
    promotes = (np.issubdtype(value.dtype, np.floating)
                and (np.ndim(value) > 0 or np.ndim(array) == 0))
    if promotes:
        return value
    if right_factor and array.dtype == np.float16:
        return np.asarray(value, dtype=np.float32)  # the product is rounded to float16 once
    return _torch_cast(value, array.dtype)


def binary_cross_entropy_with_logits(logits, targets, *, weight=None, pos_weight=None,
                                     reduction="mean"):
    r"""Binary cross-entropy of sigmoid(logits), exactly as PyTorch computes it.

    ``torch.nn.functional.binary_cross_entropy_with_logits`` in NumPy. Every
    element is its own yes/no question. ``pos_weight`` (one value per output
    class) scales the "yes" term to rebalance rare positives; ``weight``
    scales whole elements. The mean divides by the
    number of elements, whatever the weights.

    The loss has the targets' dtype, as in torch 2.13: float64 logits with
    float32 targets give a float32 loss (the gradient keeps the logits'
    dtype). Each step is rounded to the dtype torch rounds it to, and
    half-precision losses are summed in float32 and rounded once, as torch
    accumulates them.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Logits $x_{n,c}$, floating point; any shape, 0-d and empty included.
    targets : array_like of shape (N, C)
        Targets $y_{n,c}$, floating point, the logits' shape. Usually in
        [0, 1]; like torch, other values are used as given, unchecked.
    weight : array_like, optional
        Element weights $w_{n,c}$ (bool, integer or floating); must broadcast
        to the logits' shape without changing it.
    pos_weight : array_like of shape (C,), optional
        Weight $w^+_c$ of the positive term (integer or floating); must
        broadcast to the logits' shape without changing it. Broadcasting
        aligns the last axes, so ``(C,)`` fits logits ``(N, C)``; for
        ``(N, C, H, W)`` give ``(C, 1, 1)``, as torch's documentation says (a
        ``(C,)`` array would weight the last axis, W, or raise).
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the element losses. The mean of no elements is NaN, as
        in torch.

    Returns
    -------
    loss : ndarray of shape ()
        The reduced loss, or the element losses (the logits' shape) for
        ``"none"``; the targets' dtype (in native byte order), whatever the
        dtypes of the logits and the weights, as in torch.

    Raises
    ------
    TypeError
        Non-floating logits or targets (torch raises for both), a bool
        ``pos_weight``, a complex weight.
    ValueError
        Targets of another shape than the logits, weights that do not
        broadcast to the logits' shape (or that broadcast to a larger one),
        an unknown reduction.

    Notes
    -----
    $$l_{n,c} = -w_{n,c}\left[w^+_c\, y_{n,c} \log \sigma(x_{n,c})
    + (1 - y_{n,c}) \log\left(1 - \sigma(x_{n,c})\right)\right]$$

    computed as $(1 - y)\,x - \left((w^+ - 1)\,y + 1\right) \log \sigma(x)$,
    using $\log(1 - \sigma(x)) = \log \sigma(x) - x$.

    References
    ----------
    PyTorch documentation, ``torch.nn.BCEWithLogitsLoss``.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import binary_cross_entropy_with_logits

    logits = np.array([[2.0, -1.0], [0.5, 3.0]])
    targets = np.array([[1.0, 0.0], [0.0, 1.0]])
    print(f"{float(binary_cross_entropy_with_logits(logits, targets)):.6f}")
    #> 0.365714
    ```
    """
    logits, targets, weight, pos_weight = _check_binary(logits, targets, weight, pos_weight,
                                                        reduction)
    # 0 * inf is NaN and float16 overflows to inf, as in torch, without a warning.
    with np.errstate(invalid="ignore", over="ignore"):
        log_probs = log_sigmoid(logits)  # (N, C)
        if pos_weight is not None:
            log_weight = _as_torch_operand(pos_weight - 1, targets) * targets + 1  # (N, C)
            log_probs = _torch_cast(log_probs * log_weight, logits.dtype)  # (N, C)
        losses = _torch_cast((1 - targets) * logits, targets.dtype)  # (N, C)
        losses = _torch_cast(losses - log_probs, targets.dtype)  # (N, C)
        if weight is not None:
            weight = _as_torch_operand(weight, losses, right_factor=True)  # loss.mul_(weight)
            losses = _torch_cast(losses * weight, losses.dtype)  # (N, C)
        # reduce_loss sums half precision in float32 and rounds once, as torch does.
        loss = reduce_loss(losses, reduction)  # ()
        return np.asarray(loss).astype(targets.dtype, copy=False)  # torch: the targets' dtype


def binary_cross_entropy_with_logits_grad(logits, targets, *, weight=None, pos_weight=None,
                                          reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to the logits.

    Without ``pos_weight`` it is the familiar $\sigma(x) - y$, scaled by the
    element weight (and by $1 / (NC)$ for the mean); ``pos_weight`` scales
    the pull towards "yes".

    Parameters
    ----------
    logits, targets, weight, pos_weight, reduction
        As in :func:`binary_cross_entropy_with_logits`; for ``"none"`` this is
        the gradient of the sum of the element losses.

    Returns
    -------
    grad : ndarray of the logits' shape
        $\partial \ell / \partial x_{n,c}$, in the logits' dtype whatever the
        targets' dtype, as torch's autograd returns it.

    Notes
    -----
    $$\frac{\partial l_{n,c}}{\partial x_{n,c}} = w_{n,c}\left[\left(w^+_c\, y_{n,c}
    + 1 - y_{n,c}\right) \sigma(x_{n,c}) - w^+_c\, y_{n,c}\right]$$

    which is $w_{n,c}\,(\sigma(x_{n,c}) - y_{n,c})$ when $w^+_c = 1$. This is
    the expression torch's backward evaluates, in the same order and
    dtypes. Where its two terms nearly cancel, their rounding error is the
    result's: in float16, $x = 2.78$, $y = 0.9834$, $w^+ = 3.602$ give
    $-0.1953$ (torch's value too) for the exact $-0.1914$. The one
    difference left is the sigmoid's: where a float16 $\sigma(x)$ rounds the
    other way from torch's (see :func:`sigmoid`), the gradient differs by
    that unit times $w^+_c y_{n,c} + 1 - y_{n,c}$.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import binary_cross_entropy_with_logits_grad

    grad = binary_cross_entropy_with_logits_grad(np.array([2.0, -1.0]), np.array([1.0, 0.0]),
                                                 reduction="sum")
    print(grad.round(4))
    #> [-0.1192  0.2689]
    ```
    """
    logits, targets, weight, pos_weight = _check_binary(logits, targets, weight, pos_weight,
                                                        reduction)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
        probs = sigmoid(logits)  # (N, C)
        if pos_weight is None:
            grad = _torch_cast(probs - targets, logits.dtype)  # (N, C)
        else:
            positive = _as_torch_operand(pos_weight, targets) * targets  # (N, C): w+ y
            scaled_probs = _torch_cast((positive + 1 - targets) * probs, positive.dtype)  # (N, C)
            grad = scaled_probs - positive  # (N, C)
        if weight is not None:
            weight = _as_torch_operand(weight, grad, right_factor=True)  # torch: grad.mul_(weight)
            grad = _torch_cast(grad * weight, grad.dtype)  # (N, C)
        if reduction == "mean":  # torch divides half precision in float32
            grad = _torch_cast(widen_half(grad) / max(logits.size, 1), grad.dtype)  # (N, C)
        return _torch_cast(grad, logits.dtype)  # (N, C); autograd: the logits' dtype

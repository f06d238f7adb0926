r"""Binary cross-entropy with logits: one independent yes/no per output.

Where softmax cross-entropy picks one class out of C, binary cross-entropy
scores every output on its own: the sigmoid turns each logit into the
probability of "yes", and the loss is the negative log-likelihood of the
target $y \in [0, 1]$. A two-class softmax is the sigmoid of the logits'
difference, so the two losses meet there.
"""

import numpy as np

from ._validation import _widen_half, require_floating
from .reduction import REDUCTIONS, reduce_loss


def sigmoid(logits):
    r"""The logistic function $\sigma(x) = 1 / (1 + e^{-x})$, without overflow.

    $e^{-x}$ overflows for very negative $x$; writing the function with
    $e^{-|x|} \le 1$ on both sides of 0 avoids it.

    Parameters
    ----------
    logits : array_like of shape (N,)
        Any shape.

    Returns
    -------
    probs : ndarray of the logits' shape
        Values in [0, 1].

    Notes
    -----
    $$\sigma(x) = \begin{cases} \dfrac{1}{1 + e^{-x}} & x \ge 0 \\[1ex]
    \dfrac{e^{x}}{1 + e^{x}} & x < 0 \end{cases}$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import sigmoid

    print(sigmoid(np.array([-1000.0, 0.0, 2.0])).round(4))
    #> [0.     0.5    0.8808]
    ```
    """
    logits = np.asarray(logits)
    small = np.exp(-np.abs(logits))  # (N,), in (0, 1]
    return np.where(logits >= 0, 1 / (1 + small), small / (1 + small))  # (N,)


def log_sigmoid(logits):
    r"""$\log \sigma(x)$, finite wherever $x$ is.

    $\log \sigma(x) = -\log(1 + e^{-x})$ overflows for very negative $x$;
    splitting off $\min(x, 0)$ keeps the exponent at or below 0.

    Parameters
    ----------
    logits : array_like of shape (N,)
        Any shape.

    Returns
    -------
    log_probs : ndarray of the logits' shape
        Values $\le 0$.

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
    logits = np.asarray(logits)
    with np.errstate(invalid="ignore"):  # NaN logits stay NaN
        return np.minimum(logits, 0) - np.log1p(np.exp(-np.abs(logits)))  # (N,)


def _check_binary(logits, targets, weight, pos_weight, reduction):
    """Check the arguments of the binary loss; return them as arrays."""
    logits = require_floating(logits)
    targets = np.asarray(targets)
    if not np.issubdtype(targets.dtype, np.floating):
        raise TypeError(
            f"targets must be floating point (0.0 / 1.0 or probabilities), got dtype "
            f"{targets.dtype}; convert with targets.astype(logits.dtype)"
        )
    if targets.shape != logits.shape:
        raise ValueError(
            f"targets shape {targets.shape} must be the logits' shape {logits.shape}"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            continue
        try:
            shape = np.broadcast_shapes(np.shape(value), logits.shape)
        except ValueError:
            shape = None
        if shape != logits.shape:  # a weight may not add axes or stretch the logits, as in torch
            raise ValueError(
                f"{name} of shape {np.shape(value)} does not broadcast to the logits' "
                f"shape {logits.shape}"
            )
    return logits, targets


def binary_cross_entropy_with_logits(logits, targets, *, weight=None, pos_weight=None,
                                     reduction="mean"):
    r"""Binary cross-entropy of sigmoid(logits), exactly as PyTorch computes it.

    ``torch.nn.functional.binary_cross_entropy_with_logits`` in NumPy. Every
    element is its own yes/no question. ``pos_weight`` (broadcast along the
    last axis, one value per output) scales the "yes" term to rebalance rare
    positives; ``weight`` scales whole elements. The mean divides by the
    number of elements, whatever the weights.

    The loss has the targets' dtype, as in torch 2.13: float64 logits with
    float32 targets give a float32 loss (the gradient keeps the logits'
    dtype). Half-precision losses are summed in float32 and rounded once, as
    torch accumulates them.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Logits $x_{n,c}$, floating point; any shape.
    targets : array_like of shape (N, C)
        Targets $y_{n,c}$ in [0, 1], floating point, the logits' shape.
    weight : array_like, optional
        Element weights $w_{n,c}$; must broadcast to the logits' shape
        without changing it.
    pos_weight : array_like of shape (C,), optional
        Weight $p_c$ of the positive term; must broadcast to the logits'
        shape without changing it.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the element losses.

    Returns
    -------
    loss : ndarray of shape ()
        The reduced loss, or the element losses (the logits' shape) for
        ``"none"``; the targets' dtype, whatever the dtypes of the logits and
        the weights, as in torch. It is computed in the promoted dtype of the
        logits and targets (summed in at least float32) and converted to the
        targets' dtype at the end; torch rounds some intermediates to the
        targets' dtype, so mixed dtypes can differ from it by that rounding.

    Raises
    ------
    TypeError
        Non-floating logits or targets.
    ValueError
        Mismatched shapes, weights that do not broadcast to the logits'
        shape (or that broadcast to a larger one), an unknown reduction.

    Notes
    -----
    $$l_{n,c} = -w_{n,c}\left[p_c\, y_{n,c} \log \sigma(x_{n,c})
    + (1 - y_{n,c}) \log\left(1 - \sigma(x_{n,c})\right)\right]$$

    computed as $(1 - y)\,x - \left((p - 1)\,y + 1\right) \log \sigma(x)$,
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
    logits, targets = _check_binary(logits, targets, weight, pos_weight, reduction)
    dtype = np.result_type(logits, targets)  # the dtype the losses are computed in
    log_probs = log_sigmoid(logits)  # (N, C)
    if pos_weight is not None:
        log_weight = (np.asarray(pos_weight, dtype=dtype) - 1) * targets + 1  # (N, C)
        log_probs = log_probs * log_weight  # (N, C)
    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, as in torch
        losses = (1 - targets) * logits - log_probs  # (N, C)
    if weight is not None:
        losses = losses * np.asarray(weight, dtype=dtype)  # (N, C)
    if reduction != "none":  # torch sums half precision in float32: 2 x 40000 overflows float16
        losses = _widen_half(losses)  # (N, C)
    loss = reduce_loss(losses, reduction)  # ()
    with np.errstate(over="ignore"):  # a sum beyond float16's range is inf, as in torch
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
    $$\frac{\partial l_{n,c}}{\partial x_{n,c}} = w_{n,c}\left[(1 - y_{n,c})
    - \left((p_c - 1)\,y_{n,c} + 1\right)\left(1 - \sigma(x_{n,c})\right)\right]$$

    which is $w_{n,c}\,(\sigma(x_{n,c}) - y_{n,c})$ when $p_c = 1$.

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
    logits, targets = _check_binary(logits, targets, weight, pos_weight, reduction)
    dtype = np.result_type(logits, targets)  # the dtype the gradient is computed in
    log_weight = 1 if pos_weight is None else (
        (np.asarray(pos_weight, dtype=dtype) - 1) * targets + 1)  # (N, C)
    grad = (1 - targets) - log_weight * sigmoid(-logits)  # (N, C); 1 - sigma(x) = sigma(-x)
    if weight is not None:
        grad = grad * np.asarray(weight, dtype=dtype)  # (N, C)
    if reduction == "mean":
        grad = grad / max(logits.size, 1)  # (N, C)
    return np.broadcast_to(grad, logits.shape).astype(logits.dtype)  # (N, C)

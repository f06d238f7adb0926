r"""The gradient of the loss with respect to the logits (the gradient chapter).

For every option the gradient has one shape: the softmax, scaled by how much
weight the example's target carries, minus the weighted target distribution.
Without weights or smoothing it is the famous $p_{n,c} - [c = y_n]$.
"""

import numpy as np

from ._dtypes import round_like
from ._validation import check_inputs
from .correct_class import class_axis
from .nll import target_weights
from .probabilities import log_softmax


def smoothed_targets(targets, num_classes, *, label_smoothing=0.0, ignore_index=-100,
                     dtype=np.float64):
    r"""The target distribution $q_{n,c}$ that class indices stand for.

    A class index $y_n$ means the one-hot distribution $[c = y_n]$; label
    smoothing mixes it with the uniform distribution $1/C$. Ignored examples
    get an all-zero row: they have no target at all.

    Parameters
    ----------
    targets : array_like of int, shape (N,)
        Class indices $y_n$ or ``ignore_index``; ``()`` or ``(N, d1, ..., dK)``.
    num_classes : int
        C.
    label_smoothing : float, default 0.0
        $\varepsilon$ in [0, 1].
    ignore_index : int, default -100
        Target value whose row is all zeros.
    dtype : dtype, default float64
        Floating dtype of the result.

    Returns
    -------
    q : ndarray of shape (N, C)
        Rows sum to 1 (0 for ignored examples); ``(C,)`` or
        ``(N, C, d1, ..., dK)`` to match the logits.

    Notes
    -----
    $$q_{n,c} = \left((1 - \varepsilon)\,[c = y_n] + \frac{\varepsilon}{C}\right)
    [y_n \ne \text{ignore\_index}]$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss.gradient import smoothed_targets

    print(smoothed_targets(np.array([0, -100]), 3, label_smoothing=0.3))
    #> [[0.8 0.1 0.1]
    #>  [0.  0.  0. ]]
    ```
    """
    targets = np.asarray(targets)
    axis = class_axis(targets.ndim + 1)
    shape = [1] * (targets.ndim + 1)
    shape[axis] = num_classes
    classes = np.arange(num_classes).reshape(shape)  # (1, C)
    one_hot = np.expand_dims(targets, axis) == classes  # (N, C)
    q = (1.0 - label_smoothing) * one_hot + label_smoothing / num_classes  # (N, C)
    kept = np.expand_dims(targets != ignore_index, axis)  # (N, 1)
    return np.where(kept, q, 0.0).astype(dtype)  # (N, C)


def _smooth_probability_targets(targets, num_classes, label_smoothing, dtype):
    r"""Probability targets smoothed: $(1 - \varepsilon)\, t_{n,c} + \varepsilon / C$.

    Computed as torch does, in the targets' ``dtype``: for float16 targets the
    product and $\varepsilon / C$ are each rounded to float16 before they are
    added, and the sum is rounded again. :func:`smoothed_targets` builds $q$
    from class indices instead (one-hot, weighted, ignored rows zeroed).
    """
    scaled = round_like(targets * (1 - label_smoothing), dtype)  # (N, C)
    uniform = round_like(np.asarray(label_smoothing / num_classes, targets.dtype), dtype)  # ()
    return round_like(scaled + uniform, dtype)  # (N, C)


def _torch_scalar(value, dtype):
    """A Python number as torch's autograd multiplies by it: float16 for float16."""
    return round_like(np.float32(value), dtype) if dtype == np.float16 else value


def cross_entropy_grad(logits, targets, *, weight=None, ignore_index=-100,
                       reduction="mean", label_smoothing=0.0):
    r"""Gradient of :func:`celoss.cross_entropy` with respect to the logits.

    Written from the formula, not by differencing: with target distribution
    $q_{n,c}$ (one-hot, smoothed, or given as probabilities) and class
    weights $w_c$, the per-example loss is $-\sum_c w_c q_{n,c} \log p_{n,c}$
    and its derivative is the softmax scaled by the example's total target
    weight, minus the weighted target. ``"mean"`` divides by the same total
    weight as the loss; for ``"none"`` this is the gradient of the sum of the
    per-example losses. Ignored examples get a zero gradient.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Unnormalised scores $x_{n,c}$; ``(C,)`` or ``(N, C, d1, ..., dK)``.
    targets : array_like of shape (N,)
        Class indices, or class probabilities of the logits' shape. A target
        of shape ``(1,)`` for unbatched logits raises ``ValueError``: torch's
        forward takes it, its backward does not.
    weight : array_like of shape (C,), optional
        Class weights $w_c$.
    ignore_index : int, default -100
        Class-index target value that contributes nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
        The reduction of the loss being differentiated.
    label_smoothing : float, default 0.0
        $\varepsilon$ in [0, 1].

    Returns
    -------
    grad : ndarray of shape (N, C)
        $\partial \ell / \partial x_{n,c}$, the logits' shape and dtype. For
        unweighted class-index targets every row sums to 0.

    Notes
    -----
    $$\frac{\partial \ell}{\partial x_{n,c}} = \frac{1}{D}\left(
    p_{n,c} \sum_{k=1}^{C} w_k q_{n,k} \;-\; w_c\, q_{n,c}\right)$$

    where $D = \sum_n w_{y_n}$ over examples that are not ignored for
    class-index targets with ``"mean"``, the number of examples for
    probability targets with ``"mean"``, and 1 otherwise. As in torch, a
    float16 $D$ of class indices is held in float16: beyond 65504 it is
    inf, and the gradient 0, except in the label-smoothing term without a
    weight, whose mean divides by the count of examples.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import cross_entropy_grad

    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    print(np.array2string(cross_entropy_grad(logits, np.array([0, 1])), precision=4))
    #> [[-0.1705  0.1212  0.0493]
    #>  [ 0.0543 -0.0988  0.0445]]
    ```
    """
    if np.ndim(logits) == 1 and np.shape(targets) == (1,) != np.shape(logits):
        # torch's forward takes a (1,) target for unbatched logits, its backward does not.
        raise ValueError(
            "targets of shape (1,) for unbatched logits have no gradient in torch "
            "(its backward raises 'size mismatch'); give a 0-d target"
        )
    inputs = check_inputs(logits, targets, weight, ignore_index, reduction,
                          label_smoothing)
    logits, targets, weight = inputs.logits, inputs.targets, inputs.weight
    axis, num_classes = inputs.class_axis, inputs.num_classes
    smoothing = inputs.label_smoothing
    class_shape = [num_classes if d == axis else 1 for d in range(logits.ndim)]
    weight = np.ones(num_classes, logits.dtype) if weight is None else weight  # (C,)
    weight = weight.reshape(class_shape)  # (1, C)

    # torch's float16 log-probabilities come from its own float16 steps (the checks
    # widened the logits; narrowing is exact); its backward takes the
    # probabilities from them.
    log_probs = log_softmax(logits.astype(inputs.logits_dtype, copy=False), axis=axis)
    probs = np.exp(log_probs.astype(logits.dtype, copy=False))  # (N, C)
    mean = inputs.reduction == "mean"
    # torch holds each backward step below in the logits' dtype: for float16,
    # round_like rounds each one; for float32 and float64 it does nothing.
    step_dtype = inputs.logits_dtype
    # d loss / d log p, built in torch's order: the mean divides by the total weight
    # before the weights multiply, so a total of 0 or a weight of inf or NaN gives
    # inf and NaN exactly where torch's do.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if inputs.probability_targets:
            q = targets  # (N, C)
            if smoothing > 0:
                q = _smooth_probability_targets(targets, num_classes, smoothing,
                                            inputs.targets_dtype)  # (N, C)
            # Backwards through -(log_probs * q * weight).sum() / count: the count
            # divides first, then the weight multiplies, then q, each product held
            # in its forward product's dtype.
            scale = 1 / np.asarray(logits.size // num_classes, logits.dtype) if mean else 1
            scale = round_like(np.asarray(scale, logits.dtype), inputs.dtype)  # ()
            product_dtype = np.result_type(step_dtype, inputs.targets_dtype)  # of log_probs * q
            upstream = round_like(-(q * round_like(weight * scale, product_dtype)),
                                  step_dtype)  # (N, C)
        else:
            kept = np.expand_dims(targets != ignore_index, axis)  # (N, 1)
            classes = np.arange(num_classes).reshape(class_shape)  # (1, C)
            one_hot = (np.expand_dims(targets, axis) == classes) & kept  # (N, C)
            target_weight = target_weights(targets, weight=weight.reshape(-1),
                                           ignore_index=ignore_index,
                                           dtype=logits.dtype)  # (N,)
            total_weight = np.sum(target_weight)  # ()
            # torch's nll_loss holds the mean's total weight in the logits' dtype:
            # a float16 total beyond 65504 is inf, and this part's gradient 0.
            scale = 1 / round_like(total_weight, step_dtype) if mean else 1  # ()
            # torch's factors 1 - eps and eps / C are float16 scalars for float16
            # logits, and each division and product is rounded in turn.
            target_factor = _torch_scalar(1 - smoothing, step_dtype)
            target_step = round_like(-target_factor * scale, step_dtype)  # ()
            # The one-hot part holds w_{y_n} alone: another class's weight of inf
            # or NaN stays out of it, as in torch (0 * inf would be NaN).
            upstream = np.where(one_hot, round_like(
                target_step * np.expand_dims(target_weight, axis), step_dtype), 0)  # (N, C)
            if smoothing > 0:
                # The uniform part's mean divides by the same total with a weight,
                # and by the count of examples without one: an integer, not rounded.
                uniform_scale = 1 / total_weight if mean and inputs.weight is None else scale  # ()
                uniform_factor = _torch_scalar(smoothing / num_classes, step_dtype)
                uniform_step = round_like(uniform_factor * uniform_scale, step_dtype)  # ()
                # torch zeroes ignored rows, then multiplies by every weight (so an
                # ignored row meets an inf weight as NaN).
                uniform = np.where(kept, uniform_step, 0)  # (N, 1)
                upstream = upstream - round_like(uniform * weight, step_dtype)  # (N, C)
        upstream = round_like(upstream, step_dtype)  # (N, C)
        grad = upstream - probs * np.sum(upstream, axis=axis, keepdims=True)  # (N, C)
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as in torch
        return grad.astype(inputs.logits_dtype, copy=False)  # (N, C)

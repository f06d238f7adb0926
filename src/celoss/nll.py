r"""Step 4 of the walkthrough: the negative log-likelihood of each example, $l_n$.

A confident correct prediction ($p_{n,y_n}$ near 1) costs almost nothing; a
confident wrong one ($p_{n,y_n}$ near 0) costs without bound. Class weights
$w_c$ scale each example's cost by its target class, and examples whose
target is ``ignore_index`` cost nothing.
"""

import numpy as np

from ._dtypes import round_like
from ._validation import check_inputs
from .correct_class import class_axis, correct_class_log_probs


def target_weights(targets, *, weight=None, ignore_index=-100, dtype=np.float64):
    r"""The weight of each example's target class, $w_{y_n}$, 0 where ignored.

    These are both the per-example factors of the weighted loss and the
    terms of the weighted mean's denominator.

    Parameters
    ----------
    targets : array_like of int, shape (N,)
        Class indices $y_n$, or ``ignore_index``.
    weight : array_like of shape (C,), optional
        Class weights $w_c$; all ones when omitted.
    ignore_index : int, default -100
        Target value that marks an example to skip.
    dtype : dtype, default float64
        Floating dtype of the result.

    Returns
    -------
    weights : ndarray of shape (N,)
        $w_{y_n}$, or 0 where $y_n$ is ``ignore_index``.

    Notes
    -----
    $$w_{y_n}\,[y_n \ne \text{ignore\_index}]$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss.nll import target_weights

    print(target_weights(np.array([0, 2, -100]), weight=np.array([1.0, 2.0, 3.0])))
    #> [1. 3. 0.]
    ```
    """
    targets = np.asarray(targets)
    ignored = targets == ignore_index  # (N,)
    if weight is None:
        weights = np.ones(targets.shape, dtype=dtype)  # (N,)
    else:
        safe_targets = np.where(ignored, 0, targets)  # (N,)
        weights = np.asarray(weight, dtype=dtype)[safe_targets]  # (N,)
    return np.where(ignored, 0, weights).astype(dtype, copy=False)  # (N,)


def nll_loss(log_probs, targets, *, weight=None, ignore_index=-100):
    r"""Per-example negative log-likelihood $l_n = -w_{y_n} \log p_{n,y_n}$.

    This is ``torch.nn.functional.nll_loss`` with ``reduction="none"``: it
    expects log-probabilities (the output of :func:`celoss.log_softmax`),
    picks each example's target entry, negates it and scales it by the target
    class's weight. Examples whose target equals ``ignore_index`` get 0.

    Parameters
    ----------
    log_probs : array_like of shape (N, C)
        Log-probabilities $\log p_{n,c}$; ``(C,)`` for one example or
        ``(N, C, d1, ..., dK)``.
    targets : array_like of int, shape (N,)
        Class indices $y_n$ in ``[0, C)`` or ``ignore_index``; ``()`` or
        ``(N, d1, ..., dK)`` to match ``log_probs``.
    weight : array_like of shape (C,), optional
        Class weights $w_c$.
    ignore_index : int, default -100
        Target value that contributes 0.

    Returns
    -------
    losses : ndarray of shape (N,)
        $l_n \ge 0$ for non-negative weights, the shape of ``targets``.

    Raises
    ------
    TypeError, ValueError, IndexError
        Where ``torch.nn.functional.nll_loss`` refuses the input, with the
        checks and messages of :func:`celoss.cross_entropy`: non-floating
        log-probabilities, targets whose shape does not match, a weight that
        is not ``(C,)``, a class index out of range. Targets of the
        log-probabilities' own shape (probabilities) are a ValueError when
        floating point and a TypeError otherwise.

    Notes
    -----
    $$l_n = -\,w_{y_n} \log p_{n,y_n}\,[y_n \ne \text{ignore\_index}]$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import log_softmax, nll_loss

    log_probs = log_softmax(np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]))
    print(np.array2string(nll_loss(log_probs, np.array([0, 1])), precision=8))
    #> [0.41703002 0.22004952]
    ```
    """
    inputs = check_inputs(log_probs, targets, weight, ignore_index, "none", 0.0,
                          name="log_probs")
    if inputs.probability_targets:
        raise ValueError(
            f"nll_loss takes class indices, got targets of the log-probabilities' shape "
            f"{inputs.targets.shape}; class probabilities go to celoss.soft_target_loss"
        )
    losses = _nll_losses(inputs.logits, inputs.targets, inputs.weight, ignore_index)  # (N,)
    with np.errstate(over="ignore"):  # beyond float16's range is inf, silently as in torch
        return losses.astype(inputs.dtype, copy=False)  # (N,)


def _nll_losses(log_probs, targets, weight, ignore_index):
    """:func:`nll_loss` on inputs already checked (``cross_entropy`` checks them once)."""
    ignored = targets == ignore_index  # (N,)
    safe_targets = np.where(ignored, 0, targets)  # (N,)
    correct_log_probs = correct_class_log_probs(log_probs, safe_targets)  # (N,)
    weights = target_weights(
        targets, weight=weight, ignore_index=ignore_index, dtype=log_probs.dtype
    )  # (N,)
    # 0 * -inf is NaN and a product beyond the float's range is inf, silently as in torch
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(ignored, 0, -weights * correct_log_probs).astype(
            log_probs.dtype, copy=False
        )  # (N,)


def soft_target_loss(log_probs, target_probs, *, weight=None):
    r"""Per-example cross-entropy against a target distribution $t_{n,c}$.

    When the target is a distribution over classes rather than one class
    (soft labels, label smoothing, distillation), every class contributes
    $-t_{n,c} \log p_{n,c}$, scaled by its weight. A one-hot $t$ gives back
    :func:`nll_loss`.

    Parameters
    ----------
    log_probs : array_like of shape (N, C)
        Log-probabilities $\log p_{n,c}$; ``(C,)`` or ``(N, C, d1, ..., dK)``.
    target_probs : array_like of shape (N, C)
        Target probabilities $t_{n,c}$, broadcastable to ``log_probs``.
    weight : array_like of shape (C,), optional
        Class weights $w_c$.

    Returns
    -------
    losses : ndarray of shape (N,)
        $l_n$, ``log_probs``' shape without the class axis.

    Notes
    -----
    $$l_n = -\sum_{c=1}^{C} w_c\, t_{n,c} \log p_{n,c}$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import log_softmax, soft_target_loss

    log_probs = log_softmax(np.array([[2.0, 1.0, 0.1]]))
    print(soft_target_loss(log_probs, np.array([[0.9, 0.05, 0.05]])).round(6))
    #> [0.56203]
    ```
    """
    return _soft_target_losses(np.asarray(log_probs), np.asarray(target_probs), weight)


def _soft_target_losses(log_probs, target_probs, weight, product_dtypes=(None, None)):
    """:func:`soft_target_loss`, with each product rounded as torch's tensors hold it.

    ``product_dtypes`` are the dtypes torch gives ``log_probs * target_probs``
    and its product with the weight: float16 rounds each product to float16
    (one beyond 65504 is inf, and inf times a weight of 0 is NaN), as torch's
    float16 tensors do, for arrays that hold float16 values widened to float32.
    The sums are not rounded.
    """
    axis = class_axis(log_probs.ndim)
    # 0 * -inf and inf - inf are NaN, a product or sum beyond the float's range is
    # inf: silently, as in torch.
    with np.errstate(invalid="ignore", over="ignore"):
        weighted_log_probs = round_like(log_probs * target_probs, product_dtypes[0])  # (N, C)
        if weight is not None:
            shape = [1] * log_probs.ndim
            shape[axis] = -1
            weight = np.asarray(weight)
            if not np.issubdtype(weight.dtype, np.floating):  # as in torch: the
                weight = weight.astype(weighted_log_probs.dtype)  # float's dtype wins
            weighted_log_probs = round_like(weighted_log_probs * np.reshape(weight, shape),
                                            product_dtypes[1])  # (N, C)
        return -np.sum(weighted_log_probs, axis=axis)  # (N,)

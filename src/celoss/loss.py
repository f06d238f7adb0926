r"""Step 6 of the walkthrough: cross-entropy loss, composed from the steps before it.

``cross_entropy`` is ``torch.nn.functional.cross_entropy`` in NumPy: the
same arguments, the same shapes and dtypes, the same value for every option
and every combination of options.
"""

import numpy as np

from ._dtypes import round_like
from ._validation import check_inputs
from .gradient import _smooth_probability_targets
from .nll import _nll_losses, _soft_target_losses, target_weights
from .probabilities import log_softmax
from .reduction import _mix_smoothing, _reduce_as_torch


def cross_entropy(logits, targets, *, weight=None, ignore_index=-100,
                  reduction="mean", label_smoothing=0.0):
    r"""Cross-entropy between logits and targets, exactly as PyTorch computes it.

    The logits go through a stable log-softmax; each example's loss is the
    negative log-probability of its target (weighted by the target class,
    and mixed with the uniform distribution when smoothing); the losses are
    then summed, averaged or returned as they are. Targets are either class
    indices or, when they have the logits' shape, class probabilities.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Unnormalised scores $x_{n,c}$, floating point. Also ``(C,)`` for one
        example, or ``(N, C, d1, ..., dK)`` with classes on axis 1.
    targets : array_like of shape (N,)
        Class indices $y_n$ (integers in ``[0, C)`` or ``ignore_index``) of
        shape ``()``, ``(N,)`` or ``(N, d1, ..., dK)``; or class
        probabilities $t_{n,c}$ of the logits' shape.
    weight : array_like of shape (C,), optional
        Class weights $w_c$. With class indices they are cast to the logits'
        dtype; with probabilities a floating weight promotes the loss's dtype,
        as in torch.
    ignore_index : int, default -100
        Class-index target value that contributes to neither the loss nor the
        mean's denominator. Must be negative with probability targets.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"mean"`` divides the sum by $\sum_n w_{y_n}$ over the examples that
        are not ignored (by the number of examples for probability targets).
    label_smoothing : float, default 0.0
        $\varepsilon$ in [0, 1]: the target becomes
        $(1 - \varepsilon)$ one-hot $+ \varepsilon / C$.

    Returns
    -------
    loss : ndarray of shape ()
        The reduced loss; for ``"none"`` the per-example losses, of the
        targets' shape (class indices) or the logits' shape without the class
        axis (probabilities). The logits' dtype (promoted with probability
        targets' and a floating weight's, as torch does). ``NaN`` for a mean
        over nothing.

    Raises
    ------
    TypeError
        Non-floating logits; non-integer class-index targets; probability
        targets that are not floating point; an ``ignore_index`` that is not
        an integer (a bool included); a ``label_smoothing`` that is not a
        real number (a string or an array).
    ValueError
        Mismatched shapes; a weight that is not ``(C,)``; ``label_smoothing``
        outside [0, 1]; an unknown ``reduction``; ``ignore_index >= 0`` with
        probability targets or beyond int64; a target of shape ``(1,)`` for
        unbatched logits with ``label_smoothing`` (torch accepts it only
        without).
    IndexError
        A class index outside ``[0, C)`` that is not ``ignore_index``.

    Notes
    -----
    With log-probabilities $\log p_{n,c}$ from :func:`celoss.log_softmax`,
    class-index targets give

    $$l_n = \Big((1 - \varepsilon)\, w_{y_n} \log p_{n,y_n}
    + \frac{\varepsilon}{C} \sum_{c=1}^{C} w_c \log p_{n,c}\Big)
    \cdot (-1)\,[y_n \ne \text{ignore\_index}]$$

    $$\ell = \frac{\sum_n l_n}{\sum_n w_{y_n} [y_n \ne \text{ignore\_index}]}
    \quad (\text{mean}), \qquad \ell = \sum_n l_n \quad (\text{sum})$$

    and probability targets give
    $l_n = -\sum_c w_c\, t'_{n,c} \log p_{n,c}$ with
    $t' = (1 - \varepsilon)\, t + \varepsilon / C$, averaged over the $N$
    examples (times $d_1 \cdots d_K$).

    float16 logits give float16 steps, as in torch: the sum is stored in
    float16 before the mean divides it, so the mean of 8192 losses near 9.5 is
    ``inf`` (their sum is beyond float16's 65504) where float32 gives 9.5.

    Differences from torch: a negative or NaN ``label_smoothing`` raises
    (torch ignores it); integer targets of any width are accepted (torch
    wants int64, or uint8 for targets without $d_1, \dots, d_K$; bool
    targets raise in both); float16 losses are summed in float32 and rounded
    once, where torch's CPU kernel rounds its float16 partial sums as it
    adds (the two can differ by a float16 unit, within
    ``TOLERANCES["float16"]``); with class-index targets, a weight of another
    dtype than the logits (float64 or integer weights for float32 logits,
    any other for float16) is cast to the logits' dtype, where torch raises;
    logits with no classes at all ($C = 0$) raise, where torch returns NaN
    for probability targets (and raises for class indices).

    References
    ----------
    PyTorch documentation, ``torch.nn.CrossEntropyLoss``.
    Szegedy, C. et al. (2016). Rethinking the Inception architecture for
    computer vision. *CVPR* (label smoothing).

    Examples
    --------
    ```python
    import numpy as np
    from celoss import cross_entropy

    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    targets = np.array([0, 1])
    print(f"{float(cross_entropy(logits, targets)):.16f}")
    #> 0.3185397696491857
    ```
    """
    inputs = check_inputs(logits, targets, weight, ignore_index, reduction,
                          label_smoothing)
    logits, targets, weight = inputs.logits, inputs.targets, inputs.weight
    axis, num_classes = inputs.class_axis, inputs.num_classes
    smoothing = inputs.label_smoothing
    dtype = inputs.dtype  # the loss's, which torch stores each step in

    # torch's log_softmax returns float16 for float16 logits, from its own float16
    # steps: they are part of the loss (and all of the difference from float32
    # with float64 targets). The checks widened the logits; narrowing is exact.
    log_probs = log_softmax(logits.astype(inputs.logits_dtype, copy=False), axis=axis)
    log_probs = log_probs.astype(logits.dtype, copy=False)  # (N, C)
    if inputs.probability_targets:
        if smoothing > 0:
            targets = _smooth_probability_targets(targets, num_classes, smoothing,
                                              inputs.targets_dtype)  # (N, C)
        # Each product of -(log_probs * targets * weight) is a tensor in torch,
        # float16 ones rounded (a product beyond 65504 is inf). Their sums are
        # not rounded per example: for a sum or mean torch adds every element
        # at once, with no per-example tensor.
        product_dtypes = (np.result_type(inputs.logits_dtype, inputs.targets_dtype),
                          dtype)  # dtype: with the weight's promoted in
        losses = _soft_target_losses(log_probs, targets, weight, product_dtypes)  # (N,)
        loss = _reduce_as_torch(losses, inputs.reduction, losses.size, dtype,
                                count=True)  # ()
        return np.asarray(loss).astype(dtype, copy=False)  # ()

    total_weight = np.sum(target_weights(targets, weight=weight, ignore_index=ignore_index,
                                         dtype=log_probs.dtype))  # ()
    losses = _nll_losses(log_probs, targets, weight, ignore_index)  # (N,)
    loss = _reduce_as_torch(losses, inputs.reduction, total_weight, dtype)  # ()
    if smoothing > 0:
        # The loss against the uniform target, -sum_c w_c log p_{n,c}, is reduced
        # on its own and scaled by eps / C only then, as torch does (scaling first
        # would keep finite what overflows in torch).
        # Each product log_probs * weight is a tensor in torch: float16 ones
        # rounded, so -40000 * 2 is -inf (and beside +inf, NaN) before the sum.
        uniform_sums = _soft_target_losses(log_probs, np.ones((), log_probs.dtype), weight,
                                           (dtype, dtype))  # (N,)
        # torch's -(log_probs * weight).sum(class_dim) is a per-example tensor in
        # the loss's dtype: a float16 row of 65514 is 65504 before the batch sum.
        uniform_sums = round_like(np.where(targets == ignore_index, 0, uniform_sums),
                                  dtype)  # (N,)
        uniform_loss = _reduce_as_torch(uniform_sums, inputs.reduction, total_weight,
                                        dtype, count=weight is None)  # ()
        loss = _mix_smoothing(loss, uniform_loss, smoothing, num_classes, dtype)  # ()
    return np.asarray(loss).astype(dtype, copy=False)  # ()

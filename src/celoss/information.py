r"""Entropy and KL divergence: what cross-entropy measures, in bits of surprise.

Cross-entropy $H(t, p)$ is the average surprise $-\log p$ of a model $p$ on
outcomes drawn from a target distribution $t$ (the site's symbols: $p$ the
model's softmax, $t$ the target). It splits into the surprise no model can
avoid, the entropy $H(t)$, and the extra surprise of using $p$ instead of $t$,
the KL divergence: $H(t, p) = H(t) + D_{\mathrm{KL}}(t \,\|\, p)$.
"""

import numpy as np

from ._dtypes import as_real_float, require_floating, widen_half

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def xlogx(probs):
    r"""$p \log p$ with $0 \log 0 = 0$, the limit as $p \to 0$.

    Parameters
    ----------
    probs : array_like of shape (N, C)
        Any shape. Integer and bool inputs are computed in float32, as
        ``torch.special.entr`` computes them.

    Returns
    -------
    values : ndarray of the input's shape
        $p \log p \le 0$ on [0, 1]; NaN for a negative $p$ (as torch's
        ``xlogy`` in ``kl_div``) or a NaN one.

    Raises
    ------
    TypeError
        Complex input (torch's ``entr`` and ``kl_div`` refuse it too) or
        input that is not numbers.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.information import xlogx

    print(xlogx(np.array([0.0, 0.5, 1.0])).round(4))
    #> [ 0.     -0.3466  0.    ]
    ```
    """
    probs = as_real_float(probs, "probs")  # torch: integer and bool inputs give float32
    # log(0), masked below; log(p < 0) is NaN; p log p beyond the dtype's range is inf.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(probs == 0, 0, probs * np.log(probs)).astype(probs.dtype)  # (N, C)


def _check_sum_axis(axis):
    """``axis`` as ``torch.sum``'s ``dim`` takes it: an integer, a tuple or list of them, or None.

    A list becomes a tuple (NumPy's sum refuses lists). An empty tuple raises:
    torch's sum reads it as every axis, NumPy's as none, and torch's
    logsumexp refuses it; no answer is the obvious one.
    """
    if isinstance(axis, list):
        axis = tuple(axis)
    if axis == ():
        raise ValueError("axis must name at least one axis (or be None for all), got ()")
    return axis


def entropy(probs, axis=-1):
    r"""Shannon entropy $H(t) = -\sum_c t_c \log t_c$, in nats.

    The average surprise of outcomes drawn from $t$ itself: 0 for a certain
    outcome, $\log C$ for the uniform distribution over C classes. Written
    for a target distribution $t$, as cross-entropy's $H(t)$; any
    distribution, the model's $p$ included, has one.

    Parameters
    ----------
    probs : array_like of shape (N, C)
        Probabilities summing to 1 along ``axis``.
    axis : int, tuple of int or None, default -1
        The class axis; several axes, or all (None), are summed together,
        as ``torch.sum`` does.

    Returns
    -------
    entropy : ndarray of shape (N,)
        $H(t_n) \ge 0$; divide by $\log 2$ for bits. The probabilities'
        dtype (float32 for integer or bool input); float16 is summed in
        float32 and rounded once, as ``torch.special.entr(p).sum(axis)``
        does, and a negative entry gives $-\infty$ as there. A 0-d ndarray
        for 1-D input.

    Raises
    ------
    TypeError
        Complex probabilities (``torch.special.entr`` refuses them) or input
        that is not numbers.
    ValueError
        An empty ``axis`` ``()``.

    Notes
    -----
    $$H(t_n) = -\sum_{c=1}^{C} t_{n,c} \log t_{n,c}, \qquad 0 \log 0 = 0$$

    References
    ----------
    Shannon, C. E. (1948). A mathematical theory of communication. *Bell
    System Technical Journal*, 27, 379-423.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import entropy

    print(entropy(np.array([[1.0, 0.0], [0.5, 0.5]])).round(4))
    #> [0.     0.6931]
    ```
    """
    axis = _check_sum_axis(axis)
    probs = as_real_float(probs, "probs")  # torch: integer and bool inputs give float32
    terms = xlogx(probs)  # (N, C)
    terms = np.where(probs < 0, np.inf, terms)  # torch's entr: -inf for p < 0
    # torch sums half precision in float32 and rounds once; 0.0 - 0.0 is 0.0, not -0.0.
    return np.asarray(0.0 - np.sum(widen_half(terms), axis=axis)).astype(terms.dtype)  # (N,)


def _promoted_dtype(log_probs, target_probs):
    """The dtype torch gives two floating arrays: a 0-d one yields to one with dimensions."""
    if log_probs.ndim == 0 and target_probs.ndim > 0:
        return target_probs.dtype
    if target_probs.ndim == 0 and log_probs.ndim > 0:
        return log_probs.dtype
    return np.result_type(log_probs.dtype, target_probs.dtype)


def kl_div(log_probs, target_probs, *, reduction="mean", log_target=False):
    r"""KL divergence $D_{\mathrm{KL}}(t \,\|\, p)$, with ``torch.nn.functional.kl_div``'s API.

    Like torch, the *model* comes first, as log-probabilities $\log p$, and
    the target distribution $t$ second. Each element contributes
    $t (\log t - \log p)$; ``"batchmean"`` divides the sum by the batch
    size N (the mathematical KL per example), ``"mean"`` by the number of
    elements (torch's default, which it warns about; celoss does not).

    Parameters
    ----------
    log_probs : array_like of shape (N, C)
        The model's log-probabilities $\log p_{n,c}$; floating point, any
        shape that broadcasts with ``target_probs``.
    target_probs : array_like of shape (N, C)
        The target $t_{n,c}$, or $\log t_{n,c}$ when ``log_target``;
        floating point, broadcast against ``log_probs`` as torch does.
    reduction : {"mean", "batchmean", "sum", "none"}, default "mean"
        How to reduce the element terms. ``"batchmean"`` divides the sum by
        N, the length of ``log_probs``' first axis (not by the broadcast
        shape's), and does not divide when ``log_probs`` is 0-d.
    log_target : bool, default False
        Whether ``target_probs`` holds log-probabilities; a bool (NumPy's
        included), as torch requires.

    Returns
    -------
    kl : ndarray of shape ()
        The reduced divergence, or the element terms, of the broadcast
        shape, for ``"none"``. Its dtype is the two inputs' promoted as in
        torch: float32 with float64 gives float64, float16 with float32
        float32, and a 0-d input takes the dtype of one with dimensions.
        Half precision is summed in float32 and rounded once, as in torch;
        for ``"batchmean"`` torch rounds the sum before dividing by N, so a
        float16 sum beyond 65504 is ``inf`` there even when the mean is not.
        An empty input gives NaN for ``"mean"``, 0 for ``"sum"``, and for
        ``"batchmean"`` 0 / N: NaN when N = 0.

    Raises
    ------
    TypeError
        If either input is not floating point (torch refuses integer, bool
        and complex inputs), or ``log_target`` is not a bool.
    ValueError
        If the shapes do not broadcast or the reduction is unknown.

    Notes
    -----
    $$D_{\mathrm{KL}}(t_n \,\|\, p_n) = \sum_{c=1}^{C} t_{n,c}
    \left(\log t_{n,c} - \log p_{n,c}\right), \qquad 0 \log 0 = 0$$

    As in torch, a zero target meets $\log p = -\infty$ as $0 \cdot (-\infty)$,
    which is NaN; so does $\log t = -\infty$ with ``log_target``.

    References
    ----------
    Kullback, S. and Leibler, R. A. (1951). On information and sufficiency.
    *Annals of Mathematical Statistics*, 22(1), 79-86.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import kl_div

    log_p = np.log(np.array([[0.5, 0.5]]))  # the model
    t = np.array([[0.9, 0.1]])  # the target
    print(f"{float(kl_div(log_p, t, reduction='batchmean')):.6f}")
    #> 0.368064
    ```
    """
    log_probs = require_floating(log_probs, "log_probs")
    target_probs = require_floating(target_probs, "target_probs")
    try:
        np.broadcast_shapes(log_probs.shape, target_probs.shape)
    except ValueError:
        raise ValueError(
            f"log_probs shape {log_probs.shape} and target_probs shape "
            f"{target_probs.shape} do not broadcast"
        ) from None
    if reduction not in KL_REDUCTIONS:
        raise ValueError(
            f"reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}"
        )
    if not isinstance(log_target, (bool, np.bool_)):  # torch: "must be bool, not int"
        raise TypeError(f"log_target must be a bool, got {log_target!r}")
    dtype = _promoted_dtype(log_probs, target_probs)
    log_p = log_probs.astype(dtype, copy=False)  # products and differences in this dtype
    target = target_probs.astype(dtype, copy=False)
    # As in torch: exp and p log p in the target's own dtype, then promoted;
    # 0 * -inf is NaN, a product beyond float16's range inf.
    with np.errstate(invalid="ignore", over="ignore"):
        if log_target:
            terms = np.exp(target_probs).astype(dtype, copy=False) * (target - log_p)  # (N, C)
        else:
            terms = xlogx(target_probs).astype(dtype, copy=False) - target * log_p  # (N, C)
    if reduction == "none":
        return np.asarray(terms)  # (N, C); 0-d stays an ndarray
    # NaN from empty input or inf - inf, inf beyond float16's range, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # torch sums half precision in float32 and rounds once: 2 x 40000 overflows float16.
        total = np.sum(widen_half(terms))  # ()
        if reduction == "mean":
            total = total / terms.size  # ()
        elif reduction == "batchmean":
            # torch divides the sum, already rounded to the terms' dtype, by
            # N = log_probs.shape[0], whatever the broadcast shape; 0-d: no division.
            # N divides in float32 or wider, as torch divides by a Python int:
            # 70000 float16 rows are divided by 70000, not by float16's inf.
            total = widen_half(total.astype(dtype, copy=False))  # ()
            if log_probs.ndim > 0:
                total = total / log_probs.shape[0]  # ()
        return np.asarray(total, dtype=dtype)  # ()


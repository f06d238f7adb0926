r"""Entropy and KL divergence: what cross-entropy measures, in bits of surprise.

Cross-entropy $H(p, q)$ is the average surprise $-\log q$ of a model $q$ on
outcomes drawn from $p$. It splits into the surprise no model can avoid, the
entropy $H(p)$, and the extra surprise of using $q$ instead of $p$, the KL
divergence: $H(p, q) = H(p) + D_{\mathrm{KL}}(p \,\|\, q)$.
"""

import numpy as np

from ._validation import _widen_half

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def xlogx(probs):
    r"""$p \log p$ with $0 \log 0 = 0$, the limit as $p \to 0$.

    Parameters
    ----------
    probs : array_like of shape (N, C)
        Any shape; non-negative.

    Returns
    -------
    values : ndarray of the input's shape
        $p \log p \le 0$ on [0, 1].

    Examples
    --------
    ```python
    import numpy as np
    from celoss.information import xlogx

    print(xlogx(np.array([0.0, 0.5, 1.0])).round(4))
    #> [ 0.     -0.3466  0.    ]
    ```
    """
    probs = np.asarray(probs)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0), masked below
        return np.where(probs == 0, 0, probs * np.log(probs))  # (N, C)


def entropy(probs, axis=-1):
    r"""Shannon entropy $H(p) = -\sum_c p_c \log p_c$, in nats.

    The average surprise of outcomes drawn from $p$ itself: 0 for a certain
    outcome, $\log C$ for the uniform distribution over C classes.

    Parameters
    ----------
    probs : array_like of shape (N, C)
        Probabilities summing to 1 along ``axis``.
    axis : int, default -1
        The class axis.

    Returns
    -------
    entropy : ndarray of shape (N,)
        $H(p_n) \ge 0$; divide by $\log 2$ for bits.

    Notes
    -----
    $$H(p_n) = -\sum_{c=1}^{C} p_{n,c} \log p_{n,c}, \qquad 0 \log 0 = 0$$

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
    return 0.0 - np.sum(xlogx(probs), axis=axis)  # (N,); 0.0 - 0.0 is 0.0, not -0.0


def kl_div(log_probs, target_probs, *, reduction="mean", log_target=False):
    r"""KL divergence $D_{\mathrm{KL}}(p \,\|\, q)$, with ``torch.nn.functional.kl_div``'s API.

    Like torch, the *model* comes first, as log-probabilities $\log q$, and
    the target distribution $p$ second. Each element contributes
    $p (\log p - \log q)$; ``"batchmean"`` divides the sum by the batch
    size N (the mathematical KL per example), ``"mean"`` by the number of
    elements (torch's default, which it warns about).

    Parameters
    ----------
    log_probs : array_like of shape (N, C)
        The model's log-probabilities $\log q_{n,c}$.
    target_probs : array_like of shape (N, C)
        The target $p_{n,c}$, or $\log p_{n,c}$ when ``log_target``.
    reduction : {"mean", "batchmean", "sum", "none"}, default "mean"
        How to reduce the element terms.
    log_target : bool, default False
        Whether ``target_probs`` holds log-probabilities.

    Returns
    -------
    kl : ndarray of shape ()
        The reduced divergence, or the element terms for ``"none"``. Half
        precision is summed in float32 and rounded once, as in torch; for
        ``"batchmean"`` torch rounds the sum before dividing by N, so a
        float16 sum beyond 65504 is ``inf`` there even when the mean is not.

    Raises
    ------
    ValueError
        If the shapes differ or the reduction is unknown.

    Notes
    -----
    $$D_{\mathrm{KL}}(p_n \,\|\, q_n) = \sum_{c=1}^{C} p_{n,c}
    \left(\log p_{n,c} - \log q_{n,c}\right)$$

    References
    ----------
    Kullback, S. and Leibler, R. A. (1951). On information and sufficiency.
    *Annals of Mathematical Statistics*, 22(1), 79-86.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import kl_div

    log_q = np.log(np.array([[0.5, 0.5]]))
    p = np.array([[0.9, 0.1]])
    print(f"{float(kl_div(log_q, p, reduction='batchmean')):.6f}")
    #> 0.368064
    ```
    """
    log_probs = np.asarray(log_probs)
    target_probs = np.asarray(target_probs)
    if log_probs.shape != target_probs.shape:
        raise ValueError(
            f"target_probs shape {target_probs.shape} must be log_probs' shape {log_probs.shape}"
        )
    if reduction not in KL_REDUCTIONS:
        raise ValueError(
            f"reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}"
        )
    # As in torch: 0 * -inf is NaN, a product beyond float16's range inf.
    with np.errstate(invalid="ignore", over="ignore"):
        if log_target:
            terms = np.exp(target_probs) * (target_probs - log_probs)  # (N, C)
        else:
            terms = xlogx(target_probs) - target_probs * log_probs  # (N, C)
    if reduction == "none":
        return terms  # (N, C)
    # NaN from empty input or inf - inf, inf beyond float16's range, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # torch sums half precision in float32 and rounds once: 2 x 40000 overflows float16.
        total = np.sum(_widen_half(terms))  # ()
        if reduction == "mean":
            total = total / terms.size  # ()
        elif reduction == "batchmean":
            # torch divides the sum, already rounded to the terms' dtype, by N
            total = total.astype(terms.dtype)  # ()
            if terms.ndim > 0:
                total = total / terms.shape[0]  # ()
        return np.asarray(total, dtype=terms.dtype)  # ()

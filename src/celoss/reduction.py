r"""Step 5 of the walkthrough: reduce the per-example losses $l_n$ to one number.

``"mean"`` divides the sum by a *total weight*: the number of examples that
count, or the sum of their target classes' weights when classes are
weighted. That denominator is where hand-written losses most often differ
from PyTorch.
"""

import numpy as np

from ._dtypes import native, widen_half

REDUCTIONS = ("mean", "sum", "none")


def reduce_loss(losses, reduction="mean", *, total_weight=None):
    r"""Sum or average the per-example losses, or return them unchanged.

    Parameters
    ----------
    losses : array_like of shape (N,)
        Per-example losses $l_n$; any shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns ``losses``; ``"sum"`` their sum; ``"mean"`` their
        sum divided by ``total_weight``.
    total_weight : float, optional
        Denominator of the mean: $\sum_n w_{y_n}$ over the examples that are
        not ignored (see :func:`celoss.nll.target_weights`). Defaults to the
        number of losses. A total weight of 0 gives ``NaN``, as in torch.

    Returns
    -------
    loss : ndarray of shape ()
        The reduced loss, or ``losses`` itself for ``"none"``, in the losses'
        dtype in native byte order (float16 is accumulated in float32 and
        rounded once, as torch does); the ``"sum"`` of integer or bool losses
        is int64, as in torch. ``inf - inf`` gives ``NaN`` and a sum beyond
        the dtype's range ``inf``, without a warning, as in torch.

    Raises
    ------
    ValueError
        If ``reduction`` is not one of the three names.
    TypeError
        The ``"mean"`` of integer or bool losses (``torch.mean`` refuses them),
        or losses that are not numbers (object, string or date arrays).

    Notes
    -----
    $$\ell_{\text{sum}} = \sum_{n=1}^{N} l_n, \qquad
    \ell_{\text{mean}} = \frac{\sum_{n=1}^{N} l_n}{\sum_{n=1}^{N} w_{y_n}}$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import reduce_loss

    losses = np.array([0.4, 0.2, 0.0])
    print(reduce_loss(losses, "sum"), reduce_loss(losses, "mean", total_weight=2.0))
    #> 0.6000000000000001 0.30000000000000004
    ```
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    losses = native(np.asarray(losses))  # torch has no big-endian tensors
    if losses.dtype.kind not in "biufc":  # bool, integer, floating, complex
        raise TypeError(f"losses must be numbers, got dtype {losses.dtype}")
    if reduction == "none":
        return losses  # (N,)
    if losses.dtype.kind in "biu":
        if reduction == "mean":  # torch's mean() refuses integers rather than truncate
            raise TypeError(f"losses must be floating point for a mean, got dtype "
                            f"{losses.dtype}")
        return np.asarray(np.sum(losses, dtype=np.int64))  # (): torch sums integers in int64
    # float16 is summed and divided in float32 and rounded once, as torch does: a
    # mean of 40000s is 40000, not the inf of a float16 running sum.
    wide = widen_half(losses)  # (N,)
    # inf - inf is NaN, 0 / 0 NaN, a sum beyond the dtype's range inf, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        loss = np.sum(wide)  # ()
        if reduction == "mean":
            if total_weight is None:
                total_weight = losses.size
            loss = loss / np.asarray(total_weight, dtype=wide.dtype)  # ()
        return np.asarray(loss).astype(losses.dtype)  # ()

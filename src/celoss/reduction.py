r"""Step 5 of the walkthrough: reduce the per-example losses $l_n$ to one number.

``"mean"`` divides the sum by a *total weight*: the number of examples that
count, or the sum of their target classes' weights when classes are
weighted. That denominator is where hand-written losses most often differ
from PyTorch.
"""

import numpy as np

from ._dtypes import round_like

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
    losses = np.asarray(losses)  # (N,)
    losses = losses.astype(losses.dtype.newbyteorder("="), copy=False)  # torch is native-endian
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
    wide = losses.astype(np.float32) if losses.dtype == np.float16 else losses  # (N,)
    # inf - inf is NaN, 0 / 0 NaN, a sum beyond the dtype's range inf, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        loss = np.sum(wide)  # ()
        if reduction == "mean":
            if total_weight is None:
                total_weight = losses.size
            loss = loss / np.asarray(total_weight, dtype=wide.dtype)  # ()
        return np.asarray(loss).astype(losses.dtype)  # ()


# torch's arithmetic is silent: inf - inf, 0 / 0 and overflow give NaN and inf
# without a warning, and so do these two steps.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _reduce_as_torch(losses, reduction, total_weight, dtype, *, count=False):
    """Sum or mean of per-example losses in the steps of torch's cross-entropy.

    The sum is stored in the loss's ``dtype`` before the mean divides it, so
    a float16 sum beyond 65504 is inf and so is the mean (torch's ``.mean()``,
    and :func:`celoss.reduce_loss`, would divide first). The denominator is
    stored in ``dtype`` too when it is a sum of class weights; a ``count`` of
    examples (torch's integer count) is not, so 70000 float16 examples are
    divided by 70000, not by float16's inf. float16 losses are summed in
    float32 and rounded once, where torch rounds its partial sums as it adds:
    the two can differ by a float16 unit.
    """
    if reduction == "none":
        return round_like(losses, dtype)  # (N,)
    loss = round_like(reduce_loss(losses, "sum"), dtype)  # ()
    if reduction == "mean":
        denominator = np.asarray(total_weight, loss.dtype)  # ()
        if not count:
            denominator = round_like(denominator, dtype)  # ()
        loss = round_like(loss / denominator, dtype)  # ()
    return loss  # ()


@np.errstate(over="ignore", invalid="ignore")
def _mix_smoothing(loss, uniform_loss, label_smoothing, num_classes, dtype):
    r"""Label smoothing's loss, $(1 - \varepsilon)\,\ell + \ell_\text{u} \cdot \varepsilon / C$.

    Each product and the sum are stored in ``dtype``, as torch's are. Both
    losses come reduced: with a mean over a total weight of 0,
    $(1 - \varepsilon) \cdot \text{NaN}$ is NaN whatever the uniform part
    adds, as in torch.
    """
    target_part = round_like((1 - label_smoothing) * loss, dtype)  # ()
    uniform_part = round_like(uniform_loss * (label_smoothing / num_classes), dtype)  # ()
    return round_like(target_part + uniform_part, dtype)  # ()

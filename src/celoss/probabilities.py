r"""Step 2 of the walkthrough: turn logits into probabilities with a numerically stable softmax.

Softmax exponentiates every logit and divides by the row's total, so each row
becomes a probability distribution over the C classes. Subtracting the row's
largest logit first changes nothing mathematically (the factor
$e^{-\max_c x_{n,c}}$ cancels) but keeps every exponent at or below zero, so
$e^{x}$ can never overflow.
"""

import numbers

import numpy as np

from ._dtypes import as_real_float, native, require_floating, round_like, widen_half


def _check_axis(axis):
    """Raise where torch's ``dim`` raises: ``axis`` must be an integer, not None or a bool."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")


def _check_logits(logits, axis):
    """Check softmax's arguments as torch does; return the logits as an array.

    torch's softmax has no kernel for integer or bool tensors, and its ``dim``
    has no ``None`` (NumPy's "every axis"), so both raise ``TypeError``.
    """
    _check_axis(axis)
    return require_floating(logits)


def _check_axes(axis):
    """``axis`` as a tuple of integers, checked as ``torch.logsumexp`` checks ``dim``."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for one_axis in axes:
        _check_axis(one_axis)
    if not axes:
        raise ValueError("axis must name at least one axis, got ()")  # torch raises too
    return axes[0] if len(axes) == 1 else axes  # an int: NumPy allows -1 and 0 on a 0-d array


def _is_last_axis(axis, ndim):
    """Whether ``axis`` is the last one.

    torch's CPU log-softmax kernels for it and for the other axes round
    float16 intermediates at different steps.
    """
    return axis in (-1, ndim - 1)


def softmax(logits, axis=-1):
    r"""Probabilities from logits, stable for any finite logits.

    Each slice along ``axis`` is exponentiated and divided by its sum. The
    largest logit is subtracted first, so the largest exponent is
    $e^0 = 1$: no overflow, and at least one term of every sum is 1.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Unnormalised scores $x_{n,c}$; any shape works, the classes lie along
        ``axis``.
    axis : int, default -1
        The class axis.

    Returns
    -------
    probs : ndarray of the logits' shape
        $p_{n,c}$: non-negative, each slice along ``axis`` sums to 1.
        Slices that hold ``+inf``, ``NaN`` or only ``-inf`` give ``NaN``, as in
        ``torch.softmax``; an empty class axis gives an empty array. The
        logits' dtype in native byte order (torch has no big-endian tensors);
        float16 is computed in float32 and rounded once, as torch's CPU
        kernel does. 0-d logits give a 0-d ndarray.

    Raises
    ------
    TypeError
        Integer or bool logits, or an ``axis`` that is not an integer
        (``None`` included), as in ``torch.softmax``.

    Notes
    -----
    $$p_{n,c} = \frac{e^{x_{n,c} - m_n}}{\sum_{k=1}^{C} e^{x_{n,k} - m_n}},
    \qquad m_n = \max_k x_{n,k}$$

    References
    ----------
    Bridle, J. S. (1990). Probabilistic interpretation of feedforward
    classification network outputs, with relationships to statistical pattern
    recognition. *Neurocomputing*, 227-236.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import softmax

    probs = softmax(np.array([[2.0, 1.0, 0.1]]))
    print(np.array2string(probs, precision=4))
    #> [[0.659  0.2424 0.0986]]
    ```
    """
    logits = _check_logits(logits, axis)
    dtype = logits.dtype
    logits = widen_half(logits)  # float16 in float32, rounded once as torch's CPU kernel
    # -inf - (-inf) is NaN, as in torch; -1e308 - 1e308 overflows to -inf, whose
    # exponential is the 0 torch returns.
    with np.errstate(invalid="ignore", over="ignore"):
        # initial=-inf: with C = 0 the maximum is -inf instead of an error.
        row_max = np.max(logits, axis=axis, keepdims=True, initial=-np.inf)  # (N, 1)
        exps = np.exp(logits - row_max)  # (N, C)
        probs = exps / np.sum(exps, axis=axis, keepdims=True)  # (N, C)
    return np.asarray(probs).astype(dtype, copy=False)  # (N, C); 0-d stays an ndarray


def logsumexp(logits, axis=-1):
    r"""$\log \sum_c e^{x_{n,c}}$, the log of softmax's normaliser, without overflow.

    Factoring out the largest logit leaves a sum whose largest term is 1:
    the naive sum of exponentials overflows at $x \approx 88.7$ in float32,
    this form never does.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Unnormalised scores $x_{n,c}$; the classes lie along ``axis``.
        Integer or bool logits are computed in float32, torch's default
        dtype, as ``torch.logsumexp`` does. float16 takes torch's steps: the
        shift, the exponentials, the sum (accumulated in float32), its log
        and the final addition are each rounded to float16.
    axis : int or sequence of int, default -1
        The class axis (several axes are reduced together, as in torch).

    Returns
    -------
    lse : ndarray of shape (N,)
        $\log \sum_c e^{x_{n,c}} \ge \max_c x_{n,c}$; ``log_softmax`` is
        ``logits - lse`` along ``axis``. The logits' dtype in native byte
        order, float32 for integer or bool logits. An empty class axis gives
        ``-inf`` (the log of an empty sum), as in torch.

    Raises
    ------
    TypeError
        An ``axis`` that is neither an integer nor a tuple or list of integers
        (``None`` included), as in ``torch.logsumexp``; logits that are not
        numbers (object, string or date arrays).
    ValueError
        An empty ``axis`` ``()``, which torch refuses too (NumPy would reduce
        nothing).

    Notes
    -----
    $$\operatorname{LSE}(x_n) = m_n + \log \sum_{k=1}^{C} e^{x_{n,k} - m_n},
    \qquad m_n = \max_k x_{n,k}$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import logsumexp

    lse = logsumexp(np.array([[1000.0, 1000.0], [0.0, 0.0]]))
    print([f"{value:.6f}" for value in lse])
    #> ['1000.693147', '0.693147']
    ```
    """
    axis = _check_axes(axis)
    logits = np.asarray(logits)
    # torch's logsumexp takes complex logits too; integers and bools become float32.
    logits = native(logits) if np.iscomplexobj(logits) else as_real_float(logits)
    dtype = logits.dtype
    logits = widen_half(logits)  # (N, C): float16 steps in float32, each rounded below
    # NaN rows, as in torch; a finite subtraction that overflows gives -inf, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        row_max = np.max(logits, axis=axis, keepdims=True, initial=-np.inf)  # (N, 1)
        # A row of -inf (every class masked) has no finite maximum to factor
        # out: -inf - (-inf) would be NaN. Unshifted, its sum is 0 and its
        # log-sum-exp -inf, as in torch; a +inf row gives +inf the same way,
        # and an empty row (C = 0, maximum -inf by initial=-inf) gives -inf.
        row_max = np.where(np.isinf(row_max), 0, row_max)  # (N, 1)
        # torch.logsumexp is composed of tensor operations, each of which
        # stores its float16 result in float16: round_like rounds where they do.
        exps = round_like(np.exp(round_like(logits - row_max, dtype)), dtype)  # (N, C)
        sums = round_like(np.sum(exps, axis=axis, keepdims=True), dtype)  # (N, 1)
        lse = np.squeeze(row_max + round_like(np.log(sums), dtype), axis=axis)  # (N,)
        return np.asarray(lse).astype(dtype, copy=False)  # (N,); 0-d stays an ndarray


def log_softmax(logits, axis=-1):
    r"""Log-probabilities from logits, computed without ever taking log(0).

    ``np.log(softmax(x))`` rounds tiny probabilities to 0 and returns
    ``-inf``; the log-sum-exp form subtracts the log of the row's normaliser
    from the shifted logits instead, so a logit 1000 below the maximum gives
    a log-probability near -1000, not ``-inf``.

    Parameters
    ----------
    logits : array_like of shape (N, C)
        Unnormalised scores $x_{n,c}$; the classes lie along ``axis``.
    axis : int, default -1
        The class axis.

    Returns
    -------
    log_probs : ndarray of the logits' shape
        $\log p_{n,c} \le 0$; ``np.exp(log_probs)`` sums to 1 along ``axis``.
        An empty class axis gives an empty array, as in ``torch.log_softmax``.
        The logits' dtype in native byte order; float16 is computed in
        float32 and rounded once (below its range, ``-inf``, as in torch),
        except that along the last axis, as torch's kernel for that axis,
        the normaliser $\sum_k e^{x_{n,k} - m_n}$ and its log are first
        rounded to float16.

    Raises
    ------
    TypeError
        Integer or bool logits, or an ``axis`` that is not an integer
        (``None`` included), as in ``torch.log_softmax``.

    Notes
    -----
    $$\log p_{n,c} = (x_{n,c} - m_n) - \log \sum_{k=1}^{C} e^{x_{n,k} - m_n},
    \qquad m_n = \max_k x_{n,k}$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import log_softmax

    log_probs = log_softmax(np.array([[2.0, 1.0, 0.1], [1000.0, 0.0, -1000.0]]))
    print(log_probs.round(4))
    #> [[-4.170e-01 -1.417e+00 -2.317e+00]
    #>  [ 0.000e+00 -1.000e+03 -2.000e+03]]
    ```
    """
    logits = _check_logits(logits, axis)
    dtype = logits.dtype
    logits = widen_half(logits)  # float16 is computed in float32, as in torch's CPU kernel
    # NaN rows, as in torch; a finite subtraction that overflows gives -inf, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        row_max = np.max(logits, axis=axis, keepdims=True, initial=-np.inf)  # (N, 1)
        shifted = logits - row_max  # (N, C)
        sums = np.sum(np.exp(shifted), axis=axis, keepdims=True)  # (N, 1)
        if _is_last_axis(axis, logits.ndim):
            # torch's last-axis kernel stores the sum and its log in the logits'
            # dtype (a no-op but for float16) before subtracting.
            log_sums = round_like(np.log(round_like(sums, dtype)), dtype)  # (N, 1)
        else:
            log_sums = np.log(sums)  # (N, 1)
        log_probs = shifted - log_sums  # (N, C)
        # Below float16's range is -inf, as in torch; 0-d stays an ndarray.
        return np.asarray(log_probs).astype(dtype, copy=False)  # (N, C)

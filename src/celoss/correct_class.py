r"""Step 3 of the walkthrough: pick each example's probability of its correct class.

The loss looks at one number per example: the probability (or
log-probability) the model gave to the class the target names. Every other
entry of the row influences the loss only through the softmax's normaliser.
"""

import numpy as np


def class_axis(ndim):
    """The class axis of logits with ``ndim`` dimensions, as in torch.

    Unbatched logits ``(C,)`` keep their classes on axis 0; every batched
    shape ``(N, C)`` or ``(N, C, d1, ..., dK)`` keeps them on axis 1.

    Parameters
    ----------
    ndim : int
        Number of dimensions of the logits, at least 1.

    Returns
    -------
    axis : int
        0 for 1-D logits, else 1.

    Examples
    --------
    ```python
    from celoss.correct_class import class_axis

    print(class_axis(1), class_axis(2), class_axis(4))
    #> 0 1 1
    ```
    """
    return 0 if ndim == 1 else 1


def correct_class_probs(probs, targets):
    r"""The probability each example gave its target class: $p_{n,y_n}$.

    For every position $n$ the entry of ``probs`` at class ``targets[n]``
    is taken along the class axis (1 for batched input, 0 for a single
    example).

    Parameters
    ----------
    probs : array_like of shape (N, C)
        Probabilities $p_{n,c}$, or ``(C,)`` for one example, or
        ``(N, C, d1, ..., dK)``.
    targets : array_like of int, shape (N,)
        Class indices $y_n$ in ``[0, C)``; ``()`` for one example,
        ``(N, d1, ..., dK)`` for K-dimensional input.

    Returns
    -------
    correct_probs : ndarray of shape (N,)
        $p_{n,y_n}$, the shape of ``targets``.

    Raises
    ------
    IndexError
        If a target is outside ``[0, C)``.
    ValueError
        If ``targets`` is not ``probs``' shape without the class axis, or
        ``probs`` is 0-d.
    TypeError
        If ``targets`` are not integers (bool included).

    Notes
    -----
    $$p_{n,y_n} = \sum_{c=1}^{C} p_{n,c}\,[c = y_n]$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import correct_class_probs

    probs = np.array([[0.659, 0.242, 0.099], [0.109, 0.802, 0.089]])
    print(correct_class_probs(probs, np.array([0, 1])))
    #> [0.659 0.802]
    ```
    """
    probs = np.asarray(probs)  # (N, C)
    probs = probs.astype(probs.dtype.newbyteorder("="), copy=False)  # torch is native-endian
    targets = np.asarray(targets)
    if probs.ndim == 0:
        raise ValueError("probs must have shape (C,), (N, C) or (N, C, d1, ..., dK), "
                         "got shape ()")
    axis = class_axis(probs.ndim)
    num_classes = probs.shape[axis]
    expected = probs.shape[:axis] + probs.shape[axis + 1:]  # (N,): no class axis
    if targets.shape != expected:
        raise ValueError(f"targets shape {targets.shape} does not match probs shape "
                         f"{probs.shape}: expected {expected}, one class per example")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets are class indices and must be integers, got dtype "
                        f"{targets.dtype}")
    out_of_range = (targets < 0) | (targets >= num_classes)
    if np.any(out_of_range):
        bad = targets[out_of_range].flat[0]
        raise IndexError(
            f"targets: class index {bad} is out of range for C={num_classes} "
            f"classes (expected 0 <= y_n < {num_classes})"
        )
    picked = np.take_along_axis(probs, np.expand_dims(targets, axis), axis)  # (N, 1)
    return np.squeeze(picked, axis=axis)  # (N,)


def correct_class_log_probs(log_probs, targets):
    r"""The log-probability each example gave its target class: $\log p_{n,y_n}$.

    The same pick as :func:`correct_class_probs`, applied to the output of
    :func:`celoss.log_softmax`; picking from log-probabilities keeps values
    such as $-1000$ that $\log(p_{n,y_n})$ would round to ``-inf``.

    Parameters
    ----------
    log_probs : array_like of shape (N, C)
        Log-probabilities $\log p_{n,c}$, or ``(C,)``, or ``(N, C, d1, ..., dK)``.
    targets : array_like of int, shape (N,)
        Class indices $y_n$ in ``[0, C)``.

    Returns
    -------
    correct_log_probs : ndarray of shape (N,)
        $\log p_{n,y_n} \le 0$, the shape of ``targets``.

    Notes
    -----
    $$\log p_{n,y_n} = \sum_{c=1}^{C} \log p_{n,c}\,[c = y_n]$$

    Examples
    --------
    ```python
    import numpy as np
    from celoss import correct_class_log_probs, log_softmax

    log_probs = log_softmax(np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]))
    print(np.array2string(correct_class_log_probs(log_probs, [0, 1]), precision=8))
    #> [-0.41703002 -0.22004952]
    ```
    """
    return correct_class_probs(log_probs, targets)

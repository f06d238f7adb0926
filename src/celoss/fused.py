r"""At scale: loss and gradient in one pass, a cache-sized block at a time.

A language model's logits are (N, V) with N = batch x sequence positions and
V the vocabulary: 4096 x 32768 float32 is already 512 MiB, and the textbook
route keeps two more arrays that size (the log-softmax and the gradient). The
loss needs only three numbers per row: the log-sum-exp, the target's logit
and, with label smoothing, the weighted sum of the log-probabilities. So the
rows are cut into blocks small enough to stay in the CPU cache; each block is read
once from memory, its exponentials go straight into the block's slice of the
gradient (or into a small scratch array when no gradient is wanted), and the
blocks are shared among threads (NumPy releases the GIL inside its loops).
When a single row is larger than a block, the row is cut into column tiles
and its log-sum-exp is accumulated tile by tile with the online normaliser of
Milakov and Gimelshein (2018).
"""

import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._dtypes import round_like
from ._validation import check_inputs
from .gradient import cross_entropy_grad
from .nll import target_weights
from .reduction import _mix_smoothing, _reduce_as_torch

#: Bytes of logits one thread works on at a time. The block and its
#: exponentials stay in the shared L3 cache between the passes over them (max,
#: shift, exp, sum), and each block carries enough work to hide the ~30 NumPy
#: calls of Python overhead it costs: 128 KiB blocks were twice as slow as
#: 1 MiB on the benchmark machine (512 KiB L2 per core, 32 MiB shared L3);
#: ``benchmarks/bench_fused.py`` measures it.
BLOCK_BYTES = 1024 * 1024

#: Threads that process blocks at the same time: one per core.
WORKERS = os.cpu_count() or 1


def block_shape(num_classes, itemsize, block_bytes=BLOCK_BYTES):
    """Rows per block and columns per tile for logits with ``num_classes`` columns.

    Whole rows are kept together while one row fits in ``block_bytes``;
    a wider row is cut into tiles of ``block_bytes`` each.

    Parameters
    ----------
    num_classes : int
        V, the length of a row.
    itemsize : int
        Bytes per logit (4 for float32).
    block_bytes : int, default BLOCK_BYTES
        Budget for one block of logits.

    Returns
    -------
    rows : int
        Rows per block, at least 1.
    tile : int
        Columns per tile, at most ``num_classes``; ``rows * tile`` elements
        fit in ``block_bytes`` (one element at least).

    Examples
    --------
    ```python
    from celoss.fused import block_shape

    print(block_shape(32_768, 4), block_shape(1_000_000, 4))  # float32, 1 MiB blocks
    #> (8, 32768) (1, 262144)
    ```
    """
    elements = max(1, block_bytes // itemsize)
    tile = min(num_classes, elements)
    rows = max(1, elements // max(1, num_classes))
    return rows, tile


def online_logsumexp(x, exps, tile):
    r"""Log-sum-exp of each row of a block, reading the block once, tile by tile.

    Each tile's maximum updates a running maximum $m$; the running sum $d$
    of exponentials is rescaled by $e^{m_\text{old} - m_\text{new}}$ whenever
    the maximum grows, so no exponent is ever positive and no second pass
    over the row is needed to find its maximum first.

    Parameters
    ----------
    x : ndarray of shape (R, V)
        A block of logits $x_{n,c}$.
    exps : ndarray of shape (R, V) or (R, tile)
        Receives $e^{x_{n,c} - m^{(k)}_n}$, each tile shifted by the running
        maximum $m^{(k)}_n$ after tile $k$. Full width keeps every tile (the
        gradient uses them); ``(R, tile)`` is scratch that each tile overwrites.
    tile : int
        Columns per tile.

    Returns
    -------
    lse : ndarray of shape (R, 1)
        $\log \sum_c e^{x_{n,c}}$.
    shifts : list of ndarray of shape (R, 1)
        $m^{(k)}_n$ for each tile $k$, in column order; the last is $m_n$.
    total : ndarray of shape (R, 1)
        $d_n = \sum_c e^{x_{n,c} - m_n}$.

    Notes
    -----
    Over tiles $k = 1, \dots, K$ of columns $T_k$, starting from
    $m^{(0)}$ equal to the most negative finite float and $d^{(0)} = 0$:

    $$m^{(k)} = \max\big(m^{(k-1)}, \max_{c \in T_k} x_c\big), \qquad
    d^{(k)} = d^{(k-1)} e^{m^{(k-1)} - m^{(k)}} + \sum_{c \in T_k} e^{x_c - m^{(k)}}$$

    and $\log \sum_c e^{x_c} = m^{(K)} + \log d^{(K)}$. Starting from a finite
    number rather than $-\infty$ keeps a row whose first tiles are all
    $-\infty$ (masked classes) away from $-\infty - (-\infty)$.

    References
    ----------
    Milakov, M. and Gimelshein, N. (2018). Online normalizer calculation for
    softmax. arXiv:1805.02867.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.fused import online_logsumexp

    x = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, -np.inf, 5.0, 1.0]])
    lse, shifts, total = online_logsumexp(x, np.empty((2, 2)), tile=2)
    print(lse.ravel().round(6), [s.ravel() for s in shifts])
    #> [4.44019  5.024745] [array([2., 0.]), array([4., 5.])]
    ```
    """
    num_rows, num_classes = x.shape
    running_max = np.full((num_rows, 1), np.finfo(x.dtype).min, dtype=x.dtype)  # (R, 1)
    running_sum = np.zeros((num_rows, 1), dtype=x.dtype)  # (R, 1)
    shifts = []
    for start in range(0, num_classes, tile):
        stop = min(start + tile, num_classes)
        x_tile = x[:, start:stop]  # (R, T)
        # Full-width exps keep every tile; tile-width scratch is reused.
        exps_tile = exps[:, start:stop] if exps.shape[1] == num_classes else exps[:, :stop - start]
        new_max = np.maximum(running_max, np.max(x_tile, axis=1, keepdims=True))  # (R, 1)
        np.subtract(x_tile, new_max, out=exps_tile)  # (R, T)
        np.exp(exps_tile, out=exps_tile)  # (R, T)
        running_sum *= np.exp(running_max - new_max)  # (R, 1)
        running_sum += np.sum(exps_tile, axis=1, keepdims=True)  # (R, 1)
        running_max = new_max
        shifts.append(new_max)
    return running_max + np.log(running_sum), shifts, running_sum  # (R, 1)


def weighted_log_prob_sums(x, shift, log_total, weight, scratch, tile, log_prob_dtype=None):
    r"""$\sum_c w_c \log p_{n,c}$ for each row of a block: the label-smoothing term.

    Each log-probability is formed as torch's log-softmax forms it,
    $(x_{n,c} - m_n) - \log d_n$, before it is weighted and summed: summing
    the logits first and subtracting $m_n \sum_c w_c$ afterwards cancels
    catastrophically when the logits share a large offset (at
    $x \approx 10^4$ in float32 the loss would be off in its fourth digit),
    and $\sum_c w_c \cdot \log d_n$ is NaN where torch's sum is not (an
    infinite weight times $\log d_n = 0$).

    Parameters
    ----------
    x : ndarray of shape (R, V)
        A block of logits.
    shift : ndarray of shape (R, 1)
        $m_n$, each row's maximum.
    log_total : ndarray of shape (R, 1)
        $\log d_n$, the log of the row's sum of $e^{x_{n,c} - m_n}$.
    weight : ndarray of shape (V,) or None
        Class weights $w_c$; ``None`` means all ones.
    scratch : ndarray of shape (R, tile)
        Workspace for the log-probabilities of a tile.
    tile : int
        Columns per tile.
    log_prob_dtype : dtype, optional
        float16 to round each log-probability, and its product with the
        weight, to float16 as torch's float16 log-softmax and product do (a
        log-probability below -65520, beyond float16's range, is then
        $-\infty$, and its zero weight gives NaN); ``None`` keeps ``x``'s
        dtype.

    Returns
    -------
    sums : ndarray of shape (R, 1)
        $\sum_c w_c \log p_{n,c}$.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.fused import weighted_log_prob_sums

    x = np.array([[1.0, 2.0, 3.0]])
    row_max = np.max(x, axis=1, keepdims=True)  # (1, 1): m
    log_total = np.log(np.sum(np.exp(x - row_max), axis=1, keepdims=True))  # (1, 1): log d
    sums = weighted_log_prob_sums(x, row_max, log_total, np.array([1.0, 0.0, 2.0]),
                                  np.empty((1, 2)), 2)
    print(sums.round(6), (np.log(np.exp(x) / np.exp(x).sum()) @ [1.0, 0.0, 2.0]).round(6))
    #> [[-3.222818]] [-3.222818]
    ```
    """
    num_rows, num_classes = x.shape
    sums = np.zeros((num_rows, 1), dtype=x.dtype)  # (R, 1)
    for start in range(0, num_classes, tile):
        stop = min(start + tile, num_classes)
        log_probs = scratch[:, :stop - start]  # (R, T)
        np.subtract(x[:, start:stop], shift, out=log_probs)  # (R, T)
        log_probs -= log_total  # (R, T)
        if log_prob_dtype is not None:
            np.copyto(log_probs, round_like(log_probs, log_prob_dtype))  # (R, T)
        if weight is not None:
            log_probs *= weight[start:stop]  # (R, T)
            if log_prob_dtype is not None:
                np.copyto(log_probs, round_like(log_probs, log_prob_dtype))  # (R, T)
        sums += np.sum(log_probs, axis=1, keepdims=True)  # (R, 1)
    return sums  # (R, 1)


def fused_block(x, targets, kept, target_weight, scale, weight, label_smoothing,
                grad, scratch, tile, log_prob_dtype=None):
    r"""Per-example losses of one block of rows and, optionally, their gradient.

    The two losses label smoothing mixes come back apart, as
    :func:`celoss.cross_entropy` and torch reduce each on its own before
    mixing them (which decides, for instance, NaN against inf when a mean's
    denominator is 0).

    Parameters
    ----------
    x : ndarray of shape (R, V)
        A block of logits $x_{n,c}$.
    targets : ndarray of int, shape (R,)
        Class indices, with ignored examples mapped to any valid class.
    kept : ndarray of bool, shape (R,)
        False for ignored examples.
    target_weight : ndarray of shape (R,)
        $w_{y_n}$, 0 for ignored examples.
    scale : ndarray of shape (R,)
        $1/D$ for the mean's denominator $D$ (1 for sum and none), 0 for
        ignored examples.
    weight : ndarray of shape (V,) or None
        Class weights $w_c$.
    label_smoothing : float
        $\varepsilon$.
    grad : ndarray of shape (R, V) or None
        Receives $\partial \ell / \partial x_{n,c}$; ``None`` for the loss only.
    scratch : ndarray of shape (R, tile)
        Workspace.
    tile : int
        Columns per tile.
    log_prob_dtype : dtype, optional
        float16 for float16 logits (computed in float32): the log-probabilities
        the losses use are rounded to float16, as torch's are.

    Returns
    -------
    target_losses : ndarray of shape (R,)
        $w_{y_n} (\text{lse}_n - x_{n,y_n})$, the loss against the class
        index; 0 for ignored examples.
    uniform_sums : ndarray of shape (R,) or None
        $-\sum_c w_c \log p_{n,c}$, the loss against the uniform
        distribution before torch scales it by $\varepsilon / C$; 0 for
        ignored examples; ``None`` without label smoothing.

    Notes
    -----
    With $\text{lse}_n = \log \sum_c e^{x_{n,c}}$, $w_\Sigma = \sum_c w_c$ and
    $s_n$ = ``scale``, the example's loss is

    $$l_n = (1 - \varepsilon)\, w_{y_n} (\text{lse}_n - x_{n,y_n})
    - \frac{\varepsilon}{C} \sum_c w_c \log p_{n,c}$$

    $$\frac{\partial \ell}{\partial x_{n,c}} = s_n \Big(
    \big((1 - \varepsilon) w_{y_n} + \tfrac{\varepsilon}{C} w_\Sigma\big) p_{n,c}
    - (1 - \varepsilon) w_{y_n} [c = y_n] - \tfrac{\varepsilon}{C} w_c \Big)$$
    """
    num_rows, num_classes = x.shape
    smoothing = label_smoothing / num_classes  # eps / C
    exps = grad if grad is not None else scratch  # (R, V) or (R, T)
    _, shifts, total = online_logsumexp(x, exps, tile)  # (R, 1)
    row_max = shifts[-1]  # (R, 1)
    # torch's float16 log-softmax holds the sum and its log in float16 (so a
    # confident row's top log-probability is exactly 0); the gradient keeps total.
    log_total = round_like(np.log(round_like(total, log_prob_dtype)), log_prob_dtype)  # (R, 1)

    # lse - x is computed as log d - (x - m), as torch's log-softmax does: a
    # loss near 0 is then not the difference of two large numbers.
    rows = np.arange(num_rows)  # (R,)
    correct_shifted = x[rows, targets][:, None] - row_max  # (R, 1)
    nll = (log_total - correct_shifted)[:, 0]  # (R,)
    if log_prob_dtype is not None:  # -log p_y as torch's float16 log-softmax holds it
        nll = round_like(nll, log_prob_dtype)  # (R,)
    target_losses = np.where(kept, target_weight * nll, 0)  # (R,)
    uniform_sums = None
    total_class_weight = 0  # w_Sigma, needed only with smoothing
    if label_smoothing > 0:
        total_class_weight = num_classes if weight is None else np.sum(weight)  # ()
        log_prob_sums = weighted_log_prob_sums(x, row_max, log_total, weight, scratch,
                                               tile, log_prob_dtype)  # (R, 1)
        uniform_sums = np.where(kept, -log_prob_sums[:, 0], 0)  # (R,)

    if grad is not None:
        # exps hold e^{x - m^(k)} per tile k: one factor per tile makes them
        # probabilities scaled by the example's total target weight.
        target_mass = (1 - label_smoothing) * target_weight + smoothing * total_class_weight  # (R,)
        coefficient = (scale * target_mass)[:, None] / total  # (R, 1)
        for k, start in enumerate(range(0, num_classes, tile)):
            stop = min(start + tile, num_classes)
            grad_tile = grad[:, start:stop]  # (R, T)
            grad_tile *= coefficient * np.exp(shifts[k] - row_max)  # (R, T)
            if label_smoothing > 0:
                if weight is None:
                    grad_tile -= (smoothing * scale)[:, None]  # (R, T)
                else:
                    smoothed = scratch[:, :stop - start]  # (R, T)
                    np.multiply((smoothing * scale)[:, None], weight[start:stop], out=smoothed)
                    grad_tile -= smoothed  # (R, T)
        grad[rows, targets] -= (1 - label_smoothing) * target_weight * scale  # (R,)
    return target_losses, uniform_sums  # (R,), (R,) or None


def _check_out(out, shape, dtype, logits):
    """The caller's gradient array, checked; a new one when ``out`` is None."""
    if out is None:
        return np.empty(shape, dtype=dtype)  # (N, V)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(
            f"out must have the gradient's shape {shape} and dtype {dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    if isinstance(logits, np.ndarray) and np.may_share_memory(out, logits):
        raise ValueError("out must not share memory with logits (inputs are never modified)")
    return out


def fused_cross_entropy(logits, targets, *, weight=None, ignore_index=-100,
                        reduction="mean", label_smoothing=0.0, return_grad=False,
                        out=None):
    r"""Cross-entropy and its gradient in one pass over (N, V) logits, block by block.

    The same value as :func:`celoss.cross_entropy` and the same gradient as
    :func:`celoss.cross_entropy_grad`, for class-index targets, without ever
    materialising the (N, V) softmax: rows are processed in cache-sized
    blocks on every core, each block's log-sum-exp comes from the online
    normaliser, and the gradient is written straight into the array it is
    returned in. Extra memory is a few blocks per thread plus O(N), for
    float32 and float64 (float16: see the Notes).

    Parameters
    ----------
    logits : array_like of shape (N, V)
        Unnormalised scores $x_{n,c}$, floating point; V is C, the number of
        classes (the vocabulary of a language model). Never modified.
    targets : array_like of int, shape (N,)
        Class indices $y_n$ in ``[0, V)`` or ``ignore_index``.
    weight : array_like of shape (V,), optional
        Class weights $w_c$.
    ignore_index : int, default -100
        Target value that contributes to neither the loss, the mean's
        denominator, nor the gradient.
    reduction : {"mean", "sum", "none"}, default "mean"
        As in :func:`celoss.cross_entropy`.
    label_smoothing : float, default 0.0
        $\varepsilon$ in [0, 1].
    return_grad : bool, default False
        Also return $\partial \ell / \partial x$ (of the sum of the losses
        for ``"none"``), computed in the same pass (float16: by
        :func:`celoss.cross_entropy_grad`, after it).
    out : ndarray of shape (N, V), optional
        Where to write the gradient, in the logits' dtype, so a training
        loop allocates nothing; requires ``return_grad=True``.

    Returns
    -------
    loss : ndarray of shape ()
        As :func:`celoss.cross_entropy` returns it; ``(N,)`` for ``"none"``.
    grad : ndarray of shape (N, V)
        Only with ``return_grad=True``: as :func:`celoss.cross_entropy_grad`
        returns it; ``out`` itself when given.

    Raises
    ------
    TypeError, ValueError, IndexError
        Bad input, with the messages of :func:`celoss.cross_entropy`.
    ValueError
        Logits that are not (N, V) or targets that are probabilities
        (use :func:`celoss.cross_entropy`); an ``out`` of the wrong shape or
        dtype, read-only, overlapping ``logits``, or without ``return_grad``.

    Notes
    -----
    Per row, the loss needs only the log-sum-exp, the target's logit and,
    when smoothing, $\sum_c w_c \log p_{n,c}$ with
    $\log p_{n,c} = x_{n,c} - \text{lse}_n$:

    $$l_n = (1 - \varepsilon)\, w_{y_n} \big(\text{lse}_n - x_{n,y_n}\big)
    - \frac{\varepsilon}{C} \sum_c w_c \log p_{n,c},
    \qquad \text{lse}_n = \log \sum_{c=1}^{C} e^{x_{n,c}}$$

    (0 for ignored rows), reduced as :func:`celoss.cross_entropy` reduces
    them (each of the two sums on its own, then mixed). The
    gradient is $p_{n,c} \sum_k w_k q_{n,k} - w_c q_{n,c}$ divided by the
    mean's denominator, with $q_{n,k} = (1 - \varepsilon)[k = y_n] +
    \varepsilon / C$ the smoothed target, as in
    :func:`celoss.cross_entropy_grad`; its
    exponentials are the ones the log-sum-exp already computed.

    Blocks hold ``BLOCK_BYTES`` of logits; rows longer than that are
    split into tiles merged by :func:`online_logsumexp`. The memory savings
    are for float32 and float64. float16 logits are computed in float32 (the
    shared input checks widen them, which copies them). The log-probabilities
    the loss uses are rounded to float16 one by one, as torch's float16
    log-softmax rounds them, after rounding each row's sum of exponentials
    and its log, as torch's kernel does: one below -65520 (beyond float16's
    range) is $-\infty$, so an example whose target is that class has an
    infinite loss and, with label smoothing, so does every example with such
    a class (NaN where its weight is 0), as in torch. A float16 gradient is
    :func:`celoss.cross_entropy_grad`'s, which rounds each of torch's
    float16 steps from the whole log-softmax, so it is not computed in the
    blocks: it takes that function's time and its (N, V) float32
    intermediates (about 13 times the logits' bytes at its peak).

    References
    ----------
    Milakov, M. and Gimelshein, N. (2018). Online normalizer calculation for
    softmax. arXiv:1805.02867.

    Examples
    --------
    ```python
    import numpy as np
    from celoss import cross_entropy
    from celoss.fused import fused_cross_entropy

    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    targets = np.array([0, 1])
    loss, grad = fused_cross_entropy(logits, targets, return_grad=True)
    print(f"{float(loss):.12f} {float(cross_entropy(logits, targets)):.12f}")
    print(np.array2string(grad, precision=4))
    #> 0.318539769649 0.318539769649
    #> [[-0.1705  0.1212  0.0493]
    #>  [ 0.0543 -0.0988  0.0445]]
    ```
    """
    caller = dict(logits=logits, targets=targets, weight=weight, ignore_index=ignore_index,
                  reduction=reduction, label_smoothing=label_smoothing)
    inputs = check_inputs(logits, targets, weight, ignore_index, reduction,
                          label_smoothing)
    if inputs.probability_targets or inputs.logits.ndim != 2:
        raise ValueError(
            "fused_cross_entropy takes logits of shape (N, V) and class-index "
            f"targets of shape (N,), got logits {inputs.logits.shape} and targets "
            f"{inputs.targets.shape}; use celoss.cross_entropy for other shapes"
        )
    if out is not None and not return_grad:
        raise ValueError("out= receives the gradient: pass return_grad=True with it")
    logits, targets, weight = inputs.logits, inputs.targets, inputs.weight
    num_rows, num_classes = logits.shape
    dtype = logits.dtype

    target_weight = target_weights(targets, weight=weight, ignore_index=ignore_index,
                                   dtype=dtype)  # (N,)
    kept = targets != ignore_index  # (N,)
    safe_targets = np.where(kept, targets, 0)  # (N,)
    total_weight = np.sum(target_weight)  # ()
    denominator = total_weight if inputs.reduction == "mean" else np.ones((), dtype)  # ()
    with np.errstate(divide="ignore"):  # 1 / 0 = inf: NaN gradients, as in torch
        scale = np.where(kept, 1 / denominator, 0).astype(dtype)  # (N,)
    grad = None
    if return_grad:
        grad = _check_out(out, logits.shape, inputs.logits_dtype, caller["logits"])  # (N, V)
    # float16's gradient takes torch's float16 steps, which start from the whole
    # float16 log-softmax: cross_entropy_grad computes it, not the blocks.
    float16 = inputs.logits_dtype == np.float16
    block_grad = None if float16 else grad  # (N, V) or None
    log_prob_dtype = inputs.logits_dtype if float16 else None
    target_losses = np.empty(num_rows, dtype=dtype)  # (N,)
    uniform_sums = np.empty(num_rows, dtype=dtype) if inputs.label_smoothing > 0 else None

    rows_per_block, tile = block_shape(num_classes, dtype.itemsize, BLOCK_BYTES)
    starts = queue.SimpleQueue()
    for start in range(0, num_rows, rows_per_block):
        starts.put(start)

    def worker():
        scratch = np.empty((rows_per_block, tile), dtype=dtype)  # (R, T)
        # NaN and inf where torch has them; e^{-huge} underflows to 0 silently.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            while True:
                try:
                    start = starts.get_nowait()
                except queue.Empty:
                    return
                block = slice(start, min(start + rows_per_block, num_rows))
                target_losses[block], uniform = fused_block(
                    logits[block], safe_targets[block], kept[block],
                    target_weight[block], scale[block], weight, inputs.label_smoothing,
                    None if block_grad is None else block_grad[block],
                    scratch[:block.stop - block.start], tile, log_prob_dtype,
                )  # (R,)
                if uniform is not None:
                    uniform_sums[block] = uniform  # (R,)

    workers = min(WORKERS, starts.qsize())
    if workers <= 1:
        worker()
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()  # re-raises a worker's exception here

    # Reduced and mixed in cross_entropy's steps, which are torch's.
    loss = _reduce_as_torch(target_losses, inputs.reduction, total_weight,
                            inputs.dtype)  # ()
    if uniform_sums is not None:
        uniform_sums = round_like(uniform_sums, inputs.dtype)  # (N,): as torch holds them
        uniform_loss = _reduce_as_torch(uniform_sums, inputs.reduction, total_weight,
                                        inputs.dtype, count=weight is None)  # ()
        loss = _mix_smoothing(loss, uniform_loss, inputs.label_smoothing, num_classes,
                              inputs.dtype)  # ()
    loss = np.asarray(loss).astype(inputs.dtype, copy=False)  # ()
    if float16 and return_grad and out is None:
        grad = cross_entropy_grad(**caller)  # (N, V): no copy into the unused new array
    elif float16 and return_grad:
        np.copyto(grad, cross_entropy_grad(**caller))  # (N, V)
    return (loss, grad) if return_grad else loss

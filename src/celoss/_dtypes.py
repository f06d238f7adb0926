"""Floating-point types as torch treats them: which inputs are floats, and half precision.

torch's CPU kernels compute float16 in float32 and round the result once;
the math modules call :func:`widen_half` before they compute and round back
after. Kept apart from the input checks so that :mod:`celoss.reduction`,
which those checks import, can use it too.
"""

import numpy as np


def native(array):
    """``array`` in the machine's byte order.

    torch has no big-endian tensors (``torch.from_numpy`` refuses ``'>f4'``),
    so its results are native. Converting first also keeps the float16 checks
    below true for ``'>f2'``, which NumPy does not count equal to float16.
    """
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def require_floating(array, name="logits"):
    """``array`` as a native ndarray; TypeError naming ``name`` unless it is floating point."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array, got dtype {array.dtype}; "
            f"convert with {name}.astype(np.float64)"
        )
    return native(array)


def as_real_float(array, name="logits"):
    """``array`` as a native floating ndarray, as torch's float-only kernels read it.

    Integer and bool arrays become float32, torch's default dtype (``torch.sigmoid``
    and ``torch.special.entr`` compute them so); complex, object, string and
    date arrays raise TypeError naming ``name``.
    """
    array = np.asarray(array)
    if array.dtype.kind in "biu":  # bool, signed and unsigned integers
        return array.astype(np.float32)
    return require_floating(array, name)


def widen_half(array):
    """``array`` in float32 if it is float16, else unchanged."""
    return array.astype(np.float32) if array.dtype == np.float16 else array


def round_like(array, dtype):
    """``array`` rounded to float16 and back if ``dtype`` is float16, else unchanged.

    torch stores the intermediates of a float16 computation (log-probabilities,
    their gradient) in float16; rounding here lets the float32 steps see them.
    """
    if dtype != np.float16:
        return array
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as in torch
        return array.astype(np.float16).astype(array.dtype)

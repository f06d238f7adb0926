"""Verification cases of the "Numerical stability" chapter (docs/numerical-stability.py).

The chapter's own inputs, compared with PyTorch: logits past the float16 and
float32 overflow thresholds, log-sum-exp and log-softmax far from the maximum,
and a freshly initialised GPT-2's first loss, near ln V, in float16 and bfloat16.
"""

import functools

import numpy as np

import celoss
from celoss.parity import StepCheck, compare_arrays, import_torch

CHAPTER = "Numerical stability"
PAGE = "numerical-stability.py"


def _report(options, dtype, shape, steps):
    """A ParityReport from hand-made StepChecks."""
    return celoss.ParityReport(options, dtype, tuple(shape), steps,
                               import_torch().__version__, np.__version__)


def _compare(logits, targets, **options):
    return lambda: celoss.compare_with_torch(logits, targets, raise_on_mismatch=False,
                                             **options)


def _log_sum_exp_sweep():
    """Log-sum-exp as x - log_softmax(x) against torch.logsumexp on [x, x], float32."""
    torch = import_torch()
    x = np.linspace(-130.0, 130.0, 1041).astype(np.float32)  # (1041,)
    pairs = np.stack([x, x], axis=1)  # (1041, 2)
    ours = (pairs - celoss.log_softmax(pairs, axis=1))[:, 0]  # (1041,)
    theirs = torch.logsumexp(torch.from_numpy(pairs), dim=1).numpy()  # (1041,)
    return _report({"rows": "[x, x]"}, "float32", pairs.shape,
                   [compare_arrays("logsumexp", ours, theirs, "float32")])


V, D = 50_257, 768  # GPT-2's vocabulary and width, as on the page
SIGMA_W = 0.02  # GPT-2's initial standard deviation of the output weights


@functools.cache  # W has V * d entries: drawn once per process
def _first_logits():
    """The page's logits, made as there: a freshly initialised GPT-2's first ones.

    LayerNorm'd hidden states (N, d) times an output matrix (V, d) drawn with
    SIGMA_W, in float32: logits of standard deviation SIGMA_W * sqrt(d).
    """
    rng = np.random.default_rng(seed=1)  # the page's seed; the page's draws in order
    raw = rng.standard_normal((64, D))  # (N, d)
    centred = raw - raw.mean(axis=1, keepdims=True)  # (N, d)
    hidden = (centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + 1e-5)
              ).astype(np.float32)  # (N, d)
    weights = SIGMA_W * rng.standard_normal((V, D), dtype=np.float32)  # (V, d)
    logits = hidden @ weights.T  # (N, V)
    logits.flags.writeable = False  # shared by every call
    return logits, rng.integers(0, V, size=len(raw))  # (N, V), (N,)


def _language_model_logits(dtype):
    logits, targets = _first_logits()
    return logits.astype(dtype), targets.copy()


def _bfloat16_loss():
    """The bfloat16 loss of torch, within one bfloat16 step of celoss's float64 loss."""
    torch = import_torch()
    logits, targets = _language_model_logits(np.float32)
    exact = float(celoss.cross_entropy(logits.astype(np.float64), targets))
    theirs = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).to(torch.bfloat16), torch.from_numpy(targets)).item()
    near = torch.tensor(exact).to(torch.bfloat16)
    step = ((near.view(torch.int16) + 1).view(torch.bfloat16).double()
            - near.double()).item()  # the spacing of bfloat16 there
    difference = abs(theirs - exact)
    check = StepCheck("cross_entropy (one bfloat16 step)", difference,
                      difference / abs(theirs), 0.0, step, difference <= step)
    return _report({"V": V, "d": D}, "bfloat16", logits.shape, [check])


def cases():
    """Yield (case_id, run) for the Verification page."""
    yield ("float32 logits above the overflow threshold [90, 89, 88]",
           _compare(np.array([[90.0, 89.0, 88.0]], dtype=np.float32), np.array([0])))
    yield ("float16 logits above the overflow threshold [12, 11, 10]",
           _compare(np.array([[12.0, 11.0, 10.0]], dtype=np.float16), np.array([0])))
    yield "float32 log-sum-exp of [x, x], x from -130 to 130", _log_sum_exp_sweep
    d = np.arange(0.0, 120.5, 0.5, dtype=np.float32)  # (241,)
    yield ("float32 rows [0, -d], d up to 120, target 1 (log(softmax) is -inf there)",
           _compare(np.stack([np.zeros_like(d), -d], axis=1), np.ones(d.size, dtype=np.int64)))
    for dtype in (np.float32, np.float16):
        logits, targets = _language_model_logits(dtype)
        yield (f"{np.dtype(dtype).name} loss near ln V, V = 50,257",
               _compare(logits, targets))
    yield "bfloat16 loss near ln V, V = 50,257, within one step", _bfloat16_loss

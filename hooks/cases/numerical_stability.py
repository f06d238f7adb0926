"""Verification cases of the "Numerical stability" chapter (docs/numerical-stability.py).

The chapter's own inputs, compared with PyTorch: logits past the float16 and
float32 overflow thresholds, log-sum-exp and log-softmax far from the maximum,
and a language-model-sized loss near ln V in float16 and bfloat16.
"""

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


def _language_model_logits(dtype):
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=0.02, size=(4, 50_257)).astype(np.float32)  # (N, V)
    return logits.astype(dtype), rng.integers(0, 50_257, size=4)


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
    return _report({"V": 50_257}, "bfloat16", logits.shape, [check])


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

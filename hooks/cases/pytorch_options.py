"""Verification cases of the "Every PyTorch option" chapter (docs/pytorch-options.py).

Each option of ``F.cross_entropy`` alone on the chapter's inputs, each
reduction, K-dimensional and unbatched input, and the two pitfalls: the
weighted mean's denominator and label smoothing with class weights.
"""

import numpy as np

import celoss
from celoss.parity import compare_arrays, import_torch

CHAPTER = "Every PyTorch option"
PAGE = "pytorch-options.py"

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])  # the seed's (N, C)
TARGETS = np.array([0, 1])  # (N,)
WEIGHT = np.array([1.0, 3.0, 0.5])  # (C,)
SOFT = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])  # (N, C)
BATCH = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 3.0],
                  [0.2, 0.1, 0.0]])  # (4, C)
LABELS = np.array([0, 1, -100, 2])  # (4,): one ignored
REDUCTIONS = ("none", "sum", "mean")


def _compare(logits, targets, **options):
    return lambda: celoss.compare_with_torch(logits, targets, raise_on_mismatch=False,
                                             **options)


def _segmentation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5))  # (N, C, H, W)
    targets = rng.integers(0, 3, size=(2, 4, 5))  # (N, H, W)
    border = np.zeros((4, 5), dtype=bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    return logits, targets, np.where(border, -100, targets)


def _weight_scale_sweep():
    """The weighted mean does not depend on the weights' scale, in either library."""
    torch = import_torch()
    functional = torch.nn.functional
    scales = np.geomspace(0.25, 4.0, 5)
    ours = np.array([celoss.cross_entropy(LOGITS, TARGETS, weight=k * WEIGHT)
                     for k in scales])
    theirs = np.array([functional.cross_entropy(torch.from_numpy(LOGITS),
                                                torch.from_numpy(TARGETS),
                                                weight=torch.from_numpy(k * WEIGHT)).item()
                       for k in scales])
    return celoss.ParityReport({"weight": "k * [1, 3, 0.5]"}, "float64", LOGITS.shape,
                               [compare_arrays("cross_entropy", ours, theirs, "float64")],
                               torch.__version__, np.__version__)


def cases():
    """Yield (case_id, run) for the Verification page."""
    for reduction in REDUCTIONS:
        yield f"seed, reduction={reduction}", _compare(LOGITS, TARGETS, reduction=reduction)
        yield (f"seed, weight, reduction={reduction}",
               _compare(LOGITS, TARGETS, weight=WEIGHT, reduction=reduction))
        yield (f"ignore_index=-100, reduction={reduction}",
               _compare(BATCH, LABELS, reduction=reduction))
        yield (f"ignore_index=2, reduction={reduction}",
               _compare(BATCH, np.clip(LABELS, 0, None), ignore_index=2, reduction=reduction))
        yield (f"probability targets, reduction={reduction}",
               _compare(LOGITS, SOFT, reduction=reduction))
    yield "every target ignored: the mean is NaN", _compare(BATCH, np.full(4, -100))
    for epsilon in (0.1, 0.5, 1.0):
        yield (f"label_smoothing={epsilon}",
               _compare(LOGITS, TARGETS, label_smoothing=epsilon))
        yield (f"label_smoothing={epsilon}, weight",
               _compare(LOGITS, TARGETS, label_smoothing=epsilon, weight=WEIGHT))
    yield ("probability targets, weight, label_smoothing=0.2",
           _compare(LOGITS, SOFT, weight=WEIGHT, label_smoothing=0.2))
    seg_logits, seg_targets, seg_ignored = _segmentation()
    seg_soft = celoss.softmax(np.random.default_rng(5).normal(size=seg_logits.shape), axis=1)
    for reduction in REDUCTIONS:
        yield (f"(N, C, H, W), reduction={reduction}",
               _compare(seg_logits, seg_targets, reduction=reduction))
        yield (f"(N, C, H, W), weight, ignored border, smoothing, reduction={reduction}",
               _compare(seg_logits, seg_ignored, weight=WEIGHT, label_smoothing=0.1,
                        reduction=reduction))
        yield (f"(N, C, H, W), probability targets, weight, reduction={reduction}",
               _compare(seg_logits, seg_soft, weight=WEIGHT, reduction=reduction))
        yield (f"unbatched (C,), reduction={reduction}",
               _compare(np.array([0.5, 2.5, 0.3]), np.array(1), reduction=reduction))
        yield (f"unbatched (C,), probability target, weight, reduction={reduction}",
               _compare(np.array([0.5, 2.5, 0.3]), SOFT[1], weight=WEIGHT,
                        reduction=reduction))
    yield "pitfall: the weighted mean at five weight scales", _weight_scale_sweep
    q = celoss.smoothed_targets(TARGETS, 3, label_smoothing=0.1)  # (N, C)
    yield ("pitfall: smoothing with weights, class indices",
           _compare(LOGITS, TARGETS, weight=WEIGHT, label_smoothing=0.1))
    yield ("pitfall: smoothing with weights, smoothed one-hot as probabilities",
           _compare(LOGITS, q, weight=WEIGHT))

"""Verification cases of the "Common mistakes" chapter (docs/common-mistakes.py).

Each mistake is run in both libraries, the mistaken version as well as the
fix: PyTorch must do with the mistake exactly what the chapter says it does.
(Where a mistake raises, in both libraries, only its fix is a case: an error
is not a value to compare.)
"""

import numpy as np

import celoss
from celoss.parity import compare_arrays, import_torch

CHAPTER = "Common mistakes"
PAGE = "common-mistakes.py"

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])  # the seed's (N, C)
TARGETS = np.array([0, 1])  # (N,)
WEIGHT = np.array([1.0, 3.0, 0.5])  # (C,)


def _compare(logits, targets, **options):
    return lambda: celoss.compare_with_torch(logits, targets, raise_on_mismatch=False,
                                             **options)


def _report(options, shape, steps):
    return celoss.ParityReport(options, "float64", tuple(shape), steps,
                               import_torch().__version__, np.__version__)


def _softmax_twice_training(eta=2.0, steps=150):
    """Descent through a second softmax: celoss's chain rule against torch autograd."""
    torch = import_torch()
    x = LOGITS.copy()  # (N, C)
    losses = []
    for _ in range(steps + 1):
        p = celoss.softmax(x, axis=1)  # (N, C)
        losses.append(float(celoss.cross_entropy(p, TARGETS)))
        g_p = celoss.cross_entropy_grad(p, TARGETS)  # (N, C)
        x = x - eta * p * (g_p - np.sum(p * g_p, axis=1, keepdims=True))  # (N, C)
    x_t = torch.tensor(LOGITS, requires_grad=True)
    torch_losses = []
    for _ in range(steps + 1):
        loss = torch.nn.functional.cross_entropy(torch.softmax(x_t, dim=1),
                                                 torch.from_numpy(TARGETS))
        torch_losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            x_t -= eta * x_t.grad  # plain SGD
        x_t.grad = None
    floor = np.log1p(2 / np.e)
    floor_check = compare_arrays("stays above ln(1 + (C - 1)/e)",
                                 np.minimum(losses, floor), np.full(steps + 1, floor),
                                 "float64")
    return _report({"eta": eta, "steps": steps}, LOGITS.shape,
                   [compare_arrays("descent_losses", np.array(losses),
                                   np.array(torch_losses), "float64"), floor_check])


def _floors():
    """The loss of a perfect one-hot input is ln(1 + (C - 1)/e), in both libraries."""
    torch = import_torch()
    counts = np.array([2, 3, 10, 100, 1_000, 50_257])
    ours, theirs = [], []
    for count in counts:
        perfect = np.zeros((1, count))  # (1, C)
        perfect[0, 0] = 1.0
        ours.append(float(celoss.cross_entropy(perfect, np.array([0]))))
        theirs.append(torch.nn.functional.cross_entropy(torch.from_numpy(perfect),
                                                        torch.tensor([0])).item())
    return _report({"C": counts.tolist()}, (1, "C"),
                   [compare_arrays("cross_entropy", np.array(ours), np.array(theirs),
                                   "float64"),
                    compare_arrays("ln(1 + (C - 1)/e)", np.array(ours),
                                   np.log1p((counts - 1) / np.e), "float64")])


def _log_of_softmax():
    """nll_loss(log(softmax(x))) is inf in both libraries on a confidently wrong row."""
    torch = import_torch()
    wrong = np.array([[50.0, 0.0, -60.0]], dtype=np.float32)  # (1, C)
    with np.errstate(divide="ignore"):  # the mistake: log(0)
        ours = celoss.nll_loss(np.log(celoss.softmax(wrong, axis=1)), np.array([2]))
    theirs = torch.nn.functional.nll_loss(torch.log(torch.softmax(torch.from_numpy(wrong),
                                                                  dim=1)),
                                          torch.tensor([2]), reduction="none").numpy()
    return celoss.ParityReport({"mistake": "log(softmax)"}, "float32", wrong.shape,
                               [compare_arrays("nll_loss(log(softmax))", ours, theirs,
                                               "float32")],
                               torch.__version__, np.__version__)


def cases():
    """Yield (case_id, run) for the Verification page."""
    probs = celoss.softmax(LOGITS, axis=1)
    yield "mistake: softmax before the loss (probabilities as logits)", _compare(probs, TARGETS)
    yield "fix: the logits", _compare(LOGITS, TARGETS)
    yield "softmax twice: the floor ln(1 + (C - 1)/e) for six C", _floors
    yield "softmax twice: 150 descent steps against torch autograd", _softmax_twice_training
    yield "mistake: log(softmax) on [50, 0, -60], target 2 (inf)", _log_of_softmax
    yield ("fix: log_softmax on [50, 0, -60], target 2, float32",
           _compare(np.array([[50.0, 0.0, -60.0]], dtype=np.float32), np.array([2])))
    rng = np.random.default_rng(7)
    channels_last = rng.normal(size=(2, 4, 5, 3))  # (N, H, W, C)
    pixel_targets = rng.integers(0, 3, size=(2, 4, 5))  # (N, H, W)
    sequence = rng.normal(size=(2, 4, 4))  # (B, T, V), T == V
    tokens = rng.integers(0, 4, size=(2, 4))  # (B, T)
    yield "mistake: (B, T, V) with T == V, classes read from T", _compare(sequence, tokens)
    yield ("fix: (B, V, T) after moveaxis",
           _compare(np.moveaxis(sequence, -1, 1), tokens))
    yield ("fix: channels-last (N, H, W, C) moved to (N, C, H, W)",
           _compare(np.moveaxis(channels_last, -1, 1), pixel_targets))
    one_hot = np.eye(3)[TARGETS]  # (N, C)
    yield "one-hot float targets", _compare(LOGITS, one_hot)
    yield "one-hot float targets with weights (mean over N)", _compare(LOGITS, one_hot,
                                                                        weight=WEIGHT)
    padded = np.vstack([LOGITS, [[0.3, 0.2, 0.1]]])  # (3, C)
    yield "one-hot with an all-zero padding row", _compare(
        padded, np.vstack([one_hot, np.zeros((1, 3))]))
    yield "fix: index targets with -100 padding", _compare(padded, np.array([0, 1, -100]))
    for logits_dtype in ("float16", "float32", "float64"):
        yield (f"{logits_dtype} logits, uint8 targets",
               _compare(LOGITS.astype(logits_dtype), TARGETS.astype(np.uint8)))
    wide = rng.normal(size=(3, 200))  # (N, C) = (3, 200)
    yield ("mistake: uint8 labels, -100 wrapped to class 156",
           _compare(wide, np.array([3, 7, -100]).astype(np.uint8)))
    yield "fix: int64 labels with -100 padding", _compare(wide, np.array([3, 7, -100]))
    column_logits = rng.normal(size=(5, 3)) * 2  # (N, C)
    column_labels = rng.integers(0, 3, size=(5, 1))  # (N, 1): the mistaken column
    yield ("fix: (N, 1) targets reshaped to (N,)",
           _compare(column_logits, column_labels.reshape(-1)))
    frequencies = np.array([0.3, 0.3, 0.2, 0.15, 0.05])  # label 5 the rarest
    data_logits = rng.normal(size=(12, 8, 5))  # (batches, B, C)
    data_labels = rng.choice(np.arange(1, 6), p=frequencies, size=(12, 8))  # labels 1..C
    runs = ~(data_labels == 5).any(axis=1)  # batches without label C raise nothing
    first = int(np.argmax(runs))
    yield (f"mistake: labels 1..C on a batch without label C (batch {first}), no error",
           _compare(data_logits[first], data_labels[first]))
    yield ("fix: labels 1..C shifted to 0..C-1, every batch",
           _compare(data_logits.reshape(-1, 5), data_labels.reshape(-1) - 1))

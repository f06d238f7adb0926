"""The Language models chapter's comparisons with PyTorch, for the parity gate.

The same computations as docs/language-models.py, on inputs made here (a
seeded random bigram table and a padded batch of token ids), so the
Verification page lists them and a disagreement stops the build: the
(B, T, V) layouts, padding with ignore_index=-100, the per-sequence means,
gradient accumulation (the naive loop and the fix), perplexity, the loss at
initialisation of real model shapes (width d, vocabulary V), and the bigram
table's gradient through the lookup.
"""

from __future__ import annotations

import math

import numpy as np

import celoss
from celoss.parity import ParityReport, compare_arrays

CHAPTER = "Language models"
PAGE = "language-models.py"

SEED = 20260104
V = 11  # vocabulary size of the small batch
LENGTHS = (3, 12, 10, 20)  # real targets per sequence, as on the page
IGNORE = -100
MODELS = {"GPT-2": (768, 50_257), "Llama 3 8B": (4_096, 128_256),
          "Gemma 7B": (3_072, 256_000)}  # name: (width d, vocabulary V), as on the page
SIGMA_W = 0.02  # the output matrix's initial standard deviation (initializer_range)
LN_EPS = 1e-5  # LayerNorm's epsilon


def _batch():
    """A random bigram table (V, V) and a padded batch: inputs, targets (B, T)."""
    rng = np.random.default_rng(SEED)
    table = rng.standard_normal((V, V))  # (V, V)
    width = max(LENGTHS)
    inputs = np.zeros((len(LENGTHS), width), dtype=np.int64)  # (B, T): pad input 0
    targets = np.full((len(LENGTHS), width), IGNORE)  # (B, T)
    for b, length in enumerate(LENGTHS):
        tokens = rng.integers(0, V, size=length + 1)
        inputs[b, :length], targets[b, :length] = tokens[:-1], tokens[1:]
    return table, inputs, targets


def _report(options, shape, steps):
    """A ParityReport for checks made here with compare_arrays."""
    import torch

    return ParityReport(options, "float64", shape, steps, torch.__version__,
                        np.__version__)


def _table_grad(inputs, logit_grad):
    """The bigram table's gradient d loss / d W: each position adds to its input's row."""
    grad = np.zeros((V, V))  # (V, V)
    np.add.at(grad, inputs.reshape(-1), logit_grad.reshape(-1, V))
    return grad


def flattened():
    """Every step on the padded batch flattened to (B*T, V), mean."""
    table, inputs, targets = _batch()
    return celoss.compare_with_torch(table[inputs].reshape(-1, V), targets.reshape(-1),
                                     raise_on_mismatch=False)


def moved(reduction):
    """Every step with the class axis moved: logits (B, V, T), targets (B, T)."""
    table, inputs, targets = _batch()
    return celoss.compare_with_torch(np.moveaxis(table[inputs], -1, 1), targets,
                                     reduction=reduction, raise_on_mismatch=False)


def micro_batch_sum():
    """Every step on one micro-batch with reduction="sum", as the fix uses it."""
    table, inputs, targets = _batch()
    return celoss.compare_with_torch(table[inputs[2:]].reshape(-1, V),
                                     targets[2:].reshape(-1), reduction="sum",
                                     raise_on_mismatch=False)


def sequence_means():
    """The per-sequence means and their mean against torch's "none" losses."""
    import torch
    import torch.nn.functional as F

    table, inputs, targets = _batch()
    logits = table[inputs]  # (B, T, V)
    mask = targets != IGNORE  # (B, T)
    losses = celoss.cross_entropy(np.moveaxis(logits, -1, 1), targets,
                                  reduction="none")  # (B, T)
    ours = losses.sum(axis=1) / mask.sum(axis=1)  # (B,)
    theirs = F.cross_entropy(torch.from_numpy(logits).permute(0, 2, 1),
                             torch.from_numpy(targets), reduction="none")
    theirs = (theirs.sum(dim=1) / torch.from_numpy(mask.sum(axis=1))).numpy()
    steps = [compare_arrays("per-sequence means", ours, theirs, "float64"),
             compare_arrays("mean of per-sequence means", ours.mean(), theirs.mean(),
                            "float64")]
    return _report({"average": "mean of per-sequence means"}, logits.shape, steps)


def accumulation(kind):
    """The naive loop (mean / K) or the fix (sum / total), against torch's loop."""
    import torch
    import torch.nn.functional as F

    table, inputs, targets = _batch()
    parts = [slice(0, 2), slice(2, 4)]
    total = int((targets != IGNORE).sum())
    reduction, scale = ("mean", len(parts)) if kind == "naive" else ("sum", total)
    ours_loss, ours_grad = 0.0, np.zeros((V, V))
    table_t = torch.tensor(table, requires_grad=True)
    theirs_loss = 0.0
    for part in parts:
        x = table[inputs[part]].reshape(-1, V)  # (B_k*T, V)
        y = targets[part].reshape(-1)  # (B_k*T,)
        ours_loss += float(celoss.cross_entropy(x, y, reduction=reduction)) / scale
        ours_grad += _table_grad(inputs[part], celoss.cross_entropy_grad(
            x, y, reduction=reduction)) / scale
        loss_k = F.cross_entropy(table_t[torch.from_numpy(inputs[part])].reshape(-1, V),
                                 torch.from_numpy(y), reduction=reduction) / scale
        loss_k.backward()  # accumulates into table_t.grad
        theirs_loss += loss_k.item()
    steps = [compare_arrays("accumulated loss", ours_loss, theirs_loss, "float64"),
             compare_arrays("accumulated W gradient", ours_grad, table_t.grad.numpy(),
                            "float64")]
    if kind == "fixed":  # the fix must be the full batch's gradient
        full_t = torch.tensor(table, requires_grad=True)
        full = F.cross_entropy(full_t[torch.from_numpy(inputs)].reshape(-1, V),
                               torch.from_numpy(targets.reshape(-1)))
        full.backward()
        steps += [compare_arrays("full-batch loss", ours_loss, full.item(), "float64"),
                  compare_arrays("full-batch W gradient", ours_grad, full_t.grad.numpy(),
                                 "float64")]
    return _report({"accumulation": kind, "micro-batches": len(parts)},
                   (len(LENGTHS), max(LENGTHS), V), steps)


def perplexity():
    """exp(loss) and loss / ln 2 against the same on torch's loss."""
    import torch
    import torch.nn.functional as F

    table, inputs, targets = _batch()
    x, y = table[inputs].reshape(-1, V), targets.reshape(-1)
    loss = float(celoss.cross_entropy(x, y))
    loss_t = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y))
    steps = [compare_arrays("perplexity exp(loss)", math.exp(loss),
                            torch.exp(loss_t).item(), "float64"),
             compare_arrays("bits per token", loss / math.log(2),
                            loss_t.item() / math.log(2), "float64")]
    return _report({"units": "perplexity, bits"}, x.shape, steps)


def initialisation(d, size):
    """Every step on a fresh model's first logits, made as on the page.

    Layer-normed hidden states h (N, d) times an output matrix W (V, d) drawn
    with SIGMA_W, without forming W: with h^T = QR, h W^T = R^T (Q^T W^T), and
    Q^T W^T is an (N, V) Gaussian matrix with SIGMA_W. Logits of standard
    deviation SIGMA_W * sqrt(d), not SIGMA_W.
    """
    rng = np.random.default_rng([SEED, size])
    raw = rng.standard_normal((2, d))  # (N, d)
    centred = raw - raw.mean(axis=1, keepdims=True)  # (N, d)
    h = centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + LN_EPS)  # (N, d)
    _, r = np.linalg.qr(h.T)  # (N, N): h = r.T @ q.T
    logits = r.T @ (SIGMA_W * rng.standard_normal((2, size)))  # (N, V) = h @ W.T
    targets = rng.integers(0, size, size=2)  # (N,)
    return celoss.compare_with_torch(logits, targets, raise_on_mismatch=False)


def lookup_gradient():
    """The bigram table's gradient against autograd through the lookup."""
    import torch
    import torch.nn.functional as F

    table, inputs, targets = _batch()
    x, y = table[inputs].reshape(-1, V), targets.reshape(-1)
    ours = _table_grad(inputs, celoss.cross_entropy_grad(x, y))
    table_t = torch.tensor(table, requires_grad=True)
    F.cross_entropy(table_t[torch.from_numpy(inputs)].reshape(-1, V),
                    torch.from_numpy(y)).backward()
    return _report({"model": "bigram table"}, table.shape,
                   [compare_arrays("W gradient through the lookup", ours,
                                   table_t.grad.numpy(), "float64")])


def cases():
    """Yield (case id, run); run() returns a ParityReport."""
    yield "(B*T, V) flattened, padding -100, mean", flattened
    for reduction in ("mean", "none"):
        yield f"(B, V, T) class axis moved, padding -100, {reduction}", (
            lambda reduction=reduction: moved(reduction))
    yield "one micro-batch, reduction sum", micro_batch_sum
    yield "per-sequence means and their mean", sequence_means
    yield "gradient accumulation, naive: mean / K (torch's loop)", (
        lambda: accumulation("naive"))
    yield "gradient accumulation, fixed: sum / total tokens = full batch", (
        lambda: accumulation("fixed"))
    yield "perplexity and bits per token", perplexity
    for name, (d, size) in MODELS.items():
        yield f"loss at initialisation, {name}: d = {d:,}, V = {size:,}", (
            lambda d=d, size=size: initialisation(d, size))
    yield "bigram table gradient through the lookup", lookup_gradient

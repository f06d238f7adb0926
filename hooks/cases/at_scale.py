"""Verification cases of the "At scale" chapter (docs/at-scale.py).

The chapter's computations on inputs made here, in float32 as the chapter
runs them: the fused loss and gradient (written into a caller's ``out=``)
for each option set and for rows wider than one block, the online
log-sum-exp on rows cut into tiles (a maximum in the last tile, masked
tiles, logits near 1000, a fully masked row), and the chunked linear +
cross-entropy autograd Function against ``F.cross_entropy(h @ W.T)`` with
autograd. Every celoss function is looked up when a case runs, so a wrong
one fails its cases.
"""

import numpy as np

import celoss
import celoss.fused
import celoss.parity
from celoss.parity import ParityReport, StepCheck, compare_arrays, import_torch

CHAPTER = "At scale"
PAGE = "at-scale.py"

SEED = 20260105
N, V = 48, 1500  # the fused cases' logits
WIDE_V = 300_000  # wider than one block (celoss.fused.BLOCK_BYTES) of float32
IGNORE = -100


def _report(options, shape, steps, dtype="float32"):
    """A ParityReport from StepChecks made here."""
    return ParityReport(options, dtype, tuple(shape), steps, import_torch().__version__,
                        np.__version__)


def _fused_inputs(wide=False):
    """float32 logits (N, V), targets (N,) with padding, class weights (V,)."""
    rng = np.random.default_rng([SEED, wide])
    rows, classes = (3, WIDE_V) if wide else (N, V)
    logits = rng.normal(scale=2.0, size=(rows, classes)).astype(np.float32)  # (N, V)
    targets = rng.integers(0, classes, size=rows)  # (N,)
    if not wide:
        targets[::7] = IGNORE
    weight = rng.uniform(0.5, 2.0, size=classes).astype(np.float32)  # (V,)
    return logits, targets, weight


def fused(options, wide=False):
    """fused_cross_entropy's loss and gradient (into out=) against torch autograd."""
    torch = import_torch()
    logits, targets, weight = _fused_inputs(wide)
    if options.get("ignore_index", IGNORE) != IGNORE:  # padding marked as that class
        targets = np.where(targets == IGNORE, options["ignore_index"], targets)
    if options.pop("weighted", False):
        options = {**options, "weight": weight}
    out = np.empty_like(logits)  # (N, V)
    loss, grad = celoss.fused_cross_entropy(logits, targets, return_grad=True, out=out,
                                            **options)
    x = torch.from_numpy(logits).requires_grad_(True)
    torch_options = {**options}
    if "weight" in options:
        torch_options["weight"] = torch.from_numpy(options["weight"])
    torch_loss = torch.nn.functional.cross_entropy(x, torch.from_numpy(targets),
                                                   **torch_options)
    (torch_loss.sum() if options.get("reduction") == "none" else torch_loss).backward()
    steps = [compare_arrays("fused_cross_entropy", loss, torch_loss.detach().numpy(),
                            "float32"),
             compare_arrays("fused_cross_entropy gradient", grad, x.grad.numpy(), "float32"),
             StepCheck("gradient returned in the caller's out=", 0.0, 0.0, 0.0, 0.0,
                       grad is out)]
    shown = {k: ("(V,)" if k == "weight" else v) for k, v in options.items()}
    return _report(shown | ({"V": WIDE_V} if wide else {}), logits.shape, steps)


def _tiled_rows():
    """Rows of 20 float32 logits in tiles of 6, each a case the online pass must get right."""
    rng = np.random.default_rng([SEED, 3])
    rows = rng.normal(size=(5, 20)).astype(np.float32)  # (R, V)
    rows[1, -1] = 40.0  # the maximum in the last tile
    rows[2, :6] = -np.inf  # a first tile of -inf
    rows[3] += 1000.0  # e^x overflows float32
    rows[4] = -np.inf  # every class masked: log-sum-exp -inf
    return rows


def online(tile):
    """online_logsumexp, full-width and scratch exponentials, against torch.logsumexp."""
    torch = import_torch()
    rows = _tiled_rows()
    theirs = torch.logsumexp(torch.from_numpy(rows), dim=1).numpy()  # (R,)
    steps = []
    for label, exps in [("scratch", np.empty((len(rows), tile), np.float32)),
                        ("full width", np.empty_like(rows))]:
        with np.errstate(divide="ignore"):  # log 0 for the masked row
            lse, shifts, _ = celoss.fused.online_logsumexp(rows, exps, tile)  # (R, 1)
        steps.append(compare_arrays(f"online_logsumexp ({label} exps)", lse.ravel(), theirs,
                                    "float32"))
        steps.append(compare_arrays(f"last running maximum ({label} exps)",
                                    shifts[-1].ravel()[:4],
                                    torch.from_numpy(rows[:4]).amax(dim=1).numpy(),
                                    "float32"))
    return _report({"tile": tile}, rows.shape, steps)


def chunked(reduction, num_rows, chunk_rows, ignored, dtype="float32"):
    """chunked_linear_cross_entropy's value and both gradients against autograd."""
    torch = import_torch()
    torch_dtype = getattr(torch, dtype)
    generator = torch.Generator().manual_seed(SEED + num_rows)
    hidden = torch.randn(num_rows, 24, generator=generator, dtype=torch_dtype)  # (N, d)
    weight = torch.randn(700, 24, generator=generator, dtype=torch_dtype) / 24**0.5  # (V, d)
    targets = torch.randint(0, 700, (num_rows,), generator=generator)  # (N,)
    targets[ignored] = IGNORE
    results = []
    for loss_of in (
            lambda h, w: celoss.parity.chunked_linear_cross_entropy(
                h, w, targets, chunk_rows=chunk_rows, reduction=reduction),
            lambda h, w: torch.nn.functional.cross_entropy(h @ w.T, targets,
                                                           reduction=reduction)):
        h, w = hidden.clone().requires_grad_(True), weight.clone().requires_grad_(True)
        loss = loss_of(h, w)
        loss.backward()
        results.append([loss.detach().numpy(), h.grad.numpy(), w.grad.numpy()])
    names = ["chunked_linear_cross_entropy", "gradient of hidden (N, d)",
             "gradient of weight (V, d)"]
    steps = [compare_arrays(name, ours, theirs, dtype)
             for name, ours, theirs in zip(names, *results, strict=True)]
    ignored_count = len(range(num_rows)[ignored])
    return _report({"reduction": reduction, "chunk_rows": chunk_rows,
                    "ignored rows": ignored_count}, (num_rows, 700), steps, dtype)


def cases():
    """Yield (case id, run); run() returns a ParityReport."""
    for label, options in [
        ("mean", {}),
        ("sum", {"reduction": "sum"}),
        ("none", {"reduction": "none"}),
        ("weight", {"weighted": True}),
        ("ignore_index=7", {"ignore_index": 7}),
        ("label_smoothing=0.1", {"label_smoothing": 0.1}),
        ("weight, label_smoothing=0.1, sum",
         {"weighted": True, "label_smoothing": 0.1, "reduction": "sum"}),
    ]:
        yield f"fused loss and gradient into out=, {label}, float32", (
            lambda options=options: fused(dict(options)))
    yield f"fused, rows of V = {WIDE_V:,} cut into tiles, float32", (
        lambda: fused({}, wide=True))
    for tile in (6, 20):
        yield f"online log-sum-exp, tiles of {tile}, masked and huge rows", (
            lambda tile=tile: online(tile))
    for reduction, num_rows, chunk_rows, ignored in [
        ("mean", 256, 64, slice(0, 0)),  # chunks divide N
        ("mean", 300, 128, slice(-40, None)),  # a short last chunk, padding at the end
        ("sum", 300, 128, slice(0, None, 5)),
        ("mean", 50, 16, slice(None)),  # every row ignored: NaN, zero gradients
    ]:
        yield (f"chunked linear + cross-entropy, {reduction}, N = {num_rows}, chunks of "
               f"{chunk_rows}, {len(range(num_rows)[ignored])} ignored"), (
            lambda args=(reduction, num_rows, chunk_rows, ignored): chunked(*args))
    yield "chunked linear + cross-entropy, mean, float64", (
        lambda: chunked("mean", 100, 32, slice(0, None, 3), dtype="float64"))

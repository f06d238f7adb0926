# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Common mistakes
#
# The mistakes that most often make a cross-entropy loss wrong, some loudly
# and some silently: each is shown failing, explained, and then fixed. Every value is
# computed by celoss and checked against PyTorch while the site builds, the
# mistaken versions included, so the page shows what PyTorch really does with
# the mistake, not what we expect it to do.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$, $w_c$), listed on
# the [home page](index.md). Code that only draws figures or writes
# sentences is hidden; the notebook download has every cell.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import celoss
from celoss.display import (
    ACCENT,
    CORRECT,
    OTHER,
    FigureCounter,
    use_figure_style,
    values,
)

torch.set_num_threads(1)  # tiny tensors: one thread beats thread start-up
rng = np.random.default_rng(seed=7)  # this page's only random numbers
np.set_printoptions(precision=6, suppress=True)
use_figure_style()
show_figure = FigureCounter()

TOLERANCES = celoss.TOLERANCES
RTOL64, ATOL64 = TOLERANCES["float64"]

logits = np.array([[2.0, 1.0, 0.1],   # the seed's logits
                   [0.5, 2.5, 0.3]])  # (N, C) = (2, 3)
targets = np.array([0, 1])            # (N,)
N, C = logits.shape
logits_t = torch.from_numpy(logits)  # (N, C) float64
targets_t = torch.from_numpy(targets)  # (N,) int64


def raises(call):
    """The exception ``call()`` raises, as 'Type: first line', or None."""
    try:
        call()
    except Exception as error:  # the point: which error, with what message
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


# %% [markdown]
# ## 1. Softmax before CrossEntropyLoss
#
# `F.cross_entropy` and `nn.CrossEntropyLoss` take **logits** and apply the
# softmax themselves. A model whose last layer is already a softmax feeds
# them probabilities, and they are softmaxed a second time. Inputs in
# $[0, 1]$ can differ by at most 1, so even a perfect one-hot prediction,
# whose second softmax is $e / (e + C - 1)$ on the correct class, keeps a
# loss of
#
# $$\ell_{\min} = -\log \frac{e}{e + C - 1} = \ln\!\Big(1 + \frac{C - 1}{e}\Big)$$
#
# and the loss can never fall below it. Failing, on the seed:

# %%
probs = celoss.softmax(logits, axis=1)  # (N, C): what the model outputs
double = celoss.cross_entropy(probs, targets)  # MISTAKE: softmax applied twice
right = celoss.cross_entropy(logits, targets)  # fixed: pass the logits
floor = np.log1p((C - 1) / np.e)
print(f"softmax, then cross_entropy: {float(double):.6f}")
print(f"cross_entropy on the logits: {float(right):.6f}")
print(f"the floor for C = {C}:        {floor:.6f}")

# %% [markdown]
# Check: PyTorch makes the same mistake in the same way (every step of
# `F.cross_entropy(torch.softmax(x))` against celoss's), gives the same fixed
# loss, and the floor is the loss of a perfect one-hot input, for every $C$.

# %%
celoss.compare_with_torch(probs, targets)  # the mistaken input, both sides
celoss.compare_with_torch(logits, targets)  # the fix
class_counts = np.array([2, 3, 10, 100, 1_000, 50_257])  # (6,)
floors = np.log1p((class_counts - 1) / np.e)  # (6,)
for count, expected in zip(class_counts, floors, strict=True):
    perfect = np.zeros((1, count))  # (1, C): a perfect one-hot "probability" row
    perfect[0, 0] = 1.0
    ours = float(celoss.cross_entropy(perfect, np.array([0])))
    theirs = F.cross_entropy(torch.from_numpy(perfect), torch.tensor([0])).item()
    np.testing.assert_allclose(ours, expected, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL64, atol=ATOL64)
print("floors:", ", ".join(f"C={c}: {f:.4f}" for c, f in zip(class_counts, floors,
                                                             strict=True)))

# %% [markdown]
# Training shows it. Gradient descent on the seed's logits, once with the
# loss on the logits and once with the extra softmax. The mistaken gradient
# goes back through the second softmax too (its vector-Jacobian product,
# $g_x = p \odot (g_p - \langle p, g_p \rangle)$), and PyTorch's autograd
# must agree with it at every step.

# %%
eta, steps = 2.0, 150
x_right, x_double = logits.copy(), logits.copy()  # (N, C) each
curve_right, curve_double = [], []
for _ in range(steps + 1):
    curve_right.append(float(celoss.cross_entropy(x_right, targets)))
    p = celoss.softmax(x_double, axis=1)  # (N, C)
    curve_double.append(float(celoss.cross_entropy(p, targets)))
    g_p = celoss.cross_entropy_grad(p, targets)  # (N, C): d loss / d p
    g_x = p * (g_p - np.sum(p * g_p, axis=1, keepdims=True))  # (N, C)
    x_right = x_right - eta * celoss.cross_entropy_grad(x_right, targets)
    x_double = x_double - eta * g_x
curve_right, curve_double = np.array(curve_right), np.array(curve_double)
print(f"after {steps} steps: right {curve_right[-1]:.4f}, "
      f"softmax twice {curve_double[-1]:.4f} (floor {floor:.4f})")

# %%
x_t = torch.tensor(logits, requires_grad=True)  # the mistaken model, in torch
torch_double = []
for _ in range(steps + 1):
    loss_t = F.cross_entropy(torch.softmax(x_t, dim=1), targets_t)  # MISTAKE
    torch_double.append(loss_t.item())
    loss_t.backward()
    with torch.no_grad():
        x_t -= eta * x_t.grad  # plain SGD
    x_t.grad = None
np.testing.assert_allclose(curve_double, torch_double, rtol=1e-9, atol=ATOL64)
assert np.all(curve_double > floor) and curve_right[-1] < floor

# %% tags=["remove-input"]
fig, (ax_train, ax_floor) = plt.subplots(1, 2, figsize=(8.0, 3.0))
ax_train.plot(curve_right, color=CORRECT, linewidth=2, label="logits (fixed)")
ax_train.plot(curve_double, color=OTHER, linewidth=2, label="softmax twice")
ax_train.scatter(np.arange(0, steps + 1, 15), torch_double[::15], color=ACCENT, s=12,
                 zorder=3, label="PyTorch, softmax twice")
ax_train.axhline(floor, color="black", linestyle=":", linewidth=1)
ax_train.text(steps / 2, floor * 1.04, f"floor ln(1 + (C - 1)/e) = {floor:.3f}",
              ha="center", va="bottom", fontsize=8)
ax_train.set_title("Training the seed's logits")
ax_train.set_xlabel("step")
ax_train.set_ylabel("mean loss")
ax_train.set_ylim(0, curve_double[0] * 1.15)
ax_train.legend(frameon=False, fontsize=8, loc="center right",
                bbox_to_anchor=(1.0, 0.4))
grid_c = np.geomspace(2, 60_000, 100)  # (100,)
ax_floor.plot(grid_c, np.log(grid_c), color=OTHER, linewidth=2,
              label="ln C (uniform prediction)")
ax_floor.plot(grid_c, np.log1p((grid_c - 1) / np.e), color=ACCENT, linewidth=2,
              label="floor ln(1 + (C - 1)/e)")
ax_floor.scatter(class_counts, floors, color=ACCENT, s=14, zorder=3)
ax_floor.set_xscale("log")
ax_floor.set_xlabel("number of classes C")
ax_floor.set_title("The best loss with softmax twice")
ax_floor.legend(frameon=False, fontsize=8)
show_figure(
    fig, "softmax-twice",
    alt=f"Left: the seed's mean loss over {steps} steps of gradient descent. "
        f"On the logits it falls from {curve_right[0]:.3f} to "
        f"{curve_right[-1]:.3f}; with softmax applied twice it falls from "
        f"{curve_double[0]:.3f} only to {curve_double[-1]:.3f}, above the floor "
        f"{floor:.3f}; PyTorch's points lie on that curve. Right: the floor "
        f"ln(1 + (C - 1)/e) against C on a log scale, just under ln C: "
        + ", ".join(f"{f:.2f} at C = {c}" for c, f in zip(class_counts, floors,
                                                         strict=True)) + ".",
    caption="Softmax applied twice: training stalls above the floor (dotted), "
            "left; the floor grows with <i>C</i> almost as fast as the loss "
            "of a uniform guess, right.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"With $V$ = {class_counts[-1]:,} classes the floor is **{floors[-1]:.2f}** "
    f"nats, against {np.log(class_counts[-1]):.2f} for a uniform guess: the "
    f"mistaken loss can only ever fall by "
    f"{np.log(class_counts[-1]) - floors[-1]:.2f}. **Fix:** give the loss the "
    f"logits (the last linear layer's output) and apply softmax only where "
    f"probabilities are needed, at inference."
))

# %% [markdown]
# ## 2. log(softmax(x)) instead of log_softmax
#
# `F.nll_loss` expects log-probabilities, and `torch.log(torch.softmax(x))`
# looks like one. But once a probability rounds to 0 (below half of
# float32's smallest subnormal number), its log is $-\infty$: the loss is
# `inf` and, worse,
# the gradient is `nan` (the backward pass of $\log$ divides by that 0), which
# spreads to every weight after one optimiser step. `log_softmax` computes
# the same value without forming the probability:
#
# $$\log p_{n,c} = x_{n,c} - \max_k x_{n,k}
# - \log \sum_k e^{x_{n,k} - \max_k x_{n,k}}$$
#
# Failing, on a float32 sample that is confidently wrong:

# %%
wrong = np.array([[50.0, 0.0, -60.0]], dtype=np.float32)  # (1, C): target is class 2
target = np.array([2])
with np.errstate(divide="ignore"):  # MISTAKE: log of a probability that is 0
    mistaken = celoss.nll_loss(np.log(celoss.softmax(wrong, axis=1)), target)
fixed = celoss.cross_entropy(wrong, target)  # log_softmax inside
print(f"nll_loss(log(softmax(x))) = {mistaken[0]}; cross_entropy = {float(fixed):.4f}")

x_t = torch.tensor(wrong, requires_grad=True)  # the same mistake in torch
mistaken_t = F.nll_loss(torch.log(torch.softmax(x_t, dim=1)), torch.from_numpy(target))
mistaken_t.backward()
print(f"torch: loss {mistaken_t.item()}, gradient {x_t.grad.numpy()[0]}")

# %% [markdown]
# Check: the mistaken loss is `inf` in both libraries and PyTorch's gradient
# is all `nan`; the fixed loss and its gradient agree with PyTorch's
# `F.cross_entropy`.

# %%
assert np.isinf(mistaken[0]) and np.isinf(mistaken_t.item())
assert torch.isnan(x_t.grad).all()
celoss.compare_with_torch(wrong, target)  # value and gradient, float32
lead = float(wrong[0].max() - wrong[0, target[0]])  # the loss is about this lead
np.testing.assert_allclose(float(fixed), lead, rtol=TOLERANCES["float32"][0])

# %% tags=["remove-input"]
gaps = np.arange(0.0, 130.5, 1.0, dtype=np.float32)  # (131,)
rows = np.stack([gaps, np.zeros_like(gaps)], axis=1)  # (131, 2): [d, 0], target 1
rows_t = torch.tensor(rows, requires_grad=True)
naive_loss_t = F.nll_loss(torch.log(torch.softmax(rows_t, dim=1)),
                          torch.ones(len(gaps), dtype=torch.long), reduction="sum")
naive_loss_t.backward()
naive_grad = rows_t.grad.numpy()[:, 1]  # (131,): d loss / d x_target
naive_loss = F.nll_loss(torch.log(torch.softmax(torch.from_numpy(rows), dim=1)),
                        torch.ones(len(gaps), dtype=torch.long),
                        reduction="none").numpy()  # (131,)
fixed_loss = celoss.cross_entropy(rows, np.ones(len(gaps), dtype=np.int64),
                                  reduction="none")  # (131,)
fixed_grad = celoss.cross_entropy_grad(rows, np.ones(len(gaps), dtype=np.int64),
                                       reduction="sum")[:, 1]  # (131,)
torch_fixed = F.cross_entropy(torch.from_numpy(rows), torch.ones(len(gaps), dtype=torch.long),
                              reduction="none").numpy()
np.testing.assert_allclose(fixed_loss, torch_fixed, *TOLERANCES["float32"])
first_bad = float(gaps[np.argmax(~np.isfinite(naive_loss))])
fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(8.0, 2.9))
ax_loss.plot(gaps, fixed_loss, color=OTHER, linewidth=4, label="F.cross_entropy")
ax_loss.plot(gaps, np.where(np.isfinite(naive_loss), naive_loss, np.nan), color=ACCENT,
             linewidth=1.5, label="nll_loss(log(softmax))")
ax_loss.axvspan(first_bad, gaps[-1], color=ACCENT, alpha=0.1)
ax_loss.text(first_bad, 20, " loss = inf", color=ACCENT, fontsize=8)
ax_loss.set_title("float32 loss of [d, 0] with target 1")
ax_loss.set_xlabel("d, the wrong class's lead")
ax_loss.legend(frameon=False, fontsize=8, loc="upper left")
ax_grad.plot(gaps, fixed_grad, color=OTHER, linewidth=4, label="F.cross_entropy")
ax_grad.plot(gaps, naive_grad, color=ACCENT, linewidth=1.5, label="nll_loss(log(softmax))")
ax_grad.axvspan(first_bad, gaps[-1], color=ACCENT, alpha=0.1)
ax_grad.text(first_bad, -0.5, " gradient = nan", color=ACCENT, fontsize=8)
ax_grad.set_ylim(-1.2, 0.2)
ax_grad.set_title("d loss / d x_target")
ax_grad.set_xlabel("d")
show_figure(
    fig, "log-of-softmax",
    alt=f"Left: float32 loss of the row [d, 0] with target 1 for d from 0 to 130. "
        f"F.cross_entropy follows the line d; the log of the softmax matches it "
        f"and is inf from d = {first_bad:.0f}. Right: the gradient for the target "
        f"logit, -1 with F.cross_entropy, and nan (not drawn) from d = "
        f"{first_bad:.0f} with the log of the softmax.",
    caption="The log of a softmax (red) against <code>log_softmax</code> inside "
            "<code>F.cross_entropy</code> (grey), in float32: from the shaded "
            "region on, the loss is infinite and the gradient is nan.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"In float32 the mistaken loss becomes infinite once the wrong class leads "
    f"by **{first_bad:.0f}**, a lead a diverging model reaches easily. **Fix:** "
    f"`F.cross_entropy(logits, y)`, or `F.nll_loss(F.log_softmax(logits, "
    f"dim=1), y)` when the log-probabilities are needed too; in celoss, "
    f"`cross_entropy` or `nll_loss(log_softmax(...))`. The "
    f"[numerical stability](numerical-stability.py) chapter shows why."
))

# %% [markdown]
# ## 3. The class axis in the wrong place
#
# For inputs with more than two dimensions, PyTorch reads the classes from
# axis 1: $(N, C, d_1, \dots, d_K)$ with targets $(N, d_1, \dots, d_K)$.
# Image pipelines often produce channels-last $(N, H, W, C)$, and language
# models produce $(B, T, V)$. Passed as they are, the loss takes the wrong
# axis for the classes:
#
# $$p_{n,c,d} = \frac{e^{x_{n,c,d}}}{\sum_k e^{x_{n,k,d}}}
# \quad\text{with } c \text{ on axis 1, whatever it holds}$$
#
# Usually the shapes then disagree and both libraries raise. But when the
# wrong axis happens to have the right length, nothing complains. Failing,
# loudly and then silently:

# %%
channels_last = rng.normal(size=(2, 4, 5, 3))  # (N, H, W, C): classes last
pixel_targets = rng.integers(0, 3, size=(2, 4, 5))  # (N, H, W)
print("celoss:", raises(lambda: celoss.cross_entropy(channels_last, pixel_targets)))
print("torch: ", raises(lambda: F.cross_entropy(torch.from_numpy(channels_last),
                                                 torch.from_numpy(pixel_targets))))

sequence = rng.normal(size=(2, 4, 4))  # (B, T, V) with T == V == 4
tokens = rng.integers(0, 4, size=(2, 4))  # (B, T)
silent = celoss.cross_entropy(sequence, tokens)  # MISTAKE: softmax over T
fixed_seq = celoss.cross_entropy(np.moveaxis(sequence, -1, 1), tokens)  # (B, V, T)
flat = celoss.cross_entropy(sequence.reshape(-1, 4), tokens.reshape(-1))  # (B*T, V)
print(f"(B, T, V) as it is: {float(silent):.6f}; classes moved to axis 1: "
      f"{float(fixed_seq):.6f}; flattened to (B*T, V): {float(flat):.6f}")

# %% [markdown]
# Check: both libraries raise on the first input, both return the same
# wrong number on the second, and the two fixes agree with each other and
# with PyTorch's `permute(0, 2, 1)`.

# %%
assert raises(lambda: celoss.cross_entropy(channels_last, pixel_targets)) is not None
celoss.compare_with_torch(sequence, tokens)  # the silent mistake, both sides
celoss.compare_with_torch(np.moveaxis(channels_last, -1, 1), pixel_targets)
report = celoss.compare_with_torch(np.moveaxis(sequence, -1, 1), tokens)
fixed_torch = F.cross_entropy(torch.from_numpy(sequence).permute(0, 2, 1),
                              torch.from_numpy(tokens)).item()
np.testing.assert_allclose(float(fixed_seq), fixed_torch, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(float(fixed_seq), float(flat), rtol=RTOL64, atol=ATOL64)
assert not np.isclose(float(silent), float(fixed_seq))

# %% tags=["remove-input"]
per_token_wrong = celoss.cross_entropy(sequence, tokens, reduction="none")  # (B, V)
per_token_right = celoss.cross_entropy(np.moveaxis(sequence, -1, 1), tokens,
                                       reduction="none")  # (B, T)
fig, ax = plt.subplots(figsize=(7.0, 2.8))
positions = np.arange(per_token_right.size)
ax.bar(positions - 0.2, per_token_wrong.ravel(), width=0.4, color=OTHER,
       label=f"(B, T, V) as it is: mean {float(silent):.3f}")
ax.bar(positions + 0.2, per_token_right.ravel(), width=0.4, color=CORRECT,
       label=f"classes on axis 1: mean {float(fixed_seq):.3f}")
ax.set_xticks(positions, [f"b{b} t{t}" for b in range(2) for t in range(4)], fontsize=8)
ax.set_ylabel("per-position loss")
ax.set_title("A silent wrong axis: T = V = 4, so the shapes fit")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "class-axis",
    alt=f"Grouped bars of 8 per-position losses for (B, T, V) = (2, 4, 4) logits: "
        f"read with the classes on the wrong axis, {values(per_token_wrong, 2)} "
        f"(mean {float(silent):.3f}); with the classes moved to axis 1, "
        f"{values(per_token_right, 2)} (mean {float(fixed_seq):.3f}).",
    caption="The same logits read with the classes on the wrong axis (grey) "
            "and the right one (blue): different losses, and no error.",
)

# %% tags=["remove-input"]
display(Markdown(
    "**Fix:** move the classes to axis 1 (`np.moveaxis(x, -1, 1)`, "
    "`x.permute(0, 3, 1, 2)` for images, `x.permute(0, 2, 1)` for sequences) "
    "or flatten to $(N \\cdot d_1 \\cdots d_K, C)$ with "
    "`x.reshape(-1, C)` and `y.reshape(-1)`. A test with $T \\ne V$ catches "
    "the silent case."
))

# %% [markdown]
# ## 4. One-hot float targets instead of class indices
#
# Targets of the logits' shape are read as probabilities. A one-hot float
# target is a valid distribution, so without options it gives the class-index
# loss. With options it does not: the mean divides by $N$ rather than by
# $\sum_n w_{y_n}$, and `ignore_index` does not apply, so an all-zero
# "padding" row still counts in $N$:
#
# $$\ell_{\text{one-hot}} = \frac{1}{N} \sum_n l_n
# \quad\text{but}\quad
# \ell_{\text{indices}} = \frac{\sum_n l_n}{\sum_n w_{y_n} [y_n \ne \text{ignore\_index}]}$$
#
# And integer one-hot targets are an error in both libraries.

# %%
one_hot = np.eye(C)[targets]  # (N, C) float
weight = np.array([1.0, 3.0, 0.5])  # (C,)
for name, options in [("no options", {}), ("weight", {"weight": weight})]:
    by_index = float(celoss.cross_entropy(logits, targets, **options))
    by_one_hot = float(celoss.cross_entropy(logits, one_hot, **options))
    print(f"{name:>10}: indices {by_index:.6f}, one-hot {by_one_hot:.6f}")

padded_logits = np.vstack([logits, [[0.3, 0.2, 0.1]]])  # (3, C): a padding row
padded_index = np.array([0, 1, -100])  # (3,)
padded_one_hot = np.vstack([one_hot, np.zeros((1, C))])  # (3, C): all-zero row
print(f"padding: indices {float(celoss.cross_entropy(padded_logits, padded_index)):.6f}, "
      f"one-hot {float(celoss.cross_entropy(padded_logits, padded_one_hot)):.6f}")
print("integer one-hot, celoss:", raises(lambda: celoss.cross_entropy(
    logits, one_hot.astype(np.int64))))
print("integer one-hot, torch: ", raises(lambda: F.cross_entropy(
    logits_t, torch.from_numpy(one_hot.astype(np.int64)))))

# %% [markdown]
# Check: PyTorch gives each of these numbers, and the fix (`argmax` back to
# indices, $-100$ for an all-zero row) gives the index loss.

# %%
for options in [{}, {"weight": weight}]:
    celoss.compare_with_torch(logits, targets, **options)
    celoss.compare_with_torch(logits, one_hot, **options)
celoss.compare_with_torch(padded_logits, padded_index)
celoss.compare_with_torch(padded_logits, padded_one_hot)
recovered = np.where(padded_one_hot.any(axis=1), padded_one_hot.argmax(axis=1), -100)
np.testing.assert_array_equal(recovered, padded_index)
assert not np.isclose(celoss.cross_entropy(logits, one_hot, weight=weight),
                      celoss.cross_entropy(logits, targets, weight=weight))

# %% tags=["remove-input"]
w1 = np.geomspace(0.1, 10.0, 41)  # (41,)
sweep_index = np.array([celoss.cross_entropy(logits, targets, weight=np.array([1.0, w, 0.5]))
                        for w in w1])
sweep_one_hot = np.array([celoss.cross_entropy(logits, one_hot, weight=np.array([1.0, w, 0.5]))
                          for w in w1])
torch_points = [(F.cross_entropy(logits_t, targets_t, weight=torch.tensor([1.0, w, 0.5],
                                 dtype=torch.float64)).item(),
                 F.cross_entropy(logits_t, torch.from_numpy(one_hot),
                                 weight=torch.tensor([1.0, w, 0.5], dtype=torch.float64)).item())
                for w in w1[::10]]
np.testing.assert_allclose(np.array(torch_points),
                           np.stack([sweep_index[::10], sweep_one_hot[::10]], axis=1),
                           rtol=RTOL64, atol=ATOL64)
crossing = float(celoss.cross_entropy(logits, targets))
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(w1, sweep_index, color=CORRECT, linewidth=2, label="class indices")
ax.plot(w1, sweep_one_hot, color=OTHER, linewidth=2, label="one-hot float targets")
ax.scatter(np.repeat(w1[::10], 2), np.ravel(torch_points), color=ACCENT, s=12, zorder=3,
           label="PyTorch")
ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
ax.text(1.0, sweep_one_hot.max() * 0.9, " equal only here,\n w_0 + w_1 = 2",
        fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("w_1, the weight of class 1 (w_0 = 1)")
ax.set_ylabel("mean loss")
ax.set_title("One-hot targets with class weights: a different mean")
ax.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "one-hot-targets",
    alt=f"Mean loss against the weight of class 1 from 0.1 to 10, log scale. With "
        f"class indices it moves from {sweep_index[0]:.3f} to {sweep_index[-1]:.3f}; "
        f"with one-hot float targets from {sweep_one_hot[0]:.3f} to "
        f"{sweep_one_hot[-1]:.3f}; they meet at weight 1, loss {crossing:.4f}. "
        f"PyTorch's values are dots on both curves.",
    caption="The same targets as indices (blue) and as one-hot floats (grey) "
            "give the same loss only when the targets' weights sum to "
            "<i>N</i>. Red dots: PyTorch.",
)

# %% tags=["remove-input"]
display(Markdown(
    "**Fix:** keep class indices as `int64` (`one_hot.argmax(axis=1)`, with "
    "$-100$ for padding rows); use float targets of the logits' shape only for "
    "real distributions (soft labels, distillation), and remember that their "
    "mean is over $N$."
))

# %% [markdown]
# ## 5. Integer dtype pitfalls
#
# The loss needs floating-point logits and integer class indices, and PyTorch
# is stricter than NumPy about which integers: `int64` (`long`) or `uint8`
# only. The pitfalls:
#
# - integer logits (a tensor built from Python ints) raise;
# - float class indices (labels read from a CSV) raise;
# - `int32` indices (NumPy 1.x's default integer on Windows) raise in
#   PyTorch, while celoss accepts any integer;
# - `uint8` labels wrap $-100$ around to the index below; with fewer
#   classes than that it raises, with more it silently becomes a real class:
#
# $$-100 \bmod 256 = 156$$
#
# The grid below calls both libraries with each pair of dtypes on the
# seed's values: $\text{accepted}$ or the error's type.

# %%
logit_dtypes = ["int64", "float16", "float32", "float64"]
target_dtypes = ["uint8", "int8", "int32", "int64", "float32"]
outcomes = {"celoss": {}, "torch": {}}
for ld in logit_dtypes:
    for td in target_dtypes:
        x, y = logits.astype(ld), targets.astype(td)
        outcomes["celoss"][ld, td] = raises(lambda x=x, y=y: celoss.cross_entropy(x, y))
        outcomes["torch"][ld, td] = raises(lambda x=x, y=y: F.cross_entropy(
            torch.from_numpy(x), torch.from_numpy(y)))
        if outcomes["celoss"][ld, td] is None and outcomes["torch"][ld, td] is None:
            celoss.compare_with_torch(x, y.astype(np.int64))  # value and gradient
for library in outcomes:
    print(f"{library} accepts:", [f"{ld}/{td}" for (ld, td), error
                                  in outcomes[library].items() if error is None])

# %% [markdown]
# The `uint8` trap, with 200 classes: the padding label $-100$ stored as
# `uint8` is a real class, and both libraries count it.

# %%
labels = np.array([3, 7, -100])  # int64: the last one is padding
as_uint8 = labels.astype(np.uint8)  # MISTAKE: -100 wraps around
wide = rng.normal(size=(3, 200))  # (N, C) = (3, 200)
print("labels as uint8:", as_uint8)
padded_loss = float(celoss.cross_entropy(wide, as_uint8))
right_loss = float(celoss.cross_entropy(wide, labels))
torch_padded = F.cross_entropy(torch.from_numpy(wide), torch.from_numpy(as_uint8)).item()
print(f"uint8 labels: {padded_loss:.6f} (torch {torch_padded:.6f}); "
      f"int64 labels: {right_loss:.6f}")

# %% [markdown]
# Check: where both libraries accept a pair, their values and gradients
# agree (above); errors fall where PyTorch's rules put them; and the `uint8`
# padding is counted as a class by both.

# %%
np.testing.assert_allclose(padded_loss, torch_padded, rtol=RTOL64, atol=ATOL64)
assert as_uint8[-1] == 156 and not np.isclose(padded_loss, right_loss)
celoss.compare_with_torch(wide, labels)  # the fix
for ld, td in [("int64", "int64"), ("float64", "float32"), ("float64", "int32")]:
    assert outcomes["torch"][ld, td] is not None  # PyTorch raises on these
assert outcomes["celoss"]["int64", "int64"] is not None  # integer logits
assert outcomes["celoss"]["float64", "int32"] is None  # celoss is lenient here

# %% tags=["remove-input"]
fig, axes = plt.subplots(1, 2, figsize=(8.0, 2.6), sharey=True)
for ax, library in zip(axes, ["torch", "celoss"], strict=True):
    accepted = np.array([[outcomes[library][ld, td] is None for td in target_dtypes]
                         for ld in logit_dtypes])
    ax.imshow(accepted, cmap=plt.matplotlib.colors.ListedColormap([OTHER, CORRECT]),
              vmin=0, vmax=1)
    for (i, j), ok in np.ndenumerate(accepted):
        error = outcomes[library][logit_dtypes[i], target_dtypes[j]]
        label = error.split(":")[0].replace("NotImplemented", "NotImpl.") if error else "ok"
        ax.text(j, i, label.replace("Error", "\nError"),
                ha="center", va="center", fontsize=6.5, color="white" if ok else "black")
    ax.set_xticks(range(len(target_dtypes)), target_dtypes, fontsize=8)
    ax.set_yticks(range(len(logit_dtypes)), logit_dtypes, fontsize=8)
    ax.set_xlabel("targets dtype")
    ax.set_title(f"{library}: accepted (blue) or the error")
    ax.grid(False)
axes[0].set_ylabel("logits dtype")
accepted_torch = [f"{ld}/{td}" for (ld, td), e in outcomes["torch"].items() if e is None]
show_figure(
    fig, "dtypes",
    alt=f"Two grids of logits dtype by targets dtype. PyTorch accepts "
        f"{len(accepted_torch)} of {len(outcomes['torch'])} pairs "
        f"({', '.join(accepted_torch)}); celoss accepts "
        f"{sum(e is None for e in outcomes['celoss'].values())}, every floating "
        f"logits dtype with every integer targets dtype. Integer logits and "
        f"float class indices raise in both.",
    caption="Which dtype pairs each library accepts for class-index targets: "
            "PyTorch wants floating logits and <code>int64</code> or "
            "<code>uint8</code> indices; celoss accepts any integer indices.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"The `uint8` labels give **{padded_loss:.4f}** in both libraries, the "
    f"`int64` labels **{right_loss:.4f}**: the padding row was scored as class "
    f"{int(as_uint8[-1])}. **Fix:** logits `float32` (or `float64`), class "
    f"indices `int64` (`torch.long`) from the start: `np.asarray(y, "
    f"dtype=np.int64)`, `torch.as_tensor(y, dtype=torch.long)`."
))

# %% [markdown]
# ## 6. Targets of shape (N, 1)
#
# Labels read from a table column (`df[["label"]].to_numpy()`), or kept as
# a column for another loss (`y.view(-1, 1)`), arrive with shape $(N, 1)$.
# Class indices have the logits' shape without the class axis:
#
# $$x \in \mathbb{R}^{N \times C}, \qquad y \in \{0, \dots, C - 1\}^{N}
# \quad\text{not}\quad \{0, \dots, C - 1\}^{N \times 1}$$
#
# Both libraries raise, with messages that do not say "squeeze". Failing:

# %%
column = targets[:, None]  # (N, 1): MISTAKE, a column of labels
column_errors = {
    "celoss": raises(lambda: celoss.cross_entropy(logits, column)),
    "torch": raises(lambda: F.cross_entropy(logits_t, torch.from_numpy(column))),
}
for library, error in column_errors.items():
    print(f"{library}: {error}")
# squeeze() drops every axis of length 1: a batch of one loses its batch axis too
squeeze_all = raises(lambda: F.cross_entropy(logits_t[:1], torch.from_numpy(column[:1]).squeeze()))
print(f"torch, a batch of one after .squeeze(): {squeeze_all}")

# %% [markdown]
# A loss written by hand in NumPy raises nothing. `log_probs[np.arange(N), y]`
# with a column `y` broadcasts the $(N,)$ row numbers against the $(N, 1)$
# labels and picks an $(N, N)$ block, $-\log p_{m, y_n}$ for every pair
# $(n, m)$: only its diagonal is the per-sample loss, and its mean is
# another number. On a small batch:

# %%
column_logits = rng.normal(size=(5, C)) * 2  # (5, C)
column_labels = rng.integers(0, C, size=(5, 1))  # (5, 1): MISTAKE, a column
log_probs = celoss.log_softmax(column_logits, axis=1)  # (5, C)
block = -log_probs[np.arange(len(column_labels)), column_labels]  # (5, 5): broadcast
hand_mean = float(block.mean())  # NAIVE: the mean over all N * N pairs
column_fixed = float(celoss.cross_entropy(column_logits, column_labels.reshape(-1)))
print(f"hand-written mean over the {block.shape} block: {hand_mean:.6f}; "
      f"cross_entropy with y.reshape(-1): {column_fixed:.6f}")

# %% [markdown]
# Check: PyTorch and celoss both reject the column; the fix (`y.reshape(-1)`,
# in PyTorch `y.squeeze(1)` or `y.view(-1)`) agrees with PyTorch, value and
# gradient; the block's diagonal is PyTorch's per-sample loss, and its mean
# is not PyTorch's loss.

# %%
assert column_errors["celoss"].startswith("ValueError")
assert column_errors["torch"].startswith("RuntimeError")
assert squeeze_all is not None
celoss.compare_with_torch(logits, column.reshape(-1))
celoss.compare_with_torch(column_logits, column_labels.reshape(-1))
torch_per_sample = F.cross_entropy(torch.from_numpy(column_logits),
                                   torch.from_numpy(column_labels).squeeze(1),
                                   reduction="none").numpy()  # (5,)
np.testing.assert_allclose(np.diag(block), torch_per_sample, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(column_fixed, torch_per_sample.mean(), rtol=RTOL64, atol=ATOL64)
assert not np.isclose(hand_mean, column_fixed)

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(5.0, 3.6))
image = ax.imshow(block, cmap="Greys", vmin=0)
for (n, m), value in np.ndenumerate(block):
    ax.text(m, n, f"{value:.2f}", ha="center", va="center", fontsize=8,
            color="white" if value > block.max() / 2 else "black",
            fontweight="bold" if n == m else "normal")
for n in range(len(block)):  # the diagonal: the per-sample losses
    ax.add_patch(plt.Rectangle((n - 0.5, n - 0.5), 1, 1, fill=False, edgecolor=ACCENT,
                               linewidth=2.5))
ax.set_xticks(range(len(block)), [f"row m = {m}" for m in range(len(block))], fontsize=7)
ax.set_yticks(range(len(block)), [f"y_{n} = {int(column_labels[n, 0])}"
                                  for n in range(len(block))], fontsize=7)
ax.grid(False)
ax.set_title(f"-log p[m, y_n] picked by a column y\nmean {hand_mean:.3f}; "
             f"diagonal (red) mean {column_fixed:.3f}", fontsize=9)
fig.colorbar(image, ax=ax, shrink=0.8)
show_figure(
    fig, "column-targets",
    alt=f"A {len(block)} by {len(block)} grid of -log p[m, y_n], picked by indexing "
        f"with a column of labels {values(column_labels.ravel(), 0)}: the diagonal holds the "
        f"per-sample losses {values(np.diag(block), 2)}, whose mean "
        f"{column_fixed:.4f} is the loss; the mean of the whole grid is "
        f"{hand_mean:.4f}.",
    caption="Hand-written NLL with an (<i>N</i>, 1) target: broadcasting picks "
            "every sample's probability of every label; only the diagonal "
            "(outlined in red) is the loss.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"PyTorch says `{column_errors['torch']}`; celoss says "
    f"`{column_errors['celoss']}`. By hand, the batch of {len(block)} gives "
    f"**{hand_mean:.4f}** instead of **{column_fixed:.4f}**. **Fix:** "
    f"`y.reshape(-1)` in NumPy, `y.squeeze(1)` or `y.view(-1)` in PyTorch; not "
    f"`y.squeeze()`, which also drops the batch axis of a batch of one "
    f"(`{squeeze_all}`)."
))

# %% [markdown]
# ## 7. Labels numbered 1 to C
#
# Many datasets number their classes from 1. Class indices start at 0:
# index $y_n$ picks the logit $x_{n,y_n}$, so labels $1, \dots, C$ must be
# shifted down,
#
# $$y_n = \text{label}_n - 1 \in \{0, 1, \dots, C - 1\}$$
#
# Unshifted, label $C$ is out of range. On the CPU, both libraries raise an
# `IndexError`. On a CUDA device, PyTorch checks the index with a
# device-side assert: the kernel aborts, the error surfaces later as
# `RuntimeError: CUDA error: device-side assert triggered`, often at an
# unrelated line, and it cannot be handled like an exception: the process's
# CUDA context stays unusable until the process restarts. Run the failing
# step on the CPU (or with `CUDA_LAUNCH_BLOCKING=1`) to see the real
# error. And a batch without label $C$ raises nothing: its loss is silently
# computed against the wrong classes, so the first error can come well into
# an epoch. Failing, on batches with labels 1 to $C$, label $C$ the rarest:

# %%
C_data, batch_size, n_batches = 5, 8, 12
frequencies = np.array([0.3, 0.3, 0.2, 0.15, 0.05])  # (C,): label C is the rare one
data_logits = rng.normal(size=(n_batches, batch_size, C_data))  # (batches, B, C)
data_labels = rng.choice(np.arange(1, C_data + 1), p=frequencies,
                         size=(n_batches, batch_size))  # (batches, B): labels 1..C
batch_outcomes = {"celoss": [], "torch": []}  # per batch: the loss, or the error
for x_b, label_b in zip(data_logits, data_labels, strict=True):
    for library, call in [
        ("celoss", lambda x_b=x_b, label_b=label_b: celoss.cross_entropy(x_b, label_b)),
        ("torch", lambda x_b=x_b, label_b=label_b: F.cross_entropy(
            torch.from_numpy(x_b), torch.from_numpy(label_b))),
    ]:
        error = raises(call)
        batch_outcomes[library].append(error if error else float(call()))
first_error = {library: next(o for o in outcomes_ if isinstance(o, str))
               for library, outcomes_ in batch_outcomes.items()}
for library, message in first_error.items():
    print(f"{library}: {message}")
ran = [isinstance(o, float) for o in batch_outcomes["torch"]]  # (batches,)
print(f"batches that ran: {sum(ran)} of {n_batches}; the first error at batch "
      f"{ran.index(False)}")

# %% [markdown]
# Check: both libraries raise on exactly the batches that contain label
# $C$; where a batch runs, both give the same wrong loss; the fix, labels
# minus 1, agrees with PyTorch on every batch, value and gradient.

# %%
has_top_label = (data_labels == C_data).any(axis=1)  # (batches,)
assert 0 < sum(ran) < n_batches  # some batches run, some raise
for library, outcomes_ in batch_outcomes.items():
    assert [isinstance(o, str) for o in outcomes_] == has_top_label.tolist(), library
    assert all(o.startswith("IndexError") for o in outcomes_ if isinstance(o, str))
shifted_losses = np.array([float(celoss.cross_entropy(x_b, label_b - 1))
                           for x_b, label_b in zip(data_logits, data_labels, strict=True)])
for b in range(n_batches):
    celoss.compare_with_torch(data_logits[b], data_labels[b] - 1)  # the fix
    if ran[b]:
        celoss.compare_with_torch(data_logits[b], data_labels[b])  # the silent mistake
        np.testing.assert_allclose(batch_outcomes["celoss"][b], batch_outcomes["torch"][b],
                                   rtol=RTOL64, atol=ATOL64)
        assert not np.isclose(batch_outcomes["celoss"][b], shifted_losses[b])

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.5, 2.9))
positions = np.arange(n_batches)
mistaken = np.array([o if isinstance(o, float) else np.nan
                     for o in batch_outcomes["celoss"]])  # (batches,)
ax.bar(positions - 0.2, np.nan_to_num(mistaken), width=0.4, color=OTHER,
       label="labels 1..C as they are")
ax.bar(positions + 0.2, shifted_losses, width=0.4, color=CORRECT, label="labels - 1 (fixed)")
top = max(np.nanmax(mistaken), shifted_losses.max())
for b in np.flatnonzero(has_top_label):
    ax.text(b - 0.2, 0.05 * top, "IndexError", rotation=90, ha="center", va="bottom",
            fontsize=7, color=ACCENT)
ax.set_xticks(positions, [f"batch {b}" for b in positions], fontsize=7)
ax.set_ylim(0, top * 1.25)
ax.set_ylabel("mean loss")
ax.set_title(f"Labels 1 to C = {C_data}, batches of {batch_size}: the error comes "
             f"only with label {C_data}")
ax.legend(frameon=False, fontsize=8, loc="upper right")
show_figure(
    fig, "one-based-labels",
    alt=f"Bars for {n_batches} batches of {batch_size} samples with labels 1 to "
        f"{C_data}. With the labels as they are, batches "
        f"{', '.join(str(b) for b in np.flatnonzero(has_top_label))} raise "
        f"IndexError (they contain label {C_data}) and the others give losses "
        f"{values(mistaken[~has_top_label], 3)}; with the labels shifted down by "
        f"1, every batch gives a loss: {values(shifted_losses, 3)}.",
    caption="Labels 1 to <i>C</i> unshifted (grey): the batches that contain "
            "label <i>C</i> raise, the others run with a wrong loss; shifted "
            "to 0 to <i>C</i> &minus; 1 (blue), every batch is right.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"PyTorch on the CPU says `{first_error['torch']}`; celoss says "
    f"`{first_error['celoss']}`. Here {sum(ran)} of the {n_batches} batches "
    f"ran without an error, on the wrong classes. **Fix:** shift the labels "
    f"once, where they are read (`y = labels - 1`), check "
    f"`0 <= y.min()` and `y.max() < C` on the whole dataset before training, "
    f"and debug a CUDA device-side assert by running the step on the CPU."
))

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("softmax before the loss", "silent: the loss stalls",
     f"floor {floor:.4f} for C = {C}", "pass the logits"),
    ("log(softmax(x))", "loss inf, gradient nan",
     f"from a lead of {first_bad:.0f} in float32", "`log_softmax` / `cross_entropy`"),
    ("class axis last", "an error, or silent if the lengths match",
     f"{float(silent):.4f} instead of {float(fixed_seq):.4f}", "`moveaxis(x, -1, 1)`"),
    ("one-hot float targets", "silent with weights or padding",
     f"{float(celoss.cross_entropy(logits, one_hot, weight=weight)):.4f} instead of "
     f"{float(celoss.cross_entropy(logits, targets, weight=weight)):.4f}",
     "`argmax` to int64 indices"),
    ("integer dtypes", "an error, or padding counted as a class",
     f"{padded_loss:.4f} instead of {right_loss:.4f}", "float logits, int64 indices"),
    ("targets of shape (N, 1)", "an error; silent in hand-written NumPy",
     f"{hand_mean:.4f} instead of {column_fixed:.4f} by hand", "`y.reshape(-1)`, `y.squeeze(1)`"),
    ("labels 1 to C", "an error on the batches with label C (on CUDA, a device-side "
     "assert); silent on the others",
     f"{n_batches - sum(ran)} of {n_batches} batches raise", "`y = labels - 1`"),
]
display(Markdown(
    "| mistake | symptom | on this page | fix |\n|---|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary)
))

# %% [markdown]
# Each fix is checked against PyTorch above, and each option's exact
# behaviour is in [every PyTorch option](pytorch-options.py); the
# [Verification](verification.md) page runs the comparison over every option
# and reduction, in float16, float32 and float64. Next: [At
# scale](at-scale.py), where the logits of a large vocabulary no longer fit
# in memory twice.

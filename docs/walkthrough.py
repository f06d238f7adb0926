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
# # Cross-entropy, step by step
#
# This page takes two samples from raw logits to a single loss with celoss, one
# step at a time, and then asks PyTorch for the same loss. Every value, figure
# and check on it is computed while the site builds, and each step is compared
# with the matching PyTorch operation, so the build fails the moment the two
# disagree.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$, $l_n$), listed in the
# vocabulary table on the [home page](index.md); the same comparison over every
# option and reduction, in float16, float32 and float64, is on the
# [Verification](verification.md) page.
# The code that draws the figures and writes the sentences that quote computed
# values is hidden here, to keep the steps in view; the notebook download (the
# button beside the title) has every cell.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import celoss
from celoss.display import FigureCounter, show_source, ulps, use_figure_style, values

rng = np.random.default_rng(seed=0)  # this page's only random numbers
np.set_printoptions(precision=8, suppress=True)  # the seed's 8 digits
use_figure_style()  # the site's one matplotlib style
show_figure = FigureCounter()  # numbers figures, adds alt text and captions

# How close celoss must be to torch: one table, in celoss.parity.
RTOL64, ATOL64 = celoss.TOLERANCES["float64"]
RTOL32, ATOL32 = celoss.TOLERANCES["float32"]


# %% tags=["remove-input"]
from celoss.display import ACCENT, CORRECT, OTHER  # the figures' colours


def bars_per_sample(array, title, fmt, ylabel, ylim):
    """One bar chart per sample of an (N, C) array, correct class in blue."""
    fig, axes = plt.subplots(1, N, sharey=True)
    fig.suptitle(title)
    for n, ax in enumerate(axes):
        colors = [CORRECT if c == targets[n] else OTHER for c in range(C)]
        bars = ax.bar(range(C), array[n], color=colors)
        ax.bar_label(bars, fmt=fmt, padding=2)
        ax.set_title(f"sample {n}: correct class y = {targets[n]}")
        ax.set_xticks(range(C), [f"class {c}" for c in range(C)])
    axes[0].set_ylabel(ylabel)
    axes[0].set_ylim(*ylim)
    return fig


# %% [markdown]
# ## 1. Logits and targets
#
# A classifier gives each of the $N$ samples one raw score per class: the
# logits $x_{n,c}$, an array of shape $(N, C)$. The target $y_n$ is the index
# of sample $n$'s correct class. PyTorch's formulas count samples and classes
# from 1; code counts them from 0, so in code
#
# $$x \in \mathbb{R}^{N \times C}, \qquad y_n \in \{0, 1, \dots, C - 1\}$$
#
# The seed's two samples have three classes each. Sample 0's correct class is
# class 0 and sample 1's is class 1.

# %%
logits = np.array([[2.0, 1.0, 0.1],   # sample 0: a score per class
                   [0.5, 2.5, 0.3]])  # (N, C) = (2, 3)
targets = np.array([0, 1])            # (N,): the correct classes
N, C = logits.shape
print("logits =", logits, sep="\n")
print("targets =", targets)
print(f"N = {N} samples, C = {C} classes")

# %% tags=["remove-input"]
show_figure(
    bars_per_sample(logits, "The logits", "%.1f", "logit x[n, c]",
                    (0, logits.max() * 1.2)),
    "inputs",
    alt=f"Two bar charts of logits, one per sample. Sample 0: "
        f"{values(logits[0], 1)}, correct class {targets[0]}. Sample 1: "
        f"{values(logits[1], 1)}, correct class {targets[1]}.",
    caption="The logits <i>x</i><sub>n,c</sub> of each sample, one bar per "
            "class; the bar of the correct class <i>y</i><sub>n</sub> is blue.",
)

# %% [markdown]
# Check: PyTorch receives exactly these numbers, as a float64 tensor of shape
# $(N, C)$ and an int64 (`long`) tensor of class indices in $[0, C)$, which is
# what `F.cross_entropy` requires of its targets.

# %%
logits_t = torch.from_numpy(logits)  # (N, C) float64, same memory
targets_t = torch.from_numpy(targets)  # (N,) int64
np.testing.assert_array_equal(logits_t.numpy(), logits)
np.testing.assert_array_equal(targets_t.numpy(), targets)
assert logits_t.dtype == torch.float64
assert tuple(logits_t.shape) == (N, C)
assert targets_t.dtype == torch.int64
assert bool(((targets_t >= 0) & (targets_t < C)).all())
print("torch receives:", logits_t.dtype, tuple(logits_t.shape),
      targets_t.dtype, tuple(targets_t.shape))

# %% [markdown]
# ## 2. Softmax: logits to probabilities
#
# Softmax exponentiates each logit and divides by its row's total, so every row
# becomes a probability distribution over the $C$ classes:
#
# $$p_{n,c} = \frac{\exp(x_{n,c})}{\sum_{k=1}^{C} \exp(x_{n,k})}$$
#
# celoss subtracts each row's largest logit first: the common factor cancels,
# and no exponent can overflow.

# %%
show_source(celoss.softmax)

# %%
probs = celoss.softmax(logits, axis=1)  # (N, C)
print("probs =", probs, sep="\n")
print("row sums =", probs.sum(axis=1))

# %% tags=["remove-input"]
show_figure(
    bars_per_sample(probs, "The probabilities", "%.3f",
                    "probability p[n, c]", (0, 1.1)),
    "softmax",
    alt=f"Two bar charts of softmax probabilities. Sample 0: "
        f"{values(probs[0], 3)}, correct class {targets[0]} highlighted. "
        f"Sample 1: {values(probs[1], 3)}, correct class {targets[1]} "
        f"highlighted.",
    caption="The probabilities <i>p</i><sub>n,c</sub> after softmax: each "
            "sample's bars add up to 1, and the correct class is blue.",
)

# %% [markdown]
# Check: `torch.softmax` over the class axis gives the same probabilities.

# %%
probs_torch = torch.softmax(logits_t, dim=1).numpy()  # (N, C)
np.testing.assert_allclose(probs, probs_torch, rtol=RTOL64, atol=ATOL64)
print("largest difference from torch.softmax:",
      np.max(np.abs(probs - probs_torch)))

# %% [markdown]
# A **naive softmax**, shown only to be broken: it exponentiates the raw
# logits. Adding 1000 to every logit should change nothing (only differences
# between logits matter), but `exp(1002)` overflows to `inf`, and `inf / inf`
# is `nan`. celoss's softmax gives the same probabilities as before.

# %%
def naive_softmax(logits):
    """NAIVE, for illustration only: overflows for logits above ~709."""
    exps = np.exp(logits)  # (N, C)
    return exps / exps.sum(axis=1, keepdims=True)  # (N, C)


shifted_logits = logits + 1000.0  # (N, C)
with np.errstate(over="ignore", invalid="ignore"):  # the point here
    naive = naive_softmax(shifted_logits)
stable = celoss.softmax(shifted_logits, axis=1)
print("naive_softmax(logits + 1000) =", naive, sep="\n")
print("celoss.softmax(logits + 1000) =", stable, sep="\n")
assert np.isnan(naive).all()
np.testing.assert_allclose(stable, probs, rtol=RTOL64, atol=ATOL64)

# %% [markdown]
# ## 3. The probability of the correct class
#
# The loss of sample $n$ looks at one entry of its row: the probability the
# model gave the correct class $y_n$. The other entries matter only through
# the softmax's denominator.
#
# $$p_{n,y_n} = \sum_{c=1}^{C} p_{n,c}\,[c = y_n]$$

# %%
show_source(celoss.correct_class_probs)

# %%
correct_probs = celoss.correct_class_probs(probs, targets)  # (N,)
print("correct_probs =", correct_probs)

# %% tags=["remove-input"]
display(Markdown(
    f"Sample 0 gives its correct class probability "
    f"**{correct_probs[0]:.4f}**, sample 1 gives **{correct_probs[1]:.4f}**: "
    f"the model is surer of sample {int(np.argmax(correct_probs))}."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.2))
labels = [f"sample {n} (y = {targets[n]})" for n in range(N)]
ax.barh(labels, correct_probs, color=CORRECT,
        label="correct class: p[n, y_n]")
ax.barh(labels, 1 - correct_probs, left=correct_probs, color=OTHER,
        label="all other classes: 1 - p[n, y_n]")
for n in range(N):
    ax.text(correct_probs[n] / 2, n, f"{correct_probs[n]:.4f}",
            ha="center", va="center", color="white")
ax.set_title("The correct class's share of each sample's probability")
ax.set_xlim(0, 1)
ax.set_xlabel("probability")
ax.invert_yaxis()
ax.grid(axis="x")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2,
          frameon=False)
show_figure(
    fig, "correct-class",
    alt=f"Horizontal stacked bars of length 1, one per sample. The correct "
        f"class takes {values(correct_probs)} of samples 0 and 1; the rest "
        f"goes to the other classes.",
    caption="Each sample's probability split into the correct class "
            "<i>p</i><sub>n,y<sub>n</sub></sub> (blue) and all other "
            "classes (grey).",
)

# %% [markdown]
# Check: `torch.gather` picks the same entries from PyTorch's probabilities.

# %%
correct_probs_torch = torch.gather(
    torch.softmax(logits_t, dim=1), 1, targets_t[:, None]  # (N, 1)
).squeeze(1).numpy()  # (N,)
np.testing.assert_allclose(correct_probs, correct_probs_torch,
                           rtol=RTOL64, atol=ATOL64)
print("torch.gather:", correct_probs_torch)

# %% [markdown]
# ## 4. Negative log-likelihood
#
# Each sample's loss is the negative log of its correct-class probability:
# near 0 when the model is confident and right ($p_{n,y_n} \to 1$), without
# bound when it is confident and wrong ($p_{n,y_n} \to 0$). With class weights
# $w_c$ (all 1 here) each loss is scaled by its target class's weight:
#
# $$l_n = -\,w_{y_n} \log p_{n,y_n}$$
#
# Continuing the seed's steps, the losses are $-\log$ of step 3's
# probabilities. celoss's `nll_loss` takes the route `F.nll_loss` and
# `F.cross_entropy` take: it picks $\log p_{n,y_n}$ from `log_softmax`, which
# never takes the log of a probability that has rounded to 0.

# %%
show_source(celoss.nll_loss)

# %%
losses = -np.log(correct_probs)  # (N,): the seed's route, from step 3
log_probs = celoss.log_softmax(logits, axis=1)  # (N, C)
nll_losses = celoss.nll_loss(log_probs, targets)  # (N,): celoss's route
print("-log(correct_probs)          =", losses)
print("celoss.nll_loss(log_softmax) =", nll_losses)
np.testing.assert_allclose(nll_losses, losses, rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
display(Markdown(
    "The two routes give identical float64 losses here."
    if np.array_equal(nll_losses, losses) else
    f"The two routes differ by at most {ulps(nll_losses, losses)} of a "
    f"float64 "
    f"(`{np.max(np.abs(nll_losses - losses)):.1e}`): `np.log` of a rounded "
    f"probability and `log_softmax` round differently, nothing more."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.2))
p = np.linspace(0.02, 1.0, 200)  # (200,)
ax.plot(p, -np.log(p), color=OTHER, linewidth=2, label="-log p")
ax.scatter(correct_probs, losses, color=CORRECT, zorder=3, s=40,
           label="each sample: (p[n, y_n], l_n)")
for n in range(N):
    ax.annotate(f"sample {n}: p = {correct_probs[n]:.3f}, "
                f"l = {losses[n]:.3f}",
                (correct_probs[n], losses[n]), textcoords="data",
                xytext=(0.30 + 0.30 * n, 2.4 - 0.9 * n), ha="left",
                arrowprops={"arrowstyle": "-", "color": CORRECT})
ax.set_title("The loss against the correct class's probability")
ax.set_xlabel("probability of the correct class, p[n, y_n]")
ax.set_ylabel("loss l_n = -log p[n, y_n]")
ax.set_xlim(0, 1.02)
ax.set_ylim(0, 4)
ax.grid(axis="both")
ax.legend(frameon=False)
show_figure(
    fig, "nll",
    alt=f"The curve -log p for p from 0.02 to 1, falling from "
        f"{-np.log(p[0]):.1f} to 0, with one point per sample at p = "
        f"{values(correct_probs, 3)} and loss {values(losses, 3)}.",
    caption="The loss <i>l</i><sub>n</sub> = &minus;log <i>p</i> as a "
            "function of the correct-class probability, with each sample's "
            "point on the curve.",
)

# %% [markdown]
# Check: `F.nll_loss` on `torch.log_softmax` with `reduction="none"` gives the
# same per-sample losses as both routes.

# %%
losses_torch = F.nll_loss(torch.log_softmax(logits_t, dim=1), targets_t,
                          reduction="none").numpy()  # (N,)
np.testing.assert_allclose(nll_losses, losses_torch,
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(losses, losses_torch,
                           rtol=RTOL64, atol=ATOL64)
print("F.nll_loss(reduction='none'):", losses_torch)

# %% [markdown]
# Why log-probabilities: a **naive** $\log(\mathrm{softmax}(x))$ breaks when
# a probability rounds to 0. For logits $[0, -1000]$ the second probability is
# $e^{-1000}$, far below the smallest float64, so its log is `-inf`;
# `log_softmax` keeps it finite.

# %%
far_logits = np.array([[0.0, -1000.0]])  # (1, 2)
with np.errstate(divide="ignore"):  # NAIVE: log(0) is the point here
    naive_log_probs = np.log(celoss.softmax(far_logits, axis=1))
stable_log_probs = celoss.log_softmax(far_logits, axis=1)
print("naive log(softmax) =", naive_log_probs)
print("celoss.log_softmax =", stable_log_probs)
assert np.isneginf(naive_log_probs[0, 1])
np.testing.assert_allclose(
    stable_log_probs,
    torch.log_softmax(torch.from_numpy(far_logits), dim=1).numpy(),
    rtol=RTOL64, atol=ATOL64,
)

# %% [markdown]
# ## 5. The mean over the batch
#
# The batch's loss is the mean of the per-sample losses. With class weights it
# is a weighted mean: the sum is divided by $\sum_n w_{y_n}$, which is $N$
# when every weight is 1.
#
# $$\ell = \frac{\sum_{n=1}^{N} l_n}{\sum_{n=1}^{N} w_{y_n}}
# = \frac{1}{N}\sum_{n=1}^{N} l_n \quad (w_c = 1)$$

# %%
show_source(celoss.reduce_loss)

# %%
loss = celoss.reduce_loss(losses, "mean")  # ()
print("loss =", repr(float(loss)))

# %% tags=["remove-input"]
display(Markdown(
    f"The mean of {values(losses, 8)} is **{float(loss)!r}** in float64: "
    f"the seed walkthrough's manual result."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots()
bars = ax.bar([f"sample {n}" for n in range(N)], losses, color=CORRECT,
              width=0.5)
ax.bar_label(bars, fmt="%.4f", padding=2)
ax.axhline(float(loss), color=ACCENT, linestyle="--",
           label=f"mean loss = {float(loss):.4f}")
ax.set_title("The per-sample losses and their mean")
ax.set_ylabel("loss l_n")
ax.set_ylim(0, losses.max() * 1.3)
ax.legend(frameon=False, loc="upper right")
show_figure(
    fig, "mean",
    alt=f"Bar chart of the per-sample losses {values(losses)} with a dashed "
        f"horizontal line at their mean, {float(loss):.4f}.",
    caption="The per-sample losses <i>l</i><sub>n</sub> and their mean, the "
            "loss of the batch (dashed line).",
)

# %% [markdown]
# Check: `F.nll_loss` with its default `reduction="mean"` gives the same
# number.

# %%
loss_nll_torch = F.nll_loss(torch.log_softmax(logits_t, dim=1),
                            targets_t).item()
np.testing.assert_allclose(float(loss), loss_nll_torch,
                           rtol=RTOL64, atol=ATOL64)
print("F.nll_loss(reduction='mean'):", repr(loss_nll_torch))

# %% [markdown]
# ## 6. PyTorch's cross_entropy
#
# `F.cross_entropy` does steps 2 to 5 in one call, on the logits:
#
# $$\ell = -\frac{1}{N} \sum_{n=1}^{N}
# \log \frac{\exp(x_{n,y_n})}{\sum_{c=1}^{C} \exp(x_{n,c})}$$
#
# So does `celoss.cross_entropy`, with the same arguments. The seed called
# PyTorch on a float32 tensor (PyTorch's default dtype), so its result has
# float32's precision; here PyTorch runs in float64 too.

# %%
loss_celoss = celoss.cross_entropy(logits, targets)  # () float64
loss_torch32 = F.cross_entropy(
    torch.tensor(logits, dtype=torch.float32),
    torch.tensor(targets, dtype=torch.long),
).item()
loss_torch64 = F.cross_entropy(logits_t, targets_t).item()
print("manual steps 2-5, float64:    ", repr(float(loss)))
print("celoss.cross_entropy, float64:", repr(float(loss_celoss)))
print("F.cross_entropy, float64:     ", repr(loss_torch64))
print("F.cross_entropy, float32:     ", repr(loss_torch32))

# %% tags=["remove-input"]
relative32 = abs(loss_torch32 - float(loss)) / float(loss)
eps32 = float(np.finfo(np.float32).eps)
same64 = float(loss_celoss) == loss_torch64
display(Markdown(
    f"PyTorch in float32 gives **{loss_torch32!r}**, the manual float64 "
    f"result is **{float(loss)!r}**. Their relative difference, "
    f"`{relative32:.1e}`, is {relative32 / eps32:.1f} times float32's machine "
    f"epsilon (`{eps32:.1e}`): float32 keeps about 7 significant digits, and "
    f"this is its rounding, not a disagreement.\n\n"
    f"In float64, `celoss.cross_entropy` gives **{float(loss_celoss)!r}** and "
    f"`F.cross_entropy` gives **{loss_torch64!r}**"
    + (" (the same float64)" if same64 else "")
    + (f"; both take the `log_softmax` route of step 4, "
       f"{ulps(float(loss_celoss), float(loss))} from the manual result."
       if float(loss_celoss) != float(loss) else
       "; the manual result is the same float64.")
))

# %% tags=["remove-input"]
names = ["manual steps\nfloat64", "celoss\nfloat64", "PyTorch\nfloat64",
         "PyTorch\nfloat32"]
results = np.array([float(loss), float(loss_celoss), loss_torch64,
                    loss_torch32])
differences = np.abs(results - float(loss))
colors = [CORRECT, CORRECT, ACCENT, ACCENT]
fig, (ax_value, ax_diff) = plt.subplots(1, 2, figsize=(8.0, 3.2))
bars = ax_value.bar(range(4), results, color=colors)
ax_value.bar_label(bars, fmt="%.6f", padding=2, fontsize=8)
ax_value.set_xticks(range(4), names, fontsize=8)
ax_value.set_ylim(0, results.max() * 1.25)
ax_value.set_title("The loss, four ways")
floor = 1e-18  # the bottom of the log axis, where an exact match is written
for i in range(1, 4):  # every result but the manual one, against it
    d = differences[i]
    if d > 0:
        ax_diff.bar(i, d, color=colors[i])
    ax_diff.text(i, d * 2 if d > 0 else floor * 3,
                 f"{d:.1e}" if d > 0 else "0 (same)", ha="center", fontsize=8)
ax_diff.set_yscale("log")
ax_diff.set_ylim(floor, 1e-5)
ax_diff.set_xlim(0.4, 3.6)
ax_diff.set_xticks(range(1, 4), names[1:], fontsize=8)
ax_diff.set_title("Absolute difference from the manual steps")
show_figure(
    fig, "pytorch",
    alt="Left: four bars of the loss, from the manual steps, celoss, PyTorch "
        f"float64 and PyTorch float32: {values(results, 6)}. Right, on a log "
        "scale, how far the last three are from the manual result: "
        f"{', '.join(f'{d:.1e}' for d in differences[1:])}.",
    caption="The loss from the manual steps 2 to 5 and from "
            "celoss.cross_entropy (blue), and from F.cross_entropy in float64 "
            "and float32 (red), left; how far each is from the manual result, "
            "right, on a log scale.",
)

# %% [markdown]
# Check: `F.cross_entropy` agrees with celoss to float64's tolerance, and with
# the manual steps to float32's when it runs in float32, as in the seed.
# `celoss.compare_with_torch` runs every step's check at once, the gradient
# included; the [Verification](verification.md) page runs it over every
# option and reduction, in float16, float32 and float64.

# %%
np.testing.assert_allclose(float(loss_celoss), loss_torch64,
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(float(loss), loss_torch64,
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(float(loss), loss_torch32,
                           rtol=RTOL32, atol=ATOL32)
report = celoss.compare_with_torch(logits, targets)  # raises on a mismatch
assert report.passed
print(report)

# %% [markdown]
# ## Summary
#
# Cross-entropy is four small steps, each a NumPy function in celoss, each
# checked against PyTorch on this page:

# %% tags=["remove-input"]
summary = [
    ("2. `softmax`", "`torch.softmax`",
     values(probs[0]) + "; " + values(probs[1])),
    ("3. `correct_class_probs`", "`torch.gather`", values(correct_probs)),
    ("4. `nll_loss`", "`F.nll_loss`, per sample", values(losses)),
    ("5. `reduce_loss`", "`F.nll_loss`, mean", f"{float(loss):.4f}"),
    ("6. `cross_entropy`", "`F.cross_entropy`", f"{float(loss_celoss):.4f}"),
]
display(Markdown(
    "| step and celoss function | checked against | on the seed's inputs |\n"
    "|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# The same functions agree with PyTorch on any batch, not only the seed's.
# One drawn from this page's seeded generator:

# %%
random_logits = rng.standard_normal((8, 5))  # (N, C) = (8, 5)
random_targets = rng.integers(0, 5, size=8)  # (N,)
random_report = celoss.compare_with_torch(random_logits,
                                           random_targets)
assert random_report.passed
print(random_report)

# %% [markdown]
# Next: the [Verification](verification.md) page, which compares every option
# (class weights, `ignore_index`, label smoothing, probability targets) and
# every reduction, in float16, float32 and float64, with PyTorch at each build;
# and the [API reference](reference.md), whose docstrings give each function's
# formula and shapes.

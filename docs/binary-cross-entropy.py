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
# # Binary cross-entropy
#
# Softmax cross-entropy picks one class out of $C$; binary cross-entropy asks
# $C$ independent yes/no questions, one per output, so a photo can be
# labelled "cat" and "outdoors" at once. This page builds PyTorch's
# `binary_cross_entropy_with_logits` from the sigmoid, shows why it must
# start from the logits, adds its two weights, `pos_weight` and `weight`, and
# shows that a two-class softmax is the same loss in disguise.
#
# The symbols are PyTorch's, as in the [walkthrough](walkthrough.py), with
# $y_{n,c} \in [0, 1]$ a float target per element. Every value is computed
# while the site builds and checked against PyTorch; the same checks are
# listed on the [Verification](verification.md) page.

# %%
import math

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
    CodeTabs,
    FigureCounter,
    show_source,
    use_figure_style,
    values,
)

rng = np.random.default_rng(seed=0)  # this page's only random numbers
np.set_printoptions(precision=4, suppress=True, linewidth=72)
use_figure_style()
show_figure = FigureCounter()
code_tabs = CodeTabs()  # runs NumPy and PyTorch snippets, shows them as tabs

RTOL64, ATOL64 = celoss.TOLERANCES["float64"]  # celoss vs torch, float64
RTOL32, ATOL32 = celoss.TOLERANCES["float32"]


# %% [markdown]
# ## 1. The sigmoid
#
# One logit $x$ per question; the sigmoid turns it into the probability of
# "yes". It is symmetric, $1 - \sigma(x) = \sigma(-x)$, so "no" needs no
# second logit:
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad 1 - \sigma(x) = \sigma(-x)$$
#
# Written as above, $e^{-x}$ overflows for very negative $x$: the result,
# $1 / \infty = 0$, comes out right only by way of an overflow, which a strict
# run (this project's tests turn every floating-point warning into an error)
# stops at. celoss uses $e^{-|x|} \le 1$ on both sides of 0 instead:

# %%
show_source(celoss.sigmoid)

# %%
xs = np.array([-1000.0, -5.0, 0.0, 2.0, 1000.0])  # (N,)
with np.errstate(over="raise"):  # a strict run: overflow is an error
    probs = celoss.sigmoid(xs)  # (N,): fine
    try:
        naive = 1 / (1 + np.exp(-xs))  # NAIVE: exp(1000) overflows
    except FloatingPointError as error:
        naive = error
print("x              =", xs)
print("celoss.sigmoid =", probs)
print("naive          =", repr(naive))
assert isinstance(naive, FloatingPointError)

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
grid = np.linspace(-8, 8, 321)  # (A,)
ax.plot(grid, celoss.sigmoid(grid), color=CORRECT, linewidth=2,
        label="sigma(x): P(yes)")
ax.plot(grid, celoss.sigmoid(-grid), color=ACCENT, linewidth=2,
        linestyle="--", label="1 - sigma(x) = sigma(-x): P(no)")
shown = np.abs(xs) < 8
ax.scatter(xs[shown], probs[shown], color=CORRECT, zorder=3)
for x_value, p_value in zip(xs[shown], probs[shown], strict=True):
    ax.annotate(f"sigma({x_value:g}) = {p_value:.4f}", (x_value, p_value),
                xytext=(x_value + 0.4, p_value - 0.12), fontsize=8)
ax.set_xlabel("logit x")
ax.set_ylabel("probability")
ax.set_title("The sigmoid and its mirror image")
ax.legend(frameon=False, loc="center right", fontsize=8)
show_figure(
    fig, "sigmoid",
    alt=f"The S-shaped sigmoid curve from 0 to 1 over x from -8 to 8 and its mirror "
        f"image 1 - sigma(x); points at x = {values(xs[shown], 0)} with sigma = "
        f"{values(probs[shown], 4)}.",
    caption="The sigmoid maps a logit to the probability of &ldquo;yes&rdquo;; "
            "its mirror image is the probability of &ldquo;no&rdquo;.",
)

# %% [markdown]
# Check: `torch.sigmoid` gives the same probabilities, the extreme logits
# included, and the mirror identity holds.

# %%
probs_t = torch.sigmoid(torch.from_numpy(xs)).numpy()
np.testing.assert_allclose(probs, probs_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(1 - celoss.sigmoid(xs[1:-1]),
                           celoss.sigmoid(-xs[1:-1]), rtol=1e-14)
print("torch.sigmoid:", probs_t)

# %% [markdown]
# ## 2. Binary cross-entropy, from the logits
#
# The loss of one element is the negative log-likelihood of its target,
# $y = 1$ meaning "yes" and $y = 0$ "no" (values in between are soft
# targets):
#
# $$l = -\left[\, y \log \sigma(x) + (1 - y) \log\left(1 - \sigma(x)\right)
# \right]$$
#
# Computed that way, from the probability, it breaks: once $\sigma(x)$ rounds
# to exactly 1, $\log(1 - \sigma(x))$ is $-\infty$ and a confident wrong
# answer costs an infinite loss. Written with the logit it never does. With
# $\log \sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})$ and
# $\log(1 - \sigma(x)) = \log \sigma(x) - x$,
#
# $$l = (1 - y)\, x - \log \sigma(x)
# = \max(x, 0) - x\, y + \log\left(1 + e^{-|x|}\right)$$

# %%
show_source(celoss.log_sigmoid)

# %%
def naive_bce(logits, targets):
    """NAIVE, for illustration: through the probability; inf once it is 1."""
    p = 1 / (1 + np.exp(-logits))
    return -(targets * np.log(p) + (1 - targets) * np.log(1 - p))


def rounds_to_one(dtype):
    """The first logit on a 0.01 grid whose sigmoid rounds to 1 in dtype."""
    grid = np.arange(0, 60, 0.01).astype(dtype)
    with np.errstate(over="ignore"):
        return float(grid[np.argmax(1 / (1 + np.exp(-grid)) == 1)])


thresholds = {name: rounds_to_one(np.dtype(name))
              for name in ["float32", "float64"]}
wrong = np.array([40.0])  # a confident "yes" ...
no = np.array([0.0])  # ... when the answer is "no"
with np.errstate(divide="ignore"):  # NAIVE: log(0) is the point here
    naive_loss = naive_bce(wrong, no)
stable_loss = celoss.binary_cross_entropy_with_logits(wrong, no)
print("sigmoid rounds to 1 from x =",
      {name: round(x, 2) for name, x in thresholds.items()})
print("naive loss at x = 40, y = 0:", naive_loss)
print(f"celoss loss at x = 40, y = 0: {float(stable_loss):.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"The sigmoid rounds to exactly 1 from $x$ = **{thresholds['float32']:.2f}** "
    f"in float32 and **{thresholds['float64']:.2f}** in float64 (about "
    f"$\\ln 2$ times the number of bits in the significand, "
    f"{math.log(2) * 24:.2f} and {math.log(2) * 53:.2f}). Beyond it the naive "
    f"loss is `{float(naive_loss[0])}`; the true loss at $x = 40$, "
    f"$y = 0$ is **{float(stable_loss):.4f}**, and celoss returns it."
))

# %% tags=["remove-input"]
grid = np.linspace(-25, 25, 501).astype(np.float32)  # (A,)
with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # NAIVE
    naive_curve = naive_bce(grid, np.zeros_like(grid))
stable_curve = celoss.binary_cross_entropy_with_logits(
    grid, np.zeros_like(grid), reduction="none")
stable_yes = celoss.binary_cross_entropy_with_logits(
    grid, np.ones_like(grid), reduction="none")
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(grid, stable_yes, color=CORRECT, linewidth=2, label="y = 1, celoss")
ax.plot(grid, stable_curve, color=ACCENT, linewidth=2, label="y = 0, celoss")
finite = np.isfinite(naive_curve)
ax.plot(grid[finite], naive_curve[finite], color="black", linestyle=":",
        linewidth=2, label="y = 0, naive float32 (from the probability)")
ax.axvline(thresholds["float32"], color=OTHER, linestyle="--")
ax.text(thresholds["float32"] + 0.5, 20,
        f"naive: inf from x = {thresholds['float32']:.2f}", fontsize=8)
ax.set_xlabel("logit x")
ax.set_ylabel("loss l")
ax.set_title("Binary cross-entropy in float32: from the logits, and naively")
ax.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "stable",
    alt=f"Loss against the logit from -25 to 25 in float32. For y = 1 the loss falls "
        f"from 25 towards 0; for y = 0 it rises towards 25. The naive curve for y = 0 "
        f"follows it and then becomes infinite from x = {thresholds['float32']:.2f}.",
    caption="The loss for a &ldquo;yes&rdquo; (blue) and a &ldquo;no&rdquo; (red) "
            "target, computed from the logits; the naive formula (dotted) stops at "
            "the float32 logit whose sigmoid rounds to 1.",
)

# %% [markdown]
# Check: `F.binary_cross_entropy_with_logits` agrees, at $x = 40$ and over a
# random batch, in float64 and in float32. PyTorch's *other* function,
# `F.binary_cross_entropy`, takes probabilities and has the naive problem;
# it hides it by clamping each log at $-100$, so it returns 100, not the true
# loss.

# %%
loss_t = F.binary_cross_entropy_with_logits(
    torch.from_numpy(wrong), torch.from_numpy(no)).item()
clamped_t = F.binary_cross_entropy(torch.sigmoid(torch.from_numpy(wrong)),
                                   torch.from_numpy(no)).item()
np.testing.assert_allclose(float(stable_loss), loss_t,
                           rtol=RTOL64, atol=ATOL64)
assert clamped_t == 100.0 and np.isinf(naive_loss).all()
batch = rng.standard_normal((6, 3)) * 5  # (N, C)
batch_targets = (rng.random((6, 3)) < 0.5).astype(np.float64)  # (N, C)
for dtype in [np.float64, np.float32]:
    celoss.compare_binary_with_torch(batch.astype(dtype),
                                     batch_targets.astype(dtype))
print(f"with logits: {loss_t:.6f}   F.binary_cross_entropy: {clamped_t}")

# %% [markdown]
# ## 3. The gradient: sigmoid minus target
#
# Without `pos_weight`, the derivative of the loss with respect to the logit
# is as simple as softmax cross-entropy's: the predicted probability minus
# the target, scaled by the element's weight (and divided by the number of
# elements for the mean). `pos_weight` changes its form (section 4).
#
# $$\frac{\partial l}{\partial x} = \sigma(x) - y$$

# %%
show_source(celoss.binary_cross_entropy_with_logits_grad)

# %%
grad = celoss.binary_cross_entropy_with_logits_grad(batch, batch_targets)
print("sigma(x) - y, / (N C) =",
      ((celoss.sigmoid(batch) - batch_targets) / batch.size)[0])
print("celoss gradient row 0 =", grad[0])


def loss_of(logits):
    """The mean binary loss of the batch: the function to difference."""
    return float(celoss.binary_cross_entropy_with_logits(logits,
                                                         batch_targets))


step = 1e-6
finite_difference = np.zeros_like(batch)  # (N, C)
for index in np.ndindex(batch.shape):
    nudge = np.zeros_like(batch)
    nudge[index] = step
    finite_difference[index] = (loss_of(batch + nudge)
                                - loss_of(batch - nudge)) / (2 * step)

# %% tags=["remove-input"]
grid = np.linspace(-6, 6, 241)  # (A,)
fig, ax = plt.subplots(figsize=(7.0, 2.8))
for target_value, color, style in [(1.0, CORRECT, "-"), (0.0, ACCENT, "-"),
                                   (0.3, "black", ":")]:
    ax.plot(grid, celoss.binary_cross_entropy_with_logits_grad(
        grid, np.full_like(grid, target_value), reduction="none"),
        color=color, linestyle=style, linewidth=2, label=f"y = {target_value:g}")
ax.axhline(0, color="black", linewidth=0.5)
ax.set_xlabel("logit x")
ax.set_ylabel("dl/dx = sigma(x) - y")
ax.set_title("The gradient pulls sigma(x) towards the target, and is never "
             "larger than 1")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "gradient",
    alt="Three curves of the gradient sigma(x) - y over x from -6 to 6: for y = 1 "
        "it rises from -1 to 0, for y = 0 from 0 to 1, and for the soft target "
        "y = 0.3 from -0.3 to 0.7, crossing zero where sigma(x) = 0.3.",
    caption="The gradient of the binary loss for a &ldquo;yes&rdquo;, a "
            "&ldquo;no&rdquo; and a soft target 0.3: zero where the sigmoid "
            "equals the target.",
)

# %% [markdown]
# Check: torch autograd and the finite differences give the same gradient.

# %%
x_t = torch.tensor(batch, requires_grad=True)
F.binary_cross_entropy_with_logits(x_t,
                                   torch.from_numpy(batch_targets)).backward()
np.testing.assert_allclose(grad, x_t.grad.numpy(), rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(grad, finite_difference, rtol=1e-6, atol=1e-9)
np.testing.assert_allclose(grad, (celoss.sigmoid(batch) - batch_targets)
                           / batch.size, rtol=RTOL64, atol=ATOL64)
print("largest difference from autograd:",
      f"{np.max(np.abs(grad - x_t.grad.numpy())):.1e}")

# %% [markdown]
# ## 4. pos_weight: rare positives
#
# In multi-label data most labels are "no". `pos_weight` (one value $w^+_c$
# per output $c$) multiplies the "yes" term, so a rare positive counts as
# much as the many negatives. A common choice is the ratio of negatives to
# positives of each output in the training labels:
#
# $$l_{n,c} = -\left[\, w^+_c\, y_{n,c} \log \sigma(x_{n,c})
# + (1 - y_{n,c}) \log\left(1 - \sigma(x_{n,c})\right)\right],
# \qquad w^+_c = \frac{\#\{y_{\cdot,c} = 0\}}{\#\{y_{\cdot,c} = 1\}}$$

# %%
labels = np.zeros((8, 3))  # (N, C): 8 examples, 3 labels
labels[:4, 0] = 1  # label 0: 4 of 8 positive
labels[:2, 1] = 1  # label 1: 2 of 8
labels[:1, 2] = 1  # label 2: 1 of 8
positives = labels.sum(axis=0)  # (C,)
pos_weight = (len(labels) - positives) / positives  # (C,): neg. / pos.
label_logits = rng.standard_normal(labels.shape)  # (N, C)
print("positives per label:", positives)
print("pos_weight          =", pos_weight)

# %% tags=["remove-input"]
NUMPY_SNIPPET = """\
loss_np = celoss.binary_cross_entropy_with_logits(
    label_logits, labels, pos_weight=pos_weight)
grad_np = celoss.binary_cross_entropy_with_logits_grad(
    label_logits, labels, pos_weight=pos_weight)
print(f"{float(loss_np):.6f}")
"""
TORCH_SNIPPET = """\
x = torch.tensor(label_logits, requires_grad=True)
loss_pt = F.binary_cross_entropy_with_logits(
    x, torch.tensor(labels),
    pos_weight=torch.tensor(pos_weight))
loss_pt.backward()  # x.grad: (N, C)
print(f"{loss_pt.item():.6f}")
"""
snippets = dict(globals())  # both run here, in a namespace of their own
code_tabs([("NumPy", NUMPY_SNIPPET), ("PyTorch", TORCH_SNIPPET)], snippets)
loss_np, grad_np = snippets["loss_np"], snippets["grad_np"]
loss_pt, x = snippets["loss_pt"], snippets["x"]

# How much of each label's loss comes from its positives, without and with.
element = {
    weighting: celoss.binary_cross_entropy_with_logits(
        label_logits, labels, pos_weight=weights, reduction="none")
    for weighting, weights in [("without", None), ("with", pos_weight)]
}  # each (N, C)
positive_share = {weighting: (losses * labels).sum(axis=0) / losses.sum(axis=0)
                  for weighting, losses in element.items()}  # each (C,)
for weighting, share in positive_share.items():
    print(f"positives' share, {weighting:>7} pos_weight:", share.round(3))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
width = 0.38
C_labels = labels.shape[1]
for k, (weighting, color) in enumerate([("without", OTHER), ("with", CORRECT)]):
    bars = ax.bar(np.arange(C_labels) + (k - 0.5) * width,
                  positive_share[weighting], width, color=color,
                  label=f"{weighting} pos_weight")
    ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
ax.set_xticks(range(C_labels), [f"label {c}: {int(positives[c])} of {len(labels)} "
                                f"positive, w+ = {pos_weight[c]:g}"
                                for c in range(C_labels)], fontsize=8)
ax.set_ylim(0, 1)
ax.set_ylabel("share of the label's loss")
ax.set_title("The share of each label's loss that comes from its positive examples")
ax.legend(frameon=False, fontsize=8, loc="upper right")
show_figure(
    fig, "pos-weight",
    alt=f"Paired bars for three labels with {', '.join(str(int(v)) for v in positives)} "
        f"positives out of {len(labels)}: the positives' share of the loss is "
        f"{values(positive_share['without'], 2)} without pos_weight and "
        f"{values(positive_share['with'], 2)} with pos_weight "
        f"{values(pos_weight, 0)}.",
    caption="Without <code>pos_weight</code> (grey) a rare label's loss is mostly "
            "its negatives'; with the negatives-to-positives ratio (blue) its "
            "few positives get a comparable say.",
)

# %% [markdown]
# Check: the snippets agree, value and gradient, and
# `celoss.compare_binary_with_torch` compares every step with `pos_weight`.

# %%
np.testing.assert_allclose(float(loss_np), loss_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(grad_np, x.grad.numpy(), rtol=RTOL64, atol=ATOL64)
report = celoss.compare_binary_with_torch(label_logits, labels,
                                          pos_weight=pos_weight)
for weighting, losses in element.items():
    losses_t = F.binary_cross_entropy_with_logits(
        torch.from_numpy(label_logits), torch.from_numpy(labels),
        pos_weight=None if weighting == "without"
        else torch.from_numpy(pos_weight), reduction="none").numpy()
    np.testing.assert_allclose(losses, losses_t, rtol=RTOL64, atol=ATOL64)
print(report)

# %% [markdown]
# The gradient is $\sigma(x) - y$ scaled by a weight only for hard targets.
# Differentiating $l_{n,c}$ (with $\partial \log \sigma(x) / \partial x
# = 1 - \sigma(x)$ and $\partial \log(1 - \sigma(x)) / \partial x
# = -\sigma(x)$):
#
# $$\frac{\partial l_{n,c}}{\partial x_{n,c}}
# = \big(1 + (w^+_c - 1)\, y_{n,c}\big)\, \sigma(x_{n,c}) - w^+_c\, y_{n,c}$$
#
# For $y = 1$ that is $w^+_c (\sigma(x) - 1)$, for $y = 0$ it is
# $\sigma(x)$; for a soft target it is neither, and it is zero where
# $\sigma(x) = w^+_c y / (1 + (w^+_c - 1) y)$, not where $\sigma(x) = y$.
# Check against autograd, on soft targets:

# %%
soft_labels = rng.random(labels.shape)  # (N, C): soft targets in [0, 1]
sig = celoss.sigmoid(label_logits)  # (N, C)
general_form = (1 + (pos_weight - 1) * soft_labels) * sig - pos_weight * soft_labels  # (N, C)
grad_soft = celoss.binary_cross_entropy_with_logits_grad(
    label_logits, soft_labels, pos_weight=pos_weight, reduction="sum")  # (N, C)
x_soft = torch.tensor(label_logits, requires_grad=True)
F.binary_cross_entropy_with_logits(
    x_soft, torch.from_numpy(soft_labels), pos_weight=torch.from_numpy(pos_weight),
    reduction="sum").backward()
np.testing.assert_allclose(grad_soft, x_soft.grad.numpy(), rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(general_form, x_soft.grad.numpy(), rtol=RTOL64, atol=ATOL64)
# NAIVE: sigma - y times the hard-target factor, w+ where y = 1 and 1 where y = 0
scaled = (1 + (pos_weight - 1) * soft_labels) * (sig - soft_labels)  # (N, C)
hard_form = np.where(labels == 1, pos_weight * (sig - 1), sig)  # (N, C), hard targets
np.testing.assert_allclose(
    hard_form, celoss.binary_cross_entropy_with_logits_grad(
        label_logits, labels, pos_weight=pos_weight, reduction="sum"),
    rtol=RTOL64, atol=ATOL64)
pos_weight_gap = float(np.max(np.abs(scaled - general_form)))
assert pos_weight_gap > 1e-3
print(f"general form vs autograd: {np.max(np.abs(general_form - x_soft.grad.numpy())):.1e}; "
      f"(sigma - y) times a weight: off by up to {pos_weight_gap:.4f}")

# %% [markdown]
# `pos_weight` broadcasts against the logits like any array, aligned from
# the last axis. For logits $(N, C)$ a $(C,)$ vector lines up with the
# outputs. For $(N, C, H, W)$ the outputs are on axis 1, so PyTorch's
# documentation asks for shape $(C, 1, 1)$; a $(C,)$ vector lines up with
# $W$ and raises, or, when $W = C$, silently weights the columns:

# %%
image_logits = rng.standard_normal((2, 3, 4, 5))  # (N, C, H, W)
image_targets = (rng.random(image_logits.shape) < 0.3).astype(np.float64)  # (N, C, H, W)
shape_errors = {}
for library, call in [
    ("celoss", lambda: celoss.binary_cross_entropy_with_logits(
        image_logits, image_targets, pos_weight=pos_weight)),
    ("torch", lambda: F.binary_cross_entropy_with_logits(
        torch.from_numpy(image_logits), torch.from_numpy(image_targets),
        pos_weight=torch.from_numpy(pos_weight))),
]:
    try:
        call()
    except (ValueError, RuntimeError) as error:
        shape_errors[library] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    print(f"pos_weight {pos_weight.shape}, {library}: "
          f"{shape_errors.get(library, 'no error')}")
channel_pos_weight = pos_weight[:, None, None]  # (C, 1, 1)
celoss.compare_binary_with_torch(image_logits, image_targets, pos_weight=channel_pos_weight)
square = image_logits[..., :3]  # (N, C, H, W) with W == C
square_targets = image_targets[..., :3]  # (N, C, H, W)
by_column = float(celoss.binary_cross_entropy_with_logits(
    square, square_targets, pos_weight=pos_weight))  # MISTAKE: weights W, not C
by_channel = float(celoss.binary_cross_entropy_with_logits(
    square, square_targets, pos_weight=channel_pos_weight))
celoss.compare_binary_with_torch(square, square_targets, pos_weight=pos_weight)
celoss.compare_binary_with_torch(square, square_targets, pos_weight=channel_pos_weight)
assert set(shape_errors) == {"celoss", "torch"} and not np.isclose(by_column, by_channel)
print(f"W == C: pos_weight (C,) gives {by_column:.6f}, (C, 1, 1) gives {by_channel:.6f}")

# %% [markdown]
# ## 5. weight, and what the mean divides by
#
# `weight` multiplies each element's loss (it broadcasts to the logits'
# shape: one value per example, per output, or per element). The mean then
# divides by the **number of elements**, whatever the weights:
#
# $$\ell = \frac{1}{N C} \sum_{n,c} w_{n,c}\, l_{n,c}$$
#
# This differs from `F.cross_entropy`, whose class weights make a weighted
# mean that divides by $\sum_n w_{y_n}$ (the [walkthrough](walkthrough.py),
# step 5). Halving every weight halves the binary loss; it leaves a weighted
# cross-entropy unchanged.

# %%
example_weight = np.linspace(0.5, 2.0, len(labels))[:, None]  # (N, 1)
plain = float(celoss.binary_cross_entropy_with_logits(label_logits, labels))
weighted = float(celoss.binary_cross_entropy_with_logits(
    label_logits, labels, weight=example_weight))
halved = float(celoss.binary_cross_entropy_with_logits(
    label_logits, labels, weight=example_weight / 2))
element_losses = celoss.binary_cross_entropy_with_logits(
    label_logits, labels, reduction="none")  # (N, C)
full_weight = np.broadcast_to(example_weight, labels.shape)  # (N, C)
normalised = float((full_weight * element_losses).sum() / full_weight.sum())
print(f"mean, no weight:            {plain:.6f}")
print(f"mean, weight (/ N C):       {weighted:.6f}")
print(f"mean, weight / 2:           {halved:.6f}")
print(f"sum(w l) / sum(w), not torch: {normalised:.6f}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
names = ["no weight", "weight\n(torch: / N C)", "weight / 2\n(torch: / N C)",
         "sum(w l) / sum(w)\n(not what torch does)"]
results = [plain, weighted, halved, normalised]
bars = ax.bar(names, results, color=[OTHER, CORRECT, CORRECT, ACCENT])
ax.bar_label(bars, fmt="%.4f", padding=2, fontsize=8)
ax.set_ylim(0, max(results) * 1.3)
ax.tick_params(axis="x", labelsize=8)
ax.set_ylabel("loss")
ax.set_title("The binary loss's mean divides by the element count, not the "
             "weights' sum")
show_figure(
    fig, "weight",
    alt=f"Four bars: the unweighted mean {plain:.4f}; with weights from 0.5 to 2 per "
        f"example, {weighted:.4f}; with those weights halved, {halved:.4f}; and the "
        f"weight-normalised mean {normalised:.4f}, which torch does not compute.",
    caption="<code>weight</code> scales the element losses and the mean still "
            "divides by <i>N</i>&middot;<i>C</i>: halving the weights halves "
            "the loss.",
)

# %% [markdown]
# Check: torch gives the same three means, and halving the weights halves
# its loss too; `compare_binary_with_torch` checks every reduction with
# `weight` and `pos_weight` together.

# %%
for w, ours in [(None, plain), (example_weight, weighted),
                (example_weight / 2, halved)]:
    theirs = F.binary_cross_entropy_with_logits(
        torch.from_numpy(label_logits), torch.from_numpy(labels),
        weight=None if w is None else torch.from_numpy(w)).item()
    np.testing.assert_allclose(ours, theirs, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(halved, weighted / 2, rtol=RTOL64, atol=ATOL64)
assert abs(normalised - weighted) > 1e-3
for reduction in ["mean", "sum", "none"]:
    celoss.compare_binary_with_torch(label_logits, labels,
                                     weight=example_weight,
                                     pos_weight=pos_weight,
                                     reduction=reduction)
print("torch agrees; weight / 2 gives half the loss")

# %% [markdown]
# ## 6. A two-class softmax is a sigmoid
#
# With two classes and logits $(a, b)$, the softmax probability of class 1
# depends only on the difference of the logits:
#
# $$\frac{e^{b}}{e^{a} + e^{b}} = \frac{1}{1 + e^{-(b - a)}} = \sigma(b - a)$$
#
# So cross-entropy over two classes is binary cross-entropy of the logit
# $b - a$, with $y = 1$ for class 1; and its gradient with respect to $(a, b)$
# is $(-g, g)$, where $g = \sigma(b - a) - y$ is the binary gradient. A binary
# classifier needs one output, not two; with two, only their difference is
# learned.

# %%
pair_logits = rng.standard_normal((6, 2)) * 3  # (N, 2): (a, b)
classes = rng.integers(0, 2, size=6)  # (N,): 0 or 1
margin = pair_logits[:, 1] - pair_logits[:, 0]  # (N,): b - a
softmax_ce = celoss.cross_entropy(pair_logits, classes, reduction="none")
binary = celoss.binary_cross_entropy_with_logits(
    margin, classes.astype(np.float64), reduction="none")  # (N,)
softmax_grad = celoss.cross_entropy_grad(pair_logits, classes)  # (N, 2)
binary_grad = celoss.binary_cross_entropy_with_logits_grad(
    margin, classes.astype(np.float64))  # (N,)
print("two-class CE:", softmax_ce)
print("BCE of b - a:", binary)
print("softmax grad, class 1:", softmax_grad[:, 1].round(4))
print("binary grad:          ", binary_grad.round(4))

# %% tags=["remove-input"]
grid = np.linspace(-8, 8, 161)  # (A,)
pairs = np.stack([np.zeros_like(grid), grid], axis=1)  # (A, 2): a = 0, b = x
fig, (ax_p, ax_l) = plt.subplots(1, 2, figsize=(8.0, 2.8))
ax_p.plot(grid, celoss.sigmoid(grid), color=OTHER, linewidth=5,
          label="sigma(b - a)")
ax_p.plot(grid, celoss.softmax(pairs, axis=1)[:, 1], color=CORRECT,
          linestyle="--", label="softmax((a, b))[1]")
ax_p.set_xlabel("b - a")
ax_p.set_title("Probability of class 1")
ax_p.legend(frameon=False, fontsize=8)
ax_l.scatter(margin, softmax_ce, color=CORRECT, s=60,
             label="two-class cross-entropy")
ax_l.scatter(margin, binary, color=ACCENT, marker="x", s=40,
             label="BCE with logit b - a")
ax_l.set_xlabel("b - a of each sample")
ax_l.set_title("The six samples' losses, both ways")
ax_l.legend(frameon=False, fontsize=8)
show_figure(
    fig, "two-class",
    alt=f"Left: the sigmoid of b - a and the two-class softmax probability of class 1 "
        f"lie on one curve. Right: for six samples with b - a = {values(margin, 2)}, "
        f"the two-class cross-entropy {values(softmax_ce, 3)} and the binary loss "
        f"{values(binary, 3)} coincide.",
    caption="A two-class softmax is the sigmoid of the logits' difference "
            "(left), so the two losses agree sample by sample (right).",
)

# %% [markdown]
# Check: `F.cross_entropy` on the pairs and
# `F.binary_cross_entropy_with_logits` on the differences agree with each
# other and with celoss, value and gradient; soft targets $(1 - y, y)$ too.

# %%
pairs_t = torch.tensor(pair_logits, requires_grad=True)
ce_t = F.cross_entropy(pairs_t, torch.from_numpy(classes), reduction="none")
ce_t.mean().backward()
bce_t = F.binary_cross_entropy_with_logits(
    torch.from_numpy(margin), torch.from_numpy(classes.astype(np.float64)),
    reduction="none")
np.testing.assert_allclose(softmax_ce, ce_t.detach().numpy(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(binary, bce_t.numpy(), rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(softmax_ce, binary, rtol=1e-12, atol=1e-14)
np.testing.assert_allclose(softmax_grad, pairs_t.grad.numpy(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(softmax_grad[:, 1], binary_grad,
                           rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(softmax_grad[:, 0], -binary_grad,
                           rtol=1e-12, atol=1e-15)
soft_y = rng.random(6)  # (N,): soft targets
soft_pairs = np.stack([1 - soft_y, soft_y], axis=1)  # (N, 2)
np.testing.assert_allclose(
    celoss.cross_entropy(pair_logits, soft_pairs, reduction="none"),
    F.binary_cross_entropy_with_logits(
        torch.from_numpy(margin), torch.from_numpy(soft_y),
        reduction="none").numpy(),
    rtol=1e-12, atol=1e-14)
print("two-class softmax = binary, for index and soft targets")

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("sigmoid, stable", "`torch.sigmoid`", "no overflow at x = &plusmn;1000"),
    ("loss from the logits", "`F.binary_cross_entropy_with_logits`",
     f"{float(stable_loss):.4f} at x = 40, y = 0 (naive: inf)"),
    ("gradient &sigma;(x) &minus; y", "autograd, finite differences",
     "float64 and float32"),
    ("with `pos_weight`: (1 + (w&#8314; &minus; 1) y) &sigma;(x) &minus; w&#8314; y",
     "autograd, soft targets", f"&sigma;(x) &minus; y times a weight is off by "
     f"up to {pos_weight_gap:.3f}"),
    ("`pos_weight` = negatives / positives", "`compare_binary_with_torch`",
     f"{values(pos_weight, 0)}"),
    ("`weight`; the mean divides by N&middot;C", "torch, each reduction",
     f"{weighted:.4f}; halved weights {halved:.4f}"),
    ("softmax of (a, b) = &sigma;(b &minus; a)", "`F.cross_entropy` and BCE",
     "same loss; gradient (&minus;g, g)"),
]
display(Markdown(
    "| idea | checked against | on this page |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# The [Verification](verification.md) page reruns this chapter's comparisons
# with PyTorch at every build. Next: [common mistakes](common-mistakes.py),
# each shown failing, then fixed.

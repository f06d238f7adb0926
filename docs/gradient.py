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
# # The gradient
#
# The derivative of cross-entropy with respect to the logits is the softmax
# minus the one-hot target, and every PyTorch option only changes which target
# is subtracted and what the result is divided by. This page derives each
# case, computes it with celoss, and checks it against PyTorch's autograd and
# against finite differences while the site builds; then it uses the gradient
# to train the seed's logits.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$, $w_c$, $l_n$),
# listed on the [home page](index.md); the loss itself is built step by step
# in the [walkthrough](walkthrough.py). Code that only draws figures or
# writes sentences is hidden; the notebook download has every cell.

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
    show_source,
    use_figure_style,
    values,
)

torch.set_num_threads(1)  # tiny tensors: one thread beats thread start-up
rng = np.random.default_rng(seed=2)  # this page's only random numbers
np.set_printoptions(precision=6, suppress=True)
use_figure_style()
show_figure = FigureCounter()

# celoss against torch autograd: float64's tolerance, from celoss.parity.
RTOL64, ATOL64 = celoss.TOLERANCES["float64"]
# celoss against central differences with step H: their truncation error is
# about H**2 = 1e-12 and their rounding error about eps / H = 2e-10.
H = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-8


def torch_grad(logits, targets, **options):
    """d loss / d logits by PyTorch's autograd, in float64."""
    x = torch.tensor(logits, requires_grad=True)  # (N, C)
    t = torch.tensor(targets)
    if "weight" in options:
        options = {**options, "weight": torch.tensor(options["weight"])}
    loss = F.cross_entropy(x, t, **options)  # ()
    loss.backward()
    return x.grad.numpy()  # (N, C)


def finite_difference_grad(logits, targets, **options):
    """d loss / d logits by central differences of celoss.cross_entropy."""
    grad = np.zeros_like(logits)  # (N, C)
    for index in np.ndindex(logits.shape):
        step = np.zeros_like(logits)  # (N, C)
        step[index] = H
        up = celoss.cross_entropy(logits + step, targets, **options)  # ()
        down = celoss.cross_entropy(logits - step, targets, **options)  # ()
        grad[index] = (up - down) / (2 * H)
    return grad  # (N, C)


def check_gradient(grad, logits, targets, **options):
    """Assert ``grad`` matches torch autograd and finite differences; return both."""
    by_torch = torch_grad(logits, targets, **options)
    by_differences = finite_difference_grad(logits, targets, **options)
    np.testing.assert_allclose(grad, by_torch, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(grad, by_differences, rtol=FD_RTOL, atol=FD_ATOL)
    print(f"largest difference from torch autograd:    "
          f"{np.max(np.abs(grad - by_torch)):.1e}")
    print(f"largest difference from finite differences: "
          f"{np.max(np.abs(grad - by_differences)):.1e}")
    return by_torch, by_differences


checked_cases = []  # (section, options) of every gradient checked on this page

# %% tags=["remove-input"]
def gradient_figure(grads, targets, title, torch_values):
    """One panel per sample: bars of each gradient in ``grads`` per class.

    ``grads`` maps a label to an (N, C) gradient; the last one is drawn in
    colour (correct class blue), the others grey; red dots are torch's values
    of the last one.
    """
    n_samples, n_classes = torch_values.shape
    fig, axes = plt.subplots(1, n_samples, sharey=True, figsize=(7.5, 2.9))
    width = 0.8 / len(grads)
    for n, ax in enumerate(axes):
        for i, (label, grad) in enumerate(grads.items()):
            offsets = np.arange(n_classes) + (i - (len(grads) - 1) / 2) * width
            last = i == len(grads) - 1
            colors = ([CORRECT if c == targets[n] else OTHER for c in range(n_classes)]
                      if last else ["#e4e4e4"] * n_classes)
            bars = ax.bar(offsets, grad[n], width=width, color=colors,
                          edgecolor="#888888" if not last else None,
                          linewidth=0.5, label=label if n == 0 else None)
            if last:
                ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=7)
                ax.scatter(offsets, torch_values[n], color=ACCENT, s=10, zorder=3,
                           label="torch autograd" if n == 0 else None)
        ax.axhline(0, color="black", linewidth=0.6)
        target = "ignored" if targets[n] < 0 else f"y = {targets[n]}"
        ax.set_title(f"sample {n} ({target})")
        ax.set_xticks(range(n_classes), [f"class {c}" for c in range(n_classes)])
    axes[0].set_ylabel("d loss / d x[n, c]")
    fig.suptitle(title)
    fig.legend(loc="outside lower center", ncol=len(grads) + 1, frameon=False,
               fontsize=8)
    return fig


# %% [markdown]
# ## 1. Softmax minus one-hot
#
# Write sample $n$'s loss with the log-sum-exp of its row, then differentiate
# with respect to one logit $x_{n,c}$. The first term gives $-1$ for the
# correct class and $0$ for the others; the second gives the softmax:
#
# $$l_n = -x_{n,y_n} + \log \sum_{k=1}^{C} e^{x_{n,k}}, \qquad
# \frac{\partial l_n}{\partial x_{n,c}} = -[c = y_n]
# + \frac{e^{x_{n,c}}}{\sum_{k} e^{x_{n,k}}} = p_{n,c} - [c = y_n]$$
#
# The mean over the batch divides every row by $N$:
# $\partial \ell / \partial x_{n,c} = (p_{n,c} - [c = y_n]) / N$.
# On the seed's two samples:

# %%
logits = np.array([[2.0, 1.0, 0.1],   # the seed's logits
                   [0.5, 2.5, 0.3]])  # (N, C) = (2, 3)
targets = np.array([0, 1])            # (N,)
N, C = logits.shape
probs = celoss.softmax(logits, axis=1)  # (N, C)
one_hot = np.eye(C)[targets]  # (N, C)
grad_by_formula = (probs - one_hot) / N  # (N, C)
grad = celoss.cross_entropy_grad(logits, targets)  # (N, C)
print("(softmax - one_hot) / N =", grad_by_formula, sep="\n")
print("celoss.cross_entropy_grad =", grad, sep="\n")
np.testing.assert_allclose(grad, grad_by_formula, rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
row_sum_rounding = float(np.max(np.abs(grad.sum(axis=1))))  # 0 but for rounding
display(Markdown(
    f"The correct class's entry is negative (the loss falls when its logit "
    f"rises: **{grad[0, 0]:.4f}** and **{grad[1, 1]:.4f}**), every other "
    f"entry is positive, and each row sums to 0 (to within rounding: "
    f"{row_sum_rounding:.0e}): adding the same number to a "
    f"whole row changes no probability, so it cannot change the loss. The "
    f"more confident sample 1 (correct-class probability "
    f"{probs[1, 1]:.3f} against {probs[0, 0]:.3f}) gets the smaller push."
))

# %% [markdown]
# Check: PyTorch's autograd and central differences of `celoss.cross_entropy`
# give the same gradient.

# %%
torch_values, _ = check_gradient(grad, logits, targets)
checked_cases.append(("softmax minus one-hot", {}))

# %% tags=["remove-input"]
show_figure(
    gradient_figure({"celoss.cross_entropy_grad": grad}, targets,
                    "The gradient of the mean loss, per class", torch_values),
    "softmax-minus-one-hot",
    alt=f"Two bar charts, one per sample, of the gradient for each class. "
        f"Sample 0: {values(grad[0])}; sample 1: {values(grad[1])}. The "
        f"correct class's bar is negative, the others positive; red dots from "
        f"torch autograd sit on top of each bar.",
    caption="The gradient (<i>p</i><sub>n,c</sub> &minus; [<i>c</i> = "
            "<i>y</i><sub>n</sub>]) / <i>N</i> per class: the correct class "
            "(blue) is pulled up, the others (grey) pushed down. Red dots: "
            "PyTorch's autograd.",
)

# %% [markdown]
# ## 2. Class weights
#
# A weight $w_c$ per class scales each sample's loss by its target's weight,
# $l_n = -w_{y_n} \log p_{n,y_n}$, and the mean divides by the total weight
# $\sum_m w_{y_m}$ instead of $N$. Both are constants for the derivative:
#
# $$\frac{\partial \ell}{\partial x_{n,c}}
# = \frac{w_{y_n}\,(p_{n,c} - [c = y_n])}{\sum_{m=1}^{N} w_{y_m}}$$
#
# so each row keeps its direction and only its share of the total changes.

# %%
weight = np.array([1.0, 3.0, 0.5])  # (C,): class 1 counts three times
sample_weights = weight[targets]  # (N,): w_{y_n}
grad_by_formula = (sample_weights[:, None] * (probs - one_hot)
                   / sample_weights.sum())  # (N, C)
grad_weighted = celoss.cross_entropy_grad(logits, targets, weight=weight)  # (N, C)
print("celoss.cross_entropy_grad(weight=...) =", grad_weighted, sep="\n")
np.testing.assert_allclose(grad_weighted, grad_by_formula, rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
shares = sample_weights / sample_weights.sum()
display(Markdown(
    f"With weights {values(weight, 1)}, sample 0 (class {targets[0]}) carries "
    f"{shares[0]:.0%} of the gradient and sample 1 (class {targets[1]}) "
    f"{shares[1]:.0%}, against 50% each without weights. Scaling every "
    f"weight by the same factor changes nothing: it cancels in the mean."
))

# %% [markdown]
# Check: autograd and finite differences, with the same weights.

# %%
torch_values, _ = check_gradient(grad_weighted, logits, targets, weight=weight)
checked_cases.append(("class weights", {"weight": weight}))

# %% tags=["remove-input"]
show_figure(
    gradient_figure({"no weights": grad, "weight = " + values(weight, 1): grad_weighted},
                    targets, "Class weights move the gradient between samples",
                    torch_values),
    "weights",
    alt=f"Grouped bars per class for two samples: the unweighted gradient "
        f"(light grey) and the weighted one (coloured). Weighted, sample 0: "
        f"{values(grad_weighted[0])}; sample 1: {values(grad_weighted[1])}.",
    caption="With class weights each row keeps its direction; sample 1's "
            "class is weighted 3 times, so its row grows and sample 0's "
            "shrinks. Red dots: PyTorch's autograd.",
)

# %% [markdown]
# ## 3. ignore_index
#
# A sample whose target is `ignore_index` (-100 by default) has no loss, so
# its row of the gradient is 0; and it leaves the denominator, which counts
# only the samples that remain:
#
# $$\frac{\partial \ell}{\partial x_{n,c}}
# = \frac{[y_n \ne \text{ignore\_index}]\,(p_{n,c} - [c = y_n])}
# {\sum_{m=1}^{N} [y_m \ne \text{ignore\_index}]}$$

# %%
targets_ignored = np.array([0, -100])  # (N,): sample 1 is padding
kept = targets_ignored != -100  # (N,)
one_hot_kept = np.eye(C)[np.where(kept, targets_ignored, 0)] * kept[:, None]  # (N, C)
grad_by_formula = kept[:, None] * (probs - one_hot_kept) / kept.sum()  # (N, C)
grad_ignored = celoss.cross_entropy_grad(logits, targets_ignored)  # (N, C)
print("celoss.cross_entropy_grad, sample 1 ignored =", grad_ignored, sep="\n")
np.testing.assert_allclose(grad_ignored, grad_by_formula, rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
display(Markdown(
    f"Sample 1's row is all zeros; sample 0's is "
    f"{grad_ignored[0, 0] / grad[0, 0]:.0f} times its row in section 1, "
    f"because the mean now divides by {int(kept.sum())} sample, not {N}."
))

# %% [markdown]
# Check: autograd and finite differences, with the same ignored sample.

# %%
torch_values, _ = check_gradient(grad_ignored, logits, targets_ignored)
checked_cases.append(("ignore_index", {"ignore_index": -100}))

# %% tags=["remove-input"]
show_figure(
    gradient_figure({"both samples": grad, "sample 1 ignored": grad_ignored},
                    targets_ignored, "An ignored sample: a zero row, and a smaller "
                    "denominator", torch_values),
    "ignore-index",
    alt=f"Grouped bars per class. Sample 0, ignoring sample 1: "
        f"{values(grad_ignored[0])}, twice its values with both samples "
        f"({values(grad[0])}). Sample 1: all zeros.",
    caption="Ignoring sample 1 zeroes its row and doubles sample 0's, which "
            "is now the mean of one sample. Red dots: PyTorch's autograd.",
)

# %% [markdown]
# ## 4. Label smoothing
#
# With label smoothing $\varepsilon$ the target is no longer one-hot: it
# keeps $1 - \varepsilon$ on the correct class and spreads $\varepsilon$
# evenly over all $C$ classes. The derivation of section 1 goes through with
# that target $q_{n,c}$ in place of $[c = y_n]$:
#
# $$q_{n,c} = (1 - \varepsilon)\,[c = y_n] + \frac{\varepsilon}{C}, \qquad
# \frac{\partial \ell}{\partial x_{n,c}} = \frac{p_{n,c} - q_{n,c}}{N}$$

# %%
epsilon = 0.1
q = celoss.smoothed_targets(targets, C, label_smoothing=epsilon)  # (N, C)
grad_by_formula = (probs - q) / N  # (N, C)
grad_smoothed = celoss.cross_entropy_grad(logits, targets,
                                          label_smoothing=epsilon)  # (N, C)
print("q =", q, sep="\n")
print("celoss.cross_entropy_grad(label_smoothing=0.1) =", grad_smoothed, sep="\n")
np.testing.assert_allclose(grad_smoothed, grad_by_formula, rtol=RTOL64, atol=ATOL64)

# %% [markdown]
# The gradient is 0 when $p_{n,\cdot} = q_{n,\cdot}$, not when the correct
# class reaches probability 1: a smoothed loss stops pushing once the correct
# logit leads every other one by
# $\ln\big((1 - \varepsilon + \varepsilon/C) / (\varepsilon/C)\big)$.
# The row $[g, 0, 0]$ with that gap $g$ has a zero gradient:

# %%
gap = np.log((1 - epsilon + epsilon / C) / (epsilon / C))
at_optimum = np.array([[gap, 0.0, 0.0]])  # (1, C)
grad_at_optimum = celoss.cross_entropy_grad(at_optimum, np.array([0]),
                                            label_smoothing=epsilon)  # (1, C)
print(f"gap = {gap:.6f}; largest |gradient| there = {np.abs(grad_at_optimum).max():.1e}")
np.testing.assert_allclose(grad_at_optimum, 0.0, atol=ATOL64)

# %% [markdown]
# Check: autograd and finite differences, on the seed and at that optimum.

# %%
torch_values, _ = check_gradient(grad_smoothed, logits, targets,
                                 label_smoothing=epsilon)
check_gradient(grad_at_optimum, at_optimum, np.array([0]), label_smoothing=epsilon)
checked_cases.append(("label smoothing", {"label_smoothing": epsilon}))

# %% tags=["remove-input"]
show_figure(
    gradient_figure({"one-hot target": grad, f"label_smoothing = {epsilon}": grad_smoothed},
                    targets, "Label smoothing: the target moves off the corners",
                    torch_values),
    "label-smoothing",
    alt=f"Grouped bars per class comparing the plain gradient with the smoothed "
        f"one. Smoothed, sample 0: {values(grad_smoothed[0])}; sample 1: "
        f"{values(grad_smoothed[1])}. Every smoothed bar is closer to zero "
        f"on the correct class.",
    caption=f"With &epsilon; = {epsilon}, the correct class is pulled up less "
            f"and the other classes pushed down less: the target is "
            f"{1 - epsilon + epsilon / C:.4f} on the correct class, not 1. "
            f"Red dots: PyTorch's autograd.",
)

# %% [markdown]
# ## 5. Probability targets, and everything at once
#
# Targets may be a distribution $t_{n,c}$ per sample instead of a class. With
# weights, sample $n$'s loss is $l_n = -\sum_k w_k\, t_{n,k} \log p_{n,k}$
# and, since $\partial \log p_{n,k} / \partial x_{n,c} = [k = c] - p_{n,c}$,
#
# $$\frac{\partial l_n}{\partial x_{n,c}}
# = p_{n,c} \sum_{k=1}^{C} w_k\, t_{n,k} \;-\; w_c\, t_{n,c}$$
#
# Without weights this is $p_{n,c} \sum_k t_{n,k} - t_{n,c}$, which is
# $p_{n,c} - t_{n,c}$ when the row $t_n$ sums to 1, as a distribution does.
# PyTorch does not check that it does: a row summing to anything else is
# accepted, and its gradient is the general form (checked below).
# Every case above is this formula with a particular target: one-hot, zero
# for an ignored sample, smoothed; the mean divides by $\sum_n w_{y_n}$ for
# class indices and by $N$ for probabilities. That is how celoss writes it:

# %%
show_source(celoss.cross_entropy_grad)

# %%
soft_targets = np.array([[0.7, 0.2, 0.1],   # (N, C): rows sum to 1
                         [0.1, 0.6, 0.3]])
grad_by_formula = (probs * (soft_targets * weight).sum(axis=1, keepdims=True)
                   - weight * soft_targets) / N  # (N, C)
grad_soft = celoss.cross_entropy_grad(logits, soft_targets, weight=weight)  # (N, C)
print("celoss.cross_entropy_grad(probability targets, weight) =", grad_soft, sep="\n")
np.testing.assert_allclose(grad_soft, grad_by_formula, rtol=RTOL64, atol=ATOL64)

# %% [markdown]
# Check: autograd and finite differences on probability targets with
# weights; on targets whose rows do not sum to 1 (twice the soft targets,
# as unnormalised counts would be), where $p - t$ is wrong and the general
# form is right; and on class indices with every option at once (weights,
# an ignored sample among three, label smoothing), for each reduction.

# %%
torch_values, _ = check_gradient(grad_soft, logits, soft_targets, weight=weight)
checked_cases.append(("probability targets", {"weight": weight}))
unnormalised = 2 * soft_targets  # (N, C): rows sum to 2; accepted without a check
grad_unnormalised = celoss.cross_entropy_grad(logits, unnormalised)  # (N, C)
general_form = (probs * unnormalised.sum(axis=1, keepdims=True) - unnormalised) / N  # (N, C)
np.testing.assert_allclose(grad_unnormalised, general_form, rtol=RTOL64, atol=ATOL64)
assert not np.allclose(grad_unnormalised, (probs - unnormalised) / N)
check_gradient(grad_unnormalised, logits, unnormalised)
checked_cases.append(("probability targets whose rows sum to 2", {}))
batch_logits = rng.normal(size=(3, C))  # (N, C) = (3, 3)
batch_targets = np.array([2, -100, 1])  # (N,)
for reduction in ["mean", "sum", "none"]:
    options = {"weight": weight, "label_smoothing": epsilon, "reduction": reduction}
    print(f"reduction={reduction}:")
    combined = celoss.cross_entropy_grad(batch_logits, batch_targets, **options)
    if reduction == "none":  # torch's autograd differentiates a scalar: the sum
        np.testing.assert_allclose(
            combined, celoss.cross_entropy_grad(batch_logits, batch_targets,
                                                **{**options, "reduction": "sum"}),
            rtol=RTOL64, atol=ATOL64)
        options["reduction"] = "sum"
    check_gradient(combined, batch_logits, batch_targets, **options)
    checked_cases.append(("all options", options))

# %% tags=["remove-input"]
show_figure(
    gradient_figure({"class-index targets": grad, "probability targets, weighted": grad_soft},
                    targets, "Probability targets with class weights", torch_values),
    "probability-targets",
    alt=f"Grouped bars per class: the plain gradient and the gradient for "
        f"probability targets {values(soft_targets[0], 1)} and "
        f"{values(soft_targets[1], 1)} with weights {values(weight, 1)}. "
        f"Sample 0: {values(grad_soft[0])}; sample 1: {values(grad_soft[1])}.",
    caption="The gradient for probability targets with class weights: "
            "<i>p</i> times the sample's total target weight, minus the "
            "weighted target, over <i>N</i>. Red dots: PyTorch's autograd.",
)

# %% [markdown]
# ## 6. Gradient descent on the seed's logits
#
# Treat the seed's logits as the parameters and follow the gradient down:
#
# $$x \leftarrow x - \eta\, \frac{\partial \ell}{\partial x}$$
#
# with step size $\eta$. PyTorch takes the same steps from the same start,
# with its autograd's gradient (the update `torch.optim.SGD` makes, written
# out).

# %%
eta, steps = 2.0, 25
x = logits.copy()  # (N, C): the parameters
losses = [float(celoss.cross_entropy(x, targets))]
correct_probs = [celoss.correct_class_probs(celoss.softmax(x, axis=1), targets)]
for _ in range(steps):
    x = x - eta * celoss.cross_entropy_grad(x, targets)  # (N, C)
    losses.append(float(celoss.cross_entropy(x, targets)))
    correct_probs.append(celoss.correct_class_probs(celoss.softmax(x, axis=1), targets))
losses = np.array(losses)  # (steps + 1,)
correct_probs = np.array(correct_probs)  # (steps + 1, N)
print(f"loss: {losses[0]:.6f} -> {losses[-1]:.6f} after {steps} steps")
print("final logits =", x, sep="\n")

# %% tags=["remove-input"]
display(Markdown(
    f"The loss falls at every step, from **{losses[0]:.4f}** to "
    f"**{losses[-1]:.4f}**, and the correct-class probabilities rise from "
    f"{values(correct_probs[0], 3)} to {values(correct_probs[-1], 3)}. It "
    f"slows down as it goes: the gradient is $p - 1$ on the correct class, "
    f"and shrinks as $p$ approaches 1, so the loss approaches 0 without "
    f"reaching it."
))

# %% [markdown]
# Check: the same descent in PyTorch gives the same losses at every step and
# the same final logits.

# %%
x_t = torch.tensor(logits, requires_grad=True)  # (N, C) float64
torch_losses = []
for step in range(steps + 1):
    loss_t = F.cross_entropy(x_t, torch.from_numpy(targets))  # ()
    torch_losses.append(loss_t.item())
    if step < steps:
        loss_t.backward()
        with torch.no_grad():
            x_t -= eta * x_t.grad  # plain SGD
        x_t.grad = None
torch_losses = np.array(torch_losses)  # (steps + 1,)
DESCENT_RTOL = 1e-9  # rounding compounds over the steps
np.testing.assert_allclose(losses, torch_losses, rtol=DESCENT_RTOL, atol=ATOL64)
np.testing.assert_allclose(x, x_t.detach().numpy(), rtol=DESCENT_RTOL, atol=ATOL64)
assert np.all(np.diff(losses) < 0)  # it falls at every step
print(f"largest difference from torch's losses: "
      f"{np.max(np.abs(losses - torch_losses)):.1e}")

# %% tags=["remove-input"]
display(Markdown(
    f"The tolerance here, rtol = {DESCENT_RTOL:g}, is looser than float64's "
    f"{RTOL64:g}: each of the {steps} steps starts from the last one's "
    f"rounding."
))

# %% tags=["remove-input"]
fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(8.0, 3.0))
step_axis = np.arange(steps + 1)  # (steps + 1,)
ax_loss.plot(step_axis, losses, color=CORRECT, linewidth=2, label="celoss")
ax_loss.scatter(step_axis, torch_losses, color=ACCENT, s=10, zorder=3,
                label="PyTorch autograd")
ax_loss.set_title(f"The loss, step size {eta:g}")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("mean loss")
ax_loss.set_ylim(0, losses[0] * 1.1)
ax_loss.legend(frameon=False)
for n in range(N):
    ax_prob.plot(step_axis, correct_probs[:, n], linewidth=2,
                 color=CORRECT if n == 0 else OTHER,
                 label=f"sample {n}: p[{n}, {targets[n]}]")
ax_prob.set_title("The correct class's probability")
ax_prob.set_xlabel("step")
ax_prob.set_ylim(0.5, 1.0)
ax_prob.legend(frameon=False, loc="lower right")
show_figure(
    fig, "gradient-descent",
    alt=f"Left: the mean loss over {steps} steps of gradient descent with step "
        f"size {eta:g}, falling from {losses[0]:.4f} to {losses[-1]:.4f}, with "
        f"PyTorch's losses as dots on the line. Right: the correct-class "
        f"probabilities rising from {values(correct_probs[0], 3)} to "
        f"{values(correct_probs[-1], 3)}.",
    caption="Gradient descent on the seed's logits with celoss's gradient: "
            "the loss falls at every step, as it does in PyTorch (red dots), "
            "and each sample's correct class becomes more probable.",
)

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
rows = [
    ("class indices", r"$(p_{n,c} - [c = y_n]) / N$"),
    ("class weights", r"$w_{y_n}(p_{n,c} - [c = y_n]) / \sum_m w_{y_m}$"),
    ("ignore_index", "row 0; divide by the samples kept"),
    ("label smoothing",
     r"$(p_{n,c} - q_{n,c}) / N$, $q = (1-\varepsilon)$ one-hot $+ \varepsilon/C$"),
    ("probability targets", r"$(p_{n,c} \sum_k w_k t_{n,k} - w_c t_{n,c}) / N$"),
]
display(Markdown(
    "| targets and options | $\\partial \\ell / \\partial x_{n,c}$ (mean) |\n|---|---|\n"
    + "\n".join(f"| {a} | {b} |" for a, b in rows)
    + f"\n\n{len(checked_cases)} gradients on this page were checked against "
    f"PyTorch's autograd (tolerance rtol = {RTOL64:g}) and against central "
    f"differences (rtol = {FD_RTOL:g}, atol = {FD_ATOL:g})."
))

# %% [markdown]
# The gradient is always the model's distribution against the target's,
# weighted and normalised; the [Verification](verification.md) page checks
# it over every option and reduction, in float16, float32 and float64. Next:
# [information theory](information-theory.py): what the loss measures, and
# why it is the loss to train with.

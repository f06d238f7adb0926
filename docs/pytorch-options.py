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
# # Every PyTorch option
#
# `torch.nn.functional.cross_entropy` takes a reduction, class weights, an
# `ignore_index`, label smoothing, probability targets, K-dimensional inputs
# and unbatched input; this page takes each alone, then all of them together,
# with its formula, its value and its gradient. Every number is computed by
# celoss and checked against PyTorch while the site builds, including the two
# combinations that most often surprise: the weighted mean's denominator, and
# label smoothing with class weights.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$, $w_c$, $l_n$),
# listed on the [home page](index.md). Each option's snippet is shown in
# NumPy and in PyTorch (the tabs), and both were run to make this page; the
# `#>` lines are what they printed. Code that only draws figures is hidden;
# the notebook download has every cell.

# %%
import itertools

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
    use_figure_style,
    values,
)

# ruff: noqa: F821 -- logits, targets, weight, ... come from the tab snippets,
# which side_by_side (below) runs in this namespace.
rng = np.random.default_rng(seed=3)  # this page's only random numbers
np.set_printoptions(precision=6, suppress=True)
use_figure_style()
show_figure = FigureCounter()

torch.set_num_threads(1)  # tiny tensors: one thread beats thread start-up
RTOL64, ATOL64 = celoss.TOLERANCES["float64"]
checked = []  # every ParityReport of this page


def check(logits, targets, *, show=True, **options):
    """Compare every step, the loss and its gradient with torch; raise on a mismatch."""
    report = celoss.compare_with_torch(logits, targets, **options)
    checked.append(report)
    if show:
        worst = max(step.max_rel_diff for step in report.steps)
        print(f"agrees: {report.dtype} {report.logits_shape} "
              f"{report.options or 'default options'}; largest relative "
              f"difference {worst:.1e} over {len(report.steps)} steps")
    return report


# %% tags=["remove-input"]
code_tabs = CodeTabs()
snippet_outputs = code_tabs.outputs  # (NumPy printed, PyTorch printed) per tab set, for the tests


def side_by_side(numpy_code, torch_code):
    """Run both snippets in this page's namespace; show them as NumPy / PyTorch tabs."""
    code_tabs([("NumPy", numpy_code), ("PyTorch", torch_code)], globals())


def loss_bars(ax, losses, labels, colors, title):
    """Bars of per-sample losses with their values."""
    bars = ax.bar(labels, losses, color=colors, width=0.6)
    ax.bar_label(bars, fmt="%.4f", padding=2, fontsize=8)
    ax.set_title(title)
    ax.set_ylim(0, max(np.max(losses), 1e-3) * 1.3)


# %% [markdown]
# ## 1. reduction
#
# The per-sample losses $l_n = -\log p_{n,y_n}$ are returned as they are
# (`"none"`), summed (`"sum"`) or averaged (`"mean"`, the default):
#
# $$\ell_{\text{none}} = (l_1, \dots, l_N), \qquad
# \ell_{\text{sum}} = \sum_{n=1}^{N} l_n, \qquad
# \ell_{\text{mean}} = \frac{1}{N} \sum_{n=1}^{N} l_n$$
#
# The seed's two samples, in both libraries:

# %% tags=["remove-input"]
side_by_side('''
import numpy as np
import celoss

logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])  # (N, C)
targets = np.array([0, 1])  # (N,)
for reduction in ["none", "sum", "mean"]:
    loss = celoss.cross_entropy(logits, targets, reduction=reduction)
    print(reduction, np.round(loss, 6))
''', '''
import torch
import torch.nn.functional as F

logits_t = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], dtype=torch.float64)
targets_t = torch.tensor([0, 1])
for reduction in ["none", "sum", "mean"]:
    loss_t = F.cross_entropy(logits_t, targets_t, reduction=reduction)
    print(reduction, loss_t.numpy().round(6))
''')

# %% [markdown]
# The gradient of `"sum"` is $N$ times that of `"mean"`: the reduction
# scales the step an optimiser takes. Check: each reduction's value, every
# intermediate step and the gradient against PyTorch.

# %%
N, C = logits.shape
by_reduction = {r: celoss.cross_entropy(logits, targets, reduction=r)
                for r in ["none", "sum", "mean"]}
for reduction in by_reduction:
    check(logits, targets, reduction=reduction)
np.testing.assert_allclose(celoss.cross_entropy_grad(logits, targets, reduction="sum"),
                           N * celoss.cross_entropy_grad(logits, targets),
                           rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
fig, ax = plt.subplots()
loss_bars(ax, [*by_reduction["none"], by_reduction["sum"], by_reduction["mean"]],
          ["none: l_0", "none: l_1", "sum", "mean"],
          [OTHER, OTHER, CORRECT, ACCENT], "The three reductions of the seed's losses")
show_figure(
    fig, "reduction",
    alt=f"Bar chart: the per-sample losses {values(by_reduction['none'])} "
        f"(reduction none), their sum {float(by_reduction['sum']):.4f} and their "
        f"mean {float(by_reduction['mean']):.4f}.",
    caption="<code>reduction</code>: the per-sample losses (grey), their sum "
            "(blue) and their mean (red).",
)

# %% [markdown]
# ## 2. weight
#
# A weight $w_c$ per class multiplies each sample's loss by its target's
# weight, and the mean divides by the total weight of the targets, not by
# $N$:
#
# $$l_n = -w_{y_n} \log p_{n,y_n}, \qquad
# \ell_{\text{mean}} = \frac{\sum_{n} l_n}{\sum_{n} w_{y_n}}$$
#
# The weighted mean is a weighted *average* of the unweighted losses: it
# always lies between the smallest and the largest of them.

# %% tags=["remove-input"]
side_by_side('''
weight = np.array([1.0, 3.0, 0.5])  # (C,): class 1 counts three times
print(np.round(celoss.cross_entropy(logits, targets, weight=weight), 6))
''', '''
weight_t = torch.tensor([1.0, 3.0, 0.5], dtype=logits_t.dtype)  # the logits' dtype
print(F.cross_entropy(logits_t, targets_t, weight=weight_t).numpy().round(6))
''')

# %% [markdown]
# With class indices, PyTorch wants the weight in the logits' dtype, and
# says so only by raising; celoss casts the weight to the logits' dtype. On
# float32 logits with a float64 weight:

# %%
logits32 = logits.astype(np.float32)  # (N, C) float32, as a model outputs them
weight_mismatch = {}  # library -> "Type: message", or the loss
for name, call in [
    ("celoss", lambda: celoss.cross_entropy(logits32, targets, weight=weight)),
    ("torch", lambda: F.cross_entropy(torch.from_numpy(logits32), targets_t,
                                      weight=torch.from_numpy(weight))),
]:
    try:
        weight_mismatch[name] = call()
    except RuntimeError as error:
        weight_mismatch[name] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    shown = weight_mismatch[name]
    print(f"{name}: {shown if isinstance(shown, str) else f'{float(shown):.6f} (float32)'}")
assert isinstance(weight_mismatch["torch"], str)  # torch raises
assert weight_mismatch["celoss"].dtype == np.float32  # celoss casts the weight
np.testing.assert_allclose(
    weight_mismatch["celoss"],
    F.cross_entropy(torch.from_numpy(logits32), targets_t,
                    weight=torch.from_numpy(weight).float()).item(),
    *celoss.TOLERANCES["float32"])
module = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weight).float())
assert "weight" in dict(module.named_buffers())  # moves with .to(...)
assert module.to(torch.float64).weight.dtype == torch.float64

# %% [markdown]
# So build the weight with `dtype=logits.dtype` (and on `logits.device`).
# `nn.CrossEntropyLoss(weight=w)` keeps `w` as a buffer, not a parameter:
# `loss_fn.to(device)` or `loss_fn.to(dtype)` moves and casts it with the
# module, and the optimiser never updates it.

# %% [markdown]
# Check: every reduction with these weights. The figure varies $w_1$, the
# weight of sample 1's class, over two decades.

# %%
for reduction in ["none", "sum", "mean"]:
    check(logits, targets, weight=weight, reduction=reduction)

# %% tags=["remove-input"]
w1 = np.geomspace(0.1, 10.0, 61)  # (61,)
sweep = {r: np.array([celoss.cross_entropy(logits, targets, reduction=r,
                                           weight=np.array([1.0, w, 0.5]))
                      for w in w1]) for r in ["mean", "sum"]}
w1_checked = w1[::10]  # PyTorch at every tenth point
torch_sweep = {r: np.array([F.cross_entropy(logits_t, targets_t, reduction=r,
                                            weight=torch.tensor([1.0, w, 0.5],
                                                                dtype=torch.float64)).item()
                            for w in w1_checked]) for r in ["mean", "sum"]}
for r in sweep:
    np.testing.assert_allclose(sweep[r][::10], torch_sweep[r], rtol=RTOL64, atol=ATOL64)
plain = by_reduction["none"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(w1, sweep["sum"], color=CORRECT, linewidth=2, label="reduction='sum'")
ax.plot(w1, sweep["mean"], color=OTHER, linewidth=3, label="reduction='mean'")
for r in ["sum", "mean"]:
    ax.scatter(w1_checked, torch_sweep[r], color=ACCENT, s=12, zorder=3,
               label="PyTorch" if r == "mean" else None)
for n in range(N):
    ax.axhline(plain[n], color="black", linestyle=":", linewidth=1)
    ax.text(10.0, plain[n], f"l_{n} = {plain[n]:.3f}", va="bottom", ha="right",
            fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("w_1, the weight of class 1")
ax.set_ylabel("loss")
ax.set_ylim(0, 1.0)
ax.set_title("The weighted mean stays between the samples' losses; the sum does not")
ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.9))
show_figure(
    fig, "weight",
    alt=f"Loss against the weight of class 1 from 0.1 to 10 on a log scale. "
        f"The weighted mean moves from {sweep['mean'][0]:.3f} towards "
        f"sample 1's loss {plain[1]:.3f} and stays between {plain[1]:.3f} and "
        f"{plain[0]:.3f}; the sum grows from {sweep['sum'][0]:.3f} past the "
        f"top of the plot. Red dots: PyTorch at six weights.",
    caption="Class weights: the mean (grey) is an average of the unweighted "
            "losses (dotted), pulled towards the heavier class; the sum (blue) "
            "grows with the weight. Red dots: PyTorch.",
)

# %% [markdown]
# Class weights are one answer to rare classes; two others are common. The
# *focal loss* (Lin et al., "Focal Loss for Dense Object Detection", ICCV
# 2017) changes the loss itself, and is not an option of `F.cross_entropy`:
# it multiplies each sample's loss by $(1 - p_{n,y_n})^\gamma$, so that
# examples the model already gets right count for little; torchvision ships
# its binary form as `torchvision.ops.sigmoid_focal_loss`. The
# *class-balanced loss* (Cui et al., "Class-Balanced Loss Based on Effective
# Number of Samples", CVPR 2019) is a rule for choosing `weight`: $w_c$
# proportional to $(1 - \beta) / (1 - \beta^{N_c})$ for a class with $N_c$
# samples and some $\beta$ just below 1, normalised.

# %% [markdown]
# ## 3. ignore_index
#
# Samples whose target equals `ignore_index` (default $-100$) get loss 0
# and leave the mean's denominator. $-100$ is the *label* value that Hugging
# Face's data collators and models put on positions to skip (padding,
# prompt tokens); tokenisers never emit it, since they pad the *inputs* with
# their own `pad_token_id`:
#
# $$l_n = -w_{y_n} \log p_{n,y_n}\,[y_n \ne \text{ignore\_index}], \qquad
# \ell_{\text{mean}} = \frac{\sum_n l_n}{\sum_n w_{y_n} [y_n \ne \text{ignore\_index}]}$$
#
# Any integer can be the ignored value, a real class included.

# %% tags=["remove-input"]
side_by_side('''
batch = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 3.0], [0.2, 0.1, 0.0]])
labels = np.array([0, 1, -100, 2])  # (N,): sample 2 is padding
print(np.round(celoss.cross_entropy(batch, labels, reduction="none"), 6))
print(np.round(celoss.cross_entropy(batch, labels), 6))
# ignoring class 2 instead: the -100 is no longer ignored, so relabel it
print(np.round(celoss.cross_entropy(batch, np.clip(labels, 0, None), ignore_index=2), 6))
''', '''
batch_t = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 3.0],
                        [0.2, 0.1, 0.0]], dtype=torch.float64)
labels_t = torch.tensor([0, 1, -100, 2])
print(F.cross_entropy(batch_t, labels_t, reduction="none").numpy().round(6))
print(F.cross_entropy(batch_t, labels_t).numpy().round(6))
# ignoring class 2 instead: the -100 is no longer ignored, so relabel it
print(F.cross_entropy(batch_t, labels_t.clamp(min=0), ignore_index=2).numpy().round(6))
''')

# %% [markdown]
# Both tabs relabel the $-100$ before ignoring another value: a target
# outside $[0, C)$ that is not the ignored one is an error in celoss and in
# PyTorch on the CPU, never a silent zero. On a CUDA device PyTorch checks it
# with a device-side assert instead, which cannot be handled like an
# exception and leaves the process's CUDA context unusable (see
# [common mistakes](common-mistakes.py)). Left in place, on the CPU, it
# raises:

# %%
for name, call in [
    ("celoss", lambda: celoss.cross_entropy(batch, labels, ignore_index=2)),
    ("torch", lambda: F.cross_entropy(batch_t, labels_t, ignore_index=2)),
]:
    try:
        call()
    except (IndexError, RuntimeError) as error:
        print(f"{name}: {type(error).__name__}: {str(error).splitlines()[0]}")
    else:
        raise AssertionError(f"{name}: a -100 target that is not ignored must raise")

# %% [markdown]
# Check: each reduction, the default and another ignored value, and a batch
# whose targets are all ignored: its mean is $0/0$, `nan` in both libraries.

# %%
for reduction in ["none", "sum", "mean"]:
    check(batch, labels, reduction=reduction)
    check(batch, np.clip(labels, 0, None), ignore_index=2, reduction=reduction)
check(batch, np.full(4, -100))
assert np.isnan(celoss.cross_entropy(batch, np.full(4, -100)))

# %% tags=["remove-input"]
per_sample = celoss.cross_entropy(batch, labels, reduction="none")  # (N,)
mean_kept = float(celoss.cross_entropy(batch, labels))
mean_all = float(per_sample.mean())  # NAIVE: divides by every sample
fig, ax = plt.subplots()
kept_mask = labels != -100
loss_bars(ax, per_sample, [f"sample {n}" + ("\n(ignored)" if not k else f"\ny = {labels[n]}")
                           for n, k in enumerate(kept_mask)],
          [CORRECT if k else OTHER for k in kept_mask],
          "Per-sample losses with ignore_index = -100")
ax.axhline(mean_kept, color=ACCENT, linestyle="--",
           label=f"mean over the {int(kept_mask.sum())} kept: {mean_kept:.4f}")
ax.axhline(mean_all, color="black", linestyle=":",
           label=f"sum / N = {mean_all:.4f} (not what torch computes)")
ax.legend(frameon=False, fontsize=8, loc="upper right")
show_figure(
    fig, "ignore-index",
    alt=f"Bar chart of four per-sample losses, {values(per_sample)}; the "
        f"ignored sample's is 0. A dashed line marks the mean over the kept "
        f"samples, {mean_kept:.4f}; a dotted one the sum over all four divided "
        f"by 4, {mean_all:.4f}.",
    caption="An ignored sample (grey) has loss 0 and is left out of the mean "
            "(dashed), which is larger than the sum divided by <i>N</i> (dotted).",
)

# %% [markdown]
# ## 4. label_smoothing
#
# With smoothing $\varepsilon$ the target keeps $1 - \varepsilon$ on the
# correct class and spreads $\varepsilon$ over all $C$ classes. PyTorch
# computes it as two losses, each weighted and reduced like the plain one:
#
# $$l_n = (1 - \varepsilon)\big(-w_{y_n} \log p_{n,y_n}\big)
# + \frac{\varepsilon}{C} \sum_{c=1}^{C} \big(-w_c \log p_{n,c}\big)$$
#
# At $\varepsilon = 1$ only the second remains: the cross-entropy against the
# uniform distribution, whatever the targets.

# %% tags=["remove-input"]
side_by_side('''
print(np.round(celoss.cross_entropy(logits, targets, label_smoothing=0.1), 6))
''', '''
print(F.cross_entropy(logits_t, targets_t, label_smoothing=0.1).numpy().round(6))
''')

# %% [markdown]
# Check: smoothing from 0 to 1, each reduction, with and without weights.

# %%
epsilons = np.linspace(0.0, 1.0, 11)  # (11,)
for eps in epsilons:
    for reduction in ["none", "sum", "mean"]:
        check(logits, targets, label_smoothing=float(eps), reduction=reduction,
              show=False)
        check(logits, targets, label_smoothing=float(eps), reduction=reduction,
              weight=weight, show=False)
smoothed = np.array([celoss.cross_entropy(logits, targets, label_smoothing=float(e))
                     for e in epsilons])  # (11,)
uniform_loss = float(-celoss.log_softmax(logits, axis=1).mean())
np.testing.assert_allclose(smoothed[-1], uniform_loss, rtol=RTOL64, atol=ATOL64)
print(f"{len(epsilons) * 6} smoothing cases agree; at eps = 1 the loss is "
      f"{smoothed[-1]:.6f}, the mean of -log p over every class")

# %% tags=["remove-input"]
torch_smoothed = np.array([F.cross_entropy(logits_t, targets_t,
                                           label_smoothing=float(e)).item()
                           for e in epsilons])
np.testing.assert_allclose(smoothed, torch_smoothed, rtol=RTOL64, atol=ATOL64)
fig, ax = plt.subplots()
ax.plot(epsilons, smoothed, color=CORRECT, linewidth=2, label="celoss")
ax.scatter(epsilons, torch_smoothed, color=ACCENT, s=14, zorder=3, label="PyTorch")
ax.axhline(uniform_loss, color="black", linestyle=":", linewidth=1)
ax.text(0.02, uniform_loss, f"against the uniform target: {uniform_loss:.4f}",
        va="bottom", fontsize=8)
ax.set_xlabel("label_smoothing")
ax.set_ylabel("mean loss")
ax.set_ylim(0, uniform_loss * 1.3)
ax.set_title("Label smoothing moves the loss linearly to the uniform target's")
ax.legend(frameon=False, loc="lower right")
show_figure(
    fig, "label-smoothing",
    alt=f"The seed's mean loss against label_smoothing from 0 to 1: a straight "
        f"line from {smoothed[0]:.4f} to {smoothed[-1]:.4f}, the cross-entropy "
        f"against the uniform distribution; red dots from PyTorch on the line.",
    caption="The loss is linear in &epsilon;, from the plain loss at 0 to the "
            "loss against the uniform target at 1. Red dots: PyTorch.",
)

# %% [markdown]
# ## 5. Probability targets
#
# When the targets have the logits' shape, they are a distribution
# $t_{n,c}$ per sample (soft labels, a teacher's predictions, smoothed
# one-hots) and
#
# $$l_n = -\sum_{c=1}^{C} w_c\, t_{n,c} \log p_{n,c}, \qquad
# \ell_{\text{mean}} = \frac{1}{N} \sum_n l_n$$
#
# The mean divides by $N$ even with weights. `label_smoothing` applies to
# probability targets too: each row is mixed with the uniform distribution
# before the loss is taken,
#
# $$q_{n,c} = (1 - \varepsilon)\, t_{n,c} + \frac{\varepsilon}{C}$$
#
# (the smoothed target $q$ of the vocabulary table). If every row of $t$ is a
# distribution (non-negative, summing to 1), then without weights or
# smoothing the loss is smallest when $p = t$ (with smoothing, when $p = q$), where it equals the
# entropy of the target, $H(t_n) = -\sum_c t_{n,c} \log t_{n,c}$: a soft
# target's loss never reaches 0 ([information theory](information-theory.py)
# has the why). Neither PyTorch nor celoss checks that the
# rows are distributions; with rows that are not, these bounds do not hold
# (below).

# %% tags=["remove-input"]
side_by_side('''
soft = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])  # (N, C): rows sum to 1
print(np.round(celoss.cross_entropy(logits, soft, reduction="none"), 6))
''', '''
soft_t = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], dtype=torch.float64)
print(F.cross_entropy(logits_t, soft_t, reduction="none").numpy().round(6))
''')

# %% [markdown]
# Check: each reduction, with and without weights and smoothing; a one-hot
# probability target gives the class-index loss; and the loss at $p = t$
# (logits $\log t$) is the entropy.

# %%
for reduction in ["none", "sum", "mean"]:
    for options in [{}, {"weight": weight}, {"label_smoothing": 0.2},
                    {"weight": weight, "label_smoothing": 0.2}]:
        check(logits, soft, reduction=reduction, show=False, **options)
one_hot = np.eye(C)[targets]  # (N, C)
np.testing.assert_allclose(celoss.cross_entropy(logits, one_hot),
                           celoss.cross_entropy(logits, targets), rtol=RTOL64, atol=ATOL64)
soft_losses = celoss.cross_entropy(logits, soft, reduction="none")  # (N,)
at_target = celoss.cross_entropy(np.log(soft), soft, reduction="none")  # (N,)
entropies = celoss.entropy(soft, axis=1)  # (N,)
np.testing.assert_allclose(at_target, entropies, rtol=RTOL64, atol=ATOL64)
check(np.log(soft), soft, reduction="none")
print("losses:", np.round(soft_losses, 6), " at p = t:", np.round(at_target, 6))

# %% [markdown]
# Check: smoothing probability targets is the plain loss on
# $q = (1 - \varepsilon) t + \varepsilon / C$, with and without weights;
# and targets that are not distributions ($3t - 1$: negative entries, rows
# summing to 0) are accepted by both libraries, which return the same
# number.

# %%
eps_soft = 0.2
soft_smoothed = (1 - eps_soft) * soft + eps_soft / C  # (N, C): q
for options in [{}, {"weight": weight}]:
    by_option = celoss.cross_entropy(logits, soft, label_smoothing=eps_soft, **options)
    by_mixing = celoss.cross_entropy(logits, soft_smoothed, **options)
    torch_option = F.cross_entropy(logits_t, soft_t, label_smoothing=eps_soft,
                                   **({"weight": torch.from_numpy(weight)}
                                      if options else {})).item()
    np.testing.assert_allclose(by_option, by_mixing, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(by_option, torch_option, rtol=RTOL64, atol=ATOL64)
    check(logits, soft_smoothed, **options)
smoothed_soft_loss = float(celoss.cross_entropy(logits, soft, label_smoothing=eps_soft))
not_distributions = 3 * soft - 1  # (N, C): rows sum to 0, some entries negative
unchecked = float(celoss.cross_entropy(logits, not_distributions))
unchecked_t = F.cross_entropy(logits_t, torch.from_numpy(not_distributions)).item()
check(logits, not_distributions)
assert unchecked < 0 and unchecked_t < 0  # a "cross-entropy" below 0, without an error
print(f"label_smoothing={eps_soft} on soft targets: {smoothed_soft_loss:.6f}; "
      f"targets 3t - 1: celoss {unchecked:.6f}, torch {unchecked_t:.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"With $\\varepsilon$ = {eps_soft:g}, the soft targets' mean loss is "
    f"**{smoothed_soft_loss:.4f}** either way, in both libraries. On the rows "
    f"$3t - 1$ both return **{unchecked:.4f}**, a negative loss, and neither "
    f"raises: normalise soft targets yourself (`t / t.sum(axis=1, "
    f"keepdims=True)`, or a softmax of the teacher's logits) before the loss."
))

# %% tags=["remove-input"]
soft_probs = celoss.softmax(logits, axis=1)
fig, axes = plt.subplots(1, N, sharey=True)
for n, ax in enumerate(axes):
    positions = np.arange(C)
    ax.bar(positions - 0.2, soft[n], width=0.4, color=CORRECT, label="target t")
    ax.bar(positions + 0.2, soft_probs[n], width=0.4, color=OTHER, label="model p")
    ax.set_xticks(positions, [f"class {c}" for c in range(C)])
    ax.set_title(f"sample {n}: l = {soft_losses[n]:.3f}, H(t) = {entropies[n]:.3f}")
axes[0].set_ylabel("probability")
axes[0].legend(frameon=False)
fig.suptitle("Probability targets: the loss compares two distributions")
show_figure(
    fig, "probability-targets",
    alt=f"Two grouped bar charts, target against model probabilities. Sample 0: "
        f"target {values(soft[0], 1)}, model {values(soft_probs[0], 3)}, loss "
        f"{soft_losses[0]:.3f}, target entropy {entropies[0]:.3f}. Sample 1: "
        f"target {values(soft[1], 1)}, model {values(soft_probs[1], 3)}, loss "
        f"{soft_losses[1]:.3f}, entropy {entropies[1]:.3f}.",
    caption="Soft targets (blue) against the model's probabilities (grey); "
            "each loss is at least the target's entropy <i>H</i>(<i>t</i>), "
            "reached when the two distributions match.",
)

# %% [markdown]
# ## 6. K-dimensional inputs (N, C, H, W)
#
# A segmentation model scores every pixel: logits $(N, C, H, W)$ with the
# classes on axis 1, targets $(N, H, W)$. Each pixel is a sample, and the
# mean runs over all $N H W$ of them (or their total weight):
#
# $$l_{n,h,w} = -w_{y_{n,h,w}} \log p_{n,\,y_{n,h,w},\,h,w}, \qquad
# p_{n,c,h,w} = \frac{e^{x_{n,c,h,w}}}{\sum_k e^{x_{n,k,h,w}}}$$
#
# That is the $(N, C)$ loss on the pixels laid out as rows: move the class
# axis last and flatten.

# %% tags=["remove-input"]
side_by_side('''
rng_seg = np.random.default_rng(0)
seg_logits = rng_seg.normal(size=(2, 3, 4, 5))  # (N, C, H, W)
seg_targets = rng_seg.integers(0, 3, size=(2, 4, 5))  # (N, H, W)
rows = np.moveaxis(seg_logits, 1, -1).reshape(-1, 3)  # (N*H*W, C)
print(np.round(celoss.cross_entropy(seg_logits, seg_targets), 6),
      np.round(celoss.cross_entropy(rows, seg_targets.reshape(-1)), 6))
''', '''
seg_logits_t = torch.from_numpy(seg_logits)  # the same (N, C, H, W) values
seg_targets_t = torch.from_numpy(seg_targets)  # (N, H, W)
rows_t = seg_logits_t.permute(0, 2, 3, 1).reshape(-1, 3)  # (N*H*W, C)
print(F.cross_entropy(seg_logits_t, seg_targets_t).numpy().round(6),
      F.cross_entropy(rows_t, seg_targets_t.reshape(-1)).numpy().round(6))
''')

# %% [markdown]
# Check: every reduction, with weights, ignored pixels (the border of each
# image) and smoothing, and with per-pixel probability targets.

# %%
border = np.zeros((4, 5), dtype=bool)
border[[0, -1], :] = border[:, [0, -1]] = True
seg_ignored = np.where(border, -100, seg_targets)  # (N, H, W)
seg_soft = celoss.softmax(rng.normal(size=seg_logits.shape), axis=1)  # (N, C, H, W)
for reduction in ["none", "sum", "mean"]:
    check(seg_logits, seg_targets, reduction=reduction)
    check(seg_logits, seg_ignored, weight=weight, label_smoothing=0.1,
          reduction=reduction)
    check(seg_logits, seg_soft, weight=weight, reduction=reduction)
pixel_losses = celoss.cross_entropy(seg_logits, seg_targets, reduction="none")  # (N, H, W)
print("per-pixel losses:", pixel_losses.shape, " mean:", np.round(pixel_losses.mean(), 6))

# %% tags=["remove-input"]
fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(7.0, 2.6))
class_colors = plt.matplotlib.colors.ListedColormap([CORRECT, OTHER, ACCENT])
ax_t.imshow(seg_targets[0], cmap=class_colors, vmin=-0.5, vmax=2.5)
for (h, w), y in np.ndenumerate(seg_targets[0]):
    ax_t.text(w, h, str(y), ha="center", va="center", fontsize=8,
              color="black" if y == 1 else "white")
ax_t.set_title("image 0: target class per pixel")
image = ax_l.imshow(pixel_losses[0], cmap="Greys", vmin=0)
for (h, w), value in np.ndenumerate(pixel_losses[0]):
    ax_l.text(w, h, f"{value:.1f}", ha="center", va="center", fontsize=7,
              color="white" if value > pixel_losses[0].max() / 2 else "black")
ax_l.set_title("its loss per pixel (reduction='none')")
for ax in (ax_t, ax_l):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
fig.colorbar(image, ax=ax_l, shrink=0.8)
show_figure(
    fig, "k-dim",
    alt=f"Two {seg_targets.shape[1]} by {seg_targets.shape[2]} grids for image 0: the "
        f"target class of each pixel, and the loss of each pixel, from "
        f"{pixel_losses[0].min():.2f} to {pixel_losses[0].max():.2f}; the mean "
        f"over all {pixel_losses.size} pixels of the {len(pixel_losses)} images is "
        f"{pixel_losses.mean():.4f}.",
    caption="K-dimensional input: a target class (left) and a loss (right) "
            "per pixel; the mean reduction averages all pixels of all images.",
)

# %% [markdown]
# ## 7. Unbatched input (C,)
#
# One sample may come without its batch axis: logits $(C,)$, the classes on
# axis 0, and a target of shape $()$ (or a distribution of shape $(C,)$).
# The loss is the batch-of-one loss, and the reductions all give the same
# number:
#
# $$\ell = -\log p_{y} = -x_{y} + \log \sum_{c=1}^{C} e^{x_c}$$

# %% tags=["remove-input"]
side_by_side('''
single = np.array([0.5, 2.5, 0.3])  # (C,)
print(np.round(celoss.cross_entropy(single, np.array(1)), 6),
      np.round(celoss.cross_entropy(single[None], np.array([1])), 6))
''', '''
single_t = torch.tensor([0.5, 2.5, 0.3], dtype=torch.float64)
print(F.cross_entropy(single_t, torch.tensor(1)).numpy().round(6),
      F.cross_entropy(single_t[None], torch.tensor([1])).numpy().round(6))
''')

# %% [markdown]
# Check: each reduction with a class index and with a distribution, with
# weights and smoothing; the shape of `"none"` is $()$ in both libraries.

# %%
for reduction in ["none", "sum", "mean"]:
    check(single, np.array(1), reduction=reduction)
    check(single, np.array(1), weight=weight, label_smoothing=0.1, reduction=reduction)
    check(single, soft[1], weight=weight, reduction=reduction)
assert celoss.cross_entropy(single, np.array(1), reduction="none").shape == ()
single_loss = float(celoss.cross_entropy(single, np.array(1)))
print(f"unbatched loss {single_loss:.6f} = sample 1's loss in the batch "
      f"{by_reduction['none'][1]:.6f}")
np.testing.assert_allclose(single_loss, by_reduction["none"][1], rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
single_probs = celoss.softmax(single, axis=0)
fig, ax = plt.subplots()
bars = ax.bar([f"class {c}" for c in range(C)], single_probs,
              color=[CORRECT if c == 1 else OTHER for c in range(C)], width=0.5)
ax.bar_label(bars, fmt="%.3f", padding=2)
ax.set_ylim(0, 1.1)
ax.set_title(f"One unbatched sample, target 1: loss = -log {single_probs[1]:.3f} "
             f"= {single_loss:.4f}")
ax.set_ylabel("probability")
show_figure(
    fig, "unbatched",
    alt=f"Bar chart of the softmax of the unbatched logits {values(single, 1)}: "
        f"{values(single_probs, 3)}; the target class 1 is highlighted; the loss "
        f"is {single_loss:.4f}.",
    caption="Unbatched input: the softmax runs over axis 0, and the loss is "
            "the batch-of-one loss.",
)

# %% [markdown]
# ## 8. Every combination
#
# Each layout (unbatched, batched, K-dimensional) with each kind of target,
# each subset of the options and each reduction, compared with PyTorch step
# by step, value and gradient. Every entry must pass float64's test,
#
# $$|\text{celoss} - \text{torch}| \le \text{atol} + \text{rtol}\,|\text{torch}|$$

# %%
layouts = {"(C,)": (C,), "(N, C)": (4, C), "(N, C, H, W)": (2, C, 3, 2)}
option_sets = ([("indices", s) for r in range(4) for s in
                itertools.combinations(["weight", "ignore_index", "label_smoothing"], r)]
               + [("probabilities", s) for r in range(3) for s in
                  itertools.combinations(["weight", "label_smoothing"], r)])
worst = np.zeros((len(option_sets), len(layouts) * 3))  # largest relative difference
for (i, (kind, names)), (j, shape) in itertools.product(
        enumerate(option_sets), enumerate(layouts.values())):
    x = rng.normal(size=shape)
    axis = 0 if len(shape) == 1 else 1
    if kind == "probabilities":
        y = celoss.softmax(rng.normal(size=shape) * 2, axis=axis)
    else:
        y = rng.integers(0, C, size=shape[:axis] + shape[axis + 1:])
        if "ignore_index" in names and y.size > 1:
            y.flat[0] = -100  # one ignored target
    options = {"weight": weight} if "weight" in names else {}
    if "label_smoothing" in names:
        options["label_smoothing"] = 0.15
    for k, reduction in enumerate(["none", "sum", "mean"]):
        report = check(x, y, reduction=reduction, show=False, **options)
        worst[i, 3 * j + k] = max(s.max_rel_diff for s in report.steps)
combinations = len(option_sets) * len(layouts) * 3
print(f"{combinations} combinations agree with PyTorch; largest relative "
      f"difference {worst.max():.1e} (tolerance {RTOL64:g})")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(8.0, 4.2))
shown = np.log10(np.maximum(worst, 1e-18))
image = ax.imshow(shown, cmap="Blues", vmin=-18, vmax=np.log10(RTOL64), aspect="auto")
ax.set_xticks(range(worst.shape[1]),
              [f"{layout.replace(', ', ',')}\n{r}" for layout in layouts
               for r in ["none", "sum", "mean"]], fontsize=6.5)
ax.set_yticks(range(len(option_sets)),
              [f"{kind}: {' + '.join(names) or 'no options'}" for kind, names in option_sets],
              fontsize=7)
ax.grid(False)
ax.set_title("Largest relative difference from PyTorch, over every step (log10)")
fig.colorbar(image, ax=ax, label=f"log10; the tolerance is {np.log10(RTOL64):.0f}")
show_figure(
    fig, "combinations",
    alt=f"Heat map of {combinations} cases, {len(option_sets)} option sets by "
        f"{worst.shape[1]} layout and reduction pairs: the largest relative "
        f"difference between celoss and PyTorch over every step, at most "
        f"{worst.max():.1e}, below the tolerance {RTOL64:g} everywhere.",
    caption="Every option set (rows) in every layout and reduction (columns): "
            "each cell is the largest relative difference from PyTorch over "
            "softmax, log-softmax, the per-sample loss, the loss and its "
            "gradient; white is an exact match.",
)

# %% [markdown]
# ## 9. Pitfall: the weighted mean's denominator
#
# Written by hand, a weighted loss is often averaged with `.mean()`, which
# divides by $N$. PyTorch divides by the targets' total weight:
#
# $$\ell = \frac{\sum_n w_{y_n} l_n}{\sum_n w_{y_n}}
# \quad\text{not}\quad \frac{1}{N} \sum_n w_{y_n} l_n$$
#
# The two agree only when the targets' weights happen to average 1. Scaling
# every weight by $k$ leaves PyTorch's loss unchanged and scales the
# hand-written one by $k$ (and with it, the learning rate).

# %%
nll = -celoss.correct_class_log_probs(celoss.log_softmax(logits, axis=1), targets)  # (N,)
hand_written = float(np.mean(weight[targets] * nll))  # NAIVE: divides by N
torch_style = float(celoss.cross_entropy(logits, targets, weight=weight))
print(f"(w * l).mean() = {hand_written:.6f}; cross_entropy = {torch_style:.6f}; "
      f"ratio {hand_written / torch_style:.4f} = sum(w_y) / N = "
      f"{weight[targets].sum() / N:.4f}")
check(logits, targets, weight=weight)  # celoss is torch's side
assert not np.isclose(hand_written, torch_style)
np.testing.assert_allclose(hand_written * N, torch_style * weight[targets].sum(),
                           rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
scales = np.geomspace(0.25, 4.0, 41)  # (41,)
by_scale_torch_style = np.array([celoss.cross_entropy(logits, targets, weight=k * weight)
                                 for k in scales])
by_scale_hand = np.array([np.mean(k * weight[targets] * nll) for k in scales])
checked_scales = scales[::10]
torch_by_scale = np.array([F.cross_entropy(logits_t, targets_t,
                                           weight=torch.from_numpy(k * weight)).item()
                           for k in checked_scales])
np.testing.assert_allclose(by_scale_torch_style[::10], torch_by_scale,
                           rtol=RTOL64, atol=ATOL64)
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(scales, by_scale_hand, color=OTHER, linewidth=2,
        label="(w[y] * l).mean(): divides by N")
ax.plot(scales, by_scale_torch_style, color=CORRECT, linewidth=2,
        label="celoss.cross_entropy: divides by sum of w[y]")
ax.scatter(checked_scales, torch_by_scale, color=ACCENT, s=14, zorder=3, label="PyTorch")
ax.set_xscale("log")
ax.set_xlabel("k: every weight multiplied by k")
ax.set_ylabel("mean loss")
ax.set_title("The weighted mean's denominator")
ax.legend(frameon=False, loc="upper left")
show_figure(
    fig, "weighted-mean",
    alt=f"Loss against a common factor k on all class weights, 0.25 to 4 on a "
        f"log scale. PyTorch's weighted mean is flat at {torch_style:.4f}; the "
        f"hand-written mean over N grows from {by_scale_hand[0]:.4f} to "
        f"{by_scale_hand[-1]:.4f}. Red dots: PyTorch.",
    caption="Dividing a weighted sum by <i>N</i> (grey) makes the loss "
            "depend on the weights' scale; PyTorch's denominator (blue, red "
            "dots) does not.",
)

# %% [markdown]
# ## 10. Pitfall: label smoothing with class weights
#
# Two routes to a smoothed, weighted loss look the same and are not:
# `label_smoothing=ε` with class indices, and the smoothed one-hot
# $q = (1 - \varepsilon)\,\text{one-hot} + \varepsilon / C$ passed as
# probability targets. Their per-sample losses are equal,
# $-\sum_c w_c q_{n,c} \log p_{n,c}$ in both, but the means divide by
# different totals:
#
# $$\ell_{\text{indices}} = \frac{\sum_n l_n}{\sum_n w_{y_n}}, \qquad
# \ell_{\text{probabilities}} = \frac{\sum_n l_n}{N}$$
#
# A third route, common in hand-written code, multiplies the whole smoothed
# loss by the target's weight $w_{y_n}$; it weights the smoothing mass of
# every class by the wrong class's weight, and matches neither.

# %%
eps = 0.1
q = celoss.smoothed_targets(targets, C, label_smoothing=eps)  # (N, C)
by_indices = float(celoss.cross_entropy(logits, targets, weight=weight,
                                        label_smoothing=eps))
by_probabilities = float(celoss.cross_entropy(logits, q, weight=weight))
log_probs = celoss.log_softmax(logits, axis=1)  # (N, C)
hand_smoothed = float(np.sum(weight[targets] * -(q * log_probs).sum(axis=1))
                      / weight[targets].sum())  # NAIVE: w_{y_n} on every class
print(f"class indices + label_smoothing: {by_indices:.6f}")
print(f"smoothed one-hot as probabilities: {by_probabilities:.6f}")
print(f"w[y] * smoothed loss, by hand:     {hand_smoothed:.6f}")
check(logits, targets, weight=weight, label_smoothing=eps)
check(logits, q, weight=weight)
np.testing.assert_allclose(by_indices * weight[targets].sum(), by_probabilities * N,
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(celoss.cross_entropy(logits, targets, label_smoothing=eps),
                           celoss.cross_entropy(logits, q), rtol=RTOL64, atol=ATOL64)

# %% tags=["remove-input"]
display(Markdown(
    f"Without weights the two routes agree. With weights {values(weight, 1)} "
    f"they differ by the factor $\\sum_n w_{{y_n}} / N$ = "
    f"{weight[targets].sum() / N:.4f}: **{by_indices:.4f}** against "
    f"**{by_probabilities:.4f}**, and the hand-written version gives a third "
    f"value, **{hand_smoothed:.4f}**."
))

# %% tags=["remove-input"]
eps_grid = np.linspace(0.0, 1.0, 41)  # (41,)
route_indices = np.array([celoss.cross_entropy(logits, targets, weight=weight,
                                               label_smoothing=float(e)) for e in eps_grid])
route_probs = np.array([celoss.cross_entropy(
    logits, celoss.smoothed_targets(targets, C, label_smoothing=float(e)), weight=weight)
    for e in eps_grid])
route_hand = np.array([
    np.sum(weight[targets] * -(celoss.smoothed_targets(targets, C, label_smoothing=float(e))
                               * log_probs).sum(axis=1)) / weight[targets].sum()
    for e in eps_grid])
eps_checked = eps_grid[::10]
torch_indices = [F.cross_entropy(logits_t, targets_t, weight=torch.from_numpy(weight),
                                 label_smoothing=float(e)).item() for e in eps_checked]
torch_probs = [F.cross_entropy(logits_t, torch.from_numpy(
    celoss.smoothed_targets(targets, C, label_smoothing=float(e))),
    weight=torch.from_numpy(weight)).item() for e in eps_checked]
np.testing.assert_allclose(route_indices[::10], torch_indices, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(route_probs[::10], torch_probs, rtol=RTOL64, atol=ATOL64)
fig, ax = plt.subplots(figsize=(7.0, 3.2))
ax.plot(eps_grid, route_indices, color=CORRECT, linewidth=2,
        label="class indices, label_smoothing=eps")
ax.plot(eps_grid, route_probs, color=OTHER, linewidth=2,
        label="smoothed one-hot as probability targets")
ax.plot(eps_grid, route_hand, color="black", linestyle=":", linewidth=1.5,
        label="w[y] * smoothed loss, by hand")
ax.scatter(np.concatenate([eps_checked, eps_checked]), torch_indices + torch_probs,
           color=ACCENT, s=14, zorder=3, label="PyTorch")
ax.set_xlabel("eps")
ax.set_ylabel("mean loss")
ax.set_ylim(0, max(route_probs.max(), route_hand.max()) * 1.15)
ax.set_title(f"Smoothing with weights {values(weight, 1)}: three routes")
ax.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "smoothing-with-weights",
    alt=f"Loss against eps from 0 to 1 for three routes with class weights: "
        f"class indices with label_smoothing, from {route_indices[0]:.4f} to "
        f"{route_indices[-1]:.4f}; the smoothed one-hot as probability targets, "
        f"from {route_probs[0]:.4f} to {route_probs[-1]:.4f}; and the "
        f"hand-written w[y] times the smoothed loss, from {route_hand[0]:.4f} to "
        f"{route_hand[-1]:.4f}. Red dots: PyTorch on the first two.",
    caption="Label smoothing with class weights: the index route (blue) and "
            "the probability route (grey) differ by a constant factor at every "
            "&epsilon;, even at 0; the hand-written route (dotted) matches "
            "neither. Red dots: PyTorch.",
)

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("`reduction`", r"$\sum_n l_n$ or its mean", f"{float(by_reduction['mean']):.4f}"),
    ("`weight`", r"$l_n = -w_{y_n}\log p_{n,y_n}$, mean over $\sum_n w_{y_n}$",
     f"{float(celoss.cross_entropy(logits, targets, weight=weight)):.4f}"),
    ("`ignore_index`", r"$l_n = 0$ and left out of the mean",
     f"{float(celoss.cross_entropy(batch, labels)):.4f} (4 samples, 1 ignored)"),
    ("`label_smoothing`", r"$(1-\varepsilon)$ NLL $+ \frac{\varepsilon}{C}\sum_c$ NLL$_c$",
     f"{float(celoss.cross_entropy(logits, targets, label_smoothing=0.1)):.4f} (0.1)"),
    ("probability targets", r"$-\sum_c w_c t_{n,c} \log p_{n,c}$, mean over $N$",
     f"{float(celoss.cross_entropy(logits, soft)):.4f}"),
    ("$(N, C, H, W)$", "one sample per pixel", f"{float(pixel_losses.mean()):.4f}"),
    ("$(C,)$", "a batch of one", f"{single_loss:.4f}"),
]
display(Markdown(
    "| option | formula | on this page's inputs |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
    + f"\n\n{len(checked)} comparisons with PyTorch ran on this page, each "
    f"over every step, the loss and its gradient; all agree to float64's "
    f"tolerance."
))

# %% [markdown]
# The [Verification](verification.md) page runs the same comparison in
# float16, float32 and float64 at every build. Next: [the gradient](gradient.py)
# of the loss, derived for each of these options.

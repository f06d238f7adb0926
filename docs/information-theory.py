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
# # Information theory
#
# Cross-entropy is a quantity from information theory: the average surprise
# of a model $p = \mathrm{softmax}(x)$ on outcomes drawn from a target
# distribution $t$, which splits into the surprise no model can avoid, the
# entropy $H(t)$, and the extra surprise of using $p$ instead of $t$, the KL
# divergence. This page computes all three, shows why cross-entropy and KL
# give the same gradient, why cross-entropy is the loss classifiers are
# trained with, and uses it to distil a teacher's soft targets into a student
# at a temperature.
#
# The notation is the rest of the site's (the vocabulary table on the
# [home page](index.md)): $p = \mathrm{softmax}(x)$ is always the model's
# distribution, and $t$ the target distribution, the probability targets
# $t_{n,c}$ that `F.cross_entropy` takes as its second argument when it is a
# float array. Every value is computed while the site builds and checked
# against PyTorch; the same checks are listed on the
# [Verification](verification.md) page.

# %%
import math
import warnings

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
from celoss.information import xlogx

rng = np.random.default_rng(seed=0)  # this page's only random numbers
np.set_printoptions(precision=4, suppress=True, linewidth=72)
use_figure_style()
show_figure = FigureCounter()
code_tabs = CodeTabs()  # runs NumPy and PyTorch snippets, shows them as tabs

RTOL64, ATOL64 = celoss.TOLERANCES["float64"]  # celoss vs torch, float64
LN2 = math.log(2)  # nats per bit


# %% [markdown]
# ## 1. Entropy
#
# The surprise of an outcome of probability $t_c$ is $-\log t_c$: none for a
# certain outcome, more the rarer it is. The **entropy** is the average
# surprise of outcomes drawn from $t$ itself,
#
# $$H(t) = -\sum_{c=1}^{C} t_c \log t_c, \qquad 0 \log 0 = 0$$
#
# Any distribution has an entropy; it is written here for a target $t$,
# because the target's entropy is the one that matters below. It is 0 for a
# certain outcome and largest, $\log C$, for the uniform distribution. With
# natural logarithms it is in nats; divided by $\ln 2$, in bits. celoss
# computes $t \log t$ with its limit 0 at $t = 0$, then sums:

# %%
show_source(xlogx)
show_source(celoss.entropy)

# %%
distributions = np.array([
    [1.00, 0.00, 0.00, 0.00],  # certain
    [0.70, 0.10, 0.10, 0.10],  # fairly sure
    [0.25, 0.25, 0.25, 0.25],  # uniform
])  # (N, C)
N, C = distributions.shape
entropies = celoss.entropy(distributions, axis=1)  # (N,)
print("H(t) in nats:", entropies)
print("H(t) in bits:", entropies / LN2)
print(f"log C = {math.log(C):.4f} nats = {math.log2(C):.4f} bits")

# %% tags=["remove-input"]
names = ["certain", "fairly sure", "uniform"]
fig, axes = plt.subplots(1, N, sharey=True, figsize=(7.5, 2.6))
fig.suptitle("Three distributions over C = 4 classes and their entropies")
for n, ax in enumerate(axes):
    ax.bar(range(C), distributions[n], color=CORRECT)
    ax.set_title(f"{names[n]}: H = {entropies[n]:.3f} nats\n"
                 f"= {entropies[n] / LN2:.3f} bits", fontsize=9)
    ax.set_xticks(range(C), [f"c={c}" for c in range(C)])
axes[0].set_ylabel("probability t_c")
axes[0].set_ylim(0, 1.1)
show_figure(
    fig, "entropy",
    alt=f"Three bar charts over four classes: a certain distribution with entropy "
        f"{entropies[0]:.3f} nats, the distribution {values(distributions[1], 2)} "
        f"with {entropies[1]:.3f} nats, and the uniform one with {entropies[2]:.3f} "
        f"nats ({entropies[2] / LN2:.3f} bits).",
    caption="The more evenly a distribution spreads, the higher its entropy; "
            "the uniform distribution reaches log <i>C</i>.",
)

# %% [markdown]
# Check: `torch.distributions.Categorical(...).entropy()` gives the same
# entropies, and the uniform distribution's is $\log C$.

# %%
torch_entropies = torch.distributions.Categorical(
    probs=torch.from_numpy(distributions)).entropy().numpy()  # (N,)
np.testing.assert_allclose(entropies, torch_entropies,
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(entropies[2], math.log(C), rtol=RTOL64)
assert entropies[0] == 0.0
print("torch Categorical.entropy():", torch_entropies)

# %% [markdown]
# ## 2. Cross-entropy
#
# The **cross-entropy** of a model $p$ against a target $t$ is the average
# surprise of the model on outcomes drawn from the target:
#
# $$H(t, p) = -\sum_{c=1}^{C} t_c \log p_c, \qquad
# p = \mathrm{softmax}(x)$$
#
# This is exactly `F.cross_entropy` with probability targets: a float array
# $t$ of the logits' shape. A class index $y$ is the special case of a
# one-hot $t$, where the sum keeps the single term $-\log p_y$.

# %%
target = distributions[1]  # (C,): "fairly sure", the target t
model_logits = np.array([[1.0, 1.5, 0.2, -0.5]])  # (1, C): the model's x
model_probs = celoss.softmax(model_logits, axis=1)  # (1, C): p
cross = celoss.cross_entropy(model_logits, target[None, :],
                             reduction="none")  # (1,)
one_hot = np.eye(C)[[0]]  # (1, C): class 0 as a distribution
print("t =", target)
print("p =", model_probs[0])
print(f"H(t, p) = {float(cross[0]):.4f} nats, H(t) = {entropies[1]:.4f} nats")
print(f"one-hot t: {float(celoss.cross_entropy(model_logits, one_hot)):.6f}"
      f" = index target: "
      f"{float(celoss.cross_entropy(model_logits, np.array([0]))):.6f}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
width = 0.38
ax.bar(np.arange(C) - width / 2, target, width, color=CORRECT, label="target t")
ax.bar(np.arange(C) + width / 2, model_probs[0], width, color=ACCENT,
       label="model p = softmax(x)")
for c in range(C):
    ax.text(c + width / 2, model_probs[0, c] + 0.02,
            f"-log p = {-math.log(model_probs[0, c]):.2f}", ha="center",
            fontsize=7)
ax.set_xticks(range(C), [f"c={c}" for c in range(C)])
ax.set_ylim(0, 0.9)
ax.set_ylabel("probability")
ax.set_title(f"H(t, p) = {float(cross[0]):.4f} nats: the surprises -log p_c, "
             f"weighted by t_c")
ax.legend(frameon=False)
show_figure(
    fig, "cross-entropy",
    alt=f"Paired bars per class: target t = {values(target, 2)} and model p = "
        f"{values(model_probs[0], 3)}, with each class's surprise -log p "
        f"written above; the cross-entropy is {float(cross[0]):.4f} nats.",
    caption="The cross-entropy averages the model's surprise &minus;log "
            "<i>p</i><sub>c</sub> (labels) with the target's weights "
            "<i>t</i><sub>c</sub>.",
)

# %% [markdown]
# Check: `F.cross_entropy` with probability targets, and with the index
# target that the one-hot row stands for.

# %%
cross_t = F.cross_entropy(torch.from_numpy(model_logits),
                          torch.from_numpy(target[None, :]),
                          reduction="none").numpy()  # (1,)
np.testing.assert_allclose(cross, cross_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    float(celoss.cross_entropy(model_logits, one_hot)),
    F.cross_entropy(torch.from_numpy(model_logits), torch.tensor([0])).item(),
    rtol=RTOL64, atol=ATOL64)
celoss.compare_with_torch(model_logits, target[None, :])  # every step
print("F.cross_entropy with probability targets:", cross_t)

# %% [markdown]
# ## 3. KL divergence
#
# The **Kullback-Leibler divergence** is the extra surprise of using $p$
# where the outcomes follow $t$:
#
# $$D_{\mathrm{KL}}(t \,\|\, p) = \sum_{c=1}^{C} t_c
# \left(\log t_c - \log p_c\right) \;\ge\; 0$$
#
# It is 0 exactly when $p = t$, and it is not symmetric:
# $D_{\mathrm{KL}}(t \| p) \ne D_{\mathrm{KL}}(p \| t)$ in general.
# `celoss.kl_div` has `F.kl_div`'s argument order, which surprises many
# readers: the **model's log-probabilities $\log p$ first**, the target $t$
# second. Its reductions are torch's too: `"batchmean"` divides the sum by
# the batch size $N$ and is the KL per example; the default `"mean"` divides
# by every element, $N \cdot C$, which is not a KL divergence (torch warns
# about it).

# %%
show_source(celoss.kl_div)

# %%
log_p = celoss.log_softmax(model_logits, axis=1)  # (1, C): the model's log p
t = target[None, :]  # (1, C): the target t
kl_tp = float(celoss.kl_div(log_p, t, reduction="batchmean"))
kl_pt = float(celoss.kl_div(np.log(t), model_probs, reduction="batchmean"))
kl_tt = float(celoss.kl_div(np.log(t), t, reduction="batchmean"))
print(f"KL(t || p) = {kl_tp:.4f}   KL(p || t) = {kl_pt:.4f}   "
      f"KL(t || t) = {kl_tt:.4f}")

# %% tags=["remove-input"]
temperatures = np.geomspace(0.25, 8, 60)  # (A,)
family = celoss.softmax(model_logits / temperatures[:, None], axis=1)  # (A, C)
forward = celoss.kl_div(np.log(family), np.broadcast_to(t, family.shape),
                        reduction="none").sum(axis=1)  # (A,): KL(t || p_tau)
backward = celoss.kl_div(np.broadcast_to(np.log(t), family.shape), family,
                         reduction="none").sum(axis=1)  # (A,): KL(p_tau || t)
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(temperatures, forward, color=CORRECT, linewidth=2, label="KL(t || p)")
ax.plot(temperatures, backward, color=ACCENT, linewidth=2, label="KL(p || t)")
ax.axvline(1.0, color=OTHER, linestyle=":")
ax.set_xscale("log")
ax.set_xticks([0.25, 0.5, 1, 2, 4, 8], ["1/4", "1/2", "1", "2", "4", "8"])
ax.minorticks_off()
ax.set_xlabel("temperature \u03c4 of the model: p = softmax(x / \u03c4)")
ax.set_ylabel("divergence (nats)")
ax.set_title("KL is not symmetric: the two directions, as the model's "
             "temperature varies")
ax.legend(frameon=False)
show_figure(
    fig, "kl-asymmetry",
    alt=f"Two curves over the model temperature from 0.25 to 8. At temperature 1, "
        f"KL(t || p) = {kl_tp:.4f} and KL(p || t) = {kl_pt:.4f}; the curves differ "
        f"across the range, with minima {forward.min():.4f} and {backward.min():.4f}.",
    caption="The divergence of the model <i>p</i> = softmax(<i>x</i>/&tau;) "
            "from the target <i>t</i>, in both directions; the dotted "
            "line is the model of section 2.",
)

# %% [markdown]
# Check: `F.kl_div` with each reduction, and with `log_target=True`. Its
# `"mean"` reduction warns, so that call runs with the warning caught and
# checked.

# %%
batch_logits = rng.standard_normal((5, C)) * 2  # (N, C)
batch_targets = celoss.softmax(rng.standard_normal((5, C)) * 2, axis=1)
batch_log_p = celoss.log_softmax(batch_logits, axis=1)  # (N, C)
log_p_t = torch.from_numpy(batch_log_p)
batch_targets_t = torch.from_numpy(batch_targets)
for reduction in ["none", "sum", "batchmean", "mean"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kl_t = F.kl_div(log_p_t, batch_targets_t, reduction=reduction).numpy()
    assert (reduction == "mean") == any("batchmean" in str(w.message)
                                        for w in caught)
    np.testing.assert_allclose(
        celoss.kl_div(batch_log_p, batch_targets, reduction=reduction), kl_t,
        rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    celoss.kl_div(batch_log_p, np.log(batch_targets), reduction="batchmean",
                  log_target=True),
    F.kl_div(log_p_t, batch_targets_t.log(), reduction="batchmean",
             log_target=True).numpy(),
    rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    kl_tp, F.kl_div(torch.from_numpy(log_p), torch.from_numpy(t),
                    reduction="batchmean").item(), rtol=RTOL64, atol=ATOL64)
assert kl_tt == 0.0 and kl_tp > 0 and kl_pt > 0 and kl_tp != kl_pt
print("F.kl_div agrees for none, sum, batchmean, mean and log_target")

# %% [markdown]
# ## 4. Cross-entropy = entropy + KL divergence
#
# Adding and subtracting $\sum_c t_c \log t_c$ splits the cross-entropy into
# the target's own entropy and the divergence:
#
# $$H(t, p) = -\sum_c t_c \log p_c
# = \underbrace{-\sum_c t_c \log t_c}_{H(t)}
# + \underbrace{\sum_c t_c (\log t_c - \log p_c)}_{D_{\mathrm{KL}}(t \| p)}$$
#
# So the cross-entropy is never below $H(t)$, and reaches it when $p = t$. On
# the batch of five random targets and models from section 3:

# %%
H_t = celoss.entropy(batch_targets, axis=1)  # (N,)
KL_tp = celoss.kl_div(batch_log_p, batch_targets,
                      reduction="none").sum(axis=1)  # (N,)
H_tp = celoss.cross_entropy(batch_logits, batch_targets,
                            reduction="none")  # (N,)
print("H(t)          =", H_t)
print("KL(t || p)    =", KL_tp)
print("H(t) + KL     =", H_t + KL_tp)
print("H(t, p)       =", H_tp)
gap = np.max(np.abs(H_tp - H_t - KL_tp))  # ()
print(f"largest |H(t, p) - H(t) - KL| = {gap:.1e}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
samples = np.arange(len(H_t))
ax.bar(samples, H_t, color=OTHER, label="entropy H(t)")
ax.bar(samples, KL_tp, bottom=H_t, color=CORRECT, label="KL(t || p)")
ax.scatter(samples, H_tp, color=ACCENT, marker="_", s=600, linewidths=2,
           zorder=3, label="cross-entropy H(t, p), from celoss.cross_entropy")
for n in samples:
    ax.text(n, H_tp[n] + 0.08, f"{H_tp[n]:.3f}", ha="center", fontsize=8)
ax.set_xticks(samples, [f"sample {n}" for n in samples])
ax.set_ylabel("nats")
ax.set_ylim(0, H_tp.max() * 1.35)
ax.set_title("The cross-entropy of each sample is its target's entropy plus "
             "the KL divergence")
ax.legend(frameon=False, fontsize=8, loc="upper left", ncol=2)
show_figure(
    fig, "decomposition",
    alt=f"Stacked bars for five samples: entropy {values(H_t, 3)} (grey) plus KL "
        f"divergence {values(KL_tp, 3)} (blue) reach the cross-entropy "
        f"{values(H_tp, 3)}, marked by red ticks.",
    caption="Entropy (grey) plus KL divergence (blue) stack up to the "
            "cross-entropy (red tick) of every sample.",
)

# %% [markdown]
# Check: the same identity with torch's three functions,
# `F.cross_entropy`, `Categorical.entropy` and `F.kl_div`.

# %%
H_tp_t = F.cross_entropy(torch.from_numpy(batch_logits), batch_targets_t,
                         reduction="none").numpy()  # (N,)
H_t_t = torch.distributions.Categorical(
    probs=batch_targets_t).entropy().numpy()  # (N,)
KL_t = F.kl_div(log_p_t, batch_targets_t,
                reduction="none").sum(dim=1).numpy()  # (N,)
np.testing.assert_allclose(H_tp, H_tp_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_t, H_t_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(KL_tp, KL_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_tp, H_t + KL_tp, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_tp_t, H_t_t + KL_t, rtol=RTOL64, atol=ATOL64)
print(f"torch: largest |H(t, p) - H(t) - KL| = "
      f"{np.max(np.abs(H_tp_t - H_t_t - KL_t)):.1e}")

# %% [markdown]
# ## 5. Why cross-entropy and KL give the same gradient
#
# $H(t)$ does not depend on the logits. So the cross-entropy and the KL
# divergence differ by a constant, and have the same gradient with respect to
# the logits, softmax minus target:
#
# $$\frac{\partial H(t, p)}{\partial x_c}
# = \frac{\partial D_{\mathrm{KL}}(t \| p)}{\partial x_c}
# = p_c - t_c, \qquad p = \mathrm{softmax}(x)$$
#
# Training with either loss takes the same steps. Only the reported number
# differs: the cross-entropy bottoms out at $H(t)$, not at 0, which is why a
# loss on soft targets (label smoothing, distillation) never reaches 0.

# %%
x0 = batch_logits[:1]  # (1, C): the first sample's logits
t0 = batch_targets[:1]  # (1, C): its target
ce_grad = celoss.cross_entropy_grad(x0, t0, reduction="sum")  # (1, C)
print("softmax(x) - t       =", (celoss.softmax(x0, axis=1) - t0)[0])
print("d H(t, p) / dx       =", ce_grad[0])


def kl_of_logits(logits):
    """KL(t0 || softmax(logits)), summed: the loss to difference."""
    log_p = celoss.log_softmax(logits, axis=1)  # (1, C)
    return float(celoss.kl_div(log_p, t0, reduction="sum"))


step = 1e-6
nudges = step * np.eye(C)  # (C, C): one logit at a time
kl_grad_fd = np.array([
    (kl_of_logits(x0 + nudge) - kl_of_logits(x0 - nudge)) / (2 * step)
    for nudge in nudges])  # (C,): central differences
print("d KL / dx, finite d. =", kl_grad_fd)

# %% tags=["remove-input"]
alphas = np.linspace(-0.5, 1.5, 81)  # (A,)
path = (1 - alphas[:, None]) * x0 + alphas[:, None] * np.log(t0)  # (A, C)
path_targets = np.repeat(t0, len(alphas), axis=0)  # (A, C)
path_ce = celoss.cross_entropy(path, path_targets, reduction="none")  # (A,)
path_kl = celoss.kl_div(celoss.log_softmax(path, axis=1), path_targets,
                        reduction="none").sum(axis=1)  # (A,)
H0 = float(celoss.entropy(t0, axis=1)[0])
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(alphas, path_ce, color=ACCENT, linewidth=2, label="cross-entropy H(t, p)")
ax.plot(alphas, path_kl, color=CORRECT, linewidth=2, label="KL(t || p)")
ax.axhline(H0, color=OTHER, linestyle="--", label=f"H(t) = {H0:.3f}")
ax.axhline(0, color="black", linewidth=0.5)
ax.annotate("", xy=(1.0, H0), xytext=(1.0, 0.0),
            arrowprops={"arrowstyle": "<->", "color": "black"})
ax.text(1.03, H0 / 2, "H(t): a constant gap", fontsize=8, va="center")
ax.set_xlabel("alpha: logits (1 - alpha) x + alpha log t  (alpha = 1: p = t)")
ax.set_ylabel("nats")
ax.set_title("Along a path of logits the two losses differ by H(t): "
             "same slopes, same minimum")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "same-gradient",
    alt=f"Two parallel curves along a path of logits: the cross-entropy and the KL "
        f"divergence, a constant {H0:.3f} nats apart. Both are smallest at alpha = 1, "
        f"where the model equals the target: KL {path_kl[np.argmin(np.abs(alphas - 1))]:.3f}, "
        f"cross-entropy {path_ce[np.argmin(np.abs(alphas - 1))]:.3f}.",
    caption="Cross-entropy and KL divergence along a straight path of logits "
            "through <i>p</i> = <i>t</i> (&alpha; = 1): a constant gap, "
            "<i>H</i>(<i>t</i>), so the same gradient everywhere.",
)

# %% [markdown]
# Check: torch autograd gives `cross_entropy_grad` for the cross-entropy
# **and** for `F.kl_div` of `log_softmax`; the finite differences of the KL
# agree to their own precision; and torch's two losses along the whole path
# differ by $H(t)$.

# %%
x_t = torch.tensor(x0, requires_grad=True)
F.cross_entropy(x_t, torch.from_numpy(t0), reduction="sum").backward()
ce_grad_t = x_t.grad.numpy().copy()
x_t.grad = None
F.kl_div(torch.log_softmax(x_t, dim=1), torch.from_numpy(t0),
         reduction="sum").backward()
kl_grad_t = x_t.grad.numpy()
np.testing.assert_allclose(ce_grad, ce_grad_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(ce_grad, kl_grad_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(ce_grad[0], kl_grad_fd, rtol=1e-6, atol=1e-8)
path_t = torch.from_numpy(path)
path_ce_t = F.cross_entropy(path_t, torch.from_numpy(path_targets),
                            reduction="none").numpy()
path_kl_t = F.kl_div(torch.log_softmax(path_t, dim=1),
                     torch.from_numpy(path_targets),
                     reduction="none").sum(dim=1).numpy()
np.testing.assert_allclose(path_ce, path_ce_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(path_kl, path_kl_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(path_ce_t - path_kl_t, H0, rtol=1e-12, atol=1e-12)
print("torch: same gradient for both losses:", kl_grad_t[0])

# %% [markdown]
# ## 6. Why this loss
#
# Sections 2 to 5 say what cross-entropy measures. These properties say why
# classifiers are trained with it rather than with some other distance
# between $p$ and the labels: it is maximum likelihood, it rewards honest
# probabilities, its gradient never stalls on a confident mistake, and it is
# convex in the logits.
#
# ### Maximum likelihood
#
# A model that gives each sample's correct class the probability
# $p_{n,y_n}$ gives the labels the likelihood $\prod_n p_{n,y_n}$, and the
# mean loss $\ell$ is its negative log divided by $N$. When every sample
# gets the same prediction $p$ (a model without inputs, as here), grouping
# the samples by label turns the sum over samples into a sum over classes,
# weighted by the labels' frequencies $\hat t_c = N_c / N$ ($N_c$ of the $N$
# labels are class $c$), the **empirical distribution** of the training
# labels:
#
# $$\ell = -\frac{1}{N} \log \prod_{n=1}^{N} p_{n,y_n}
# = -\sum_{c=1}^{C} \hat t_c \log p_c = H(\hat t, p)
# = H(\hat t) + D_{\mathrm{KL}}(\hat t \,\|\, p)$$
#
# With inputs the same holds at each input, with $\hat t$ the labels seen
# with it. $H(\hat t)$ is fixed by the data, so maximising the likelihood,
# minimising the cross-entropy and minimising the KL divergence from the
# empirical distribution are one problem, solved by $p = \hat t$. Below: a
# small training set of labels, a model with one logit per class, and
# gradient descent with `cross_entropy_grad`.

# %%
labels = np.array([0, 2, 0, 1, 0, 0, 1, 2, 0, 1])  # (N,): the training labels
n_labels, n_classes = len(labels), 3
t_hat = np.bincount(labels, minlength=n_classes) / n_labels  # (C,): N_c / N


def shared(x):
    """One row of logits repeated for every sample: a model without inputs."""
    return np.tile(x, (n_labels, 1))  # (N, C)


x_start = np.array([[0.5, -0.2, 0.1]])  # (1, C): an untrained model
p_start = celoss.softmax(x_start, axis=1)  # (1, C)
mean_loss = float(celoss.cross_entropy(shared(x_start), labels))
neg_log_likelihood = -math.log(np.prod(p_start[0, labels])) / n_labels
cross_to_empirical = float(celoss.cross_entropy(x_start, t_hat[None, :]))
entropy_plus_kl = float(celoss.entropy(t_hat)) + float(celoss.kl_div(
    celoss.log_softmax(x_start, axis=1), t_hat[None, :], reduction="batchmean"))
print("t_hat =", t_hat)
print(f"mean loss {mean_loss:.6f}, -log(likelihood) / N {neg_log_likelihood:.6f}, "
      f"H(t_hat, p) {cross_to_empirical:.6f}, H(t_hat) + KL {entropy_plus_kl:.6f}")

x_fit = np.zeros((1, n_classes))  # (1, C)
for _ in range(200):  # gradient descent, learning rate 2
    x_fit = x_fit - 2.0 * celoss.cross_entropy_grad(
        shared(x_fit), labels).sum(axis=0, keepdims=True)  # (1, C)
p_fit = celoss.softmax(x_fit, axis=1)[0]  # (C,)
fit_loss = float(celoss.cross_entropy(shared(x_fit), labels))
print("fitted p =", p_fit)
print(f"fitted loss {fit_loss:.6f} = H(t_hat) {float(celoss.entropy(t_hat)):.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"The labels' frequencies are $\\hat t$ = ({values(t_hat, 1)}). For the "
    f"untrained model, $p$ = ({values(p_start[0], 3)}), the mean loss, "
    f"$-\\frac{{1}}{{N}}\\log$ of the likelihood, $H(\\hat t, p)$ and "
    f"$H(\\hat t) + D_{{\\mathrm{{KL}}}}(\\hat t \\| p)$ are all "
    f"**{mean_loss:.6f}**. Gradient descent ends at $p$ = ({values(p_fit, 4)}), "
    f"the frequencies, where the loss is $H(\\hat t)$ = "
    f"{float(celoss.entropy(t_hat)):.4f}: the KL term is gone and the entropy "
    f"of the labels is what no model without inputs can remove."
))

# %% [markdown]
# Check: `F.cross_entropy` on the labels, `Categorical.log_prob` (the
# likelihood, computed by torch's distributions), and `F.cross_entropy`
# against $\hat t$ agree; at the fitted logits torch's gradient is 0 and the
# loss is torch's entropy of $\hat t$.

# %%
labels_t = torch.from_numpy(labels)
mean_loss_t = F.cross_entropy(torch.from_numpy(shared(x_start)), labels_t).item()
neg_log_likelihood_t = -torch.distributions.Categorical(
    logits=torch.from_numpy(x_start[0])).log_prob(labels_t).mean().item()
cross_to_empirical_t = F.cross_entropy(torch.from_numpy(x_start),
                                       torch.from_numpy(t_hat[None, :])).item()
for ours in [mean_loss, neg_log_likelihood, cross_to_empirical, entropy_plus_kl]:
    np.testing.assert_allclose(ours, mean_loss_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(neg_log_likelihood_t, mean_loss_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(cross_to_empirical_t, mean_loss_t, rtol=RTOL64, atol=ATOL64)
fit_t = torch.tensor(x_fit[0], requires_grad=True)
fit_loss_t = F.cross_entropy(fit_t.expand(n_labels, n_classes), labels_t)
fit_loss_t.backward()
np.testing.assert_allclose(fit_loss, fit_loss_t.item(), rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    fit_loss_t.item(),
    torch.distributions.Categorical(probs=torch.from_numpy(t_hat)).entropy().item(),
    rtol=1e-12)
np.testing.assert_allclose(fit_t.grad.numpy(), 0, atol=1e-12)
np.testing.assert_allclose(p_fit, t_hat, rtol=1e-12)
print(f"torch: mean loss {mean_loss_t:.6f}, -log likelihood / N "
      f"{neg_log_likelihood_t:.6f}, fitted gradient "
      f"{np.abs(fit_t.grad.numpy()).max():.1e}")

# %% [markdown]
# ### A strictly proper scoring rule
#
# If outcomes come from a distribution $t$ and a forecaster reports $p$, the
# expected loss is the cross-entropy, and by section 4 it is least when the
# report is the truth, and only then:
#
# $$\mathbb{E}_{y \sim t}\left[-\log p_y\right] = H(t, p)
# = H(t) + D_{\mathrm{KL}}(t \,\|\, p) \;\ge\; H(t),
# \quad \text{with equality only at } p = t$$
#
# A loss with that property is a **strictly proper scoring rule**: no report
# beats the honest one. Not every plausible loss has it. The "linear" score
# $-p_y$ has expected value $-\sum_c t_c p_c$, which is least when all the
# probability goes to the likeliest class, so it rewards overconfidence.
# Scanning the reports finds both minima:

# %%
true_dist = np.array([0.3, 0.7])  # (2,): t, where outcomes come from
reports = np.linspace(0.005, 0.995, 199)  # (A,): the reported p_1
report_probs = np.stack([1 - reports, reports], axis=1)  # (A, 2)
true_rows = np.tile(true_dist, (len(reports), 1))  # (A, 2)
expected_log = celoss.cross_entropy(np.log(report_probs), true_rows,
                                    reduction="none")  # (A,): H(t, p)
expected_linear = -(report_probs @ true_dist)  # (A,): E[-p_y]
best_report = reports[np.argmin(expected_log)]
best_linear = reports[np.argmin(expected_linear)]
print(f"t_1 = {true_dist[1]}: log loss least at p_1 = {best_report:.3f}, "
      f"linear score least at p_1 = {best_linear:.3f}")

true3 = np.array([0.2, 0.3, 0.5])  # (3,)
fractions = np.arange(1, 40) / 40  # every report with entries k / 40, k >= 1
grid = np.array([[a, b, 1 - a - b] for a in fractions for b in fractions
                 if 1 - a - b > 1e-9])  # (G, 3)
expected3 = celoss.cross_entropy(np.log(grid), np.tile(true3, (len(grid), 1)),
                                 reduction="none")  # (G,)
best3 = grid[np.argmin(expected3)]
print(f"{len(grid)} reports for t = {true3}: least expected loss at {best3}")

# %% tags=["remove-input"]
entropy_true = float(celoss.entropy(true_dist))
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(reports, expected_log, color=CORRECT, linewidth=2,
        label="cross-entropy: E[-log p_y] = H(t, p)")
ax.plot(reports, expected_linear, color=ACCENT, linewidth=2,
        label="linear score: E[-p_y]")
ax.axhline(entropy_true, color=OTHER, linestyle="--",
           label=f"H(t) = {entropy_true:.3f}")
ax.axvline(true_dist[1], color=OTHER, linestyle=":")
ax.plot([best_report], [expected_log.min()], "o", color=CORRECT)
ax.plot([best_linear], [expected_linear.min()], "o", color=ACCENT)
ax.set_ylim(-1.1, 2.0)
ax.set_xlabel(f"reported probability p_1 (true t_1 = {true_dist[1]:g}, dotted)")
ax.set_ylabel("expected loss (nats)")
ax.set_title("Only the honest report minimises the expected cross-entropy")
ax.legend(frameon=False, fontsize=8, loc="upper center")
show_figure(
    fig, "proper-scoring",
    alt=f"Expected loss against the reported probability of class 1, when class 1 "
        f"truly has probability {true_dist[1]:g}. The cross-entropy curve is least, "
        f"{expected_log.min():.4f} = H(t), at p_1 = {best_report:.3f}; the linear "
        f"score is least at p_1 = {best_linear:.3f}, the most confident report.",
    caption="Expected loss of each report <i>p</i><sub>1</sub> when outcomes "
            "follow <i>t</i>: the cross-entropy (blue) is least at the truth "
            "(dotted), the linear score (red) at the most confident report.",
)

# %% [markdown]
# Check: `F.cross_entropy` gives the same expected losses, and their excess
# over $H(t)$ is `F.kl_div`'s divergence, never below 0.

# %%
expected_log_t = F.cross_entropy(torch.from_numpy(np.log(report_probs)),
                                 torch.from_numpy(true_rows),
                                 reduction="none").numpy()  # (A,)
excess_t = F.kl_div(torch.log(torch.from_numpy(report_probs)),
                    torch.from_numpy(true_rows),
                    reduction="none").sum(dim=1).numpy()  # (A,): KL(t || p)
np.testing.assert_allclose(expected_log, expected_log_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(expected_log - entropy_true, excess_t,
                           rtol=1e-9, atol=1e-12)
np.testing.assert_allclose(
    expected3, F.cross_entropy(torch.log(torch.from_numpy(grid)),
                               torch.from_numpy(np.tile(true3, (len(grid), 1))),
                               reduction="none").numpy(),
    rtol=RTOL64, atol=ATOL64)
assert excess_t.min() > -1e-15  # 0 at p = t, to round-off
assert abs(best_report - true_dist[1]) < 1e-9 and best_linear == reports[-1]
np.testing.assert_allclose(best3, true3, rtol=0, atol=1e-12)
print(f"torch: least excess over H(t) {abs(excess_t.min()):.0e} (0 to round-off), at p_1 = "
      f"{reports[np.argmin(excess_t)]:.3f}")

# %% [markdown]
# ### A gradient that does not stall
#
# Squared error on the probabilities, $\sum_c (p_c - [c = y])^2$, also
# rewards $p = t$ in expectation, but its gradient in the logits passes
# through the softmax's Jacobian $J = \mathrm{diag}(p) - p p^\top$:
#
# $$\nabla_x \sum_c (p_c - [c = y])^2 = 2 J \,(p - e_y), \qquad
# \nabla_x \left(-\log p_y\right) = p - e_y$$
#
# When the model is confidently wrong, $p$ is nearly one-hot on a wrong
# class, $J$ is nearly 0, and so is the squared error's gradient: the model
# barely moves exactly when it is most wrong. The cross-entropy's $\log$
# cancels the softmax's $\exp$, so its gradient keeps a size near
# $\|e_k - e_y\| = \sqrt{2}$. Below, class 0 is correct and class 1's logit
# exceeds it by a margin that grows:

# %%
def squared_error_grad(logits, labels):
    """Gradient in the logits of sum_c (softmax(x)_c - [c = y])^2, row by row."""
    probs = celoss.softmax(logits, axis=1)  # (N, C)
    residual = probs - np.eye(logits.shape[1])[labels]  # (N, C): p - e_y
    # J r = p * r - p (p . r): the softmax Jacobian is symmetric
    return 2 * (probs * residual
                - probs * np.sum(probs * residual, axis=1, keepdims=True))  # (N, C)


margins = np.linspace(-4, 16, 81)  # (A,): x_1 - x_0, class 0 correct
margin_logits = np.zeros((len(margins), 3))  # (A, C)
margin_logits[:, 1] = margins
margin_labels = np.zeros(len(margins), dtype=np.int64)  # (A,): class 0
ce_grads = celoss.cross_entropy_grad(margin_logits, margin_labels,
                                     reduction="sum")  # (A, C): a row per margin
se_grads = squared_error_grad(margin_logits, margin_labels)  # (A, C)
ce_norms = np.linalg.norm(ce_grads, axis=1)  # (A,)
se_norms = np.linalg.norm(se_grads, axis=1)  # (A,)
wrong = int(np.argmin(np.abs(margins - 10)))  # the confidently wrong example
ce_norm_wrong, se_norm_wrong = ce_norms[wrong], se_norms[wrong]
p_wrong = celoss.softmax(margin_logits[wrong:wrong + 1], axis=1)[0]  # (C,)
print(f"margin {margins[wrong]:g}: p = ({', '.join(f'{v:.2e}' for v in p_wrong)})")
print("cross-entropy gradient:", ce_grads[wrong])
print("squared-error gradient:", se_grads[wrong])
print(f"norms: {ce_norm_wrong:.4f} and {se_norm_wrong:.2e}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(margins, ce_norms, color=CORRECT, linewidth=2,
        label="cross-entropy: |p - e_y|")
ax.plot(margins, se_norms, color=ACCENT, linewidth=2,
        label="softmax + squared error: |2 J (p - e_y)|")
ax.axhline(math.sqrt(2), color=OTHER, linestyle="--", label="\u221a2")
ax.axvline(margins[wrong], color=OTHER, linestyle=":")
ax.set_yscale("log")
ax.set_xlabel("margin of the wrong class: x_1 - x_0 (class 0 is correct)")
ax.set_ylabel("gradient norm in the logits")
ax.set_title("A confident mistake: squared error's gradient vanishes, "
             "cross-entropy's does not")
ax.legend(frameon=False, fontsize=8, loc="lower left")
show_figure(
    fig, "vanishing-gradient",
    alt=f"Gradient norm on a log scale against the wrong class's margin from "
        f"{margins[0]:g} to {margins[-1]:g}. The cross-entropy's rises towards the "
        f"square root of 2 and is {ce_norm_wrong:.4f} at margin {margins[wrong]:g}; "
        f"the squared error's peaks at {se_norms.max():.3f} and falls to "
        f"{se_norm_wrong:.1e} there and {se_norms[-1]:.1e} at margin {margins[-1]:g}.",
    caption="The size of each loss's gradient as the model grows confidently "
            "wrong: cross-entropy's (blue) tends to &radic;2, squared error "
            "through softmax's (red) decays exponentially.",
)

# %% tags=["remove-input"]
display(Markdown(
    f"At a margin of {margins[wrong]:g} the model gives the correct class the "
    f"probability {p_wrong[0]:.1e}. The cross-entropy's gradient has norm "
    f"**{ce_norm_wrong:.4f}**, the squared error's **{se_norm_wrong:.1e}**, "
    f"{ce_norm_wrong / se_norm_wrong:.0f} times smaller: under squared error "
    f"this example barely moves, and the more wrong it is, the less it moves."
))

# %% [markdown]
# Check: torch autograd through `F.cross_entropy`, and through `F.mse_loss`
# of `torch.softmax` against the one-hot labels, gives both gradients.

# %%
margin_t = torch.tensor(margin_logits, requires_grad=True)
F.cross_entropy(margin_t, torch.from_numpy(margin_labels),
                reduction="sum").backward()
np.testing.assert_allclose(ce_grads, margin_t.grad.numpy(),
                           rtol=RTOL64, atol=ATOL64)
margin_t.grad = None
F.mse_loss(torch.softmax(margin_t, dim=1),
           F.one_hot(torch.from_numpy(margin_labels), 3).double(),
           reduction="sum").backward()
np.testing.assert_allclose(se_grads, margin_t.grad.numpy(),
                           rtol=RTOL64, atol=ATOL64)
assert se_norms[-1] < 1e-5 * ce_norms[-1]
print(f"torch at margin {margins[wrong]:g}:", margin_t.grad.numpy()[wrong])

# %% [markdown]
# ### Convex in the logits
#
# For a target $t$ that sums to 1 (one-hot or not), the loss of one sample is
# $\log \sum_c e^{x_c} - \sum_c t_c x_c$: log-sum-exp plus a linear term. Its
# gradient is $p - t$, and its Hessian, the derivative of $p$, does not
# involve the target at all:
#
# $$\nabla^2_x\, H(t, \mathrm{softmax}(x)) = \mathrm{diag}(p) - p p^\top$$
#
# For any direction $v$,
#
# $$v^\top \left(\mathrm{diag}(p) - p p^\top\right) v
# = \sum_c p_c v_c^2 - \Big(\sum_c p_c v_c\Big)^2 \;\ge\; 0$$
#
# The quadratic form is the variance of $v$ under $p$, never negative: the
# Hessian is positive semi-definite and the loss is convex in the logits, so
# any minimum there is the global one. Its one zero eigenvalue belongs to
# $v = (1, \dots, 1)$, the shift that softmax ignores. The convexity is in
# the logits only; a network's loss in its weights is not convex.

# %%
x_h = np.array([1.0, -0.5, 2.0, 0.0])  # (C,): one sample's logits
p_h = celoss.softmax(x_h[None, :], axis=1)[0]  # (C,)
hessian = np.diag(p_h) - np.outer(p_h, p_h)  # (C, C)
eigenvalues = np.linalg.eigvalsh(hessian)  # (C,), ascending
h = 1e-5
hessian_fd = np.array([  # central differences of celoss.cross_entropy_grad
    (celoss.cross_entropy_grad((x_h + h * e)[None, :], np.array([2]), reduction="sum")
     - celoss.cross_entropy_grad((x_h - h * e)[None, :], np.array([2]),
                                 reduction="sum"))[0] / (2 * h)
    for e in np.eye(len(x_h))])  # (C, C)
print("p =", p_h)
print("diag(p) - p p^T =", hessian, sep="\n")
print("eigenvalues =", eigenvalues.round(12) + 0.0)  # + 0.0: no "-0."
print(f"smallest {eigenvalues[0]:.1e} (0 to round-off); H times (1, ..., 1): "
      f"{np.abs(hessian @ np.ones(len(x_h))).max():.1e}")

# %% [markdown]
# Check: `torch.autograd.functional.hessian` of `F.cross_entropy` gives
# $\mathrm{diag}(p) - p p^\top$ for a class index and for a soft target
# alike, and the finite differences of `cross_entropy_grad` agree to their
# own precision.

# %%
def torch_hessian(target):
    """Hessian of F.cross_entropy in one sample's logits, by autograd."""
    return torch.autograd.functional.hessian(
        lambda x: F.cross_entropy(x[None, :], target),
        torch.from_numpy(x_h)).numpy()  # (C, C)


hessian_index_t = torch_hessian(torch.tensor([2]))
hessian_soft_t = torch_hessian(torch.from_numpy(target[None, :]))
np.testing.assert_allclose(hessian, hessian_index_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(hessian, hessian_soft_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(hessian, hessian_fd, rtol=1e-6, atol=1e-9)
np.testing.assert_allclose(np.linalg.eigvalsh(hessian_index_t), eigenvalues,
                           rtol=RTOL64, atol=ATOL64)
assert eigenvalues.min() > -1e-15 and eigenvalues[1] > 1e-3
print("torch hessian, index and soft target:", hessian_index_t[0])

# %% [markdown]
# References: I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*,
# MIT Press, 2016, section 5.5 (maximum likelihood as the KL divergence from
# the empirical distribution) and section 6.2.2.3 (squared error fails to
# train softmax outputs that are confidently wrong); T. Gneiting and
# A. E. Raftery, *Strictly Proper Scoring Rules, Prediction, and
# Estimation*, Journal of the American Statistical Association 102(477),
# 359-378, 2007 (the logarithmic score is strictly proper); S. Boyd and
# L. Vandenberghe, *Convex Optimization*, Cambridge University Press, 2004,
# section 3.1.5 (the Hessian of log-sum-exp).

# %% [markdown]
# ## 7. Soft targets and distillation with a temperature
#
# In **knowledge distillation** (Hinton, Vinyals and Dean) a small student
# learns from a large teacher's probabilities instead of only the labels.
# Write $x$ for the student's logits (the model being trained) and $z$ for
# the teacher's. Both are divided by a temperature $T > 1$ first, which
# softens the teacher's distribution and shows how it ranks the wrong
# classes; the softened teacher $t^T = \mathrm{softmax}(z / T)$ is the
# student's target. The loss is the KL divergence of the softened
# distributions, multiplied by $T^2$:
#
# $$\ell_{\text{KD}} = T^2\, D_{\mathrm{KL}}\!\left(t^T \,\big\|\, p^T\right),
# \qquad t^T = \mathrm{softmax}(z / T), \quad p^T = \mathrm{softmax}(x / T)$$
#
# Why $T^2$: by section 5 and the chain rule through $x / T$, the
# gradient of the KL with respect to the student's logits is
# $(p^{T} - t^{T}) / T$, and for large $T$ the difference $p^T - t^T$ itself
# shrinks like $1/T$. Without the factor the gradient fades like $1/T^2$;
# with it, it stays the same size at every temperature, so the soft loss
# keeps its weight against the hard-label loss when $T$ changes.

# %%
NUM_CLASSES = 10
teacher_logits = rng.standard_normal((4, NUM_CLASSES)) * 3  # (N, C): z
student_logits = rng.standard_normal((4, NUM_CLASSES)) * 3  # (N, C): x
TEMPERATURE = 4.0

# %% tags=["remove-input"]
NUMPY_SNIPPET = """\
T = TEMPERATURE
x, z = student_logits, teacher_logits  # (N, C) each
t = celoss.softmax(z / T, axis=1)  # (N, C): soft target
log_p = celoss.log_softmax(x / T, axis=1)  # (N, C)
kd_np = T**2 * celoss.kl_div(log_p, t,
                             reduction="batchmean")
# d/dx = T**2 * (1/T) * (p - t) / N
kd_grad_np = T * celoss.cross_entropy_grad(x / T, t)
print(f"{float(kd_np):.6f}")
"""
TORCH_SNIPPET = """\
T = TEMPERATURE
x = torch.tensor(student_logits, requires_grad=True)
z = torch.tensor(teacher_logits)  # (N, C)
kd_pt = T**2 * F.kl_div(F.log_softmax(x / T, dim=1),
                        F.softmax(z / T, dim=1),
                        reduction="batchmean")
kd_pt.backward()  # x.grad: (N, C)
print(f"{kd_pt.item():.6f}")
"""
snippets = dict(globals())  # both run here, in a namespace of their own
code_tabs([("NumPy", NUMPY_SNIPPET), ("PyTorch", TORCH_SNIPPET)], snippets)
kd_np, kd_grad_np = snippets["kd_np"], snippets["kd_grad_np"]
kd_pt, student_t = snippets["kd_pt"], snippets["x"]

# %%
def distillation(temperature, scaled=True):
    """The KD loss and its gradient wrt the student's logits, at T."""
    teacher = celoss.softmax(teacher_logits / temperature, axis=1)  # (N, C)
    student = celoss.log_softmax(student_logits / temperature, axis=1)
    factor = temperature**2 if scaled else 1.0
    loss = factor * float(celoss.kl_div(student, teacher,
                                        reduction="batchmean"))
    grad = factor / temperature * celoss.cross_entropy_grad(
        student_logits / temperature, teacher)  # (N, C)
    return loss, grad


sweep = np.geomspace(1, 64, 13)  # (A,): temperatures
scaled_norms = [np.linalg.norm(distillation(T)[1]) for T in sweep]
unscaled_norms = [np.linalg.norm(distillation(T, scaled=False)[1])
                  for T in sweep]
# The large-T limit: T (p - t) / N -> (centred x - z) / (C N).
difference = student_logits - teacher_logits  # (N, C)
centred = difference - difference.mean(axis=1, keepdims=True)  # (N, C)
limit_norm = np.linalg.norm(centred / (NUM_CLASSES * len(difference)))
print(f"T = {TEMPERATURE}: KD loss {float(kd_np):.6f}")
print(f"|grad|, T^2 KL: {scaled_norms[0]:.4f} (T = 1) ... "
      f"{scaled_norms[-1]:.4f} (T = {sweep[-1]:.0f})")
print(f"|grad|, KL:     {unscaled_norms[0]:.4f} (T = 1) ... "
      f"{unscaled_norms[-1]:.2e} (T = {sweep[-1]:.0f})")
print(f"large-T limit:  {limit_norm:.4f}")

# %% tags=["remove-input"]
shown_temperatures = [1.0, 2.0, TEMPERATURE, 16.0]
teacher_at = {T: celoss.softmax(teacher_logits[:1] / T, axis=1)[0]
              for T in shown_temperatures}
teacher_entropy = {T: float(celoss.entropy(teacher_at[T])) for T in shown_temperatures}
fig, axes = plt.subplots(1, len(shown_temperatures), sharey=True,
                         figsize=(8.0, 2.6))
fig.suptitle("The teacher's distribution for one example, softened by the "
             "temperature T")
for ax, T in zip(axes, shown_temperatures, strict=True):
    ax.bar(range(NUM_CLASSES), teacher_at[T], color=CORRECT)
    ax.set_title(f"T = {T:g}: H = {teacher_entropy[T]:.2f} nats", fontsize=9)
    ax.set_xticks(range(0, NUM_CLASSES, 3))
axes[0].set_ylabel("probability t_c")
axes[0].set_xlabel("class")
show_figure(
    fig, "temperature",
    alt="Four bar charts of the teacher's probabilities over ten classes for one "
        "example, at temperatures " + ", ".join(f"{T:g}" for T in shown_temperatures)
        + "; the entropy rises from "
        + ", ".join(f"{teacher_entropy[T]:.2f}" for T in shown_temperatures)
        + f" nats towards log 10 = {math.log(NUM_CLASSES):.2f}.",
    caption="Dividing the logits by <i>T</i> flattens the teacher's distribution: "
            "its ranking of the wrong classes, the &ldquo;dark knowledge&rdquo;, "
            "becomes visible to the student.",
)

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(sweep, scaled_norms, color=CORRECT, marker="o", markersize=3,
        label="T\u00b2 KL (the distillation loss)")
ax.plot(sweep, unscaled_norms, color=ACCENT, marker="o", markersize=3,
        label="KL without the T\u00b2 factor")
ax.axhline(limit_norm, color=OTHER, linestyle="--",
           label=f"large-T limit |centred(x - z)| / (C N) = {limit_norm:.4f}")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("temperature T")
ax.set_ylabel("gradient norm wrt the student's logits")
ax.set_title("With T\u00b2 the gradient keeps its size; without, it fades like 1/T\u00b2")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "t-squared",
    alt=f"Gradient norm against temperature from 1 to {sweep[-1]:.0f} on log axes. "
        f"With the T squared factor it goes from {scaled_norms[0]:.4f} to "
        f"{scaled_norms[-1]:.4f}, near the limit {limit_norm:.4f}; without it, "
        f"from {unscaled_norms[0]:.4f} down to {unscaled_norms[-1]:.1e}.",
    caption="The size of the distillation gradient as the temperature grows: "
            "the <i>T</i><sup>2</sup> factor (blue) keeps it near its limit, "
            "the bare KL (red) vanishes.",
)

# %% [markdown]
# Check: the NumPy and PyTorch snippets agree, value and gradient; torch
# autograd agrees at every temperature of the sweep; and the cross-entropy
# form of the same loss, $T^2 H(t^T, p^T)$, differs from it by
# $T^2 H(t^T)$ only, with the same gradient (section 5).

# %%
np.testing.assert_allclose(float(kd_np), kd_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(kd_grad_np, student_t.grad.numpy(),
                           rtol=RTOL64, atol=ATOL64)
for temperature in sweep:
    loss, grad = distillation(temperature)
    x_t = torch.tensor(student_logits, requires_grad=True)
    loss_t = temperature**2 * F.kl_div(
        F.log_softmax(x_t / temperature, dim=1),
        F.softmax(torch.from_numpy(teacher_logits) / temperature, dim=1),
        reduction="batchmean")
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(grad, x_t.grad.numpy(),
                               rtol=RTOL64, atol=ATOL64)
soft = celoss.softmax(teacher_logits / TEMPERATURE, axis=1)  # (N, C): t^T
ce_form = TEMPERATURE**2 * float(celoss.cross_entropy(
    student_logits / TEMPERATURE, soft))
ce_form_t = TEMPERATURE**2 * F.cross_entropy(
    torch.from_numpy(student_logits) / TEMPERATURE,
    torch.from_numpy(soft)).item()
np.testing.assert_allclose(ce_form, ce_form_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    ce_form - float(kd_np),
    TEMPERATURE**2 * float(np.mean(celoss.entropy(soft, axis=1))),
    rtol=RTOL64, atol=ATOL64)
assert abs(scaled_norms[-1] - limit_norm) < 0.05 * limit_norm
print(f"T^2 H(t, p) = {ce_form:.6f} = T^2 KL + T^2 H(t) "
      f"= {float(kd_np):.6f} + "
      f"{TEMPERATURE**2 * float(np.mean(celoss.entropy(soft, axis=1))):.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"At $T$ = {TEMPERATURE:g} the distillation loss is **{float(kd_np):.4f}**. "
    f"Across temperatures from 1 to {sweep[-1]:.0f}, the gradient of "
    f"$T^2 D_{{\\mathrm{{KL}}}}$ goes from {scaled_norms[0]:.4f} to "
    f"{scaled_norms[-1]:.4f}, near its limit {limit_norm:.4f}; the bare "
    f"divergence's falls to {unscaled_norms[-1]:.1e}, "
    f"{scaled_norms[-1] / unscaled_norms[-1]:.0f} times smaller, which is "
    f"$T^2$ = {sweep[-1] ** 2:.0f}."
))

# %% [markdown]
# Reference: G. Hinton, O. Vinyals and J. Dean, *Distilling the Knowledge in
# a Neural Network*, NIPS 2014 Deep Learning Workshop (arXiv:1503.02531,
# 2015), section 2, on the $T^2$ factor. The same division by a temperature
# *calibrates* a trained classifier: temperature scaling (Guo et al., "On
# Calibration of Modern Neural Networks", ICML 2017) fits one $T$ on held-out
# data by minimising this cross-entropy of $x / T$, which changes how
# confident the probabilities are but never which class ranks first.

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("entropy $H(t)$: `entropy`", "`Categorical.entropy`",
     f"{entropies[2]:.4f} = log {C} (uniform)"),
    ("cross-entropy $H(t, p)$: probability targets", "`F.cross_entropy`",
     f"{float(cross[0]):.4f}"),
    ("KL divergence $D_{\\mathrm{KL}}(t \\| p)$: `kl_div`, model first",
     "`F.kl_div`", f"{kl_tp:.4f}, reversed {kl_pt:.4f}"),
    ("$H(t, p) = H(t) + D_{\\mathrm{KL}}(t \\| p)$", "all three", f"to {gap:.0e}"),
    ("same gradient, $p - t$", "autograd of both losses", "to float64"),
    ("maximum likelihood: the mean loss is $H(\\hat t, p)$",
     "`F.cross_entropy`, `Categorical.log_prob`", f"{mean_loss:.4f}"),
    ("strictly proper: expected loss least at $p = t$", "`F.cross_entropy`, `F.kl_div`",
     f"least at $p_1$ = {best_report:.3f}, $t_1$ = {true_dist[1]:g}"),
    ("gradient when confidently wrong", "autograd, `F.mse_loss`",
     f"{ce_norm_wrong:.3f} (cross-entropy), {se_norm_wrong:.1e} (squared error)"),
    ("Hessian $\\mathrm{diag}(p) - p p^\\top \\succeq 0$",
     "`torch.autograd.functional.hessian`",
     f"eigenvalues from 0 (to {abs(eigenvalues[0]):.0e}) to {eigenvalues[-1]:.4f}"),
    ("distillation, $T^2 D_{\\mathrm{KL}}(t^T \\| p^T)$", "`F.kl_div`, autograd",
     f"{float(kd_np):.4f} at T = {TEMPERATURE:g}"),
]
display(Markdown(
    "| idea | checked against | on this page |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# Next: [Language models](language-models.py), where the loss is averaged
# over tokens and read in bits and as perplexity; and the
# [Verification](verification.md) page, which reruns this chapter's
# comparisons at every build.

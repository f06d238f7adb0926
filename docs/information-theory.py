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
# of a model $q$ on outcomes drawn from a distribution $p$. It splits into the
# surprise no model can avoid, the entropy $H(p)$, and the extra surprise of
# using $q$ instead of $p$, the KL divergence; this page computes all three,
# shows why cross-entropy and KL give the same gradient, and uses that to
# distil a teacher's soft targets into a student at a temperature.
#
# The notation follows the [walkthrough](walkthrough.py): $p$ is the target
# distribution (probability targets, `F.cross_entropy`'s second argument when
# it is a float array), $q = \mathrm{softmax}(x)$ the model's. Every value is
# computed while the site builds and checked against PyTorch; the same checks
# are listed on the [Verification](verification.md) page.

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
# The surprise of an outcome of probability $p_c$ is $-\log p_c$: none for a
# certain outcome, more the rarer it is. The **entropy** is the average
# surprise of outcomes drawn from $p$ itself,
#
# $$H(p) = -\sum_{c=1}^{C} p_c \log p_c, \qquad 0 \log 0 = 0$$
#
# It is 0 for a certain outcome and largest, $\log C$, for the uniform
# distribution. With natural logarithms it is in nats; divided by $\ln 2$, in
# bits. celoss computes $p \log p$ with its limit 0 at $p = 0$, then sums:

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
print("H(p) in nats:", entropies)
print("H(p) in bits:", entropies / LN2)
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
axes[0].set_ylabel("probability p_c")
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
# The **cross-entropy** of a model $q$ against a target $p$ is the average
# surprise of the model on outcomes drawn from the target:
#
# $$H(p, q) = -\sum_{c=1}^{C} p_c \log q_c, \qquad
# q = \mathrm{softmax}(x)$$
#
# This is exactly `F.cross_entropy` with probability targets: a float array
# $p$ of the logits' shape. A class index $y$ is the special case of a
# one-hot $p$, where the sum keeps the single term $-\log q_y$.

# %%
target = distributions[1]  # (C,): "fairly sure", the target p
model_logits = np.array([[1.0, 1.5, 0.2, -0.5]])  # (1, C): the model's x
model_probs = celoss.softmax(model_logits, axis=1)  # (1, C): q
cross = celoss.cross_entropy(model_logits, target[None, :],
                             reduction="none")  # (1,)
one_hot = np.eye(C)[[0]]  # (1, C): class 0 as a distribution
print("p =", target)
print("q =", model_probs[0])
print(f"H(p, q) = {float(cross[0]):.4f} nats, H(p) = {entropies[1]:.4f} nats")
print(f"one-hot p: {float(celoss.cross_entropy(model_logits, one_hot)):.6f}"
      f" = index target: "
      f"{float(celoss.cross_entropy(model_logits, np.array([0]))):.6f}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
width = 0.38
ax.bar(np.arange(C) - width / 2, target, width, color=CORRECT, label="target p")
ax.bar(np.arange(C) + width / 2, model_probs[0], width, color=ACCENT,
       label="model q = softmax(x)")
for c in range(C):
    ax.text(c + width / 2, model_probs[0, c] + 0.02,
            f"-log q = {-math.log(model_probs[0, c]):.2f}", ha="center",
            fontsize=7)
ax.set_xticks(range(C), [f"c={c}" for c in range(C)])
ax.set_ylim(0, 0.9)
ax.set_ylabel("probability")
ax.set_title(f"H(p, q) = {float(cross[0]):.4f} nats: the surprises -log q_c, "
             f"weighted by p_c")
ax.legend(frameon=False)
show_figure(
    fig, "cross-entropy",
    alt=f"Paired bars per class: target p = {values(target, 2)} and model q = "
        f"{values(model_probs[0], 3)}, with each class's surprise -log q "
        f"written above; the cross-entropy is {float(cross[0]):.4f} nats.",
    caption="The cross-entropy averages the model's surprise &minus;log "
            "<i>q</i><sub>c</sub> (labels) with the target's weights "
            "<i>p</i><sub>c</sub>.",
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
# The **Kullback-Leibler divergence** is the extra surprise of using $q$
# where the outcomes follow $p$:
#
# $$D_{\mathrm{KL}}(p \,\|\, q) = \sum_{c=1}^{C} p_c
# \left(\log p_c - \log q_c\right) \;\ge\; 0$$
#
# It is 0 exactly when $q = p$, and it is not symmetric:
# $D_{\mathrm{KL}}(p \| q) \ne D_{\mathrm{KL}}(q \| p)$ in general.
# `celoss.kl_div` has `F.kl_div`'s argument order, which surprises many
# readers: the **model's log-probabilities first**, the target second.
# Its reductions are torch's too: `"batchmean"` divides the sum by the batch
# size $N$ and is the KL per example; the default `"mean"` divides by every
# element, $N \cdot C$, which is not a KL divergence (torch warns about it).

# %%
show_source(celoss.kl_div)

# %%
log_q = celoss.log_softmax(model_logits, axis=1)  # (1, C)
p = target[None, :]  # (1, C)
kl_pq = float(celoss.kl_div(log_q, p, reduction="batchmean"))
kl_qp = float(celoss.kl_div(np.log(p), model_probs, reduction="batchmean"))
kl_pp = float(celoss.kl_div(np.log(p), p, reduction="batchmean"))
print(f"KL(p || q) = {kl_pq:.4f}   KL(q || p) = {kl_qp:.4f}   "
      f"KL(p || p) = {kl_pp:.4f}")

# %% tags=["remove-input"]
temperatures = np.geomspace(0.25, 8, 60)  # (A,)
family = celoss.softmax(model_logits / temperatures[:, None], axis=1)  # (A, C)
forward = celoss.kl_div(np.log(family), np.broadcast_to(p, family.shape),
                        reduction="none").sum(axis=1)  # (A,): KL(p || q_tau)
backward = celoss.kl_div(np.broadcast_to(np.log(p), family.shape), family,
                         reduction="none").sum(axis=1)  # (A,): KL(q_tau || p)
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(temperatures, forward, color=CORRECT, linewidth=2, label="KL(p || q)")
ax.plot(temperatures, backward, color=ACCENT, linewidth=2, label="KL(q || p)")
ax.axvline(1.0, color=OTHER, linestyle=":")
ax.set_xscale("log")
ax.set_xticks([0.25, 0.5, 1, 2, 4, 8], ["1/4", "1/2", "1", "2", "4", "8"])
ax.minorticks_off()
ax.set_xlabel("temperature \u03c4 of the model: q = softmax(x / \u03c4)")
ax.set_ylabel("divergence (nats)")
ax.set_title("KL is not symmetric: the two directions, as the model's "
             "temperature varies")
ax.legend(frameon=False)
show_figure(
    fig, "kl-asymmetry",
    alt=f"Two curves over the model temperature from 0.25 to 8. At temperature 1, "
        f"KL(p || q) = {kl_pq:.4f} and KL(q || p) = {kl_qp:.4f}; the curves differ "
        f"across the range, with minima {forward.min():.4f} and {backward.min():.4f}.",
    caption="The divergence of the target <i>p</i> from the model "
            "<i>q</i> = softmax(<i>x</i>/&tau;), in both directions; the dotted "
            "line is the model of section 2.",
)

# %% [markdown]
# Check: `F.kl_div` with each reduction, and with `log_target=True`. Its
# `"mean"` reduction warns, so that call runs with the warning caught and
# checked.

# %%
batch_logits = rng.standard_normal((5, C)) * 2  # (N, C)
batch_targets = celoss.softmax(rng.standard_normal((5, C)) * 2, axis=1)
batch_log_q = celoss.log_softmax(batch_logits, axis=1)  # (N, C)
log_q_t = torch.from_numpy(batch_log_q)
p_t = torch.from_numpy(batch_targets)
for reduction in ["none", "sum", "batchmean", "mean"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kl_t = F.kl_div(log_q_t, p_t, reduction=reduction).numpy()
    assert (reduction == "mean") == any("batchmean" in str(w.message)
                                        for w in caught)
    np.testing.assert_allclose(
        celoss.kl_div(batch_log_q, batch_targets, reduction=reduction), kl_t,
        rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    celoss.kl_div(batch_log_q, np.log(batch_targets), reduction="batchmean",
                  log_target=True),
    F.kl_div(log_q_t, p_t.log(), reduction="batchmean",
             log_target=True).numpy(),
    rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(
    kl_pq, F.kl_div(torch.from_numpy(log_q), torch.from_numpy(p),
                    reduction="batchmean").item(), rtol=RTOL64, atol=ATOL64)
assert kl_pp == 0.0 and kl_pq > 0 and kl_qp > 0 and kl_pq != kl_qp
print("F.kl_div agrees for none, sum, batchmean, mean and log_target")

# %% [markdown]
# ## 4. Cross-entropy = entropy + KL divergence
#
# Adding and subtracting $\sum_c p_c \log p_c$ splits the cross-entropy into
# the target's own entropy and the divergence:
#
# $$H(p, q) = -\sum_c p_c \log q_c
# = \underbrace{-\sum_c p_c \log p_c}_{H(p)}
# + \underbrace{\sum_c p_c (\log p_c - \log q_c)}_{D_{\mathrm{KL}}(p \| q)}$$
#
# So the cross-entropy is never below $H(p)$, and reaches it when $q = p$. On
# the batch of five random targets and models from section 3:

# %%
H_p = celoss.entropy(batch_targets, axis=1)  # (N,)
KL_pq = celoss.kl_div(batch_log_q, batch_targets,
                      reduction="none").sum(axis=1)  # (N,)
H_pq = celoss.cross_entropy(batch_logits, batch_targets,
                            reduction="none")  # (N,)
print("H(p)          =", H_p)
print("KL(p || q)    =", KL_pq)
print("H(p) + KL     =", H_p + KL_pq)
print("H(p, q)       =", H_pq)
gap = np.max(np.abs(H_pq - H_p - KL_pq))  # ()
print(f"largest |H(p, q) - H(p) - KL| = {gap:.1e}")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
samples = np.arange(len(H_p))
ax.bar(samples, H_p, color=OTHER, label="entropy H(p)")
ax.bar(samples, KL_pq, bottom=H_p, color=CORRECT, label="KL(p || q)")
ax.scatter(samples, H_pq, color=ACCENT, marker="_", s=600, linewidths=2,
           zorder=3, label="cross-entropy H(p, q), from celoss.cross_entropy")
for n in samples:
    ax.text(n, H_pq[n] + 0.08, f"{H_pq[n]:.3f}", ha="center", fontsize=8)
ax.set_xticks(samples, [f"sample {n}" for n in samples])
ax.set_ylabel("nats")
ax.set_ylim(0, H_pq.max() * 1.35)
ax.set_title("The cross-entropy of each sample is its target's entropy plus "
             "the KL divergence")
ax.legend(frameon=False, fontsize=8, loc="upper left", ncol=2)
show_figure(
    fig, "decomposition",
    alt=f"Stacked bars for five samples: entropy {values(H_p, 3)} (grey) plus KL "
        f"divergence {values(KL_pq, 3)} (blue) reach the cross-entropy "
        f"{values(H_pq, 3)}, marked by red ticks.",
    caption="Entropy (grey) plus KL divergence (blue) stack up to the "
            "cross-entropy (red tick) of every sample.",
)

# %% [markdown]
# Check: the same identity with torch's three functions,
# `F.cross_entropy`, `Categorical.entropy` and `F.kl_div`.

# %%
H_pq_t = F.cross_entropy(torch.from_numpy(batch_logits), p_t,
                         reduction="none").numpy()  # (N,)
H_p_t = torch.distributions.Categorical(probs=p_t).entropy().numpy()  # (N,)
KL_t = F.kl_div(log_q_t, p_t, reduction="none").sum(dim=1).numpy()  # (N,)
np.testing.assert_allclose(H_pq, H_pq_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_p, H_p_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(KL_pq, KL_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_pq, H_p + KL_pq, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(H_pq_t, H_p_t + KL_t, rtol=RTOL64, atol=ATOL64)
print(f"torch: largest |H(p, q) - H(p) - KL| = "
      f"{np.max(np.abs(H_pq_t - H_p_t - KL_t)):.1e}")

# %% [markdown]
# ## 5. Why cross-entropy and KL give the same gradient
#
# $H(p)$ does not depend on the logits. So the cross-entropy and the KL
# divergence differ by a constant, and have the same gradient with respect to
# the logits, softmax minus target:
#
# $$\frac{\partial H(p, q)}{\partial x_c}
# = \frac{\partial D_{\mathrm{KL}}(p \| q)}{\partial x_c}
# = q_c - p_c, \qquad q = \mathrm{softmax}(x)$$
#
# Training with either loss takes the same steps. Only the reported number
# differs: the cross-entropy bottoms out at $H(p)$, not at 0, which is why a
# loss on soft targets (label smoothing, distillation) never reaches 0.

# %%
x0 = batch_logits[:1]  # (1, C): the first sample's logits
p0 = batch_targets[:1]  # (1, C): its target
ce_grad = celoss.cross_entropy_grad(x0, p0, reduction="sum")  # (1, C)
print("softmax(x) - p       =", (celoss.softmax(x0, axis=1) - p0)[0])
print("d H(p, q) / dx       =", ce_grad[0])


def kl_of_logits(logits):
    """KL(p0 || softmax(logits)), summed: the loss to difference."""
    log_q = celoss.log_softmax(logits, axis=1)  # (1, C)
    return float(celoss.kl_div(log_q, p0, reduction="sum"))


step = 1e-6
nudges = step * np.eye(C)  # (C, C): one logit at a time
kl_grad_fd = np.array([
    (kl_of_logits(x0 + nudge) - kl_of_logits(x0 - nudge)) / (2 * step)
    for nudge in nudges])  # (C,): central differences
print("d KL / dx, finite d. =", kl_grad_fd)

# %% tags=["remove-input"]
alphas = np.linspace(-0.5, 1.5, 81)  # (A,)
path = (1 - alphas[:, None]) * x0 + alphas[:, None] * np.log(p0)  # (A, C)
path_targets = np.repeat(p0, len(alphas), axis=0)  # (A, C)
path_ce = celoss.cross_entropy(path, path_targets, reduction="none")  # (A,)
path_kl = celoss.kl_div(celoss.log_softmax(path, axis=1), path_targets,
                        reduction="none").sum(axis=1)  # (A,)
H0 = float(celoss.entropy(p0, axis=1)[0])
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(alphas, path_ce, color=ACCENT, linewidth=2, label="cross-entropy H(p, q)")
ax.plot(alphas, path_kl, color=CORRECT, linewidth=2, label="KL(p || q)")
ax.axhline(H0, color=OTHER, linestyle="--", label=f"H(p) = {H0:.3f}")
ax.axhline(0, color="black", linewidth=0.5)
ax.annotate("", xy=(1.0, H0), xytext=(1.0, 0.0),
            arrowprops={"arrowstyle": "<->", "color": "black"})
ax.text(1.03, H0 / 2, "H(p): a constant gap", fontsize=8, va="center")
ax.set_xlabel("alpha: logits (1 - alpha) x + alpha log p  (alpha = 1: q = p)")
ax.set_ylabel("nats")
ax.set_title("Along a path of logits the two losses differ by H(p): "
             "same slopes, same minimum")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "same-gradient",
    alt=f"Two parallel curves along a path of logits: the cross-entropy and the KL "
        f"divergence, a constant {H0:.3f} nats apart. Both are smallest at alpha = 1, "
        f"where the model equals the target: KL {path_kl[np.argmin(np.abs(alphas - 1))]:.3f}, "
        f"cross-entropy {path_ce[np.argmin(np.abs(alphas - 1))]:.3f}.",
    caption="Cross-entropy and KL divergence along a straight path of logits "
            "through <i>q</i> = <i>p</i> (&alpha; = 1): a constant gap, "
            "<i>H</i>(<i>p</i>), so the same gradient everywhere.",
)

# %% [markdown]
# Check: torch autograd gives `cross_entropy_grad` for the cross-entropy
# **and** for `F.kl_div` of `log_softmax`; the finite differences of the KL
# agree to their own precision; and torch's two losses along the whole path
# differ by $H(p)$.

# %%
x_t = torch.tensor(x0, requires_grad=True)
F.cross_entropy(x_t, torch.from_numpy(p0), reduction="sum").backward()
ce_grad_t = x_t.grad.numpy().copy()
x_t.grad = None
F.kl_div(torch.log_softmax(x_t, dim=1), torch.from_numpy(p0),
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
# ## 6. Soft targets and distillation with a temperature
#
# In **knowledge distillation** (Hinton, Vinyals and Dean, 2015) a small
# student learns from a large teacher's probabilities instead of only the
# labels. Both sets of logits are divided by a temperature $T > 1$ first,
# which softens the teacher's distribution and shows how it ranks the wrong
# classes. The loss is the KL divergence of the softened distributions,
# multiplied by $T^2$:
#
# $$\ell_{\text{KD}} = T^2\, D_{\mathrm{KL}}\!\left(
# \mathrm{softmax}(z^{t} / T) \,\big\|\, \mathrm{softmax}(z^{s} / T)\right)$$
#
# Why $T^2$: by section 5 and the chain rule through $z^s / T$, the
# gradient of the KL with respect to the student's logits is
# $(q^{T} - p^{T}) / T$, and for large $T$ the difference $q^T - p^T$ itself
# shrinks like $1/T$. Without the factor the gradient fades like $1/T^2$;
# with it, it stays the same size at every temperature, so the soft loss
# keeps its weight against the hard-label loss when $T$ changes.

# %%
NUM_CLASSES = 10
teacher_logits = rng.standard_normal((4, NUM_CLASSES)) * 3  # (N, C)
student_logits = rng.standard_normal((4, NUM_CLASSES)) * 3  # (N, C)
TEMPERATURE = 4.0

# %% tags=["remove-input"]
NUMPY_SNIPPET = """\
T = TEMPERATURE
s, t = student_logits, teacher_logits  # (N, C) each
p = celoss.softmax(t / T, axis=1)  # (N, C)
log_q = celoss.log_softmax(s / T, axis=1)  # (N, C)
kd_np = T**2 * celoss.kl_div(log_q, p,
                             reduction="batchmean")
# d/ds = T**2 * (1/T) * (q - p) / N
kd_grad_np = T * celoss.cross_entropy_grad(s / T, p)
print(f"{float(kd_np):.6f}")
"""
TORCH_SNIPPET = """\
T = TEMPERATURE
s = torch.tensor(student_logits, requires_grad=True)
t = torch.tensor(teacher_logits)  # (N, C)
kd_pt = T**2 * F.kl_div(F.log_softmax(s / T, dim=1),
                        F.softmax(t / T, dim=1),
                        reduction="batchmean")
kd_pt.backward()  # s.grad: (N, C)
print(f"{kd_pt.item():.6f}")
"""
snippets = dict(globals())  # both run here, in a namespace of their own
code_tabs([("NumPy", NUMPY_SNIPPET), ("PyTorch", TORCH_SNIPPET)], snippets)
kd_np, kd_grad_np = snippets["kd_np"], snippets["kd_grad_np"]
kd_pt, s = snippets["kd_pt"], snippets["s"]

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
scaled_norms = [np.linalg.norm(distillation(t)[1]) for t in sweep]
unscaled_norms = [np.linalg.norm(distillation(t, scaled=False)[1])
                  for t in sweep]
# The large-T limit: T (q - p) / N -> (centred z_s - z_t) / (C N).
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
teacher_at = {t: celoss.softmax(teacher_logits[:1] / t, axis=1)[0]
              for t in shown_temperatures}
teacher_entropy = {t: float(celoss.entropy(teacher_at[t])) for t in shown_temperatures}
fig, axes = plt.subplots(1, len(shown_temperatures), sharey=True,
                         figsize=(8.0, 2.6))
fig.suptitle("The teacher's distribution for one example, softened by the "
             "temperature T")
for ax, t in zip(axes, shown_temperatures, strict=True):
    ax.bar(range(NUM_CLASSES), teacher_at[t], color=CORRECT)
    ax.set_title(f"T = {t:g}: H = {teacher_entropy[t]:.2f} nats", fontsize=9)
    ax.set_xticks(range(0, NUM_CLASSES, 3))
axes[0].set_ylabel("probability")
axes[0].set_xlabel("class")
show_figure(
    fig, "temperature",
    alt="Four bar charts of the teacher's probabilities over ten classes for one "
        "example, at temperatures " + ", ".join(f"{t:g}" for t in shown_temperatures)
        + "; the entropy rises from "
        + ", ".join(f"{teacher_entropy[t]:.2f}" for t in shown_temperatures)
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
           label=f"large-T limit |centred(z_s - z_t)| / (C N) = {limit_norm:.4f}")
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
# form of the same loss, $T^2 H(p^T, q^T)$, differs from it by
# $T^2 H(p^T)$ only, with the same gradient (section 5).

# %%
np.testing.assert_allclose(float(kd_np), kd_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(kd_grad_np, s.grad.numpy(),
                           rtol=RTOL64, atol=ATOL64)
for temperature in sweep:
    loss, grad = distillation(temperature)
    s_t = torch.tensor(student_logits, requires_grad=True)
    loss_t = temperature**2 * F.kl_div(
        F.log_softmax(s_t / temperature, dim=1),
        F.softmax(torch.from_numpy(teacher_logits) / temperature, dim=1),
        reduction="batchmean")
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(grad, s_t.grad.numpy(),
                               rtol=RTOL64, atol=ATOL64)
soft = celoss.softmax(teacher_logits / TEMPERATURE, axis=1)  # (N, C)
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
print(f"T^2 H(p, q) = {ce_form:.6f} = T^2 KL + T^2 H(p) "
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
# a Neural Network*, NIPS Deep Learning Workshop, 2015 (arXiv:1503.02531),
# section 2, on the $T^2$ factor.

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("entropy $H(p)$: `entropy`", "`Categorical.entropy`",
     f"{entropies[2]:.4f} = log {C} (uniform)"),
    ("cross-entropy $H(p, q)$: probability targets", "`F.cross_entropy`",
     f"{float(cross[0]):.4f}"),
    ("KL divergence: `kl_div`, model first", "`F.kl_div`",
     f"{kl_pq:.4f}, reversed {kl_qp:.4f}"),
    ("$H(p, q) = H(p) + D_{\\mathrm{KL}}$", "all three", f"to {gap:.0e}"),
    ("same gradient, $q - p$", "autograd of both losses", "to float64"),
    ("distillation, $T^2 D_{\\mathrm{KL}}$", "`F.kl_div`, autograd",
     f"{float(kd_np):.4f} at T = {TEMPERATURE:g}"),
]
display(Markdown(
    "| idea | checked against | on this page |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# Next: [Binary cross-entropy](binary-cross-entropy.py), where each output is
# its own two-class problem; and the [Verification](verification.md) page,
# which reruns this chapter's comparisons at every build.

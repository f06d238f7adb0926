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
# # Numerical stability
#
# A floating-point number has a largest value, a smallest one, and a step
# between neighbours; cross-entropy written straight from its formula runs
# into all three. This page finds each limit for float16, bfloat16, float32
# and float64, shows the formula that breaks on it next to the one celoss and
# PyTorch use, and checks every value against PyTorch while the site builds.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$), listed on the
# [home page](index.md); the six steps of the loss are in the
# [walkthrough](walkthrough.py). Code that only draws figures or writes
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
    show_source,
    use_figure_style,
    values,
)

torch.set_num_threads(1)  # tiny tensors: one thread beats thread start-up
rng = np.random.default_rng(seed=1)  # this page's only random numbers
np.set_printoptions(precision=6, suppress=False)
use_figure_style()
show_figure = FigureCounter()

# How close celoss must be to torch, per dtype: one table, in celoss.parity.
TOLERANCES = celoss.TOLERANCES
NUMPY_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def bfloat16_neighbour(value, step):
    """The bfloat16 ``step`` places after the positive bfloat16 tensor ``value``.

    A positive float's bit pattern, read as an integer, counts its
    representable values in order: adding 1 gives the next one up.
    """
    return (value.view(torch.int16) + step).view(torch.bfloat16)


# %% [markdown]
# ## 1. Where exp overflows
#
# Softmax starts with $e^{x_{n,c}}$. A float type has a largest finite value
# $M$, so $e^{x}$ is finite only while
#
# $$x \le \ln M$$
#
# and one representable step above that it is `inf`. NumPy knows $M$ for its
# own types (`np.finfo`); bfloat16, the 16-bit type with float32's exponent
# range, exists in PyTorch only (`torch.finfo`).

# %%
thresholds = {name: float(np.log(np.float64(np.finfo(dtype).max)))
              for name, dtype in NUMPY_DTYPES.items()}
thresholds["bfloat16"] = float(np.log(np.float64(torch.finfo(torch.bfloat16).max)))
for name, threshold in thresholds.items():
    print(f"{name:>8}: exp(x) overflows for x > {threshold:.4f}")

# %% [markdown]
# Each threshold is checked on the two representable numbers that straddle
# it: `np.exp` and `torch.exp`, each in that dtype, must give a finite value
# on the lower one and `inf` on the upper one.

# %%
straddles = {}
for name, dtype in NUMPY_DTYPES.items():
    below = dtype(thresholds[name])
    if float(below) > thresholds[name]:  # rounded up: take the one below
        below = np.nextafter(below, dtype(-np.inf))
    above = np.nextafter(below, dtype(np.inf))
    straddles[name] = (float(below), float(above))
    with np.errstate(over="ignore"):  # the overflow is the point here
        assert np.isfinite(np.exp(below)) and np.isinf(np.exp(above))
    assert torch.isfinite(torch.exp(torch.tensor(below)))
    assert torch.isinf(torch.exp(torch.tensor(above)))
below_bf16 = torch.tensor(thresholds["bfloat16"]).to(torch.bfloat16)
if below_bf16.item() > thresholds["bfloat16"]:
    below_bf16 = bfloat16_neighbour(below_bf16, -1)
above_bf16 = bfloat16_neighbour(below_bf16, +1)
assert torch.isfinite(torch.exp(below_bf16)) and torch.isinf(torch.exp(above_bf16))
straddles["bfloat16"] = (below_bf16.item(), above_bf16.item())
for name, (below, above) in straddles.items():
    print(f"{name:>8}: exp({below!r}) is finite, exp({above!r}) = inf")

# %% tags=["remove-input"]
display(Markdown(
    f"A logit above **{thresholds['float16']:.2f}** already overflows in "
    f"float16, above **{thresholds['float32']:.2f}** in float32 and bfloat16 "
    f"(which shares float32's exponent), above **{thresholds['float64']:.2f}** "
    f"in float64. Logits of a few tens are ordinary in a trained network, so "
    f"only the float64 limit is out of everyday reach."
))

# %% tags=["remove-input"]
order = ["float16", "bfloat16", "float32", "float64"]
fig, ax = plt.subplots(figsize=(7.0, 2.4))
bars = ax.barh(order, [thresholds[n] for n in order],
               color=[ACCENT, ACCENT, CORRECT, CORRECT])
ax.bar_label(bars, labels=[f"{thresholds[n]:.2f}" for n in order], padding=3)
ax.set_xscale("log")
ax.set_xlim(5, 3000)
ax.set_xlabel("largest x with a finite exp(x) (log scale)")
ax.set_title("Where exp(x) overflows, by dtype")
ax.invert_yaxis()
ax.grid(axis="x")
show_figure(
    fig, "thresholds",
    alt="Horizontal bars on a log scale of the largest logit whose exponential "
        "is finite: " + ", ".join(f"{n} {thresholds[n]:.2f}" for n in order) + ".",
    caption="The overflow threshold ln <i>M</i> of each dtype: the 16-bit "
            "types (red) and the 32- and 64-bit types (blue).",
)

# %% [markdown]
# ## 2. Subtracting the row maximum
#
# Softmax does not change when the same number is subtracted from every
# logit of a row: the factor $e^{-m}$ cancels between numerator and
# denominator. With $m_n$ the row's largest logit, every exponent is at most
# $e^0 = 1$, and none can overflow:
#
# $$p_{n,c} = \frac{e^{x_{n,c}}}{\sum_k e^{x_{n,k}}}
# = \frac{e^{x_{n,c} - m_n}}{\sum_k e^{x_{n,k} - m_n}},
# \qquad m_n = \max_k x_{n,k}$$

# %%
show_source(celoss.softmax)


# %% [markdown]
# A **naive softmax**, shown only to be broken: it exponentiates the raw
# logits. Below, it runs on a float32 row and a float16 row that reach past
# their thresholds, next to celoss's softmax, which returns the probabilities
# of the same rows shifted down to $[2, 1, 0]$.

# %%
def naive_softmax(logits):
    """NAIVE, for illustration only: overflows above ln(max) of the dtype."""
    exps = np.exp(logits)  # (N, C)
    return exps / exps.sum(axis=1, keepdims=True)  # (N, C)


rows = {"float32": np.array([[90.0, 89.0, 88.0]], dtype=np.float32),  # (1, 3)
        "float16": np.array([[12.0, 11.0, 10.0]], dtype=np.float16)}  # (1, 3)
naive_rows = {}
for name, row in rows.items():
    with np.errstate(over="ignore", invalid="ignore"):  # the point here
        overflowed = np.isinf(np.exp(row[0]))  # (3,): e^x is inf
        naive = naive_softmax(row)
    stable = celoss.softmax(row, axis=1)
    naive_rows[name] = (naive[0], overflowed, stable[0])
    print(f"{name}: naive {naive[0]}  celoss {stable[0]}")
    assert np.isnan(naive[0][overflowed]).all()  # inf / inf
    assert np.all(naive[0][~overflowed] == 0.0)  # finite / inf: an exact 0
    reference = celoss.softmax(np.array([[2.0, 1.0, 0.0]]), axis=1)  # float64
    rtol, atol = TOLERANCES[name]
    np.testing.assert_allclose(stable, reference, rtol=rtol, atol=atol)

# %% tags=["remove-input"]
display(Markdown(
    "The naive softmax fails in two ways at once. "
    + " ".join(
        f"In {name}, $e^x$ overflows for {int(overflowed.sum())} of the "
        f"{overflowed.size} logits of the row "
        f"[{', '.join(f'{v:g}' for v in rows[name][0])}], so the sum is `inf`, and "
        f"the naive softmax gives [{', '.join(f'{v:g}' for v in naive)}]: `nan` "
        f"(`inf / inf`) where $e^x$ overflowed, and exactly "
        f"{float(naive[~overflowed][0]):g} (finite / `inf`) where it did not, "
        f"against celoss's [{values(stable, 4)}]."
        for name, (naive, overflowed, stable) in naive_rows.items())
    + " A `nan` at least shows; a 0 looks like a valid probability."
))

# %% [markdown]
# The figure follows the first probability of the row $[x, 0]$ as $x$ grows:
# the naive softmax is right until $e^x$ overflows, then `nan` (no line).

# %% tags=["remove-input"]
fig, axes = plt.subplots(1, 2, figsize=(8.0, 2.8))
first_nan = {}
for ax, name, top in zip(axes, ["float16", "float32"], [16.0, 100.0], strict=True):
    dtype = NUMPY_DTYPES[name]
    x = np.linspace(0.0, top, 801).astype(dtype)  # (801,)
    sweep = np.stack([x, np.zeros_like(x)], axis=1)  # (801, 2)
    with np.errstate(over="ignore", invalid="ignore"):
        naive_p0 = naive_softmax(sweep)[:, 0]  # (801,)
    stable_p0 = celoss.softmax(sweep, axis=1)[:, 0]  # (801,)
    first_nan[name] = float(x[np.argmax(np.isnan(naive_p0))])
    ax.plot(x, stable_p0, color=OTHER, linewidth=4, label="celoss.softmax")
    ax.plot(x, naive_p0, color=ACCENT, linewidth=1.5, label="naive softmax")
    ax.axvline(thresholds[name], color=CORRECT, linestyle="--", linewidth=1)
    ax.text(thresholds[name], 0.42, f" ln M = {thresholds[name]:.2f}",
            color=CORRECT, fontsize=8)
    ax.set_title(f"{name}: p_0 of the logits [x, 0]")
    ax.set_xlabel("x")
    ax.set_ylim(0.4, 1.05)
axes[0].set_ylabel("probability p_0")
axes[0].legend(frameon=False, loc="center right")
show_figure(
    fig, "max-subtraction",
    alt=f"Two line plots of the first softmax probability of the logits [x, 0]. "
        f"celoss's rises from 0.5 towards 1 over the whole range; the naive one "
        f"matches it and stops (NaN) at x = {first_nan['float16']:.2f} in "
        f"float16 and x = {first_nan['float32']:.2f} in float32.",
    caption="Naive softmax (red) and celoss's (grey) on the logits [<i>x</i>, 0]: "
            "the naive one stops at the overflow threshold (dashed).",
)

# %% [markdown]
# Check: `torch.softmax` in the same dtype gives celoss's probabilities on
# both rows (to that dtype's tolerance), and the naive softmax's first `nan`
# is the first value of the sweep above $\ln M$.

# %%
for name, row in rows.items():
    rtol, atol = TOLERANCES[name]
    np.testing.assert_allclose(
        celoss.softmax(row, axis=1).astype(np.float64),
        torch.softmax(torch.from_numpy(row), dim=1).double().numpy(),
        rtol=rtol, atol=atol,
    )
    assert first_nan[name] > thresholds[name]
    print(f"{name}: torch.softmax agrees; naive fails first at x = {first_nan[name]:.4f}")

# %% [markdown]
# ## 3. Log-sum-exp
#
# The loss needs $\log p_{n,c}$, and its denominator is a sum of
# exponentials inside a log. The same shift keeps that finite:
#
# $$\operatorname{LSE}(x_n) = \log \sum_{k=1}^{C} e^{x_{n,k}}
# = m_n + \log \sum_{k=1}^{C} e^{x_{n,k} - m_n}$$
#
# and the log-probabilities are the logits minus it,
# $\log p_{n,c} = x_{n,c} - \operatorname{LSE}(x_n)$. That is
# `celoss.log_softmax`, so log-sum-exp can be read off it:
# $\operatorname{LSE}(x_n) = x_{n,c} - \log p_{n,c}$ for any class $c$.

# %%
show_source(celoss.log_softmax)

# %%
lse_logits = np.array([[90.0, 89.0, 88.0],     # overflows a naive sum
                       [-110.0, -111.0, -112.0]],  # underflows one
                      dtype=np.float32)  # (N, C) = (2, 3)
lse = (lse_logits - celoss.log_softmax(lse_logits, axis=1))[:, 0]  # (N,)
with np.errstate(over="ignore", divide="ignore"):  # NAIVE, the point here
    naive_lse = np.log(np.sum(np.exp(lse_logits), axis=1))  # (N,)
print("naive log(sum(exp(x))):", naive_lse)
print("x - celoss.log_softmax:", lse)

# %% tags=["remove-input"]
x = np.linspace(-130.0, 130.0, 1041).astype(np.float32)  # (1041,)
pairs = np.stack([x, x], axis=1)  # (1041, 2): the row [x, x]
with np.errstate(over="ignore", divide="ignore"):
    naive_pairs = np.log(np.sum(np.exp(pairs), axis=1))  # (1041,)
stable_pairs = (pairs - celoss.log_softmax(pairs, axis=1))[:, 0]  # (1041,)
finite = np.isfinite(naive_pairs)
naive_low, naive_high = float(x[finite].min()), float(x[finite].max())
fig, ax = plt.subplots(figsize=(7.0, 3.0))
ax.plot(x, stable_pairs, color=OTHER, linewidth=4, label="x - celoss.log_softmax")
ax.plot(x, np.where(finite, naive_pairs, np.nan), color=ACCENT, linewidth=1.5,
        label="naive log(sum(exp(x)))")
for edge in (naive_low, naive_high):
    ax.axvline(edge, color=CORRECT, linestyle="--", linewidth=1)
ax.text(naive_high, -100, f" +inf above {naive_high:.1f}", color=CORRECT, fontsize=8)
ax.text(naive_low, 80, f"-inf below {naive_low:.1f} ", color=CORRECT, fontsize=8,
        ha="right")
ax.set_title("float32 log-sum-exp of the row [x, x]: exactly x + ln 2")
ax.set_xlabel("x")
ax.set_ylabel("LSE([x, x])")
ax.legend(frameon=False, loc="upper left")
show_figure(
    fig, "log-sum-exp",
    alt=f"Line plot of the float32 log-sum-exp of [x, x] for x from -130 to 130. "
        f"The stable value is the straight line x + ln 2 everywhere; the naive "
        f"one is finite only from {naive_low:.1f} to {naive_high:.1f}.",
    caption="Log-sum-exp in float32: the naive formula (red) underflows to "
            "&minus;inf on the left and overflows to +inf on the right; the "
            "shifted one (grey) is a straight line.",
)

# %% [markdown]
# Check: `torch.logsumexp` gives celoss's values on both rows, and on the whole
# sweep of the figure; `x + ln 2` is the exact answer there.

# %%
rtol, atol = TOLERANCES["float32"]
np.testing.assert_allclose(
    lse, torch.logsumexp(torch.from_numpy(lse_logits), dim=1).numpy(),
    rtol=rtol, atol=atol)
np.testing.assert_allclose(
    stable_pairs, torch.logsumexp(torch.from_numpy(pairs), dim=1).numpy(),
    rtol=rtol, atol=atol)
np.testing.assert_allclose(stable_pairs, x.astype(np.float64) + np.log(2.0),
                           rtol=rtol, atol=atol)
assert np.isinf(naive_lse).all()
print(f"naive float32 log-sum-exp is finite only for x in [{naive_low:.2f}, {naive_high:.2f}]")

# %% [markdown]
# ## 4. log(softmax(x)) against log_softmax
#
# Taking the log *after* the softmax throws the shift's work away: a
# probability smaller than the dtype's smallest positive number rounds to 0,
# and $\log 0 = -\infty$. Below float32's smallest normal number the
# probabilities are subnormal and keep fewer digits, so the log goes wrong
# before it goes infinite. `log_softmax` never forms the tiny probability:
#
# $$\log p_{n,c} = (x_{n,c} - m_n) - \log \sum_k e^{x_{n,k} - m_n}$$
#
# For the row $[0, -d]$, $\log p_1 \approx -d$ for every $d$, which
# `log_softmax` returns and the naive route cannot once $e^{-d}$ underflows.

# %%
d = np.arange(0.0, 120.5, 0.5, dtype=np.float32)  # (241,)
rows_d = np.stack([np.zeros_like(d), -d], axis=1)  # (241, 2): [0, -d]
with np.errstate(divide="ignore"):  # NAIVE: log(0) is the point here
    naive_log_p1 = np.log(celoss.softmax(rows_d, axis=1))[:, 1]  # (241,)
stable_log_p1 = celoss.log_softmax(rows_d, axis=1)[:, 1]  # (241,)
exact_log_p1 = celoss.log_softmax(rows_d.astype(np.float64), axis=1)[:, 1]  # (241,)
first_inf = float(d[np.argmax(np.isneginf(naive_log_p1))])
print(f"naive log(softmax) first gives -inf at d = {first_inf:.1f}")
print(f"at d = {d[-1]:.0f}: naive {naive_log_p1[-1]}, log_softmax {stable_log_p1[-1]:.4f}")
loss_naive = -naive_log_p1[-1]  # the loss if class 1 is the target
loss_stable = float(celoss.cross_entropy(rows_d[-1:], np.array([1])))
print(f"loss with target 1: naive {loss_naive}, celoss.cross_entropy {loss_stable:.4f}")

# %% tags=["remove-input"]
smallest_normal = float(np.log(np.float64(np.finfo(np.float32).tiny)))
with np.errstate(invalid="ignore"):
    error_naive = np.abs(naive_log_p1.astype(np.float64) - exact_log_p1)  # (241,)
error_stable = np.abs(stable_log_p1.astype(np.float64) - exact_log_p1)  # (241,)
floor = 1e-9  # where an exact match is drawn on the log axis
fig, (ax_value, ax_error) = plt.subplots(1, 2, figsize=(8.0, 3.0))
ax_value.plot(d, stable_log_p1, color=OTHER, linewidth=4, label="celoss.log_softmax")
ax_value.plot(d, np.where(np.isfinite(naive_log_p1), naive_log_p1, np.nan),
              color=ACCENT, linewidth=1.5, label="log(softmax)")
ax_value.axvline(first_inf, color=CORRECT, linestyle="--", linewidth=1)
ax_value.text(first_inf, -20, f"-inf from\nd = {first_inf:.1f} ", color=CORRECT,
              fontsize=8, ha="right")
ax_value.set_title("log p_1 of the row [0, -d], float32")
ax_value.set_xlabel("d")
ax_value.legend(frameon=False, loc="lower left")
kept = np.isfinite(error_naive)
ax_error.semilogy(d[kept], np.maximum(error_naive[kept], floor), color=ACCENT,
                  label="log(softmax)")
ax_error.semilogy(d, np.maximum(error_stable, floor), color=OTHER, linewidth=2,
                  label="celoss.log_softmax")
ax_error.axvline(-smallest_normal, color=CORRECT, linestyle=":", linewidth=1)
ax_error.text(-smallest_normal, 1e-4, "subnormal\nfrom here ", color=CORRECT, fontsize=8,
              ha="right")
ax_error.set_title("its error against float64")
ax_error.set_xlabel("d")
ax_error.legend(frameon=False, loc="upper left")
show_figure(
    fig, "log-of-softmax",
    alt=f"Left: log p_1 of the float32 row [0, -d] for d from 0 to 120. "
        f"log_softmax follows the line -d; log(softmax) matches it and then is "
        f"-inf from d = {first_inf:.1f}. Right, on a log scale: the naive "
        f"error grows once the probability is subnormal (d above "
        f"{-smallest_normal:.1f}), up to {np.nanmax(error_naive[kept]):.2f}; "
        f"log_softmax's stays below {error_stable.max():.0e}.",
    caption="The naive log of a softmax (red) against log_softmax (grey) in "
            "float32: it loses digits among the subnormal numbers, then "
            "becomes &minus;inf.",
)

# %% [markdown]
# Check: PyTorch makes the same two choices. `torch.log(torch.softmax(x))`
# is `-inf` exactly where the naive NumPy route is, `torch.log_softmax`
# agrees with celoss over the whole sweep, and `F.cross_entropy` gives the
# finite loss.

# %%
rows_t = torch.from_numpy(rows_d)  # (241, 2) float32
torch_naive = torch.log(torch.softmax(rows_t, dim=1))[:, 1].numpy()  # (241,)
np.testing.assert_array_equal(np.isneginf(torch_naive), np.isneginf(naive_log_p1))
rtol, atol = TOLERANCES["float32"]
np.testing.assert_allclose(stable_log_p1,
                           torch.log_softmax(rows_t, dim=1)[:, 1].numpy(),
                           rtol=rtol, atol=atol)
torch_loss = F.cross_entropy(rows_t[-1:], torch.tensor([1])).item()
np.testing.assert_allclose(loss_stable, torch_loss, rtol=rtol, atol=atol)
assert np.isinf(loss_naive)
print(f"F.cross_entropy: {torch_loss:.4f}")

# %% [markdown]
# ## 5. float16 and bfloat16 losses near ln V
#
# A language model's first loss is close to the loss of the uniform
# distribution over its $V$ tokens, a little above it: the final hidden state
# $h$ leaves a LayerNorm with root mean square 1, the output weights start
# with standard deviation $\sigma_w$, so each logit has standard deviation
# $\sigma = \sigma_w \sqrt{d}$ for a model of width $d$, and (see
# [Language models](language-models.py), section 7)
#
# $$\ell \approx -\log \frac{1}{V} + \frac{\sigma^2}{2} = \ln V + \frac{\sigma^2}{2}$$
#
# A 16-bit type cannot hold that value exactly. Between 8 and 16, float16
# has 10 fraction bits and bfloat16 has 7, so a loss there moves in steps of
# $2^{3-10}$ and $2^{3-7}$. Below, GPT-2's vocabulary and width: the step is
# measured on the representable neighbours of $\ln V$.

# %%
V, D = 50_257, 768  # GPT-2's vocabulary and width
SIGMA_W = 0.02  # GPT-2's initial standard deviation of the output weights
ln_v = float(np.log(V))
sigma = SIGMA_W * np.sqrt(D)  # of the logits, for hidden states of rms 1
step_float16 = float(np.spacing(np.float16(ln_v)))
near_bf16 = torch.tensor(ln_v).to(torch.bfloat16)  # ln V rounded to bfloat16
step_bfloat16 = (bfloat16_neighbour(near_bf16, 1).double()
                 - near_bf16.double()).item()
neighbours_bf16 = [bfloat16_neighbour(near_bf16, k).item() for k in (-1, 0, 1)]
print(f"ln V = {ln_v:.6f}, sigma = {sigma:.4f}, ln V + sigma^2/2 = {ln_v + sigma**2 / 2:.6f}")
print(f"float16 step near ln V:  {step_float16}")
print(f"bfloat16 step near ln V: {step_bfloat16}; neighbours {neighbours_bf16}")

# %% [markdown]
# The loss itself, on the logits a freshly initialised GPT-2 makes: the
# hidden states of a batch of positions put through a LayerNorm, times an
# output matrix of shape $(V, d)$ drawn with standard deviation $\sigma_w$,
# in float32; targets drawn uniformly. celoss computes the loss in float64 (the
# reference) and float16; PyTorch in float32, float16 and bfloat16.

# %%
POSITIONS = 64  # N: enough for a loss near its expected value
raw = rng.standard_normal((POSITIONS, D))  # (N, d): the last block's output
centred = raw - raw.mean(axis=1, keepdims=True)  # (N, d)
hidden = (centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + 1e-5)
          ).astype(np.float32)  # (N, d): LayerNorm, rms 1
W_out = SIGMA_W * rng.standard_normal((V, D), dtype=np.float32)  # (V, d)
lm_logits = hidden @ W_out.T  # (N, V) float32
lm_targets = rng.integers(0, V, size=POSITIONS)  # (N,)
loss_64 = float(celoss.cross_entropy(lm_logits.astype(np.float64), lm_targets))
loss_16 = float(celoss.cross_entropy(lm_logits.astype(np.float16), lm_targets))
logits_t = torch.from_numpy(lm_logits)  # (N, V) float32
targets_t = torch.from_numpy(lm_targets)  # (N,) int64
torch_losses = {name: F.cross_entropy(logits_t.to(dtype), targets_t).item()
                for name, dtype in [("float32", torch.float32),
                                    ("float16", torch.float16),
                                    ("bfloat16", torch.bfloat16)]}
print(f"std of the logits: {lm_logits.std():.4f}")
print(f"celoss float64: {loss_64:.6f}   (ln V = {ln_v:.6f})")
print(f"celoss float16: {loss_16:.6f}")
for name, value in torch_losses.items():
    print(f"torch {name:>8}: {value:.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"The logits' standard deviation is {lm_logits.std():.3f} "
    f"($\\sigma_w \\sqrt{{d}}$ = {sigma:.3f}), and the float64 loss is "
    f"**{loss_64:.4f}**, {loss_64 - ln_v:+.4f} from $\\ln V$ = {ln_v:.4f}, near "
    f"$\\ln V + \\sigma^2/2$ = {ln_v + sigma**2 / 2:.4f} (a mean over {POSITIONS} "
    f"positions strays from it a little). In bfloat16 the nearest values to "
    f"$\\ln V$ are "
    f"{', '.join(f'{v:.4f}' for v in neighbours_bf16)}: a step of "
    f"**{step_bfloat16:g}**, so any change of the loss smaller than about "
    f"{step_bfloat16 / 2:g} is invisible in a bfloat16 loss, and PyTorch's "
    f"bfloat16 result, **{torch_losses['bfloat16']:.4f}**, is "
    f"{abs(torch_losses['bfloat16'] - loss_64) / step_bfloat16:.2f} steps from "
    f"the float64 value (its intermediate log-probabilities are rounded too). "
    f"float16's step there is **{step_float16:g}**."
))

# %% tags=["remove-input"]
low, high = min(ln_v, loss_64) - 0.3, max(ln_v, loss_64) + 0.3
exact = np.linspace(low, high, 2001)  # (2001,): float64 losses
rounded16 = exact.astype(np.float16).astype(np.float64)  # (2001,)
rounded_bf16 = torch.from_numpy(exact).to(torch.bfloat16).double().numpy()  # (2001,)
fig, ax = plt.subplots(figsize=(7.0, 3.4))
ax.plot(exact, exact, color=OTHER, linewidth=1, label="float64 (exact)")
ax.step(exact, rounded16, where="mid", color=CORRECT, linewidth=1,
        label=f"float16: steps of {step_float16:g}")
ax.step(exact, rounded_bf16, where="mid", color=ACCENT, linewidth=1.5,
        label=f"bfloat16: steps of {step_bfloat16:g}")
ax.axvline(ln_v, color="black", linestyle=":", linewidth=1)
ax.text(ln_v, high - 0.05, f" ln V = {ln_v:.3f}", fontsize=8)
ax.scatter([loss_64], [torch_losses["bfloat16"]], color=ACCENT, zorder=3, s=30,
           label=f"torch bfloat16 loss: {torch_losses['bfloat16']:.4f}")
ax.scatter([loss_64], [torch_losses["float16"]], color=CORRECT, zorder=3, s=30,
           marker="s", label=f"torch float16 loss: {torch_losses['float16']:.4f}")
ax.set_title("A loss near ln V, as float16 and bfloat16 store it")
ax.set_xlabel("the loss in float64")
ax.set_ylabel("the same loss, rounded")
ax.grid(axis="both")
ax.legend(frameon=False, loc="upper left", fontsize=8)
show_figure(
    fig, "half-precision-steps",
    alt=f"Staircase plot of float64 losses from {low:.2f} to {high:.2f} rounded to "
        f"float16 (steps of {step_float16:g}) and bfloat16 (steps of "
        f"{step_bfloat16:g}), with ln V = {ln_v:.3f} for V = {V} marked, and "
        f"PyTorch's float16 and bfloat16 losses, {torch_losses['float16']:.4f} "
        f"and {torch_losses['bfloat16']:.4f}, at the float64 loss "
        f"{loss_64:.4f}.",
    caption="Every value a float16 (blue) or bfloat16 (red) loss can take "
            "near ln <i>V</i>; the points are PyTorch's losses for the batch "
            "above, drawn at its float64 value.",
)

# %% [markdown]
# Check: celoss's float16 loss agrees with PyTorch's float16 loss to the
# float16 tolerance, and float32 to float32's. bfloat16 has no NumPy type, so
# its check is on the steps: PyTorch's bfloat16 loss is a bfloat16 number
# within one step of the float64 loss.

# %%
for name, ours in [("float16", loss_16),
                   ("float32", float(celoss.cross_entropy(lm_logits, lm_targets)))]:
    rtol, atol = TOLERANCES[name]
    np.testing.assert_allclose(ours, torch_losses[name], rtol=rtol, atol=atol)
bf16 = torch_losses["bfloat16"]
assert torch.tensor(bf16).to(torch.bfloat16).item() == bf16  # a bfloat16 value
assert abs(bf16 - loss_64) <= step_bfloat16
assert abs(torch_losses["float16"] - loss_64) <= 2 * step_float16
assert abs(lm_logits.std() / sigma - 1) < 0.01  # the spread of section 7's formula
print("float16 and float32 agree with torch; bfloat16 is within one step")

# %% [markdown]
# The remedy is to compute the loss in float32, whatever the logits' type.
# Mixed precision does it for you: under `torch.autocast` the output layer's
# matrix product runs in bfloat16, but `cross_entropy` is on autocast's list
# of float32 operations, so it casts the bfloat16 logits up and returns a
# float32 loss, as long as the loss is computed inside the `with
# torch.autocast(...)` block: after it, the same bfloat16 logits give a
# bfloat16 loss. A model kept entirely in bfloat16, without autocast, must do
# it by hand: `F.cross_entropy(logits.float(), y)`. Below, the same hidden
# states and weights each way, on the CPU.

# %%
hidden_t, W_out_t = torch.from_numpy(hidden), torch.from_numpy(W_out)  # (N, d), (V, d)
with torch.autocast("cpu", dtype=torch.bfloat16):
    autocast_logits = F.linear(hidden_t, W_out_t)  # (N, V), computed in bfloat16
    autocast_loss = F.cross_entropy(autocast_logits, targets_t)  # ()
after_block_loss = F.cross_entropy(autocast_logits, targets_t)  # (): outside autocast
bf16_logits = F.linear(hidden_t.bfloat16(), W_out_t.bfloat16())  # (N, V): all bfloat16
bf16_loss = F.cross_entropy(bf16_logits, targets_t)  # (): bfloat16
float_loss = F.cross_entropy(bf16_logits.float(), targets_t)  # (): float32
# The reference for both: celoss in float64 on the same bfloat16 logits.
rounded_64 = float(celoss.cross_entropy(bf16_logits.double().numpy(), lm_targets))
print(f"autocast:      logits {autocast_logits.dtype}, loss {autocast_loss.dtype} "
      f"{autocast_loss.item():.6f}")
print(f"after the autocast block: loss {after_block_loss.dtype} "
      f"{after_block_loss.item():.6f}")
print(f"pure bfloat16: logits {bf16_logits.dtype}, loss {bf16_loss.dtype} "
      f"{bf16_loss.item():.6f}")
print(f"               loss of logits.float(): {float_loss.dtype} {float_loss.item():.6f}")
print(f"celoss float64 on the bfloat16 logits: {rounded_64:.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"Under autocast the logits are `{autocast_logits.dtype}` and the loss is "
    f"`{autocast_loss.dtype}`, **{autocast_loss.item():.4f}**; the pure-bfloat16 "
    f"model's own loss is `{bf16_loss.dtype}`, **{bf16_loss.item():.4f}**, and "
    f"with `.float()` it is **{float_loss.item():.4f}**. The float32 losses are "
    f"{abs(autocast_loss.item() - loss_64):.4f} from the float64 loss of the "
    f"float32 logits, {loss_64:.4f}, against {abs(bf16_loss.item() - loss_64):.4f} "
    f"for the bfloat16 loss: what is left is the logits' own rounding to "
    f"bfloat16. On those same bfloat16 logits celoss's float64 loss is "
    f"{rounded_64:.4f}, which the float32 losses match to float32's precision."
))

# %% [markdown]
# Check: autocast returns bfloat16 logits and a float32 loss (a bfloat16 one
# once the block is left); both float32
# losses agree with celoss's float64 loss of the same bfloat16 logits to
# float32's tolerance, and the pure-bfloat16 loss is a bfloat16 number.

# %%
assert autocast_logits.dtype == bf16_logits.dtype == torch.bfloat16
assert autocast_loss.dtype == float_loss.dtype == torch.float32
assert bf16_loss.dtype == after_block_loss.dtype == torch.bfloat16
np.testing.assert_array_equal(autocast_logits.float().numpy(),
                              bf16_logits.float().numpy())  # the same product
rtol, atol = TOLERANCES["float32"]
for loss in (autocast_loss, float_loss):
    np.testing.assert_allclose(loss.item(), rounded_64, rtol=rtol, atol=atol)
print("autocast's loss and logits.float()'s are float32, as celoss's in float64")

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
summary = [
    ("float16 overflow threshold", "`np.log(np.finfo(np.float16).max)`",
     f"{thresholds['float16']:.4f}"),
    ("float32 overflow threshold", "`np.log(np.finfo(np.float32).max)`",
     f"{thresholds['float32']:.4f}"),
    ("bfloat16 overflow threshold", "`torch.finfo(torch.bfloat16).max`",
     f"{thresholds['bfloat16']:.4f}"),
    ("float64 overflow threshold", "`np.log(np.finfo(np.float64).max)`",
     f"{thresholds['float64']:.4f}"),
    ("naive float32 log-sum-exp finite for", "`torch.logsumexp`",
     f"{naive_low:.1f} to {naive_high:.1f}"),
    ("float32 log(softmax) is -inf from", "`torch.log(torch.softmax(x))`",
     f"d = {first_inf:.1f}"),
    (f"loss step near ln V = {ln_v:.3f}, float16", "`np.spacing`", f"{step_float16:g}"),
    (f"loss step near ln V = {ln_v:.3f}, bfloat16", "`torch.bfloat16`",
     f"{step_bfloat16:g}"),
    ("GPT-2's first loss, bfloat16 logits, bfloat16 loss", "`F.cross_entropy`",
     f"{bf16_loss.item():.4f} ({bf16_loss.dtype})"),
    ("the same under `torch.autocast`, or with `logits.float()`",
     "`F.cross_entropy`, celoss in float64",
     f"{autocast_loss.item():.4f} ({autocast_loss.dtype})"),
]
display(Markdown(
    "| fact | computed with, checked against | value |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# Subtract the row maximum before `exp`; take logs with `log_softmax`, never
# `log(softmax)`; and compute the loss in float32, whatever the logits' type:
# `torch.autocast` does it for you if the loss is computed inside its block,
# and a model kept in bfloat16 calls
# `F.cross_entropy(logits.float(), y)`, since a 16-bit loss moves in the
# steps of the table. celoss's `softmax` and `log_softmax` do the first two, as
# PyTorch does; the [Verification](verification.md) page compares them with
# PyTorch in float16, float32 and float64 at every build. Next: [every PyTorch
# option](pytorch-options.py) of the loss.

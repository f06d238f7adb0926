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
# # At scale
#
# A language model's logits have one row per position and one column per
# token of its vocabulary, and at training sizes the textbook cross-entropy
# keeps several arrays that large: more memory than the rest of the output
# layer together. This page counts those bytes for real models, derives the
# online log-sum-exp that lets the loss and its gradient be computed a block
# at a time, measures celoss's fused path against the naive one and PyTorch,
# and ends with a PyTorch version for training loops that never builds the
# full logits at all.
#
# The symbols are PyTorch's ($N$, $C$, $x_{n,c}$, $y_n$, $w_c$), listed on the
# [home page](index.md); for a language model $C = V$, the vocabulary, and
# the $N = B \cdot T$ examples are the positions of $B$ sequences of $T$
# tokens, as in [Language models](language-models.py). Every value is
# computed and checked against PyTorch while the site builds; code that only
# draws figures or writes sentences is hidden, and the notebook download has
# every cell.

# %%
import functools
import itertools
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import celoss
import celoss.fused
import celoss.parity
from celoss.display import (
    ACCENT,
    CORRECT,
    OTHER,
    CodeTabs,
    FigureCounter,
    peak_memory,
    show_source,
    use_figure_style,
)

rng = np.random.default_rng(seed=5)  # NumPy's random numbers on this page
torch.manual_seed(5)  # and torch's
np.set_printoptions(precision=4, suppress=True, linewidth=72)
use_figure_style()
show_figure = FigureCounter()
code_tabs = CodeTabs()  # runs NumPy and PyTorch snippets, shows them as tabs

RTOL32, ATOL32 = celoss.TOLERANCES["float32"]  # celoss vs torch, float32
MiB, GiB = 2**20, 2**30


def gib(nbytes):
    """Bytes as GiB, for tables and sentences."""
    return f"{nbytes / GiB:,.2f} GiB"


# %% [markdown]
# ## 1. The memory arithmetic
#
# The logits of a batch are an array of shape $(B, T, V)$, one score per
# token of the vocabulary at each of $B \cdot T$ positions. At $b$ bytes per
# number it takes
#
# $$\text{bytes} = B \cdot T \cdot V \cdot b$$
#
# with $b = 4$ for float32 and $b = 2$ for bfloat16. The textbook backward
# holds four arrays of that shape at once: the logits, the log-softmax
# PyTorch saves for the backward, the gradient `nll_loss`'s backward hands
# to the log-softmax, and the logits' gradient (section 5 measures the two
# in the middle). The hidden states that
# produce the logits, $(B \cdot T, d)$ for a model of width $d$, are $V / d$
# times smaller.
#
# The inputs below are the vocabulary $V$ and width $d$ of three published
# models and a typical micro-batch for each ($B$ sequences of $T$ tokens, in
# the table): GPT-2 small as nanoGPT trains it (`config/train_gpt2.py`, per
# GPU), and Llama 3 8B and Gemma 7B with one sequence of the context length
# they were trained on.

# %%
MODELS = {  # V: vocabulary, d: width, B sequences of T tokens per micro-batch
    "GPT-2 small": {"V": 50_257, "d": 768, "B": 12, "T": 1024},
    "Llama 3 8B": {"V": 128_256, "d": 4096, "B": 1, "T": 8192},
    "Gemma 7B": {"V": 256_000, "d": 3072, "B": 1, "T": 8192},
}
ITEMSIZE = {"float32": 4, "bfloat16": 2}
# (N, V) arrays alive at once in F.cross_entropy's backward: logits, saved
# log-softmax, the gradient into the log-softmax, the logits' gradient.
ARRAYS_AT_PEAK = 4

arithmetic = {}
for name, m in MODELS.items():
    positions = m["B"] * m["T"]  # N = B * T
    arithmetic[name] = {
        "N": positions,
        "logits": {dtype: positions * m["V"] * size for dtype, size in ITEMSIZE.items()},
        "hidden": {dtype: positions * m["d"] * size for dtype, size in ITEMSIZE.items()},
        "weight": {dtype: m["V"] * m["d"] * size for dtype, size in ITEMSIZE.items()},
    }
    row = arithmetic[name]
    print(f"{name:>11}: N = {positions:>6,}  logits {gib(row['logits']['float32'])} "
          f"float32, {gib(row['logits']['bfloat16'])} bfloat16; "
          f"hidden states {gib(row['hidden']['bfloat16'])} bfloat16")

# %% tags=["remove-input"]
display(Markdown(
    "| model | $V$ | $d$ | $B \\times T = N$ | logits, float32 | logits, bfloat16 "
    "| the backward's (N, V) arrays, float32 | hidden states $(N, d)$, bfloat16 "
    "| $V / d$ |\n|---|---|---|---|---|---|---|---|---|\n"
    + "\n".join(
        f"| {name} | {m['V']:,} | {m['d']:,} | {m['B']} &times; {m['T']:,} = "
        f"{arithmetic[name]['N']:,} | {gib(arithmetic[name]['logits']['float32'])} | "
        f"{gib(arithmetic[name]['logits']['bfloat16'])} | "
        f"{gib(ARRAYS_AT_PEAK * arithmetic[name]['logits']['float32'])} | "
        f"{gib(arithmetic[name]['hidden']['bfloat16'])} | {m['V'] / m['d']:.0f} |"
        for name, m in MODELS.items())
))
llama = arithmetic["Llama 3 8B"]
display(Markdown(
    f"For Llama 3 8B, one sequence of {MODELS['Llama 3 8B']['T']:,} tokens has logits of "
    f"**{gib(llama['logits']['float32'])}** in float32; with the log-softmax and "
    f"the gradients the backward holds "
    f"**{gib(ARRAYS_AT_PEAK * llama['logits']['float32'])}**, "
    f"while the hidden states it starts from are "
    f"**{gib(llama['hidden']['bfloat16'])}** in bfloat16, "
    f"{llama['logits']['bfloat16'] / llama['hidden']['bfloat16']:.0f} times less "
    f"than the bfloat16 logits alone."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.9), layout="constrained")
parts = [
    ("hidden states (N, d), bfloat16", lambda row: row["hidden"]["bfloat16"], OTHER),
    ("output weight (V, d), bfloat16", lambda row: row["weight"]["bfloat16"], "#7f7f7f"),
    ("logits (N, V), float32", lambda row: row["logits"]["float32"], CORRECT),
    ("the backward's four (N, V) arrays, float32",
     lambda row: ARRAYS_AT_PEAK * row["logits"]["float32"], ACCENT),
]
names = list(MODELS)
height = 0.8 / len(parts)
for k, (label, size_of, color) in enumerate(parts):
    sizes = [size_of(arithmetic[name]) / GiB for name in names]
    positions = np.arange(len(names)) + (k - (len(parts) - 1) / 2) * height
    ax.barh(positions, sizes, height=height, color=color, label=label)
    for y, size in zip(positions, sizes, strict=True):
        ax.text(size * 1.08, y, f"{size:.2g}", va="center", fontsize=7)
ax.set_yticks(range(len(names)), [f"{n}\nN = {arithmetic[n]['N']:,}" for n in names])
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlim(right=ax.get_xlim()[1] * 3)
ax.set_xlabel("GiB (log scale)")
ax.grid(axis="x", alpha=0.3)
ax.grid(axis="y", visible=False)
ax.set_title("What one micro-batch's loss holds, against the layer it comes from")
fig.legend(frameon=False, fontsize=7, ncols=2, loc="outside lower center")
show_figure(
    fig, "memory-arithmetic",
    alt="Grouped horizontal bars in GiB on a log scale for GPT-2 small, Llama 3 8B and "
        "Gemma 7B. " + " ".join(
            f"{name}: hidden states {arithmetic[name]['hidden']['bfloat16'] / GiB:.3f}, "
            f"output weight {arithmetic[name]['weight']['bfloat16'] / GiB:.3f}, logits "
            f"{arithmetic[name]['logits']['float32'] / GiB:.2f}, the backward's "
            f"{ARRAYS_AT_PEAK} (N, V) arrays "
            f"{ARRAYS_AT_PEAK * arithmetic[name]['logits']['float32'] / GiB:.2f}."
            for name in names),
    caption="Bytes of one micro-batch, from <i>B</i> &middot; <i>T</i> &middot; "
            f"<i>V</i> &middot; bytes: the {ARRAYS_AT_PEAK} (<i>N</i>, <i>V</i>) arrays of the "
            "textbook loss (red) dwarf the hidden states and even the output weight.",
)

# %% [markdown]
# Check: torch computes the same sizes for tensors of these shapes. A tensor
# on PyTorch's `meta` device has a shape and a dtype but no storage, so even
# Gemma's logits can be "made" on this machine.

# %%
for name, m in MODELS.items():
    for dtype, torch_dtype in [("float32", torch.float32), ("bfloat16", torch.bfloat16)]:
        logits_meta = torch.empty((m["B"], m["T"], m["V"]), dtype=torch_dtype,
                                  device="meta")  # (B, T, V), no storage
        hidden_meta = torch.empty((m["B"], m["T"], m["d"]), dtype=torch_dtype,
                                  device="meta")  # (B, T, d)
        np.testing.assert_equal(logits_meta.numel() * logits_meta.element_size(),
                                arithmetic[name]["logits"][dtype])
        np.testing.assert_equal(hidden_meta.numel() * hidden_meta.element_size(),
                                arithmetic[name]["hidden"][dtype])
print("torch agrees on every size")

# %% [markdown]
# ## 2. Why the full softmax is the problem
#
# The loss of a row needs only two numbers from it: the log-sum-exp and the
# target's logit,
#
# $$l_n = \log \sum_{c=1}^{V} e^{x_{n,c}} - x_{n,y_n},$$
#
# but `F.cross_entropy` is `F.nll_loss(F.log_softmax(x))`: it writes the whole
# $(N, V)$ log-softmax, and autograd keeps it for the backward, where the
# gradient $p_{n,c} - [c = y_n]$ is another $(N, V)$ array. PyTorch can say
# what it keeps: `torch.autograd.graph.saved_tensors_hooks` sees every tensor
# saved for the backward. Here it watches a small output layer and its loss,
# once in float32 and once under bfloat16 autocast, as mixed-precision
# training runs it.

# %%
SMALL_N, SMALL_D, SMALL_V = 64, 16, 1000
small_hidden = torch.randn(SMALL_N, SMALL_D, requires_grad=True)  # (N, d)
small_weight = torch.randn(SMALL_V, SMALL_D, requires_grad=True)  # (V, d)
small_targets = torch.randint(0, SMALL_V, (SMALL_N,))  # (N,)


def saved_for_backward(autocast):
    """Each distinct tensor the loss saves for its backward: {shape: dtype}."""
    saved = {}

    def pack(tensor):
        saved[tensor.data_ptr()] = (tuple(tensor.shape), tensor.dtype)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        F.cross_entropy(small_hidden @ small_weight.T, small_targets)
    return dict(saved.values())


saved = {"float32": saved_for_backward(False),
         "bfloat16 autocast": saved_for_backward(True)}
for mode, tensors in saved.items():
    print(f"{mode}: " + ", ".join(f"{shape} {str(dtype).removeprefix('torch.')}"
                                  for shape, dtype in tensors.items()))

# %% tags=["remove-input"]
log_softmax_dtype = str(saved["bfloat16 autocast"][(SMALL_N, SMALL_V)]).removeprefix("torch.")
display(Markdown(
    f"Among the saved tensors is one of shape $(N, V)$ = ({SMALL_N}, {SMALL_V}): "
    f"the log-softmax. Under autocast the matrix product runs in bfloat16, but "
    f"`cross_entropy` is on autocast's float32 list, so its saved log-softmax is "
    f"**{log_softmax_dtype}**: 4 bytes a number even in mixed precision. At Llama 3 "
    f"8B's sizes (section 1) that one saved tensor is "
    f"**{gib(llama['logits']['float32'])}**."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 2.8))
labels = {(SMALL_N, SMALL_D): "hidden (N, d)", (SMALL_D, SMALL_V): "weight.T (d, V)",
          (SMALL_N, SMALL_V): "log-softmax (N, V)"}  # the 2-D tensors autograd saves
kept_bytes = {}
for k, (mode, tensors) in enumerate(saved.items()):
    shown = [(labels[shape], np.prod(shape, dtype=int) * dtype.itemsize)
             for shape, dtype in tensors.items() if len(shape) == 2]
    kept_bytes[mode] = shown
    ax.barh([y + 0.4 * k for y in range(len(shown))], [b / 1024 for _, b in shown],
            height=0.38, color=[CORRECT, ACCENT][k], label=mode)
ax.set_yticks([y + 0.2 for y in range(len(kept_bytes["float32"]))],
              [label for label, _ in kept_bytes["float32"]])
ax.invert_yaxis()
ax.set_xlabel("KiB saved for the backward")
ax.grid(axis="x", alpha=0.3)
ax.grid(axis="y", visible=False)
ax.set_title(f"What F.cross_entropy(hidden @ weight.T) keeps, N = {SMALL_N}, "
             f"d = {SMALL_D}, V = {SMALL_V}")
ax.legend(frameon=False, fontsize=8, loc="upper right")
show_figure(
    fig, "saved-tensors",
    alt="Bars of the kilobytes each two-dimensional tensor saved for the backward takes, "
        "in float32 and under bfloat16 autocast: " + "; ".join(
            f"{mode}: " + ", ".join(f"{label} {b / 1024:.0f} KiB" for label, b in shown)
            for mode, shown in kept_bytes.items()) + ".",
    caption="Tensors autograd saves for the backward of a linear layer and its loss, "
            "as <code>saved_tensors_hooks</code> reports them: the (<i>N</i>, <i>V</i>) "
            "log-softmax is the largest, and stays float32 under autocast.",
)

# %% [markdown]
# Check: the saved log-softmax is the one section 1 counts, $N \cdot V \cdot 4$
# bytes, in float32 both times, and it is `F.log_softmax` of the logits.

# %%
for mode, tensors in saved.items():
    assert tensors[(SMALL_N, SMALL_V)] == torch.float32, mode
    shape_bytes = SMALL_N * SMALL_V * ITEMSIZE["float32"]
    assert dict(kept_bytes[mode])["log-softmax (N, V)"] == shape_bytes
with torch.no_grad():
    small_logits = (small_hidden @ small_weight.T).numpy()  # (N, V)
np.testing.assert_allclose(celoss.log_softmax(small_logits, axis=1),
                           F.log_softmax(torch.from_numpy(small_logits), dim=1).numpy(),
                           rtol=RTOL32, atol=ATOL32)
print(f"saved log-softmax: {SMALL_N} x {SMALL_V} x 4 = {shape_bytes:,} bytes")

# %% [markdown]
# ## 3. The online log-sum-exp
#
# The log-sum-exp needs the row's maximum $m$ first, to keep every exponent at
# or below 0: $\log \sum_c e^{x_c} = m + \log \sum_c e^{x_c - m}$. Read
# naively, that is two passes over the row, one for $m$ and one for the sum.
# Milakov and Gimelshein (2018, "Online normalizer calculation for softmax",
# arXiv:1805.02867) do it in one: cut the row into tiles $T_1, \dots, T_K$
# and keep a running maximum $m_k$ and a running sum $d_k$. When a tile
# raises the maximum, the sum so far is rescaled to the new one:
#
# $$m_k = \max\Big(m_{k-1}, \max_{c \in T_k} x_c\Big), \qquad
# d_k = d_{k-1}\, e^{m_{k-1} - m_k} + \sum_{c \in T_k} e^{x_c - m_k},$$
#
# from $m_0 = -\infty$ and $d_0 = 0$.
#
# **Claim**: after tile $k$, $d_k = \sum_{c \in T_1 \cup \dots \cup T_k}
# e^{x_c - m_k}$. **Proof** by induction on $k$. For $k = 1$ the first term
# is $0$ and the second is the claim. If it holds for $k - 1$, then
#
# $$d_{k-1}\, e^{m_{k-1} - m_k}
# = \sum_{c \in T_1 \cup \dots \cup T_{k-1}} e^{x_c - m_{k-1}}\, e^{m_{k-1} - m_k}
# = \sum_{c \in T_1 \cup \dots \cup T_{k-1}} e^{x_c - m_k},$$
#
# and adding tile $k$'s own terms gives the claim for $k$. So after the last
# tile $\log \sum_c e^{x_c} = m_K + \log d_K$. No exponent is ever positive,
# since $m_k$ is at least every logit seen so far and at least $m_{k-1}$:
# the sum cannot overflow, whatever the logits.
#
# celoss's version works on a block of rows at once, and keeps each tile's
# exponentials for the gradient (section 4) when it is given a full-width
# array for them. It starts from the most negative finite float instead of
# $-\infty$, so that a row whose first tiles are all $-\infty$ (masked
# tokens) never computes $-\infty - (-\infty)$:

# %%
show_source(celoss.fused.online_logsumexp)

# %% [markdown]
# Rows cut into tiles of `TILE` columns, each a case that matters: ordinary logits, a
# maximum that only comes in the last tile, a first tile of $-\infty$, logits
# near 1000 whose exponentials would overflow, and a row of $-\infty$ only,
# whose log-sum-exp is $-\infty$ (the $\log 0$ is on purpose, inside
# `np.errstate`).

# %%
TILE = 6
rows = rng.normal(size=(5, 20)).astype(np.float32)  # (R, V): 20 = 6 + 6 + 6 + 2
rows[1, -1] = 40.0  # the maximum comes in the last tile
rows[2, :TILE] = -np.inf  # a whole first tile masked
rows[3] += 1000.0  # e^x overflows float32 beyond 88.7
rows[4] = -np.inf  # every class masked
with np.errstate(divide="ignore"):  # log 0 = -inf for the masked row
    online_lse, tile_maxima, online_sum = celoss.fused.online_logsumexp(
        rows, np.empty((5, TILE), np.float32), tile=TILE)  # (R, 1), K x (R, 1), (R, 1)
    library_lse = celoss.logsumexp(rows, axis=1)  # (R,): max first, then one sum
print("online log-sum-exp:", online_lse.ravel())
print("celoss.logsumexp:  ", library_lse)
print("running maximum after each tile:", np.hstack(tile_maxima), sep="\n")

# %% tags=["remove-input"]
# One row of 48 logits in 8 tiles: the running maximum and sum after each tile,
# from online_logsumexp on ever longer prefixes of the row.
row = rng.normal(size=48).astype(np.float32)  # (V,)
row[[9, 30, 45]] = [2.5, 3.5, 5.0]  # the maximum rises three times
prefix_ends = list(range(TILE, row.size + 1, TILE))
running = [celoss.fused.online_logsumexp(row[None, :end], np.empty((1, TILE), np.float32),
                                         tile=TILE) for end in prefix_ends]
running_max = np.array([shifts[-1].item() for _, shifts, _ in running])  # (K,)
running_sum = np.array([total.item() for _, _, total in running])  # (K,)
final_lse = running[-1][0].item()
fig, (ax_row, ax_sum) = plt.subplots(1, 2, figsize=(7.4, 2.9))
for k, end in enumerate(prefix_ends):
    if k % 2 == 0:
        ax_row.axvspan(end - TILE - 0.5, end - 0.5, color=OTHER, alpha=0.25, lw=0)
ax_row.scatter(np.arange(row.size), row, s=9, color=CORRECT, label="logits $x_c$")
ax_row.step(np.array(prefix_ends) - 0.5, running_max, where="pre", color=ACCENT,
            label="running maximum $m_k$")
ax_row.set_xlabel(f"class c (tiles of {TILE} shaded in turn)")
ax_row.set_title("The running maximum $m_k$")
ax_row.legend(frameon=False, fontsize=7, loc="upper left")
ax_sum.bar(np.arange(1, len(prefix_ends) + 1), running_sum, color=CORRECT)
for k in range(1, len(prefix_ends)):
    if running_max[k] > running_max[k - 1]:
        ax_sum.annotate(f"$\\times e^{{{running_max[k - 1] - running_max[k]:.2f}}}$",
                        (k + 1, running_sum[k]), xytext=(0, 4), textcoords="offset points",
                        ha="center", fontsize=8, color=ACCENT)
ax_sum.set_xlabel("after tile k")
ax_sum.set_title("The running sum $d_k$")
show_figure(
    fig, "online-normaliser",
    alt=f"Left: {row.size} logits in {row.size // TILE} tiles of {TILE} with the "
        f"running maximum as a step line, "
        f"rising to {running_max[-1]:.2f}; values after each tile: "
        f"{', '.join(f'{v:.2f}' for v in running_max)}. Right: bars of the running sum "
        f"after each tile: {', '.join(f'{v:.2f}' for v in running_sum)}; where the "
        f"maximum rises, the sum so far is multiplied by e to the old minus the new "
        f"maximum. The log-sum-exp is {final_lse:.4f}.",
    caption="The online normaliser on one row. When the running maximum rises, the sum "
            "so far is multiplied by <i>e</i><sup><i>m</i><sub><i>k</i>&minus;1</sub> "
            "&minus; <i>m</i><sub><i>k</i></sub></sup> &lt; 1 (shown in red) before the "
            "tile's own terms are added, so every term stays "
            f"at most 1; after the last tile, <i>m</i> + log <i>d</i> = {final_lse:.4f}.",
)

# %% [markdown]
# Check: the online log-sum-exp equals `torch.logsumexp` on every row, the
# masked ones included, and on the figure's row, and so does `celoss.logsumexp`;
# its last running maximum is the row's maximum.

# %%
torch_lse = torch.logsumexp(torch.from_numpy(rows), dim=1).numpy()  # (R,)
np.testing.assert_allclose(online_lse.ravel(), torch_lse, rtol=RTOL32, atol=ATOL32)
np.testing.assert_allclose(library_lse, torch_lse, rtol=RTOL32, atol=ATOL32)
np.testing.assert_array_equal(tile_maxima[-1].ravel()[:4], rows[:4].max(axis=1))
np.testing.assert_allclose(final_lse, torch.logsumexp(torch.from_numpy(row), 0).item(),
                           rtol=RTOL32, atol=ATOL32)
print("torch.logsumexp:   ", torch_lse)

# %% [markdown]
# ## 4. The fused gradient
#
# The gradient of the loss needs the softmax $p_{n,c} = e^{x_{n,c} - m_n} /
# d_n$, and the exponentials $e^{x_{n,c} - m^{(k)}_n}$ are already there: the
# online pass wrote them, tile by tile, into the rows of the gradient array
# itself. One factor per tile, $e^{m^{(k)}_n - m_n} / d_n$, turns them into
# probabilities in place, and the target's entry loses 1. With the scale
# $s_n$ ($1 / D$ for the mean, where $D$ is the total target weight
# $\sum_n w_{y_n}$ of the rows not ignored, their count without weights;
# $1$ for the sum; $0$ for an ignored row), class weights $w_c$ with total
# $w_\Sigma = \sum_c w_c$ and label smoothing $\varepsilon$, the gradient
# `celoss.fused.fused_block` writes is
#
# $$\frac{\partial \ell}{\partial x_{n,c}} = s_n \Big(
# \big((1 - \varepsilon) w_{y_n} + \tfrac{\varepsilon}{C} w_\Sigma\big) p_{n,c}
# - (1 - \varepsilon) w_{y_n} [c = y_n] - \tfrac{\varepsilon}{C} w_c \Big),$$
#
# which is $s_n (p_{n,c} - [c = y_n])$ without weights or smoothing. The
# loss comes from the same pass, so the logits are read once from memory,
# one cache-sized block of rows at a time. Here is the block step:

# %%
show_source(celoss.fused.fused_block)

# %% [markdown]
# `celoss.fused_cross_entropy` shares the blocks among threads and, with
# `out=`, writes the gradient into the caller's array, so a training loop
# that reuses one buffer allocates nothing of size $(N, V)$. Each option set
# below runs on float32 logits, and the last has rows of `WIDE_V` classes,
# wider than one block, so each row is cut into tiles merged by the online
# log-sum-exp.

# %%
FUSED_N, FUSED_V = 64, 2000
fused_logits = rng.normal(scale=2.0, size=(FUSED_N, FUSED_V)).astype(np.float32)
fused_targets = rng.integers(0, FUSED_V, size=FUSED_N)  # (N,)
fused_targets[::7] = -100  # every seventh position is padding
class_weight = rng.uniform(0.5, 2.0, size=FUSED_V).astype(np.float32)  # (V,)
WIDE_V = 300_000  # a float32 row wider than one block (celoss.fused.BLOCK_BYTES)
wide_logits = rng.normal(scale=2.0, size=(3, WIDE_V)).astype(np.float32)  # (3, V)
wide_targets = np.array([0, 150_000, 299_999])
padded_as_7 = np.where(fused_targets == -100, 7, fused_targets)  # class 7 as padding
OPTION_SETS = {  # label: (logits, targets, options)
    "mean": (fused_logits, fused_targets, {}),
    "sum": (fused_logits, fused_targets, {"reduction": "sum"}),
    "none": (fused_logits, fused_targets, {"reduction": "none"}),
    "weight": (fused_logits, fused_targets, {"weight": class_weight}),
    "ignore_index=7": (fused_logits, padded_as_7, {"ignore_index": 7}),
    "label_smoothing=0.1": (fused_logits, fused_targets, {"label_smoothing": 0.1}),
    "all, sum": (fused_logits, fused_targets,
                 {"weight": class_weight, "label_smoothing": 0.1, "reduction": "sum"}),
    f"V = {WIDE_V:,}": (wide_logits, wide_targets, {}),
}


def torch_loss_and_grad(logits, targets, options):
    """F.cross_entropy and its autograd gradient (of the sum for "none")."""
    x = torch.from_numpy(logits).requires_grad_(True)  # (N, V)
    torch_options = {**options}
    if "weight" in options:
        torch_options["weight"] = torch.from_numpy(options["weight"])
    loss = F.cross_entropy(x, torch.from_numpy(targets), **torch_options)
    (loss.sum() if options.get("reduction") == "none" else loss).backward()
    return loss.detach().numpy(), x.grad.numpy()


fused_results = {}
for label, (x, y, options) in OPTION_SETS.items():
    grad_buffer = np.empty_like(x)  # (N, V): the caller's array
    loss, grad = celoss.fused_cross_entropy(x, y, return_grad=True, out=grad_buffer,
                                            **options)
    assert grad is grad_buffer  # written in place, nothing else of size (N, V)
    fused_results[label] = (x, y, options, loss, grad)
    shown = f"losses[1:4] {np.round(loss[1:4], 4)}" if loss.ndim else f"loss {float(loss):.6f}"
    print(f"{label:>20}: {shown}, largest |gradient| {np.abs(grad).max():.6f}")

# %% [markdown]
# Check: each loss and gradient against `F.cross_entropy` and autograd, with
# float32's tolerance from `celoss.TOLERANCES`. The figure shows how much of
# that tolerance each one uses.

# %%
fused_errors = {}
for label, (x, y, options, loss, grad) in fused_results.items():
    torch_loss, torch_grad = torch_loss_and_grad(x, y, options)
    np.testing.assert_allclose(loss, torch_loss, rtol=RTOL32, atol=ATOL32, err_msg=label)
    np.testing.assert_allclose(grad, torch_grad, rtol=RTOL32, atol=ATOL32, err_msg=label)
    fused_errors[label] = [  # worst |ours - torch| / (atol + rtol |torch|), loss and grad
        float(np.max(np.abs(ours - theirs) / (ATOL32 + RTOL32 * np.abs(theirs))))
        for ours, theirs in [(loss, torch_loss), (grad, torch_grad)]]
print("fused loss and gradient agree with torch for", len(fused_errors), "option sets")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
labels = list(fused_errors)
used = np.array(list(fused_errors.values()))  # (sets, 2)
floor = 1e-4  # an exact match is drawn at the floor
for k, (name, color) in enumerate([("loss", CORRECT), ("gradient", ACCENT)]):
    ax.bar(np.arange(len(labels)) + (k - 0.5) * 0.38, np.maximum(used[:, k], floor),
           width=0.38, color=color, label=name)
ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="float32 tolerance")
ax.set_yscale("log")
ax.set_ylim(floor, 3)
ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
ax.set_ylabel("share of the tolerance used")
ax.set_title("celoss.fused_cross_entropy against F.cross_entropy + autograd, float32")
ax.legend(frameon=False, fontsize=8, ncols=3, loc="upper left")
show_figure(
    fig, "fused-agreement",
    alt="Bars on a log scale of the largest difference from torch divided by the "
        "float32 tolerance, for the loss and the gradient of each option set: "
        + "; ".join(f"{label}: loss {a:.3f}, gradient {b:.3f}"
                    for label, (a, b) in fused_errors.items())
        + ". Every bar is below the tolerance line at 1.",
    caption="The largest difference from PyTorch of each fused loss and gradient, as a "
            "share of float32's tolerance (atol + rtol &middot; |torch|); an exact "
            "match sits on the floor.",
)

# %% [markdown]
# ## 5. Measured: time and memory against V
#
# Three ways to get the loss and its gradient of `SWEEP_N` float32 rows, as
# the vocabulary grows over `SWEEP_V` (the figure gives both): the naive NumPy route,
# `celoss.cross_entropy` then `celoss.cross_entropy_grad`, each materialising
# its log-softmax or softmax; `celoss.fused_cross_entropy(...,
# return_grad=True)`; and PyTorch's `F.cross_entropy` forward and backward at
# its default thread count. Time is the median of three calls. Memory is
# measured in this process by `celoss.display.peak_memory`, from Linux's
# peak-resident mark, and counts what a call holds beyond its inputs and the
# gradient it returns:
#
# $$\text{extra} = \text{peak resident} - \text{resident before} -
# \underbrace{N \cdot V \cdot 4}_{\text{returned gradient}}$$

# %%
show_source(peak_memory)

# %%
SWEEP_N = 128
SWEEP_V = [2**k for k in range(10, 17)]  # 1,024 ... 65,536
REPEATS = 3


def naive(x, y):
    return celoss.cross_entropy(x, y), celoss.cross_entropy_grad(x, y)


def fused(x, y):
    return celoss.fused_cross_entropy(x, y, return_grad=True)


def pytorch(x, y):
    leaf = torch.from_numpy(x).requires_grad_(True)  # shares the NumPy memory
    loss = F.cross_entropy(leaf, torch.from_numpy(y))
    loss.backward()
    return loss.detach().numpy(), leaf.grad.numpy()


METHODS = {"naive NumPy": naive, "celoss fused": fused, "torch": pytorch}
seconds = {name: [] for name in METHODS}
extra_mib = {name: [] for name in METHODS}
sweep_results = {}
for V in SWEEP_V:
    x = rng.standard_normal((SWEEP_N, V), dtype=np.float32)  # (N, V)
    y = rng.integers(0, V, size=SWEEP_N)  # (N,)
    for name, method in METHODS.items():
        (loss, grad), extra = peak_memory(functools.partial(method, x, y))
        extra_mib[name].append((extra - grad.nbytes) / MiB)
        sweep_results[name, V] = (loss, grad)
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            method(x, y)
            times.append(time.perf_counter() - start)
        seconds[name].append(float(np.median(times)))
logits_mib = [SWEEP_N * V * 4 / MiB for V in SWEEP_V]  # one (N, V) float32 array
print(f"{'V':>7} " + " ".join(f"{name:>26}" for name in METHODS))
for i, V in enumerate(SWEEP_V):
    print(f"{V:>7,} " + " ".join(
        f"{seconds[name][i] * 1e3:9.2f} ms {extra_mib[name][i]:9.2f} MiB"
        for name in METHODS))

# %% tags=["remove-input"]
top = len(SWEEP_V) - 1
t = {name: seconds[name][top] * 1e3 for name in METHODS}
mem = {name: extra_mib[name][top] for name in METHODS}
# The kernel counts resident pages in batches: below 1 MiB the figure is noise.
resolved = mem["celoss fused"] >= 1
fused_mib = f"{mem['celoss fused']:.0f} MiB" if resolved else "less than 1 MiB"
display(Markdown(
    f"At $V$ = {SWEEP_V[top]:,}, where one $(N, V)$ float32 array is "
    f"{logits_mib[top]:.0f} MiB, the naive route took **{t['naive NumPy']:.0f} ms** "
    f"and held **{mem['naive NumPy']:.0f} MiB** beyond its inputs and gradient "
    f"({mem['naive NumPy'] / logits_mib[top]:.1f} arrays of that size), PyTorch "
    f"**{t['torch']:.0f} ms** and **{mem['torch']:.0f} MiB** "
    f"({mem['torch'] / logits_mib[top]:.1f} arrays of that size), and the fused path "
    f"**{t['celoss fused']:.0f} ms** and **{fused_mib}**"
    f"{'' if resolved else ', below what the measurement resolves'}: its exponentials "
    f"go straight into the gradient it returns, and what else it holds is a few numbers "
    f"per row and, without a gradient to write into, one cache-sized block per thread. "
    f"The times were measured while this page was built, on whatever else the "
    f"machine was doing; the memory does not depend on that. "
    f"`benchmarks/bench_fused.py` measures a language model's full size, with "
    f"interleaved runs and each peak in a fresh process: "
    f"`python benchmarks/bench_fused.py`."
))

# %% tags=["remove-input"]
fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(7.6, 3.1))
styles = {"naive NumPy": (OTHER, "s"), "celoss fused": (CORRECT, "o"), "torch": (ACCENT, "^")}
for name in METHODS:
    color, marker = styles[name]
    ax_time.plot(SWEEP_V, np.array(seconds[name]) * 1e3, color=color, marker=marker,
                 markersize=4, label=name)
    ax_mem.plot(SWEEP_V, np.maximum(extra_mib[name], 0.01), color=color, marker=marker,
                markersize=4, label=name)
ax_mem.plot(SWEEP_V, logits_mib, color="black", linestyle="--", linewidth=1,
            label="one (N, V) array")
for ax, title, unit in [(ax_time, "Time, loss + gradient", "ms"),
                        (ax_mem, "Peak extra memory", "MiB")]:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(f"vocabulary V (N = {SWEEP_N}, float32)")
    ax.set_ylabel(unit)
    ax.set_title(title)
ax_time.legend(frameon=False, fontsize=7)
ax_mem.legend(frameon=False, fontsize=7)
show_figure(
    fig, "measured",
    alt=f"Two log-log plots against V from {SWEEP_V[0]:,} to {SWEEP_V[-1]:,} at N = "
        f"{SWEEP_N}. Left, time in milliseconds at the largest V: naive NumPy "
        f"{t['naive NumPy']:.1f}, fused {t['celoss fused']:.1f}, torch {t['torch']:.1f}. "
        f"Right, peak extra memory in MiB at the largest V: naive NumPy "
        f"{mem['naive NumPy']:.1f}, fused {fused_mib}, torch "
        f"{mem['torch']:.1f}, against {logits_mib[top]:.0f} MiB for one (N, V) array.",
    caption=f"Loss and gradient of <i>N</i> = {SWEEP_N} float32 rows, measured while this page "
            "was built. Time grows with <i>V</i> for all three; the extra memory of the "
            "naive route and of PyTorch grows with it too, in whole (<i>N</i>, <i>V</i>) "
            "arrays (dashed), while the fused path's stays flat.",
)

# %% [markdown]
# Check: at every $V$ all three computed the same loss and gradient as torch,
# and the fused path held less than a quarter of what PyTorch held at the
# largest $V$ (a generous margin: memory, unlike time, hardly varies between
# runs).

# %%
for V in SWEEP_V:
    torch_loss, torch_grad = sweep_results["torch", V]
    for name in ("naive NumPy", "celoss fused"):
        loss, grad = sweep_results[name, V]
        np.testing.assert_allclose(loss, torch_loss, rtol=RTOL32, atol=ATOL32)
        np.testing.assert_allclose(grad, torch_grad, rtol=RTOL32, atol=ATOL32)
assert extra_mib["celoss fused"][top] < extra_mib["torch"][top] / 4
print("every method agrees with torch at every V")

# %% [markdown]
# ## 6. A PyTorch version for training loops
#
# In a model, the logits are themselves computed: $x = h W^\top$ from the
# last hidden states $h$, $(N, d)$, and the output layer's weight $W$,
# $(V, d)$. Training needs the gradients with respect to $h$ and $W$, not the
# logits, so the logits need never exist all at once. With $g_n = s_n (p_n -
# e_{y_n})$ the gradient of row $n$'s logits (section 4; $e_{y_n}$ is the
# one-hot vector of the target, 1 at $y_n$ and 0 elsewhere),
#
# $$\frac{\partial \ell}{\partial h_n} = W^\top g_n, \qquad
# \frac{\partial \ell}{\partial W} = \sum_n g_n h_n^\top,$$
#
# and both can be accumulated a chunk of rows at a time.
# `celoss.parity.chunked_linear_cross_entropy` does this as a
# `torch.autograd.Function`: its forward runs over the chunks, computes each
# chunk's logits, loss and both gradients, and drops the logits; it keeps the
# two gradients, $(N, d)$ and $(V, d)$, and its backward only scales them by
# the gradient that flows in. The chunk loop, in PyTorch, turning one chunk's
# logits into their gradient in place:

# %%
show_source(celoss.parity.chunked_loss_and_grads)

# %% [markdown]
# The `autograd.Function` around it, made when first used so that
# `import celoss` never imports torch (`celoss.parity` is the one module that
# may):

# %%
show_source(celoss.parity.chunked_function)

# %% [markdown]
# It supports reductions `"mean"` and `"sum"` and `ignore_index`; it does not
# support class weights, label smoothing, `reduction="none"`, probability
# targets, a bias, or a second derivative. The same output layer and loss in
# NumPy, with the fused path writing into a buffer a training loop would
# allocate once, and in PyTorch with the chunked function; both run on this
# page, on the same $h$, $W$ and targets. They are not equal in memory: the
# NumPy side makes the full $(N, V)$ logits and its gradient buffer (the fused
# path avoids an $(N, V)$ log-softmax, but the logits themselves are that
# size), while the chunked PyTorch side never has more than one chunk of them:

# %%
LM_N, LM_D, LM_V = 300, 32, 5000
lm_hidden = rng.normal(size=(LM_N, LM_D)).astype(np.float32)  # (N, d)
lm_weight = (rng.normal(size=(LM_V, LM_D)) / np.sqrt(LM_D)).astype(np.float32)  # (V, d)
lm_targets = rng.integers(0, LM_V, size=LM_N)  # (N,)
lm_targets[-40:] = -100  # padding at the end of the batch
lm_logits = lm_hidden @ lm_weight.T  # (N, V), for the NumPy side only

# %% tags=["remove-input"]
NUMPY_SNIPPET = """\
grad_buffer = np.empty_like(lm_logits)  # once
loss_np, grad_np = celoss.fused_cross_entropy(
    lm_logits, lm_targets, return_grad=True,
    out=grad_buffer)  # (N, V), in place
grad_hidden_np = grad_np @ lm_weight  # (N, d)
grad_weight_np = grad_np.T @ lm_hidden  # (V, d)
print(f"{float(loss_np):.6f}")
"""
TORCH_SNIPPET = """\
from celoss.parity import chunked_linear_cross_entropy

h = torch.tensor(lm_hidden, requires_grad=True)
W = torch.tensor(lm_weight, requires_grad=True)
loss_pt = chunked_linear_cross_entropy(
    h, W, torch.from_numpy(lm_targets),
    chunk_rows=128)  # never (N, V) at once
loss_pt.backward()  # h.grad (N, d), W.grad (V, d)
print(f"{loss_pt.item():.6f}")
"""
snippets = dict(globals())  # both run here, in a namespace of their own
code_tabs([("NumPy", NUMPY_SNIPPET), ("PyTorch", TORCH_SNIPPET)], snippets)
h, W, loss_pt = snippets["h"], snippets["W"], snippets["loss_pt"]

# %% [markdown]
# Its memory against `F.cross_entropy(hidden @ weight.T, targets)` with
# autograd, forward and backward, for `CHUNK_N` rows of width `CHUNK_D` in
# chunks of `CHUNK_ROWS` rows (set below), measured as in section 5 but without subtracting the
# returned gradients, (N, d) and (V, d), the same for both:

# %%
CHUNK_N, CHUNK_D, CHUNK_ROWS = 1024, 64, 128
CHUNK_V = [4096, 8192, 16384, 32768]


def unchunked_loss(hidden, weight, targets, reduction="mean"):
    return F.cross_entropy(hidden @ weight.T, targets, reduction=reduction)  # (N, V) logits


def chunked_loss(hidden, weight, targets, reduction="mean"):
    return celoss.parity.chunked_linear_cross_entropy(
        hidden, weight, targets, chunk_rows=CHUNK_ROWS, reduction=reduction)


def leaves(*tensors):
    """Copies that autograd tracks, made before a measurement starts."""
    return [tensor.clone().requires_grad_(True) for tensor in tensors]


def training_step(loss_of, hidden, weight, targets, reduction="mean"):
    """Forward and backward: the loss and the gradients of hidden and weight."""
    loss = loss_of(hidden, weight, targets, reduction)
    loss.backward()
    return [loss.detach().numpy(), hidden.grad.numpy(), weight.grad.numpy()]


LOSSES = {"F.cross_entropy + autograd": unchunked_loss, "chunked": chunked_loss}
chunk_mib = {name: [] for name in LOSSES}
chunk_inputs, chunk_results = {}, {}
for V in CHUNK_V:
    hidden_t = torch.randn(CHUNK_N, CHUNK_D)  # (N, d)
    weight_t = torch.randn(V, CHUNK_D) / CHUNK_D**0.5  # (V, d)
    targets_t = torch.randint(0, V, (CHUNK_N,))  # (N,)
    chunk_inputs[V] = (hidden_t, weight_t, targets_t)
    for name, loss_of in LOSSES.items():
        step = functools.partial(training_step, loss_of, *leaves(hidden_t, weight_t),
                                 targets_t)
        chunk_results[name, V], extra = peak_memory(step)
        chunk_mib[name].append(extra / MiB)
for i, V in enumerate(CHUNK_V):
    print(f"V = {V:>6,}: " + ", ".join(f"{name} {mib[i]:7.1f} MiB"
                                       for name, mib in chunk_mib.items()))

# %% tags=["remove-input"]
saving = chunk_mib["F.cross_entropy + autograd"][-1] / chunk_mib["chunked"][-1]
chunk_logits_mib = [CHUNK_N * V * 4 / MiB for V in CHUNK_V]
display(Markdown(
    f"At $V$ = {CHUNK_V[-1]:,}, the logits alone would be {chunk_logits_mib[-1]:.0f} MiB. "
    f"`F.cross_entropy` with autograd held "
    f"**{chunk_mib['F.cross_entropy + autograd'][-1]:.0f} MiB** at its peak, the chunked "
    f"function **{chunk_mib['chunked'][-1]:.0f} MiB**: {saving:.1f} times less. It "
    f"holds one chunk's logits, {CHUNK_ROWS} &times; {CHUNK_V[-1]:,} &times; 4 bytes "
    f"= {CHUNK_ROWS * CHUNK_V[-1] * 4 / MiB:.0f} MiB, and a few arrays the size of the "
    f"weight, {CHUNK_V[-1] * CHUNK_D * 4 / MiB:.0f} MiB each (its gradient, kept for "
    f"the backward, and that gradient times the incoming one): smaller chunks, less "
    f"memory, and more, smaller matrix products."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
for (name, mib), color, marker in zip(chunk_mib.items(), [ACCENT, CORRECT], ["^", "o"],
                                      strict=True):
    ax.plot(CHUNK_V, mib, color=color, marker=marker, markersize=4, label=name)
ax.plot(CHUNK_V, chunk_logits_mib, color="black", linestyle="--", linewidth=1,
        label="one (N, V) float32 array")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel(f"vocabulary V (N = {CHUNK_N}, d = {CHUNK_D}, chunks of {CHUNK_ROWS} rows)")
ax.set_ylabel("peak extra MiB")
ax.set_title("Linear layer + cross-entropy, forward and backward")
ax.legend(frameon=False, fontsize=8)
show_figure(
    fig, "chunked-memory",
    alt=f"Peak extra memory in MiB against V from {CHUNK_V[0]:,} to {CHUNK_V[-1]:,}, "
        f"log-log. F.cross_entropy with autograd: "
        f"{', '.join(f'{v:.0f}' for v in chunk_mib['F.cross_entropy + autograd'])}; "
        f"chunked: {', '.join(f'{v:.1f}' for v in chunk_mib['chunked'])}; one (N, V) "
        f"array: {', '.join(f'{v:.0f}' for v in chunk_logits_mib)}.",
    caption=f"Peak memory of one training step of the output layer. Autograd keeps "
            f"several (<i>N</i>, <i>V</i>) arrays; the chunked function, {saving:.1f} times "
            f"less at the largest <i>V</i>, one chunk's logits and the weight's gradient.",
)

# %% [markdown]
# Check: the snippet's chunked loss and both gradients against the same
# model through `F.cross_entropy(h @ W.T)` and autograd, and against the
# fused NumPy path; each measured step above against autograd's; and, with
# every fifth row ignored, both reductions.
#
# The gradients of an output layer are sums of many products: each entry of
# $\partial \ell / \partial h$ sums $V$ of them. The two paths add them in
# other orders (one chunk's product at a time, or one large product whose
# threads split the sum differently from run to run), and in float32 each
# order rounds differently, by about $\sqrt{V}$ roundings. So each float32
# gradient is compared as a whole: the norm of the difference, relative to
# the norm of autograd's gradient, must stay within $4 \sqrt{V}$ float32
# roundings, $4 \sqrt{V}\, \varepsilon_{32}$ (a row or a chunk left out would
# be off by a whole row's share). The same steps are also made in float64 (at
# the two smaller $V$, and with rows ignored), where the two paths must agree
# entry by entry to float64's tolerance.

# %%
RTOL64, ATOL64 = celoss.TOLERANCES["float64"]


def assert_step_agrees(ours, theirs, num_classes):
    """Loss, d hidden, d weight of two training steps (float32 gradients as a whole)."""
    float32 = ours[0].dtype == np.float32
    rtol, atol = (RTOL32, ATOL32) if float32 else (RTOL64, ATOL64)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=atol)  # the loss
    for a, b in zip(ours[1:], theirs[1:], strict=True):  # the two gradients
        if float32:
            relative = np.linalg.norm(a - b) / np.linalg.norm(b)
            bound = 4 * np.sqrt(num_classes) * np.finfo(np.float32).eps
            assert relative <= bound, f"relative difference {relative:.2e} > {bound:.2e}"
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


h_ref = torch.tensor(lm_hidden, requires_grad=True)  # (N, d)
W_ref = torch.tensor(lm_weight, requires_grad=True)  # (V, d)
loss_ref = F.cross_entropy(h_ref @ W_ref.T, torch.from_numpy(lm_targets))
loss_ref.backward()
reference = [loss_ref.detach().numpy(), h_ref.grad.numpy(), W_ref.grad.numpy()]
assert_step_agrees([loss_pt.detach().numpy(), h.grad.numpy(), W.grad.numpy()], reference, LM_V)
assert_step_agrees([np.float32(snippets["loss_np"]), snippets["grad_hidden_np"],
                    snippets["grad_weight_np"]], reference, LM_V)
for V in CHUNK_V:  # the measured float32 steps
    assert_step_agrees(chunk_results["chunked", V],
                       chunk_results["F.cross_entropy + autograd", V], V)
for V in CHUNK_V[:2]:  # the same steps in float64 (the two smaller sizes: a faster build)
    hidden_t, weight_t, targets_t = chunk_inputs[V]
    theirs, ours = (training_step(loss_of, *leaves(hidden_t.double(), weight_t.double()),
                                  targets_t) for loss_of in LOSSES.values())
    assert_step_agrees(ours, theirs, V)
hidden_t, weight_t, targets_t = chunk_inputs[CHUNK_V[0]]
some_ignored = targets_t.clone()
some_ignored[::5] = -100
for reduction, dtype in itertools.product(("mean", "sum"), (torch.float32, torch.float64)):
    theirs, ours = (training_step(loss_of, *leaves(hidden_t.to(dtype), weight_t.to(dtype)),
                                  some_ignored, reduction) for loss_of in LOSSES.values())
    assert_step_agrees(ours, theirs, CHUNK_V[0])  # every fifth row ignored
assert chunk_mib["chunked"][-1] < chunk_mib["F.cross_entropy + autograd"][-1] / 4
print(f"chunked loss {loss_pt.item():.6f}, torch {loss_ref.item():.6f}; "
      f"both gradients agree")

# %% [markdown]
# ## 7. Keeping the logits in range: z-loss and soft-capping
#
# Adding the same number to every logit of a row changes no probability, so
# nothing in the cross-entropy stops a row's logits, and its log-normaliser
# $\log Z_n = \log \sum_c e^{x_{n,c}}$, from drifting during training. Two
# remedies from large language models act on exactly that. PaLM (Chowdhery et
# al. 2022, "PaLM: Scaling Language Modeling with Pathways", arXiv:2204.02311,
# section 5) adds a **z-loss** that pulls $\log Z_n$ towards 0, so
# that $\log p_{n,c} = x_{n,c} - \log Z_n$ stays close to the logit itself;
# with weight $\lambda = 10^{-4}$ it reported steadier training. Its gradient
# is the softmax again, scaled by $\log Z_n$:
#
# $$\ell_z = \ell + \frac{\lambda}{N} \sum_{n=1}^{N} \log^2 Z_n, \qquad
# \frac{\partial \ell_z}{\partial x_{n,c}} = \frac{\partial \ell}{\partial x_{n,c}}
# + \frac{2 \lambda}{N} \log Z_n \; p_{n,c}$$
#
# Gemma 2 (Gemma Team 2024, "Gemma 2: Improving Open Language Models at a
# Practical Size", arXiv:2408.00118) **soft-caps** its final logits instead: each
# logit is passed through $x \mapsto s \tanh(x / s)$ with a cap $s = 30$, which
# leaves small logits almost as they are and bounds every one to $(-s, s)$:
# no logit can grow without bound, and neither can the loss, which stays
# below $2s + \log V$ however wrong the model is. The gradient reaches the
# logits through the derivative of the cap:
#
# $$\ell_{\text{cap}} = \ell\big(s \tanh(x / s)\big), \qquad
# \frac{\partial \ell_{\text{cap}}}{\partial x_{n,c}} =
# \frac{\partial \ell}{\partial z_{n,c}} \Big(1 - \tanh^2(x_{n,c} / s)\Big),
# \quad z = s \tanh(x / s)$$
#
# Both are a few lines on top of celoss's loss, log-sum-exp and gradient:

# %%
Z_WEIGHT = 1e-4  # PaLM's z-loss weight, lambda
CAP = 30.0  # Gemma 2's final-logit soft-cap, s


def z_loss(logits, targets):
    """Mean cross-entropy plus PaLM's z-loss, and its gradient in the logits."""
    log_z = celoss.logsumexp(logits, axis=1)  # (N,)
    loss = celoss.cross_entropy(logits, targets) + Z_WEIGHT * np.mean(log_z**2)  # ()
    probs = np.exp(logits - log_z[:, None])  # (N, C): the softmax, from the same log Z
    grad = (celoss.cross_entropy_grad(logits, targets)
            + 2 * Z_WEIGHT / len(logits) * log_z[:, None] * probs)  # (N, C)
    return loss, grad


def soft_capped(logits, targets, cap=CAP):
    """Mean cross-entropy of cap * tanh(logits / cap), and its gradient in the logits."""
    squashed = np.tanh(logits / cap)  # (N, C)
    capped = cap * squashed  # (N, C), every entry in (-cap, cap)
    loss = celoss.cross_entropy(capped, targets)  # ()
    grad = celoss.cross_entropy_grad(capped, targets) * (1 - squashed**2)  # (N, C)
    return loss, grad


CAP_N, CAP_V = 8, 1000
cap_logits = rng.standard_normal((CAP_N, CAP_V))  # (N, V), float64
cap_targets = rng.integers(0, CAP_V, size=CAP_N)  # (N,)
drifts = [0.0, 5.0, 20.0, 50.0]  # the same number added to every logit
drifted = {drift: z_loss(cap_logits + drift, cap_targets) for drift in drifts}
plain = float(celoss.cross_entropy(cap_logits, cap_targets))
for drift, (loss, _) in drifted.items():
    print(f"logits + {drift:4.0f}: cross-entropy "
          f"{float(celoss.cross_entropy(cap_logits + drift, cap_targets)):.6f}, "
          f"with z-loss {float(loss):.6f}")
runaway = cap_logits.copy()  # (N, V)
runaway[:, 0] = np.linspace(0, 200, CAP_N)  # class 0's logit grows, row by row
runaway_losses = celoss.cross_entropy(runaway, cap_targets, reduction="none")  # (N,)
capped_losses = celoss.cross_entropy(CAP * np.tanh(runaway / CAP), cap_targets,
                                     reduction="none")  # (N,)
print("class 0's logit:      ", runaway[:, 0].round(1))
print("loss without the cap: ", runaway_losses.round(2))
print("loss with the cap:    ", capped_losses.round(2))

# %% tags=["remove-input"]
fig, (ax_z, ax_cap) = plt.subplots(1, 2, figsize=(8.0, 3.1))
shifts = np.linspace(-60, 60, 121)
ax_z.plot(shifts, np.full_like(shifts, plain), color=OTHER, linewidth=2,
          label="cross-entropy")
with_z = plain + Z_WEIGHT * np.array(
    [np.mean(celoss.logsumexp(cap_logits + s, axis=1) ** 2) for s in shifts])  # (S,)
ax_z.plot(shifts, with_z, color=ACCENT, linewidth=2, label="with z-loss")
ax_z.set_xlabel("number added to every logit")
ax_z.set_ylabel("loss (nats)")
ax_z.set_title("Only the z-loss sees the drift")
ax_z.legend(frameon=False, fontsize=8)
grid = np.linspace(-120, 120, 241)
ax_cap.plot(grid, grid, color=OTHER, linewidth=1, linestyle=":", label="x")
ax_cap.plot(grid, CAP * np.tanh(grid / CAP), color=ACCENT, linewidth=2,
            label=f"{CAP:g} tanh(x / {CAP:g})")
ax_cap.axhline(CAP, color=CORRECT, linewidth=1, linestyle="--")
ax_cap.axhline(-CAP, color=CORRECT, linewidth=1, linestyle="--")
ax_cap.set_ylim(-60, 60)
ax_cap.set_xlabel("logit x")
ax_cap.set_ylabel("logit after the cap")
ax_cap.set_title(f"Soft-capping at s = {CAP:g}")
ax_cap.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "z-loss-cap",
    alt=f"Left: loss against a number from -60 to 60 added to every logit of {CAP_N} "
        f"rows of {CAP_V} logits. The cross-entropy is flat at {plain:.3f}; with the "
        f"z-loss it is a parabola, lowest at {with_z.min():.3f} for a shift of "
        f"{shifts[np.argmin(with_z)]:.0f}, where the log-normalisers are near 0, and "
        f"{with_z[-1]:.3f} at +{shifts[-1]:.0f}. Right: {CAP:g} tanh(x / {CAP:g}) "
        f"against x from {grid[0]:.0f} to {grid[-1]:.0f}: equal to x near 0, "
        f"flattening towards dashed lines at plus and minus {CAP:g}.",
    caption="Left: adding the same number to every logit leaves the cross-entropy "
            "unchanged; the z-loss grows with the log-normaliser squared. Right: the "
            "soft-cap keeps small logits and bounds large ones.",
)

# %% [markdown]
# Check: both losses and their gradients against PyTorch's autograd through
# `torch.logsumexp`, `torch.tanh` and `F.cross_entropy`, in float64.

# %%
RTOL64, ATOL64 = celoss.TOLERANCES["float64"]
targets_t = torch.from_numpy(cap_targets)
for drift, (loss, grad) in drifted.items():
    x_t = torch.tensor(cap_logits + drift, requires_grad=True)
    loss_t = F.cross_entropy(x_t, targets_t) + Z_WEIGHT * (torch.logsumexp(x_t, 1) ** 2).mean()
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(grad, x_t.grad.numpy(), rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(celoss.cross_entropy(cap_logits + drift, cap_targets), plain,
                               rtol=1e-12)  # the drift changes no probability
for logits in (cap_logits, runaway):
    loss, grad = soft_capped(logits, cap_targets)
    x_t = torch.tensor(logits, requires_grad=True)
    loss_t = F.cross_entropy(CAP * torch.tanh(x_t / CAP), targets_t)
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(grad, x_t.grad.numpy(), rtol=RTOL64, atol=ATOL64)
assert float(drifted[drifts[-1]][0]) > float(drifted[drifts[0]][0])  # z-loss sees the drift
assert np.abs(CAP * np.tanh(runaway / CAP)).max() < CAP
assert capped_losses.max() < 2 * CAP + np.log(CAP_V) < runaway_losses.max()
print(f"z-loss and soft-cap: values and gradients equal torch's (rtol {RTOL64:g})")

# %% [markdown]
# ## Summary
#
# The loss over a large vocabulary is cheap to compute and expensive to keep;
# each idea on this page, checked against PyTorch while it was built:

# %% tags=["remove-input"]
summary = [
    ("the arithmetic", f"$B \\cdot T \\cdot V \\cdot b$ bytes, {ARRAYS_AT_PEAK} times over",
     f"Llama 3 8B: {gib(ARRAYS_AT_PEAK * llama['logits']['float32'])} for one sequence"),
    ("what torch keeps", "the $(N, V)$ log-softmax, float32 even under autocast",
     f"{log_softmax_dtype} ({SMALL_N}, {SMALL_V})"),
    ("online log-sum-exp", "$d_k = d_{k-1} e^{m_{k-1} - m_k} + \\sum_{T_k} e^{x - m_k}$",
     f"{len(rows)} rows in tiles of {TILE}, masked and huge ones too"),
    ("fused gradient", "$s_n (p_{n,c} - [c = y_n])$ in the same pass, into `out=`",
     f"{len(fused_errors)} option sets within float32 tolerance"),
    ("measured", f"N = {SWEEP_N}, V = {SWEEP_V[-1]:,}: extra memory",
     f"naive {mem['naive NumPy']:.0f} MiB, torch {mem['torch']:.0f} MiB, "
     f"fused {fused_mib}"),
    ("training loops", "chunked linear + cross-entropy, an `autograd.Function`",
     f"{saving:.1f} times less memory than autograd at V = {CHUNK_V[-1]:,}"),
    ("z-loss, soft-cap", "$\\lambda \\log^2 Z_n$; $s \\tanh(x / s)$",
     f"values and gradients equal torch's, logits drifted by up to {drifts[-1]:g}"),
]
display(Markdown(
    "| idea | rule | on this page |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# Next: the [Verification](verification.md) page lists this chapter's
# comparisons with PyTorch among the rest, rerun at every build.

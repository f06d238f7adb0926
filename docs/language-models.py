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
# # Language models
#
# A language model is a classifier that runs at every position of a text: its
# logits have shape $(B, T, V)$, one guess over a vocabulary of $V$ tokens for
# each of $T$ positions in each of $B$ sequences, and its loss is the
# cross-entropy of the next token. This page builds that loss from the
# targets' shift by one, through padding, the two ways of averaging and the
# gradient-accumulation bug they lead to, to perplexity, bits and the loss at
# initialisation, and ends by training a character-level model in NumPy.
#
# The symbols are PyTorch's, as in the [walkthrough](walkthrough.py): each
# position is one example, the vocabulary is the class axis, so $C = V$.
# Every value is computed while the site builds and checked against PyTorch;
# the same checks are listed on the [Verification](verification.md) page.

# %%
import math
from pathlib import Path

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

rng = np.random.default_rng(seed=0)  # this page's only random numbers
np.set_printoptions(precision=3, suppress=True, linewidth=72)
use_figure_style()
show_figure = FigureCounter()
code_tabs = CodeTabs()  # runs NumPy and PyTorch snippets, shows them as tabs

RTOL64, ATOL64 = celoss.TOLERANCES["float64"]  # celoss vs torch, float64

# The text ships with the site: docs/data/coriolanus.txt in the repository,
# data/coriolanus.txt next to this notebook when the site builds it.
TEXT_PLACES = [Path("data/coriolanus.txt"),  # run from docs/ (the site build)
               Path("docs/data/coriolanus.txt")]  # run from the repository's root
TEXT_PATH = next((path for path in TEXT_PLACES if path.exists()), None)
if TEXT_PATH is None:
    raise FileNotFoundError(
        f"this notebook reads data/coriolanus.txt, and {Path.cwd()} has neither "
        f"{' nor '.join(map(str, TEXT_PLACES))}. The file is in the docs/data/ folder "
        "of the celoss repository (https://github.com/celoss/celoss): run the "
        "notebook from docs/ or from the repository's root, or copy the file to "
        "data/coriolanus.txt next to the notebook.")


# %% tags=["remove-input"]
def char_label(ch):
    """A character as a figure shows it: newline and space made visible."""
    return {"\n": "\u21b5", " ": "\u2423"}.get(ch, ch)


# %% [markdown]
# ## 1. Next-token targets: the shift by one
#
# The text is the opening of Shakespeare's *Coriolanus* (Act I, scene 1), the
# first 4,506 characters of the *tinyshakespeare* file that Andrej Karpathy's
# char-rnn and nanoGPT train on, which was drawn from Project Gutenberg's
# Shakespeare. Shakespeare's text is in the public domain, and so is this
# transcription; it keeps that file's few slips (a full stop is missing in
# "a gain to them Let us revenge"). The tokens are its characters: the
# vocabulary is the sorted set of characters, and a token is an index into it.
#
# A sequence of $T + 1$ tokens gives $T$ examples: at position $t$ the model
# has read tokens $0..t$ and must predict token $t + 1$. The inputs are the
# tokens without the last, the targets the tokens without the first:
#
# $$\text{inputs}_{b,t} = \text{tokens}_{b,t}, \qquad
# y_{b,t} = \text{tokens}_{b,t+1}, \qquad t = 0, \dots, T - 1$$

# %%
text = TEXT_PATH.read_text(encoding="utf-8")
vocab = sorted(set(text))  # the characters, in code-point order
V = len(vocab)
char_to_id = {ch: i for i, ch in enumerate(vocab)}


def encode(string):
    """Characters to token ids."""
    return np.array([char_to_id[ch] for ch in string])  # (len,)


def decode(ids):
    """Token ids to characters."""
    return "".join(vocab[i] for i in np.ravel(ids))


starts = [text.index("Speak, speak."), text.index("Soft! who comes")]
T = 12
tokens = np.stack([encode(text[s:s + T + 1]) for s in starts])  # (B, T + 1)
inputs = tokens[:, :-1]  # (B, T)
targets = tokens[:, 1:]  # (B, T): the next token at every position
B = tokens.shape[0]
print(f"{len(text)} characters, V = {V} distinct")
for b in range(B):
    print(f"sequence {b}: inputs {decode(inputs[b])!r}"
          f" -> targets {decode(targets[b])!r}")

# %% tags=["remove-input"]
fig, axes = plt.subplots(B, 1, figsize=(7.0, 1.4 * B + 0.4))
fig.suptitle("Each input token's target is the token after it")
for b, ax in enumerate(axes):
    ax.set_xlim(-0.6, T + 0.6)
    ax.set_ylim(-0.5, 1.6)
    ax.axis("off")
    for t in range(T + 1):
        ch = char_label(vocab[tokens[b, t]])
        if t < T:
            ax.text(t, 1.2, ch, ha="center", va="center", fontsize=12,
                    bbox={"boxstyle": "round", "fc": "white", "ec": OTHER})
        if t > 0:
            ax.text(t, 0.0, ch, ha="center", va="center", fontsize=12,
                    color="white",
                    bbox={"boxstyle": "round", "fc": CORRECT, "ec": CORRECT})
            ax.annotate("", xy=(t - 0.1, 0.3), xytext=(t - 1 + 0.1, 0.9),
                        arrowprops={"arrowstyle": "->", "color": ACCENT})
    ax.text(-0.6, 1.2, "input", ha="right", va="center", fontsize=9)
    ax.text(-0.6, 0.0, "target", ha="right", va="center", fontsize=9)
show_figure(
    fig, "shift",
    alt=f"Two rows of characters per sequence. Inputs {decode(inputs[0])!r} and "
        f"{decode(inputs[1])!r} on top, targets {decode(targets[0])!r} and "
        f"{decode(targets[1])!r} below, each shifted one place to the right, "
        "with an arrow from every input to its target.",
    caption="The inputs (white) and the targets (blue) of the two sequences: "
            "every target is the next token of the same text.",
)

# %% [markdown]
# Check: PyTorch's slicing, `tokens[:, :-1]` and `tokens[:, 1:]`, gives the
# same inputs and targets; and a target is never the input at the same
# position, or the model would only have to copy.

# %%
tokens_t = torch.from_numpy(tokens)  # (B, T + 1) int64
np.testing.assert_array_equal(tokens_t[:, :-1].numpy(), inputs)
np.testing.assert_array_equal(tokens_t[:, 1:].numpy(), targets)
np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])  # one later
assert tokens_t.dtype == torch.int64
print("inputs and targets as torch slices them")

# %% [markdown]
# ## 2. Logits of shape (B, T, V)
#
# The model here is the smallest language model there is, a **bigram table**
# $W$ of shape $(V, V)$: the logits for the next token are the row of $W$ of
# the current token, $x_{b,t,:} = W_{\text{inputs}_{b,t},:}$. Until section 8
# its entries are random, $W_{i,j} \sim \mathcal{N}(0, 1)$. Each of the
# $B \cdot T$ positions is one cross-entropy example over $V$ classes:
#
# $$l_{b,t} = -\log \frac{\exp(x_{b,t,y_{b,t}})}{\sum_{v=1}^{V} \exp(x_{b,t,v})}$$
#
# `F.cross_entropy` and `celoss.cross_entropy` want the class axis at
# position 1. A $(B, T, V)$ array therefore goes in either flattened to
# $(B \cdot T, V)$, with the targets flattened to $(B \cdot T,)$, or with its
# class axis moved, $(B, V, T)$, the "K-dimensional" layout with one extra
# axis. Both give the same losses.

# %%
W_random = rng.standard_normal((V, V))  # (V, V): an untrained bigram table
logits = W_random[inputs]  # (B, T, V)
flat_logits = logits.reshape(-1, V)  # (B*T, V)
flat_targets = targets.reshape(-1)  # (B*T,)
moved_logits = np.moveaxis(logits, -1, 1)  # (B, V, T)
flat_losses = celoss.cross_entropy(flat_logits, flat_targets,
                                   reduction="none")  # (B*T,)
moved_losses = celoss.cross_entropy(moved_logits, targets,
                                    reduction="none")  # (B, T)
token_losses = flat_losses.reshape(B, T)  # (B, T)
np.testing.assert_allclose(moved_losses, token_losses,
                           rtol=RTOL64, atol=ATOL64)
print("logits", logits.shape, "-> flattened", flat_logits.shape,
      "or moved", moved_logits.shape)
print("per-token losses (B, T) =", token_losses, sep="\n")

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 1.2 + 0.5 * B))
image = ax.imshow(token_losses, cmap="Blues", aspect="auto")
for b in range(B):
    for t in range(T):
        ax.text(t, b, char_label(vocab[targets[b, t]]), ha="center", va="center",
                color="white" if token_losses[b, t] > token_losses.mean() else "black")
ax.set_xticks(range(T))
ax.set_yticks(range(B), [f"sequence {b}" for b in range(B)])
ax.set_xlabel("position t (the letter is the target y[b, t])")
ax.grid(False)
ax.set_title("Per-token losses l[b, t] of the untrained bigram table")
fig.colorbar(image, ax=ax, label="loss (nats)")
show_figure(
    fig, "token-losses",
    alt=f"A heat map of B = {B} rows by T = {T} columns of per-token losses, "
        f"between {token_losses.min():.2f} and {token_losses.max():.2f} nats, "
        "each cell labelled with its target character.",
    caption="The loss of every position: a (<i>B</i>, <i>T</i>) array, one cross-entropy "
            "example per cell, darker where the untrained model gave its target "
            "less probability.",
)

# %% [markdown]
# Check: PyTorch, in both layouts, gives the same per-token losses and the
# same mean.

# %%
logits_t = torch.from_numpy(logits)  # (B, T, V)
targets_t = torch.from_numpy(targets)  # (B, T)
torch_flat = F.cross_entropy(logits_t.reshape(-1, V), targets_t.reshape(-1),
                             reduction="none").reshape(B, T)  # (B, T)
torch_moved = F.cross_entropy(logits_t.permute(0, 2, 1), targets_t,
                              reduction="none")  # (B, T)
torch_mean = F.cross_entropy(logits_t.reshape(-1, V), targets_t.reshape(-1))
np.testing.assert_allclose(token_losses, torch_flat.numpy(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(token_losses, torch_moved.numpy(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(token_losses.mean(), torch_mean.item(),
                           rtol=RTOL64, atol=ATOL64)
# Every step, gradient included, in both layouts; raises on a mismatch.
celoss.compare_with_torch(flat_logits, flat_targets)
celoss.compare_with_torch(moved_logits, targets)
print(f"mean loss: celoss {float(token_losses.mean()):.6f}, "
      f"torch {torch_mean.item():.6f}")

# %% [markdown]
# ## 3. Padding with ignore_index = -100
#
# Real batches hold sequences of different lengths. They are padded to the
# longest, and every padded target is set to $-100$, PyTorch's default
# `ignore_index`: those positions get no loss and no gradient, and the mean
# divides by the number of real targets only. With $m_{b,t} = 1$ for a real
# target and $0$ for padding,
#
# $$\ell = \frac{\sum_{b,t} m_{b,t}\, l_{b,t}}{\sum_{b,t} m_{b,t}}$$
#
# The padded *inputs* can be any valid token (here token 0): their logits
# exist, but nothing reads them.

# %%
lines = ["All:", "Speak, speak.", "Come, come.", "Soft! who comes here?"]
PAD_INPUT, IGNORE = 0, -100
T_pad = max(len(line) for line in lines) - 1
padded_inputs = np.full((len(lines), T_pad), PAD_INPUT)  # (B, T)
padded_targets = np.full((len(lines), T_pad), IGNORE)  # (B, T)
for b, line in enumerate(lines):
    ids = encode(line)
    padded_inputs[b, :len(ids) - 1] = ids[:-1]
    padded_targets[b, :len(ids) - 1] = ids[1:]
mask = padded_targets != IGNORE  # (B, T): the real targets
lengths = mask.sum(axis=1)  # (B,): T_b, targets per sequence
padded_logits = W_random[padded_inputs]  # (B, T, V)

pad_x = padded_logits.reshape(-1, V)  # (B*T, V)
pad_y = padded_targets.reshape(-1)  # (B*T,)
pad_losses = celoss.cross_entropy(pad_x, pad_y, reduction="none")  # (B*T,)
pad_losses = pad_losses.reshape(mask.shape)  # (B, T), 0 at padding
pad_loss = celoss.cross_entropy(pad_x, pad_y)  # (): ignore_index=-100
print("targets per sequence T_b =", lengths)
print(f"mean over real targets: {float(pad_loss):.6f}")
print(f"by hand, sum / count:   {pad_losses[mask].sum() / mask.sum():.6f}")
print("losses at padding:", np.unique(pad_losses[~mask]))

# %% [markdown]
# The same in NumPy and in PyTorch. Both snippets run on this page, on the
# batch above, and must agree:

# %% tags=["remove-input"]
NUMPY_SNIPPET = """\
x = padded_logits.reshape(-1, V)  # (B*T, V)
y = padded_targets.reshape(-1)  # (B*T,): -100 = pad
loss_np = celoss.cross_entropy(x, y, ignore_index=-100)
grad_np = celoss.cross_entropy_grad(x, y,
                                    ignore_index=-100)
print(f"{float(loss_np):.6f}")
"""
TORCH_SNIPPET = """\
x = torch.tensor(padded_logits, requires_grad=True)
y = torch.tensor(padded_targets)  # (B, T): -100 = pad
loss_pt = F.cross_entropy(x.reshape(-1, V),
                          y.reshape(-1), ignore_index=-100)
loss_pt.backward()  # x.grad: (B, T, V)
print(f"{loss_pt.item():.6f}")
"""
snippets = dict(globals())  # both run here, in a namespace of their own
code_tabs([("NumPy", NUMPY_SNIPPET), ("PyTorch", TORCH_SNIPPET)], snippets)
loss_np, grad_np = snippets["loss_np"], snippets["grad_np"]
loss_pt, x = snippets["loss_pt"], snippets["x"]

# %% [markdown]
# If the padded targets were left as a real token (token 0) instead of
# $-100$, the loss would count the padding too:

# %%
wrong_targets = np.where(mask, padded_targets, PAD_INPUT)  # (B, T)
wrong_loss = celoss.cross_entropy(pad_x, wrong_targets.reshape(-1))
print(f"padding counted as token 0: {float(wrong_loss):.6f}")
print(f"padding ignored:            {float(pad_loss):.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"Counting the {int((~mask).sum())} padded positions as targets moves the loss "
    f"from **{float(pad_loss):.4f}** to **{float(wrong_loss):.4f}**: the model "
    f"would be trained to predict padding."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.5, 2.6))
shown = np.ma.masked_array(pad_losses, ~mask)
ax.imshow(np.where(mask, np.nan, 1.0), cmap="Greys", vmin=0, vmax=4, aspect="auto")
image = ax.imshow(shown, cmap="Blues", aspect="auto")
for b in range(len(lines)):
    for t in range(T_pad):
        label = char_label(vocab[padded_targets[b, t]]) if mask[b, t] else ""
        ax.text(t, b, label, ha="center", va="center",
                fontsize=8 if not mask[b, t] else 10,
                color="white" if mask[b, t] and pad_losses[b, t] > pad_losses[mask].mean()
                else "black")
ax.set_yticks(range(len(lines)), [f"T_b = {n}" for n in lengths])
ax.set_xticks(range(T_pad))
ax.set_xlabel("position t (real targets in blue; grey: target -100)")
ax.grid(False)
ax.set_title("A padded batch: losses where the target is real, -100 elsewhere")
fig.colorbar(image, ax=ax, label="loss (nats)")
show_figure(
    fig, "padding",
    alt=f"A heat map of {len(lines)} padded sequences with "
        f"{', '.join(map(str, lengths))} real targets; the padded cells (target "
        f"-100) are grey, the real "
        f"ones coloured by their loss, mean {float(pad_loss):.4f}.",
    caption="Per-token losses of a padded batch. Padded targets are &minus;100: "
            "they add nothing to the sum and nothing to the count.",
)

# %% [markdown]
# Check: the mean, the per-token losses and the gradient agree with torch;
# the gradient is exactly zero at every padded position.

# %%
grad_np = grad_np.reshape(padded_logits.shape)  # (B, T, V)
wrong_pt = F.cross_entropy(torch.from_numpy(pad_x),
                           torch.from_numpy(wrong_targets.reshape(-1)))
np.testing.assert_allclose(float(loss_np), loss_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(grad_np, x.grad.numpy(), rtol=RTOL64, atol=ATOL64)
by_hand = pad_losses[mask].sum() / mask.sum()  # sum over real / count
np.testing.assert_allclose(float(pad_loss), by_hand, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(float(wrong_loss), wrong_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
assert not np.any(grad_np[~mask])  # exactly zero at padding
print("loss and gradient as torch's; zero gradient at",
      int((~mask).sum()), "padded positions")

# %% [markdown]
# ## 4. The token mean and the mean of per-sequence means
#
# There are two natural averages of a padded batch. The **token mean**
# (what `reduction="mean"` gives, section 3) weighs every target alike. The
# **mean of per-sequence means** first averages within each sequence, then
# over the $B$ sequences, so a short sequence's tokens weigh more:
#
# $$\ell_{\text{token}} = \frac{\sum_{b} \sum_{t} m_{b,t}\, l_{b,t}}{\sum_b T_b}
# \qquad
# \ell_{\text{seq}} = \frac{1}{B} \sum_{b} \frac{1}{T_b} \sum_{t} m_{b,t}\, l_{b,t}$$
#
# They agree when every $T_b$ is the same. Otherwise they are different
# losses, with different gradients, and a training recipe has to pick one.

# %%
sequence_means = pad_losses.sum(axis=1) / lengths  # (B,)
token_mean = pad_losses.sum() / lengths.sum()  # ()
mean_of_means = sequence_means.mean()  # ()
print("per-sequence means =", sequence_means)
print(f"token mean          = {token_mean:.6f}")
print(f"mean of seq. means  = {mean_of_means:.6f}")

# %% tags=["remove-input"]
display(Markdown(
    f"With $T_b$ = {', '.join(map(str, lengths))}, the token mean is "
    f"**{token_mean:.4f}** and the mean of per-sequence means **{mean_of_means:.4f}**: "
    f"the {lengths[0]} targets of the shortest sequence weigh "
    f"{1 / lengths[0]:.3f} each in its own mean, against "
    f"{1 / lengths.sum():.3f} in the token mean."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
left = np.concatenate([[0], np.cumsum(lengths)[:-1]])
ax.bar(left, sequence_means, width=lengths, align="edge", color=CORRECT,
       edgecolor="white", label="per-sequence mean (bar width: T_b)")
ax.axhline(token_mean, color=ACCENT, linestyle="--",
           label=f"token mean = {token_mean:.4f}")
ax.axhline(mean_of_means, color="black", linestyle=":",
           label=f"mean of per-sequence means = {mean_of_means:.4f}")
for b in range(len(lines)):
    ax.text(left[b] + lengths[b] / 2, sequence_means[b] + 0.1, f"{sequence_means[b]:.2f}",
            ha="center", fontsize=8)
ax.set_xlabel("targets of the batch, sequence by sequence")
ax.set_ylabel("loss (nats)")
ax.set_ylim(0, sequence_means.max() * 1.45)
ax.set_title("Two averages of the same per-token losses")
ax.legend(frameon=False, loc="upper left", fontsize=8)
show_figure(
    fig, "two-means",
    alt=f"Bars of the per-sequence mean losses {values(sequence_means, 2)}, each as "
        f"wide as its sequence's {', '.join(map(str, lengths))} targets; a dashed "
        f"line at the token mean {token_mean:.4f} and a dotted line at the mean of "
        f"the per-sequence means {mean_of_means:.4f}.",
    caption="The token mean is the bars' area divided by their total width; "
            "the mean of per-sequence means gives each bar the same say, however "
            "narrow.",
)

# %% [markdown]
# Check: the token mean is `F.cross_entropy`'s default; the per-sequence means
# come from its `reduction="none"`.

# %%
torch_none = F.cross_entropy(
    torch.from_numpy(padded_logits).permute(0, 2, 1),  # (B, V, T)
    torch.from_numpy(padded_targets), reduction="none")  # (B, T)
torch_means = torch_none.sum(dim=1) / torch.from_numpy(lengths)  # (B,)
np.testing.assert_allclose(token_mean, loss_pt.item(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(sequence_means, torch_means.numpy(),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(mean_of_means, torch_means.mean().item(),
                           rtol=RTOL64, atol=ATOL64)
assert abs(token_mean - mean_of_means) > 1e3 * ATOL64  # two losses
print(f"torch: token mean {loss_pt.item():.6f}, "
      f"mean of sequence means {torch_means.mean().item():.6f}")

# %% [markdown]
# ## 5. Gradient accumulation
#
# When a batch does not fit in memory it is split into $K$ micro-batches, each
# run forward and backward, and the parameter gradients are summed before one
# optimiser step. The usual loop divides each micro-batch's *mean* loss by
# $K$. That computes the mean of per-micro-batch means, which is the token
# mean of the whole batch only when every micro-batch holds the same number
# of real targets $n_k$:
#
# $$\frac{1}{K} \sum_{k} \frac{S_k}{n_k} \;\ne\; \frac{\sum_k S_k}{\sum_k n_k}
# \qquad (S_k = \text{sum of micro-batch } k\text{'s token losses})$$
#
# The fix: sum each micro-batch's losses (`reduction="sum"`) and divide by the
# batch's total count of real targets, known before the first micro-batch
# runs. The gradient of the bigram table is the chain rule through the
# lookup: each position's logit gradient is added to the row of its input
# token.

# %%
def table_grad(inputs, logit_grad):
    """d loss / d W of the bigram table: each position adds to its row."""
    grad = np.zeros((V, V))  # (V, V)
    np.add.at(grad, inputs.reshape(-1), logit_grad.reshape(-1, V))
    return grad  # (V, V)


parts = [slice(0, 2), slice(2, 4)]  # K = 2 micro-batches of 2 sequences
K = len(parts)
counts = [int(mask[part].sum()) for part in parts]  # n_k: real targets
total = sum(counts)  # the batch's token count, known up front
micro = [(padded_inputs[part],  # (B_k, T)
          padded_logits[part].reshape(-1, V),  # (B_k*T, V)
          padded_targets[part].reshape(-1))  # (B_k*T,)
         for part in parts]

# Full batch, one pass: what accumulation must reproduce.
full_loss = float(celoss.cross_entropy(pad_x, pad_y))
full_grad = table_grad(padded_inputs, celoss.cross_entropy_grad(pad_x, pad_y))

# The pitfall: each micro-batch's mean, divided by K.
naive_loss = sum(float(celoss.cross_entropy(x_k, y_k)) / K
                 for _, x_k, y_k in micro)
naive_grad = sum(table_grad(in_k, celoss.cross_entropy_grad(x_k, y_k)) / K
                 for in_k, x_k, y_k in micro)

# The fix: each micro-batch's sum, divided by the total count.
fixed_loss = sum(float(celoss.cross_entropy(x_k, y_k, reduction="sum"))
                 / total for _, x_k, y_k in micro)
fixed_grad = sum(table_grad(in_k, celoss.cross_entropy_grad(
                     x_k, y_k, reduction="sum")) / total
                 for in_k, x_k, y_k in micro)


def relative_error(grad):
    """|grad - full_grad| / |full_grad|, Frobenius norms."""
    return np.linalg.norm(grad - full_grad) / np.linalg.norm(full_grad)


naive_error = relative_error(naive_grad)
fixed_error = relative_error(fixed_grad)
print("real targets per micro-batch n_k =", counts)
print(f"loss: full batch {full_loss:.6f}, naive {naive_loss:.6f}, "
      f"fixed {fixed_loss:.6f}")
print(f"relative gradient error: naive {naive_error:.2e}, "
      f"fixed {fixed_error:.2e}")

# %% tags=["remove-input"]
display(Markdown(
    f"The micro-batches hold {counts[0]} and {counts[1]} real targets. Averaging "
    f"their means gives **{naive_loss:.4f}** instead of the full batch's "
    f"**{full_loss:.4f}**, and a gradient {100 * naive_error:.1f}% away from the "
    f"true one (relative norm of the difference). Summing and dividing by the "
    f"{total} targets gives the full batch's loss and gradient to rounding "
    f"(relative gradient error {fixed_error:.1e}). Widely used trainers shipped "
    f"this bug: see Hugging Face's write-up, [Fixing gradient accumulation]"
    f"(https://huggingface.co/blog/gradient_accumulation)."
))

# %% tags=["remove-input"]
fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(8.0, 3.0))
names = ["full batch", "mean of\nmicro-batch means", "sum / total count"]
loss_values = [full_loss, naive_loss, fixed_loss]
bars = ax_loss.bar(names, loss_values, color=[CORRECT, ACCENT, CORRECT])
ax_loss.bar_label(bars, fmt="%.4f", padding=2, fontsize=8)
ax_loss.set_ylim(0, max(loss_values) * 1.25)
ax_loss.set_title("The loss")
ax_loss.tick_params(axis="x", labelsize=8)
floor = 1e-18
for i, error in enumerate([naive_error, fixed_error]):
    ax_grad.bar(i, max(error, floor), color=[ACCENT, CORRECT][i])
    ax_grad.text(i, max(error, floor) * 3, f"{error:.1e}", ha="center", fontsize=8)
ax_grad.set_yscale("log")
ax_grad.set_ylim(floor, 10)
ax_grad.set_xticks([0, 1], names[1:], fontsize=8)
ax_grad.set_title("Gradient error against the full batch")
show_figure(
    fig, "accumulation",
    alt=f"Left: the loss of the full batch {full_loss:.4f}, of the naive accumulation "
        f"{naive_loss:.4f} and of the fixed accumulation {fixed_loss:.4f}. Right, on a "
        f"log scale, the relative gradient error: naive {naive_error:.1e}, fixed "
        f"{fixed_error:.1e}.",
    caption="Two micro-batches with different token counts. Averaging their mean "
            "losses (red) is not the batch's token mean; summing and dividing by "
            "the total count (blue) is.",
)

# %% [markdown]
# Check: torch's own accumulation loop, `loss.backward()` per micro-batch into
# the same `W.grad`, shows the same bug and the same fix; and the fixed
# gradient is torch autograd's full-batch gradient.

# %%
def torch_accumulate(reduction, scale):
    """Accumulate W.grad over the micro-batches as a PyTorch loop does."""
    W_t = torch.tensor(W_random, requires_grad=True)  # (V, V)
    loss_sum = 0.0
    for in_k, _, y_k in micro:
        x_k = W_t[torch.from_numpy(in_k)].reshape(-1, V)  # (B_k*T, V)
        loss_k = F.cross_entropy(x_k, torch.from_numpy(y_k),
                                 reduction=reduction) / scale
        loss_k.backward()  # adds into W_t.grad
        loss_sum += loss_k.item()
    return loss_sum, W_t.grad.numpy()  # (), (V, V)


W_full = torch.tensor(W_random, requires_grad=True)  # (V, V)
loss_full_t = F.cross_entropy(
    W_full[torch.from_numpy(padded_inputs)].reshape(-1, V),  # (B*T, V)
    torch.from_numpy(pad_y))
loss_full_t.backward()  # the full batch in one pass
full_t = (loss_full_t.item(), W_full.grad.numpy())
naive_t = torch_accumulate("mean", K)
fixed_t = torch_accumulate("sum", total)
for ours, theirs in [((full_loss, full_grad), full_t),
                     ((naive_loss, naive_grad), naive_t),
                     ((fixed_loss, fixed_grad), fixed_t),
                     ((fixed_loss, fixed_grad), full_t)]:  # the fix is exact
    np.testing.assert_allclose(ours[0], theirs[0], rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=RTOL64, atol=ATOL64)
assert naive_error > 1e-3  # the pitfall is real, not rounding
print(f"torch loop: naive {naive_t[0]:.6f}, fixed {fixed_t[0]:.6f}")
print("torch's full-batch gradient is the fixed one")

# %% [markdown]
# ## 6. Perplexity, nats and bits
#
# The loss is measured in **nats** (natural logarithms). Divided by $\ln 2$
# it is in **bits per token**; for a character-level model, bits per
# character. Its exponential is the **perplexity**, the number of equally
# likely tokens that would leave the model as uncertain:
#
# $$\text{bits} = \frac{\ell}{\ln 2}, \qquad
# \text{perplexity} = e^{\ell} = 2^{\text{bits}}$$
#
# A model that spreads its probability evenly over the $V$ tokens has
# $\ell = \ln V$ and perplexity $V$ exactly. These are one-liners on the token
# mean, not library functions.

# %%
uniform_logits = np.zeros((1, V))  # (1, V): every logit equal
uniform_loss = float(celoss.cross_entropy(uniform_logits, np.array([0])))
random_loss = float(pad_loss)  # the untrained random table, section 3's batch
for name, nats in [("uniform", uniform_loss), ("random table", random_loss)]:
    print(f"{name:>12}: {nats:.4f} nats = {nats / math.log(2):.4f} bits, "
          f"perplexity {math.exp(nats):.2f}")

# %% tags=["remove-input"]
display(Markdown(
    f"The uniform model's perplexity is **{math.exp(uniform_loss):.2f}**, the "
    f"vocabulary size $V$ = {V}. The random table does worse than uniform, "
    f"perplexity **{math.exp(random_loss):.2f}**: confident guesses that are "
    f"wrong cost more than no guess at all."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.0))
nats = np.linspace(0, max(random_loss, uniform_loss) * 1.15, 200)
ax.plot(nats, np.exp(nats), color=OTHER, linewidth=2, label="perplexity = exp(loss)")
for name, value, color in [("uniform", uniform_loss, CORRECT),
                           ("random table", random_loss, ACCENT)]:
    ax.scatter([value], [math.exp(value)], color=color, zorder=3,
               label=f"{name}: {value:.3f} nats = {value / math.log(2):.3f} bits, "
                     f"perplexity {math.exp(value):.1f}")
ax.set_xlabel("loss (nats per token)")
ax.set_ylabel("perplexity")
secondary = ax.secondary_xaxis("top", functions=(lambda n: n / math.log(2),
                                                 lambda b: b * math.log(2)))
secondary.set_xlabel("bits per token")
ax.set_title("Perplexity against the loss")
ax.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "perplexity",
    alt=f"The curve exp(loss) for losses from 0 to {nats[-1]:.1f} nats, with a bits "
        f"axis on top; points for the uniform model ({uniform_loss:.3f} nats, "
        f"perplexity {math.exp(uniform_loss):.1f}) and the random table "
        f"({random_loss:.3f} nats, perplexity {math.exp(random_loss):.1f}).",
    caption="Perplexity grows exponentially with the loss; the uniform model sits "
            "at (ln <i>V</i>, <i>V</i>).",
)

# %% [markdown]
# Check: torch's loss gives the same perplexity and bits, and the uniform
# model's loss is $\ln V$.

# %%
uniform_t = F.cross_entropy(torch.from_numpy(uniform_logits),
                            torch.tensor([0])).item()
np.testing.assert_allclose(uniform_loss, uniform_t, rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(uniform_loss, math.log(V), rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(math.exp(uniform_loss), V, rtol=RTOL64)
np.testing.assert_allclose(math.exp(random_loss), torch.exp(loss_pt).item(),
                           rtol=RTOL64)
np.testing.assert_allclose(random_loss / math.log(2),
                           loss_pt.item() / math.log(2),
                           rtol=RTOL64, atol=ATOL64)
print(f"torch: perplexity {torch.exp(loss_pt).item():.4f}, "
      f"bits {loss_pt.item() / math.log(2):.4f}")

# %% [markdown]
# ## 7. The loss at initialisation
#
# A freshly initialised model knows nothing, so its first loss is close to
# the uniform model's $\ln V$. How close depends on the spread of its logits,
# which is not the spread of its weights. The last layer computes
# $x_{n,v} = h_n \cdot w_v$: $h_n$ is the final hidden state, of width $d$,
# which a LayerNorm or RMSNorm has just scaled to root mean square
# $\operatorname{rms}(h_n) = 1$, and $w_v$ is row $v$ of the output matrix
# $W$ of shape $(V, d)$, drawn with standard deviation $\sigma_w$. A sum of
# $d$ such products has standard deviation
#
# $$\sigma = \sigma_w \sqrt{d}\, \operatorname{rms}(h)$$
#
# With independent logits of standard deviation $\sigma$ the expected loss is
# about $\ln V + \sigma^2 / 2$: for large $V$, $\log \sum_v e^{x_v} \approx
# \ln V + \log \mathbb{E}[e^{x}]$, and the target's own logit averages to 0.
#
# $$\ell_{\text{init}} \approx \ln V + \frac{\sigma^2}{2}$$
#
# A first loss far above that means the initialisation is too confident; a
# quick check before any training run. Below, three real models at their
# widths $d$ and vocabularies $V$ (GPT-2 small, Llama 3 8B, Gemma 7B), with
# $\sigma_w$ their Hugging Face configurations' `initializer_range`, and
# hidden states put through a LayerNorm (GPT-2's final norm; Llama 3 and
# Gemma use RMSNorm, which leaves the same unit rms, so one LayerNorm stands
# in for both), without its learned scale and shift, which start at 1 and 0.
#
# $W$ itself is large ($V \cdot d$ entries, printed below), but $hW^\top$
# sees it only through the $N$ directions the hidden states span: with
# $h^\top = QR$ ($Q$ of shape $(d, N)$ with orthonormal columns),
# $hW^\top = R^\top (Q^\top W^\top)$. Each row of $W$ is an isotropic Gaussian
# drawn independently of $h$, so its projection onto the $N$ orthonormal
# directions of $Q$ is again Gaussian: $Q^\top W^\top$ has independent entries
# of standard deviation $\sigma_w$, shape $(N, V)$. So that is what is
# drawn; the check below builds GPT-2's $W$ in full, in PyTorch, and gets the
# same loss. (The shortcut needs $W$ independent of $h$, true at
# initialisation only: a trained $W$ is not.)

# %%
MODELS = {"GPT-2": (768, 50_257),  # name: (width d, vocabulary V)
          "Llama 3 8B": (4_096, 128_256),
          "Gemma 7B": (3_072, 256_000)}
SIGMA_W = 0.02  # initializer_range of all three
LN_EPS = 1e-5  # LayerNorm's epsilon, torch's default
POSITIONS = 128  # N: enough for a steady mean loss


def layer_norm(raw):
    """LayerNorm without its learned scale and shift: each row to mean 0, rms 1."""
    centred = raw - raw.mean(axis=-1, keepdims=True)  # (N, d)
    variance = (centred**2).mean(axis=-1, keepdims=True)  # (N, 1)
    return centred / np.sqrt(variance + LN_EPS)  # (N, d)


def first_logits(raw, size):
    """h W^T for layer-normed h and W ~ N(0, SIGMA_W^2) of shape (V, d), W not formed."""
    h = layer_norm(raw)  # (N, d)
    q, r = np.linalg.qr(h.T)  # (d, N), (N, N): h = r.T @ q.T
    projected_w = SIGMA_W * rng.standard_normal((r.shape[0], size))  # q.T @ W.T: (k, V)
    return h, r, r.T @ projected_w  # (N, d), (k, N), (N, V); k = min(N, d)


init = {}
for name, (d, size) in MODELS.items():
    raw = rng.standard_normal((POSITIONS, d))  # (N, d): the last block's output
    h, r, init_logits = first_logits(raw, size)  # (N, d), (N, N), (N, V)
    init_targets = rng.integers(0, size, size=POSITIONS)  # (N,)
    init_losses = celoss.cross_entropy(init_logits, init_targets,
                                       reduction="none")  # (N,)
    sigma = SIGMA_W * math.sqrt(d) * float(np.sqrt(np.mean(h**2)))
    init[name] = {
        "d": d, "V": size, "raw": raw, "h": h, "r": r, "logits": init_logits,
        "targets": init_targets, "sigma": sigma, "std": float(init_logits.std()),
        "loss": float(init_losses.mean()),
        "error": float(init_losses.std(ddof=1) / math.sqrt(POSITIONS)),  # of the mean
        "predicted": math.log(size) + sigma**2 / 2,
    }
    print(f"{name:>10}: d = {d:>5,}  V = {size:>7,}  W has {size * d:>11,} entries  "
          f"sigma = {sigma:.4f}  std of the logits = {init[name]['std']:.4f}")
    print(f"{'':>10}  ln V = {math.log(size):.4f}  ln V + sigma^2/2 = "
          f"{init[name]['predicted']:.4f}  first loss = {init[name]['loss']:.4f} "
          f"+- {init[name]['error']:.4f}")

# %% tags=["remove-input"]
first, last = init["GPT-2"], init["Llama 3 8B"]
display(Markdown(
    "| model | $d$ | $V$ | $\\sigma = \\sigma_w \\sqrt{d}\\,\\operatorname{rms}(h)$ | "
    "std of the logits | $\\ln V$ | $\\ln V + \\sigma^2/2$ | first loss |\n"
    "|---|---|---|---|---|---|---|---|\n"
    + "\n".join(
        f"| {name} | {m['d']:,} | {m['V']:,} | {m['sigma']:.4f} | {m['std']:.4f} | "
        f"{math.log(m['V']):.4f} | {m['predicted']:.4f} | "
        f"{m['loss']:.4f} &plusmn; {m['error']:.4f} |"
        for name, m in init.items())
    + f"\n\nThe first losses are means over {POSITIONS} positions, &plusmn; their "
      f"standard error. With $\\sigma_w$ = {SIGMA_W} the logits of GPT-2 have "
      f"$\\sigma$ = {first['sigma']:.3f} and its first loss is "
      f"{first['loss'] - math.log(first['V']):.2f} above $\\ln V$; Llama 3 8B's are "
      f"wider, $\\sigma$ = {last['sigma']:.2f}, and its first loss is "
      f"**{last['loss'] - math.log(last['V']):.2f}** above $\\ln V$. Each sits "
      f"within {max(abs(m['loss'] - m['predicted']) / m['error'] for m in init.values()):.1f} "
      f"standard errors of $\\ln V + \\sigma^2/2$. Logits with the weights' own "
      f"spread, $\\sigma = \\sigma_w$, would be only $\\sigma_w^2/2$ = "
      f"{SIGMA_W**2 / 2:.4f} above $\\ln V$: the LayerNorm's unit-rms $h$ "
      f"multiplies the weights' spread by $\\sqrt{{d}}$."
))

# %% tags=["remove-input"]
fig, (ax_v, ax_sigma) = plt.subplots(1, 2, figsize=(8.0, 3.4))
sizes = np.logspace(np.log10(2), np.log10(4e5), 200)
ax_v.plot(sizes, np.log(sizes), color=OTHER, linewidth=2, label="ln V")
markers = dict(zip(init, ["o", "s", "^"], strict=True))  # one per model
for name, m in init.items():
    ax_v.errorbar([m["V"]], [m["loss"]], yerr=[2 * m["error"]], color=ACCENT,
                  marker=markers[name], markersize=5, capsize=2, zorder=3,
                  linestyle="none", label=f"{name}: {m['loss']:.2f}")
ax_v.scatter([V], [uniform_loss], color=CORRECT, zorder=3,
             label=f"this page's V = {V}: {uniform_loss:.2f}")
ax_v.set_xscale("log")
ax_v.set_xlabel("vocabulary size V")
ax_v.set_ylabel("loss at initialisation (nats)")
ax_v.set_title("The first loss against ln V")
ax_v.legend(frameon=False, fontsize=8, loc="upper left")
spread = np.linspace(0, 1.15 * max(m["sigma"] for m in init.values()), 100)
ax_sigma.plot(spread, spread**2 / 2, color=OTHER, linewidth=2, label="sigma^2 / 2")
for name, m in init.items():
    ax_sigma.errorbar([m["sigma"]], [m["loss"] - math.log(m["V"])],
                      yerr=[2 * m["error"]], color=ACCENT, marker=markers[name],
                      markersize=5, capsize=2, zorder=3, linestyle="none",
                      label=f"{name}: sigma = {m['sigma']:.2f}")
ax_sigma.axvline(SIGMA_W, color=CORRECT, linestyle=":", linewidth=1)
ax_sigma.text(SIGMA_W, 0.5, f" sigma_w = {SIGMA_W}", color=CORRECT, fontsize=8)
ax_sigma.set_xlabel("sigma = sigma_w sqrt(d) rms(h)")
ax_sigma.set_ylabel("first loss - ln V (nats)")
ax_sigma.set_title("The excess over ln V is sigma^2 / 2")
ax_sigma.legend(frameon=False, fontsize=8, loc="upper left")
show_figure(
    fig, "init",
    alt="Left: the curve ln V against V on a log axis from 2 to 400,000, with the "
        "first losses of "
        + "; ".join(f"{name} (V = {m['V']:,}): {m['loss']:.3f}" for name, m in init.items())
        + f"; and this page's V = {V} at {uniform_loss:.3f}. Right: the first loss "
          "minus ln V against sigma, on the curve sigma^2 / 2: "
        + "; ".join(f"{name} sigma {m['sigma']:.3f}, excess "
                    f"{m['loss'] - math.log(m['V']):.3f}" for name, m in init.items())
        + f"; a dotted line marks sigma_w = {SIGMA_W}.",
    caption="First losses of three real model shapes at initialisation (red, with "
            "two standard errors): above ln <i>V</i> by about &sigma;<sup>2</sup>/2, "
            "where &sigma; = &sigma;<sub>w</sub> &radic;<i>d</i> is the logits' "
            "spread, not the weights' (dotted).",
)

# %% [markdown]
# Check: torch's `F.layer_norm` gives the same hidden states, and $R^\top
# Q^\top$ gives them back; `F.cross_entropy` gives each model's mean loss
# over all its positions; `celoss.compare_with_torch` runs every step
# (softmax, log-softmax, the loss, its gradient) on the first few positions.
# Each first loss is within a few standard errors of $\ln V + \sigma^2/2$,
# and the two widest models' are clearly above $\ln V$. Last, GPT-2 built in
# PyTorch the long way, a LayerNorm and then `nn.Linear(d, V)` holding a
# full $W$ drawn with $\sigma_w$, gives logits of the same spread and a first
# loss within sampling error of the shortcut's.

# %%
Z_MAX = 4.0  # standard errors a sampled mean may stray
for name, m in init.items():
    raw_t = torch.from_numpy(m["raw"])  # (N, d)
    np.testing.assert_allclose(m["h"], F.layer_norm(raw_t, (m["d"],), eps=LN_EPS).numpy(),
                               rtol=RTOL64, atol=ATOL64)
    q, _ = np.linalg.qr(m["h"].T)  # (d, N)
    np.testing.assert_allclose(m["r"].T @ q.T, m["h"], rtol=RTOL64, atol=ATOL64)
    torch_loss = F.cross_entropy(torch.from_numpy(m["logits"]),
                                 torch.from_numpy(m["targets"])).item()
    np.testing.assert_allclose(m["loss"], torch_loss, rtol=RTOL64, atol=ATOL64)
    celoss.compare_with_torch(m["logits"][:4], m["targets"][:4])  # raises if unequal
    assert abs(m["std"] / m["sigma"] - 1) < 0.01, name
    assert abs(m["loss"] - m["predicted"]) < Z_MAX * m["error"], name
    print(f"{name:>10}: torch {torch_loss:.4f}; "
          f"{(m['loss'] - m['predicted']) / m['error']:+.2f} standard errors from "
          f"ln V + sigma^2/2, {(m['loss'] - math.log(m['V'])) / m['error']:+.2f} from ln V")
for name in ["Llama 3 8B", "Gemma 7B"]:
    assert init[name]["loss"] - math.log(init[name]["V"]) > Z_MAX * init[name]["error"]

d, size = MODELS["GPT-2"]
raw = init["GPT-2"]["raw"]  # the same hidden states
head = torch.nn.Linear(d, size, bias=False)  # GPT-2's output layer, W: (V, d)
with torch.no_grad():
    head.weight.copy_(torch.from_numpy(
        SIGMA_W * rng.standard_normal((size, d), dtype=np.float32)))  # (V, d)
    direct_logits = head(F.layer_norm(torch.from_numpy(raw).float(), (d,),
                                      eps=LN_EPS))  # (N, V)
direct_targets = torch.from_numpy(rng.integers(0, size, size=POSITIONS))  # (N,)
direct_losses = F.cross_entropy(direct_logits, direct_targets, reduction="none")  # (N,)
direct = {"std": direct_logits.std().item(), "loss": direct_losses.mean().item(),
          "error": direct_losses.std().item() / math.sqrt(POSITIONS)}
gap = abs(direct["loss"] - init["GPT-2"]["loss"])
assert abs(direct["std"] / init["GPT-2"]["sigma"] - 1) < 0.01
assert gap < Z_MAX * math.hypot(direct["error"], init["GPT-2"]["error"])
print(f"GPT-2 with a full W in torch: std of the logits {direct['std']:.4f}, "
      f"first loss {direct['loss']:.4f} +- {direct['error']:.4f}; "
      f"shortcut {init['GPT-2']['loss']:.4f}")
del head, direct_logits  # a full W: V * d numbers

# %% [markdown]
# ## 8. Training a character-level bigram model
#
# Now the table learns. It starts at $W = 0$: every logit is equal, so the
# first loss is exactly $\ln V$. Each step draws $B = 16$ windows of
# $T = 32$ characters from the first 90% of the text, computes the logits
# $(B, T, V)$, the loss, and the gradient of the mean loss with
# `celoss.cross_entropy_grad`; `table_grad` (section 5) carries it back to
# $W$, and gradient descent takes a step. The last 10% of the text is held
# out.
#
# $$W \leftarrow W - \eta\, \frac{\partial \ell}{\partial W}, \qquad
# \frac{\partial \ell}{\partial W_{i,:}} = \sum_{(b,t):\ \text{inputs}_{b,t} = i}
# \frac{\partial \ell}{\partial x_{b,t,:}}$$
#
# No bigram model can beat the **conditional entropy** of the training text,
# $H = -\sum_{i,j} \frac{n_{ij}}{n} \log \frac{n_{ij}}{n_i}$ where $n_{ij}$
# counts the pairs "$i$ then $j$": it is the loss of the table that predicts
# exactly the text's own pair frequencies.

# %%
ids = encode(text)  # (len,)
split = int(0.9 * len(ids))
train_ids, held_out_ids = ids[:split], ids[split:]  # (n,), (len - n,)
STEPS, BATCH, BLOCK, LEARNING_RATE = 300, 16, 32, 20.0

# The best any bigram table can do on the training text.
pair_counts = np.zeros((V, V))  # (V, V): n_ij
np.add.at(pair_counts, (train_ids[:-1], train_ids[1:]), 1)
row_counts = pair_counts.sum(axis=1)  # (V,): n_i
seen = row_counts > 0
conditional = pair_counts[seen] / row_counts[seen, None]  # (V', V): n_ij / n_i
bigram_floor = float(np.sum(row_counts[seen] / row_counts.sum()
                            * celoss.entropy(conditional, axis=1)))


def full_loss_of(table, data):
    """The token mean over a whole text, every position."""
    logits = table[data[:-1]]  # (n - 1, V)
    return float(celoss.cross_entropy(logits, data[1:]))


W = np.zeros((V, V))  # (V, V): every logit equal at the start
step_losses, evaluations, checkpoints = [], [], []
for step in range(STEPS):
    starts = rng.integers(0, len(train_ids) - BLOCK, size=BATCH)  # (B,)
    window = train_ids[starts[:, None] + np.arange(BLOCK + 1)]  # (B, T + 1)
    batch_inputs, batch_targets = window[:, :-1], window[:, 1:]  # (B, T)
    batch_logits = W[batch_inputs]  # (B, T, V)
    flat_logits = batch_logits.reshape(-1, V)  # (B*T, V)
    flat_targets = batch_targets.reshape(-1)  # (B*T,)
    step_losses.append(float(celoss.cross_entropy(flat_logits, flat_targets)))
    logit_grad = celoss.cross_entropy_grad(flat_logits, flat_targets)
    W_grad = table_grad(batch_inputs, logit_grad)  # (V, V)
    if step in (0, STEPS - 1):  # kept for the torch check below
        checkpoints.append((W.copy(), batch_inputs, batch_targets, W_grad))
    W = W - LEARNING_RATE * W_grad  # (V, V)
    if step % 25 == 0 or step == STEPS - 1:
        evaluations.append((step + 1, full_loss_of(W, train_ids),
                            full_loss_of(W, held_out_ids)))

final_train, final_held_out = evaluations[-1][1:]
print(f"step 1 loss {step_losses[0]:.4f} (ln V = {math.log(V):.4f})")
print(f"after {STEPS} steps: train {final_train:.4f}, "
      f"held out {final_held_out:.4f}, bigram floor {bigram_floor:.4f}")

# %% tags=["remove-input"]
display(Markdown(
    f"The first loss is **{step_losses[0]:.4f}** nats, $\\ln {V}$. After {STEPS} "
    f"steps the table's loss on the whole training text is **{final_train:.4f}** "
    f"nats ({final_train / math.log(2):.3f} bits per character, perplexity "
    f"{math.exp(final_train):.2f}), close to the bigram floor of **{bigram_floor:.4f}**; "
    f"on the held-out tenth it is **{final_held_out:.4f}** "
    f"({final_held_out / math.log(2):.3f} bits per character): pairs the training "
    f"text rarely shows are worth less there."
))

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(7.0, 3.4))
ax.plot(np.arange(1, STEPS + 1), step_losses, color=OTHER, linewidth=1,
        label="loss of each step's batch")
eval_steps, eval_train, eval_held = map(np.array, zip(*evaluations, strict=True))
ax.plot(eval_steps, eval_train, color=CORRECT, marker="o", markersize=3,
        label="whole training text")
ax.plot(eval_steps, eval_held, color=ACCENT, marker="o", markersize=3,
        label="held-out text")
ax.axhline(math.log(V), color="black", linestyle="--", linewidth=1,
           label=f"ln V = {math.log(V):.3f}")
ax.axhline(bigram_floor, color="black", linestyle=":", linewidth=1,
           label=f"bigram floor = {bigram_floor:.3f}")
ax.set_xlabel("step")
ax.set_ylabel("loss (nats per character)")
ax.set_ylim(bigram_floor - 0.3, math.log(V) + 0.2)
ax.set_title("Training a character bigram table with celoss.cross_entropy_grad")
ax.legend(frameon=False, fontsize=8, loc="center right")
show_figure(
    fig, "training",
    alt=f"Loss curves over {STEPS} steps. The batch loss starts at ln V = "
        f"{math.log(V):.3f} and falls; the whole-training-text loss ends at "
        f"{final_train:.3f}, the held-out loss at {final_held_out:.3f}; a dotted line "
        f"marks the bigram floor {bigram_floor:.3f}.",
    caption="The loss falls from ln <i>V</i> towards the bigram floor, the conditional "
            "entropy of the training text; the held-out text stays above it.",
)

# %% [markdown]
# What the table has learned, sampled one character at a time from
# $\mathrm{softmax}(W_{i,:})$, starting after a newline:

# %%
sample = [char_to_id["\n"]]
for _ in range(160):
    next_probs = celoss.softmax(W[sample[-1]])  # (V,)
    sample.append(int(rng.choice(V, p=next_probs)))
print(decode(sample[1:]))

# %% [markdown]
# Check: at the first and the last step, torch gives the same loss, the same
# logit gradient and, through autograd on the table lookup, the same $W$
# gradient; the first loss is $\ln V$; and the whole-text losses agree.

# %%
for W_before, batch_inputs, batch_targets, W_grad in checkpoints:
    W_t = torch.tensor(W_before, requires_grad=True)  # (V, V)
    logits_t = W_t[torch.from_numpy(batch_inputs)]  # (B, T, V)
    loss_t = F.cross_entropy(logits_t.reshape(-1, V),  # (B*T, V)
                             torch.from_numpy(batch_targets).reshape(-1))
    loss_t.backward()  # through the lookup into W_t.grad
    np.testing.assert_allclose(W_grad, W_t.grad.numpy(),
                               rtol=RTOL64, atol=ATOL64)
    celoss.compare_with_torch(W_before[batch_inputs].reshape(-1, V),
                              batch_targets.reshape(-1))
final_train_t = F.cross_entropy(torch.from_numpy(W[train_ids[:-1]]),
                                torch.from_numpy(train_ids[1:])).item()
np.testing.assert_allclose(step_losses[0], math.log(V),
                           rtol=RTOL64, atol=ATOL64)
np.testing.assert_allclose(final_train, final_train_t,
                           rtol=RTOL64, atol=ATOL64)
assert bigram_floor < final_train < step_losses[0]
print(f"torch agrees at steps 1 and {STEPS}; "
      f"final train loss {final_train:.6f}")

# %% [markdown]
# ## Summary
#
# A language model's loss is ordinary cross-entropy over the vocabulary at
# every position, with a few conventions on top, each checked against
# PyTorch on this page:

# %% tags=["remove-input"]
summary = [
    ("targets", "the tokens shifted by one: `tokens[:, 1:]`", decode(targets[0])),
    ("layout", "$(B, T, V)$ flattened to $(B \\cdot T, V)$ or moved to $(B, V, T)$",
     f"mean {float(token_losses.mean()):.4f} both ways"),
    ("padding", "targets $-100$: no loss, no gradient, not counted",
     f"{float(pad_loss):.4f} (not {float(wrong_loss):.4f})"),
    ("averages", "token mean $\\ne$ mean of per-sequence means",
     f"{token_mean:.4f} vs {mean_of_means:.4f}"),
    ("accumulation", "sum per micro-batch, divide by the total count",
     f"{fixed_loss:.4f}, not {naive_loss:.4f}"),
    ("units", "bits = nats / ln 2, perplexity = exp(loss)",
     f"uniform: perplexity {math.exp(uniform_loss):.0f}"),
    ("initialisation", "$\\ln V + \\sigma^2/2$, with $\\sigma = \\sigma_w \\sqrt{d}$",
     ", ".join(f"{name} {m['loss']:.2f}" for name, m in init.items())),
    ("training", "from $\\ln V$ towards the bigram floor",
     f"{step_losses[0]:.3f} to {final_train:.3f} (floor {bigram_floor:.3f})"),
]
display(Markdown(
    "| idea | rule | on this page |\n|---|---|---|\n"
    + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary)
))

# %% [markdown]
# The [Verification](verification.md) page lists this chapter's comparisons
# with PyTorch among the rest, rerun at every build. Next: [Binary
# cross-entropy](binary-cross-entropy.py), where each output is its own
# two-class problem.

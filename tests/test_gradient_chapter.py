"""The "The gradient" chapter: docs/gradient.py and hooks/cases/gradient.py.

Named for the chapter: tests/test_gradient.py tests the module celoss.gradient.

The checks every chapter shares (house shape, a perturbed celoss or torch
stops the notebook, every case passes and fails when celoss is wrong) come
from tests/notebook_support.py; here, the notebook's gradients are compared
with the formula transcribed literally.
"""

import math

import numpy as np
import pytest

from notebook_support import ROOT, ChapterChecks, notebook_runs

NOTEBOOK = ROOT / "docs" / "gradient.py"
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"figures": "show_figure.count", "grad": "grad.tolist()", "gap": "float(gap)",
         "losses": "losses.tolist()", "steps": "steps", "checked": "len(checked_cases)",
         "row_sum_rounding": "row_sum_rounding",
         "grad_unnormalised": "grad_unnormalised.tolist()"}
# Scales one function's result: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = ["celoss.cross_entropy_grad", "celoss.cross_entropy", "celoss.softmax",
             "celoss.smoothed_targets", "torch.nn.functional.cross_entropy"]


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "The gradient"
    headings = [
        "## 1. Softmax minus one-hot",
        "## 2. Class weights",
        "## 3. ignore_index",
        "## 4. Label smoothing",
        "## 5. Probability targets, and everything at once",
        "## 6. Gradient descent on the seed's logits",
    ]
    perturbed = PERTURBED
    min_cases = 8


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


def literal_gradient(logits, targets):
    """(p_{n,c} - [c = y_n]) / N, one entry at a time with math.exp."""
    n_samples, n_classes = len(logits), len(logits[0])
    grad = np.zeros((n_samples, n_classes))
    for n in range(n_samples):
        total = sum(math.exp(x) for x in logits[n])
        for c in range(n_classes):
            grad[n, c] = (math.exp(logits[n][c]) / total - (c == targets[n])) / n_samples
    return grad


@pytest.mark.slow
def test_seed_gradient_is_softmax_minus_one_hot_over_n(runs):
    logits = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]  # the seed walkthrough's
    np.testing.assert_allclose(runs["facts"]["grad"], literal_gradient(logits, [0, 1]),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_label_smoothing_optimum_gap(runs):
    # p = q where the correct logit leads by ln((1 - eps + eps/C) / (eps/C))
    # = ln(1 + C (1 - eps) / eps) = ln(28) for C = 3, eps = 0.1.
    assert runs["facts"]["gap"] == pytest.approx(math.log(28.0), rel=1e-12)


@pytest.mark.slow
def test_descent_loss_falls_at_every_step_from_the_seed_loss(runs):
    losses = runs["facts"]["losses"]
    # The seed walkthrough's manual float64 loss (shared/seed/cross-entropy-walkthrough.txt).
    assert losses[0] == pytest.approx(0.3185397696491857, rel=1e-12)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert len(losses) == runs["facts"]["steps"] + 1
    assert losses[-1] < losses[0] / 10


@pytest.mark.slow
def test_every_option_is_checked(runs):
    # plain, weights, ignore_index, smoothing, probability targets, targets
    # whose rows sum to 2, and every option at once for three reductions
    assert runs["facts"]["checked"] == 9


@pytest.mark.slow
def test_seed_gradient_rows_sum_to_zero_but_for_rounding(runs):
    # the page writes "sums to 0 (to within rounding: ...)": a few ulps of 1 / N
    assert 0 <= runs["facts"]["row_sum_rounding"] < 4 * np.finfo(np.float64).eps


@pytest.mark.slow
def test_unnormalised_targets_give_p_times_row_sum_minus_t(runs):
    logits = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]  # the seed's
    targets = [[1.4, 0.4, 0.2], [0.2, 1.2, 0.6]]  # twice the page's soft targets
    expected = np.zeros((2, 3))
    for n in range(2):
        total = sum(math.exp(x) for x in logits[n])
        for c in range(3):
            p = math.exp(logits[n][c]) / total
            expected[n, c] = (p * sum(targets[n]) - targets[n][c]) / 2
    np.testing.assert_allclose(runs["facts"]["grad_unnormalised"], expected,
                               rtol=1e-12, atol=1e-15)

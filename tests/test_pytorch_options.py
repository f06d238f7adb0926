"""The "Every PyTorch option" chapter: its notebook and its Verification cases.

docs/pytorch-options.py and hooks/cases/pytorch_options.py. The checks every
chapter shares (house shape, a perturbed celoss or torch stops the notebook,
every case passes and fails when celoss is wrong) come from
tests/notebook_support.py; here, the notebook's pitfalls are checked against
the ratios they come from, and its NumPy and PyTorch tabs against each other.
"""

import math
import re

import numpy as np
import pytest

from notebook_support import ROOT, ChapterChecks, notebook_runs

NOTEBOOK = ROOT / "docs" / "pytorch-options.py"
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"figures": "show_figure.count", "checked": "len(checked)",
         "combinations": "combinations", "hand_written": "hand_written",
         "torch_style": "torch_style", "by_indices": "by_indices",
         "by_probabilities": "by_probabilities", "hand_smoothed": "hand_smoothed",
         "smoothed": "smoothed.tolist()", "uniform_loss": "uniform_loss",
         "snippet_outputs": "snippet_outputs",
         "weight_mismatch_torch": "weight_mismatch['torch']",
         "weight_mismatch_celoss": "float(weight_mismatch['celoss'])",
         "smoothed_soft_loss": "smoothed_soft_loss", "unchecked": "unchecked",
         "unchecked_t": "unchecked_t"}
# Scales one function's result: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = ["celoss.cross_entropy", "celoss.parity.cross_entropy_grad",
             "celoss.smoothed_targets", "celoss.entropy",
             "torch.nn.functional.cross_entropy"]


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Every PyTorch option"
    headings = [
        "## 1. reduction",
        "## 2. weight",
        "## 3. ignore_index",
        "## 4. label_smoothing",
        "## 5. Probability targets",
        "## 6. K-dimensional inputs (N, C, H, W)",
        "## 7. Unbatched input (C,)",
        "## 8. Every combination",
        "## 9. Pitfall: the weighted mean's denominator",
        "## 10. Pitfall: label smoothing with class weights",
    ]
    perturbed = PERTURBED
    min_cases = 30
    # Cases whose torch value is NaN: NaN + 0.1 is NaN, which still matches.
    nan_cases = {"cross_entropy": ("every target ignored: the mean is NaN",)}


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


@pytest.mark.slow
def test_weighted_mean_pitfall_is_the_ratio_of_denominators(runs):
    facts = runs["facts"]
    # weight [1, 3, 0.5], targets [0, 1]: sum of w_{y_n} = 4 against N = 2
    assert facts["hand_written"] / facts["torch_style"] == pytest.approx(4 / 2, rel=1e-12)


@pytest.mark.slow
def test_smoothing_with_weights_routes_differ_by_the_same_ratio(runs):
    facts = runs["facts"]
    assert facts["by_indices"] * 4 == pytest.approx(facts["by_probabilities"] * 2, rel=1e-12)
    assert not math.isclose(facts["hand_smoothed"], facts["by_indices"], rel_tol=1e-3)


@pytest.mark.slow
def test_label_smoothing_is_linear_in_epsilon(runs):
    smoothed = np.array(runs["facts"]["smoothed"])
    np.testing.assert_allclose(np.diff(smoothed, 2), 0.0, atol=1e-12)
    assert smoothed[-1] == pytest.approx(runs["facts"]["uniform_loss"], rel=1e-12)


@pytest.mark.slow
def test_every_combination_ran(runs):
    # 8 subsets of three options for class indices, 4 of two for probabilities;
    # three layouts; three reductions
    assert runs["facts"]["combinations"] == (8 + 4) * 3 * 3
    assert runs["facts"]["checked"] > runs["facts"]["combinations"]


@pytest.mark.slow
def test_numpy_and_pytorch_tabs_print_the_same_numbers(runs):
    pairs = runs["facts"]["snippet_outputs"]
    assert len(pairs) == NOTEBOOK.read_text().count("side_by_side(\'\'\'")
    for numpy_printed, torch_printed in pairs:
        numbers = [[float(x) for x in re.findall(r"-?\d+\.\d+", text)]
                   for text in (numpy_printed, torch_printed)]
        assert numbers[0], numpy_printed
        np.testing.assert_allclose(numbers[0], numbers[1], rtol=0, atol=1e-6)


# The page's inputs, typed from docs/pytorch-options.py for the literal sums below.
SEED_LOGITS = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]
SEED_TARGETS = [0, 1]
SOFT = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]


def log_softmax_row(row):
    """log p_c of one row of logits, with math.exp."""
    top = max(row)
    log_total = math.log(sum(math.exp(v - top) for v in row))
    return [v - top - log_total for v in row]


@pytest.mark.slow
def test_torch_wants_the_weight_in_the_logits_dtype_and_celoss_casts_it(runs):
    facts = runs["facts"]
    # torch 2.13, float32 logits and a float64 weight with class indices
    assert facts["weight_mismatch_torch"] == ("RuntimeError: expected scalar type Float "
                                              "but found Double")
    weight = [1.0, 3.0, 0.5]
    total = sum(-weight[y] * log_softmax_row(row)[y]
                for row, y in zip(SEED_LOGITS, SEED_TARGETS, strict=True))
    expected = total / sum(weight[y] for y in SEED_TARGETS)
    assert facts["weight_mismatch_celoss"] == pytest.approx(expected, rel=1e-6)  # float32


@pytest.mark.slow
def test_label_smoothing_mixes_probability_targets_with_the_uniform(runs):
    eps, n_classes = 0.2, 3
    losses = [-sum(((1 - eps) * t + eps / n_classes) * lp
                   for t, lp in zip(target, log_softmax_row(row), strict=True))
              for row, target in zip(SEED_LOGITS, SOFT, strict=True)]
    assert runs["facts"]["smoothed_soft_loss"] == pytest.approx(sum(losses) / 2, rel=1e-12)


@pytest.mark.slow
def test_targets_that_are_not_distributions_are_not_checked(runs):
    facts = runs["facts"]
    losses = [-sum((3 * t - 1) * lp for t, lp in zip(target, log_softmax_row(row), strict=True))
              for row, target in zip(SEED_LOGITS, SOFT, strict=True)]
    assert facts["unchecked"] == pytest.approx(sum(losses) / 2, rel=1e-12)
    assert facts["unchecked_t"] == pytest.approx(facts["unchecked"], rel=1e-12)
    assert facts["unchecked"] < 0  # below every entropy: no longer a cross-entropy

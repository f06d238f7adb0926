"""The Binary cross-entropy chapter: docs/binary-cross-entropy.py and its Verification cases.

Where the sigmoid rounds to 1, the stable loss from logits against the naive
one, pos_weight, the weighted mean and the two-class softmax: the facts the
notebook computes are read back and checked against float formats and
hand-derived values. The checks every chapter shares come from
tests/notebook_support.py, with the binary functions perturbed, nudged and
shifted in place of cross_entropy.
"""

import math

import pytest

from notebook_support import ROOT, ChapterChecks, everywhere, notebook_runs

NOTEBOOK = ROOT / "docs" / "binary-cross-entropy.py"
FACTS = {name: name for name in [
    "thresholds", "stable_loss", "naive_loss", "clamped_t", "pos_weight", "weighted",
    "halved", "normalised", "softmax_ce", "binary", "shape_errors", "by_column",
    "by_channel"]} | {"figures": "show_figure.count", "label_logits": "label_logits.tolist()",
                      "soft_labels": "soft_labels.tolist()", "grad_soft": "grad_soft.tolist()"}
# One part in a million: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = everywhere("binary_cross_entropy_with_logits_grad",
                       "binary_cross_entropy_with_logits") | {
    "torch.nn.functional.binary_cross_entropy_with_logits":
        ["torch.nn.functional.binary_cross_entropy_with_logits"]}


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Binary cross-entropy"
    headings = [
        "## 1. The sigmoid",
        "## 2. Binary cross-entropy, from the logits",
        "## 3. The gradient: sigmoid minus target",
        "## 4. pos_weight: rare positives",
        "## 5. weight, and what the mean divides by",
        "## 6. A two-class softmax is a sigmoid",
    ]
    page_helpers_check = False
    perturbed = list(PERTURBED)
    min_cases = 10
    # The functions a case can compare (each nudged in turn).
    nudged = ["binary_cross_entropy_with_logits_grad", "binary_cross_entropy_with_logits",
              "sigmoid", "log_sigmoid", "cross_entropy", "cross_entropy_grad"]
    shifted = ["binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad"]


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


@pytest.mark.slow
def test_sigmoid_rounds_to_one_near_ln2_times_significand_bits(runs):
    facts = runs["facts"]
    # 1 + exp(-x) rounds to 1 once exp(-x) < eps / 2, i.e. x > (p) ln 2 with
    # p = 24 significand bits in float32 and 53 in float64; the page searches
    # a 0.01 grid, so it finds the next grid point.
    assert facts["thresholds"]["float32"] == pytest.approx(24 * math.log(2), abs=0.011)
    assert facts["thresholds"]["float64"] == pytest.approx(53 * math.log(2), abs=0.011)


@pytest.mark.slow
def test_stable_loss_is_finite_where_the_naive_one_is_inf(runs):
    facts = runs["facts"]
    assert facts["stable_loss"] == pytest.approx(40.0, rel=1e-12)  # x(1 - y) + log(1 + e^-40)
    assert facts["naive_loss"] == [math.inf]
    assert facts["clamped_t"] == 100.0  # F.binary_cross_entropy clamps log at -100


@pytest.mark.slow
def test_pos_weight_is_negatives_over_positives(runs):
    facts = runs["facts"]
    assert facts["pos_weight"] == [1.0, 3.0, 7.0]  # 4, 2 and 1 positives out of 8


@pytest.mark.slow
def test_weighted_mean_divides_by_the_element_count(runs):
    facts = runs["facts"]
    assert facts["halved"] == pytest.approx(facts["weighted"] / 2, rel=1e-13)
    assert abs(facts["normalised"] - facts["weighted"]) > 1e-3


@pytest.mark.slow
def test_two_class_softmax_is_the_binary_loss(runs):
    facts = runs["facts"]
    assert facts["softmax_ce"] == pytest.approx(facts["binary"], rel=1e-12)


@pytest.mark.slow
def test_pos_weight_gradient_is_not_sigma_minus_y_for_soft_targets(runs):
    facts = runs["facts"]
    pos_weight = facts["pos_weight"]
    for logits, targets, grads in zip(facts["label_logits"], facts["soft_labels"],
                                      facts["grad_soft"], strict=True):
        for x, y, w, grad in zip(logits, targets, pos_weight, grads, strict=True):
            # d/dx of -[w y log sigma(x) + (1 - y) log(1 - sigma(x))], by hand
            sigma = 1 / (1 + math.exp(-x))
            assert grad == pytest.approx(-w * y * (1 - sigma) + (1 - y) * sigma,
                                         rel=1e-12, abs=1e-15)
    # the soft targets make w != 1 outputs differ from (sigma - y) times a weight
    assert pos_weight[1] != 1 and 0 < facts["soft_labels"][0][1] < 1


@pytest.mark.slow
def test_pos_weight_of_shape_c_does_not_fit_image_logits(runs):
    facts = runs["facts"]
    # (C,) = (3,) against (N, C, H, W) = (2, 3, 4, 5): aligned with W = 5
    assert facts["shape_errors"]["torch"].startswith(
        "RuntimeError: The size of tensor a (3) must match the size of tensor b (5)")
    assert facts["shape_errors"]["celoss"].startswith("ValueError: pos_weight of shape (3,)")
    assert not math.isclose(facts["by_column"], facts["by_channel"], rel_tol=1e-3)

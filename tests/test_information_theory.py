"""The Information theory chapter: docs/information-theory.py and its Verification cases.

Entropy, KL divergence, H(t, p) = H(t) + KL(t || p) (p the model's softmax,
t the target), why cross-entropy is the loss (maximum likelihood, a strictly
proper scoring rule, a gradient that does not vanish, convexity in the
logits) and distillation with a temperature: the facts the notebook computes
are read back from its namespace and checked against hand-computed values
and the identities they illustrate.
The checks every chapter shares come from tests/notebook_support.py; the
cases in hooks/cases/information_theory.py compare kl_div most often, so
that is the step shifted there.
"""

import math

import numpy as np
import pytest

from notebook_support import ROOT, ChapterChecks, everywhere, notebook_runs

NOTEBOOK = ROOT / "docs" / "information-theory.py"
FACTS = {name: name for name in [
    "entropies", "kl_tp", "kl_pt", "kl_tt", "gap", "H_tp", "H_t", "KL_tp", "scaled_norms",
    "unscaled_norms", "sweep", "limit_norm",
    # section 6, Why this loss
    "labels", "x_start", "mean_loss", "neg_log_likelihood", "cross_to_empirical",
    "entropy_plus_kl", "p_fit", "fit_loss", "true_dist", "reports", "expected_log",
    "expected_linear", "best_report", "best_linear", "true3", "best3", "margins",
    "ce_norms", "se_norms", "ce_grads", "se_grads", "margin_logits", "x_h", "hessian",
    "eigenvalues"]} | {"figures": "show_figure.count"}
# One part in a million: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = everywhere("cross_entropy_grad", "cross_entropy", "kl_div", "entropy") | {
    "torch.nn.functional.cross_entropy": ["torch.nn.functional.cross_entropy"]}


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Information theory"
    headings = [
        "## 1. Entropy",
        "## 2. Cross-entropy",
        "## 3. KL divergence",
        "## 4. Cross-entropy = entropy + KL divergence",
        "## 5. Why cross-entropy and KL give the same gradient",
        "## 6. Why this loss",
        "## 7. Soft targets and distillation with a temperature",
    ]
    figures = {"## 6. Why this loss": 2,
               "## 7. Soft targets and distillation with a temperature": 2}
    page_helpers_check = False
    perturbed = list(PERTURBED)
    min_cases = 10
    # The functions a case can compare (each nudged in turn).
    nudged = ["cross_entropy_grad", "cross_entropy", "kl_div", "entropy", "softmax",
              "log_softmax", "soft_target_loss"]
    shifted = ["kl_div"]  # the step most of its cases compare


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


@pytest.mark.slow
def test_entropies_are_zero_and_log_c_at_the_extremes(runs):
    facts = runs["facts"]
    # The page's three distributions: certain, (0.7, 0.1, 0.1, 0.1), uniform over 4.
    assert facts["entropies"][0] == 0.0
    assert facts["entropies"][2] == pytest.approx(math.log(4), rel=1e-12)
    # -(0.7 ln 0.7 + 3 * 0.1 ln 0.1), by hand
    assert facts["entropies"][1] == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.1)))


@pytest.mark.slow
def test_kl_is_zero_for_equal_distributions_and_asymmetric(runs):
    facts = runs["facts"]
    assert facts["kl_tt"] == 0.0
    assert facts["kl_tp"] > 0 and facts["kl_pt"] > 0
    assert abs(facts["kl_tp"] - facts["kl_pt"]) > 1e-3


@pytest.mark.slow
def test_cross_entropy_is_entropy_plus_kl(runs):
    facts = runs["facts"]
    assert facts["gap"] < 1e-14
    for h_tp, h_t, kl in zip(facts["H_tp"], facts["H_t"], facts["KL_tp"], strict=True):
        assert h_tp == pytest.approx(h_t + kl, rel=1e-13)
        assert h_tp >= h_t


@pytest.mark.slow
def test_distillation_gradient_keeps_its_size_with_t_squared(runs):
    facts = runs["facts"]
    scaled, unscaled, sweep = facts["scaled_norms"], facts["unscaled_norms"], facts["sweep"]
    assert scaled[-1] == pytest.approx(facts["limit_norm"], rel=0.05)
    assert unscaled[-1] == pytest.approx(scaled[-1] / sweep[-1] ** 2, rel=1e-12)
    assert max(scaled) / min(scaled) < 2  # the scaled gradient stays the same size
    assert unscaled[0] / unscaled[-1] > 1000  # the bare KL's fades


@pytest.mark.slow
def test_mean_loss_is_maximum_likelihood_and_cross_entropy_to_the_label_frequencies(runs):
    facts = runs["facts"]
    labels, x = np.array(facts["labels"]), np.array(facts["x_start"][0])
    # By hand, from the labels and logits alone: log-softmax, then the likelihood.
    log_p = x - math.log(np.exp(x).sum())
    frequencies = np.bincount(labels) / len(labels)
    by_hand = -log_p[labels].sum() / len(labels)
    for name in ["mean_loss", "neg_log_likelihood", "cross_to_empirical", "entropy_plus_kl"]:
        assert facts[name] == pytest.approx(by_hand, rel=1e-12), name
    assert by_hand == pytest.approx(-(frequencies * log_p).sum(), rel=1e-12)
    # Gradient descent ends at the frequencies, where the loss is their entropy.
    np.testing.assert_allclose(facts["p_fit"], frequencies, rtol=1e-12)
    assert facts["fit_loss"] == pytest.approx(-(frequencies * np.log(frequencies)).sum(),
                                              rel=1e-12)
    assert facts["fit_loss"] < facts["mean_loss"]


@pytest.mark.slow
def test_expected_log_loss_is_least_at_the_true_distribution(runs):
    facts = runs["facts"]
    t, reports = np.array(facts["true_dist"]), np.array(facts["reports"])
    expected = -(t[0] * np.log(1 - reports) + t[1] * np.log(reports))  # by hand
    np.testing.assert_allclose(facts["expected_log"], expected, rtol=1e-12)
    assert facts["best_report"] == pytest.approx(t[1], abs=1e-12)
    assert min(facts["expected_log"]) == pytest.approx(-(t * np.log(t)).sum(), rel=1e-12)
    # The linear score is improper: least at the most confident report on the grid.
    assert facts["best_linear"] == max(facts["reports"])
    np.testing.assert_allclose(facts["best3"], facts["true3"], atol=1e-12)


@pytest.mark.slow
def test_squared_error_gradient_vanishes_when_confidently_wrong(runs):
    facts = runs["facts"]
    margins, ce, se = (np.array(facts[k]) for k in ["margins", "ce_norms", "se_norms"])
    logits = np.array(facts["margin_logits"])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = np.eye(3)[np.zeros(len(margins), dtype=int)]
    # The cross-entropy gradient is p - e_y; the squared error's is 2 J (p - e_y).
    np.testing.assert_allclose(facts["ce_grads"], probs - one_hot, rtol=1e-12, atol=1e-15)
    for p, r, grad in zip(probs, probs - one_hot, facts["se_grads"], strict=True):
        jacobian = np.diag(p) - np.outer(p, p)
        np.testing.assert_allclose(grad, 2 * jacobian @ r, rtol=1e-9, atol=1e-15)
    assert ce[-1] == pytest.approx(math.sqrt(2), rel=1e-6)  # |e_1 - e_0|
    assert se[-1] < 1e-5 * ce[-1]
    confident = margins >= 5
    assert np.all(np.diff(se[confident]) < 0)  # decays as the mistake grows
    assert np.all(np.diff(ce[confident]) > 0)  # grows towards sqrt(2)


@pytest.mark.slow
def test_hessian_is_positive_semidefinite_with_one_zero_eigenvalue(runs):
    facts = runs["facts"]
    x = np.array(facts["x_h"])
    p = np.exp(x) / np.exp(x).sum()
    hessian = np.array(facts["hessian"])
    np.testing.assert_allclose(hessian, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessian.sum(axis=1), 0, atol=1e-15)  # shift-invariance
    eigenvalues = np.array(facts["eigenvalues"])
    np.testing.assert_allclose(eigenvalues, np.linalg.eigvalsh(hessian), atol=1e-15)
    assert eigenvalues[0] == pytest.approx(0, abs=1e-15)
    assert np.all(eigenvalues[1:] > 1e-3)

"""The Information theory chapter: docs/information-theory.py and its Verification cases.

Entropy, KL divergence, H(p, q) = H(p) + KL(p || q) and distillation with a
temperature: the facts the notebook computes are read back from its namespace
and checked against hand-computed values and the identities they illustrate.
The checks every chapter shares come from tests/notebook_support.py; the
cases in hooks/cases/information_theory.py compare kl_div most often, so
that is the step shifted there.
"""

import math

import pytest

from notebook_support import ROOT, ChapterChecks, everywhere, notebook_runs

NOTEBOOK = ROOT / "docs" / "information-theory.py"
FACTS = {name: name for name in [
    "entropies", "kl_pq", "kl_qp", "kl_pp", "gap", "H_pq", "H_p", "KL_pq", "scaled_norms",
    "unscaled_norms", "sweep", "limit_norm"]} | {"figures": "show_figure.count"}
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
        "## 6. Soft targets and distillation with a temperature",
    ]
    figures = {"## 6. Soft targets and distillation with a temperature": 2}
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
    assert facts["kl_pp"] == 0.0
    assert facts["kl_pq"] > 0 and facts["kl_qp"] > 0
    assert abs(facts["kl_pq"] - facts["kl_qp"]) > 1e-3


@pytest.mark.slow
def test_cross_entropy_is_entropy_plus_kl(runs):
    facts = runs["facts"]
    assert facts["gap"] < 1e-14
    for h_pq, h_p, kl in zip(facts["H_pq"], facts["H_p"], facts["KL_pq"], strict=True):
        assert h_pq == pytest.approx(h_p + kl, rel=1e-13)
        assert h_pq >= h_p


@pytest.mark.slow
def test_distillation_gradient_keeps_its_size_with_t_squared(runs):
    facts = runs["facts"]
    scaled, unscaled, sweep = facts["scaled_norms"], facts["unscaled_norms"], facts["sweep"]
    assert scaled[-1] == pytest.approx(facts["limit_norm"], rel=0.05)
    assert unscaled[-1] == pytest.approx(scaled[-1] / sweep[-1] ** 2, rel=1e-12)
    assert max(scaled) / min(scaled) < 2  # the scaled gradient stays the same size
    assert unscaled[0] / unscaled[-1] > 1000  # the bare KL's fades

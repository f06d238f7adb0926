"""The "Common mistakes" chapter: its notebook and its Verification cases.

docs/common-mistakes.py and hooks/cases/common_mistakes.py. The checks every
chapter shares (house shape, a perturbed celoss or torch stops the notebook,
every case passes and fails when celoss is wrong) come from
tests/notebook_support.py; here, the facts the notebook shows (the
softmax-twice floor, where float32 underflows, torch's dtype rule) are
derived independently.
"""

import math

import pytest

from notebook_support import ROOT, ChapterChecks, notebook_runs

NOTEBOOK = ROOT / "docs" / "common-mistakes.py"
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"figures": "show_figure.count", "class_counts": "class_counts.tolist()",
         "floors": "floors.tolist()", "curve_double": "curve_double.tolist()",
         "curve_right": "curve_right.tolist()", "first_bad": "first_bad",
         "torch_accepts": "[f'{a}/{b}' for (a, b), e in outcomes['torch'].items() if e is None]",
         "celoss_accepts": "[f'{a}/{b}' for (a, b), e in outcomes['celoss'].items() if e is None]",
         "wrapped": "int(as_uint8[-1])", "padded_loss": "padded_loss",
         "right_loss": "right_loss", "silent": "float(silent)",
         "fixed_seq": "float(fixed_seq)"}
# Scales one function's result: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = ["celoss.cross_entropy", "celoss.cross_entropy_grad", "celoss.softmax",
             "torch.nn.functional.cross_entropy"]


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Common mistakes"
    headings = [
        "## 1. Softmax before CrossEntropyLoss",
        "## 2. log(softmax(x)) instead of log_softmax",
        "## 3. The class axis in the wrong place",
        "## 4. One-hot float targets instead of class indices",
        "## 5. Integer dtype pitfalls",
    ]
    perturbed = PERTURBED
    min_cases = 15
    nudge_exempt = {"mistake: log(softmax) on [50, 0, -60], target 2 (inf)":
                    "its loss is inf, and inf times (1 + 1e-6) is inf"}


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


@pytest.mark.slow
def test_softmax_twice_floor_is_ln_1_plus_c_minus_1_over_e(runs):
    facts = runs["facts"]
    for count, floor in zip(facts["class_counts"], facts["floors"], strict=True):
        assert floor == pytest.approx(math.log(1 + (count - 1) / math.e), rel=1e-12)
    seed_floor = math.log(1 + 2 / math.e)  # C = 3
    assert min(facts["curve_double"]) > seed_floor
    assert facts["curve_right"][-1] < seed_floor


@pytest.mark.slow
def test_log_of_softmax_fails_where_float32_underflows(runs):
    # exp(-d) rounds to 0 in float32 below half the smallest subnormal, 2**-150:
    # d > 150 ln 2 = 103.97; the page's grid steps by 1.
    assert runs["facts"]["first_bad"] == math.ceil(150 * math.log(2))


@pytest.mark.slow
def test_dtype_grid_follows_torchs_long_or_byte_rule(runs):
    accepted = {tuple(pair.split("/")) for pair in runs["facts"]["torch_accepts"]}
    # torch: "expected target dtype to be Long or Byte"; integer logits fail
    assert accepted == {(logits, targets) for logits in ("float16", "float32", "float64")
                        for targets in ("uint8", "int64")}
    assert len(runs["facts"]["celoss_accepts"]) == 3 * 4  # any integer targets


@pytest.mark.slow
def test_uint8_padding_is_scored_as_class_156(runs):
    facts = runs["facts"]
    assert facts["wrapped"] == 256 - 100
    assert not math.isclose(facts["padded_loss"], facts["right_loss"], rel_tol=1e-3)


@pytest.mark.slow
def test_silent_wrong_axis_gives_a_different_loss(runs):
    assert not math.isclose(runs["facts"]["silent"], runs["facts"]["fixed_seq"], rel_tol=1e-3)

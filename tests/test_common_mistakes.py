"""The "Common mistakes" chapter: its notebook and its Verification cases.

docs/common-mistakes.py and hooks/cases/common_mistakes.py. The checks every
chapter shares (house shape, a perturbed celoss or torch stops the notebook,
every case passes and fails when celoss is wrong) come from
tests/notebook_support.py; here, the facts the notebook shows (the
softmax-twice floor, where float32 underflows, torch's dtype rule, the block
a column of labels picks, which batches of 1-based labels raise) are derived
independently.
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
         "fixed_seq": "float(fixed_seq)", "column_errors": "column_errors",
         "column_logits": "column_logits.tolist()",
         "column_labels": "column_labels.tolist()", "hand_mean": "hand_mean",
         "column_fixed": "column_fixed", "first_error": "first_error",
         "data_labels": "data_labels.tolist()", "C_data": "C_data",
         "batch_outcomes": "batch_outcomes"}
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
        "## 6. Targets of shape (N, 1)",
        "## 7. Labels numbered 1 to C",
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


@pytest.mark.slow
def test_a_column_of_targets_raises_in_both_libraries(runs):
    errors = runs["facts"]["column_errors"]
    # torch 2.13's message for a (N, 1) target with (N, C) logits
    assert errors["torch"] == ("RuntimeError: 0D or 1D target tensor expected, "
                               "multi-target not supported")
    assert errors["celoss"].startswith("ValueError: targets shape (2, 1)")


@pytest.mark.slow
def test_hand_written_nll_with_a_column_averages_the_whole_block(runs):
    facts = runs["facts"]
    labels = [row[0] for row in facts["column_labels"]]

    def nll(row, label):  # -log softmax(row)[label], with math.exp
        return -row[label] + math.log(sum(math.exp(v) for v in row))

    rows = facts["column_logits"]
    diagonal = [nll(rows[n], labels[n]) for n in range(len(rows))]
    block = [nll(rows[m], labels[n]) for n in range(len(rows)) for m in range(len(rows))]
    assert facts["column_fixed"] == pytest.approx(sum(diagonal) / len(diagonal), rel=1e-12)
    assert facts["hand_mean"] == pytest.approx(sum(block) / len(block), rel=1e-12)
    assert not math.isclose(facts["hand_mean"], facts["column_fixed"], rel_tol=1e-3)


@pytest.mark.slow
def test_one_based_labels_raise_exactly_on_the_batches_with_label_c(runs):
    facts = runs["facts"]
    top = facts["C_data"]
    expected = [top in batch for batch in facts["data_labels"]]
    for library in ("celoss", "torch"):
        raised = [isinstance(o, str) for o in facts["batch_outcomes"][library]]
        assert raised == expected, library
    assert 0 < sum(expected) < len(expected)  # the page shows both kinds of batch
    assert not expected[0]  # the first batch runs: the error comes later
    assert facts["first_error"]["torch"] == f"IndexError: Target {top} is out of bounds."
    assert facts["first_error"]["celoss"].startswith("IndexError:")

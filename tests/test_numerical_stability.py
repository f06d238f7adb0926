"""The "Numerical stability" chapter: its notebook and its Verification cases.

docs/numerical-stability.py and hooks/cases/numerical_stability.py. The checks
every chapter shares (house shape, a perturbed celoss or torch stops the
notebook, every case passes and fails when celoss is wrong) come from
tests/notebook_support.py; here, the facts the notebook computes are compared
with values derived independently, from the float formats' definitions.
"""

import math
import re
import sys

import pytest

from notebook_support import ROOT, ChapterChecks, notebook_runs

NOTEBOOK = ROOT / "docs" / "numerical-stability.py"
# The checks on the page use float32 and float16 tolerances too, so the
# perturbation is larger than float16's rtol (5e-3).
FACTOR = 1 + 1e-2
PERTURBED = ["celoss.softmax", "celoss.log_softmax", "celoss.cross_entropy",
             "torch.softmax", "torch.nn.functional.cross_entropy"]
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"thresholds": "thresholds", "figures": "show_figure.count",
         "step_float16": "step_float16", "step_bfloat16": "step_bfloat16",
         "first_inf": "first_inf", "ln_v": "ln_v",
         "torch_bfloat16": "torch_losses['bfloat16']", "loss_64": "loss_64",
         "sigma": "sigma", "logit_std": "float(lm_logits.std())",
         "naive_rows": "{name: naive for name, (naive, _, _) in naive_rows.items()}",
         "autocast_logits_dtype": "str(autocast_logits.dtype)",
         "autocast_loss_dtype": "str(autocast_loss.dtype)",
         "bf16_loss_dtype": "str(bf16_loss.dtype)",
         "autocast_loss": "autocast_loss.item()", "float_loss": "float_loss.item()",
         "bf16_loss": "bf16_loss.item()", "rounded_64": "rounded_64"}


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Numerical stability"
    headings = [
        "## 1. Where exp overflows",
        "## 2. Subtracting the row maximum",
        "## 3. Log-sum-exp",
        "## 4. log(softmax(x)) against log_softmax",
        "## 5. float16 and bfloat16 losses near ln V",
    ]
    perturbed = PERTURBED
    min_cases = 6
    nudged = ["cross_entropy", "log_softmax", "softmax", "cross_entropy_grad"]
    shifted = ["cross_entropy", "log_softmax"]
    nudge_exempt = {"bfloat16 loss near ln V, V = 50,257, within one step":
                    "checked against float64 to within one bfloat16 step (0.0625)"}


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


@pytest.mark.slow
def test_overflow_thresholds_are_ln_of_each_formats_largest_value(runs):
    # Largest finite values from the formats' definitions (IEEE 754 binary16 and
    # binary32: (2 - 2**-fraction_bits) * 2**max_exponent; bfloat16 is binary32's
    # exponent with 7 fraction bits), not from numpy or torch.
    largest = {"float16": (2 - 2**-10) * 2.0**15, "float32": (2 - 2**-23) * 2.0**127,
               "bfloat16": (2 - 2**-7) * 2.0**127, "float64": sys.float_info.max}
    thresholds = runs["facts"]["thresholds"]
    for name, value in largest.items():
        assert thresholds[name] == pytest.approx(math.log(value), rel=1e-12), name
    assert round(thresholds["float16"], 1) == 11.1  # the "about 11.1"
    assert round(thresholds["float32"], 1) == 88.7  # and "about 88.7"


@pytest.mark.slow
def test_sixteen_bit_steps_near_ln_v(runs):
    facts = runs["facts"]
    assert facts["ln_v"] == pytest.approx(math.log(50_257))
    # 8 <= ln V < 16: the exponent is 3, so a step is 2**(3 - fraction bits).
    assert 8 <= facts["ln_v"] < 16
    assert facts["step_float16"] == 2.0 ** (3 - 10)
    assert facts["step_bfloat16"] == 2.0 ** (3 - 7) == 0.0625
    assert abs(facts["torch_bfloat16"] - facts["loss_64"]) <= facts["step_bfloat16"]


@pytest.mark.slow
def test_log_of_softmax_is_minus_infinity_where_float32_underflows(runs):
    # exp(-d) rounds to 0 in float32 once it is below half the smallest
    # subnormal, 2**-150: d > 150 ln 2 = 103.97; the page's grid steps by 0.5.
    first = runs["facts"]["first_inf"]
    assert first - 0.5 < 150 * math.log(2) <= first


def test_naive_code_is_labelled_and_inside_errstate():
    source = NOTEBOOK.read_text()
    assert "def naive_softmax" in source and "NAIVE" in source
    for line_number, line in enumerate(source.splitlines(), start=1):
        if re.search(r"naive\w* = .*np\.(log|exp)\(", line):
            before = source.splitlines()[line_number - 2]
            assert "np.errstate" in before or "np.errstate" in line, line


@pytest.mark.slow
def test_naive_softmax_is_nan_where_exp_overflows_and_zero_elsewhere(runs):
    # [90, 89, 88] in float32: exp overflows above 88.72, so for 90 and 89
    # (inf / inf = nan) and not for 88 (finite / inf = 0). [12, 11, 10] in
    # float16: above 11.09 only 12 overflows.
    naive = runs["facts"]["naive_rows"]
    for name, expected in [("float32", [True, True, False]),
                           ("float16", [True, False, False])]:
        assert [math.isnan(p) for p in naive[name]] == expected, name
        assert all(p == 0.0 for p, nan in zip(naive[name], expected, strict=True)
                   if not nan), name


@pytest.mark.slow
def test_first_logits_of_gpt2_have_sigma_w_sqrt_d_spread(runs):
    facts = runs["facts"]
    # GPT-2: d = 768, output weights N(0, 0.02^2), unit-rms hidden states.
    assert facts["sigma"] == pytest.approx(0.02 * math.sqrt(768), rel=1e-12)
    assert facts["logit_std"] == pytest.approx(facts["sigma"], rel=0.01)
    # ln V + sigma^2 / 2 = 10.98, not ln V = 10.82; a mean of 64 positions is
    # within 0.2 of it (0.07 is its standard error: sigma / sqrt(64)).
    assert abs(facts["loss_64"] - (facts["ln_v"] + facts["sigma"] ** 2 / 2)) < 0.2


@pytest.mark.slow
def test_autocast_and_dot_float_compute_the_loss_in_float32(runs):
    facts = runs["facts"]
    assert facts["autocast_logits_dtype"] == "torch.bfloat16"
    assert facts["autocast_loss_dtype"] == "torch.float32"
    assert facts["bf16_loss_dtype"] == "torch.bfloat16"
    # float32 losses of the bfloat16 logits: float32's precision, far inside a
    # bfloat16 step; only the logits' rounding separates them from loss_64.
    for name in ("autocast_loss", "float_loss"):
        assert facts[name] == pytest.approx(facts["rounded_64"], rel=1e-6), name
        assert abs(facts[name] - facts["loss_64"]) < facts["step_bfloat16"] / 8, name
    # the pure-bfloat16 loss is a bfloat16 number: in [8, 16) a multiple of 2**(3 - 7)
    bf16 = facts["bf16_loss"]
    assert 8 <= bf16 < 16 and (bf16 / 2.0 ** (3 - 7)).is_integer()

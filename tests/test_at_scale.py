"""The At scale chapter: docs/at-scale.py and its Verification cases.

The memory arithmetic is checked against the published sizes it starts from;
the measured memory only where it is deterministic enough, with wide
margins (never the times). The functions the chapter is about return tuples
(``fused_cross_entropy`` with ``return_grad=True``, ``online_logsumexp``) or
tensors (the chunked torch Function), so the perturbation that must stop
the notebook and fail the cases scales every array in a result, a tuple's
too. The checks every chapter shares come from tests/notebook_support.py.
"""

import contextlib
import functools

import pytest

import celoss
import celoss.fused
import celoss.parity
import notebook_support
from notebook_support import ROOT, ChapterChecks, load_cases, run_notebook

NOTEBOOK = ROOT / "docs" / "at-scale.py"
FACTS = {name: name for name in [
    "arithmetic", "log_softmax_dtype", "fused_errors", "SWEEP_N", "SWEEP_V", "extra_mib",
    "logits_mib", "seconds", "CHUNK_N", "CHUNK_V", "chunk_mib", "saving"]} | {
    "online_lse": "online_lse.ravel().tolist()", "figures": "show_figure.count"}
# Fifty times float32's relative tolerance (celoss.TOLERANCES: 2e-5).
FACTOR = 1 + 1e-3

# Where each function the chapter checks is looked up, by the notebook and the cases.
PLACES = {
    "fused_cross_entropy": ["celoss.fused_cross_entropy", "celoss.fused.fused_cross_entropy"],
    "online_logsumexp": ["celoss.fused.online_logsumexp"],
    "chunked_linear_cross_entropy": ["celoss.parity.chunked_linear_cross_entropy"],
}
PERTURBED = {f"celoss: {name}": places for name, places in PLACES.items()} | {
    "torch.nn.functional.cross_entropy": ["torch.nn.functional.cross_entropy"],
    "torch.logsumexp": ["torch.logsumexp"]}

# A wrong result: every array or tensor in it scaled (and shifted); lists (the
# running maxima of online_logsumexp) kept. The notebook driver runs this same
# source, so the notebook and the cases are perturbed alike.
SCALED = '''
def scaled(result, factor, shift=0.0):
    """result * factor + shift; each item of a tuple so; a list as it is."""
    if isinstance(result, tuple):
        return tuple(scaled(item, factor, shift) for item in result)
    if isinstance(result, list):
        return result
    return result * factor + shift
'''
namespace = {}
exec(SCALED, namespace)
scaled = namespace["scaled"]
MULTIPLY = "_original(*args, **kwargs) * factor"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The notebook once as written, then once per PERTURBED function, scaled by FACTOR."""
    assert MULTIPLY in notebook_support.DRIVER  # the line this module replaces
    driver = SCALED + notebook_support.DRIVER.replace(
        MULTIPLY, "scaled(_original(*args, **kwargs), factor)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(notebook_support, "DRIVER", driver)
        return run_notebook(NOTEBOOK, FACTS, PERTURBED, FACTOR,
                            tmp_path_factory.mktemp("at-scale"))


@contextlib.contextmanager
def wrong(name, factor=1.0, shift=0.0):
    """celoss's ``name``, everywhere it is looked up, returning scaled(result, ...)."""
    saved = []
    for path in PLACES[name]:
        module_name, attribute = path.rsplit(".", 1)
        module = {"celoss": celoss, "celoss.fused": celoss.fused,
                  "celoss.parity": celoss.parity}[module_name]
        original = getattr(module, attribute)

        @functools.wraps(original)
        def perturbed(*args, _original=original, **kwargs):
            return scaled(_original(*args, **kwargs), factor, shift)

        saved.append((module, attribute, original))
        setattr(module, attribute, perturbed)
    try:
        yield
    finally:
        for module, attribute, original in saved:
            setattr(module, attribute, original)


ALL_IGNORED = "chunked linear + cross-entropy, mean, N = 50, chunks of 16, 50 ignored"


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "At scale"
    headings = [
        "## 1. The memory arithmetic",
        "## 2. Why the full softmax is the problem",
        "## 3. The online log-sum-exp",
        "## 4. The fused gradient",
        "## 5. Measured: time and memory against V",
        "## 6. A PyTorch version for training loops",
        "## 7. Keeping the logits in range: z-loss and soft-capping",
    ]
    page_helpers_check = False
    perturbed = list(PERTURBED)
    min_cases = 12
    shifted = list(PLACES)
    nudge_exempt = {ALL_IGNORED: "a mean over no rows is NaN with zero gradients: any "
                                 "scaled or shifted result is still NaN and zero"}

    # The chapter's functions return tuples and tensors: ChapterChecks' nudges (which
    # make arrays of results) are replaced by `wrong`, for the same two properties.

    def test_case_fails_when_celoss_is_nudged(self, case_id, case):
        for name in PLACES:
            with wrong(name, factor=FACTOR):
                if not case().passed:
                    return
        pytest.fail(f"{case_id}: passes with every one of {list(PLACES)} nudged")

    def test_a_wrong_celoss_step_fails_the_cases_that_compare_it(self, name):
        compared = 0
        with wrong(name, shift=0.1):
            for case_id, run in load_cases(self.cases).cases():
                report = run()
                steps = [check for check in report.steps if check.step.startswith(name)]
                if steps and case_id not in self.nudge_exempt:
                    compared += 1
                    assert not all(check.passed for check in steps), case_id
        assert compared >= 2


def test_the_cases_cover_every_option_and_both_reductions_of_the_chunked_function():
    ids = [case_id for case_id, _ in load_cases(TestChapter().cases).cases()]
    for option in ["mean", "sum", "none", "weight", "ignore_index=7", "label_smoothing=0.1"]:
        assert any(f", {option}," in case_id for case_id in ids), option
    assert sum("online log-sum-exp" in case_id for case_id in ids) == 2
    for reduction in ["mean", "sum"]:
        assert any(f"chunked linear + cross-entropy, {reduction}" in case_id
                   for case_id in ids), reduction


@pytest.mark.slow
def test_memory_arithmetic_is_the_published_sizes_times_bytes(runs):
    # V, d from the models' published configurations; B x T as the page states them.
    arithmetic = runs["facts"]["arithmetic"]
    assert arithmetic["GPT-2 small"]["logits"]["float32"] == 12 * 1024 * 50_257 * 4
    assert arithmetic["Llama 3 8B"]["logits"]["float32"] == 8192 * 128_256 * 4
    assert arithmetic["Llama 3 8B"]["logits"]["float32"] == 4_202_692_608  # 3.91 GiB
    assert arithmetic["Llama 3 8B"]["hidden"]["bfloat16"] == 8192 * 4096 * 2
    assert arithmetic["Gemma 7B"]["logits"]["bfloat16"] == 8192 * 256_000 * 2
    assert arithmetic["Gemma 7B"]["weight"]["bfloat16"] == 256_000 * 3072 * 2


@pytest.mark.slow
def test_torch_saves_a_float32_log_softmax_even_under_autocast(runs):
    assert runs["facts"]["log_softmax_dtype"] == "float32"


@pytest.mark.slow
def test_online_log_sum_exp_of_the_masked_rows(runs):
    lse = runs["facts"]["online_lse"]
    assert lse[1] == pytest.approx(40.0, abs=1e-5)  # one logit of 40 dominates
    assert 1000.0 < lse[3] < 1010.0  # logits near 1000, no overflow
    assert lse[4] == float("-inf")  # every class masked


@pytest.mark.slow
def test_fused_results_use_a_small_share_of_the_tolerance(runs):
    errors = runs["facts"]["fused_errors"]
    assert len(errors) == 8
    assert all(loss < 1 and grad < 1 for loss, grad in errors.values())


@pytest.mark.slow
def test_fused_peak_memory_is_far_below_torch_and_naive(runs):
    facts = runs["facts"]
    extra, logits = facts["extra_mib"], facts["logits_mib"][-1]
    assert facts["SWEEP_V"][-1] == 65_536 and logits == 32  # 128 x 65,536 x 4 bytes
    assert extra["celoss fused"][-1] < extra["torch"][-1] / 4
    assert extra["celoss fused"][-1] < extra["naive NumPy"][-1] / 4
    assert extra["celoss fused"][-1] < 4  # MiB: no (N, V) array beyond the gradient
    assert extra["torch"][-1] > 0.9 * logits  # at least the saved log-softmax
    assert extra["naive NumPy"][-1] > extra["torch"][-1]


@pytest.mark.slow
def test_chunked_function_holds_a_fraction_of_autograd_memory(runs):
    facts = runs["facts"]
    chunked, unchunked = facts["chunk_mib"]["chunked"], facts["chunk_mib"][
        "F.cross_entropy + autograd"]
    logits = facts["CHUNK_N"] * facts["CHUNK_V"][-1] * 4 / 2**20  # 128 MiB
    assert unchunked[-1] > 2 * logits
    assert chunked[-1] < unchunked[-1] / 4
    assert facts["saving"] == pytest.approx(unchunked[-1] / chunked[-1])

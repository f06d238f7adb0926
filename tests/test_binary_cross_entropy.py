"""The Binary cross-entropy chapter: docs/binary-cross-entropy.py and its Verification cases.

The notebook runs as a script in a subprocess (as mkdocs-jupyter runs it,
but off-screen and with every warning an error); the facts it computes are
read back from its namespace and asserted here. A second run with
``celoss.binary_cross_entropy_with_logits_grad`` nudged by one part in a million must stop at a
check, which is what fails the docs build. The cases in
hooks/cases/binary_cross_entropy.py must all pass, and each must fail when the
celoss function it compares is nudged.
"""

import contextlib
import functools
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pytest
import yaml

import celoss
import celoss.parity

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "binary-cross-entropy.py"
CASES_PATH = ROOT / "hooks" / "cases" / "binary_cross_entropy.py"
FACTS = ["thresholds", "stable_loss", "naive_loss", "clamped_t", "pos_weight", "weighted",
         "halved", "normalised", "softmax_ce", "binary"]

# Runs the notebook with runpy (optionally with one celoss function nudged)
# and writes the figure count, the facts above or the exception, as JSON.
DRIVER = """
import contextlib, functools, io, json, runpy, sys, time, traceback
import numpy as np
import celoss, celoss.parity
notebook, output, facts, nudge = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
if nudge:
    for module in (celoss, celoss.parity):
        original = getattr(module, nudge, None)
        if original is not None:
            @functools.wraps(original)
            def nudged(*args, _original=original, **kwargs):
                return _original(*args, **kwargs) * (1 + 1e-6)
            setattr(module, nudge, nudged)
start = time.perf_counter()
result = {}
try:
    with contextlib.redirect_stdout(io.StringIO()):
        namespace = runpy.run_path(notebook, run_name="__main__")
    result["figures"] = namespace["show_figure"].count
    result["facts"] = {name: namespace[name] for name in facts}
except Exception as error:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == notebook]
    result["error"] = {"type": type(error).__name__, "line": frames[-1].line if frames else ""}
result["seconds"] = time.perf_counter() - start
def plain(value):
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size < 1000 else None
    if isinstance(value, np.generic):
        return value.item()
    return value
with open(output, "w") as file:
    json.dump(plain(result), file)
"""


def run_notebook(tmp_path, nudge=""):
    """Run the notebook in a fresh process; return the driver's JSON."""
    output = tmp_path / f"result{nudge}.json"
    process = subprocess.run(
        [sys.executable, "-W", "error", "-c", DRIVER, str(NOTEBOOK), str(output),
         ",".join(FACTS), nudge],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    result = run_notebook(tmp_path_factory.mktemp("binary-cross-entropy"))
    assert "error" not in result, result["error"]
    return result


@pytest.fixture(scope="module")
def facts(run):
    return run["facts"]


def load_cases():
    """Import hooks/cases/binary_cross_entropy.py by path, as the parity gate does."""
    spec = importlib.util.spec_from_file_location("cases_binary_cross_entropy", CASES_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = load_cases()
CASE_LIST = list(CASES.cases())
CASE_IDS = [case_id for case_id, _ in CASE_LIST]


def sections(notebook):
    """The notebook's cells split at each ``##`` heading: {heading: cells}."""
    result, heading = {}, None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            heading = cell.source.splitlines()[0]
            result[heading] = []
        if heading is not None:
            result[heading].append(cell)
    return result


# ---------------------------------------------------------------- the notebook


@pytest.mark.slow
def test_notebook_draws_one_figure_per_section(run):
    headings = [h for h in sections(jupytext.read(NOTEBOOK)) if h != "## Summary"]
    assert run["figures"] == len(headings) == 6


@pytest.mark.slow
def test_sigmoid_rounds_to_one_near_ln2_times_significand_bits(facts):
    # 1 + exp(-x) rounds to 1 once exp(-x) < eps / 2, i.e. x > (p) ln 2 with
    # p = 24 significand bits in float32 and 53 in float64; the page searches
    # a 0.01 grid, so it finds the next grid point.
    assert facts["thresholds"]["float32"] == pytest.approx(24 * math.log(2), abs=0.011)
    assert facts["thresholds"]["float64"] == pytest.approx(53 * math.log(2), abs=0.011)


@pytest.mark.slow
def test_stable_loss_is_finite_where_the_naive_one_is_inf(facts):
    assert facts["stable_loss"] == pytest.approx(40.0, rel=1e-12)  # x(1 - y) + log(1 + e^-40)
    assert facts["naive_loss"] == [math.inf]
    assert facts["clamped_t"] == 100.0  # F.binary_cross_entropy clamps log at -100


@pytest.mark.slow
def test_pos_weight_is_negatives_over_positives(facts):
    assert facts["pos_weight"] == [1.0, 3.0, 7.0]  # 4, 2 and 1 positives out of 8


@pytest.mark.slow
def test_weighted_mean_divides_by_the_element_count(facts):
    assert facts["halved"] == pytest.approx(facts["weighted"] / 2, rel=1e-13)
    assert abs(facts["normalised"] - facts["weighted"]) > 1e-3


@pytest.mark.slow
def test_two_class_softmax_is_the_binary_loss(facts):
    assert facts["softmax_ce"] == pytest.approx(facts["binary"], rel=1e-12)


@pytest.mark.slow
def test_notebook_runs_in_a_few_seconds(run):
    assert run["seconds"] < 60  # a few seconds alone; generous for a loaded 2-core machine


@pytest.mark.slow
def test_notebook_stops_when_the_gradient_is_nudged(tmp_path):
    result = run_notebook(tmp_path, nudge="binary_cross_entropy_with_logits_grad")
    assert "error" in result, "the notebook ran through with a wrong gradient"
    assert result["error"]["type"] in ("AssertionError", "ParityError"), result


def test_notebook_has_the_house_shape():
    notebook = jupytext.read(NOTEBOOK)
    assert notebook.cells[0].source.startswith("# Binary cross-entropy\n")
    setup = notebook.cells[1].source
    for piece in ["np.random.default_rng(seed=", "np.set_printoptions(",
                  "use_figure_style()", "FigureCounter()"]:
        assert piece in setup
    headings = list(sections(notebook))
    assert headings[-1] == "## Summary"
    assert len(headings) == 7


@pytest.mark.parametrize("heading", [h for h in sections(jupytext.read(NOTEBOOK))
                                     if h != "## Summary"])
def test_every_section_has_formula_figure_and_torch_check(heading):
    cells = sections(jupytext.read(NOTEBOOK))[heading]
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "$$" in markdown
    assert "show_figure(" in code
    assert "F." in code or "torch." in code or "compare_with_torch" in code
    assert "np.testing.assert_" in code or "compare_with_torch" in code


def test_page_is_in_the_nav_under_curriculum():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    curriculum = next(item["Curriculum"] for item in config["nav"]
                      if isinstance(item, dict) and "Curriculum" in item)
    assert {CASES.CHAPTER: CASES.PAGE} in curriculum
    assert (ROOT / "docs" / CASES.PAGE) == NOTEBOOK


# ---------------------------------------------------------------- the cases


@pytest.mark.parametrize(("case_id", "case"), CASE_LIST, ids=CASE_IDS)
def test_case_agrees_with_torch(case_id, case):
    report = case()
    assert isinstance(report, celoss.ParityReport)
    assert report.steps, case_id
    assert report.passed, str(report)


# The functions a case can compare; each is nudged in celoss and in celoss.parity.
NUDGED = ["binary_cross_entropy_with_logits_grad", "binary_cross_entropy_with_logits",
          "sigmoid", "log_sigmoid", "cross_entropy", "cross_entropy_grad"]


# Far outside each dtype's tolerance (celoss.TOLERANCES), small enough to look right.
NUDGE = {"float64": 1e-6, "float32": 1e-3, "float16": 1e-1}


@contextlib.contextmanager
def nudged(name):
    """celoss.<name> (and celoss.parity's copy) times (1 + NUDGE[dtype])."""
    saved = []
    for module in (celoss, celoss.parity):
        original = getattr(module, name, None)
        if original is None:
            continue

        @functools.wraps(original)
        def wrong(*args, _original=original, **kwargs):
            result = np.asarray(_original(*args, **kwargs))
            return result * result.dtype.type(1 + NUDGE[result.dtype.name])

        saved.append((module, original))
        setattr(module, name, wrong)
    try:
        yield
    finally:
        for module, original in saved:
            setattr(module, name, original)


@pytest.mark.parametrize(("case_id", "case"), CASE_LIST, ids=CASE_IDS)
def test_case_fails_when_celoss_is_nudged(case_id, case):
    for name in NUDGED:
        with nudged(name):
            if not case().passed:
                return
    pytest.fail(f"{case_id}: passes with every one of {NUDGED} nudged")


def test_cases_have_unique_ids_and_name_their_page():
    assert len(set(CASE_IDS)) == len(CASE_IDS) >= 10
    assert CASES.CHAPTER == jupytext.read(NOTEBOOK).cells[0].source.splitlines()[0][2:]

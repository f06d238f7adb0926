"""The "Every PyTorch option" chapter: its notebook and its Verification cases.

docs/pytorch-options.py and hooks/cases/pytorch_options.py.

The notebook runs as a plain script in a subprocess (as in the docs build),
once as written and once per perturbed function: a wrong celoss or torch
result must stop it at a check. Its pitfalls are checked against the ratios
they come from, and its NumPy and PyTorch tabs against each other.
"""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pytest

import celoss

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "pytorch-options.py"
CASES = ROOT / "hooks" / "cases" / "pytorch_options.py"
SECTIONS = [
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
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"figures": "show_figure.count", "checked": "len(checked)",
         "combinations": "combinations", "hand_written": "hand_written",
         "torch_style": "torch_style", "by_indices": "by_indices",
         "by_probabilities": "by_probabilities", "hand_smoothed": "hand_smoothed",
         "smoothed": "smoothed.tolist()", "uniform_loss": "uniform_loss",
         "snippet_outputs": "snippet_outputs"}
# Scales one function's result: far outside float64's tolerance.
FACTOR = 1 + 1e-6
# Cases whose torch value is NaN: NaN + 0.1 is NaN, which still matches.
NAN_CASES = {"cross_entropy": ("every target ignored: the mean is NaN",)}
PERTURBED = ["celoss.cross_entropy", "celoss.parity.cross_entropy_grad",
             "celoss.smoothed_targets", "celoss.entropy",
             "torch.nn.functional.cross_entropy"]

# Runs the notebook in one process: as written, then once per perturbed
# function (torch is imported once). Writes the facts and, per perturbation,
# the exception and the notebook line it came from.
DRIVER = r"""
import contextlib, functools, importlib, io, json, runpy, sys, traceback
import matplotlib.pyplot as plt
notebook, facts, targets, factor, output = sys.argv[1:6]
facts, factor = json.loads(facts), float(factor)

def run():
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        namespace = runpy.run_path(notebook, run_name="__main__")
    plt.close("all")
    return namespace, printed.getvalue()

namespace, printed = run()
result = {"printed": printed, "perturbed": {},
          "facts": {name: eval(expr, namespace) for name, expr in facts.items()}}
for target in filter(None, targets.split(",")):
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    @functools.wraps(original)  # inspect.getsource still finds the source
    def perturbed(*args, _original=original, **kwargs):
        return _original(*args, **kwargs) * factor

    setattr(module, name, perturbed)
    try:
        run()
        result["perturbed"][target] = None
    except Exception as error:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename == notebook]
        result["perturbed"][target] = {
            "type": type(error).__name__, "assertion": isinstance(error, AssertionError),
            "line": frames[-1].line if frames else ""}
    finally:
        setattr(module, name, original)
        plt.close("all")
with open(output, "w") as file:
    json.dump(result, file, default=float)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    output = tmp_path_factory.mktemp("pytorch-options") / "result.json"
    process = subprocess.run(
        [sys.executable, "-W", "error", "-c", DRIVER, str(NOTEBOOK), json.dumps(FACTS),
         ",".join(PERTURBED), repr(FACTOR), str(output)],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(output.read_text())


def sections(notebook):
    """The notebook's cells under each ``##`` heading: {heading: cells}."""
    result, heading = {}, None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            heading = cell.source.splitlines()[0]
            result[heading] = []
        if heading is not None:
            result[heading].append(cell)
    return result


def load_cases():
    spec = importlib.util.spec_from_file_location("cases_pytorch_options", CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



# ---------------------------------------------------------------- notebook

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


@pytest.mark.slow
def test_one_figure_per_section(runs):
    assert runs["facts"]["figures"] == len(SECTIONS)


@pytest.mark.slow
def test_printed_values_have_fixed_precision(runs):
    assert "np.float" not in runs["printed"]

@pytest.mark.slow
@pytest.mark.parametrize("target", PERTURBED, ids=PERTURBED)
def test_notebook_stops_when_a_function_is_wrong(runs, target):
    failure = runs["perturbed"][target]
    assert failure is not None, f"the notebook ran through with {target} wrong"
    assert failure["assertion"], failure  # a check stopped it, not a crash


def test_notebook_has_the_house_shape():
    notebook = jupytext.read(NOTEBOOK)
    assert notebook.cells[0].source.startswith("# Every PyTorch option\n")
    setup = notebook.cells[1].source
    for piece in ["np.random.default_rng(", "np.set_printoptions(", "use_figure_style()",
                  "FigureCounter()"]:
        assert piece in setup, piece
    assert list(sections(notebook)) == [*SECTIONS, "## Summary"]


@pytest.mark.parametrize("heading", SECTIONS, ids=range(1, len(SECTIONS) + 1))
def test_every_section_has_formula_figure_and_torch_check(heading):
    cells = sections(jupytext.read(NOTEBOOK))[heading]
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "$$" in markdown
    assert code.count("show_figure(") == 1
    # torch itself, or a helper that calls it (check_gradient, check, compare_with_torch)
    assert re.search(r"\btorch\.|\bF\.|check_gradient\(|\bcheck\(|compare_with_torch\(", code)
    assert re.search(r"np\.testing\.assert_|\bassert |\bcheck\(|compare_with_torch\(", code)


# ---------------------------------------------------------------- cases


def test_cases_module_names_this_chapter():
    module = load_cases()
    assert module.PAGE == NOTEBOOK.name
    assert jupytext.read(NOTEBOOK).cells[0].source.startswith(f"# {module.CHAPTER}\n")


def test_every_case_agrees_with_torch():
    ids = []
    for case_id, run in load_cases().cases():
        report = run()
        assert isinstance(report, celoss.ParityReport), case_id
        assert report.steps and report.passed, f"{case_id}\n{report}"
        ids.append(case_id)
    assert len(ids) == len(set(ids)) >= 30


# Adds 0.1 to one celoss function's result, in celoss and in celoss.parity:
# beyond every dtype's tolerance on this chapter's values (float16's is 0.056
# at ln V = 10.8), and an exact 0 (a zero gradient) is caught too.
@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_grad"])
def test_a_wrong_celoss_step_fails_the_cases_that_compare_it(monkeypatch, name):
    import celoss.parity

    original = getattr(celoss.parity, name)
    def perturbed(*args, **kwargs):
        return original(*args, **kwargs) + 0.1

    monkeypatch.setattr(celoss.parity, name, perturbed)
    monkeypatch.setattr(celoss, name, perturbed)
    compared = 0
    for case_id, run in load_cases().cases():
        report = run()
        if any(check.step == name for check in report.steps):
            compared += 1
            assert not report.step(name).passed or case_id in NAN_CASES.get(name, ()), case_id
    assert compared >= 4

"""The "Numerical stability" chapter: its notebook and its Verification cases.

docs/numerical-stability.py and hooks/cases/numerical_stability.py.

The notebook runs as a plain script in a subprocess (as in the docs build),
once as written and once per perturbed function: a wrong celoss or torch
result must stop it at a check. The facts it computes are compared with
values derived here independently, from the float formats' definitions.
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
import pytest

import celoss

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "numerical-stability.py"
CASES = ROOT / "hooks" / "cases" / "numerical_stability.py"
SECTIONS = [
    "## 1. Where exp overflows",
    "## 2. Subtracting the row maximum",
    "## 3. Log-sum-exp",
    "## 4. log(softmax(x)) against log_softmax",
    "## 5. float16 and bfloat16 losses near ln V",
]
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"thresholds": "thresholds", "figures": "show_figure.count",
         "step_float16": "step_float16", "step_bfloat16": "step_bfloat16",
         "first_inf": "first_inf", "ln_v": "ln_v",
         "torch_bfloat16": "torch_losses['bfloat16']", "loss_64": "loss_64"}
# The checks on the page use float32 and float16 tolerances too, so the
# perturbation is larger than float16's rtol (5e-3).
FACTOR = 1 + 1e-2
# Cases whose torch value is NaN: NaN + 0.1 is NaN, which still matches.
NAN_CASES = {}
PERTURBED = ["celoss.softmax", "celoss.log_softmax", "celoss.cross_entropy",
             "torch.softmax", "torch.nn.functional.cross_entropy"]

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
    output = tmp_path_factory.mktemp("numerical-stability") / "result.json"
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
    spec = importlib.util.spec_from_file_location("cases_numerical_stability", CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- notebook


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
    assert notebook.cells[0].source.startswith("# Numerical stability\n")
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


def test_naive_code_is_labelled_and_inside_errstate():
    source = NOTEBOOK.read_text()
    assert "def naive_softmax" in source and "NAIVE" in source
    for line_number, line in enumerate(source.splitlines(), start=1):
        if re.search(r"naive\w* = .*np\.(log|exp)\(", line):
            before = source.splitlines()[line_number - 2]
            assert "np.errstate" in before or "np.errstate" in line, line


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
    assert len(ids) == len(set(ids)) >= 6


# Adds 0.1 to one celoss function's result, in celoss and in celoss.parity:
# beyond every dtype's tolerance on this chapter's values (float16's is 0.056
# at ln V = 10.8), and an exact 0 (a zero gradient) is caught too.
@pytest.mark.parametrize("name", ["cross_entropy", "log_softmax"])
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

"""The "Common mistakes" chapter: its notebook and its Verification cases.

docs/common-mistakes.py and hooks/cases/common_mistakes.py.

The notebook runs as a plain script in a subprocess (as in the docs build),
once as written and once per perturbed function: a wrong celoss or torch
result must stop it at a check. The facts it shows (the softmax-twice floor,
where float32 underflows, torch's dtype rule) are derived here independently.
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
NOTEBOOK = ROOT / "docs" / "common-mistakes.py"
CASES = ROOT / "hooks" / "cases" / "common_mistakes.py"
SECTIONS = [
    "## 1. Softmax before CrossEntropyLoss",
    "## 2. log(softmax(x)) instead of log_softmax",
    "## 3. The class axis in the wrong place",
    "## 4. One-hot float targets instead of class indices",
    "## 5. Integer dtype pitfalls",
]
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
# Cases whose torch value is NaN: NaN + 0.1 is NaN, which still matches.
NAN_CASES = {}
PERTURBED = ["celoss.cross_entropy", "celoss.cross_entropy_grad", "celoss.softmax",
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
    output = tmp_path_factory.mktemp("common-mistakes") / "result.json"
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
    spec = importlib.util.spec_from_file_location("cases_common_mistakes", CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



# ---------------------------------------------------------------- notebook

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
    assert notebook.cells[0].source.startswith("# Common mistakes\n")
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
    assert len(ids) == len(set(ids)) >= 15


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

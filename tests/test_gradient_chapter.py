"""The "The gradient" chapter: docs/gradient.py and hooks/cases/gradient.py.

Named for the chapter: tests/test_gradient.py tests the module celoss.gradient.

The notebook runs as a plain script in a subprocess (as in the docs build),
once as written and once per perturbed function: a wrong celoss or torch
result must stop it at a check. Its gradients are compared with the formula
transcribed literally here.
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
NOTEBOOK = ROOT / "docs" / "gradient.py"
CASES = ROOT / "hooks" / "cases" / "gradient.py"
SECTIONS = [
    "## 1. Softmax minus one-hot",
    "## 2. Class weights",
    "## 3. ignore_index",
    "## 4. Label smoothing",
    "## 5. Probability targets, and everything at once",
    "## 6. Gradient descent on the seed's logits",
]
# Names in the notebook's namespace whose values the tests read back.
FACTS = {"figures": "show_figure.count", "grad": "grad.tolist()", "gap": "float(gap)",
         "losses": "losses.tolist()", "steps": "steps", "checked": "len(checked_cases)"}
# Scales one function's result: far outside float64's tolerance.
FACTOR = 1 + 1e-6
# Cases whose torch value is NaN: NaN + 0.1 is NaN, which still matches.
NAN_CASES = {}
PERTURBED = ["celoss.cross_entropy_grad", "celoss.cross_entropy", "celoss.softmax",
             "celoss.smoothed_targets", "torch.nn.functional.cross_entropy"]

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
    output = tmp_path_factory.mktemp("gradient") / "result.json"
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
    spec = importlib.util.spec_from_file_location("cases_gradient", CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



# ---------------------------------------------------------------- notebook

def literal_gradient(logits, targets):
    """(p_{n,c} - [c = y_n]) / N, one entry at a time with math.exp."""
    n_samples, n_classes = len(logits), len(logits[0])
    grad = np.zeros((n_samples, n_classes))
    for n in range(n_samples):
        total = sum(math.exp(x) for x in logits[n])
        for c in range(n_classes):
            grad[n, c] = (math.exp(logits[n][c]) / total - (c == targets[n])) / n_samples
    return grad


@pytest.mark.slow
def test_seed_gradient_is_softmax_minus_one_hot_over_n(runs):
    logits = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]  # the seed walkthrough's
    np.testing.assert_allclose(runs["facts"]["grad"], literal_gradient(logits, [0, 1]),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_label_smoothing_optimum_gap(runs):
    # p = q where the correct logit leads by ln((1 - eps + eps/C) / (eps/C))
    # = ln(1 + C (1 - eps) / eps) = ln(28) for C = 3, eps = 0.1.
    assert runs["facts"]["gap"] == pytest.approx(math.log(28.0), rel=1e-12)


@pytest.mark.slow
def test_descent_loss_falls_at_every_step_from_the_seed_loss(runs):
    losses = runs["facts"]["losses"]
    # The seed walkthrough's manual float64 loss (shared/seed/cross-entropy-walkthrough.txt).
    assert losses[0] == pytest.approx(0.3185397696491857, rel=1e-12)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert len(losses) == runs["facts"]["steps"] + 1
    assert losses[-1] < losses[0] / 10


@pytest.mark.slow
def test_every_option_is_checked(runs):
    # plain, weights, ignore_index, smoothing, probability targets, and every
    # option at once for three reductions
    assert runs["facts"]["checked"] == 8


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
    assert notebook.cells[0].source.startswith("# The gradient\n")
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
    assert len(ids) == len(set(ids)) >= 8


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

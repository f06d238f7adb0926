"""The site's content: the walkthrough notebook and the home page's example.

The notebook (docs/walkthrough.py, jupytext percent format) runs here as a
plain script, once as written and once per perturbed step: a wrong celoss or
a wrong torch result must stop it with the step's failed check, which is what
makes the docs build fail. The home page's copyable example is run and its
printed output compared with the ``#>`` lines under it.
"""

import contextlib
import inspect
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pytest

import celoss
from notebook_support import sections

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "walkthrough.py"
HOME = ROOT / "docs" / "index.md"

# The seed walkthrough's printed results (shared/seed/cross-entropy-walkthrough.txt):
# the manual float64 loss and PyTorch's float32 F.cross_entropy(...).item().
SEED_MANUAL_LOSS = "0.3185397696491857"
SEED_TORCH_FLOAT32_LOSS = "0.31853973865509033"

STEP_HEADINGS = [
    "## 1. Logits and targets",
    "## 2. Softmax: logits to probabilities",
    "## 3. The probability of the correct class",
    "## 4. Negative log-likelihood",
    "## 5. The mean over the batch",
    "## 6. PyTorch's cross_entropy",
]


def run_python(args):
    """Run ``python -W error *args`` from the repository root, off-screen."""
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600,
    )


# ---------------------------------------------------------------- notebook


@pytest.mark.slow
def test_notebook_runs_as_a_script_and_prints_the_seed_numbers():
    process = run_python([str(NOTEBOOK.relative_to(ROOT))])
    assert process.returncode == 0, process.stderr
    printed = process.stdout
    assert re.search(rf"^loss = {SEED_MANUAL_LOSS}$", printed, re.M)
    assert re.search(rf"^manual steps 2-5, float64: +{SEED_MANUAL_LOSS}$",
                     printed, re.M)
    assert re.search(rf"^F.cross_entropy, float32: +{SEED_TORCH_FLOAT32_LOSS}$",
                     printed, re.M)


# Each perturbation scales one function's result by (1 + 1e-6): far outside
# float64's tolerance, small enough to look right on the page.
PERTURBED = [
    "celoss.softmax",
    "celoss.correct_class_probs",
    "celoss.log_softmax",
    "celoss.nll_loss",
    "celoss.reduce_loss",
    "celoss.cross_entropy",
    "torch.softmax",
    "torch.nn.functional.nll_loss",
    "torch.nn.functional.cross_entropy",
]

# Runs the notebook once per perturbation in one process (torch is imported
# once) and writes, for each, the exception and the notebook line it came from.
PERTURBATION_DRIVER = """
import contextlib, functools, importlib, io, json, runpy, sys, traceback
import matplotlib.pyplot as plt
notebook, targets, output = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
results = {}
for target in targets:
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    @functools.wraps(original)  # inspect.getsource still finds the source
    def perturbed(*args, _original=original, **kwargs):
        return _original(*args, **kwargs) * (1 + 1e-6)

    setattr(module, name, perturbed)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(notebook, run_name="__main__")
        results[target] = None
    except Exception as error:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename == notebook]
        results[target] = {"type": type(error).__name__, "message": str(error),
                           "line": frames[-1].line if frames else ""}
    finally:
        setattr(module, name, original)
        plt.close("all")
with open(output, "w") as file:
    json.dump(results, file)
"""


@pytest.fixture(scope="module")
def perturbed_runs(tmp_path_factory):
    output = tmp_path_factory.mktemp("perturbed") / "results.json"
    process = run_python(["-c", PERTURBATION_DRIVER, str(NOTEBOOK),
                          ",".join(PERTURBED), str(output)])
    assert process.returncode == 0, process.stderr
    return json.loads(output.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("target", PERTURBED, ids=PERTURBED)
def test_notebook_stops_when_one_step_disagrees(perturbed_runs, target):
    failure = perturbed_runs[target]
    assert failure is not None, f"the notebook ran through with {target} wrong"
    # A check comparing values stopped it, not a crash somewhere else.
    assert failure["type"] == "AssertionError", failure
    assert "Not equal to tolerance" in failure["message"], failure
    assert "np.testing.assert_allclose(" in failure["line"], failure


def test_notebook_has_the_house_shape():
    notebook = jupytext.read(NOTEBOOK)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    setup = notebook.cells[1].source
    for piece in ["np.random.default_rng(", "np.set_printoptions(",
                  "use_figure_style()"]:
        assert piece in setup
    headings = list(sections(notebook))
    assert headings == [*STEP_HEADINGS, "## Summary"]


@pytest.mark.parametrize("heading", STEP_HEADINGS, ids=range(1, 7))
def test_every_step_has_formula_figure_and_torch_check(heading):
    cells = sections(jupytext.read(NOTEBOOK))[heading]
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "$$" in markdown
    assert code.count("show_figure(") == 1
    assert re.search(r"torch\.|F\.", code)
    assert "np.testing.assert_" in code


def test_notebook_links_to_the_verification_page():
    assert "[Verification](verification.md)" in NOTEBOOK.read_text()


# ---------------------------------------------------------------- home page


def python_blocks(markdown):
    """The ```python blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```", markdown, re.S | re.M)


def test_home_page_example_prints_its_output_lines():
    blocks = python_blocks(HOME.read_text())
    assert blocks, "docs/index.md has no python example"
    namespace = {}
    with np.printoptions():  # the example sets print options; restore them
        for block in blocks:
            lines = block.splitlines()
            assert not any(line.startswith(">>>") for line in lines)
            expected = [re.sub(r"^#> ?", "", line) for line in lines
                        if line.startswith("#>")]
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(block, namespace)  # the #> lines are comments
            assert out.getvalue().splitlines() == expected


def test_home_page_example_is_about_ten_lines():
    code = [line for line in python_blocks(HOME.read_text())[0].splitlines()
            if line.strip() and not line.startswith("#>")]
    assert len(code) <= 12


def test_vocabulary_table_names_every_argument_of_cross_entropy():
    text = HOME.read_text()
    table = text[text.index("## Vocabulary"):]
    for name in inspect.signature(celoss.cross_entropy).parameters:
        assert f"`{name}`" in table, name
    for symbol in ["$N$", "$C$", "$x_{n,c}$", "$y_n$", "$w_c$", "$l_n$",
                   "$p_{n,c}$"]:
        assert f"| {symbol} |" in table, symbol

"""What the curriculum chapter tests share: running a notebook, and the common checks.

A chapter is a notebook, docs/<page>.py, and its Verification cases,
hooks/cases/<page_with_underscores>.py. Every tests/test_<chapter>.py checks
the same things about both, so they live here once:

- ``run_notebook`` runs the notebook as a plain script in one subprocess (as
  the docs build runs it, off-screen and with every warning an error), reads
  facts back from its namespace, then runs it again once per perturbed
  function: a wrong celoss or torch result must stop it at a check.
- ``sections`` and ``load_cases`` read the notebook's ``##`` sections and
  import the cases module by path, as the parity gate does.
- ``ChapterChecks`` holds the tests every chapter shares. A test module
  subclasses it once (``class TestChapter(ChapterChecks)``) with its chapter's
  settings and defines a module-scoped ``runs`` fixture that calls
  ``run_notebook``; only what is particular to the chapter stays in the module.
"""

import contextlib
import functools
import importlib.util
import json
import os
import re
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

# Runs the notebook in one process: as written, then once per perturbed
# function (torch is imported once). Writes, as JSON, the time the first run
# took, what it printed, the facts (expressions evaluated in its namespace)
# and, per perturbation, the exception and the notebook line it came from.
DRIVER = r"""
import contextlib, functools, importlib, io, json, runpy, sys, time, traceback
import matplotlib.pyplot as plt
import numpy as np
notebook, facts, targets, factor, output = sys.argv[1:6]
facts, targets, factor = json.loads(facts), json.loads(targets), float(factor)

def run():
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        namespace = runpy.run_path(notebook, run_name="__main__")
    plt.close("all")
    return namespace, printed.getvalue()

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

start = time.perf_counter()
namespace, printed = run()
result = {"seconds": time.perf_counter() - start, "printed": printed, "perturbed": {},
          "facts": {name: eval(expr, namespace) for name, expr in facts.items()}}
for label, paths in targets.items():
    saved = []
    for path in paths:  # every copy of one function: celoss's and celoss.parity's
        module_name, name = path.rsplit(".", 1)
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        @functools.wraps(original)  # inspect.getsource still finds the source
        def perturbed(*args, _original=original, **kwargs):
            return _original(*args, **kwargs) * factor

        saved.append((module, name, original))
        setattr(module, name, perturbed)
    try:
        run()
        result["perturbed"][label] = None
    except Exception as error:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename == notebook]
        result["perturbed"][label] = {
            "type": type(error).__name__, "assertion": isinstance(error, AssertionError),
            "line": frames[-1].line if frames else ""}
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
        plt.close("all")
with open(output, "w") as file:
    json.dump(plain(result), file, default=float)
"""


def run_notebook(notebook, facts, perturbed, factor, tmp_path):
    """Run ``notebook`` as written, then once per perturbed function, in one subprocess.

    Parameters
    ----------
    notebook : Path
        The jupytext percent-format notebook, run with runpy as ``__main__``.
    facts : dict of str to str
        Name -> Python expression evaluated in the notebook's namespace after
        the first run; NumPy values come back as plain lists and floats.
    perturbed : list of str, or dict of str to list of str
        Dotted paths of functions (``"celoss.softmax"``) whose result is
        multiplied by ``factor`` for one extra run each; a dict names a group
        of paths perturbed together (a function and celoss.parity's copy).
    factor : float
        The perturbation, chosen beyond every tolerance the notebook checks.
    tmp_path : Path
        Where the driver writes its JSON.

    Returns
    -------
    dict
        ``seconds`` (the first run), ``printed`` (its stdout), ``facts``, and
        ``perturbed``: label -> None if the notebook ran through, else the
        exception's ``type``, whether it is an ``assertion`` and the ``line``.
    """
    if not isinstance(perturbed, dict):
        perturbed = {path: [path] for path in perturbed}
    output = tmp_path / "result.json"
    process = subprocess.run(
        [sys.executable, "-W", "error", "-c", DRIVER, str(notebook), json.dumps(facts),
         json.dumps(perturbed), repr(factor), str(output)],
        cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(output.read_text())


def notebook_runs(notebook, facts, perturbed, factor):
    """A module-scoped ``runs`` fixture: ``run_notebook`` once for the whole test module."""
    @pytest.fixture(scope="module")
    def runs(tmp_path_factory):
        tmp_path = tmp_path_factory.mktemp(notebook.stem)
        return run_notebook(notebook, facts, perturbed, factor, tmp_path)

    return runs


def everywhere(*names):
    """Perturbation groups for run_notebook: celoss.<name> and celoss.parity's copy."""
    return {f"celoss.{name}": [f"{module.__name__}.{name}" for module in (celoss, celoss.parity)
                               if hasattr(module, name)]
            for name in names}


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


def load_cases(path):
    """Import a hooks/cases/<chapter>.py module by path, as the parity gate does."""
    spec = importlib.util.spec_from_file_location(f"cases_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def read_notebook(path):
    return jupytext.read(path)


@functools.cache
def case_list(path):
    """[(case_id, run)] of a cases module, loaded once for parametrizing."""
    return list(load_cases(path).cases())


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


class ChapterChecks:
    """The tests every chapter shares; subclass as ``TestChapter`` and set the attributes.

    The test module must define a module-scoped ``runs`` fixture
    (``runs = notebook_runs(...)``) with ``"figures": "show_figure.count"``
    among its facts.
    """

    notebook: Path  # docs/<page>.py; its cases are hooks/cases/<page with _>.py
    title: str  # the notebook's "# Title"
    headings: list  # its "## " sections before "## Summary", in order
    figures: dict = {}  # heading -> figures drawn there, where not 1
    # whether a section may check through the page's own helpers (check, check_gradient)
    # and bare asserts; if not, it calls torch and np.testing.assert_* (or compare_with_torch)
    page_helpers_check: bool = True
    perturbed: list  # run_notebook's labels: each must stop the notebook at a check
    min_cases: int  # the cases module yields at least this many cases
    # celoss functions a case can compare: nudging them (NUDGE) one at a time fails every case
    nudged: list = ["cross_entropy_grad", "cross_entropy", "softmax", "log_softmax"]
    # celoss functions whose + 0.1 fails every case comparing them (at least 4 do)
    shifted: list = ["cross_entropy", "cross_entropy_grad"]
    nan_cases: dict = {}  # shifted name -> case ids whose torch value is NaN (NaN + 0.1 is NaN)
    # case id -> why a relative nudge cannot fail it (the + 0.1 shift test still covers it)
    nudge_exempt: dict = {}

    @property
    def cases(self):
        return ROOT / "hooks" / "cases" / self.notebook.name.replace("-", "_")

    def pytest_generate_tests(self, metafunc):
        if "heading" in metafunc.fixturenames:
            metafunc.parametrize("heading", self.headings,
                                 ids=range(1, len(self.headings) + 1))
        if "target" in metafunc.fixturenames:
            metafunc.parametrize("target", self.perturbed, ids=self.perturbed)
        if "case" in metafunc.fixturenames:
            cases = case_list(self.cases)
            if metafunc.function.__name__ == "test_case_fails_when_celoss_is_nudged":
                cases = [(i, case) for i, case in cases if i not in self.nudge_exempt]
            metafunc.parametrize(("case_id", "case"), cases, ids=[c for c, _ in cases])
        if "name" in metafunc.fixturenames:
            metafunc.parametrize("name", self.shifted, ids=self.shifted)

    # ------------------------------------------------------------ the notebook

    def test_notebook_has_the_house_shape(self):
        notebook = read_notebook(self.notebook)
        assert notebook.cells[0].source.startswith(f"# {self.title}\n")
        setup = notebook.cells[1].source
        for piece in ["np.random.default_rng(seed=", "np.set_printoptions(",
                      "use_figure_style()", "FigureCounter()"]:
            assert piece in setup, piece
        assert list(sections(notebook)) == [*self.headings, "## Summary"]

    def test_every_section_has_formula_figure_and_torch_check(self, heading):
        cells = sections(read_notebook(self.notebook))[heading]
        markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        code = "\n".join(c.source for c in cells if c.cell_type == "code")
        assert "$$" in markdown
        assert code.count("show_figure(") == self.figures.get(heading, 1)
        # torch itself, or a helper that calls it (check_gradient, check, compare_with_torch)
        assert re.search(r"\btorch\.|\bF\.|check_gradient\(|\bcheck\(|compare_with_torch\(",
                         code)
        assert re.search(r"np\.testing\.assert_|\bassert |\bcheck\(|compare_with_torch\(", code)
        if not self.page_helpers_check:  # torch and np.testing (or compare_with_torch) in sight
            assert "F." in code or "torch." in code or "compare_with_torch" in code
            assert "np.testing.assert_" in code or "compare_with_torch" in code

    @pytest.mark.slow
    def test_notebook_draws_its_figures(self, runs):
        expected = sum(self.figures.get(heading, 1) for heading in self.headings)
        assert runs["facts"]["figures"] == expected

    @pytest.mark.slow
    def test_printed_values_have_fixed_precision(self, runs):
        assert "np.float" not in runs["printed"]

    @pytest.mark.slow
    def test_notebook_stops_when_a_function_is_wrong(self, runs, target):
        failure = runs["perturbed"][target]
        assert failure is not None, f"the notebook ran through with {target} wrong"
        # a check stopped it (np.testing or celoss.ParityError), not a crash
        assert failure["assertion"], failure
        assert failure["type"] in ("AssertionError", "ParityError"), failure

    def test_page_is_in_the_nav_under_curriculum(self):
        config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
        curriculum = next(item["Curriculum"] for item in config["nav"]
                          if isinstance(item, dict) and "Curriculum" in item)
        assert {self.title: self.notebook.name} in curriculum

    # ------------------------------------------------------------ the cases

    def test_cases_module_names_this_chapter(self):
        module = load_cases(self.cases)
        assert module.PAGE == self.notebook.name
        assert (ROOT / "docs" / module.PAGE) == self.notebook
        assert module.CHAPTER == self.title
        first_line = read_notebook(self.notebook).cells[0].source.splitlines()[0]
        assert first_line == f"# {module.CHAPTER}"

    def test_cases_have_unique_ids(self):
        ids = [case_id for case_id, _ in load_cases(self.cases).cases()]
        assert len(ids) == len(set(ids)) >= self.min_cases

    def test_case_agrees_with_torch(self, case_id, case):
        report = case()
        assert isinstance(report, celoss.ParityReport), case_id
        assert report.steps and report.passed, f"{case_id}\n{report}"

    def test_case_fails_when_celoss_is_nudged(self, case_id, case):
        for name in self.nudged:
            with nudged(name):
                if not case().passed:
                    return
        pytest.fail(f"{case_id}: passes with every one of {self.nudged} nudged")

    # Adds 0.1 to one celoss function's result, in celoss and in celoss.parity:
    # beyond every dtype's tolerance on the chapters' values (float16's is 0.056
    # at ln V = 10.8), and an exact 0 (a zero gradient) is caught too.
    def test_a_wrong_celoss_step_fails_the_cases_that_compare_it(self, monkeypatch, name):
        original = getattr(celoss, name)

        def perturbed(*args, **kwargs):
            return original(*args, **kwargs) + 0.1

        for module in (celoss, celoss.parity):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, perturbed)
        compared = 0
        for case_id, run in load_cases(self.cases).cases():  # loaded after the patch
            report = run()
            if any(check.step == name for check in report.steps):
                compared += 1
                assert (not report.step(name).passed
                        or case_id in self.nan_cases.get(name, ())), case_id
        assert compared >= 4

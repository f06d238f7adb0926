"""The MkDocs hooks in hooks/, one property per test, without building the site."""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    """Import hooks/<name>.py as MkDocs does (by path, its folder on sys.path)."""
    path = ROOT / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"hooks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def mathml():
    return load("mathml")


@pytest.fixture(scope="module")
def matrix():
    return load("parity_matrix")


@pytest.fixture(scope="module")
def gate():
    return load("parity_gate")


@pytest.fixture(scope="module")
def cache():
    return load("notebook_cache")


# ------------------------------------------------------------------ mathml.py


def test_arithmatex_inline_and_block_become_mathml(mathml):
    html = ('<p><span class="arithmatex">\\(x_{n,c} &lt; 1\\)</span></p>'
            '<div class="arithmatex">\\[\\sum_c p_{n,c} = 1\\]</div>')
    out = mathml.render_math(html, "page.md", notebook=False)
    assert "arithmatex" not in out
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in out
    assert 'display="block"' in out
    assert "&#x0003C;" in out  # the escaped < reached latex2mathml as "<"


@pytest.mark.parametrize("tag", ["pre", "code", "script", "style", "textarea"])
def test_math_inside_code_and_scripts_is_never_touched(mathml, tag):
    inner = '$x$ $$y$$ <span class="arithmatex">\\(z\\)</span>'
    html = f"<{tag}>{inner}</{tag}>"
    assert mathml.render_math(html, "nb.py", notebook=True) == html


def test_dollar_math_is_rendered_in_notebooks_only(mathml):
    html = "<p>loss $l_n$ and</p><p>$$\\ell = \\frac{1}{N}\\sum_n l_n$$</p>"
    assert mathml.render_math(html, "page.md", notebook=False) == html
    out = mathml.render_math(html, "nb.py", notebook=True)
    assert "$" not in out
    assert out.count("<math") == 2 and 'display="block"' in out


def test_dollars_never_pair_across_a_code_element(mathml):
    html = "<p>costs $5 <code>x</code> or $6</p>"
    assert mathml.render_math(html, "nb.py", notebook=True) == html


def test_dollars_inside_tag_attributes_are_not_math(mathml):
    html = '<img alt="$x$" src="a.png"><p>ok</p>'
    assert mathml.render_math(html, "nb.py", notebook=True) == html


def test_tex_that_cannot_render_stops_the_build_naming_the_page(mathml):
    html = '<span class="arithmatex">\\(\\frac{1}{\\)</span>'
    with pytest.raises(mathml.MathError, match=r"broken\.md.*frac"):
        mathml.render_math(html, "broken.md", notebook=False)


# ----------------------------------------------------------- parity_matrix.py


def test_matrix_covers_every_option_alone_and_combined(matrix):
    cases = matrix.cases()
    seen = {(c.shape_name, c.dtype, c.reduction, c.target_kind, c.option_names)
            for c in cases if c.scale != matrix.LARGE_SCALE}
    index_options = ("weight", "ignore_index", "label_smoothing")
    expected_sets = [("class indices", combo) for r in range(4)
                     for combo in itertools.combinations(index_options, r)]
    expected_sets += [("probabilities", combo) for r in range(3)
                      for combo in itertools.combinations(("weight", "label_smoothing"), r)]
    for shape, dtype, reduction, (kind, combo) in itertools.product(
        ("unbatched", "batched", "K-dim"), ("float16", "float32", "float64"),
        ("mean", "sum", "none"), expected_sets,
    ):
        assert (shape, dtype, reduction, kind, combo) in seen
    assert len(seen) == 3 * 3 * 3 * 12
    large = [c for c in cases if c.scale == matrix.LARGE_SCALE]
    assert {(c.shape_name, c.dtype, c.reduction) for c in large} == {
        (s, d, r) for s in ("unbatched", "batched", "K-dim")
        for d in ("float16", "float32", "float64") for r in ("mean", "sum", "none")}
    assert max(abs(c.logits).max() for c in large) > 1000  # exp() would overflow
    assert len(cases) == len(seen) + len(large)


def test_matrix_inputs_have_the_promised_shapes_and_dtypes(matrix):
    for case in matrix.cases():
        assert case.logits.dtype.name == case.dtype
        assert case.logits.shape == matrix.SHAPES[case.shape_name]
        if case.target_kind == "probabilities":
            assert case.targets.shape == case.logits.shape
            axis = 0 if case.logits.ndim == 1 else 1
            # rows sum to 1 up to the dtype's rounding (float16: 2**-11 per addition)
            eps = np.finfo(case.targets.dtype).eps
            assert abs(case.targets.sum(axis=axis) - 1).max() <= 4 * eps
        else:
            assert case.targets.ndim == case.logits.ndim - 1
        if "ignore_index" in case.option_names:
            assert case.options["ignore_index"] == matrix.IGNORE_INDEX
            ignored = case.targets == matrix.IGNORE_INDEX
            assert ignored.any()  # the option is exercised ...
            assert case.targets.size == 1 or not ignored.all()  # ... never all batched
        if "weight" in case.option_names:
            assert case.options["weight"].shape == (matrix.C,)


def test_matrix_inputs_are_reproducible_case_by_case(matrix):
    a, b = matrix.cases()[57], matrix.cases()[57]
    assert (a.logits == b.logits).all() and (a.targets == b.targets).all()
    assert not (matrix.cases()[56].logits.shape == a.logits.shape
                and (matrix.cases()[56].logits == a.logits).all())


# ------------------------------------------------------------- parity_gate.py


def document(steps=None, error=None):
    steps = steps or [
        {"step": "softmax", "max_abs_diff": 0.0, "max_rel_diff": 0.0,
         "rtol": 1e-10, "atol": 1e-12, "passed": True},
        {"step": "cross_entropy_grad", "max_abs_diff": 2e-3, "max_rel_diff": 1e-2,
         "rtol": 1e-10, "atol": 1e-12, "passed": False},
    ]
    case = {"number": 7, "id": "#7 batched float64 reduction=sum (weight)",
            "shape_name": "batched", "shape": [4, 5], "dtype": "float64",
            "reduction": "sum", "target_kind": "class indices", "options": ["weight"],
            "ignored": 0, "steps": steps, "error": error,
            "passed": error is None and all(s["passed"] for s in steps)}
    return {"seed": 1, "torch_version": "9.9", "numpy_version": "8.8",
            "celoss_version": "0.1.0", "python_version": "3.11",
            "tolerances": {"float64": [1e-10, 1e-12]}, "cases": [case]}


def test_failure_message_names_the_case_and_the_step(gate):
    message = gate.failure_message(document())
    assert "#7 batched float64 reduction=sum (weight)" in message
    assert "step 'cross_entropy_grad'" in message
    assert "step 'softmax'" not in message
    assert "2.000e-03" in message and "rtol=1e-10" in message


def test_failure_message_names_the_function_that_crashed(gate):
    message = gate.failure_message(
        document(steps=[], error="celoss.nll.nll_loss: IndexError: out of range"))
    assert "celoss.nll.nll_loss" in message and "#7" in message


def test_no_failure_message_when_every_case_passes(gate):
    doc = document()
    for step in doc["cases"][0]["steps"]:
        step["passed"] = True
    doc["cases"][0]["passed"] = True
    assert gate.failure_message(doc) is None
    page = gate.render_page(doc, 1.0)
    assert page.count("| pass |") == 1 and "9.9" in page and "8.8" in page


def test_on_files_raises_plugin_error_on_disagreement(gate, monkeypatch):
    from mkdocs.exceptions import PluginError

    monkeypatch.setattr(gate, "run_matrix", lambda cwd: document())
    # A key no build has stored: a passing result cached by an earlier build in
    # this checkout must not stand in for the failing run.
    config = SimpleNamespace(config_file_path=str(ROOT / "mkdocs.yml"),
                             celoss_build_keys=("library", "never-stored-by-a-build"))
    with pytest.raises(PluginError, match="step 'cross_entropy_grad'"):
        gate.on_files([], config)
    assert not (ROOT / ".cache" / "parity" / "never-stored-by-a-build.json").exists()


# ---------------------------------------------------------- notebook_cache.py


def test_cache_key_changes_with_any_library_byte(cache, tmp_path):
    package = tmp_path / "celoss"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (package / "b.py").write_text("y = 2\n")
    before = cache.cache_key(package)
    assert cache.cache_key(package) == before  # deterministic
    (package / "b.py").write_text("y = 3\n")
    assert cache.cache_key(package) != before


def test_cache_key_changes_with_numpy_or_torch_version(cache, tmp_path, monkeypatch):
    package = tmp_path / "celoss"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = cache.cache_key(package)
    real = cache.importlib.metadata.version
    for name in ("numpy", "torch", "matplotlib", "mkdocs-jupyter"):
        monkeypatch.setattr(cache.importlib.metadata, "version",
                            lambda n, name=name: "0.0.bumped" if n == name else real(n))
        assert cache.cache_key(package) != before, name


def test_cached_result_reuses_a_kept_result_and_never_keeps_a_failing_one(cache, tmp_path):
    runs = []

    def compute():
        runs.append(1)
        return {"passed": len(runs) > 1}

    keep = lambda document: document["passed"]  # noqa: E731
    first = cache.cached_result(tmp_path, "k", compute, keep)
    assert first[0] == {"passed": False} and not first[2]
    assert not (tmp_path / "k.json").exists()  # a failing result is not kept
    second = cache.cached_result(tmp_path, "k", compute, keep)
    assert second[0] == {"passed": True} and not second[2] and len(runs) == 2
    third = cache.cached_result(tmp_path, "k", compute, keep)
    assert third == (second[0], second[1], True) and len(runs) == 2  # not run again
    assert cache.cached_result(tmp_path, "other key", compute, keep)[2] is False
    assert len(runs) == 3


def test_a_cut_short_cache_file_is_recomputed_not_a_failed_build(cache, tmp_path):
    (tmp_path / "k.json").write_text('{"document": {"passed": tr')  # an interrupted write
    document, _, cached = cache.cached_result(tmp_path, "k", lambda: {"passed": True})
    assert document == {"passed": True} and not cached
    assert cache.read_json(tmp_path / "k.json")["document"] == {"passed": True}
    assert cache.read_json(tmp_path / "missing.json") is None


def test_json_is_written_whole_through_a_temporary_file(cache, tmp_path, monkeypatch):
    path = tmp_path / "sub" / "kept.json"
    cache.write_json(path, {"a": 1})
    assert cache.read_json(path) == {"a": 1} and sorted(p.name for p in path.parent.iterdir()) == [
        "kept.json"]
    # A write that fails half-way (here: on the temporary file) leaves the old file.
    real = Path.write_text

    def cut_short(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut_short)
    with pytest.raises(KeyboardInterrupt):
        cache.write_json(path, {"a": 2, "b": [1, 2, 3]})
    monkeypatch.undo()
    assert cache.read_json(path) == {"a": 1}


def test_cached_result_keeps_only_the_newest_results(cache, tmp_path):
    for number in range(cache.KEEP + 2):
        cache.cached_result(tmp_path, f"key{number}", lambda: {}, lambda document: True)
    assert len(list(tmp_path.glob("*.json"))) == cache.KEEP


def test_result_key_changes_with_any_hook_or_data_byte(cache, tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "docs" / "data").mkdir(parents=True)
    data = root / "docs" / "data" / "corpus.txt"
    data.write_text("to be or not to be\n")
    before = cache.result_key(root)
    assert cache.result_key(root) == before
    data.write_text("to be or not to be?\n")
    assert cache.result_key(root) != before
    monkeypatch.setattr(cache, "cache_key", lambda: "another library")
    data.write_text("to be or not to be\n")
    assert cache.result_key(root) != before


def test_playground_table_is_checked_once_then_served_from_the_cache(tmp_path, monkeypatch):
    table = load("playground_table")
    monkeypatch.setattr(table, "build_table", lambda: {"cases": [], "computed": True})
    first, _, cached = table.cached_table(tmp_path, "key")
    assert not cached and first["computed"]
    monkeypatch.setattr(table, "build_table", lambda: pytest.fail("computed again"))
    again, _, cached = table.cached_table(tmp_path, "key")
    assert cached and again == first
    assert len(list((tmp_path / ".cache" / "playground").glob("*.json"))) == 1


def test_build_keys_are_computed_once_per_build_and_shared_by_the_hooks(cache, monkeypatch):
    expected = (cache.cache_key(), cache.result_key(ROOT))
    calls = []
    real = cache.cache_key
    monkeypatch.setattr(cache, "cache_key", lambda: calls.append(1) or real())
    config = SimpleNamespace(config_file_path=str(ROOT / "mkdocs.yml"))
    library, result = cache.build_keys(config)
    assert (library, result) == expected and len(calls) == 1
    assert cache.build_keys(config) == (library, result) and len(calls) == 1
    another_build = SimpleNamespace(config_file_path=str(ROOT / "mkdocs.yml"))
    assert cache.build_keys(another_build) == (library, result) and len(calls) == 2
    # The parity gate and the Playground table use this build's copy of the hook
    # (MkDocs loads it before them: mkdocs.yml's order) and read the same keys.
    gate, table = load("parity_gate"), load("playground_table")
    assert gate.notebook_cache is cache and table.notebook_cache is cache
    assert gate.notebook_cache.build_keys(config) == (library, result) and len(calls) == 2
    hooks = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["hooks"]
    importers = [f"hooks/{name}.py" for name in ("parity_gate", "playground_table",
                                                 "mathml", "render_cache")]
    assert all(load(Path(name).stem).notebook_cache is cache for name in importers)
    assert hooks.index("hooks/notebook_cache.py") < min(map(hooks.index, importers))


# ------------------------------------------------- chapters' cases (hooks/cases)


def test_every_chapter_case_module_names_a_page_in_the_nav(matrix):
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = str(config["nav"])
    modules = list(matrix.chapter_modules())
    assert modules
    for stem, module in modules:
        assert not isinstance(module, Exception), (stem, module)
        assert (ROOT / "docs" / module.PAGE).is_file(), module.PAGE
        assert module.PAGE in nav, module.PAGE


FAKE_CHAPTER = '''
from celoss.parity import ParityReport, StepCheck

CHAPTER = "A fake chapter"
PAGE = "fake.py"


def good():
    return ParityReport({}, "float64", (2, 3), [StepCheck("softmax", 0.0, 0.0, 1e-10, 1e-12, True)],
                        "torch", "numpy")


def bad():
    check = StepCheck("W gradient", 1e-3, 1e-2, 1e-10, 1e-12, False)
    return ParityReport({"w": 1}, "float64", ("N", "C"), [check], "torch", "numpy")


def crash():
    import celoss
    return celoss.softmax(None, axis=7)


def cases():
    yield "agrees", good
    yield "disagrees", bad
    yield "crashes", crash
'''


def test_chapter_cases_that_disagree_or_crash_fail_the_gate(matrix, gate, tmp_path,
                                                             monkeypatch):
    (tmp_path / "fake_chapter.py").write_text(FAKE_CHAPTER)
    (tmp_path / "broken_chapter.py").write_text("CHAPTER = 'Broken'\nraise ImportError('nope')\n")
    monkeypatch.setattr(matrix, "CASES_DIR", tmp_path)
    rows = matrix.run_chapters(first_number=10)
    by_case = {row["case"]: row for row in rows}
    assert [row["number"] for row in rows] == list(range(10, 10 + len(rows)))
    assert by_case["agrees"]["passed"]
    assert not by_case["disagrees"]["passed"]
    assert by_case["disagrees"]["shape"] == "(N, C)"
    assert not by_case["crashes"]["passed"]
    assert "celoss.probabilities.softmax" in by_case["crashes"]["error"]
    assert not by_case["importing the module"]["passed"]
    message = gate.failure_message({"cases": rows})
    assert "A fake chapter: disagrees" in message and "step 'W gradient'" in message
    assert "A fake chapter: crashes" in message
    assert "ImportError: nope" in message


def test_a_crash_is_located_in_the_public_function_the_case_called(matrix):
    import numpy as np

    import celoss

    # nll_loss raises inside celoss._validation.check_inputs; the gate names nll_loss.
    with pytest.raises(ValueError) as error:
        celoss.nll_loss(np.zeros((4, 3)), np.array([0]))
    assert matrix.where_it_failed(error.value) == "celoss.nll.nll_loss"
    with pytest.raises(TypeError) as error:
        celoss.softmax(np.array([1, 2]))
    assert matrix.where_it_failed(error.value) == "celoss.probabilities.softmax"
    assert matrix.where_it_failed(ValueError("raised outside celoss")) == "the comparison itself"


# ------------------------------------------------------------ notebook_pages.py

NOTEBOOK = '''# %% [markdown]
# # A page
#
# Two cells.

# %%
print(1 + 1)
'''


def test_ipynb_download_is_the_same_file_for_the_same_source(tmp_path):
    pages = load("notebook_pages")
    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK)
    first = pages.to_ipynb(source)
    assert pages.to_ipynb(source) == first  # jupytext's random cell ids are replaced
    import nbformat

    notebook = nbformat.reads(first, as_version=4)
    nbformat.validate(notebook)
    assert [cell.cell_type for cell in notebook.cells] == ["markdown", "code"]
    assert len({cell.id for cell in notebook.cells}) == 2


def test_ipynb_download_is_cached_on_the_source(tmp_path, monkeypatch):
    pages = load("notebook_pages")
    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK)
    first = pages.cached_ipynb(source, tmp_path)
    monkeypatch.setattr(pages, "to_ipynb", lambda path: pytest.fail("converted again"))
    assert pages.cached_ipynb(source, tmp_path) == first
    source.write_text(NOTEBOOK.replace("1 + 1", "2 + 2"))
    monkeypatch.setattr(pages, "to_ipynb", lambda path: "converted")
    assert pages.cached_ipynb(source, tmp_path) == "converted"  # an edit converts again


# mkdocs-jupyter's markup for one code cell (0.26), shortened: its own copy
# button, the cell's highlighted source, the hidden text its button copies.
JUPYTER_CELL = """<div class="jp-InputArea-editor">
<div class="zeroclipboard-container">
<clipboard-copy for="cell-3" aria-label="Copy to Clipboard">
<div><span class="notice" hidden="">Copied!</span>
<svg aria-hidden="true" class="clipboard-copy-icon"><path d="M0 6.75"></path></svg>
</div>
</clipboard-copy>
</div>
<div class="highlight-ipynb hl-python"><pre><span class="n">x</span> <span class="o">=</span> 1
</pre></div>
<div id="cell-3" class="clipboard-copy-txt">x = 1
</div>
</div>
<script>(function (global, factory) { /* ClipboardCopyElement */
  customElements.define('clipboard-copy', ClipboardCopyElement) })</script>
<script>document.addEventListener('clipboard-copy', function(event) {})</script>
<script>keep = 1</script>"""


def test_only_materials_copy_button_is_left_on_notebook_cells():
    pages = load("notebook_pages")
    html = pages.strip_jupyter_copy(JUPYTER_CELL)
    for gone in ("zeroclipboard", "clipboard-copy", "Copied!", '<div id="cell-3"'):
        assert gone not in html, gone
    # The highlighted code Material's button copies, and other scripts, stay.
    assert '<div class="highlight-ipynb hl-python"><pre><span class="n">x</span>' in html
    assert "<script>keep = 1</script>" in html
    assert html.count("<div") == html.count("</div>")  # no half-removed element


# -------------------------------------------------------------- render_cache.py


class FakeIndex:
    """Material's SearchIndex as render_cache sees it: entries and the adder."""

    def __init__(self):
        self.entries, self.parsed = [], []

    def add_entry_from_context(self, page):
        self.parsed.append(page.url)
        self.entries.append({"location": page.url, "title": page.title, "text": page.content})


def fake_page(url, content):
    return SimpleNamespace(url=url, title=url.upper(), meta={}, toc=[], content=content)


def test_search_entries_are_reused_only_for_an_unchanged_page():
    cache = load("render_cache")
    cache._known.clear()
    first = FakeIndex()
    first.add_entry_from_context = cache.cached_indexing(first, {"lang": ["en"]})
    first.add_entry_from_context(fake_page("a/", "<p>alpha</p>"))
    first.add_entry_from_context(fake_page("b/", "<p>beta</p>"))

    second = FakeIndex()
    second.add_entry_from_context = cache.cached_indexing(second, {"lang": ["en"]})
    second.add_entry_from_context(fake_page("a/", "<p>alpha</p>"))
    second.add_entry_from_context(fake_page("b/", "<p>beta, edited</p>"))
    assert second.parsed == ["b/"]  # only the edited page is parsed again
    assert second.entries == [{"location": "a/", "title": "A/", "text": "<p>alpha</p>"},
                              {"location": "b/", "title": "B/", "text": "<p>beta, edited</p>"}]
    second.entries[0]["text"] = "changed by a later step"
    third = FakeIndex()
    third.add_entry_from_context = cache.cached_indexing(third, {"lang": ["en"]})
    third.add_entry_from_context(fake_page("a/", "<p>alpha</p>"))
    assert third.entries[0]["text"] == "<p>alpha</p>"  # the cache holds its own copy
    other = FakeIndex()
    other.add_entry_from_context = cache.cached_indexing(other, {"lang": ["de"]})
    other.add_entry_from_context(fake_page("a/", "<p>alpha</p>"))
    assert other.parsed == ["a/"]  # other search settings: parsed again


# ---------------------------------------------------------------- up_to_date.py


def tiny_project(root: Path) -> Path:
    """A two-page MkDocs project with the up_to_date hook (the default theme: fast)."""
    (root / "docs").mkdir(parents=True)
    (root / "hooks").mkdir()
    (root / "hooks" / "up_to_date.py").write_text((ROOT / "hooks" / "up_to_date.py").read_text())
    (root / "docs" / "index.md").write_text("# Home\n\nSee [the other page](other.md).\n")
    (root / "docs" / "other.md").write_text("# Other\n")
    (root / "mkdocs.yml").write_text("site_name: tiny\nhooks:\n  - hooks/up_to_date.py\n")
    return root


def mkdocs_build(project: Path, *args: str, **env: str) -> bool:
    """Build the tiny project; True if the hook said it was up to date."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-d", "site", *args], cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    assert ("Site up to date" in log) != ("Documentation built" in log), log
    return "Site up to date" in log


def test_build_with_nothing_changed_stops_early_and_any_change_builds(tmp_path):
    project = tiny_project(tmp_path / "project")
    assert not mkdocs_build(project)  # first build
    page = project / "site" / "index.html"
    before = page.stat().st_mtime_ns
    assert mkdocs_build(project)  # nothing changed: skipped
    assert page.stat().st_mtime_ns == before  # and the site left as it was

    (project / "docs" / "other.md").write_text("# Other, edited\n")
    assert not mkdocs_build(project)  # a docs edit builds
    assert "Other, edited" in (project / "site" / "other" / "index.html").read_text()
    assert mkdocs_build(project)

    page.unlink()  # a site file removed: builds, and the file is back
    assert not mkdocs_build(project)
    assert page.is_file()
    (project / "site" / "other" / "index.html").write_text("tampered")
    assert not mkdocs_build(project)
    assert "tampered" not in (project / "site" / "other" / "index.html").read_text()

    assert not mkdocs_build(project, "--use-directory-urls")  # other options build
    assert not mkdocs_build(project, "--dirty")  # --dirty is never skipped
    assert not mkdocs_build(project, CELOSS_FULL_BUILD="1")  # forced


def test_a_build_that_warned_is_never_skipped(tmp_path):
    project = tiny_project(tmp_path / "project")
    (project / "docs" / "index.md").write_text("# Home\n\nA [broken link](missing.md).\n")
    assert not mkdocs_build(project)  # builds (not strict), with a warning
    assert not mkdocs_build(project)  # so the next build builds again
    assert not list((project / ".cache" / "build").glob("*.json"))


def test_inputs_key_covers_the_library_and_the_installed_versions(tmp_path, monkeypatch):
    hook = load("up_to_date")
    project = tiny_project(tmp_path / "project")
    config = SimpleNamespace(
        config_file_path=str(project / "mkdocs.yml"), docs_dir=str(project / "docs"),
        site_dir=str(project / "site"), watch=[], theme=SimpleNamespace(custom_dir=None))
    before = hook.inputs_key(config, [])
    assert hook.inputs_key(config, []) == before
    assert hook.inputs_key(config, ["--strict"]) != before
    import celoss
    library = Path(celoss.__file__).parent.resolve()
    assert library in hook.input_folders(config)  # the celoss source is an input
    installed = hook.installed_distributions()
    assert any(name.startswith("torch-") for name in installed)
    monkeypatch.setattr(hook, "installed_distributions",
                        lambda: [n.replace("torch-", "torch-0.0") for n in installed])
    assert hook.inputs_key(config, []) != before  # another torch version
    monkeypatch.undo()
    (project / "hooks" / "new_hook.py").write_text("")
    assert hook.inputs_key(config, []) != before


def test_serve_is_never_skipped(tmp_path):
    hook = load("up_to_date")
    hook.on_startup(command="serve", dirty=False)
    config = SimpleNamespace()  # on_config must not even look at it
    assert hook.on_config(config) is config


def test_mathml_conversions_are_kept_for_the_next_build(tmp_path, monkeypatch):
    math = load("mathml")
    config = SimpleNamespace(config_file_path=str(tmp_path / "mkdocs.yml"))
    math.on_pre_build(config)
    first = math.render_math('<span class="arithmatex">\\(x^2\\)</span>', "a.md", False)
    math.on_post_build(config)
    assert math.cache_path(config).is_file()
    math.on_pre_build(config)  # the next build
    def refuse(*args, **kwargs):
        raise ValueError("converted again")

    monkeypatch.setattr(math, "convert", refuse)
    again = math.render_math('<span class="arithmatex">\\(x^2\\)</span>', "a.md", False)
    assert again == first and "<msup>" in again
    with pytest.raises(math.MathError, match="converted again"):  # new TeX is converted
        math.render_math('<span class="arithmatex">\\(y^3\\)</span>', "a.md", False)
    monkeypatch.setattr(math.importlib.metadata, "version", lambda name: "0.0-other")
    assert not math.cache_path(config).is_file()  # another latex2mathml: another file

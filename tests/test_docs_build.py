"""The site: the strict build passes, is light and offline, and fails when it must.

One session-scoped build of the real project (``mkdocs build --strict -d <tmp>``)
serves every test that reads the built site. The tests that must see a build
FAIL run in a copy of the project (``mkdocs.yml``, ``hooks/``, ``docs/``) in a
temporary folder, so their caches and sites never touch the checkout:

* a celoss with one wrong step, placed first on ``PYTHONPATH``;
* a torch whose ``cross_entropy`` result is nudged, the same way;
* a notebook with a raising cell;
* a changed library, which must never be served from the notebook cache.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MAX_PAGE_BYTES = 300 * 1024
# The seed walkthrough's numbers: its float64 loss and PyTorch's float32 one.
SEED_LOSS_NUMPY = "0.3185397696491857"
SEED_LOSS_TORCH = "0.31853973865509033"


def run_build(project: Path, site: Path, pythonpath: Path | None = None):
    """``mkdocs build --strict`` in ``project``; returns the finished process."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if pythonpath is not None:  # first on the path: shadows the installed packages
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), os.environ.get("PYTHONPATH")) if p
        )
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )


def output(proc) -> str:
    return proc.stdout + proc.stderr


# The hooks that make a build safe; a small site keeps these and no others
# (the others fill pages that the small site does not have).
SITE_HOOKS = ("hooks/parity_gate.py", "hooks/notebook_cache.py",
              "hooks/notebook_pages.py", "hooks/mathml.py")


def copy_project(dest: Path, notebook: str | None = None) -> Path:
    """Copy mkdocs.yml, hooks/, overrides/ and docs/ to ``dest``; link src/.

    With ``notebook``, the copy is a small site instead: a home page, that
    notebook as ``walkthrough.py`` and the Verification page (the matrix
    only: the chapters' cases link to chapter pages the small site lacks),
    so the build runs one small notebook rather than every chapter.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    dest.mkdir(parents=True)
    (dest / "src").symlink_to(ROOT / "src")
    if (ROOT / "overrides").is_dir():  # theme.custom_dir
        shutil.copytree(ROOT / "overrides", dest / "overrides", ignore=ignore)
    if notebook is None:
        shutil.copytree(ROOT / "hooks", dest / "hooks", ignore=ignore)
        shutil.copytree(ROOT / "docs", dest / "docs", ignore=ignore)
        shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
        return dest
    shutil.copytree(ROOT / "hooks", dest / "hooks",
                    ignore=shutil.ignore_patterns("__pycache__", "cases"))
    shutil.copytree(ROOT / "docs" / "assets", dest / "docs" / "assets", ignore=ignore)
    (dest / "docs" / "index.md").write_text("# Home\n\nA small site for a test.\n")
    (dest / "docs" / "walkthrough.py").write_text(notebook)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["nav"] = [{"Home": "index.md"}, {"Walkthrough": "walkthrough.py"},
                     {"Verification": "verification.md"}]
    config["hooks"] = [hook for hook in config["hooks"] if hook in SITE_HOOKS]
    assert len(config["hooks"]) == len(SITE_HOOKS)
    (dest / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


TINY_NOTEBOOK = """\
# %% [markdown]
# # A tiny notebook
#
# Written by tests/test_docs_build.py; see the [Verification](verification.md) page.

# %%
{code}
"""


# ---------------------------------------------------------------- the real build


# `built_site` (the finished build and its folder) and `site` (its folder, the
# build having passed) come from tests/conftest.py: one build of the real
# project for the whole test run, shared with the browser, link and
# accessibility tests.


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


@pytest.mark.slow
def test_strict_build_passes(built_site):
    proc, site = built_site
    assert proc.returncode == 0, output(proc)[-5000:]
    assert "celoss agrees with torch" in output(proc)
    for page in ("index.html", "walkthrough/index.html", "verification/index.html",
                 "reference/index.html"):
        assert (site / page).is_file(), page


@pytest.mark.slow
def test_no_page_is_over_300_kb(site):
    sizes = {p.relative_to(site).as_posix(): p.stat().st_size for p in html_pages(site)}
    assert len(sizes) >= 4
    too_big = {page: size for page, size in sizes.items() if size > MAX_PAGE_BYTES}
    assert not too_big, f"pages over {MAX_PAGE_BYTES} bytes: {too_big}"


@pytest.mark.slow
def test_notebook_css_is_shared_not_inlined(site):
    page = (site / "walkthrough" / "index.html").read_text(encoding="utf-8")
    inline = sum(len(m) for m in re.findall(r"<style[^>]*>.*?</style>", page, re.S))
    assert inline < 5_000
    shared = list((site / "assets" / "notebook").glob("*.css"))
    assert sum(p.stat().st_size for p in shared) > 500_000  # JupyterLab's CSS, once
    for css in shared:
        assert f"assets/notebook/{css.name}" in page


class ResourceRefs(HTMLParser):
    """Collect every URL a browser would fetch on its own from an HTML page."""

    FETCHED = {  # tag -> attributes that load something without a click
        "script": ("src",), "img": ("src", "srcset"), "source": ("src", "srcset"),
        "iframe": ("src",), "embed": ("src",), "object": ("data",),
        "video": ("src", "poster"), "audio": ("src",), "track": ("src",),
        "input": ("src",), "image": ("href", "xlink:href"), "use": ("href", "xlink:href"),
    }

    # <link rel=...> that make the browser fetch (not canonical, alternate, next...).
    FETCHED_RELS = {"stylesheet", "icon", "apple-touch-icon", "mask-icon", "manifest",
                    "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch"}

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline: list[str] = []  # text of <style> and <script>
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        names = self.FETCHED.get(tag, ())
        if tag == "link" and set(attrs.get("rel", "").lower().split()) & self.FETCHED_RELS:
            names = ("href",)
        for name in names:
            value = attrs.get(name)
            if value:
                for part in value.split(","):  # srcset: "url 2x, url 3x"
                    self.urls.append((tag, part.strip().split(" ")[0]))
        if attrs.get("style"):
            self.inline.append(attrs["style"])
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.inline.append(data)


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def is_other_host(url: str) -> bool:
    """True for a URL that leaves the site: any scheme but data:, or //host."""
    parts = urlsplit(url)
    if parts.scheme == "data":
        return False
    return bool(parts.scheme or parts.netloc)


@pytest.mark.slow
def test_site_references_no_other_host(site):
    offending = []
    for page in html_pages(site):
        parser = ResourceRefs()
        parser.feed(page.read_text(encoding="utf-8"))
        offending += [(page.name, tag, url) for tag, url in parser.urls if is_other_host(url)]
        for text in parser.inline:
            urls = re.findall(r"https?://[^\s'\"<>)]+", text)
            # XML namespaces (www.w3.org) are names, never fetched.
            offending += [(page.name, "inline", u) for u in urls if "www.w3.org/" not in u]
            offending += [(page.name, "inline css", u) for pair in CSS_URL.findall(text)
                          for u in pair if u and is_other_host(u)]
    for css in site.rglob("*.css"):
        for pair in CSS_URL.findall(css.read_text(encoding="utf-8")):
            offending += [(css.name, "css", u) for u in pair if u and is_other_host(u)]
    assert not offending, offending[:20]


@pytest.mark.slow
def test_no_page_loads_mathjax_or_a_cdn_script(site):
    for page in html_pages(site):
        text = page.read_text(encoding="utf-8")
        for word in ("mathjax", "cdnjs", "unpkg", "jsdelivr", "require.js", "fonts.googleapis"):
            assert word not in text.lower(), (page, word)


@pytest.mark.slow
def test_notebook_cells_have_one_copy_button_materials(site):
    page = (site / "gradient" / "index.html").read_text(encoding="utf-8")
    assert "jp-CodeCell" in page and "<pre" in page
    assert "clipboard-copy" not in page and "zeroclipboard" not in page


@pytest.mark.slow
def test_math_is_rendered_as_mathml_everywhere(site):
    pages = {name: (site / name / "index.html").read_text(encoding="utf-8")
             for name in ("walkthrough", "reference", "verification")}
    for name, text in pages.items():
        assert "<math" in text, f"no MathML on {name}"
        assert 'class="arithmatex"' not in text, f"unrendered arithmatex on {name}"
    # Notebook Markdown cells: no $...$ left outside code.
    prose = re.sub(r"<(pre|code|script|style)\b.*?</\1>", "", pages["walkthrough"], flags=re.S)
    assert not re.search(r"\$[^$<>\s][^$<>]*\$", prose)
    # Docstrings: the Notes formulas of the reference page are display math.
    assert 'display="block"' in pages["reference"]


def walkthrough_text(site: Path) -> str:
    return (site / "walkthrough" / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_walkthrough_shows_the_seed_numbers(site):
    text = walkthrough_text(site)
    # float64 NumPy and float32 PyTorch losses, as the seed printed them;
    # repr(np.float64) may add a 17th digit (0.31853976964918573).
    assert SEED_LOSS_NUMPY in text
    assert SEED_LOSS_TORCH in text


@pytest.mark.slow
def test_walkthrough_has_a_figure_for_every_step(site):
    text = walkthrough_text(site)
    sections = re.split(r"<h2\b", text)[1:]
    steps = [s for s in sections if re.match(r'[^>]*id="\d', s)]  # "1. Logits..." .. "6. ..."
    assert len(steps) == 6, [s[:80] for s in sections]
    for section in steps:
        heading = re.search(r'id="([^"]+)"', section).group(1)
        figures = re.findall(r'<figure class="celoss-figure".*?</figure>', section, re.S)
        assert len(figures) >= 1, f"step {heading} has no figure"
        for figure in figures:
            src = re.search(r'<img\b[^>]*src="([^"]+)"', figure).group(1)
            assert re.search(r'<img\b[^>]*alt="[^"]{20,}"', figure), "figure without alt text"
            # Figures are image files next to the page, not data: URIs.
            assert not src.startswith("data:")
            assert (site / "walkthrough" / src).stat().st_size > 5_000, src


@pytest.mark.slow
def test_walkthrough_links_to_the_verification_page(site):
    links = re.findall(r'href="([^"]*)"', walkthrough_text(site))
    assert "../verification/" in links
    # No link was left pointing at a Markdown source file.
    assert not [h for h in links if re.search(r"\.(md|py)(#|$)", h)]


@pytest.mark.slow
def test_verification_page_lists_every_case_with_versions(site):
    import torch

    sys.path.insert(0, str(ROOT / "hooks"))
    try:
        import parity_matrix
    finally:
        sys.path.remove(str(ROOT / "hooks"))
    text = (site / "verification" / "index.html").read_text(encoding="utf-8")
    rows = [int(n) for n in re.findall(r"<tr>\s*<td[^>]*>(\d+)</td>", text)]
    matrix = len(parity_matrix.cases())
    chapters = list((ROOT / "hooks" / "cases").glob("[!_]*.py"))
    assert sorted(rows) == list(range(1, len(rows) + 1))  # every case, numbered, once
    assert len(rows) > matrix + len(chapters)  # the matrix and each chapter's cases
    assert text.count(">pass</td>") == len(rows)
    assert "FAIL" not in text
    assert torch.__version__ in text
    assert np.__version__ in text
    for rtol, atol in (("1e-10", "1e-12"), ("2e-05", "1e-06")):
        assert rtol in text and atol in text
    for path in chapters:  # each chapter's section links to its page
        page = re.search(r'^PAGE = "([^"]+)"', path.read_text(), re.M).group(1)
        assert f'href="../{page.removesuffix(".py")}/"' in text, page


@pytest.mark.slow
def test_walkthrough_download_is_an_ipynb_that_runs_in_jupyter(site, tmp_path):
    import nbformat

    text = walkthrough_text(site)
    assert re.search(r'<a href="walkthrough\.ipynb" download="walkthrough\.ipynb"', text)
    notebook = tmp_path / "walkthrough.ipynb"
    shutil.copy(site / "walkthrough" / "walkthrough.ipynb", notebook)
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert [c.cell_type for c in nb.cells].count("code") >= 6
    # Jupyter's own runner, in a folder holding nothing but the notebook.
    proc = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
         "--output", "executed.ipynb", str(notebook)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, output(proc)[-3000:]
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(SEED_LOSS_TORCH in json.dumps(o) for o in outputs)


def test_config_pins_the_safe_notebook_options():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True
    assert config["theme"]["font"] is False
    assert "src" in config["watch"]
    jupyter = next(p["mkdocs-jupyter"] for p in config["plugins"]
                   if isinstance(p, dict) and "mkdocs-jupyter" in p)
    assert jupyter["execute"] is True
    assert jupyter["allow_errors"] is False
    assert jupyter["include_requirejs"] is False
    assert "hooks/notebook_cache.py" in config["hooks"]
    assert "hooks/parity_gate.py" in config["hooks"]
    def pages(nav):
        for item in nav:
            value = next(iter(item.values()))
            yield from pages(value) if isinstance(value, list) else [value]

    nav = list(pages(config["nav"]))
    assert nav[:2] == ["index.md", "walkthrough.py"]
    assert {"verification.md", "reference.md"} <= set(nav)


def test_makefile_serves_on_localhost_8000_and_builds_strict():
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"^serve:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    docs = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "mkdocs serve" in serve and "127.0.0.1:8000" in serve
    assert "mkdocs build --strict" in docs


def test_the_build_benchmark_uses_the_makefiles_environment():
    spec = importlib.util.spec_from_file_location(
        "bench_build", ROOT / "benchmarks" / "bench_build.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    makefile = (ROOT / "Makefile").read_text()
    exported = dict(re.findall(r"^export (\w+) := (\S+)$", makefile, re.M))
    docs = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    inline = dict(re.findall(r"(\w+)=(\S+) \$\(BIN\)/mkdocs", docs))
    assert exported == {"NBCONVERT_DISABLE_CONFIG_EXPORTERS": "1"}
    assert bench.MAKE_ENV == {**inline, **exported}


# ------------------------------------------------------- builds that must fail


SHADOW_CELOSS = """\
# Loaded at interpreter start-up because its folder is first on PYTHONPATH.
import sys

import celoss

{patch}

def _rebind(old, new):
    for name, module in list(sys.modules.items()):
        if name == "celoss" or name.startswith("celoss."):
            for attr, value in list(vars(module).items()):
                if value is old:
                    setattr(module, attr, new)
"""

WRONG_STEPS = {
    # step -> (patch defining _old and _new, the step name the build must report)
    "softmax": ("""\
from celoss.probabilities import softmax as _old

def _new(logits, axis=-1):
    return _old(logits, axis=axis) * (1 + 1e-7)  # a tiny relative error
_rebind(_old, _new)
""", "softmax"),
    "cross_entropy_grad": ("""\
from celoss.gradient import cross_entropy_grad as _old

def _new(*args, **kwargs):
    return _old(*args, **kwargs) * (1 + 1e-7)
_rebind(_old, _new)
""", "cross_entropy_grad"),
}


def write_shadow(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # _rebind must exist before the patch runs: put it first.
    head, _, tail = SHADOW_CELOSS.partition("{patch}")
    (folder / "sitecustomize.py").write_text(head + tail + "\n" + body)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("step", sorted(WRONG_STEPS), ids=lambda s: f"wrong-{s}")
def test_build_fails_naming_the_step_when_celoss_is_wrong(tmp_path, step):
    patch, reported = WRONG_STEPS[step]
    shadow = write_shadow(tmp_path / "shadow", patch)
    project = copy_project(tmp_path / "project")
    proc = run_build(project, tmp_path / "site", pythonpath=shadow)
    log = output(proc)
    assert proc.returncode != 0, log[-3000:]
    assert "celoss and PyTorch disagree" in log, log[-3000:]
    assert f"step '{reported}'" in log, log[-3000:]
    assert re.search(r"case #\d+ \w", log), log[-3000:]


def one_character_bug(package: Path, where: str) -> str:
    """Flip one subtraction in log_softmax to an addition, in place.

    ``where="normaliser"``: ``log_probs = shifted - log(sum(exp(shifted)))``.
    ``where="shift"``: the stabilising ``shifted = logits - row_max``. Log-softmax is
    shift-invariant, so this one changes no value in exact arithmetic; only
    the matrix's large-logit cases, where exp() then overflows, can catch it.
    Found with ast, so it survives reformatting; exactly one character of
    the file changes. Returns the mutated line.
    """
    path = package / "probabilities.py"
    source = path.read_text()
    tree = ast.parse(source)
    func = next(n for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef) and n.name == "log_softmax")
    name = "log_probs" if where == "normaliser" else "shifted"
    node = next(n.value for n in ast.walk(func)
                if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == [name]
                and isinstance(n.value, ast.BinOp) and isinstance(n.value.op, ast.Sub))
    assert node.left.end_lineno == node.right.lineno == node.lineno
    lines = source.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    start, end = node.left.end_col_offset, node.right.col_offset
    minus = start + line[start:end].index("-")
    lines[node.lineno - 1] = line[:minus] + "+" + line[minus + 1 :]
    path.write_text("".join(lines))
    assert sum(a != b for a, b in zip(source, "".join(lines), strict=True)) == 1
    return lines[node.lineno - 1].strip()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["normaliser", "shift"])
def test_build_fails_on_a_one_character_bug_in_the_library(tmp_path, where):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "src" / "celoss", lib / "celoss",
                    ignore=shutil.ignore_patterns("__pycache__"))
    mutated = one_character_bug(lib / "celoss", where)
    project = copy_project(tmp_path / "project")
    proc = run_build(project, tmp_path / "site", pythonpath=lib)
    log = output(proc)
    assert proc.returncode != 0, f"{mutated!r} built green:\n{log[-3000:]}"
    assert "step 'log_softmax'" in log, log[-3000:]


SHADOW_TORCH = """\
# Loaded at interpreter start-up because its folder is first on PYTHONPATH.
import torch.nn.functional as F

_cross_entropy = F.cross_entropy


def cross_entropy(*args, **kwargs):
    return _cross_entropy(*args, **kwargs) * (1 + 1e-7)  # a tiny relative error


F.cross_entropy = cross_entropy
"""


@pytest.mark.slow
def test_build_fails_naming_the_step_when_torch_disagrees(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "sitecustomize.py").write_text(SHADOW_TORCH)
    project = copy_project(tmp_path / "project")
    proc = run_build(project, tmp_path / "site", pythonpath=shadow)
    log = output(proc)
    assert proc.returncode != 0, log[-3000:]
    assert "step 'cross_entropy'" in log, log[-3000:]
    assert re.search(r"case #\d+ \w", log), log[-3000:]


@pytest.mark.slow
def test_build_fails_on_a_raising_notebook_cell(tmp_path):
    code = 'raise RuntimeError("a deliberately raising cell")'
    project = copy_project(tmp_path / "project", TINY_NOTEBOOK.format(code=code))
    proc = run_build(project, tmp_path / "site")
    log = output(proc)
    assert proc.returncode != 0, log[-3000:]
    assert "a deliberately raising cell" in log, log[-3000:]
    assert not (tmp_path / "site" / "walkthrough" / "index.html").exists()


@pytest.mark.slow
def test_a_changed_library_is_never_served_from_the_notebook_cache(tmp_path):
    """Build, change the library (not the notebook), build again: new output.

    Both builds must write the cache ("Cache miss, writing"), so the cache is
    on, and the second must not read the first one's entry.
    """
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "src" / "celoss", lib / "celoss",
                    ignore=shutil.ignore_patterns("__pycache__"))
    init = lib / "celoss" / "__init__.py"
    original = init.read_text()
    code = 'import celoss\nprint("library marker:", getattr(celoss, "MARKER", None))'
    project = copy_project(tmp_path / "project", TINY_NOTEBOOK.format(code=code))
    page = tmp_path / "site" / "walkthrough" / "index.html"

    init.write_text(original + '\nMARKER = "first"\n')
    first = run_build(project, tmp_path / "site", pythonpath=lib)
    assert first.returncode == 0, output(first)[-3000:]
    assert "Cache miss, writing" in output(first)
    assert "library marker: first" in page.read_text()

    init.write_text(original + '\nMARKER = "second"\n')
    second = run_build(project, tmp_path / "site", pythonpath=lib)
    assert second.returncode == 0, output(second)[-3000:]
    assert "Cache hit" not in output(second)
    assert "Cache miss, writing" in output(second)
    assert "library marker: second" in page.read_text()
    folders = list((project / ".cache" / "mkdocs-jupyter").iterdir())
    assert len(folders) == 2  # one per library version

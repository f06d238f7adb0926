"""Every snippet a reader can copy runs, and prints exactly its ``#>`` lines.

Covered, discovered afresh at each run so a new page or module is covered
without editing this file:

* every fenced ``python`` block of every Markdown page in ``docs/`` (content
  tabs included: their blocks are indented) and of ``README.md``;
* every fenced ``python`` block in a docstring of any ``celoss`` module
  (``tests/test_docstrings.py`` pins the public functions' examples; this one
  also reaches modules it does not list, such as ``celoss.fused``).

The convention is pydantic's (pytest-examples): no ``>>>`` prompts, printed
output written under the code as ``#>`` lines. The blocks of one page run in
order in one namespace, as a reader runs them ("continuing the example").
A ``--8<--`` line is resolved as pymdownx.snippets resolves it at build time,
so a block that includes library code runs the included code.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import pkgutil
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import celoss

ROOT = Path(__file__).resolve().parents[1]
# ```python (or ```py, ```python3, with attributes) at any indentation, up to
# the closing fence at the same indentation.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?:python3?|py)\b[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
# pymdownx.snippets: --8<-- "path" or --8<-- "path:section" alone on a line.
INCLUDE = re.compile(r'^(?P<indent>[ \t]*)-{1,}8<-{1,}[ \t]+"(?P<target>[^"]+)"[ \t]*$', re.M)
PROMPT = re.compile(r"^\s*(>>>|\.\.\.)( |$)", re.M)


def markdown_pages() -> list[Path]:
    return [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]


def section(text: str, name: str, where: str) -> str:
    """The lines between ``--8<-- [start:name]`` and ``--8<-- [end:name]``."""
    start, end = (rf"^[^\n]*--8<-- \[{edge}:{re.escape(name)}\]" for edge in ("start", "end"))
    match = re.search(start + r"[^\n]*\n(.*?)" + end, text, re.M | re.S)
    assert match, f"{where}: no section {name!r}"
    return match.group(1)


def resolve_includes(code: str, where: str) -> str:
    """Replace each ``--8<-- "file[:section]"`` line by what it includes."""

    def include(match: re.Match) -> str:
        target = match.group("target")
        path, _, name = target.partition(":")
        if name.isdigit() or re.fullmatch(r"\d*:\d*", name or "x"):  # line ranges
            lines = (ROOT / path).read_text().splitlines(keepends=True)
            start, _, end = name.partition(":")
            text = "".join(lines[int(start or 1) - 1 : int(end) if end else None])
        else:
            text = (ROOT / path).read_text()
            if name:
                text = section(text, name, where)
        return textwrap.indent(text, match.group("indent"))

    return INCLUDE.sub(include, code)


def blocks(text: str, where: str) -> list[str]:
    """The dedented fenced python blocks of a text, includes resolved."""
    return [resolve_includes(textwrap.dedent(m.group("body")), where)
            for m in FENCE.finditer(text)]


def split_output(block: str) -> tuple[str, list[str]]:
    """(code, expected output lines): ``#>`` lines are the output."""
    code, expected = [], []
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("#>"):
            expected.append(stripped[3:] if stripped != "#>" else "")
        else:
            code.append(line)
    return "\n".join(code), expected


def run_block(block: str, namespace: dict, where: str) -> None:
    """Run one block in ``namespace``; its stdout must equal its ``#>`` lines."""
    assert not PROMPT.search(block), f"{where}: a >>> prompt (the copy button would copy it)"
    code, expected = split_output(block)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, where, "exec"), namespace)
    printed = buffer.getvalue().rstrip("\n")
    assert (printed.splitlines() if printed else []) == expected, (
        f"{where}: printed\n{printed}\nbut the page shows\n" + "\n".join(expected))


@pytest.fixture(autouse=True)
def default_print_options():
    """Each page and docstring starts from NumPy's defaults, as in a fresh interpreter.

    (The home page's example calls np.set_printoptions: without this, it would
    change how every later example prints.)
    """
    with np.printoptions(**DEFAULT_PRINT_OPTIONS):
        yield


DEFAULT_PRINT_OPTIONS = np.get_printoptions()


# ---------------------------------------------------------------- Markdown pages


def page_params():
    for path in markdown_pages():
        found = blocks(path.read_text(encoding="utf-8"), path.name)
        if found:
            yield pytest.param(path, found, id=path.relative_to(ROOT).as_posix())


PAGES = list(page_params())


@pytest.mark.parametrize(("path", "page_blocks"), PAGES)
def test_every_python_block_of_the_page_runs_and_prints_its_output(path, page_blocks, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snippet that writes a file writes it here
    namespace: dict = {"__name__": "__main__"}
    for number, block in enumerate(page_blocks, 1):
        run_block(block, namespace, f"{path.name}, python block {number}")


def test_the_pages_have_snippets_to_check():
    """Guards the discovery above: the home page and README hold examples."""
    names = {p.values[0].name for p in PAGES}
    assert {"index.md", "README.md"} <= names
    home = next(p.values[1] for p in PAGES if p.values[0].name == "index.md")
    assert len(home) >= 2 and all(split_output(b)[1] for b in home)


# ---------------------------------------------------------------- docstrings


def celoss_modules():
    yield celoss
    for info in pkgutil.walk_packages(celoss.__path__, "celoss."):
        yield importlib.import_module(info.name)


def docstring_params():
    for module in celoss_modules():
        objects = [(module.__name__, module)]
        for name, obj in vars(module).items():
            is_code = inspect.isfunction(obj) or inspect.isclass(obj)
            if is_code and obj.__module__ == module.__name__:
                objects.append((f"{module.__name__}.{name}", obj))
                if inspect.isclass(obj):
                    objects += [(f"{module.__name__}.{name}.{attr}", member)
                                for attr, member in vars(obj).items()
                                if inspect.isfunction(member)]
        for name, obj in objects:
            for number, block in enumerate(blocks(inspect.getdoc(obj) or "", name)):
                yield pytest.param(block, id=f"{name}-{number}")


DOCSTRINGS = list(docstring_params())


@pytest.mark.parametrize("block", DOCSTRINGS)
def test_every_docstring_example_runs_and_prints_its_output(block, request, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, expected = split_output(block)
    assert expected, "a docstring example shows its printed output as #> lines"
    run_block(block, {"__name__": "__main__"}, request.node.callspec.id)


def test_every_module_with_examples_is_reached():
    reached = {p.id.rsplit("-", 1)[0].rsplit(".", 1)[0] for p in DOCSTRINGS}
    for module in ("celoss.probabilities", "celoss.loss", "celoss.fused"):
        assert any(r.startswith(module) for r in reached), module


# ---------------------------------------------------------------- the runner itself


def test_a_wrong_output_line_fails():
    with pytest.raises(AssertionError, match="but the page shows"):
        run_block('print(1 + 1)\n#> 3\n', {}, "a deliberately wrong block")


def test_output_without_its_lines_fails():
    with pytest.raises(AssertionError):
        run_block('print("unexpected")\n', {}, "a block that prints but shows nothing")


def test_a_prompt_fails():
    with pytest.raises(AssertionError, match="prompt"):
        run_block(">>> print(1)\n#> 1\n", {}, "a block with a prompt")


def test_indented_blocks_and_includes_are_found():
    text = (
        '=== "NumPy"\n\n'
        "    ```python\n"
        "    x = 2\n"
        "    print(x)\n"
        "    #> 2\n"
        "    ```\n\n"
        "```python\n"
        '--8<-- "tests/test_snippets.py:demo"\n'
        "```\n"
    )
    found = blocks(text, "demo")
    assert len(found) == 2
    assert found[0].startswith("x = 2")
    namespace: dict = {}
    for block in found:
        run_block(block, namespace, "demo")
    assert namespace["DEMO_SECTION"] == 42


# A section for test_indented_blocks_and_includes_are_found to include.
# --8<-- [start:demo]
DEMO_SECTION = 42
# --8<-- [end:demo]

"""The built site in a real browser (Debian's Chromium, driven by Playwright).

The site is built once and served on 127.0.0.1 under its site_url path
(tests/browser/site.py); every page found in the built site is visited:

* it loads with no console error, no failed request and no request to
  another host (every request is routed; one that leaves 127.0.0.1 is
  aborted and reported);
* every image loads (``naturalWidth > 0``);
* math is rendered: no TeX left in the visible text (``$``, ``\\(``,
  ``\\frac``...), MathML laid out by the browser where the source had TeX;
* each code block's copy button copies the code, without ``>>>`` prompts or
  the ``#>`` output lines;
* the dark-mode toggle switches the palette, and every figure is still drawn
  on a light ground in it (matplotlib draws dark ink);
* searching "label smoothing" in the search box finds the sections titled so.

Where Chromium is missing these tests fail with the command that installs it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from browser.site import (
    ROOT,
    launch,
    new_context,
    open_page,
    palette_scheme,
    serve,
    switch_to_dark,
    visit_every_page,
)

pytestmark = pytest.mark.slow
# TeX a reader should never see: $...$ or a lone $, \( \) \[ \], a command.
RAW_TEX = re.compile(r"\$|\\[()\[\]]|\\[A-Za-z]{2,}")
TEX_IN_SOURCE = re.compile(r"\$[^$\n]+\$")


@pytest.fixture(scope="module")
def visits(site) -> dict[str, dict]:
    """Every page, loaded once (tests/browser/site.py: visit_every_page)."""
    found = visit_every_page()["pages"]
    assert "home" in found and "walkthrough/" in found and len(found) >= 5, list(found)
    return found


@pytest.fixture(scope="module")
def outside_requests(site) -> list[str]:
    return visit_every_page()["outside"]


@pytest.fixture(scope="module")
def base_url(site) -> str:
    return serve(site)


@pytest.fixture(scope="module")
def browser():
    """A browser of its own for the interactive tests (palette, search)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def source_of(path: str) -> Path | None:
    """The docs/ file a page is built from, if it has one (not the generated pages)."""
    stem = path.rstrip("/") or "index"
    for suffix in (".md", ".py"):
        candidate = ROOT / "docs" / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------- every page


def test_no_page_logs_a_console_error(visits):
    errors = {page: v["console_errors"] for page, v in visits.items() if v["console_errors"]}
    assert not errors, errors


def test_every_request_succeeds(visits):
    failed = {page: v["failed"] for page, v in visits.items() if v["failed"]}
    assert not failed, failed


def test_no_page_requests_another_host(visits, outside_requests):
    assert len(visits) >= 5
    assert not outside_requests, sorted(set(outside_requests))[:20]


def test_every_image_loads(visits):
    assert sum(len(v["images"]) for v in visits.values()) >= 6  # the walkthrough's figures
    broken = {page: [i["src"] for i in v["images"] if i["width"] == 0]
              for page, v in visits.items()}
    broken = {page: srcs for page, srcs in broken.items() if srcs}
    assert not broken, broken


def test_no_tex_is_left_in_the_text(visits):
    raw = {}
    for page, visit in visits.items():
        text = visit["text"]
        found = [text[max(m.start() - 40, 0) : m.end() + 40].replace("\n", " ")
                 for m in RAW_TEX.finditer(text)]
        if found:
            raw[page] = found[:5]
    assert not raw, raw


def test_math_is_laid_out_as_mathml_where_the_source_has_tex(visits):
    checked = 0
    for page, visit in visits.items():
        # Chromium lays out MathML itself: "math" inline, "block math" for display.
        assert set(visit["math"]) <= {"math", "block math"}, (page, set(visit["math"]))
        source = source_of("" if page == "home" else page)
        if source is not None and TEX_IN_SOURCE.search(source.read_text(encoding="utf-8")):
            assert visit["math"], f"{page}: its source has TeX, the page has no MathML"
            checked += 1
    assert checked >= 3
    assert visits["reference/"]["math"], "docstring formulas are not rendered"


# ---------------------------------------------------------------- copy buttons


def expected_copy(shown: str) -> str:
    lines = [line for line in shown.splitlines() if not line.lstrip().startswith("#>")]
    return "\n".join(lines).rstrip()


def copy_problems(block: dict) -> list[str]:
    copied = block["copied"]
    problems = [
        copied == "(nothing was copied)" and "nothing copied",
        copied.rstrip() != expected_copy(block["shown"]) and "not the code shown",
        re.search(r"^\s*(>>>|\.\.\.|#>|In \[\d*\]:)", copied, re.M) and "prompt/output",
    ]
    return [p for p in problems if p]


def test_every_code_block_has_a_copy_button(visits):
    counts = {page: (len(v["copies"]), v["codeBlocks"]) for page, v in visits.items()}
    missing = {page: c for page, c in counts.items() if c[0] != c[1]}
    assert not missing, f"(buttons, code blocks): {missing}"
    assert counts["home"][0] >= 2 and counts["walkthrough/"][0] >= 5, counts


def test_copy_buttons_copy_the_code_without_prompts_or_output(visits):
    wrong, with_output = {}, 0
    for page, visit in visits.items():
        for block in visit["copies"]:
            with_output += "#>" in block["shown"]
            if copy_problems(block):
                wrong.setdefault(page, []).append(
                    (block["id"], copy_problems(block), block["copied"][:200]))
    assert not wrong, wrong
    assert with_output >= 2  # the home page's examples show #> output, never copied


@pytest.mark.parametrize(("shown", "copied", "ok"), [
    ("x = 1\nprint(x)\n#> 1\n", "x = 1\nprint(x)", True),
    ("x = 1\nprint(x)\n#> 1\n", "x = 1\nprint(x)\n#> 1", False),
    (">>> x = 1\n", ">>> x = 1", False),
    ("x = 1\n", "(nothing was copied)", False),
], ids=["code-only", "output-copied", "prompt", "nothing"])
def test_the_copy_rule(shown, copied, ok):
    assert (not copy_problems({"shown": shown, "copied": copied})) is ok


# ---------------------------------------------------------------- dark mode


def test_dark_mode_toggle_switches_and_persists(browser, base_url, outside_requests):
    # The reader's system prefers light: the page starts light.
    context = new_context(browser, base_url, outside_requests, color_scheme="light")
    try:
        page = open_page(context, base_url + "walkthrough/")
        light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        seen = switch_to_dark(page)
        assert seen[0] == "default" and seen[-1] == "slate", seen
        dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark_bg != light_bg
        page.goto(base_url)  # another page: the choice is remembered
        assert palette_scheme(page) == "slate"
        page.close()
    finally:
        context.close()


def test_every_page_switches_to_dark(visits):
    wrong = {page: v["schemes"] for page, v in visits.items() if v["schemes"][-1] != "slate"}
    assert not wrong, wrong


def test_figures_stay_readable_in_dark_mode(visits):
    figures = [(page, f) for page, v in visits.items() for f in v["figures_dark"]]
    assert len(figures) >= 6
    # A light ground (white is 1.0) under each figure: matplotlib's dark ink stays legible.
    unreadable = [(page, f) for page, f in figures if f["ground"] < 0.8]
    assert not unreadable, unreadable


# ---------------------------------------------------------------- search


def test_search_finds_label_smoothing(browser, base_url, site, outside_requests):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    expected = {doc["location"] for doc in index["docs"]
                if "label smoothing" in doc["title"].lower()}
    assert expected, "no section of the site is titled with label smoothing"
    expected_pages = {location.split("#")[0] for location in expected}

    context = new_context(browser, base_url, outside_requests)
    try:
        page = open_page(context, base_url)
        box = page.locator("input.md-search__input")
        box.click()
        box.press_sequentially("label smoothing", delay=20)  # typed: Material reads keyup
        page.locator(".md-search-result__item").first.wait_for(state="visible", timeout=20000)
        hrefs = page.evaluate(
            "[...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)")
    finally:
        context.close()
    # Result links carry the query for highlighting: gradient/?h=label+smoothing#4-...
    relative = [urlsplit(href)._replace(query="").geturl().removeprefix(base_url)
                for href in hrefs]
    assert relative[0].split("#")[0] in expected_pages, relative[:5]
    assert expected & set(relative), (expected, relative[:10])

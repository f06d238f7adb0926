"""Accessibility: axe-core finds no serious or critical violation; figures say what they show.

axe-core comes from the npm registry, pinned in tests/browser/package.json and
package-lock.json (``make test`` runs ``npm ci`` there). It is injected into
every page of the built site (served on 127.0.0.1, see tests/browser/site.py)
and run twice, in the one visit each page gets (tests/browser/site.py): with
the light palette and, after the toggle, with the dark one, whose colours
axe's contrast rule judges separately.

Alt text is read from the built HTML: every image of a page's article has
one, and a figure's says what the figure shows (a sentence, not "plot" or a
file name, and not shared with another figure).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from browser.site import (
    AXE,
    AXE_HINT,
    CHECKS,
    launch,
    pages,
    visit_every_page,
)

pytestmark = pytest.mark.slow
SEVERE = {"serious", "critical"}


def severe(found: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Per page, each serious or critical violation: rule, count and first nodes."""
    result = {page: [f"{v['id']} ({v['impact']}, {v['count']} nodes): {v['help']}; e.g. "
                     + " | ".join(v["nodes"][:2])
                     for v in violations if v["impact"] in SEVERE]
              for page, violations in found.items()}
    return {page: v for page, v in result.items() if v}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violation(site, scheme):
    # Each page is loaded once for all browser checks (tests/browser/site.py).
    found = {page: v[f"axe_{scheme}"] for page, v in visit_every_page()["pages"].items()}
    assert len(found) >= 5
    problems = severe(found)
    assert not problems, "\n".join(f"{p}: {v}" for p, vs in problems.items() for v in vs)


def test_on_a_phone_every_sideways_scrolling_region_can_take_focus(site):
    """At 360 px wide, wide tables and formulas scroll; each can be focused to scroll.

    docs/assets/javascripts/scrollable-regions.js gives them tabindex; axe's
    scrollable-region-focusable rule judges the result on the pages with the
    widest formulas and tables.
    """
    from playwright.sync_api import sync_playwright

    from browser.site import open_page, serve

    assert AXE.is_file(), AXE_HINT
    base_url = serve(site)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 740})
            scrolling, problems = 0, {}
            for path in ["information-theory/", "at-scale/", "verification/"]:
                page = open_page(context, base_url + path)
                scrolling += page.evaluate(
                    """() => [...document.querySelectorAll(
                        'math[display="block"], .md-typeset__scrollwrap')]
                        .filter((e) => e.scrollWidth > e.clientWidth).length""")
                page.add_script_tag(path=str(CHECKS))
                page.add_script_tag(path=str(AXE))
                found = page.evaluate("(rules) => celossChecks.runAxe(rules)",
                                      ["scrollable-region-focusable"])
                if found:
                    problems[path] = [v["nodes"][:2] for v in found]
                page.close()
        finally:
            browser.close()
    assert scrolling > 3  # the check has something to judge at this width
    assert not problems, problems


def test_axe_reports_the_violations_it_is_shown():
    """The injection works: a page with an unlabelled image and button fails."""
    from playwright.sync_api import sync_playwright

    assert AXE.is_file(), AXE_HINT
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.set_content('<html lang="en"><title>t</title><main><img src="data:,">'
                             "<button></button></main></html>")
            page.add_script_tag(path=str(CHECKS))
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate("celossChecks.runAxe()")
        finally:
            browser.close()
    ids = {v["id"] for v in violations if v["impact"] in SEVERE}
    assert {"image-alt", "button-name"} <= ids, ids


# ---------------------------------------------------------------- alt text


class Figures(HTMLParser):
    """The alt text of every <img> (and the label of every inline SVG) in the article."""

    def __init__(self):
        super().__init__()
        self.images: list[dict] = []
        self.depth = {"article": 0, "figure": 0}
        self.svg_titles: dict[str, str] = {}
        self._title_id: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.depth:
            self.depth[tag] += 1
        if tag in ("title", "desc") and attrs.get("id"):
            self._title_id = attrs["id"]
        if not self.depth["article"]:
            return
        if tag == "img":
            self.images.append({"src": attrs.get("src", ""), "alt": attrs.get("alt"),
                                "figure": self.depth["figure"] > 0})
        elif tag == "svg" and attrs.get("role") == "img":
            self.images.append({"src": "inline svg", "figure": self.depth["figure"] > 0,
                                "alt": attrs.get("aria-label"),
                                "labelledby": attrs.get("aria-labelledby", "")})

    def handle_endtag(self, tag):
        if tag in self.depth:
            self.depth[tag] -= 1
        if tag in ("title", "desc"):
            self._title_id = None

    def handle_data(self, data):
        if self._title_id:
            self.svg_titles[self._title_id] = self.svg_titles.get(self._title_id, "") + data

    def alts(self) -> list[dict]:
        for image in self.images:
            if image.get("labelledby"):
                image["alt"] = " ".join(self.svg_titles.get(i, "")
                                        for i in image["labelledby"].split())
        return self.images


GENERIC = re.compile(
    r"^(figure|image|img|plot|chart|graph|picture|png|svg)\b.{0,15}$|\.(png|svg|jpe?g)$", re.I)


def alt_problem(image: dict) -> str | None:
    alt = " ".join((image["alt"] or "").split())
    if not alt:
        return "no alt text"
    if image["figure"]:
        if GENERIC.search(alt) or alt.lower().startswith(("figure ", "image of")):
            return f"generic alt text {alt!r}"
        if len(alt.split()) < 6:
            return f"alt text too short to say what it shows: {alt!r}"
    return None


def test_every_figure_has_alt_text_that_says_what_it_shows(site):
    problems, alts, figures = [], {}, 0
    for rel in pages(site):
        parser = Figures()
        parser.feed((site / rel / "index.html" if rel.endswith("/") or not rel
                     else site / rel).read_text(encoding="utf-8"))
        for image in parser.alts():
            figures += image["figure"]
            problem = alt_problem(image)
            if problem:
                problems.append(f"{rel or 'home'}: {image['src']}: {problem}")
            elif image["figure"]:
                alts.setdefault(" ".join(image["alt"].split()), []).append(
                    f"{rel or 'home'}: {image['src']}")
    assert figures >= 6
    assert not problems, problems
    shared = {alt: where for alt, where in alts.items() if len(where) > 1}
    assert not shared, f"figures that share one alt text: {shared}"


@pytest.mark.parametrize(("alt", "ok"), [
    ("Two bar charts of logits, one per sample, correct class highlighted.", True),
    ("Figure 1", False), ("plot", False), ("walkthrough-39c98277ca86.png", False),
    ("", False), ("Loss curve.", False),
])
def test_the_alt_text_rule(alt, ok):
    assert (alt_problem({"alt": alt, "figure": True}) is None) is ok

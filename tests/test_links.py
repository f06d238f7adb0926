"""No broken internal link or anchor anywhere in the built site.

Every ``href`` and ``src`` of every built HTML page (and every location of
the search index) that stays on the site must name a file of the site, and
its ``#fragment`` an ``id`` on the target page. Links are resolved as a
browser resolves them, against the page's URL under the site_url path
(``/celoss/``), so the absolute links of the 404 page are checked too.
"""

from __future__ import annotations

import json
import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from browser.site import base_path, pages

pytestmark = pytest.mark.slow
ORIGIN = "http://site.test"  # any origin: only paths under it are compared


class Refs(HTMLParser):
    """The ids of a page and every URL it links to or loads."""

    ATTRS = {"href", "src", "srcset", "data", "poster", "action"}

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif name in self.ATTRS:
                parts = value.split(",") if name == "srcset" else [value]
                self.urls += [(tag, part.strip().split(" ")[0]) for part in parts]


@pytest.fixture(scope="module")
def parsed(site) -> dict[str, Refs]:
    """Every HTML file of the site, by its path relative to the site root."""
    result = {}
    for path in sorted(site.rglob("*.html")):
        refs = Refs()
        refs.feed(path.read_text(encoding="utf-8"))
        result[path.relative_to(site).as_posix()] = refs
    return result


def page_url(rel: str) -> str:
    """The URL a file is served at (``gradient/index.html`` -> ``.../gradient/``)."""
    return ORIGIN + base_path() + rel.removesuffix("index.html")


def target_file(site: Path, url: str) -> tuple[str | None, str]:
    """(file relative to the site root or None if off-site, fragment) for an absolute URL."""
    parts = urlsplit(url)
    prefix = base_path()
    if f"{parts.scheme}://{parts.netloc}" != ORIGIN:
        return None, ""
    path = unquote(parts.path)
    if not path.startswith(prefix):
        return "<outside the site path>" + path, parts.fragment
    rel = path[len(prefix):]
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    elif (site / rel).is_dir():
        rel += "/index.html"
    return posixpath.normpath(rel), unquote(parts.fragment)


def broken_links(site: Path, parsed: dict[str, Refs]) -> list[str]:
    broken = []
    for rel, refs in parsed.items():
        base = page_url(rel)
        for tag, url in refs.urls:
            if url.startswith(("javascript:", "data:", "mailto:")) or not url:
                continue
            target, fragment = target_file(site, urljoin(base, url))
            if target is None:
                continue  # another host: not this test's business
            if not (site / target).is_file():
                broken.append(f"{rel}: <{tag}> {url} -> no file {target}")
            elif fragment and target.endswith(".html") and fragment not in parsed[target].ids:
                broken.append(f"{rel}: <{tag}> {url} -> no id {fragment!r} in {target}")
    return broken


def test_no_internal_link_or_anchor_is_broken(site, parsed):
    assert "index.html" in parsed and len(parsed) >= 5
    links = sum(len(refs.urls) for refs in parsed.values())
    assert links > 100
    broken = broken_links(site, parsed)
    assert not broken, f"{len(broken)} broken of {links}:\n" + "\n".join(broken[:40])


def test_every_search_result_points_at_an_existing_anchor(site, parsed):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    broken = []
    for doc in index["docs"]:
        target, fragment = target_file(site, urljoin(ORIGIN + base_path(), doc["location"]))
        if target not in parsed:
            broken.append(f"{doc['location']}: no page")
        elif fragment and fragment not in parsed[target].ids:
            broken.append(f"{doc['location']}: no id {fragment!r}")
    assert len(index["docs"]) > 20
    assert not broken, broken[:20]


def test_every_nav_page_is_linked_from_the_home_page(site, parsed):
    """The navigation reaches every page that was built (none is orphaned)."""
    home = page_url("index.html")
    linked = {target_file(site, urljoin(home, url))[0] for _, url in parsed["index.html"].urls}
    orphans = [rel + "index.html" for rel in pages(site)
               if rel.endswith("/") and rel + "index.html" not in linked]
    assert not orphans, orphans


# ---------------------------------------------------------------- the checker itself


def fake_site(tmp: Path) -> Path:
    (tmp / "a").mkdir(parents=True)
    (tmp / "index.html").write_text('<a href="a/#here">ok</a><a href="a/#gone">bad</a>'
                                    '<a href="b/">missing</a><a href="https://x.org/">out</a>')
    (tmp / "a" / "index.html").write_text('<h2 id="here">x</h2><img src="../img.png">')
    return tmp


def test_the_checker_finds_a_missing_page_anchor_and_image(tmp_path):
    site = fake_site(tmp_path)
    parsed = {}
    for path in sorted(site.rglob("*.html")):
        refs = Refs()
        refs.feed(path.read_text())
        parsed[path.relative_to(site).as_posix()] = refs
    broken = broken_links(site, parsed)
    assert len(broken) == 3, broken
    assert any("'gone'" in b for b in broken)
    assert any("b/" in b for b in broken)
    assert any("img.png" in b for b in broken)

"""The built site, served on 127.0.0.1, and Debian's Chromium, for the site tests.

Shared by tests/test_browser.py, tests/test_links.py and
tests/test_accessibility.py: the site is built ONCE per pytest process
(``mkdocs build --strict`` of the real project into a temporary folder, with
the project's notebook cache) and served ONCE, under the path of ``site_url``
(``/celoss/``), as GitHub Pages serves it.

Pages are discovered from the built site (every ``*.html`` file), so a page
added later is covered without editing a test.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
INSTALL_HINT = (
    f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's chromium. "
    "Install it with `sudo apt-get install chromium` (`make test` does it when run as root), "
    "then run the tests again."
)
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
AXE_HINT = (
    f"axe-core is missing at {AXE}: run `make browser` (npm ci in tests/browser), "
    "or `npm ci --prefix tests/browser`."
)


def base_path() -> str:
    """The path the site lives under, from mkdocs.yml's site_url (``/celoss/``)."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    path = urlsplit(config.get("site_url") or "/").path or "/"
    return path if path.endswith("/") else path + "/"


class BuildFailed(RuntimeError):
    pass


@functools.cache
def build_process() -> tuple[subprocess.CompletedProcess, Path]:
    """Build the real project once per process: (the finished build, its site folder).

    ``mkdocs build --strict`` into a temporary folder, with the project's
    caches. tests/conftest.py hands it to every test of the built site
    (tests/test_docs_build.py reads its log too), so ``make test`` builds the
    full site once.
    """
    site = Path(tempfile.mkdtemp(prefix="celoss-site-"))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, timeout=1200,
    )
    return proc, site


def build() -> Path:
    """The site folder of :func:`build_process`; :class:`BuildFailed` with its log if it failed.

    ``CELOSS_BUILT_SITE=<folder>`` reuses a site built by hand instead (quick
    local iteration on these tests only; ``make test`` never sets it).
    """
    if os.environ.get("CELOSS_BUILT_SITE"):
        return Path(os.environ["CELOSS_BUILT_SITE"]).resolve()
    proc, site = build_process()
    if proc.returncode != 0:
        raise BuildFailed((proc.stdout + proc.stderr)[-5000:])
    return site


def pages(site: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to the site root.

    ``index.html`` files become their folder's URL (``gradient/``).
    """
    found = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        found.append(rel.removesuffix("index.html"))
    return found


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serve the site folder under ``prefix``; anything else is 404.html, as on Pages."""

    prefix = "/"

    def translate_path(self, path):
        path = unquote(urlsplit(path).path)
        if not path.startswith(self.prefix):
            return os.path.join(self.directory, "__outside_the_site__")
        return super().translate_path("/" + path[len(self.prefix):])

    def send_error(self, code, message=None, explain=None):
        not_found = Path(self.directory) / "404.html"
        if code == 404 and not_found.is_file():
            body = not_found.read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        super().send_error(code, message, explain)

    def log_message(self, format, *args):  # quiet: pytest shows failures, not traffic
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A browser that closes a connection early is not an error of the site."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@functools.cache
def serve(site: Path) -> str:
    """Serve ``site`` on 127.0.0.1, a free port, in a daemon thread; return its base URL."""
    prefix = base_path()
    handler = functools.partial(
        type("Handler", (SiteHandler,), {"prefix": prefix}), directory=str(site)
    )
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="site-server").start()
    return f"http://127.0.0.1:{server.server_address[1]}{prefix}"


def launch(playwright):
    """Debian's Chromium, headless; fails with the install command when it is missing."""
    if not Path(CHROMIUM).is_file():
        raise AssertionError(INSTALL_HINT)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


CHECKS = ROOT / "tests" / "browser" / "checks.js"
# The axe rules whose verdict depends on the palette: the dark run checks these
# only (the light run has checked everything else on the same page).
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def new_context(browser, base_url: str, outside: list[str], **options):
    """A browser context that may use the clipboard and may not leave 127.0.0.1.

    Every request is routed: one to another host is recorded in ``outside``
    and aborted.
    """
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)

    def route(route):
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", route)
    return context


def open_page(context, url: str, record: dict | None = None):
    """Open ``url`` in a new tab; console errors and failed requests go to ``record``."""
    page = context.new_page()
    if record is not None:
        errors, failed = record.setdefault("console_errors", []), record.setdefault("failed", [])
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url}: {r.status}"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page


def palette_scheme(page) -> str:
    return page.evaluate("document.body.getAttribute('data-md-color-scheme')")


def switch_to_dark(page) -> list[str]:
    """Click the palette toggle until the dark scheme is on; return the schemes seen."""
    seen = [palette_scheme(page)]
    for _ in range(3):
        if seen[-1] == "slate":
            break
        page.locator("form[data-md-component=palette] label:visible").first.click()
        seen.append(palette_scheme(page))
    page.wait_for_timeout(400)  # Material's colour transitions (125-250 ms) settle
    return seen


@functools.cache
def visit_every_page() -> dict:
    """Load every page of the site ONCE in Chromium and check all it can show.

    Per page, in a light context: what the load did (console errors, failed
    requests), :func:`checks.js gather` (images, visible text, math), every
    copy button's result, axe-core's violations; then the palette toggle is
    clicked to the dark scheme, and the figures' grounds and axe's colour
    rules are read again. Returns ``{"pages": {path: {...}}, "outside": [urls]}``;
    the tests decide what passes.
    """
    from playwright.sync_api import sync_playwright

    assert AXE.is_file(), AXE_HINT
    site = build()
    base_url = serve(site)
    outside: list[str] = []
    results: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = new_context(browser, base_url, outside, color_scheme="light")
            for path in pages(site):
                record: dict = {}
                page = open_page(context, base_url + path, record)
                page.add_script_tag(path=str(CHECKS))
                page.add_script_tag(path=str(AXE))
                record.update(page.evaluate("celossChecks.gather()"))
                record["copies"] = page.evaluate("celossChecks.copyAll()")
                record["axe_light"] = page.evaluate("celossChecks.runAxe()")
                record["schemes"] = switch_to_dark(page)
                record["figures_dark"] = page.evaluate("celossChecks.figureGrounds()")
                record["axe_dark"] = page.evaluate(
                    "(rules) => celossChecks.runAxe(rules)", COLOUR_RULES)
                page.evaluate("localStorage.clear()")  # the next page starts light
                page.close()
                results[path or "home"] = record
            context.close()
        finally:
            browser.close()
    return {"pages": results, "outside": outside}

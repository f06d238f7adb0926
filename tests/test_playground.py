"""The Playground page, in Chromium: every case of its table typed into its controls.

The site is built with the real ``mkdocs.yml``, ``hooks/`` and Playground page
(a small site: a home page and the Playground, without the notebooks and the
Verification page, which ``tests/test_docs_build.py`` builds), served on
127.0.0.1 and driven with Playwright and Debian's Chromium. Set
``CELOSS_SITE=/path/to/site`` to test an already built site instead.

The table the page is checked against (``assets/playground-cases.json``) is
written by ``hooks/playground_table.py`` from celoss and checked against torch
during the build; the last tests here make that check fail.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

import celoss

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# The relative difference the issue allows between the page and celoss.
RTOL = 1e-6
# Sample 1 of the seed walkthrough (shared/seed/cross-entropy-walkthrough.txt):
# -log softmax([2.0, 1.0, 0.1])[0], printed there as 0.41703002.
SEED_SAMPLE_1_LOSS = "0.41703002"

pytestmark = pytest.mark.slow

sys.path.insert(0, str(ROOT / "hooks"))
try:
    import playground_table
finally:
    sys.path.remove(str(ROOT / "hooks"))


# ------------------------------------------------------------------ the site


def build_site(dest: Path) -> Path:
    """Build a home page and the Playground with the project's config and hooks."""
    project = dest / "project"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "hooks", project / "hooks", ignore=ignore)
    shutil.copytree(ROOT / "docs" / "assets", project / "docs" / "assets", ignore=ignore)
    shutil.copy(ROOT / "docs" / "playground.md", project / "docs" / "playground.md")
    (project / "docs" / "index.md").write_text("# Home\n\nA small site for a test.\n")
    (project / "src").symlink_to(ROOT / "src")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    custom_dir = config["theme"].get("custom_dir")  # template overrides, if any
    if custom_dir:
        shutil.copytree(ROOT / custom_dir, project / custom_dir, ignore=ignore)
    assert "hooks/playground_table.py" in config["hooks"]
    assert {"Playground": "playground.md"} in config["nav"]
    config["nav"] = [{"Home": "index.md"}, {"Playground": "playground.md"}]
    # The parity matrix belongs to the Verification page, which is not built here.
    config["hooks"] = [h for h in config["hooks"] if not h.endswith("parity_gate.py")]
    # The Playground links to notebook pages this small site does not build.
    config["validation"] = {"links": {"not_found": "info"}}
    (project / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    site = dest / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=project, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if os.environ.get("CELOSS_SITE"):
        return Path(os.environ["CELOSS_SITE"])
    return build_site(tmp_path_factory.mktemp("playground"))


@pytest.fixture(scope="module")
def table(site) -> dict:
    return json.loads((site / "assets" / "playground-cases.json").read_text())


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # no request log on stderr
        pass


@pytest.fixture(scope="module")
def base_url(site):
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: the browser tests need "
                    "Debian's chromium. Install it with `apt-get install chromium` "
                    "(`make test` does it when run as root).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Playground:
    """The page in a fresh browser context, recording console errors and requests."""

    def __init__(self, browser, base_url, **context_options):
        self.base_url = base_url
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.other_hosts: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", self._request)
        self.page.goto(f"{base_url}/playground/")
        self.page.wait_for_selector('#pg-check:not([data-state="loading"])')

    def _request(self, request):
        if not request.url.startswith((self.base_url + "/", "data:")):
            self.other_hosts.append(request.url)

    def set_case(self, case: dict):
        """Set every control as a reader would: menus, then the number fields."""
        page = self.page
        page.select_option("#pg-classes", str(len(case["logits"])))
        page.select_option("#pg-target", str(case["target"]))
        for c, x in enumerate(case["logits"]):
            page.fill(f"#pg-logit-{c}", repr(x))
        page.fill("#pg-smoothing", repr(case["label_smoothing"]))
        page.fill("#pg-temperature", repr(case["temperature"]))

    def displayed(self) -> dict:
        """Every value on display: (text, data-value) pairs, and the target's row."""
        return self.page.evaluate("""() => {
            const pair = (o) => [o.textContent, o.getAttribute("data-value")];
            const shown = (id) => [...document.querySelectorAll(`#${id} .pg-bar-row`)]
                .filter((row) => !row.hidden);
            return {
                probs: shown("pg-probs").map((row) => pair(row.querySelector("output"))),
                grad: shown("pg-grad").map((row) => pair(row.querySelector("output"))),
                targets: shown("pg-probs").map((row) => row.classList.contains("pg-is-target")),
                neg_log_p: pair(document.getElementById("pg-neg-log-p")),
                loss: pair(document.getElementById("pg-loss")),
            };
        }""")

    def close(self):
        self.context.close()


@pytest.fixture
def playground(browser, base_url):
    pg = Playground(browser, base_url)
    yield pg
    pg.close()
    assert not pg.errors, pg.errors
    assert not pg.other_hosts, pg.other_hosts


def number(text: str) -> float:
    """A displayed number: real minus signs back to ASCII."""
    return float(text.replace("\u2212", "-"))


def relative_difference(a: float, b: float) -> float:
    if a == b:  # also 0 and -0
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


# ------------------------------------------------------------------ the table


def test_table_has_fifty_cases_with_extreme_logits_and_every_option(table):
    cases = table["cases"]
    assert len(cases) >= 50
    assert [c["id"] for c in cases] == list(range(1, len(cases) + 1))
    assert {len(c["logits"]) for c in cases} == {2, 3, 4, 5, 6}
    assert any(max(c["logits"]) >= 1000 and min(c["logits"]) <= -1000 for c in cases)
    assert any(c["label_smoothing"] > 0 for c in cases)
    assert any(c["temperature"] < 1 for c in cases) and any(c["temperature"] > 1 for c in cases)
    for c in cases:
        values = [*c["probs"], *c["grad"], c["neg_log_p"], c["loss"]]
        assert all(math.isfinite(v) for v in values), c["name"]
    assert table["torch_version"] and table["celoss_version"] == celoss.__version__


def test_table_is_what_celoss_computes(table):
    """Recomputed here from the inputs, independently of the hook's code."""
    for c in table["cases"]:
        T, eps = c["temperature"], c["label_smoothing"]
        z = np.array(c["logits"]) / T
        y = np.array(c["target"])
        np.testing.assert_array_equal(c["probs"], celoss.softmax(z))
        assert c["loss"] == float(celoss.cross_entropy(z, y, label_smoothing=eps))
        np.testing.assert_array_equal(
            c["grad"], celoss.cross_entropy_grad(z, y, label_smoothing=eps) / T)
        assert c["neg_log_p"] == -float(celoss.log_softmax(z)[c["target"]])


# ------------------------------------------------------------------ the page


def test_every_case_typed_into_the_page_shows_the_table_values(playground, table):
    largest = {"data-value": 0.0, "text": 0.0}
    failures = []
    for case in table["cases"]:
        playground.set_case(case)
        shown = playground.displayed()
        C = len(case["logits"])
        assert len(shown["probs"]) == len(shown["grad"]) == C, case["name"]
        assert shown["targets"] == [c == case["target"] for c in range(C)], case["name"]
        expected = {f"p[{c}]": p for c, p in enumerate(case["probs"])}
        expected |= {f"grad[{c}]": g for c, g in enumerate(case["grad"])}
        expected |= {"neg_log_p": case["neg_log_p"], "loss": case["loss"]}
        got = {f"p[{c}]": v for c, v in enumerate(shown["probs"])}
        got |= {f"grad[{c}]": v for c, v in enumerate(shown["grad"])}
        got |= {"neg_log_p": shown["neg_log_p"], "loss": shown["loss"]}
        for name, want in expected.items():
            text, full = got[name]
            for kind, value in (("data-value", float(full)), ("text", number(text))):
                diff = relative_difference(value, want)
                largest[kind] = max(largest[kind], diff)
                if not diff <= RTOL:
                    failures.append(f"case {case['id']} ({case['name']}) {name} {kind}: "
                                    f"page {value!r}, celoss {want!r}, rel diff {diff:.2e}")
    print(f"\n{len(table['cases'])} cases typed into the page; largest relative "
          f"difference from celoss: {largest['data-value']:.2e} (full values), "
          f"{largest['text']:.2e} (8 displayed digits)")
    assert not failures, "\n".join(failures[:20])


def test_self_check_banner_says_every_case_passes(playground, table):
    banner = playground.page.locator("#pg-check")
    n = len(table["cases"])
    assert banner.get_attribute("data-state") == "pass"
    assert banner.get_attribute("data-passed") == banner.get_attribute("data-total") == str(n)
    assert float(banner.get_attribute("data-largest")) <= RTOL
    assert f"{n} of {n} cases match celoss" in banner.inner_text()
    # The case-by-case table lists every case, none failing.
    rows = playground.page.locator("#pg-cases-body tbody tr")
    assert rows.count() == n
    assert "FAIL" not in playground.page.locator("#pg-cases-body").inner_text()


def test_seed_preset_shows_the_seed_loss_of_sample_1(playground):
    playground.page.fill("#pg-logit-0", "7")  # away from the default first
    playground.page.get_by_role("button", name="The seed example").click()
    loss = playground.page.locator("#pg-loss")
    assert loss.inner_text() == SEED_SAMPLE_1_LOSS
    expected = celoss.cross_entropy(np.array([2.0, 1.0, 0.1]), np.array(0))
    assert relative_difference(float(loss.get_attribute("data-value")), float(expected)) <= RTOL
    assert playground.page.locator("#pg-neg-log-p").inner_text() == SEED_SAMPLE_1_LOSS


def test_extreme_preset_stays_finite(playground):
    playground.page.get_by_role("button", name="Extreme logits").click()
    shown = playground.displayed()
    logits = [float(playground.page.input_value(f"#pg-logit-{c}"))
              for c in range(len(shown["probs"]))]
    assert max(logits) >= 1000 and min(logits) <= -1000
    target = shown["targets"].index(True)
    values = [v for pair in (*shown["probs"], *shown["grad"], shown["neg_log_p"], shown["loss"])
              for v in (number(pair[0]), float(pair[1]))]
    assert all(math.isfinite(v) for v in values), values
    expected = celoss.cross_entropy(np.array(logits), np.array(target))
    assert math.isfinite(float(expected))
    assert relative_difference(number(shown["loss"][0]), float(expected)) <= RTOL


def test_input_that_is_not_a_usable_number_is_flagged_and_ignored(playground):
    page = playground.page
    page.get_by_role("button", name="Extreme logits").click()
    loss = page.locator("#pg-loss").get_attribute("data-value")
    # An empty field, a smoothing above 1, a temperature of 0, and one so small
    # that 1000 / T overflows a float64: each is flagged, none is used.
    for field, text in (("#pg-logit-2", ""), ("#pg-smoothing", "1.5"),
                        ("#pg-temperature", "0"), ("#pg-temperature", "1e-307")):
        page.fill(field, text)
        assert page.get_attribute(field, "aria-invalid") == "true", (field, text)
        assert page.locator("#pg-loss").get_attribute("data-value") == loss, (field, text)
        page.locator(field).blur()  # leaving the field puts the value in use back
        assert page.get_attribute(field, "aria-invalid") is None, (field, text)
    assert math.isfinite(float(loss))


def test_tab_reaches_a_logit_slider_and_arrow_right_raises_the_logit(playground):
    page = playground.page
    page.get_by_role("button", name="The seed example").click()
    before_loss = page.locator("#pg-loss").get_attribute("data-value")
    page.locator("#pg-classes").focus()
    for _ in range(30):  # from the first menu, Tab until the first logit's slider
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pg-logit-0-range":
            break
    else:
        pytest.fail("Tab never reached the slider of logit 0")
    slider = page.locator("#pg-logit-0-range")
    # The focused slider shows a focus ring.
    assert slider.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("ArrowRight")
    assert float(page.input_value("#pg-logit-0")) == pytest.approx(2.1)
    after = float(page.locator("#pg-loss").get_attribute("data-value"))
    assert after < float(before_loss)  # the target's logit went up: the loss went down
    expected = celoss.cross_entropy(np.array([2.1, 1.0, 0.1]), np.array(0))
    assert relative_difference(after, float(expected)) <= RTOL


def test_keyboard_changes_classes_and_target(playground):
    page = playground.page
    page.locator("#pg-classes").focus()
    page.keyboard.press("ArrowDown")  # 3 -> 4 classes
    assert len(playground.displayed()["probs"]) == 4
    page.locator("#pg-target").focus()
    page.keyboard.press("ArrowDown")  # target class 0 -> 1
    assert playground.displayed()["targets"] == [False, True, False, False]


@pytest.fixture
def context_playground(browser, base_url, request):
    pg = Playground(browser, base_url, **request.param)
    yield pg
    pg.close()
    assert not pg.errors, pg.errors


@pytest.mark.parametrize("context_playground", [{"viewport": {"width": 375, "height": 800}}],
                         indirect=True, ids=["phone-375px"])
def test_phone_width_needs_no_sideways_scrolling(context_playground):
    page = context_playground.page
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_role("button", name="Extreme logits").click()
    for selector in ("#pg-logit-0", "#pg-logit-0-range", "#pg-loss", "#pg-grad-0",
                     "#pg-temperature", "#pg-check"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, selector


CONTRAST = """(el) => {
    const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
    const lum = ([r, g, b]) => {
        const f = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    let node = el, bg = null;  // the first opaque background behind the text
    while (node && node.nodeType === 1) {
        const c = rgb(getComputedStyle(node).backgroundColor);
        if (c.length < 4 || c[3] > 0.5) { bg = c; break; }
        node = node.parentElement;
    }
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("context_playground", [{"color_scheme": "dark"}],
                         indirect=True, ids=["dark"])
def test_dark_mode_uses_the_slate_scheme_and_text_stays_readable(context_playground):
    page = context_playground.page
    assert page.evaluate("document.body.dataset.mdColorScheme") == "slate"
    for selector in ("#pg-loss", "#pg-prob-0", "#pg-grad-1", "#pg-check", "#pg-logit-0",
                     '.pg-bar-row.pg-is-target .pg-badge', "#pg-classes",
                     ".pg-presets .md-button", ".pg-load"):
        ratio = page.locator(selector).first.evaluate(CONTRAST)
        assert ratio >= 4.5, (selector, ratio)


# ------------------------------------------------------------------ the build's check


def nudge(function, factor):
    @functools.wraps(function)
    def nudged(*args, **kwargs):
        return function(*args, **kwargs) * factor
    return nudged


@pytest.mark.parametrize("name, key", [("softmax", "probs"), ("cross_entropy", "loss"),
                                       ("cross_entropy_grad", "grad")],
                         ids=["softmax", "cross_entropy", "cross_entropy_grad"])
def test_build_table_stops_when_celoss_and_torch_disagree(monkeypatch, name, key):
    monkeypatch.setattr(celoss, name, nudge(getattr(celoss, name), 1 + 1e-8))
    with pytest.raises(playground_table.PlaygroundTableError) as error:
        playground_table.build_table()
    message = str(error.value)
    assert "disagree" in message and f"'{key}' differs from torch" in message
    assert "case 1 (seed, sample 1)" in message

r"""Render TeX as MathML at build time: no MathJax, no CDN, no JavaScript.

Browsers render MathML natively. Three sources of TeX reach a page:

* Markdown pages and mkdocstrings docstrings: ``pymdownx.arithmatex`` (generic
  mode) leaves ``<span class="arithmatex">\(...\)</span>`` and
  ``<div class="arithmatex">\[...\]</div>``;
* notebook Markdown cells: nbconvert leaves ``$...$`` and ``$$...$$`` as text.

Each is converted with latex2mathml. Text inside ``<pre>``, ``<code>``,
``<script>``, ``<style>`` and ``<textarea>`` is never touched, nor are tag
attributes. TeX that latex2mathml cannot convert stops the build, naming the
page and the expression.

Each conversion is kept, keyed on the TeX, the mode and the latex2mathml
version, in ``.cache/mathml/`` from one build to the next (only this build's
expressions are saved), so a rebuild converts only new TeX.
"""

from __future__ import annotations

import html as htmllib
import importlib.metadata
import logging
import re
from pathlib import Path

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

import notebook_cache  # hooks/notebook_cache.py: MkDocs puts hooks/ on sys.path to load a hook

log = logging.getLogger("mkdocs.hooks.mathml")

# Elements whose text is code or data, never prose.
VERBATIM = re.compile(
    r"<(pre|code|script|style|textarea)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE
)
ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL | re.IGNORECASE
)
# Notebook Markdown cells: $$...$$ first, then $...$ (not \$, not $$).
# Neither may span a protected element (the \x00 placeholders of protect()).
DISPLAY_DOLLARS = re.compile(r"(?<!\\)\$\$([^\x00]+?)(?<!\\)\$\$")
INLINE_DOLLARS = re.compile(r"(?<![\\$])\$(?!\$)([^$\x00]+?)(?<![\\$])\$(?!\$)")
TAG = re.compile(r"(<[^>]*>)")


class MathError(PluginError):
    """TeX on a page that latex2mathml cannot render."""


# "<0 or 1 for display><TeX>" -> MathML, and the keys this build used.
_converted: dict[str, str] = {}
_used: set[str] = set()


def tex_to_mathml(tex: str, display: bool, where: str) -> str:
    """Convert one TeX expression (HTML-escaped, without delimiters) to MathML."""
    tex = htmllib.unescape(tex).strip()
    key = f"{int(display)}{tex}"
    _used.add(key)
    if key not in _converted:
        try:
            _converted[key] = convert(tex, display="block" if display else "inline")
        except Exception as error:  # latex2mathml raises many exception types
            _used.discard(key)
            raise MathError(f"{where}: cannot render math {tex!r} as MathML: {error}") from None
    return _converted[key]


def cache_path(config) -> Path:
    """``.cache/mathml/<latex2mathml version>.json`` beside mkdocs.yml."""
    version = importlib.metadata.version("latex2mathml")
    return Path(config.config_file_path).parent / ".cache" / "mathml" / f"{version}.json"


def on_pre_build(config):
    """Start from the conversions the last build kept."""
    _converted.clear()
    _used.clear()
    _converted.update(notebook_cache.read_json(cache_path(config)) or {})


def on_post_build(config):
    """Keep this build's conversions (only those) for the next one."""
    notebook_cache.write_json(cache_path(config),
                              {key: _converted[key] for key in sorted(_used)})


def protect(html: str) -> tuple[str, list[str]]:
    """Replace verbatim elements by placeholders; return the text and the originals."""
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    return VERBATIM.sub(keep, html), kept


def restore(html: str, kept: list[str]) -> str:
    """Put the verbatim elements back."""
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], html)


def render_arithmatex(html: str, where: str) -> str:
    r"""Replace arithmatex's generic spans and divs by MathML."""

    def replace(match: re.Match) -> str:
        tag, tex = match.group(1).lower(), match.group(2).strip()
        display = tag == "div"
        for left, right in ((r"\(", r"\)"), (r"\[", r"\]"), ("$$", "$$"), ("$", "$")):
            if tex.startswith(left) and tex.endswith(right):
                tex = tex[len(left) : len(tex) - len(right)]
                break
        return tex_to_mathml(tex, display, where)

    return ARITHMATEX.sub(replace, html)


def render_dollars(html: str, where: str) -> str:
    """Replace $$...$$ and $...$ in text (never in tags) by MathML."""
    # Display math may contain no tags; convert it on the text between tags.
    parts = TAG.split(html)
    for i in range(0, len(parts), 2):  # even indexes are text, odd are tags
        text = parts[i]
        if "$" not in text:
            continue
        text = DISPLAY_DOLLARS.sub(
            lambda m: tex_to_mathml(m.group(1), True, where), text
        )
        text = INLINE_DOLLARS.sub(
            lambda m: tex_to_mathml(m.group(1), False, where), text
        )
        parts[i] = text
    return "".join(parts)


def render_math(html: str, where: str, notebook: bool) -> str:
    """Render every TeX expression of a page's HTML as MathML."""
    text, kept = protect(html)
    text = render_arithmatex(text, where)
    if notebook:
        text = render_dollars(text, where)
    return restore(text, kept)


# Last of the page-content hooks: after mkdocs-jupyter and notebook_pages.py.
@event_priority(-100)
def on_page_content(html, page, config, files):
    """Render the page's TeX as MathML (``$`` delimiters on notebook pages only)."""
    notebook = page.file.src_uri.endswith((".py", ".ipynb"))
    return render_math(html, page.file.src_uri, notebook)

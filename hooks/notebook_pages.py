"""Post-process the HTML that mkdocs-jupyter makes for each notebook page.

Five fixes, all on notebook pages only:

1. **Light pages.** mkdocs-jupyter inlines about 600 KB of JupyterLab CSS into
   every notebook page, and each figure as a base64 ``data:`` URI. Each large
   ``<style>`` block is written once to ``assets/notebook/<hash>.css`` and
   replaced by a ``<link>``; each figure becomes an image file next to the
   page. No page then weighs more than its text.
2. **No CDN scripts.** nbconvert's template loads MathJax and Mermaid from a
   CDN. Both are removed: math is rendered at build time (``hooks/mathml.py``)
   and the notebooks draw no Mermaid diagrams.
3. **Links between pages.** A notebook's Markdown cells link to other pages
   by their source file, as Markdown pages do (``[Verification](verification.md)``);
   mkdocs rewrites those links only in Markdown pages, so this hook rewrites
   them here, and stops the build on a link to a page that does not exist.
4. **One copy button per cell.** mkdocs-jupyter adds its own copy button to
   each code cell (with a hidden copy of the cell's source and two inline
   scripts), on top of Material's, which ``hooks/copy_code.py`` gives every
   cell and which leaves out ``#>`` output lines. Its button, the hidden
   sources and its scripts are removed (45 KB of the 300 KB Information theory page).
5. **An .ipynb download.** The jupytext ``.py`` notebook is written next to the
   page as ``<name>.ipynb`` (with a Python 3 kernelspec, so Jupyter opens and
   runs it as-is) and a download button is added beside the page title.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import logging
import posixpath
import re
from pathlib import Path

import jupytext
import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.notebook_pages")

CSS_DIR = "assets/notebook"
# <style> blocks smaller than this stay inline (a file costs a request).
MIN_SHARED_CSS = 2048

STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
MATHJAX = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL
)
# href to a page source: no scheme, no leading slash, ending .md/.py/.ipynb.
PAGE_LINK = re.compile(
    r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+\.(?:md|py|ipynb))(#[^"]*)?"', re.I
)
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)
DATA_IMAGE = re.compile(r'src="data:image/(png|jpeg|gif|svg\+xml);base64,([A-Za-z0-9+/=\s]+)"')
# Material's "download" icon.
DOWNLOAD_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
    '<path d="M5 20h14v-2H5m14-9h-4V3H9v6H5l7 7z"/></svg>'
)

# Shared CSS files of the current build: relative path -> content.
# How many converted notebooks .cache/ipynb/ keeps (a few versions of each page).
KEEP_IPYNB = 64
_css: dict[str, str] = {}
# Notebooks of the current build: relative path in site -> .ipynb text.
_ipynb: dict[str, str] = {}
# Figures of the current build: relative path in site -> image bytes.
_images: dict[str, bytes] = {}


def is_notebook(page) -> bool:
    """Tell whether mkdocs-jupyter renders this page (a .py or .ipynb source)."""
    return page.file.src_uri.endswith((".py", ".ipynb"))


def to_ipynb(source: Path) -> str:
    """Return the .ipynb text of a jupytext notebook, without outputs.

    The kernelspec is set to ``python3``, so Jupyter runs it in the kernel
    where celoss is installed. Cell ids come from each cell's position and
    text (jupytext draws random ones), so the same source always gives the
    same file.
    """
    nb = jupytext.read(source)
    for number, cell in enumerate(nb.cells):
        digest = hashlib.sha256(f"{number}\0{cell.source}".encode()).hexdigest()
        cell.id = f"cell-{number}-{digest[:8]}"
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata.setdefault("language_info", {"name": "python"})
    nbformat.validate(nb)
    return nbformat.writes(nb)


@functools.cache
def conversion_key() -> str:
    """The tools' versions and this file: the same for every notebook of a build."""
    h = hashlib.sha256(Path(__file__).read_bytes())  # this conversion's own code
    for name in ("jupytext", "nbformat"):
        h.update(f"{name}=={importlib.metadata.version(name)}".encode())
    return h.hexdigest()


def cached_ipynb(source: Path, root: Path) -> str:
    """:func:`to_ipynb`, kept in ``.cache/ipynb/`` under a hash of the source and the tools."""
    h = hashlib.sha256(source.read_bytes())
    h.update(conversion_key().encode())
    path = root / ".cache" / "ipynb" / f"{h.hexdigest()[:20]}.ipynb"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    text = to_ipynb(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    older = sorted(path.parent.glob("*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in older[KEEP_IPYNB:]:
        old.unlink(missing_ok=True)
    return text


def share_css(html: str, page_url: str) -> str:
    """Replace each large inline <style> block by a link to a shared file."""

    def replace(match: re.Match) -> str:
        css = match.group(1)
        if len(css) < MIN_SHARED_CSS:
            return match.group(0)
        digest = hashlib.sha256(css.encode()).hexdigest()[:16]
        path = f"{CSS_DIR}/{digest}.css"
        _css[path] = css
        href = get_relative_url(path, page_url)
        return f'<link rel="stylesheet" href="{href}">'

    return STYLE.sub(replace, html)


def extract_images(html: str, page) -> str:
    """Replace each base64 ``data:`` image by a file next to the page."""
    folder = posixpath.dirname(page.file.dest_uri)
    stem = posixpath.splitext(posixpath.basename(page.file.src_uri))[0]

    def replace(match: re.Match) -> str:
        kind, payload = match.group(1), match.group(2)
        data = base64.b64decode(payload)
        ext = {"svg+xml": "svg", "jpeg": "jpg"}.get(kind, kind)
        name = f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}.{ext}"
        path = posixpath.join(folder, name)
        _images[path] = data
        return f'src="{get_relative_url(path, page.url)}"'

    return DATA_IMAGE.sub(replace, html)


# mkdocs-jupyter's copy button, the cell source it copies, and its scripts.
JUPYTER_COPY_BUTTON = re.compile(
    r'<div class="zeroclipboard-container">\s*<clipboard-copy\b.*?</clipboard-copy>\s*</div>\s*',
    re.DOTALL,
)
JUPYTER_COPY_SOURCE = re.compile(
    r'<div\b(?=[^>]*\bclass="clipboard-copy-txt")[^>]*>.*?</div>\s*', re.DOTALL
)


def strip_jupyter_copy(html: str) -> str:
    """Remove mkdocs-jupyter's copy buttons: Material's (hooks/copy_code.py) remain."""
    html = JUPYTER_COPY_BUTTON.sub("", html)
    html = JUPYTER_COPY_SOURCE.sub("", html)
    return SCRIPT.sub(
        lambda m: "" if "clipboard-copy" in m.group(0) else m.group(0), html
    )


def strip_cdn_scripts(html: str) -> str:
    """Remove nbconvert's MathJax loader and its Mermaid module script."""
    html = MATHJAX.sub("", html)
    return SCRIPT.sub(
        lambda m: "" if re.search(r"mermaid|mathjax", m.group(0), re.I) else m.group(0),
        html,
    )


def rewrite_page_links(html: str, page, files) -> str:
    """Point links to page sources (``other.md``) at the built pages' URLs."""
    base = posixpath.dirname(page.file.src_uri)

    def replace(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(base, match.group(1)))
        file = files.get_file_from_path(target)
        if file is None:
            raise PluginError(
                f"{page.file.src_uri}: link to {match.group(1)!r}, which is not a page "
                "of this site"
            )
        if not file.is_documentation_page():
            return match.group(0)
        href = get_relative_url(file.url, page.url)
        return f'href="{href}{match.group(2) or ""}"'

    return PAGE_LINK.sub(replace, html)


def on_pre_build(config):
    """Forget the files of the previous build (``mkdocs serve`` rebuilds)."""
    _css.clear()
    _ipynb.clear()
    _images.clear()


# Run after mkdocs-jupyter has rendered the notebook, before hooks/mathml.py.
@event_priority(-50)
def on_page_content(html, page, config, files):
    """Fix a notebook page's HTML: scripts, CSS, figures, links, download."""
    if not is_notebook(page):
        return html
    html = strip_cdn_scripts(html)
    html = strip_jupyter_copy(html)
    html = share_css(html, page.url)
    html = extract_images(html, page)
    html = rewrite_page_links(html, page, files)
    source = Path(page.file.abs_src_path)
    name = source.with_suffix(".ipynb").name
    dest = Path(page.file.dest_uri).parent / name
    _ipynb[dest.as_posix()] = cached_ipynb(source, Path(config.config_file_path).parent)
    href = get_relative_url(dest.as_posix(), page.url)
    button = (
        f'<a href="{href}" download="{name}" class="md-content__button md-icon" '
        f'title="Download this page as a Jupyter notebook ({name})">'
        f"{DOWNLOAD_ICON}</a>"
    )
    return button + html


def on_post_build(config):
    """Write the shared CSS, the figures and the notebooks into the site."""
    site = Path(config.site_dir)
    for rel, content in {**_css, **_ipynb, **_images}.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    log.info("notebook pages: %d shared CSS files, %d figures, %d notebooks",
             len(_css), len(_images), len(_ipynb))

"""Every code block gets Material's copy button, and the button copies runnable code.

Two fixes to the HTML of every page, after the other hooks:

1. **Notebook cells get the button.** Material adds its copy button to each
   ``pre > code``; nbconvert writes a notebook's code cells (and the code
   blocks of Markdown outputs) as a bare ``<pre>``. The cell's content is
   wrapped in ``<code>`` so Material finds it. Output areas keep their bare
   ``<pre>``: an output is not code to copy.
2. **Output lines are not copied.** The site's snippets show what they print
   as ``#>`` lines under the code (the pydantic convention). Material copies
   the ``data-copy`` attribute of the nearest element that has one instead of
   the block's text, so each block holding ``#>`` lines gets a ``data-copy``
   with those lines removed: the reader pastes the code, not its output.
3. **Each block has an id of its own.** Material names a block after the
   nearest element with an id (``#__code_<id> > code`` is what its button
   copies); in a notebook that is the cell, whose id (``cell-id=64400841``)
   is not a valid CSS selector, and the button would throw. Each ``<pre>``
   without an id gets ``code-<n>``.
"""

from __future__ import annotations

import html
import itertools
import re

from mkdocs.plugins import event_priority

# A highlighted block: <div class="highlight..."><pre ...>BODY</pre>
BLOCK = re.compile(
    r'(?P<open><div class="highlight[^"]*"[^>]*>\s*)<pre(?P<attrs>[^>]*)>(?P<body>.*?)</pre>',
    re.DOTALL,
)
TAG = re.compile(r"<[^>]+>")
OUTPUT_LINE = re.compile(r"^[ \t]*#>.*(?:\n|$)", re.MULTILINE)


def code_text(body: str) -> str:
    """The text a block shows: its markup removed, its entities decoded."""
    return html.unescape(TAG.sub("", body))


def without_output(text: str) -> str:
    """The code of a block, without its ``#>`` output lines."""
    return OUTPUT_LINE.sub("", text).rstrip() + "\n"


def fix_block(match: re.Match, number: int) -> str:
    """One highlighted block with its <code>, its id and its data-copy."""
    opening, attrs, body = match.group("open"), match.group("attrs"), match.group("body")
    if not re.search(r"\bid=", attrs):
        attrs = f' id="code-{number}"{attrs}'
    if "<code" not in body:
        lead = "<span></span>" if body.startswith("<span></span>") else ""
        body = f"{lead}<code>{body[len(lead):]}</code>"
    text = code_text(body)
    if OUTPUT_LINE.search(text) and "data-copy=" not in attrs:
        copy = html.escape(without_output(text), quote=True)
        attrs = f'{attrs} data-copy="{copy}"'
    return f"{opening}<pre{attrs}>{body}</pre>"


def fix_code_blocks(html_text: str) -> str:
    """Fix every highlighted block of a page's HTML (numbered in page order)."""
    numbers = itertools.count()
    return BLOCK.sub(lambda match: fix_block(match, next(numbers)), html_text)


# After hooks/notebook_pages.py (-50) and hooks/mathml.py (-100): the last word on the HTML.
@event_priority(-110)
def on_page_content(html, page, config, files):
    """Fix the code blocks of every page, Markdown and notebook alike."""
    return fix_code_blocks(html)

"""Helpers the site's notebooks share: one figure style, figures with alt text, source.

Not part of the math: nothing here is exported from :mod:`celoss`, and its
imports (matplotlib, IPython, Pillow) are loaded only when a helper runs, so
``import celoss`` still needs NumPy alone. A downloaded notebook runs with
these helpers in any Jupyter that has matplotlib.
"""

import ast
import base64
import contextlib
import ctypes
import html
import importlib
import inspect
import io

import numpy as np

CORRECT = "#1f77b4"  # the correct class y_n, in every figure
OTHER = "#b8b8b8"  # every other class
ACCENT = "#d62728"  # PyTorch, or a reference line

FIGURE_STYLE = {
    "figure.figsize": (7.0, 2.8),
    "figure.facecolor": "white",  # readable on the dark theme too
    "figure.constrained_layout.use": True,  # titles never overlap
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.alpha": 0.3,
}


def use_figure_style():
    """Apply the site's one matplotlib style (:data:`FIGURE_STYLE`).

    Examples
    --------
    ```python
    from celoss.display import use_figure_style

    use_figure_style()
    print("style applied")
    #> style applied
    ```
    """
    importlib.import_module("matplotlib.pyplot").rcParams.update(FIGURE_STYLE)


def figure_html(fig, fig_id, alt, caption, number):
    """A ``<figure>`` with the PNG of ``fig`` inline, its alt text and caption.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed afterwards.
    fig_id : str
        The element id, ``fig-<fig_id>``.
    alt : str
        What the figure shows, for readers who cannot see it.
    caption : str
        The caption sentence (HTML allowed).
    number : int
        The figure's number on its page.

    Returns
    -------
    html : str
        The ``<figure>`` element.
    """
    plt = importlib.import_module("matplotlib.pyplot")
    image_module = importlib.import_module("PIL.Image")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)  # sharp on dense screens
    plt.close(fig)  # or Jupyter shows it again, without alt text
    image = image_module.open(buffer).convert("RGB").quantize(colors=64)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)  # a third the bytes
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    width, height = (round(size / 1.5) for size in image.size)  # CSS px
    return (
        f'<figure class="celoss-figure" id="fig-{fig_id}">'
        f'<img alt="{html.escape(alt)}" width="{width}" height="{height}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption><strong>Figure {number}.</strong> {caption}</figcaption></figure>"
    )


class FigureCounter:
    """Numbers a page's figures and displays each with alt text and a caption.

    Examples
    --------
    ```python
    from celoss.display import FigureCounter

    show_figure = FigureCounter()
    print(show_figure.count)
    #> 0
    ```
    """

    def __init__(self):
        self.count = 0

    def __call__(self, fig, fig_id, alt, caption):
        """Display ``fig`` as the page's next numbered figure."""
        self.count += 1
        display = importlib.import_module("IPython.display")
        display.display(display.HTML(figure_html(fig, fig_id, alt, caption, self.count)))


def tabs_html(blocks, set_number):
    """Material's content-tabs markup for ``(label, inner_html)`` pairs.

    The same structure ``pymdownx.tabbed`` (alternate style) writes for
    ``=== "Label"`` blocks in Markdown, so the theme's CSS and JavaScript
    apply; ``set_number`` keeps the radio ids unique on a page.

    Examples
    --------
    ```python
    from celoss.display import tabs_html

    markup = tabs_html([("NumPy", "<p>a</p>"), ("PyTorch", "<p>b</p>")], 1)
    print(markup.count('type="radio"'), 'data-tabs="1:2"' in markup)
    #> 2 True
    ```
    """
    k, n = set_number, len(blocks)
    radios = "".join(
        f'<input {"checked " if i == 1 else ""}id="__tabbed_{k}_{i}" '
        f'name="__tabbed_{k}" type="radio">' for i in range(1, n + 1))
    labels = "".join(f'<label for="__tabbed_{k}_{i}">{html.escape(label)}</label>'
                     for i, (label, _) in enumerate(blocks, 1))
    contents = "".join(f'<div class="tabbed-block">{inner}</div>' for _, inner in blocks)
    return (f'<div class="tabbed-set tabbed-alternate" data-tabs="{k}:{n}">{radios}'
            f'<div class="tabbed-labels">{labels}</div>'
            f'<div class="tabbed-content">{contents}</div></div>')


def run_snippet(code, namespace):
    """Run ``code`` in ``namespace``; return it with what it printed as ``#>`` lines.

    Examples
    --------
    ```python
    from celoss.display import run_snippet

    shown, printed = run_snippet("print(1 + 1)", {})
    print(shown.splitlines())
    #> ['print(1 + 1)', '#> 2']
    ```
    """
    code = code.strip()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<snippet>", "exec"), namespace)
    shown = code + "".join(f"\n#> {line}" for line in printed.getvalue().splitlines())
    return shown, printed.getvalue()


class CodeTabs:
    """Runs snippets (NumPy, PyTorch, ...) and shows them side by side as content tabs.

    Each snippet runs while the page builds, in the namespace given, and is
    shown with what it printed as ``#>`` lines: the tabs can only show code
    that ran. ``outputs`` keeps every snippet's printed text, for tests.

    Examples
    --------
    ```python
    from celoss.display import CodeTabs

    code_tabs = CodeTabs(show=False)
    code_tabs([("NumPy", "print(2 * 3)"), ("Python", "print(6)")], {})
    print(code_tabs.outputs[0][0].strip(), code_tabs.count)
    #> 6 1
    ```
    """

    def __init__(self, show=True):
        self.count = 0
        self.show = show
        self.outputs = []

    def __call__(self, snippets, namespace):
        """Run ``(label, code)`` pairs in ``namespace`` and display them as tabs."""
        highlight = importlib.import_module("pygments").highlight
        formatter = importlib.import_module("pygments.formatters").HtmlFormatter(wrapcode=True)
        lexer = importlib.import_module("pygments.lexers").PythonLexer()
        self.count += 1
        blocks, printed = [], []
        for label, code in snippets:
            shown, output = run_snippet(code, namespace)
            printed.append(output)
            blocks.append((label, highlight(shown, lexer, formatter)))
        self.outputs.append(tuple(printed))
        if self.show:
            display = importlib.import_module("IPython.display")
            display.display(display.HTML(tabs_html(blocks, self.count)))
        return tuple(printed)


def source_without_docstring(func):
    """The source of ``func`` as installed, without its docstring.

    Examples
    --------
    ```python
    from celoss import softmax
    from celoss.display import source_without_docstring

    print(source_without_docstring(softmax).splitlines()[0])
    #> def softmax(logits, axis=-1):
    ```
    """
    source = inspect.getsource(func)
    first = ast.parse(source).body[0].body[0]
    lines = source.splitlines()
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        lines = lines[: first.lineno - 1] + lines[first.end_lineno :]
    return "\n".join(lines)


#: The API reference page that documents each module (the others: reference.md).
REFERENCE_PAGES = {"celoss.parity": "reference-checks.md", "celoss.display": "reference-checks.md"}


def show_source(func):
    """Display a celoss function's source, included from the library, never retyped."""
    display = importlib.import_module("IPython.display")
    path = func.__module__.replace(".", "/") + ".py"
    page = REFERENCE_PAGES.get(func.__module__, "reference.md")
    display.display(display.Markdown(
        f"`{func.__name__}` from `{path}`, without its docstring (that is "
        f"in the [API reference]({page})):\n\n"
        "```python\n" + source_without_docstring(func) + "\n```"
    ))


def values(array, digits=4):
    """``array``'s entries as text, for alt text and captions.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.display import values

    print(values(np.array([0.5, 0.25])))
    #> 0.5000, 0.2500
    ```
    """
    return ", ".join(f"{v:.{digits}f}" for v in np.ravel(array))


def ulps(ours, reference):
    """How far ``ours`` is from ``reference``, in units in the last place.

    Examples
    --------
    ```python
    import numpy as np
    from celoss.display import ulps

    print(ulps(np.float32(1.0) + np.spacing(np.float32(1.0)), np.float32(1.0)))
    #> 1 unit in the last place
    ```
    """
    distance = np.abs(ours - reference) / np.spacing(np.abs(reference))
    count = int(np.max(np.round(distance)))
    return f"{count} unit{'' if count == 1 else 's'} in the last place"


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def _status_bytes(field):
    """``VmRSS`` (resident now) or ``VmHWM`` (resident at the peak) from /proc/self/status."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields[field].split()[0]) * 1024  # the kernel reports kB


def peak_memory(function):
    """Call ``function()`` and measure the most memory it held at any moment.

    Linux keeps a high-water mark of each process's resident memory,
    ``VmHWM``, and resets it to the current resident size when 5 is written
    to /proc/self/clear_refs. So: reset the mark, read the resident size,
    call, read the mark. The difference counts every page the call touched
    beyond what was resident before it, arrays it freed before returning
    included, and nothing from earlier calls. Linux only.

    The allocator must not blur this. glibc serves a large array from pages
    of its own (``mmap``) and returns them when the array is freed, but it
    raises that size threshold each time such an array is freed, up to
    32 MiB, after which arrays come from its heap, where freed pages may stay
    resident and be reused uncounted, or be left unusable so that a call
    takes new ones: the same call then measures differently depending on
    what ran before. So the threshold is fixed at glibc's own starting value,
    128 KiB, for the rest of the process (``mallopt``), and free heap memory
    is given back (``malloc_trim``) before each measurement. What remains is
    a few hundred KiB of heap pages that cannot be given back.

    Parameters
    ----------
    function : callable
        Called with no arguments.

    Returns
    -------
    result : object
        What ``function()`` returned; it was alive at the end, so it is
        counted in ``extra_bytes``.
    extra_bytes : int
        Peak resident bytes during the call minus resident bytes before it.

    Raises
    ------
    OSError
        Without /proc/self/clear_refs (not Linux).

    Examples
    --------
    ```python
    import numpy as np
    from celoss.display import peak_memory

    def temporary_array():
        ones = np.ones((1024, 1024))  # (1024, 1024) float64: 8 MiB, freed on return
        return float(ones.sum())

    total, extra = peak_memory(temporary_array)
    # The 8 MiB freed before the return still count. The kernel updates its
    # resident-page counts in batches, so read the peak to the nearest 4 MiB.
    print(total, f"{4 * round(extra / 2**22)} MiB")
    #> 1048576.0 8 MiB
    ```
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to set
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)  # arrays from 128 KiB: own pages
        libc.malloc_trim(0)  # free heap pages back to the system
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    before = _status_bytes("VmRSS")
    result = function()
    return result, _status_bytes("VmHWM") - before

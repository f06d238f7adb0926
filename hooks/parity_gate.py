"""Stop the build when celoss and PyTorch disagree; generate the Verification page.

Before any page renders (``on_files``), this hook runs ``hooks/parity_matrix.py``
in a fresh Python process: every case of the matrix, every step, value and
gradient. A disagreement beyond the dtype's tolerance, or a crash, raises
:class:`mkdocs.exceptions.PluginError` with the case and the failing step, and
``mkdocs build`` exits non-zero: in ``make docs``, ``make serve`` and
``make test`` alike.

On success the same results become ``verification.md``, a generated page
(in the build only, never in ``docs/``).

A passing run is kept in ``.cache/parity/<key>.json``, where ``<key>`` hashes
everything the result depends on: the notebook cache's key (the library
source, the versions of numpy, torch and the notebook tooling, the
interpreter, ``PYTHONPATH``; ``hooks/notebook_cache.py``), every file of
``hooks/`` and ``docs/data/``. A rebuild with none of them changed (a
Markdown edit, ``mkdocs serve``) reuses it instead of spending 15-40 s on
the same answer; any change to the library runs the matrix again. A failing
run is never kept.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

import notebook_cache  # hooks/notebook_cache.py: MkDocs puts hooks/ on sys.path to load a hook

log = logging.getLogger("mkdocs.hooks.parity_gate")

MATRIX = Path(__file__).with_name("parity_matrix.py")
PAGE = "verification.md"
TIMEOUT = 600  # seconds; the matrix takes about 15 s on 2 cores


# The steps compare_with_torch checks (chapter cases name their own).
MATRIX_STEPS = ("softmax", "log_softmax", "correct_class_probs", "nll_loss",
                "soft_target_loss", "cross_entropy", "cross_entropy_grad")


class ParityGateError(PluginError):
    """celoss and PyTorch disagree (or the comparison could not run)."""


def run_matrix(cwd: Path) -> dict:
    """Run the matrix in a fresh interpreter and return its JSON document."""
    with tempfile.TemporaryDirectory(prefix="celoss-parity-") as tmp:
        out = Path(tmp) / "parity.json"
        try:
            proc = subprocess.run(
                [sys.executable, str(MATRIX), str(out)], cwd=cwd,
                capture_output=True, text=True, timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            raise ParityGateError(f"celoss/torch parity check timed out: {error}") from None
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise ParityGateError(
                f"celoss/torch parity check could not run (exit {proc.returncode}):\n{tail}"
            )
        return json.loads(out.read_text(encoding="utf-8"))


def failure_message(document: dict) -> str | None:
    """Describe every failing case (the first ten in full), or None if all pass."""
    failed = [case for case in document["cases"] if not case["passed"]]
    if not failed:
        return None
    lines = [f"celoss and PyTorch disagree on {len(failed)} of "
             f"{len(document['cases'])} cases; the build stops."]
    for case in failed[:10]:
        if case["error"]:
            lines.append(f"  case {case['id']}: step failed with an error in {case['error']}")
            continue
        bad = [s for s in case["steps"] if not s["passed"]] or [None]
        for step in bad:
            if step is None:
                lines.append(f"  case {case['id']}: no step was compared")
                continue
            lines.append(
                f"  case {case['id']}: step '{step['step']}' differs from torch: "
                f"max abs diff {step['max_abs_diff']:.3e}, max rel diff "
                f"{step['max_rel_diff']:.3e}, tolerance rtol={step['rtol']:g} "
                f"atol={step['atol']:g}"
            )
    if len(failed) > 10:
        lines.append(f"  ... and {len(failed) - 10} more cases")
    lines.append(f"Reproduce with: {Path(sys.executable).name} hooks/parity_matrix.py out.json")
    return "\n".join(lines)


def spoken_list(words: list[str]) -> str:
    """``"a, b and c"``."""
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


def fmt(x: float) -> str:
    """A difference in a table cell: 0 or three significant digits."""
    return "0" if x == 0 else f"{x:.2e}"


def is_gradient(step: dict) -> bool:
    """Gradient steps are named for it (``cross_entropy_grad``, ``W gradient``)."""
    return "grad" in step["step"].lower()


def largest(case: dict, gradient: bool) -> float:
    """The largest absolute difference over a case's value (or gradient) steps."""
    diffs = [s["max_abs_diff"] for s in case["steps"] if is_gradient(s) == gradient]
    return max(diffs, default=0.0)


def tolerance(case: dict, key: str) -> str:
    """A case's rtol or atol (its steps' values, if they differ)."""
    values = dict.fromkeys(f"{s[key]:g}" for s in case["steps"])
    return " / ".join(values) or "-"


def chapter_order(config) -> list[str]:
    """Notebook files in nav order, to list the chapters as the site does."""
    order = []

    def walk(items):
        for item in items or []:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                walk(value)
            else:
                order.append(value)

    walk(config.get("nav"))
    return order


def render_page(document: dict, seconds: float, page_order=()) -> str:
    """The Markdown of the Verification page."""
    everything = document["cases"]
    cases = [c for c in everything if c.get("group", "matrix") == "matrix"]
    chapters = [c for c in everything if c.get("group") == "chapter"]
    tol = document["tolerances"]
    steps = []
    for case in everything:
        for s in case["steps"]:
            if s["step"] not in steps:
                steps.append(s["step"])
    out = [
        "---",
        "hide: [toc]  # the case tables need the width",
        "---",
        "",
        "# Verification",
        "",
        "Every build of this site runs celoss and PyTorch on the "
        f"**{len(everything)} cases** below and compares every step, the loss and its "
        "gradient: a matrix of every option and layout, then the computations "
        "each chapter shows. One difference beyond the tolerance, on any case, stops the "
        "build: this page exists only because all of them agreed. It was generated "
        f"by that run (`hooks/parity_gate.py`, which took {seconds:.0f} s).",
        "",
        "| package | version |",
        "|---|---|",
        f"| torch | {document['torch_version']} |",
        f"| numpy | {document['numpy_version']} |",
        f"| celoss | {document['celoss_version']} |",
        f"| Python | {document['python_version']} |",
        "",
        f"Inputs are drawn from `np.random.default_rng([{document['seed']}, case])`, "
        "so any case can be rebuilt alone (`hooks/parity_matrix.py`).",
        "",
        "## What is compared",
        "",
        "Each matrix case runs `celoss.compare_with_torch`, which checks these "
        "steps against the matching torch operation, in the logits' dtype: "
        + ", ".join(f"`{s}`" for s in steps if s in MATRIX_STEPS)
        + ". The gradient is compared with torch autograd's.",
        "",
        "A value passes when $|\\text{celoss} - \\text{torch}| \\le "
        "\\text{atol} + \\text{rtol} \\cdot |\\text{torch}|$, entry by entry:",
        "",
        "| dtype | rtol | atol |",
        "|---|---|---|",
    ]
    dtypes = dict.fromkeys(c["dtype"] for c in cases)
    out += [f"| {d} | {tol[d][0]:g} | {tol[d][1]:g} |" for d in dtypes if d in tol]
    dtypes_in_matrix = list(dict.fromkeys(c["dtype"] for c in cases
                                          if c.get("group", "matrix") == "matrix"))
    out += [
        "",
        "The matrix: every option alone and combined (class `weight`, "
        "`ignore_index`, `label_smoothing`, probability targets), each reduction, "
        f"{spoken_list(dtypes_in_matrix)}, "
        "unbatched $(C,)$, batched $(N, C)$ and K-dimensional "
        "$(N, C, d_1, d_2)$ logits; and logits scaled to about 1000, where a "
        "softmax without its stabilising shift overflows. *Value* is the largest "
        "absolute difference over the forward steps, *gradient* the largest over "
        "the gradient entries.",
        "",
    ]
    worst_value = max((largest(c, False) for c in cases), default=0.0)
    worst_grad = max((largest(c, True) for c in cases), default=0.0)
    out += [
        f"All **{sum(c['passed'] for c in cases)} of {len(cases)}** matrix cases "
        f"agree. Largest value difference: {fmt(worst_value)}; largest gradient "
        f"difference: {fmt(worst_grad)}.",
        "",
    ]
    for shape_name in dict.fromkeys(c["shape_name"] for c in cases):
        group = [c for c in cases if c["shape_name"] == shape_name]
        shape = tuple(group[0]["shape"])
        out += [
            f"## {shape_name.capitalize()} logits, shape {shape}",
            "",
            '<div class="celoss-verification" markdown>',
            "",
            "| case | targets and options | dtype | reduction | value diff | "
            "gradient diff | rtol | atol | result |",
            "|---:|---|---|---|---:|---:|---:|---:|---|",
        ]
        for c in group:
            options = list(c["options"])
            if "ignore_index" in options:
                options[options.index("ignore_index")] = f"ignore_index ({c['ignored']} ignored)"
            if c.get("scale", 0) > 100:
                options.insert(0, f"logits x{c['scale']:g}")
            if c["target_kind"] == "probabilities":
                options.insert(0, "probability targets")
            options = ", ".join(options) or "class indices"
            rtol, atol = tol.get(c["dtype"], ("?", "?"))
            out.append(
                f"| {c['number']} | {options} | {c['dtype']} | "
                f"`{c['reduction']}` | {fmt(largest(c, False))} | "
                f"{fmt(largest(c, True))} | {rtol:g} | {atol:g} | "
                f"{'pass' if c['passed'] else 'FAIL'} |"
            )
        out += ["", "</div>", ""]
    if chapters:
        out += render_chapters(chapters, page_order)
    return "\n".join(out)


def render_chapters(chapters: list[dict], page_order) -> list[str]:
    """One section per chapter: the comparisons its page shows."""
    order = {page: i for i, page in enumerate(page_order)}
    names = sorted(dict.fromkeys((c["chapter"], c["page"]) for c in chapters),
                   key=lambda cp: (order.get(cp[1], len(order)), cp[0]))
    out = [
        "## The chapters' comparisons",
        "",
        "Each chapter's own computations, run again here on the same inputs "
        "(`hooks/cases/`): the steps are named as on the page, and the tolerance "
        "is the one the chapter states.",
        "",
    ]
    for chapter, page in names:
        group = [c for c in chapters if (c["chapter"], c["page"]) == (chapter, page)]
        title = f"[{chapter}]({page})" if page else chapter
        out += [
            f"### {chapter}",
            "",
            f"{len(group)} cases from {title}; "
            f"{sum(c['passed'] for c in group)} agree.",
            "",
            '<div class="celoss-verification" markdown>',
            "",
            "| case | what | options | dtype | shape | value diff | gradient diff "
            "| rtol | atol | result |",
            "|---:|---|---|---|---|---:|---:|---:|---:|---|",
        ]
        for c in group:
            has_grad = any(is_gradient(s) for s in c["steps"])
            cells = [
                str(c["number"]), cell(c["case"]), cell(c["options"]) or "-",
                c["dtype"] or "-", c["shape"] or "-", fmt(largest(c, False)),
                fmt(largest(c, True)) if has_grad else "-",
                tolerance(c, "rtol"), tolerance(c, "atol"),
                "pass" if c["passed"] else "FAIL",
            ]
            out.append("| " + " | ".join(cells) + " |")
        out += ["", "</div>", ""]
    return out


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def cached_matrix(root: Path, key: str) -> tuple[dict, float, bool]:
    """(document, seconds the run took, whether it came from the cache under ``key``)."""
    return notebook_cache.cached_result(
        root / ".cache" / "parity", key, lambda: run_matrix(root),
        keep=lambda document: failure_message(document) is None)


def on_files(files, config):
    """Run the parity check; stop the build or add the Verification page."""
    root = Path(config.config_file_path).parent
    document, seconds, cached = cached_matrix(root, notebook_cache.build_keys(config)[1])
    message = failure_message(document)
    if message:
        raise ParityGateError(message)
    log.info("celoss agrees with torch %s on all %d cases (%.1f s%s)",
             document["torch_version"], len(document["cases"]), seconds,
             ", cached: library, versions and hooks unchanged" if cached else "")
    if files.get_file_from_path(PAGE) is not None:
        raise ParityGateError(f"docs/{PAGE} must not exist: the build generates it")
    page = render_page(document, seconds, chapter_order(config))
    files.append(File.generated(config, PAGE, content=page))
    return files

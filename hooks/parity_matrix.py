"""The matrix of cases on which celoss must agree with PyTorch, and its runner.

``hooks/parity_gate.py`` runs this file as a script in a fresh Python process
at every build (so ``mkdocs serve`` always checks the library as it is on
disk, never a copy imported by an earlier build), reads the JSON it writes,
stops the build on any disagreement and renders the Verification page.

Besides the matrix, each curriculum chapter contributes the comparisons its
page shows: ``hooks/cases/<page_name>.py`` defines ``CHAPTER`` (the page
title), ``PAGE`` (the notebook in docs/) and ``cases()``, which yields
``(case_id, run)`` pairs where ``run()`` returns a ``celoss.ParityReport``.
They are run after the matrix, with the same rules: a disagreement or a crash
stops the build.

Run it by hand to see the same report::

    .venv/bin/python hooks/parity_matrix.py report.json

The matrix: every option alone and combined (class weights, ``ignore_index``,
label smoothing, probability targets), each reduction, float16, float32 and float64,
unbatched ``(C,)``, batched ``(N, C)`` and K-dimensional ``(N, C, d1, d2)``
logits; value and gradient. A few more cases scale the logits to about 1000,
where a softmax or log-softmax without its stabilising shift overflows
(no other case would notice: the shift changes no value in exact arithmetic).
Inputs come from ``np.random.default_rng`` seeded
with ``(SEED, case number)``, so any case can be rebuilt alone.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEED = 20260101
C = 5  # classes
SHAPES = {  # name -> logits shape, classes on axis 0 for (C,), else axis 1
    "unbatched": (C,),
    "batched": (4, C),
    "K-dim": (2, C, 3, 2),
}
DTYPES = ("float16", "float32", "float64")
REDUCTIONS = ("mean", "sum", "none")
IGNORE_INDEX = -1  # not torch's default (-100), so the option must be passed on
LABEL_SMOOTHING = 0.1
# Which options each case sets: every option alone and every combination.
# ignore_index only applies to class-index targets (torch rejects nothing,
# but ignores it for probabilities), so it is not combined with them.
OPTION_SETS = (
    [("class indices", combo) for r in range(4)
     for combo in itertools.combinations(("weight", "ignore_index", "label_smoothing"), r)]
    + [("probabilities", combo) for r in range(3)
       for combo in itertools.combinations(("weight", "label_smoothing"), r)]
)

# Logits of this scale overflow exp() unless the row maximum is subtracted first.
LARGE_SCALE = 1000.0
VARIANTS = (  # (targets kind, option names, logits scale)
    [(kind, names, 3.0) for kind, names in OPTION_SETS]
    + [("class indices", (), LARGE_SCALE), ("probabilities", (), LARGE_SCALE)]
)


@dataclass
class Case:
    """One input of the matrix."""

    number: int
    shape_name: str
    dtype: str
    reduction: str
    target_kind: str
    option_names: tuple
    scale: float
    logits: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    options: dict = field(repr=False)

    @property
    def id(self) -> str:
        """A readable name, for example ``batched/float64/mean/weight+ignore_index``."""
        opts = "+".join(self.option_names) or "no options"
        kind = "probability targets" if self.target_kind == "probabilities" else ""
        large = f"logits x{self.scale:g}" if self.scale == LARGE_SCALE else ""
        what = ", ".join(x for x in (kind, large, opts) if x)
        return f"#{self.number} {self.shape_name} {self.dtype} reduction={self.reduction} ({what})"


def make_case(number, shape_name, dtype, reduction, target_kind, option_names,
              scale=3.0) -> Case:
    """Draw the inputs of one case from its own seeded generator."""
    rng = np.random.default_rng([SEED, number])
    shape = SHAPES[shape_name]
    axis = 0 if len(shape) == 1 else 1
    logits = rng.normal(scale=scale, size=shape).astype(dtype)
    index_shape = shape[:axis] + shape[axis + 1 :]  # () / (N,) / (N, d1, d2)
    if target_kind == "probabilities":
        probs = rng.dirichlet(np.ones(C), size=index_shape)  # (..., C)
        targets = np.moveaxis(probs, -1, axis).astype(dtype)  # logits' shape
    else:
        targets = rng.integers(0, C, size=index_shape)
        if "ignore_index" in option_names:
            # Unbatched: the one target is ignored (torch's mean is then 0/0 = NaN,
            # and celoss must say NaN too). Batched: about 40%, never all.
            ignored = np.array(rng.random(index_shape) < 0.4)  # writable, 0-d too
            ignored.flat[-1] = True  # at least one ignored
            if targets.size > 1:
                ignored.flat[0] = False  # never all
            targets = np.where(ignored, IGNORE_INDEX, targets)
    options = {"reduction": reduction}
    if "weight" in option_names:
        options["weight"] = rng.uniform(0.5, 2.0, size=C).astype(dtype)
    if "ignore_index" in option_names:
        options["ignore_index"] = IGNORE_INDEX
    if "label_smoothing" in option_names:
        options["label_smoothing"] = LABEL_SMOOTHING
    return Case(number, shape_name, dtype, reduction, target_kind,
                tuple(option_names), scale, logits, np.asarray(targets), options)


def cases() -> list[Case]:
    """Every case of the matrix, in a fixed order."""
    grid = itertools.product(SHAPES, DTYPES, REDUCTIONS, VARIANTS)
    return [make_case(i, s, d, r, kind, names, scale)
            for i, (s, d, r, (kind, names, scale)) in enumerate(grid, start=1)]


def where_it_failed(error: BaseException) -> str:
    """The innermost public celoss function in a traceback, e.g. ``celoss.nll.nll_loss``.

    Private helpers (``celoss._validation.check_inputs``, ``_check_logits``) are
    passed over for the public function that called them, the one a case calls.
    """
    frames = [(Path(frame.filename), frame.name)
              for frame in traceback.extract_tb(error.__traceback__)]
    frames = [(path.stem, name) for path, name in frames
              if path.parent.name == "celoss" and path.name != "parity.py"]
    public = [(module, name) for module, name in frames
              if not module.startswith("_") and not name.startswith("_")]
    if not frames:
        return "the comparison itself"
    module, name = (public or frames)[-1]
    return f"celoss.{module}.{name}"


CASES_DIR = Path(__file__).with_name("cases")


def chapter_modules():
    """Import each hooks/cases/*.py by path; yields (file stem, module or exception)."""
    for path in sorted(CASES_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"celoss_site_cases_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            for attribute in ("CHAPTER", "PAGE", "cases"):
                if not hasattr(module, attribute):
                    raise AttributeError(f"hooks/cases/{path.name} defines no {attribute}")
        except Exception as error:  # reported as a failing case, never skipped
            yield path.stem, error
        else:
            yield path.stem, module


def describe(options) -> str:
    """A short text for a report's options dict."""
    parts = []
    for key, value in dict(options or {}).items():
        text = value if isinstance(value, str) else repr(value)
        parts.append(f"{key}={text if len(text) <= 40 else text[:37] + '...'}")
    return ", ".join(parts)


def step_rows(report) -> list[dict]:
    """The JSON form of a report's StepChecks."""
    return [
        {"step": c.step, "max_abs_diff": float(c.max_abs_diff),
         "max_rel_diff": float(c.max_rel_diff), "rtol": float(c.rtol),
         "atol": float(c.atol), "passed": bool(c.passed)}
        for c in report.steps
    ]


def run_chapters(first_number: int) -> list[dict]:
    """Every chapter's cases, numbered from ``first_number``."""
    rows = []
    number = first_number
    for stem, module in chapter_modules():
        chapter = getattr(module, "CHAPTER", stem)
        page = getattr(module, "PAGE", None)
        if isinstance(module, Exception):
            items = [("importing the module", module)]
        else:
            try:
                items = list(module.cases())
            except Exception as error:
                items = [("cases()", error)]
        for case_id, run_case in items:
            row = {"number": number, "group": "chapter", "chapter": chapter,
                   "page": page, "id": f"#{number} {chapter}: {case_id}",
                   "case": case_id, "shape": None, "dtype": "", "options": "",
                   "steps": [], "error": None, "passed": False}
            number += 1
            rows.append(row)
            try:
                if isinstance(run_case, Exception):
                    raise run_case
                report = run_case()
                row["shape"] = str(tuple(report.logits_shape)).replace("'", "")
                row["dtype"] = str(report.dtype)
                row["options"] = describe(report.options)
                row["steps"] = step_rows(report)
            except Exception as error:
                row["error"] = f"{where_it_failed(error)}: {type(error).__name__}: {error}"
                continue
            row["passed"] = all(s["passed"] for s in row["steps"]) and bool(row["steps"])
    return rows


def run(out: Path) -> int:
    """Compare every case with torch; write the results as JSON to ``out``."""
    import torch

    import celoss

    # The inputs are tiny: one thread is 5-10x faster than a pool fighting
    # over 2 cores (and the checks do not depend on it).
    torch.set_num_threads(1)
    results = []
    for case in cases():
        row = {
            "number": case.number, "group": "matrix", "id": case.id,
            "shape_name": case.shape_name,
            "shape": list(case.logits.shape), "dtype": case.dtype,
            "reduction": case.reduction, "target_kind": case.target_kind,
            "options": list(case.option_names), "scale": case.scale,
            "ignored": int(np.sum(case.targets == IGNORE_INDEX))
            if "ignore_index" in case.option_names else 0,
            "steps": [], "error": None,
        }
        try:
            report = celoss.compare_with_torch(case.logits, case.targets,
                                               raise_on_mismatch=False, **case.options)
        except Exception as error:  # a crash in celoss is a failure of this case
            row["error"] = f"{where_it_failed(error)}: {type(error).__name__}: {error}"
            row["passed"] = False
        else:
            row["steps"] = step_rows(report)
            row["passed"] = bool(report.passed) and bool(report.steps)
        results.append(row)
    results += run_chapters(len(results) + 1)
    document = {
        "seed": SEED,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "celoss_version": getattr(celoss, "__version__", "unknown"),
        "python_version": sys.version.split()[0],
        "tolerances": {k: list(v) for k, v in celoss.TOLERANCES.items()},
        "cases": results,
    }
    out.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: parity_matrix.py OUT.json")
    sys.exit(run(Path(sys.argv[1])))

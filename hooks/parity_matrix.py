"""The matrix of cases on which celoss must agree with PyTorch, and its runner.

``hooks/parity_gate.py`` runs this file as a script in a fresh Python process
at every build (so ``mkdocs serve`` always checks the library as it is on
disk, never a copy imported by an earlier build), reads the JSON it writes,
stops the build on any disagreement and renders the Verification page.

Run it by hand to see the same report::

    .venv/bin/python hooks/parity_matrix.py report.json

The matrix: every option alone and combined (class weights, ``ignore_index``,
label smoothing, probability targets), each reduction, float32 and float64,
unbatched ``(C,)``, batched ``(N, C)`` and K-dimensional ``(N, C, d1, d2)``
logits; value and gradient. A few more cases scale the logits to about 1000,
where a softmax or log-softmax without its stabilising shift overflows
(no other case would notice: the shift changes no value in exact arithmetic).
Inputs come from ``np.random.default_rng`` seeded
with ``(SEED, case number)``, so any case can be rebuilt alone.
"""

from __future__ import annotations

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
DTYPES = ("float32", "float64")
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
    """The innermost celoss function in a traceback, for example ``celoss.nll.nll_loss``."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        path = Path(frame.filename)
        if path.parent.name == "celoss" and path.name != "parity.py":
            return f"celoss.{path.stem}.{frame.name}"
    return "the comparison itself"


def run(out: Path) -> int:
    """Compare every case with torch; write the results as JSON to ``out``."""
    import torch

    import celoss

    results = []
    for case in cases():
        row = {
            "number": case.number, "id": case.id, "shape_name": case.shape_name,
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
            row["steps"] = [
                {"step": c.step, "max_abs_diff": c.max_abs_diff,
                 "max_rel_diff": c.max_rel_diff, "rtol": c.rtol, "atol": c.atol,
                 "passed": bool(c.passed)}
                for c in report.steps
            ]
            row["passed"] = bool(report.passed) and bool(report.steps)
        results.append(row)
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

"""The Playground's reference table: celoss results, checked against PyTorch.

``docs/playground.md`` computes softmax, the loss and its gradient in the
reader's browser (``docs/assets/playground.js``). This hook gives that page
something to be checked against. Before any page renders (``on_files``) it
computes every case of :func:`cases` with celoss, in float64:

* ``probs``: ``softmax(z)`` with ``z = logits / T``;
* ``neg_log_p``: ``nll_loss(log_softmax(z), y)``, the target's ``-log p``;
* ``loss``: ``cross_entropy(z, y, label_smoothing=eps)``;
* ``grad``: ``cross_entropy_grad(z, y, label_smoothing=eps) / T``, the chain
  rule through ``z = logits / T``;

computes the same four with torch (autograd through the division by ``T``)
and stops the build, naming the case and the value, when the two differ by
more than celoss's float64 tolerance. On agreement the results become
``assets/playground-cases.json``, a file generated into the site (never in
``docs/``). The page recomputes every case on load and shows the result; the
browser test ``tests/test_playground.py`` types every case into the page.

A passing table is kept in ``.cache/playground/<key>.json``, keyed like the
parity gate's result (``hooks/notebook_cache.py``: the library source, the
versions of numpy and torch, the interpreter, every file of ``hooks/``): a
rebuild with none of them changed reuses it; any change computes and checks it
again. A failing table is never kept.

``on_post_page`` adds ``playground.css`` and ``playground.js`` to that page only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

import notebook_cache  # hooks/notebook_cache.py: MkDocs puts hooks/ on sys.path to load a hook

log = logging.getLogger("mkdocs.hooks.playground_table")

PAGE = "playground.md"
TABLE = "assets/playground-cases.json"
ASSETS = ("assets/playground.css", "assets/playground.js")
# The page and its test accept a relative difference up to this from celoss.
PAGE_RTOL = 1e-6


class PlaygroundTableError(PluginError):
    """celoss and PyTorch disagree on a Playground case (or it could not run)."""


def case(name, logits, target, label_smoothing=0.0, temperature=1.0):
    """One row of the table's inputs, as the page's controls will hold them."""
    return {"name": name, "logits": [float(x) + 0.0 for x in logits],  # no -0.0
            "target": int(target), "label_smoothing": float(label_smoothing),
            "temperature": float(temperature)}


def cases() -> list[dict]:
    """The inputs: the seed, extreme logits, every option, then seeded random ones.

    Logits have at most two decimals so that typing ``repr(x)`` into the
    page's number field gives the very same float64.
    """
    seed_1, seed_2 = [2.0, 1.0, 0.1], [0.5, 2.5, 0.3]
    fixed = [
        case("seed, sample 1", seed_1, 0),
        case("seed, sample 1, target 1", seed_1, 1),
        case("seed, sample 1, target 2", seed_1, 2),
        case("seed, sample 2", seed_2, 1),
        case("seed, sample 1, smoothing 0.1", seed_1, 0, label_smoothing=0.1),
        case("seed, sample 1, smoothing 0.5", seed_1, 2, label_smoothing=0.5),
        case("seed, sample 1, smoothing 1", seed_1, 1, label_smoothing=1.0),
        case("seed, sample 1, T = 0.5", seed_1, 0, temperature=0.5),
        case("seed, sample 1, T = 2", seed_1, 0, temperature=2.0),
        case("seed, sample 1, T = 10", seed_1, 1, temperature=10.0),
        case("seed, sample 2, smoothing 0.2, T = 3", seed_2, 1, 0.2, 3.0),
        case("all equal", [0.0, 0.0, 0.0, 0.0], 2),
        case("two classes", [3.0, -1.0], 1),
        case("six classes", [1.5, -0.5, 0.25, 4.0, -3.0, 2.0], 3),
        # Extreme logits: exp(1000) overflows, exp(-2000) underflows to 0.
        case("extreme, right", [1000.0, -1000.0], 0),
        case("extreme, wrong", [1000.0, -1000.0], 1),
        case("extreme, three classes", [1000.0, -1000.0, 0.0], 2),
        case("all 1000", [1000.0] * 4, 3),
        case("all -1000", [-1000.0] * 5, 0),
        case("near tie at 1000", [1000.0, 999.5, 998.0, -1000.0], 1),
        case("six extremes", [-1000.0, 1000.0, 0.0, 500.0, -500.0, 1000.0], 4),
        case("extreme, wrong, smoothing 0.1", [1000.0, -1000.0], 1, label_smoothing=0.1),
        case("extreme, right, smoothing 0.3", [1000.0, -1000.0, 0.0], 0, label_smoothing=0.3),
        case("extreme, T = 100", [1000.0, -1000.0, 0.0], 0, temperature=100.0),
        case("extreme, T = 0.5", [1000.0, -1000.0, 0.0], 2, temperature=0.5),
        case("extreme, T = 250, smoothing 0.05", [-1000.0, 1000.0, 998.0, 3.0], 2,
             0.05, 250.0),
        case("large, T = 0.1", [10.0, 9.0, -10.0], 1, temperature=0.1),
    ]
    rng = np.random.default_rng(20240607)
    randoms = []
    for i in range(36):
        num_classes = 2 + i % 5  # 2 .. 6
        logits = np.round(rng.normal(0.0, 3.0, size=num_classes), 2)
        target = rng.integers(num_classes)
        smoothing = float(rng.choice([0.0, 0.0, 0.05, 0.1, 0.3]))
        temperature = float(rng.choice([1.0, 1.0, 0.25, 0.5, 2.0, 5.0]))
        randoms.append(case(f"random {i + 1}", logits, target, smoothing, temperature))
    return fixed + randoms


# --8<-- [start:with_celoss]
def with_celoss(row: dict) -> dict:
    """The four displayed results of one case, computed by celoss (float64)."""
    import celoss

    temperature = row["temperature"]
    z = np.asarray(row["logits"], dtype=np.float64) / temperature  # (C,)
    target = np.asarray(row["target"])  # ()
    smoothing = row["label_smoothing"]
    probs = celoss.softmax(z)  # (C,)
    neg_log_p = celoss.nll_loss(celoss.log_softmax(z), target)  # ()
    loss = celoss.cross_entropy(z, target, label_smoothing=smoothing)  # ()
    # d loss / d logits = (d loss / d z) * (1 / T), as z = logits / T.
    grad = celoss.cross_entropy_grad(z, target, label_smoothing=smoothing) / temperature  # (C,)
    return {"probs": probs.tolist(), "neg_log_p": float(neg_log_p),
            "loss": float(loss), "grad": grad.tolist()}
# --8<-- [end:with_celoss]


def with_torch(row: dict) -> dict:
    """The same four results from torch; the gradient by autograd through logits / T."""
    import torch
    import torch.nn.functional as F

    logits = torch.tensor(row["logits"], dtype=torch.float64, requires_grad=True)  # (C,)
    z = logits / row["temperature"]  # (C,)
    target = torch.tensor(row["target"])  # ()
    probs = torch.softmax(z, dim=0)  # (C,)
    neg_log_p = -torch.log_softmax(z, dim=0)[target]  # ()
    loss = F.cross_entropy(z, target, label_smoothing=row["label_smoothing"])  # ()
    loss.backward()
    return {"probs": probs.tolist(), "neg_log_p": neg_log_p.item(),
            "loss": loss.item(), "grad": logits.grad.tolist()}


def compare(ours: dict, theirs: dict, rtol: float, atol: float) -> list[tuple]:
    """(quantity, max abs diff, max rel diff, passed) for each of the four results."""
    out = []
    for key in ("probs", "neg_log_p", "loss", "grad"):
        a = np.atleast_1d(np.asarray(ours[key], dtype=np.float64))
        b = np.atleast_1d(np.asarray(theirs[key], dtype=np.float64))
        finite = bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b)))
        abs_diff = np.abs(a - b) if finite else np.full(a.shape, np.inf)
        rel_diff = abs_diff / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
        passed = finite and a.shape == b.shape and bool(np.all(abs_diff <= atol + rtol * np.abs(b)))
        out.append((key, float(abs_diff.max()), float(rel_diff.max()), passed))
    return out


def build_table() -> dict:
    """Every case with celoss and torch; raises PlaygroundTableError on any mismatch."""
    import torch

    import celoss

    rtol, atol = celoss.TOLERANCES["float64"]
    rows, failures = [], []
    max_abs = max_rel = 0.0
    for number, row in enumerate(cases(), start=1):
        try:
            ours, theirs = with_celoss(row), with_torch(row)
        except Exception as error:  # a crash is a failure too, named by its case
            failures.append(f"  case {number} ({row['name']}): {type(error).__name__}: {error}")
            continue
        for key, abs_diff, rel_diff, passed in compare(ours, theirs, rtol, atol):
            max_abs, max_rel = max(max_abs, abs_diff), max(max_rel, rel_diff)
            if not passed:
                failures.append(
                    f"  case {number} ({row['name']}): '{key}' differs from torch: "
                    f"max abs diff {abs_diff:.3e}, max rel diff {rel_diff:.3e}, "
                    f"tolerance rtol={rtol:g} atol={atol:g}"
                )
        rows.append({"id": number, **row, **ours})
    if failures:
        raise PlaygroundTableError(
            "celoss and PyTorch disagree on the Playground table; the build stops.\n"
            + "\n".join(failures[:20])
        )
    return {
        "generated_by": "hooks/playground_table.py",
        "celoss_version": celoss.__version__,
        "numpy_version": np.__version__,
        "torch_version": torch.__version__,
        "dtype": "float64",
        "torch_rtol": rtol,
        "torch_atol": atol,
        "max_abs_diff_vs_torch": max_abs,
        "max_rel_diff_vs_torch": max_rel,
        "page_rtol": PAGE_RTOL,
        "cases": rows,
    }


def cached_table(root: Path, key: str) -> tuple[dict, float, bool]:
    """(table, seconds its computation took, whether it came from the cache under ``key``)."""
    return notebook_cache.cached_result(root / ".cache" / "playground", key, build_table)


def on_files(files, config):
    """Compute and check the table; add it to the site as a generated file."""
    if files.get_file_from_path(PAGE) is None:  # a site without the Playground
        return files
    if files.get_file_from_path(TABLE) is not None:
        raise PlaygroundTableError(f"docs/{TABLE} must not exist: the build generates it")
    root = Path(config.config_file_path).parent
    table, seconds, cached = cached_table(root, notebook_cache.build_keys(config)[1])
    log.info("playground: celoss agrees with torch on all %d cases (largest difference "
             "%.1e; %.1f s%s)", len(table["cases"]), table["max_abs_diff_vs_torch"], seconds,
             ", cached: library, versions and hooks unchanged" if cached else "")
    files.append(File.generated(config, TABLE, content=json.dumps(table, indent=1)))
    return files


def on_post_page(output, page, config):
    """Give the Playground page its stylesheet and its script (with the table's URL)."""
    if page.file.src_uri != PAGE:
        return output
    css, js, table = (get_relative_url(path, page.url) for path in (*ASSETS, TABLE))
    output = output.replace("</head>", f'<link rel="stylesheet" href="{css}">\n</head>', 1)
    script = f'<script src="{js}" data-table="{table}" defer></script>\n'
    return output.replace("</body>", script + "</body>", 1)

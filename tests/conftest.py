"""Shared strategies: random cross-entropy problems of every layout and option."""

import contextlib

import numpy as np
import pytest
from hypothesis import strategies as st

import celoss

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def pytest_configure(config):
    """Fix glibc's mmap threshold before any test allocates.

    ``celoss.display.peak_memory`` fixes it on its first call, but by then
    earlier tests may have raised it and left large arrays' pages in the
    heap, and a memory test then measured 1-5 MiB more depending on which
    tests ran before it. Calling it once here makes the order irrelevant.
    """
    from celoss.display import peak_memory

    with contextlib.suppress(OSError):  # not Linux: the memory tests fail on their own
        peak_memory(lambda: None)


@st.composite
def problems(draw, dtypes=DTYPES, probability_targets=None, extreme=False):
    """Draw (logits, targets, options) for cross_entropy.

    Layouts: unbatched (C,), batched (N, C) with N = 0 allowed, and K-dim
    (N, C, d1[, d2]). Options: weight, ignore_index (with some targets set to
    it), label_smoothing, reduction, class-index or probability targets.
    Values come from a NumPy generator seeded by the draw, so hypothesis
    shrinks the shape and options while the arrays stay reproducible.
    """
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(["unbatched", "batched", "kdim"]))
    num_classes = draw(st.integers(1, 7))
    batch = draw(st.integers(0, 6))
    if layout == "unbatched":
        shape = (num_classes,)
    elif layout == "batched":
        shape = (batch, num_classes)
    else:
        extra = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
        shape = (batch, num_classes, *extra)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0] + ([1e4] if extreme else [])))
    logits = (rng.normal(size=shape) * scale).astype(dtype)
    if extreme and logits.size and draw(st.booleans()):
        logits.flat[rng.integers(logits.size)] = -np.inf

    options = {"reduction": draw(st.sampled_from(REDUCTIONS))}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 3.0, size=num_classes).astype(dtype)
    if draw(st.booleans()):
        options["label_smoothing"] = draw(st.sampled_from([0.05, 0.1, 0.5, 1.0]))
    if probability_targets is None:
        probability_targets = draw(st.booleans())
    axis = 0 if len(shape) == 1 else 1
    if probability_targets:
        targets = celoss.softmax(rng.normal(size=shape) * 3, axis=axis).astype(dtype)
    else:
        index_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
        targets = rng.integers(0, num_classes, size=index_shape)
        if draw(st.booleans()):
            ignore_index = draw(st.sampled_from([-100, -1, 0, num_classes - 1]))
            options["ignore_index"] = ignore_index
            targets = np.where(rng.random(index_shape) < 0.3, ignore_index, targets)
    return logits, targets, options


@pytest.fixture
def seed_logits():
    """The seed walkthrough's logits (shared/seed/cross-entropy-walkthrough.txt)."""
    return np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])


@pytest.fixture
def seed_targets():
    """The seed walkthrough's targets."""
    return np.array([0, 1])


# ------------------------------------------- the real site, built once per run


@pytest.fixture(scope="session")
def built_site():
    """``(process, site folder)``: ``mkdocs build --strict`` of the real project.

    One build for the whole run (tests/browser/site.py: build_process), shared
    by tests/test_docs_build.py and the browser, link and accessibility tests.
    """
    from browser.site import build_process

    return build_process()


@pytest.fixture(scope="session")
def site():
    """The built site's folder; fails (with the build's log) if the build failed."""
    from browser.site import BuildFailed, build

    try:
        return build()
    except BuildFailed as error:
        pytest.fail(f"mkdocs build --strict failed:\n{error}")

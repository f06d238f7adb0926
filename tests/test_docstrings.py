"""Every docstring example runs, and prints exactly its ``#>`` lines.

Examples are fenced ``python`` blocks (no ``>>>`` prompts, so the site's copy
button copies runnable code); the expected output follows as ``#>`` comments.
"""

import contextlib
import inspect
import io
import re

import pytest

import celoss
import celoss.__main__
import celoss.binary
import celoss.correct_class
import celoss.display
import celoss.fused
import celoss.gradient
import celoss.information
import celoss.nll
import celoss.parity
import celoss.reduction

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
MODULES = [celoss.probabilities, celoss.correct_class, celoss.nll, celoss.reduction,
           celoss.gradient, celoss.loss, celoss.fused, celoss.binary, celoss.information,
           celoss.parity, celoss.display, celoss.__main__]


def documented_objects():
    for module in MODULES:
        for name, obj in vars(module).items():
            is_code = inspect.isfunction(obj) or inspect.isclass(obj)
            if is_code and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def examples():
    for name, obj in documented_objects():
        for number, block in enumerate(FENCE.findall(inspect.getdoc(obj) or "")):
            yield pytest.param(block, id=f"{name}-{number}")


def split_example(block):
    """Dedent a fenced block into (code, expected output lines)."""
    lines = inspect.cleandoc(block).splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#>"))
    expected = [line.lstrip()[3:] if line.lstrip() != "#>" else ""
                for line in lines if line.lstrip().startswith("#>")]
    return code, expected


@pytest.mark.parametrize("block", list(examples()))
def test_docstring_example_prints_its_output(block):
    code, expected = split_example(block)
    assert expected, "an example shows its printed output as #> lines"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, "<docstring example>", "exec"), {})
    assert buffer.getvalue().rstrip("\n").splitlines() == expected


PUBLIC_FUNCTIONS = [getattr(celoss, name) for name in celoss.__all__
                    if inspect.isfunction(getattr(celoss, name))]


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_public_function_has_an_example(function):
    assert FENCE.search(inspect.getdoc(function)), f"{function.__name__} has no example"

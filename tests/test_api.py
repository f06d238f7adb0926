"""The public API is explicit, and only celoss.parity imports torch."""

import ast
import pathlib
import re
import subprocess
import sys

import celoss
import celoss.display

SOURCE = pathlib.Path(celoss.__file__).parent


def test_all_is_pinned():
    assert celoss.__all__ == [
        "softmax", "log_softmax", "logsumexp", "correct_class_probs", "correct_class_log_probs",
        "target_weights", "nll_loss", "soft_target_loss", "reduce_loss",
        "smoothed_targets", "cross_entropy_grad", "cross_entropy", "fused_cross_entropy", "sigmoid",
        "log_sigmoid",
        "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad",
        "entropy", "kl_div", "TOLERANCES", "ParityError", "ParityReport", "StepCheck",
        "compare_with_torch", "compare_binary_with_torch",
    ]
    for name in celoss.__all__:
        assert getattr(celoss, name) is not None


def test_importing_celoss_does_not_import_torch():
    code = ("import sys, celoss; celoss.cross_entropy([[1.0, 2.0]], [0]); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_only_the_parity_module_mentions_torch_in_code():
    for path in SOURCE.glob("*.py"):
        tree = ast.parse(path.read_text())
        imports = {alias.name.split(".")[0] for node in ast.walk(tree)
                   if isinstance(node, ast.Import) for alias in node.names}
        imports |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}
        assert "torch" not in imports, f"{path.name} imports torch"
        strings = {node.value for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and node.value == "torch"}
        if strings:
            assert path.name == "parity.py", f"{path.name} loads torch dynamically"


def test_math_modules_import_only_numpy_and_the_standard_library():
    for name in ["probabilities", "correct_class", "nll", "reduction", "gradient", "loss",
                 "binary", "information", "fused"]:
        tree = ast.parse((SOURCE / f"{name}.py").read_text())
        absolute = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        absolute |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.level == 0}
        third_party = absolute - set(sys.stdlib_module_names)
        assert third_party <= {"numpy"}, f"{name}.py imports {third_party}"


def test_package_is_typed():
    assert (SOURCE / "py.typed").exists()


def test_every_public_module_is_on_the_api_reference_page():
    modules = {path.stem for path in SOURCE.glob("*.py") if not path.stem.startswith("_")}
    docs = SOURCE.parents[1] / "docs"
    listed = []
    for page in ("reference.md", "reference-checks.md"):
        text = (docs / page).read_text()
        found = re.findall(r"^::: (celoss\.\w+)$", text, flags=re.MULTILINE)
        listed += [name.removeprefix("celoss.") for name in found]
        for name in found:  # show_source links each module to its page
            assert celoss.display.REFERENCE_PAGES.get(name, "reference.md") == page, name
    assert sorted(listed) == sorted(modules)  # each public module once

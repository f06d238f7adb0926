"""compare_with_torch: reports agreement, and names the step that disagrees."""

import importlib

import numpy as np
import pytest
import torch

import celoss
import celoss.parity as parity
from celoss import ParityError, compare_with_torch


def test_report_passes_and_lists_every_step(seed_logits, seed_targets):
    report = compare_with_torch(seed_logits, seed_targets, weight=np.array([1.0, 2.0, 3.0]))
    assert report.passed
    assert [c.step for c in report.steps] == ["softmax", "log_softmax", "correct_class_probs",
                                              "nll_loss", "cross_entropy", "cross_entropy_grad"]
    assert report.torch_version == torch.__version__ and report.numpy_version == np.__version__
    assert report.dtype == "float64" and report.options == {"weight": [1.0, 2.0, 3.0]}
    assert all(c.rtol == celoss.TOLERANCES["float64"][0] for c in report.steps)


def test_probability_targets_compare_the_soft_target_loss(seed_logits):
    report = compare_with_torch(seed_logits, celoss.softmax(seed_logits * 2, axis=1),
                                label_smoothing=0.1)
    assert "soft_target_loss" in [c.step for c in report.steps]


@pytest.mark.parametrize("step, target", [
    ("softmax", "softmax"),
    ("log_softmax", "log_softmax"),
    ("nll_loss", "nll_loss"),
    ("cross_entropy", "cross_entropy"),
    ("cross_entropy_grad", "cross_entropy_grad"),
])
def test_a_perturbed_celoss_step_raises_naming_the_step(monkeypatch, seed_logits,
                                                        seed_targets, step, target):
    original = getattr(parity, target)
    monkeypatch.setattr(parity, target, lambda *a, **k: original(*a, **k) * (1 + 1e-6))
    with pytest.raises(ParityError, match=f"step '{step}'.*max rel diff 1.0"):
        compare_with_torch(seed_logits, seed_targets)


def test_a_perturbed_torch_result_raises_naming_the_step(monkeypatch, seed_logits,
                                                         seed_targets):
    original = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda *a, **k: original(*a, **k) + 1e-3)
    with pytest.raises(ParityError, match="step 'cross_entropy'.*tolerance rtol=1e-10"):
        compare_with_torch(seed_logits, seed_targets)


def test_error_message_names_options_and_dtype(monkeypatch, seed_logits, seed_targets):
    monkeypatch.setattr(parity, "softmax", lambda *a, **k: np.zeros((2, 3)))
    with pytest.raises(ParityError, match=r"float32 logits of shape \(2, 3\), options "
                                          r"\{'reduction': 'sum', 'label_smoothing': 0.1\}"):
        compare_with_torch(seed_logits.astype(np.float32), seed_targets,
                           reduction="sum", label_smoothing=0.1)


def test_without_raising_the_report_records_the_failure(monkeypatch, seed_logits, seed_targets):
    monkeypatch.setattr(parity, "softmax", lambda *a, **k: np.zeros((2, 3)))
    report = compare_with_torch(seed_logits, seed_targets, raise_on_mismatch=False)
    assert not report.passed
    assert not report.step("softmax").passed and report.step("cross_entropy").passed


def test_a_dtype_mismatch_fails(monkeypatch, seed_logits, seed_targets):
    original = parity.cross_entropy
    monkeypatch.setattr(parity, "cross_entropy",
                        lambda *a, **k: original(*a, **k).astype(np.float32))
    with pytest.raises(ParityError, match="dtypes float32 vs float64"):
        compare_with_torch(seed_logits, seed_targets)


def test_compare_arrays_matches_non_finite_values_exactly():
    check = parity.compare_arrays
    assert check("s", np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0]),
                 "float64").passed
    assert not check("s", np.array([np.nan]), np.array([1.0]), "float64").passed
    assert not check("s", np.array([np.inf]), np.array([-np.inf]), "float64").passed
    assert not check("s", np.zeros(2), np.zeros(3), "float64").passed


def test_missing_torch_names_the_extra_to_install(monkeypatch, seed_logits, seed_targets):
    real_import = importlib.import_module

    def no_torch(name, *args):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args)

    monkeypatch.setattr(parity.importlib, "import_module", no_torch)
    with pytest.raises(ImportError, match=r"pip install 'celoss\[torch\]'"):
        compare_with_torch(seed_logits, seed_targets)

"""Picking the correct class: the formula, every layout, and errors."""

import numpy as np
import pytest
import torch

from celoss import correct_class_log_probs, correct_class_probs, log_softmax, softmax
from celoss.correct_class import class_axis


def test_class_axis_is_torchs():
    assert [class_axis(ndim) for ndim in (1, 2, 3, 4)] == [0, 1, 1, 1]


def test_pick_transcribed_literally():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(5, 4)), axis=1)
    targets = rng.integers(0, 4, size=5)
    expected = [sum(probs[n, c] * (c == targets[n]) for c in range(4)) for n in range(5)]
    np.testing.assert_array_equal(correct_class_probs(probs, targets), expected)


@pytest.mark.parametrize(
    "shape, target_shape",
    [((4,), ()), ((3, 4), (3,)), ((2, 4, 5), (2, 5)), ((2, 4, 3, 2), (2, 3, 2))],
    ids=["unbatched", "batched", "1d", "2d"],
)
def test_pick_matches_torch_gather(shape, target_shape):
    rng = np.random.default_rng(1)
    axis = class_axis(len(shape))
    log_probs = log_softmax(rng.normal(size=shape), axis=axis)
    targets = rng.integers(0, 4, size=target_shape)
    expected = torch.tensor(log_probs).gather(
        axis, torch.tensor(targets).unsqueeze(axis)).squeeze(axis).numpy()
    ours = correct_class_log_probs(log_probs, targets)
    assert ours.shape == target_shape
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("bad", [-1, 4, -100], ids=["negative", "C", "ignore-index"])
def test_out_of_range_target_raises(bad):
    with pytest.raises(IndexError, match=f"class index {bad} is out of range for C=4"):
        correct_class_probs(np.full((2, 4), 0.25), np.array([0, bad]))


@pytest.mark.parametrize(
    "targets, error, message",
    [(np.array([0, 1, 2]), ValueError, r"targets shape \(3,\) does not match"),
     (np.array([[0], [1]]), ValueError, "does not match"),
     (np.array([0.0, 1.0]), TypeError, "must be integers"),
     (np.array([True, False]), TypeError, "must be integers")],
    ids=["too-many", "extra-axis", "float", "bool"],
)
def test_targets_of_the_wrong_shape_or_dtype_raise_an_error_naming_them(targets, error,
                                                                         message):
    with pytest.raises(error, match=message):
        correct_class_probs(np.full((2, 4), 0.25), targets)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (3, 5, 2)], ids=["C", "NC", "NCd"])
def test_big_endian_probabilities_are_picked_as_torch_gather_returns_them(shape, dtype):
    # torch has no big-endian tensors: its gather returns native float32 etc.
    rng = np.random.default_rng(list(shape))
    axis = 0 if len(shape) == 1 else 1
    probs = softmax(rng.normal(size=shape), axis=axis).astype(dtype)
    targets = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
    theirs = torch.gather(torch.tensor(probs), axis,
                          torch.tensor(np.expand_dims(targets, axis))).squeeze(axis).numpy()
    big = probs.astype(probs.dtype.newbyteorder(">"))
    for ours in (correct_class_probs(big, targets.astype(">i8")),
                 correct_class_log_probs(big, targets)):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)

"""The Language models chapter: docs/language-models.py and its Verification cases.

Next-token targets, padding, the two means over tokens and sequences,
gradient accumulation and a character-level bigram model trained on the
opening of tinyshakespeare: the facts the notebook computes are read back
from its namespace and checked against ln V, the bigram floor and the text
itself. The checks every chapter shares come from tests/notebook_support.py.
"""

import math

import pytest

from notebook_support import ROOT, ChapterChecks, everywhere, notebook_runs

NOTEBOOK = ROOT / "docs" / "language-models.py"
TEXT = ROOT / "docs" / "data" / "coriolanus.txt"
FACTS = {name: name for name in [
    "V", "step_losses", "final_train", "final_held_out", "bigram_floor", "token_mean",
    "mean_of_means", "naive_loss", "full_loss", "fixed_loss", "naive_error", "fixed_error",
    "init", "uniform_loss", "lengths"]} | {"figures": "show_figure.count"}
# One part in a million: far outside float64's tolerance.
FACTOR = 1 + 1e-6
PERTURBED = everywhere("cross_entropy_grad", "cross_entropy") | {
    "torch.nn.functional.cross_entropy": ["torch.nn.functional.cross_entropy"]}


class TestChapter(ChapterChecks):
    notebook = NOTEBOOK
    title = "Language models"
    headings = [
        "## 1. Next-token targets: the shift by one",
        "## 2. Logits of shape (B, T, V)",
        "## 3. Padding with ignore_index = -100",
        "## 4. The token mean and the mean of per-sequence means",
        "## 5. Gradient accumulation",
        "## 6. Perplexity, nats and bits",
        "## 7. The loss at initialisation: about ln V",
        "## 8. Training a character-level bigram model",
    ]
    page_helpers_check = False
    perturbed = list(PERTURBED)
    min_cases = 10


runs = notebook_runs(NOTEBOOK, FACTS, PERTURBED, FACTOR)


def test_text_is_the_opening_of_tinyshakespeare():
    # The first 4,506 characters of tinyshakespeare's input.txt (karpathy/char-rnn,
    # data/tinyshakespeare), compared there line by line when the file was added.
    text = TEXT.read_text(encoding="utf-8")
    assert len(text) == 4506
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    assert text.endswith("Of the whole body. The belly answer'd--\n")
    assert "a gain to them Let us revenge" in text  # tinyshakespeare's own slip, kept
    assert text.isascii()


@pytest.mark.slow
def test_first_training_loss_is_exactly_ln_v(runs):
    facts = runs["facts"]
    assert facts["V"] == len(set(TEXT.read_text(encoding="utf-8"))) == 53
    assert facts["step_losses"][0] == pytest.approx(math.log(facts["V"]), rel=1e-12)
    assert facts["uniform_loss"] == pytest.approx(math.log(facts["V"]), rel=1e-12)


@pytest.mark.slow
def test_training_falls_from_ln_v_towards_the_bigram_floor(runs):
    facts = runs["facts"]
    assert facts["bigram_floor"] < facts["final_train"] < math.log(facts["V"]) - 1.0
    assert facts["final_train"] - facts["bigram_floor"] < 0.2
    assert facts["final_held_out"] > facts["final_train"]  # unseen pairs cost more


@pytest.mark.slow
def test_token_mean_and_mean_of_sequence_means_differ(runs):
    facts = runs["facts"]
    assert facts["lengths"] == [3, 12, 10, 20]
    assert abs(facts["token_mean"] - facts["mean_of_means"]) > 1e-3


@pytest.mark.slow
def test_naive_accumulation_is_wrong_and_the_fix_is_exact(runs):
    facts = runs["facts"]
    assert abs(facts["naive_loss"] - facts["full_loss"]) > 1e-3
    assert facts["naive_error"] > 1e-2
    assert facts["fixed_loss"] == pytest.approx(facts["full_loss"], rel=1e-12)
    assert facts["fixed_error"] < 1e-12


@pytest.mark.slow
def test_initial_loss_is_near_ln_v_for_real_vocabularies(runs):
    facts = runs["facts"]
    sizes = {"GPT-2": 50_257, "Llama 3": 128_256, "Gemma": 256_000}
    assert set(facts["init"]) == set(sizes)
    for name, size in sizes.items():
        loss = facts["init"][name][2]
        assert abs(loss - math.log(size)) < 0.1, name

"""The Language models chapter: docs/language-models.py and its Verification cases.

Next-token targets, padding, the two means over tokens and sequences,
gradient accumulation, the first loss of real model shapes and a
character-level bigram model trained on the opening of tinyshakespeare: the
facts the notebook computes are read back from its namespace and checked
against ln V, ln V + sigma^2/2, the bigram floor and the text itself. The
checks every chapter shares come from tests/notebook_support.py.
"""

import math
import os
import subprocess
import sys

import pytest

from notebook_support import ROOT, ChapterChecks, everywhere, notebook_runs, read_notebook

NOTEBOOK = ROOT / "docs" / "language-models.py"
TEXT = ROOT / "docs" / "data" / "coriolanus.txt"
FACTS = {name: name for name in [
    "V", "step_losses", "final_train", "final_held_out", "bigram_floor", "token_mean",
    "mean_of_means", "naive_loss", "full_loss", "fixed_loss", "naive_error", "fixed_error",
    "init", "uniform_loss", "lengths", "direct", "SIGMA_W"]} | {
        "figures": "show_figure.count"}
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
        "## 7. The loss at initialisation",
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


# Width d and vocabulary V from each model's Hugging Face config.json
# (gpt2: n_embd, vocab_size; Meta-Llama-3-8B and gemma-7b: hidden_size,
# vocab_size), all with initializer_range 0.02.
MODELS = {"GPT-2": (768, 50_257), "Llama 3 8B": (4_096, 128_256),
          "Gemma 7B": (3_072, 256_000)}


@pytest.mark.slow
def test_logits_at_initialisation_spread_by_sigma_w_sqrt_d(runs):
    facts = runs["facts"]
    assert facts["SIGMA_W"] == 0.02
    assert set(facts["init"]) == set(MODELS)
    for name, (d, size) in MODELS.items():
        model = facts["init"][name]
        assert (model["d"], model["V"]) == (d, size), name
        # unit-rms hidden states: sigma = 0.02 sqrt(d), e.g. 0.554 for GPT-2, 1.28
        # for Llama 3 8B (LayerNorm's epsilon 1e-5 takes off a few parts in 1e6)
        assert model["sigma"] == pytest.approx(0.02 * math.sqrt(d), rel=1e-5), name
        assert model["std"] == pytest.approx(model["sigma"], rel=0.01), name


@pytest.mark.slow
def test_initial_loss_is_ln_v_plus_half_sigma_squared(runs):
    facts = runs["facts"]
    for name, (_, size) in MODELS.items():
        model = facts["init"][name]
        assert model["predicted"] == pytest.approx(
            math.log(size) + model["sigma"] ** 2 / 2, rel=1e-12), name
        assert 0 < model["error"] < 0.2, name  # a mean over enough positions
        assert abs(model["loss"] - model["predicted"]) < 4 * model["error"], name
    # Not "about ln V": the wide models start well above it (0.82 and 0.61
    # nats expected, from 0.02**2 * d / 2).
    for name in ["Llama 3 8B", "Gemma 7B"]:
        model = facts["init"][name]
        assert model["loss"] - math.log(model["V"]) > 0.3, name


@pytest.mark.slow
def test_full_torch_gpt2_matches_the_shortcut(runs):
    facts = runs["facts"]
    direct, shortcut = facts["direct"], facts["init"]["GPT-2"]
    assert direct["std"] == pytest.approx(0.02 * math.sqrt(768), rel=0.01)
    assert abs(direct["loss"] - shortcut["loss"]) < 4 * math.hypot(direct["error"],
                                                                 shortcut["error"])


def test_missing_text_is_named_with_where_to_find_it(tmp_path):
    # The setup cell run from a folder without data/coriolanus.txt (as a
    # downloaded notebook is): a FileNotFoundError that says where the file is,
    # not a bare StopIteration.
    setup = read_notebook(NOTEBOOK).cells[1].source
    env = dict(os.environ, MPLBACKEND="Agg")
    process = subprocess.run([sys.executable, "-c", setup], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode != 0
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line.startswith("FileNotFoundError:"), process.stderr
    assert "data/coriolanus.txt" in last_line and "docs/data/" in last_line

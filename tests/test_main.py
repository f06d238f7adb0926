"""python -m celoss: the seed walkthrough in the terminal."""

import subprocess
import sys

import torch
import torch.nn.functional as F

from celoss.__main__ import main


def test_prints_the_seed_walkthrough_and_agrees():
    # Expected values: the seed notebook printout, shared/seed/cross-entropy-walkthrough.txt.
    result = subprocess.run([sys.executable, "-m", "celoss"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in range(1, 7):
        assert f"## Step {step}:" in out
    assert "[[0.65900114 0.24243297 0.09856589]\n [0.10860373 0.80247906 0.08891721]]" in out
    assert "[0.65900114 0.80247906]" in out
    assert "[0.41703002 0.22004952]" in out
    assert "celoss (float64): 0.3185397696491857\n" in out
    assert "PyTorch (float32): 0.31853973865509033\n" in out


def test_own_logits_and_targets(capsys):
    assert main(["--logits", "3,1,0;0,0,2;1,1,1", "--targets", "1,2,0"]) == 0
    out = capsys.readouterr().out
    loss = float(out.split("celoss (float64): ")[1].split()[0])
    expected = F.cross_entropy(torch.tensor([[3.0, 1, 0], [0, 0, 2], [1, 1, 1]]),
                               torch.tensor([1, 2, 0])).item()
    assert abs(loss - expected) < 1e-6


def test_extreme_logits_show_why_the_naive_route_fails(capsys):
    # softmax rounds e^-1000 to 0, so the seed's -log(p) is inf while torch is finite.
    assert main(["--logits", "1000,0;0,0", "--targets", "1,0"]) == 1
    out = capsys.readouterr().out
    assert "celoss (float64): inf" in out and "DISAGREE" in out
    assert "log_softmax instead: 500.34657359" in out


def test_exits_1_when_torch_disagrees(monkeypatch, capsys):
    original = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda *a, **k: original(*a, **k) + 0.01)
    assert main([]) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(capsys):
    assert main(["--targets", "0,3"]) == 2
    assert "class index 3 is out of range" in capsys.readouterr().err
    assert main(["--logits", "1,2;3", "--targets", "0,1"]) == 2
    assert "same length" in capsys.readouterr().err
    assert main(["--targets", "0"]) == 2
    assert "1 values for 2 rows" in capsys.readouterr().err

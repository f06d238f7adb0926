"""``python -m celoss``: the seed walkthrough in the terminal.

The same six steps as the notebook this project started from, on the same
logits and targets (or your own, with ``--logits`` and ``--targets``),
ending with PyTorch's value for comparison. Exits 1 if celoss and PyTorch
disagree, 2 if PyTorch is missing or the input is invalid.
"""

import argparse
import sys

import numpy as np

from .correct_class import correct_class_probs
from .loss import cross_entropy
from .parity import TOLERANCES, import_torch
from .probabilities import softmax
from .reduction import reduce_loss

SEED_LOGITS = "2.0,1.0,0.1;0.5,2.5,0.3"
SEED_TARGETS = "0,1"
RULE = "\n" + "-" * 60 + "\n"


def parse_matrix(text):
    """Rows separated by ``;``, values by ``,``: ``"2,1;0,3"`` -> (2, 2) array."""
    rows = [[float(value) for value in row.split(",")] for row in text.split(";")]
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"--logits rows must all have the same length, got {text!r}")
    return np.array(rows)  # (N, C)


def parse_targets(text):
    """Comma-separated class indices: ``"0,1"`` -> (2,) int array."""
    return np.array([int(value) for value in text.split(",")])  # (N,)


def print_step(title, description, value):
    """Print one step the way the seed notebook does."""
    print(f"## {title}\n")
    print(f"Description: {description}\n")
    print(value)
    print(RULE)


def walkthrough(logits, targets):
    """Print the six steps; return the manual float64 loss and torch's float32 loss."""
    print_step("Step 1: Define Logits and Targets",
               "Logits are raw scores (before softmax) produced by the model for each "
               "class. Targets are the ground-truth class indices.",
               {"Logits": logits, "Targets": targets})

    probs = softmax(logits, axis=1)  # (N, C)
    print_step("Step 2: Apply Softmax to Convert Logits into Probabilities",
               "Softmax normalizes logits into probabilities for each class, ensuring "
               "they sum to 1.", probs)

    correct_probs = correct_class_probs(probs, targets)  # (N,)
    print_step("Step 3: Extract Correct Class Probabilities",
               "We select the probability assigned to the true class for each sample.",
               correct_probs)

    with np.errstate(divide="ignore"):  # p = 0 gives an infinite loss, on purpose
        losses = -np.log(correct_probs)  # (N,)
    print_step("Step 4: Compute Negative Log-Likelihoods",
               "The negative log of the correct class probability: lower probabilities "
               "cost more.", losses)

    loss = float(reduce_loss(losses, "mean"))  # ()
    print_step("Step 5: Compute Final Cross-Entropy Loss",
               "The mean of the negative log-likelihoods over all samples.", loss)

    torch = import_torch()
    torch_loss = torch.nn.functional.cross_entropy(
        torch.tensor(logits, dtype=torch.float32), torch.tensor(targets, dtype=torch.long)
    ).item()
    print_step("Step 6: Compute Cross-Entropy Loss using PyTorch",
               "PyTorch's cross_entropy on the same logits, in float32.", torch_loss)
    return loss, torch_loss


def main(argv=None):
    """Run the terminal walkthrough; return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m celoss",
        description="Cross-entropy step by step, checked against PyTorch.",
    )
    parser.add_argument("--logits", default=SEED_LOGITS,
                        help=f"rows separated by ';', values by ',' (default {SEED_LOGITS})")
    parser.add_argument("--targets", default=SEED_TARGETS,
                        help=f"class indices separated by ',' (default {SEED_TARGETS})")
    args = parser.parse_args(argv)
    try:
        logits = parse_matrix(args.logits)  # (N, C)
        targets = parse_targets(args.targets)  # (N,)
        if targets.shape != logits.shape[:1]:
            raise ValueError(f"--targets has {targets.size} values for {logits.shape[0]} "
                             "rows of --logits")
        correct_class_probs(logits, targets)  # range check, before any output
    except (ValueError, IndexError) as error:
        print(f"python -m celoss: error: {error}", file=sys.stderr)
        return 2
    try:
        loss, torch_loss = walkthrough(logits, targets)
    except ImportError as error:
        print(f"python -m celoss: {error}", file=sys.stderr)
        return 2
    rtol, atol = TOLERANCES["float32"]
    agree = abs(loss - torch_loss) <= atol + rtol * abs(torch_loss)
    print(f"celoss (float64): {loss!r}")
    print(f"PyTorch (float32): {torch_loss!r}")
    print(f"{'Agree' if agree else 'DISAGREE'} within float32 tolerance "
          f"(rtol={rtol:g}, atol={atol:g}).")
    if not np.isfinite(loss):
        stable = float(cross_entropy(logits, targets))
        print("A correct-class probability rounded to 0, so -log(p) is inf. "
              f"celoss.cross_entropy works from log_softmax instead: {stable!r}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())

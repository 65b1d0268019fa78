"""Synthetic memory tasks for the gated-RNN chapter, with their memoryless baselines.

Every generator takes a numpy ``Generator`` (``rng``) and returns numpy arrays, batch first:
inputs ``x`` of shape ``(n, T, D)`` (float32) and targets ``y``. A page converts them with
``torch.from_numpy``. Each task states the loss of the best predictor that has *no memory*
(it sees only the current input, or nothing at all): a model that does not beat this
baseline has learned nothing about the long-range dependency.

- ``adding_problem``: regression, M:1. The modern form of Hochreiter & Schmidhuber's (1997)
  adding problem.
- ``marked_recall``: classification, M:1. Remember the one symbol that carries a marker.
- ``copy_task``: classification, M:M. Reproduce a short string after a blank delay.
- ``latest_mark_stream``: classification, M:M. Report, at every step, the symbol seen at
  the most recent marker: the state has to be *overwritten* again and again.
"""
from __future__ import annotations

import math

import numpy as np

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of the best constant prediction (1.0) for the adding problem: Var(u1 + u2) = 2/12."""


def adding_problem(n: int, T: int, rng: np.random.Generator):
    """The adding problem: add the two marked numbers of a sequence.

    Channel 0 of ``x`` holds values drawn from U(0, 1); channel 1 is 1 at exactly two
    positions, one in the first half of the sequence and one in the second half, and 0
    elsewhere. The target is the sum of the two marked values. The first marker lies at
    least ``T - T//2`` steps before the end, so the network must carry a number across
    at least half the sequence.

    Returns ``x`` of shape ``(n, T, 2)`` float32 and ``y`` of shape ``(n,)`` float32.
    The memoryless baseline predicts the mean 1.0 and reaches ``ADDING_BASELINE_MSE``
    = 1/6 (the variance of a sum of two independent U(0, 1) values).
    """
    if T < 2:
        raise ValueError("the adding problem needs T >= 2")
    values = rng.random((n, T))                               # (n, T)
    first = rng.integers(0, T // 2, size=n)                   # marker in the first half
    second = rng.integers(T // 2, T, size=n)                  # marker in the second half
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=-1).astype(np.float32)  # (n, T, 2)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)  # (n,)
    return x, y


def marked_recall(n: int, T: int, rng: np.random.Generator, n_symbols: int = 8):
    """Recall the marked symbol: a memory task with distractors at every step.

    At every step one of ``n_symbols`` symbols arrives, one-hot in channels
    ``0..n_symbols-1``; channel ``n_symbols`` is a marker that is 1 at exactly one
    position, drawn uniformly from the first half of the sequence. The target (read after
    the last step) is the symbol at the marked position, so it must be held for at least
    ``T - T//2`` steps while ``T//2`` or more random symbols stream past.

    Returns ``x`` of shape ``(n, T, n_symbols + 1)`` float32 and ``y`` of shape ``(n,)``
    int64 with values in ``0..n_symbols-1``. Memoryless baseline: accuracy
    ``1/n_symbols`` and cross-entropy ``ln(n_symbols)`` (see ``recall_baseline``).
    """
    if T < 2:
        raise ValueError("marked_recall needs T >= 2")
    K = n_symbols
    ids = rng.integers(0, K, size=(n, T))                     # (n, T)
    x = np.zeros((n, T, K + 1), dtype=np.float32)
    x[..., :K] = np.eye(K, dtype=np.float32)[ids]             # (n, T, K) one-hot symbols
    where = rng.integers(0, T // 2, size=n)                   # marked position
    rows = np.arange(n)
    x[rows, where, K] = 1.0
    y = ids[rows, where].astype(np.int64)                     # (n,)
    return x, y


def recall_baseline(n_symbols: int = 8):
    """(accuracy, cross-entropy) of guessing for ``marked_recall``: 1/K and ln K."""
    return 1.0 / n_symbols, math.log(n_symbols)


def copy_task(n: int, n_copy: int, delay: int, rng: np.random.Generator, n_symbols: int = 4):
    """A short copy task: read ``n_copy`` symbols, wait ``delay`` steps, write them back.

    Alphabet: symbols ``0..n_symbols-1``, a blank ``n_symbols`` and a "go" marker
    ``n_symbols + 1``. The input is the string, then ``delay - 1`` blanks and one "go",
    then ``n_copy`` blanks (length ``T = 2 * n_copy + delay``). The target is blank
    everywhere except the last ``n_copy`` steps, which hold the string.

    Returns ``x`` of shape ``(n, T, n_symbols + 2)`` float32 (one-hot) and ``y`` of shape
    ``(n, T)`` int64. Memoryless baseline on the last ``n_copy`` steps (the only ones that
    need memory): accuracy ``1/n_symbols``, cross-entropy ``ln(n_symbols)`` per step.
    Every symbol of the string must be stored, so even short strings need many thousands of
    Adam steps: an exercise, not a build-time demo.
    """
    if delay < 1:
        raise ValueError("copy_task needs delay >= 1")
    K = n_symbols
    blank, go = K, K + 1
    T = 2 * n_copy + delay
    string = rng.integers(0, K, size=(n, n_copy))             # (n, n_copy)
    ids = np.full((n, T), blank, dtype=np.int64)
    ids[:, :n_copy] = string
    ids[:, n_copy + delay - 1] = go
    x = np.eye(K + 2, dtype=np.float32)[ids]                  # (n, T, K + 2)
    y = np.full((n, T), blank, dtype=np.int64)
    y[:, -n_copy:] = string
    return x, y


def latest_mark_stream(n: int, T: int, rng: np.random.Generator, n_symbols: int = 4,
                       p_mark: float = 0.1):
    """A continual stream: at every step, report the symbol seen at the latest marker.

    Inputs are one-hot symbols (channels ``0..n_symbols-1``) plus a marker channel that is
    1 with probability ``p_mark`` at each step (and always at step 1). The target at step
    ``t`` is the symbol at the most recent marked step ``<= t``. A new marker makes the
    old symbol worthless, so the state has to be *replaced*, not added to: this is the
    setting of Gers, Schmidhuber & Cummins (2000), where an LSTM without a forget gate
    breaks down on long input streams.

    Returns ``x`` of shape ``(n, T, n_symbols + 1)`` float32 and ``y`` of shape ``(n, T)``
    int64. Memoryless baseline: a model that sees only the current input is right on the
    marked steps and guesses elsewhere, accuracy ``p + (1 - p)/n_symbols`` with
    ``p`` the fraction of marked steps.
    """
    K = n_symbols
    ids = rng.integers(0, K, size=(n, T))                     # (n, T)
    marked = rng.random((n, T)) < p_mark
    marked[:, 0] = True
    x = np.zeros((n, T, K + 1), dtype=np.float32)
    x[..., :K] = np.eye(K, dtype=np.float32)[ids]
    x[..., K] = marked
    last = np.maximum.accumulate(np.where(marked, np.arange(T), 0), axis=1)  # (n, T)
    y = np.take_along_axis(ids, last, axis=1).astype(np.int64)               # (n, T)
    return x, y

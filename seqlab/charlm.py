"""Plumbing for character-level language models: batching, bits per character, sampling.

Written for the page *A character-level language model* (chapter *Recurrent networks*) and
meant to be shared by every language model of the book, recurrent or not, so that all of them
are trained on the same split (`seqlab.data.char_splits()`) and scored by the same numbers.

The model protocol
------------------
A *language model* here is any callable (usually an `nn.Module`) that maps ids `x: (N, T)`
int64 to next-character logits `o: (N, T, C)`, where `o[:, t]` may depend on `x[:, :t+1]`
only. A *recurrent* language model may also take a state as its second argument and return
`(logits, state)`; `state` is whatever the model wants to get back on its next call (for a
`torch.nn.RNN` inside, its `h_n` of shape `(num_layers, N, H)`), and `None` means "start
from h_0 = 0". The functions below look at what the model returns to tell the two apart.

Contents
--------
Batching
    `to_streams(ids, n_streams)`        the text as N contiguous rows, for truncated BPTT
    `n_windows(streams, window)`         how many consecutive windows one pass has
    `stream_window(streams, k, window)`  window k of every row: inputs and targets (N, T)
    `random_windows(ids, N, T, rng)`     N windows at random offsets (stateless models)
Evaluation
    `evaluate_bpc(model, ids, context="window" | "stream", window=...)`
                                         validation cross-entropy in bits per character
    `unigram_bpc`, `bigram_bpc`, `unigram_entropy`   count baselines
Sampling
    `tempered_probs(o, temperature)`     softmax(o / tau); tau = 0 is the argmax
    `next_char_probs(model, prompt_ids)` the distribution of the character after a prompt
    `sample(model, prompt_ids, n_new, temperature=...)`   generate text

Bits per character: the mean next-character cross-entropy in nats divided by ln 2. The
"window" evaluation is the one `seqlab.gpt.evaluate_bpc` computes (consecutive windows of
`window + 1` characters, each character predicted from at most `window` characters before it),
so a recurrent model and a Transformer scored with the same `window` see the same context.
The "stream" evaluation lets a recurrent model carry its state through the whole text.
"""
from __future__ import annotations

import contextlib
import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


@contextlib.contextmanager
def eval_mode(model):
    """Put `model` in eval mode for the block and restore its mode afterwards, even if the
    block raises. Works for any callable; only modules with a `training` flag are switched."""
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()

__all__ = ["LN2", "eval_mode", "to_streams", "n_windows", "stream_window", "random_windows",
           "evaluate_bpc", "unigram_entropy", "unigram_bpc", "bigram_bpc",
           "tempered_probs", "next_char_probs", "sample"]


# ------------------------------------------------------------------------------ batching
def to_streams(ids: np.ndarray, n_streams: int) -> torch.Tensor:
    """Cut the text into `n_streams` contiguous rows of equal length: (N, L) int64.

    Row i is the i-th of N equal, consecutive pieces of the text (the few characters that do
    not fill a row are dropped). Window k + 1 of a row continues window k of the same row, so
    a recurrent model can carry its state from one window to the next.
    """
    ids = np.asarray(ids)
    L = len(ids) // n_streams
    if L < 2:
        raise ValueError(f"{len(ids)} characters are too few for {n_streams} streams")
    return torch.from_numpy(np.ascontiguousarray(ids[:n_streams * L]).reshape(n_streams, L))


def n_windows(streams: torch.Tensor, window: int) -> int:
    """Number of whole windows of `window` inputs (plus one target) in one pass."""
    return (streams.shape[1] - 1) // window


def stream_window(streams: torch.Tensor, k: int, window: int):
    """Window k of every row: inputs x (N, T) and next-character targets y (N, T), T = window.

    y[:, t] = x[:, t + 1] inside the window, and the last target is the first input of
    window k + 1.
    """
    if not 0 <= k < n_windows(streams, window):
        raise IndexError(f"window {k} outside 0..{n_windows(streams, window) - 1}")
    start = k * window
    chunk = streams[:, start:start + window + 1]            # (N, T + 1)
    return chunk[:, :-1], chunk[:, 1:]                       # (N, T), (N, T)


def random_windows(ids: np.ndarray, batch_size: int, window: int, rng: np.random.Generator):
    """`batch_size` windows at random offsets: inputs x (N, T) and targets y (N, T).

    For models without a state (n-gram nets, Transformers), or for recurrent models trained
    from h_0 = 0 on every window.
    """
    starts = rng.integers(0, len(ids) - window - 1, size=batch_size)
    idx = starts[:, None] + np.arange(window + 1)[None, :]  # (N, T + 1)
    w = torch.from_numpy(np.asarray(ids)[idx])
    return w[:, :-1], w[:, 1:]                               # (N, T), (N, T)


# ---------------------------------------------------------------------------- evaluation
def _split_output(out):
    """(logits, state) from a recurrent model, (logits, None) from a stateless one."""
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def _call(model, x, state=None):
    return _split_output(model(x) if state is None else model(x, state))


@torch.no_grad()
def evaluate_bpc(model, ids: np.ndarray, *, context: str = "window", window: int = 64,
                 n_streams: int = 16, batch_size: int = 256,
                 max_chars: Optional[int] = None) -> float:
    """Mean next-character cross-entropy on `ids` in bits per character.

    context="window": the text is cut into consecutive windows of `window + 1` characters
        that overlap by one (the last character of a window is the first of the next); each
        window is read from a fresh state, and every character but the first of each window
        is predicted from the characters before it in its window (at most `window` of them).
        Any language model works; the number equals `seqlab.gpt.evaluate_bpc`.
    context="stream": a recurrent model reads the text as `n_streams` contiguous rows, carrying
        its state along each row in chunks of `window` steps, so a character is predicted from
        everything before it in its row (about len(ids) / n_streams characters at most). Every
        character except the first of each row is scored, none twice.

    `max_chars` scores a prefix of the text only (cheap learning curves). The model is put in
    eval mode and restored afterwards.
    """
    ids = np.asarray(ids if max_chars is None else ids[:max_chars])
    total, count = 0.0, 0
    with eval_mode(model):
        if context == "window":
            n_win = (len(ids) - 1) // window
            idx = np.arange(n_win)[:, None] * window + np.arange(window + 1)[None, :]  # (n_win, T + 1)
            w = torch.from_numpy(ids[idx])
            for i in range(0, n_win, batch_size):
                x, y = w[i:i + batch_size, :-1], w[i:i + batch_size, 1:]               # (n, T), (n, T)
                o, _ = _call(model, x)                                                  # (n, T, C)
                total += F.cross_entropy(o.reshape(-1, o.shape[-1]), y.reshape(-1),
                                         reduction="sum").item()
                count += y.numel()
        elif context == "stream":
            rows = to_streams(ids, n_streams)                                           # (N, L)
            state = None
            for start in range(0, rows.shape[1] - 1, window):
                chunk = rows[:, start:start + window + 1]                               # (N, <= T + 1)
                o, state = _call(model, chunk[:, :-1], state)                           # (N, T, C)
                if state is None:
                    raise ValueError("context='stream' needs a recurrent model that returns "
                                     "(logits, state)")
                total += F.cross_entropy(o.reshape(-1, o.shape[-1]), chunk[:, 1:].reshape(-1),
                                         reduction="sum").item()
                count += chunk[:, 1:].numel()
        else:
            raise ValueError(f"context must be 'window' or 'stream', not {context!r}")
    return total / count / LN2


def unigram_entropy(train_ids: np.ndarray, vocab_size: int) -> float:
    """Entropy in bits of the character frequencies of the training text."""
    p = np.bincount(train_ids, minlength=vocab_size) / len(train_ids)  # (C,)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def unigram_bpc(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int,
                alpha: float = 1.0) -> float:
    """Bits per character on `val_ids` of the character frequencies of `train_ids`.

    Add-`alpha` smoothing, so that a character never seen in training costs a finite amount.
    """
    counts = np.bincount(train_ids, minlength=vocab_size) + alpha     # (C,)
    p = counts / counts.sum()
    return float(-np.log2(p[val_ids]).mean())


def bigram_bpc(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int,
               alpha: float = 0.5) -> float:
    """Bits per character on `val_ids` of bigram counts p(next | previous) from `train_ids`.

    Add-`alpha` smoothing of every row of the (C, C) count table; the first character of
    `val_ids` is not scored.
    """
    counts = np.full((vocab_size, vocab_size), alpha)                  # (C, C): [previous, next]
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    p = counts / counts.sum(axis=1, keepdims=True)                     # rows sum to 1
    return float(-np.log2(p[val_ids[:-1], val_ids[1:]]).mean())


# ------------------------------------------------------------------------------ sampling
def tempered_probs(o: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(o / temperature) on the last axis; temperature 0 puts all mass on the argmax."""
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return F.one_hot(o.argmax(dim=-1), o.shape[-1]).to(o.dtype)
    return torch.softmax(o / temperature, dim=-1)


@torch.no_grad()
def next_char_probs(model, prompt_ids, temperature: float = 1.0,
                    window: Optional[int] = None) -> np.ndarray:
    """Distribution (C,) of the character that follows `prompt_ids` (1-D ids).

    A stateless model sees the last `window` ids of the prompt (all of it when None).
    """
    ids = torch.as_tensor(np.asarray(prompt_ids), dtype=torch.int64).view(1, -1)  # (1, T0)
    if window is not None:
        ids = ids[:, -window:]
    with eval_mode(model):
        o, _ = _call(model, ids)                                       # (1, T0, C)
    return tempered_probs(o[0, -1], temperature).double().numpy()


@torch.no_grad()
def sample(model, prompt_ids, n_new: int, *, temperature: float = 1.0,
           generator: Optional[torch.Generator] = None,
           window: Optional[int] = None) -> np.ndarray:
    """Generate `n_new` ids after `prompt_ids` (1-D, at least one id); returns (n_new,) int64.

    Each new character is drawn from softmax(o / temperature) (temperature 0: greedy argmax)
    and fed back as the next input. A recurrent model reads the prompt once and then one
    character per step, carrying its state. A stateless model re-reads the last `window` ids
    at every step (`window` is required for it).
    """
    ids = torch.as_tensor(np.asarray(prompt_ids), dtype=torch.int64).view(1, -1)  # (1, T0)
    if ids.shape[1] == 0:
        raise ValueError("the prompt needs at least one character")
    with eval_mode(model):
        o, state = _call(model, ids if window is None else ids[:, -window:])
        new = []
        for _ in range(n_new):
            p = tempered_probs(o[0, -1].double(), temperature)             # (C,)
            nxt = torch.multinomial(p, 1, generator=generator)             # (1,)
            new.append(int(nxt))
            if state is not None:                                          # recurrent: one step
                o, state = _call(model, nxt.view(1, 1), state)
            else:                                                          # stateless: re-read
                if window is None:
                    raise ValueError("a stateless model needs `window`")
                ids = torch.cat([ids, nxt.view(1, 1)], dim=1)[:, -window:]
                o, _ = _call(model, ids)
    return np.array(new, dtype=np.int64)

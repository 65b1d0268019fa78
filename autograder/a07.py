"""Checks for assignment a07 (lab Task 2: a GRU/LSTM sentiment classifier of film reviews).

Data: the Rotten Tomatoes review sentences of `seqlab.labs.text.load_reviews("film")`
(human ratings, positive vs negative), encoded as word ids by `load_review_ids` (0 = padding,
1 = unknown word, the vocabulary from the training split only).

How the trained model comes back, and why. The student's `train_classifier` runs in the
judge's worker and returns *data only*: a spec (`cell`, `emb`, `hidden`, `bidirectional`) and
a state dict of arrays with the parameter names of the course's model family
(`embed`, `rnn`, `out`: torch.nn.Embedding, GRU/LSTM, Linear). The trusted process rebuilds
the model from its own code (`reference_model`), loads the arrays, and computes the held-out
accuracy itself. The other design -- sending held-out sentences to the worker's model and
reading its predictions -- would hand the held-out inputs to student code, which can look
them up (the rated sentences ship in data/) instead of classifying them; here neither the
held-out sentences nor their labels ever reach the worker. The student's own forward pass is
graded separately (`check_model`): the same parameters in the student's module and in the
reference must give the same logits.

The hidden training case renumbers the vocabulary with a secret permutation (drawn at grading
time): the worker sees word ids it cannot map back to the public data, so weights prepared in
advance or a classifier that reads the data files instead of learning cannot pass.
"""
from __future__ import annotations

import time
from collections import Counter
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn

from .checks import CheckFailure, Mistakes, check_close
from .harness import call, distinct_sizes, run_cases, unpack

CASES_HIDDEN = ("regular", "lstm", "bidirectional", "single")
TRAINING_CASES = ("visible", "hidden")  # seed=None runs "hidden"; a seed runs "visible"

# The training check (stated in the assignment). Calibration (scripts/calibrate_a07.py, 16
# hidden draws in two runs): the master reaches 0.762-0.791; trainers whose optimiser never
# steps, that ascend the loss, or use lr = 1e-5 stay at 0.44-0.53. A model that reads the
# padding as words still trains to about 0.74 here: Part 1 (check_model) catches that one.
THRESHOLD = 0.65      # held-out accuracy (majority class: about 0.5)
TIME_BUDGET_S = 2.0   # CPU seconds passed to train_classifier
TIME_LIMIT_S = 9.0    # wall seconds accepted for the call (the judge stops any call at 10 s)
MAX_SIZE = 256        # largest emb / hidden accepted
MIN_COUNT = 2


# ---------------------------------------------------------------- data
def load_review_ids(min_count: int = MIN_COUNT):
    """{'vocab': list of words (index = id), 'train'|'val'|'test': (ids (N, T) int64,
    lengths (N,) int64, labels (N,) int64)}; ids 0 = <pad>, 1 = <unk>. A fresh copy each
    time (the text is parsed once per process)."""
    d = _review_ids(min_count)
    return {k: list(v) if k == "vocab" else tuple(a.copy() for a in v) for k, v in d.items()}


@lru_cache(maxsize=2)
def _review_ids(min_count: int):
    from seqlab.labs.text import load_reviews
    d = load_reviews("film")
    counts = Counter(w for t in d["train"][0] for w in t)
    vocab = ["<pad>", "<unk>"] + sorted(w for w, c in counts.items() if c >= min_count)
    index = {w: i for i, w in enumerate(vocab)}
    out = {"vocab": vocab}
    for split, (texts, labels) in d.items():
        seqs = [[index.get(w, 1) for w in t] or [1] for t in texts]
        ids = np.zeros((len(seqs), max(map(len, seqs), default=1)), dtype=np.int64)  # (N, T)
        for n, s in enumerate(seqs):
            ids[n, :len(s)] = s
        out[split] = (ids, np.array([len(s) for s in seqs], dtype=np.int64),
                      np.asarray(labels, dtype=np.int64))
    return out


# ---------------------------------------------------------------- the reference model
class ReferenceClassifier(nn.Module):
    """Embedding -> GRU/LSTM (packed: padding ignored) -> Linear on the last state(s)."""

    def __init__(self, vocab_size, emb, hidden, cell="gru", bidirectional=False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](emb, hidden, batch_first=True,
                                                           bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), 1)

    def forward(self, ids, lengths, pack=True):
        e = self.embed(ids)                                             # (N, T, E)
        if pack:
            seq = nn.utils.rnn.pack_padded_sequence(e, lengths.cpu(), batch_first=True,
                                                    enforce_sorted=False)
            _, h_n = self.rnn(seq)
        else:  # a known mistake: the padding is read as if it were words
            _, h_n = self.rnn(e)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n                 # (dirs, N, H)
        return self.out(torch.cat(list(h_n), dim=-1))[:, 0]             # (N,) logits


def reference_model(vocab_size: int, spec: dict) -> ReferenceClassifier:
    return ReferenceClassifier(vocab_size, spec["emb"], spec["hidden"], spec["cell"],
                               spec["bidirectional"])


# ---------------------------------------------------------------- part 1: the model
def _model_case(c):
    rng, kind = c.rng, c.kind
    cell = "lstm" if kind == "lstm" else str(rng.choice(["gru", "lstm"])) \
        if kind != "regular" else "gru"
    bi = kind == "bidirectional"
    if kind == "single":
        N, T = 1, 1
        E, H = distinct_sizes(rng, (2, 7), (2, 8))
        V = int(rng.integers(6, 20))
    else:  # all different, so that a swapped axis cannot pass by accident
        N, E, H, T, V = distinct_sizes(rng, (2, 6), (2, 7), (2, 8), (3, 9), (6, 20))
    lengths = np.full(N, T) if kind == "single" else rng.integers(1, T + 1, size=N)
    lengths[0] = T
    if N > 1:
        lengths[-1] = max(1, T - 2)     # always some padding
    ids = rng.integers(2, V, size=(N, T))
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0                 # padding = 0
    spec = {"emb": E, "hidden": H, "cell": cell, "bidirectional": bi}
    c.label = (f"{kind} case: {cell}, bidirectional={bi}, V={V}, emb={E}, hidden={H}, N={N}, "
               f"T={T}, lengths={lengths.tolist()}")
    return V, spec, ids, lengths


PADDING = {"reads_padding": "the padding is read as words (the last state is taken at "
                            "position T, not at each sentence's length: pack the sequence, "
                            "or gather the state at length - 1)"}


def check_model(ReviewClassifier, seed=None, case=None):
    """ReviewClassifier(vocab_size, emb, hidden, cell, bidirectional) has the parameters of
    the reference (names and shapes) and the same logits for the same parameters."""
    def body(c):
        V, spec, ids, lengths = _model_case(c)
        gen = c.torch_generator()
        ref = reference_model(V, spec).double()
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.7)
        mine = call("ReviewClassifier(...)", ReviewClassifier, V, spec["emb"],
                    spec["hidden"], spec["cell"], spec["bidirectional"])
        if not isinstance(mine, nn.Module):
            raise CheckFailure("ReviewClassifier(...) must build a torch.nn.Module.",
                               ["not_a_module"])
        mine = mine.double()
        want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
        if want != have:
            raise CheckFailure(
                "ReviewClassifier's parameters must be named and shaped like the "
                f"course's model: {sorted(want.items())}; yours: {sorted(have.items())}.",
                ["wrong_parameters"])
        mine.load_state_dict(ref.state_dict())
        ids_t, len_t = torch.tensor(ids), torch.tensor(lengths)
        with torch.no_grad():
            expected = ref(ids_t, len_t).numpy()
            got = mine(ids_t.clone(), len_t.clone())
        if not isinstance(got, torch.Tensor):
            raise CheckFailure(f"forward must return a tensor, got {type(got).__name__}.",
                               ["not_a_tensor"])

        def unpacked():
            with torch.no_grad():
                return ref(ids_t, len_t, pack=False).numpy()
        check_close("logits", got.detach().double().numpy(), expected, axes=("N",),
                    known=Mistakes.of({k: (m, unpacked) for k, m in PADDING.items()}))
    run_cases("ReviewClassifier", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- part 2: training
def training_task(rng, kind: str):
    """(train (ids, lengths, labels), held-out (ids, lengths, labels), vocab size). Hidden:
    the vocabulary renumbered by a secret permutation; held out = validation + test."""
    d = load_review_ids()
    V = len(d["vocab"])
    if kind == "visible":
        return d["train"], d["val"], V
    perm = np.arange(V)
    perm[2:] = 2 + rng.permutation(V - 2)                               # 0 and 1 stay
    T = max(d["val"][0].shape[1], d["test"][0].shape[1])
    pad = [np.pad(d[s][0], ((0, 0), (0, T - d[s][0].shape[1]))) for s in ("val", "test")]
    held = (perm[np.concatenate(pad)], np.concatenate([d["val"][1], d["test"][1]]),
            np.concatenate([d["val"][2], d["test"][2]]))
    ids, lengths, labels = d["train"]
    return (perm[ids], lengths, labels), held, V


def _check_returned(out, V):
    spec, state = unpack("train_classifier", out, 2)
    if not isinstance(spec, dict) or set(spec) != {"cell", "emb", "hidden", "bidirectional"}:
        raise CheckFailure("train_classifier must return (spec, state) with spec a dict of "
                           "exactly 'cell', 'emb', 'hidden', 'bidirectional'.",
                           ["wrong_spec"])
    if spec["cell"] not in ("gru", "lstm") or not isinstance(spec["bidirectional"], bool) or \
            any(not isinstance(spec[k], (int, np.integer)) or not 1 <= int(spec[k]) <= MAX_SIZE
                for k in ("emb", "hidden")):
        raise CheckFailure(f"spec must have cell 'gru' or 'lstm', bidirectional a bool, and "
                           f"emb, hidden integers from 1 to {MAX_SIZE}; got {spec}.",
                           ["wrong_spec"])
    spec = {**spec, "emb": int(spec["emb"]), "hidden": int(spec["hidden"])}
    model = reference_model(V, spec)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if not isinstance(state, dict) or set(state) != set(want):
        raise CheckFailure("state must be a dict of arrays named like the model's state_dict "
                           f"({sorted(want)}); got "
                           + (f"{sorted(state)}" if isinstance(state, dict)
                              else type(state).__name__), ["wrong_keys"])
    tensors = {}
    for k, shape in want.items():
        v = state[k]
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        if type(v) is not np.ndarray or v.dtype not in (np.float32, np.float64) or \
                v.shape != shape:
            raise CheckFailure(f"state['{k}'] must be a float32/float64 numpy array of shape "
                               f"{shape}; got {type(v).__name__} "
                               f"{getattr(v, 'dtype', '')} {getattr(v, 'shape', '')}.",
                               ["wrong_array"])
        if not np.all(np.isfinite(v)):
            raise CheckFailure(f"state['{k}'] contains NaN or inf: did the training diverge?",
                               ["diverged"])
        tensors[k] = torch.tensor(v, dtype=torch.float32)
    model.load_state_dict(tensors)
    return model.eval(), spec


def accuracy(model, split) -> float:
    ids, lengths, labels = split
    with torch.no_grad():
        logits = model(torch.tensor(ids), torch.tensor(lengths))
    return float(((logits > 0).numpy().astype(np.int64) == labels).mean())


def check_training(train_classifier, seed=None, case=None):
    """train_classifier(ids, lengths, labels, vocab_size, time_budget) -> (spec, state); the
    rebuilt model must reach THRESHOLD accuracy on sentences it never sees.
    seed=None: one hidden case; a seed: the visible case (case="hidden" replays a hidden one)."""
    def body(c):
        train, held, V = training_task(c.rng, c.kind)
        c.label = f"{c.kind} training case: {len(train[2])} training sentences"
        t0 = time.perf_counter()
        out = call("train_classifier", train_classifier, train[0], train[1], train[2], V,
                   TIME_BUDGET_S, arg_names=("ids", "lengths", "labels", "vocab_size",
                                             "time_budget"))
        seconds = time.perf_counter() - t0
        if seconds > TIME_LIMIT_S:
            raise CheckFailure(f"train_classifier took {seconds:.1f} s; it must stop "
                               f"after time_budget = {TIME_BUDGET_S:g} s of CPU time.",
                               ["over_time_budget"])
        model, spec = _check_returned(out, V)
        acc = accuracy(model, held)
        if acc < THRESHOLD:
            raise CheckFailure(
                f"held-out accuracy {acc:.3f} < {THRESHOLD} on {len(held[2])} sentences "
                "your code never saw (the majority class gets about 0.5). Does the "
                "training loss go down? Check the loss, the labels' dtype, the optimiser "
                "step and the learning rate.", ["below_threshold"])
        print(f"train_classifier ({c.kind}): held-out accuracy {acc:.3f} >= {THRESHOLD} on "
              f"{len(held[2])} sentences, {spec['cell']} emb={spec['emb']} "
              f"hidden={spec['hidden']}, {seconds:.1f} s")
    run_cases("train_classifier", seed, case, body,
              TRAINING_CASES[1:] if seed is None else TRAINING_CASES)

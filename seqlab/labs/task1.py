"""Task 1 of the lab: predict the 4th element of a sequence from the three before it.

One fixed split and one metric per variant, so that the lab page and any graded work built on
it (a06) measure the same thing. Every split is *in order*: the test part comes after the
training part in the source (later text, later images of the bundle, later days), and nothing
is shuffled across that boundary.

    data = load_task1("words" | "frames" | "temperature")
    data.x_train (N, 3, D), data.y_train, data.x_test, data.y_test
    score(data, prediction)        # the variant's metric on the test part
    baselines(data)                # {name: metric} of the trivial predictors

- words: lower-cased words of the docstring corpus (data/python-docstrings.txt); the vocabulary
  is the `vocab_size` most frequent training words plus `<unk>`; x is one-hot (N, 3, V), y the
  id of the 4th word (windows whose 4th word is `<unk>` are dropped; windows never cross a
  paragraph). First 80% of the paragraphs train, last 20% test. Metric: accuracy (higher is
  better); `prediction` is (N,) ids or (N, V) scores.
- frames: digit images moving one pixel per frame (`images.animate`, 12x12 canvas); x (N, 3, 144)
  pixel values in [0, 1], y (N, 144) the 4th frame. The images of the first 75% of the bundle
  train (each in 4 random motions), the last 25% test (one motion each).
  Metric: mean squared error per pixel (lower is better).
- temperature: daily maximum temperature at Seattle 2012-2015 (vega_datasets), °C; x (N, 3, 1),
  y (N,). Windows of the first 70% of the days train, of the last 30% test (no window straddles
  the cut). Metric: RMSE in °C (lower is better).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

KINDS = ("words", "frames", "temperature")
HIGHER_IS_BETTER = {"words": True, "frames": False, "temperature": False}
METRIC_NAME = {"words": "accuracy", "frames": "MSE per pixel", "temperature": "RMSE (°C)"}


@dataclass
class Task1Data:
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return METRIC_NAME[self.kind]


def _windows(seq, k: int = 4):
    seq = np.asarray(seq)
    idx = np.arange(len(seq) - k + 1)[:, None] + np.arange(k)      # (M, k)
    return seq[idx]


def load_words(vocab_size: int = 400, train_fraction: float = 0.8) -> Task1Data:
    from ..data import load_corpus

    paragraphs = [re.findall(r"[a-z]+", line.lower()) for line in load_corpus().splitlines()]
    paragraphs = [p for p in paragraphs if len(p) >= 4]
    cut = int(len(paragraphs) * train_fraction)
    counts = Counter(w for p in paragraphs[:cut] for w in p)
    words = ["<unk>"] + [w for w, _ in counts.most_common(vocab_size)]
    index = {w: i for i, w in enumerate(words)}

    def make(paras):
        wins = [_windows([index.get(w, 0) for w in p]) for p in paras]
        wins = np.concatenate(wins)                                   # (M, 4)
        return wins[wins[:, 3] != 0]                                  # never ask for <unk>

    train, test = make(paragraphs[:cut]), make(paragraphs[cut:])
    eye = np.eye(len(words))
    return Task1Data("words", eye[train[:, :3]], train[:, 3], eye[test[:, :3]], test[:, 3],
                     {"vocab": words, "ids_train": train, "ids_test": test,
                      "source": "docstrings of the Python standard library (PSF licence)"})


def load_frames(canvas: int = 12, test_fraction: float = 0.25, copies: int = 4) -> Task1Data:
    from .images import animate, load_digit_images, split_index

    images, labels = load_digit_images()
    tr, te = split_index(len(images), test_fraction)
    rng = np.random.default_rng(0)
    train, vel_tr = animate(np.repeat(images[tr], copies, axis=0), 4, canvas, rng)  # each
    test, vel_te = animate(images[te], 4, canvas, rng)     # training image in `copies` motions
    train = train.reshape(len(train), 4, canvas * canvas)             # (N, 4, P)
    test = test.reshape(len(test), 4, canvas * canvas)
    return Task1Data("frames", train[:, :3], train[:, 3], test[:, :3], test[:, 3],
                     {"canvas": canvas, "velocity_train": vel_tr, "velocity_test": vel_te,
                      "labels_test": labels[te],
                      "source": "scikit-learn load_digits (UCI optdigits, CC BY 4.0)"})


def load_temperature(train_fraction: float = 0.7) -> Task1Data:
    from ..timeseries import load_seattle_tmax

    s = load_seattle_tmax()
    cut = int(len(s.values) * train_fraction)
    train, test = _windows(s.values[:cut]), _windows(s.values[cut:])
    return Task1Data("temperature", train[:, :3, None], train[:, 3], test[:, :3, None], test[:, 3],
                     {"dates_test": s.dates[cut + 3:], "cut_date": s.dates[cut],
                      "source": s.source})


def load_task1(kind: str) -> Task1Data:
    return {"words": load_words, "frames": load_frames, "temperature": load_temperature}[kind]()


def score(data: Task1Data, prediction, split: str = "test") -> float:
    """The variant's metric of `prediction` against the chosen split's targets."""
    y = data.y_test if split == "test" else data.y_train
    p = np.asarray(prediction)
    if data.kind == "words":
        if p.ndim == 2:
            p = p.argmax(1)
        if p.shape != y.shape:
            raise ValueError(f"expected {y.shape} word ids, got {p.shape}")
        return float((p == y).mean())
    if p.shape != y.shape:
        raise ValueError(f"expected predictions of shape {y.shape}, got {p.shape}")
    if data.kind == "frames":
        return float(((p - y) ** 2).mean())
    return float(np.sqrt(((p - y) ** 2).mean()))


def baselines(data: Task1Data) -> dict:
    """Trivial predictors on the test part, fitted on the training part only."""
    if data.kind == "words":
        V = len(data.meta["vocab"])
        unigram = np.bincount(data.y_train, minlength=V).argmax()
        prev_tr, prev_te = data.meta["ids_train"][:, 2], data.meta["ids_test"][:, 2]
        table = np.zeros((V, V))                       # counts of (3rd word, 4th word)
        np.add.at(table, (prev_tr, data.y_train), 1)
        bigram = np.where(table.sum(1) > 0, table.argmax(1), unigram)
        return {"most frequent word": score(data, np.full_like(data.y_test, unigram)),
                "bigram (most frequent after the 3rd word)": score(data, bigram[prev_te])}
    if data.kind == "frames":
        return {"copy the 3rd frame": score(data, data.x_test[:, 2]),
                "mean training frame": score(data, np.broadcast_to(data.y_train.mean(0),
                                                                  data.y_test.shape))}
    return {"persistence (4th = 3rd)": score(data, data.x_test[:, 2, 0]),
            "mean of the three": score(data, data.x_test[:, :, 0].mean(1)),
            "training mean": score(data, np.full_like(data.y_test, data.y_train.mean()))}

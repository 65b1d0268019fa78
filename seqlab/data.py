"""Loading the book's real data sets. Nothing here touches the network.

- `load_corpus()`: English prose from the Python standard library's docstrings
  (data/python-docstrings.txt, rebuilt by data/build_corpus.py; PSF License).
- `char_splits()`: the one character-level train/validation split that every language
  model in the book uses, so that their bits per character can be compared.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import DATA_DIR

CORPUS_PATH = Path(DATA_DIR) / "python-docstrings.txt"


def load_corpus() -> str:
    """The docstring corpus as one string (about 287k ASCII characters)."""
    if not CORPUS_PATH.exists():
        raise FileNotFoundError(
            f"{CORPUS_PATH} is missing: run `python data/build_corpus.py` to rebuild it")
    return CORPUS_PATH.read_text(encoding="ascii")


@dataclass
class CharData:
    """A corpus encoded as integer ids with its vocabulary."""
    chars: list          # id -> character, sorted
    train: np.ndarray    # (n_train,) int64 ids, the first 90% of the corpus
    val: np.ndarray      # (n_val,) int64 ids, the last 10% (a temporal split, never shuffled)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        index = {ch: i for i, ch in enumerate(self.chars)}
        return np.array([index[ch] for ch in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def char_splits(train_fraction: float = 0.9) -> CharData:
    """Encode the corpus by character and split it in time: first 90% train, last 10% val."""
    text = load_corpus()
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    cut = int(len(ids) * train_fraction)
    return CharData(chars=chars, train=ids[:cut], val=ids[cut:])

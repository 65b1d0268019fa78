"""The glossary's "Where it is used" links point at pages that use the term.

Each row of the table in book/glossary.md ends with one or more {doc} links. Every linked
page must exist, be in the table of contents, and contain the English term (case-insensitive),
one of its parts (the words before a parenthesis, or the abbreviation inside it), or one of
the synonyms declared below. A row without a link must say why ("no page yet").
"""
import re

import pytest
import yaml

from course import ROOT

BOOK = ROOT / "book"
GLOSSARY = BOOK / "glossary.md"
DOC_LINK = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")

# Spellings a page may use for a glossary term, besides the term itself. Keep this short:
# a term that needs a synonym here is usually linked to the wrong page.
SYNONYMS = {
    "lemmatisation": ["lemmatization"],
    "layer normalisation": ["layernorm", "layer norm"],
    "unrolling (unfolding) in time": ["unroll", "unfold"],
    "train/test split": ["temporal split", "test split"],
    "multi-head attention": ["multi-head", "multihead"],
    "query, key, value": ["queries, keys", "query", "key"],
    "start and end tokens": ["start token", "<start>", "end token", "<sos>", "<eos>"],
    "coupled input and forget gates": ["coupled", "cifg"],
    "temperature sampling": ["temperature"],
    "gradient check": ["gradcheck", "checked against"],
    "fully recurrent network (FRNN)": ["fully recurrent"],
    "tanh (hyperbolic tangent)": ["tanh"],
    "peephole connection": ["peephole"],
    "Conv1D (one-dimensional convolution)": ["conv1d"],
    "epochwise BPTT": ["epochwise"],
    "activation function": ["nonlinearity"],
    "anomaly detection": ["anomaly"],
    "feedforward network": ["feed-forward network"],
    "gated RNN": ["gated recurrent"],
    "long-term dependency": ["long dependenc", "long-range dependenc"],
    "loss function": ["loss"],
    "one-hot encoding": ["one-hot"],
    "one-to-many": ["one to many"],
    "many-to-one": ["many to one"],
    "many-to-many": ["many to many"],
    "one-to-one": ["one to one"],
    "pooling": ["max-over-time pooling"],
    "sentiment analysis": ["sentiment"],
    "soft attention": ['"soft" choice'],
    "supervised learning": ["supervised"],
    "weight sharing": ["shared weights", "same weights"],
}


def rows():
    out = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if line.startswith("| **"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out.append((cells[0].strip("*"), cells[3]))
    return out


def spellings(term):
    forms = {term}
    m = re.match(r"^(.*?)\s*\((.*?)\)\s*(.*)$", term)
    if m:
        before, inside, after = m.groups()
        forms |= {before, (before + " " + after).strip(), inside}
    forms |= set(SYNONYMS.get(term, []))
    return {f.lower() for f in forms if f}


def toc_docs():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = {toc["root"]}

    def walk(entries):
        for e in entries:
            docs.add(e["file"])
            walk(e.get("sections", []))
    for part in toc.get("parts", []):
        walk(part["chapters"])
    return docs


ROWS = rows()


def test_table_is_parsed():
    assert len(ROWS) > 100, f"only {len(ROWS)} glossary rows found"


@pytest.mark.parametrize("term,where", ROWS, ids=[t for t, _ in ROWS])
def test_linked_pages_use_the_term(term, where):
    targets = DOC_LINK.findall(where)
    if not targets:
        assert "no page yet" in where, f"{term!r}: no {{doc}} link and no reason given: {where!r}"
        return
    toc = toc_docs()
    forms = spellings(term)
    for target in targets:
        page = BOOK / f"{target}.md"
        assert page.exists(), f"{term!r} links to {target}, which does not exist"
        assert f"book/{target}" in toc, f"{term!r} links to {target}, which is not in _toc.yml"
        text = re.sub(r"\s+", " ", page.read_text(encoding="utf-8")).lower()
        assert any(f in text for f in forms), (
            f"{term!r} links to {target}, but that page never says any of {sorted(forms)}")


def test_every_row_without_link_names_no_page_that_uses_it():
    """A row may go without a link only if no page of the book mentions the term."""
    pages = [p for p in BOOK.rglob("*.md") if p != GLOSSARY and "_static" not in p.parts]
    for term, where in ROWS:
        if DOC_LINK.findall(where):
            continue
        users = [str(p.relative_to(BOOK)) for p in pages
                 if any(f in p.read_text(encoding="utf-8").lower() for f in spellings(term))]
        assert not users, f"{term!r} has no link, but {users} use it: link them"

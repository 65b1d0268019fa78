"""Build data/review-snippets.tsv: film and product review sentences rated for sentiment by people.

Source: the source distribution of the `vaderSentiment` package on PyPI (version 3.3.2, MIT
licence, C.J. Hutto), file additional_resources/hutto_ICWSM_2014.tar.gz: the ground-truth sets
of Hutto & Gilbert (ICWSM 2014). Each snippet's score is the mean of 20 human ratings on a
-4..+4 scale.

- movieReviewSnippets_GroundTruth.txt: 10,605 sentences from Rotten Tomatoes film reviews
  (the sentence polarity data of Pang & Lee 2005);
- amazonReviewSnippets_GroundTruth.txt: 3,708 sentences from Amazon product reviews
  (the customer review data of Hu & Liu 2004).

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/vader
    python data/build_review_snippets.py /tmp/vader/vaderSentiment-3.3.2.tar.gz

Columns of the output: source (film | product), id, mean rating (-4..+4), text.
"""
import io
import sys
import tarfile
from pathlib import Path

OUT = Path(__file__).with_name("review-snippets.tsv")
FILES = {"film": "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
         "product": "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"}


def rows(sdist: str):
    with tarfile.open(sdist) as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(member).read()))
        for source, name in FILES.items():
            text = inner.extractfile(name).read().decode("utf-8", errors="replace")
            for line in text.splitlines():
                parts = line.strip().split("\t")
                if len(parts) == 3 and parts[2].strip():
                    ident, score, snippet = parts
                    snippet = " ".join(snippet.replace("\t", " ").split())
                    yield source, ident, f"{float(score):.3f}", snippet


if __name__ == "__main__":
    out = list(rows(sys.argv[1]))
    OUT.write_text("".join("\t".join(r) + "\n" for r in out), encoding="utf-8")
    print(f"wrote {OUT}: {len(out)} snippets")

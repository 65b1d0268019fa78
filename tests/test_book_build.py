"""seqlab.book_build: which course code a page depends on (what invalidates its cache)."""
import shutil

import pytest

from course import ROOT
from seqlab import book_build


@pytest.fixture
def seqlab_copy(tmp_path, monkeypatch):
    dest = tmp_path / "seqlab"
    shutil.copytree(ROOT / "seqlab", dest, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(book_build, "SEQLAB", dest)
    return dest


PAGE = """
```{code-cell} ipython3
import numpy as np
import seqlab
from seqlab import (plotting,
                    gpt)
from seqlab.demos import demo, Slider
%matplotlib inline
```
"""


def names(files):
    return sorted(f.name for f in files)


def test_closure_follows_page_and_package_imports(seqlab_copy):
    # gpt imports charlm (relative import); a parenthesised import spans lines
    assert names(book_build.seqlab_closure(PAGE)) == [
        "__init__.py", "charlm.py", "demos.py", "gpt.py", "plotting.py"]
    assert book_build.seqlab_closure("import numpy as np\n") == []
    assert names(book_build.seqlab_closure("from seqlab.seq2seq import Seq2Seq\n")) == [
        "__init__.py", "seq2seq.py", "text.py", "translit.py"]


def test_hash_changes_only_with_imported_code(seqlab_copy):
    before = book_build.deps_hash(PAGE)
    with open(seqlab_copy / "timeseries.py", "a") as f:      # not imported by PAGE
        f.write("\n# unrelated edit\n")
    assert book_build.deps_hash(PAGE) == before
    with open(seqlab_copy / "charlm.py", "a") as f:          # imported through gpt
        f.write("\n# edit\n")
    assert book_build.deps_hash(PAGE) != before


def test_every_book_page_with_a_demo_depends_on_the_demo_helper():
    for page in sorted((ROOT / "book").rglob("*.md")):
        text = page.read_text()
        if "\ndemo(" in text:
            assert (ROOT / "seqlab" / "demos.py") in book_build.seqlab_closure(text), page

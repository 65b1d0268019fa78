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


def test_changed_code_drops_a_cache_built_in_another_checkout(tmp_path):
    """The records of a cache copied from another checkout name that checkout's paths; a page
    whose course code changed must lose its record all the same (found by the page's code, as
    MyST-NB finds it), or the book would show outputs of the old code."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.readers import get_reader

    page = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
            "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
            "# A page\n" + PAGE)
    old_copy, here = tmp_path / "main" / "p.md", tmp_path / "wt" / "p.md"
    for p in (old_copy, here):
        p.parent.mkdir()
        p.write_text(page)
    cache_dir = tmp_path / "cache"
    cache = get_cache(str(cache_dir))
    nb = get_reader(book_build.READER)(str(old_copy))
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(old_copy)), check_validity=False)
    cache.add_nb_to_project(str(here), read_data=book_build.READER)
    assert cache.get_cached_project_nb(str(here)) is not None     # MyST-NB would reuse it
    book_build._drop_cached(cache_dir, {str(here)})
    assert get_cache(str(cache_dir)).get_cached_project_nb(str(here)) is None
    assert get_cache(str(cache_dir)).list_cache_records() == []

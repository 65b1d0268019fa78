"""The whole book builds from scratch, every page executed, and leaks nothing.

One full `jupyter-book build --all -W` into a temporary folder (a failing cell, a missing
glue key or a broken reference fails it), then checks on the HTML it produced. The build is
the `book_build` fixture of conftest.py, shared with the browser tests (test_browser.py).
"""
import re
from pathlib import Path

import pytest
import yaml

from course import ROOT

pytestmark = pytest.mark.slow
INSTRUCTOR_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS",
                      "END HIDDEN TESTS", "BEGIN MARK SCHEME")


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            files.append(e["file"])
            walk(e.get("sections", []))
    for part in toc.get("parts", []):
        walk(part["chapters"])
    return files


@pytest.fixture(scope="module")
def html(book_build):
    """The session's one book build (tests/conftest.py), shared with test_browser.py."""
    assert book_build["returncode"] == 0, book_build["log"]
    print(f"\nfull book build: {book_build['seconds']:.0f} s")
    return book_build["html"]


def test_every_toc_page_is_built(html):
    for f in toc_files():
        page = html / (("index" if f == "book/intro" else f) + ".html")
        if f == "book/intro":
            page = html / "book" / "intro.html"
        assert page.exists(), f"{f} was not built"


def test_every_executable_page_ran(html):
    """The execution table (written by MyST-NB during the build) lists every notebook
    page as succeeded; print the per-page times."""
    table = (html / "book" / "exec-stats.html").read_text()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S) for r in rows]
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in r] for r in cells if r]
    assert cells, "the execution statistics table is empty"
    print("\nper-page execution:")
    for row in cells:
        print("   " + " | ".join(row))
    failed = [r for r in cells if any("fail" in c.lower() or c == "\u274c" for c in r)]
    assert not failed, f"pages failed: {failed}"
    executed = {r[0] for r in cells}
    for f in toc_files():
        if (ROOT / f"{f}.md").read_text().startswith("---\njupytext"):
            assert any(Path(f).name in e for e in executed), f"{f} was not executed"


def test_html_has_no_instructor_material(html):
    leaks = []
    for page in html.rglob("*.html"):
        text = page.read_text(errors="ignore")
        leaks += [f"{page.relative_to(html)}: {m}" for m in INSTRUCTOR_MARKERS if m in text]
    assert not leaks, leaks
    assert not list(html.rglob("solutions/*")), "solutions/ was copied into the HTML"
    assert not list(html.rglob("*gradebook*"))


def test_no_unrendered_glue_or_errors(html):
    for page in html.rglob("book/**/*.html"):
        text = page.read_text(errors="ignore")
        assert "glue:text" not in text and "{glue" not in text, f"unrendered glue in {page}"
        assert "output_error" not in text and "Traceback (most recent call last)" not in text, \
            f"an error output in {page}"


def test_demos_are_kernel_free_and_nothing_loads_from_another_host(html):
    """Every page that calls seqlab.demos.demo shows that many static demos, each with a
    control per grid axis and one frame per grid point; no widget state, widget loader or
    any script, stylesheet or image from another host anywhere in the site."""
    import json
    import math

    external = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*'
                          r'["\']?((?:https?:)?//[^"\'\s>]+)', re.I)
    for page in html.rglob("*.html"):
        text = page.read_text(errors="ignore")
        name = page.relative_to(html)
        assert not external.findall(text), f"{name} loads {external.findall(text)[:3]}"
        assert "widget-state+json" not in text and "embed-amd" not in text, name
    for f in toc_files():
        src = (ROOT / f"{f}.md").read_text()
        n_demos = len(re.findall(r"^demo\(", src, flags=re.M))
        page = html / (f + ".html")
        text = page.read_text(errors="ignore")
        blocks = re.findall(r'<div class="seqlab-demo">(.*?)<script type="application/json" '
                            r'class="seqlab-demo-data">(.*?)</script>', text, flags=re.S)
        assert len(blocks) == n_demos, f"{f}: {len(blocks)} demos in the HTML, {n_demos} in the source"
        for markup, payload in blocks:
            data = json.loads(payload)
            assert len(data["frames"]) == math.prod(data["shape"]), f
            assert markup.count("data-control=") == len(data["shape"]), f
            assert len(payload) < 300_000, f"{f}: a demo of {len(payload)} bytes"

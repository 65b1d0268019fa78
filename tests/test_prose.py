"""Student-facing text and the install: checks that keep issue-10 errata fixed.

- The Russian lecture notes are "the course's lecture notes" to students, never "the seed notes".
- Every third-party module that a book page or `seqlab` imports is declared in
  requirements.txt (snowballstemmer used to arrive only through Sphinx).
"""
import ast
import re
import sys

import jupytext
import pytest

from course import ROOT

PAGES = sorted(p for p in (ROOT / "book").rglob("*.md") if "_static" not in p.parts)
STUDENT_TEXT = PAGES + [ROOT / "README.md"] + sorted((ROOT / "assignments").rglob("*.ipynb"))

# modules that are the public API of a package declared in requirements.txt under another name
PROVIDED_BY = {
    "myst_nb": "jupyter-book",        # jupyter-book's notebook engine
    "IPython": "ipywidgets",          # a hard dependency of ipywidgets and of every kernel
    "yaml": "jupyter-book",
}
OWN = {"seqlab", "autograder"}


def declared():
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)", line)
        if m and not line.startswith("-"):
            names.add(m.group(1).lower().replace("_", "-"))
    return names


def imports_of(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:           # IPython magics and the like: not our concern here
        return set()
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def page_imports(path):
    nb = jupytext.read(path)
    return set().union(*[imports_of(c.source) for c in nb.cells if c.cell_type == "code"])


@pytest.mark.parametrize("path", STUDENT_TEXT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_seed_notes(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"seed[- ]notes?\b", text, flags=re.I), (
        f"{path.relative_to(ROOT)} says 'seed notes'; write 'the course's lecture notes'")


def test_third_party_imports_are_declared():
    have = declared()
    used = {}
    for page in PAGES:
        for mod in page_imports(page):
            used.setdefault(mod, set()).add(str(page.relative_to(ROOT)))
    for py in sorted((ROOT / "seqlab").glob("*.py")):
        for mod in imports_of(py.read_text(encoding="utf-8")):
            used.setdefault(mod, set()).add(str(py.relative_to(ROOT)))
    missing = {}
    for mod, where in sorted(used.items()):
        if mod in sys.stdlib_module_names or mod in OWN:
            continue
        dist = PROVIDED_BY.get(mod, mod).lower().replace("_", "-")
        if dist not in have:
            missing[mod] = sorted(where)
    assert not missing, f"imported but not in requirements.txt: {missing}"
    assert "snowballstemmer" in used, "the check no longer sees the text page's stemmer import"

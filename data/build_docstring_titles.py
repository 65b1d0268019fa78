"""Build data/docstring-titles.tsv: (summary line, body) pairs from the Python standard library.

An offline stand-in for the lab's "title from an abstract" task: a docstring written to PEP 257
opens with a one-line summary (the title), then a blank line, then a paragraph that explains
(the abstract). We take the docstrings of the public modules, classes, functions and methods of
the standard-library modules as shipped with CPython 3.11, and of numpy and scipy (the versions
installed; both numpydoc: a summary line, then an extended summary), and keep the pairs where

- the summary is one line of 3-14 words that ends with a full stop (a real summary line),
- the body's first paragraph is prose (no doctest, no indented code) of 10-60 words.

    python data/build_docstring_titles.py     # rewrites data/docstring-titles.tsv

Columns: module, qualified name, summary, body (tab-separated, tabs and newlines removed).
Provenance and licences: see data/README.md (PSF License Version 2; numpy and scipy BSD-3-Clause).
"""
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).with_name("docstring-titles.tsv")
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__future__",
        "lib2to3", "test", "ensurepip", "venv", "pydoc_data", "numpy.tests", "scipy.tests"}
# the standard library (PSF licence) and two BSD-3 scientific packages with numpydoc docstrings
ROOTS = sorted(set(sys.stdlib_module_names) - SKIP) + ["numpy", "scipy"]


def module_names():
    """Every importable module under ROOTS (packages walked one and two levels deep)."""
    import pkgutil
    for root in ROOTS:
        yield root
        try:
            pkg = importlib.import_module(root)
        except Exception:
            continue
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), root + "."):
            name = info.name
            if name.count(".") <= 2 and not any(part.startswith("_") or part in SKIP
                                                or "test" in part for part in name.split(".")):
                yield name


def paragraphs(doc: str):
    return [p for p in re.split(r"\n\s*\n", doc) if p.strip()]


def prose(par: str) -> str | None:
    lines = par.splitlines()
    if any(ln.lstrip().startswith((">>>", "...", "$", "-", "*", ":")) or ln.startswith("    ")
           for ln in lines):
        return None
    text = re.sub(r"\s+", " ", " ".join(ln.strip() for ln in lines)).strip()
    letters = sum(ch.isalpha() or ch == " " for ch in text)
    if not text.isascii() or not text or letters / len(text) < 0.85:
        return None
    return text


def pair(doc: str):
    pars = paragraphs(doc or "")
    if len(pars) < 2 or "\n" in pars[0].strip():
        return None
    summary, body = prose(pars[0]), prose(pars[1])
    if not summary or not body or not summary.endswith("."):
        return None
    if not 3 <= len(summary.split()) <= 14 or not 10 <= len(body.split()) <= 60:
        return None
    return summary, body


def objects(module):
    yield module.__name__, module
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        elif inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj
            for mname, meth in sorted(vars(obj).items()):
                if not mname.startswith("_") and inspect.isfunction(meth):
                    yield f"{module.__name__}.{name}.{mname}", meth


def build():
    rows, seen = [], set()
    for mod_name in module_names():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(mod_name)
        except Exception:               # platform-specific modules
            continue
        for qualname, obj in objects(module):
            p = pair(inspect.getdoc(obj))
            if p and p not in seen:
                seen.add(p)
                rows.append((mod_name, qualname) + p)
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="ascii")
    print(f"wrote {OUT}: {len(rows)} pairs from {len({r[0] for r in rows})} modules")

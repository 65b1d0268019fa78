"""Build data/python-docstrings.txt: English prose from the Python standard library.

The character-level language models of the book (the recurrent one and the small GPT)
train on the same corpus: the docstrings of a fixed list of standard-library modules
and of their public classes and functions, as shipped with CPython 3.11.

    python data/build_corpus.py          # rewrites data/python-docstrings.txt

Provenance and licence: see data/README.md (PSF License Version 2).
"""
import importlib
import inspect
import re
from pathlib import Path

MODULES = [
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "calendar", "cmd",
    "codecs", "collections", "colorsys", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "email", "enum", "filecmp",
    "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html", "http.client", "imaplib", "inspect", "io",
    "ipaddress", "itertools", "json", "locale", "logging", "lzma", "mailbox", "math",
    "mimetypes", "numbers", "operator", "optparse", "os", "pathlib", "pickle", "pkgutil",
    "platform", "pprint", "queue", "quopri", "random", "re", "sched", "secrets", "selectors",
    "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "sqlite3", "statistics",
    "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
    "timeit", "tokenize", "trace", "traceback", "turtle", "types", "typing", "unittest",
    "urllib.parse", "uuid", "warnings", "wave", "weakref", "zipfile", "zlib",
]
MAX_CHARS = 600_000
OUT = Path(__file__).with_name("python-docstrings.txt")


def clean(doc: str) -> str:
    """Keep prose: drop doctest lines and indented code, join wrapped lines."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", doc):
        lines = [ln for ln in para.splitlines()
                 if ln.strip() and not ln.lstrip().startswith((">>>", "...", "$"))
                 and not ln.startswith("    ")]
        text = " ".join(ln.strip() for ln in lines)
        text = re.sub(r"\s+", " ", text).strip()
        # prose only: ascii, long enough, mostly letters
        if len(text) < 40 or not text.isascii():
            continue
        letters = sum(ch.isalpha() or ch == " " for ch in text)
        if letters / len(text) < 0.85:
            continue
        paragraphs.append(text)
    return "\n".join(paragraphs)


def docstrings(module_name: str):
    module = importlib.import_module(module_name)
    yield inspect.getdoc(module) or ""
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and \
                getattr(obj, "__module__", "") == module.__name__:
            yield inspect.getdoc(obj) or ""


def build() -> str:
    seen, parts, total = set(), [], 0
    for module_name in MODULES:
        for doc in docstrings(module_name):
            text = clean(doc)
            if text and text not in seen:
                seen.add(text)
                parts.append(text)
                total += len(text) + 1
        if total >= MAX_CHARS:
            break
    return "\n".join(parts)[:MAX_CHARS] + "\n"


if __name__ == "__main__":
    text = build()
    OUT.write_text(text, encoding="ascii")
    print(f"wrote {OUT} ({len(text):,} characters, {len(set(text))} distinct)")

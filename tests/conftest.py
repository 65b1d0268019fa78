"""Fixtures shared by several test files.

`book_build`: one full `jupyter-book build --all -W` per test session, shared by
tests/test_book.py (checks on the HTML) and tests/test_browser.py (every page in Chromium).
Under pytest-xdist the two files may run in different workers: the first to ask builds
while holding a file lock, the other waits and reuses the result. To check a site built
already (iterating on CSS), set BOOK_HTML=<path to _build/html>: nothing is built then.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from filelock import FileLock  # a dependency of torch

from course import BIN, ROOT


@pytest.fixture(scope="session")
def book_build(tmp_path_factory, worker_id) -> dict:
    """{"html": Path of _build/html, "returncode", "seconds", "log": tail of the output}."""
    if os.environ.get("BOOK_HTML"):
        return {"html": Path(os.environ["BOOK_HTML"]), "returncode": 0, "seconds": 0.0,
                "log": "BOOK_HTML given: prebuilt site"}
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one folder for the session
    out, record = shared / "book", shared / "book-build.json"
    with FileLock(str(shared / "book-build.lock")):
        if not record.exists():
            start = time.perf_counter()
            proc = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "--all", "-W",
                                   "--keep-going", "--path-output", str(out)],
                                  cwd=ROOT, capture_output=True, text=True)
            record.write_text(json.dumps({
                "returncode": proc.returncode, "seconds": time.perf_counter() - start,
                "log": proc.stdout[-6000:] + proc.stderr[-6000:]}))
    info = json.loads(record.read_text())
    info["html"] = out / "_build" / "html"
    return info

"""Execute book pages the way the book build does, and report time per page.

    python scripts/run_page.py [--save DIR] book/rnn/recurrent-networks.md [more pages...]

Each page is read with jupytext, executed with nbclient (cwd = the page's folder,
like MyST-NB) and timed. Exit status 1 if any page fails. Used by authors while
writing a page; the book build itself is `make book`.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient


# demos render their kernel-free static view, as in the book build (seqlab.book_build)
os.environ["SEQLAB_DEMOS"] = "static"


def run(path: Path, timeout: int = 240, save: Path | None = None) -> float:
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save is not None:  # the executed notebook, e.g. to look at its outputs
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / (path.stem + ".ipynb"))
    return seconds


def main(argv):
    failed = False
    save = None
    if argv[:1] == ["--save"]:
        save, argv = Path(argv[1]), argv[2:]
    for name in argv:
        path = Path(name)
        try:
            seconds = run(path, save=save)
            print(f"{seconds:7.1f} s  {path}")
        except Exception as exc:  # report and go on with the next page
            failed = True
            print(f"FAILED     {path}\n{exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

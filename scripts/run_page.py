"""Execute book pages the way the book build does, and report time per page.

    python scripts/run_page.py book/rnn/recurrent-networks.md [more pages...]

Each page is read with jupytext, executed with nbclient (cwd = the page's folder,
like MyST-NB) and timed. Exit status 1 if any page fails. Used by authors while
writing a page; the book build itself is `make book`.
"""
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient


def run(path: Path, timeout: int = 240) -> float:
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv):
    failed = False
    for name in argv:
        path = Path(name)
        try:
            seconds = run(path)
            print(f"{seconds:7.1f} s  {path}")
        except Exception as exc:  # report and go on with the next page
            failed = True
            print(f"FAILED     {path}\n{exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

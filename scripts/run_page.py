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


def kernel_cpu_seconds(client) -> float | None:
    """CPU time (user + system, with child processes) the page's kernel has used: unlike the
    wall time, it hardly depends on what else the machine is running."""
    try:
        import psutil

        t = psutil.Process(client.km.provisioner.pid).cpu_times()
        return t.user + t.system + t.children_user + t.children_system
    except Exception:  # no psutil, or a provisioner without a local pid
        return None


def run(path: Path, timeout: int = 240, save: Path | None = None) -> tuple[float, float | None]:
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    cpu = []  # read after every cell: the kernel is gone when the notebook completes
    client.on_cell_executed = lambda **_: cpu.append(kernel_cpu_seconds(client))
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save is not None:  # the executed notebook, e.g. to look at its outputs
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / (path.stem + ".ipynb"))
    return seconds, (cpu[-1] if cpu else None)


def main(argv):
    failed = False
    save = None
    if argv[:1] == ["--save"]:
        save, argv = Path(argv[1]), argv[2:]
    for name in argv:
        path = Path(name)
        try:
            seconds, cpu = run(path, save=save)
            cpu = f"{cpu:7.1f} s CPU" if cpu is not None else ""
            print(f"{seconds:7.1f} s  {cpu}  {path}", flush=True)
        except Exception as exc:  # report and go on with the next page
            failed = True
            print(f"FAILED     {path}\n{exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run an assignment notebook and report its visible tests, one line per test cell.

    python scripts/check_assignment.py a01-rnn                  # assignments/a01-rnn/a01-rnn.ipynb
    python scripts/check_assignment.py path/to/my-copy.ipynb

Executes every cell in a fresh kernel (a failing cell does not stop the run), then lists each
test cell (nbgrader `grade: true`, not an answer cell) as passed or failed with its message.
Exit status 0 when every test cell passed, 1 otherwise. The notebook on disk is not changed.
This is a convenience for students: the grade comes from the instructor's own run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def notebook_path(arg: str) -> Path:
    path = Path(arg)
    if path.suffix == ".ipynb":
        return path.resolve()
    return ROOT / "assignments" / arg / f"{arg}.ipynb"


def test_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata.get("nbgrader", {}).get("solution")]


def error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out['ename']}: {out['evalue']}".strip().rstrip(":")
    return None


def run(path: Path, timeout: int = 300) -> list:
    """[(grade_id, error message or None)] for every test cell of the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    # the course's packages (autograder/, seqlab/) import from the repository root
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + env_path if env_path else "")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return [(c.metadata["nbgrader"].get("grade_id", "?"), error_of(c)) for c in test_cells(nb)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="assignment name (a01-rnn) or a path to a .ipynb")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = parser.parse_args(argv)
    path = notebook_path(args.notebook)
    if not path.exists():
        print(f"no notebook at {path}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = run(path, args.timeout)
    if not results:
        print(f"{path.name}: no test cells found", file=sys.stderr)
        return 2
    width = max(len(g) for g, _ in results)
    for grade_id, error in results:
        text = "passed" if error is None else "FAILED  " + error
        print(f"{grade_id:<{width}}  " + text.replace("\n", "\n" + " " * (width + 10)))
    failed = sum(e is not None for _, e in results)
    print(f"\n{len(results) - failed} of {len(results)} visible tests passed "
          f"({time.perf_counter() - start:.0f} s). Hidden tests run when the work is graded.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

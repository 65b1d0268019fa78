"""Benchmark the assignments as a student and as an instructor experience them.

    .venv/bin/python scripts/bench_assignments.py [a01-rnn ...]

For each assignment:
- student: the released notebook with correct answers filled in, executed top to bottom
  (visible tests only, as in JupyterLab); reports the whole run and the test cells alone;
- instructor: `nbgrader autograde` of 3 submissions (correct, untouched, one mistake) in a
  throwaway course; reports seconds per submission.
Timings depend on the machine and its load; run it on an idle machine.
"""
import sys
import time
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from course import SPECS, make_course, nbgrader, student_submission, submit  # noqa: E402


def student_run(name):
    nb = student_submission(name)
    times = {}
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t = time.perf_counter()
            client.execute_cell(cell, i)
            times[i] = time.perf_counter() - t
    total = time.perf_counter() - start
    tests = sum(t for i, t in times.items()
                if nb.cells[i].metadata.get("nbgrader", {}).get("grade")
                and nb.cells[i].cell_type == "code")
    n_tests = sum(1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                  and c.cell_type == "code")
    return total, tests, n_tests


def autograde(name, tmp):
    course = make_course(tmp, name)
    submit(course, "correct", name, student_submission(name))
    submit(course, "untouched", name, course / "assignments" / name / f"{name}.ipynb")
    submit(course, "onemistake", name, student_submission(name, SPECS[name]["mistake"]))
    start = time.perf_counter()
    nbgrader(course, "autograde", name, "--force")
    return (time.perf_counter() - start) / 3


def main(names):
    import tempfile
    names = names or sorted(SPECS)
    print(f"{'assignment':18s} {'student run':>12s} {'visible tests':>22s} {'autograde/subm.':>16s}")
    for name in names:
        total, tests, n = student_run(name)
        with tempfile.TemporaryDirectory() as tmp:
            per = autograde(name, Path(tmp))
        print(f"{name:18s} {total:10.1f} s {tests:8.1f} s ({n:2d} cells) {per:14.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

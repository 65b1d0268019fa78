"""Benchmark class grading: `make grade` (the trusted judge) against serial `nbgrader autograde`.

    python scripts/bench_grading.py --assignment a01-rnn --n 200 --jobs 2 [--serial-n 20]

Builds a synthetic class in a throwaway classroom (COURSE_CLASSROOM): a mix of correct
submissions (the master's answers), wrong ones (one known mistake), unanswered ones (the
release) and bad files (corrupt JSON, wrong file name); grades it with
`autograder.grade.grade_class` and, for comparison, with the pre-judge pipeline (nbgrader's
own Execute preprocessor, a kernel per notebook) on `--serial-n` of them, extrapolated to n.
Also reports the isolation overhead: starting one sandboxed worker, per submission.
Prints one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One known mistake per assignment: (answer cell, old text, new text).
MISTAKES = {
    "a01-rnn": ("rnn_step_backward", "da = dh_next * (1.0 - h_next ** 2)", "da = dh_next"),
    "a02-bptt": ("jordan_backward", "dW_yh += da.T @ y_prev", "dW_yh += da.T @ y[:, t]"),
    "a03-lstm-gru": ("lstm_backward", "dh[:, t] + dh_carry, dc_carry, cache[t]",
                     "dh[:, t] + dh_carry, np.zeros((N, H)), cache[t]"),
    "a04-attention": ("sdpa_backward", "dk = (ds.transpose(0, 2, 1) @ q) * scale",
                      "dk = ds.transpose(0, 2, 1) @ q"),
    "a05-transformer": ("causal_mask", "torch.ones(T, T, dtype=torch.bool))",
                        "torch.ones(T, T, dtype=torch.bool), -1)"),
}


def student_notebook(assignment: str, kind: str):
    """The master with its answers (correct), with one mistake (wrong), or the release."""
    import nbformat
    if kind == "empty":
        return nbformat.read(str(ROOT / "assignments" / assignment / f"{assignment}.ipynb"), 4)
    nb = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    for cell in nb.cells:
        md = cell.metadata.get("nbgrader", {})
        if md.get("grade") and not md.get("solution"):  # students' copies lack hidden tests
            src, keep = [], True
            for line in cell.source.splitlines():
                if "BEGIN HIDDEN TESTS" in line:
                    keep = False
                elif "END HIDDEN TESTS" in line:
                    keep = True
                elif keep:
                    src.append(line)
            cell.source = "\n".join(src)
        if md.get("solution"):
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if "### BEGIN SOLUTION" not in line
                                    and "### END SOLUTION" not in line)
            if kind == "wrong" and md.get("grade_id") == MISTAKES[assignment][0]:
                old, new = MISTAKES[assignment][1:]
                assert old in cell.source, (assignment, old)
                cell.source = cell.source.replace(old, new)
    return nb


def make_class(classroom: Path, assignment: str, n: int) -> dict:
    import nbformat
    kinds = ["correct", "wrong", "correct", "empty", "wrong", "correct", "corrupt", "wrong",
             "correct", "renamed"]
    counts = {}
    cache = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        counts[kind] = counts.get(kind, 0) + 1
        d = classroom / "submitted" / f"s{i:03d}" / assignment
        d.mkdir(parents=True, exist_ok=True)
        (d / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
        name = f"{assignment}.ipynb"
        if kind == "corrupt":
            (d / name).write_text('{"cells": [ {"cell_type": "code", "sour')
            continue
        base = "correct" if kind == "renamed" else kind
        if base not in cache:
            cache[base] = nbformat.writes(student_notebook(assignment, base))
        (d / (f"{assignment} (1).ipynb" if kind == "renamed" else name)).write_text(cache[base])
    return counts


def isolation_overhead(repeat: int = 10) -> dict:
    from autograder import judge
    out = {}
    for numpy_only in (True, False):
        t0 = time.perf_counter()
        for _ in range(repeat):
            w = judge.Worker(numpy_only)
            w.request({"op": "exec", "source": "x = 1", "name": "probe"}, 60, "probe")
            w.kill()
        out["numpy_worker_s" if numpy_only else "torch_worker_s"] = \
            round((time.perf_counter() - t0) / repeat, 3)
    return out


def serial_nbgrader(classroom: Path, assignment: str, n: int) -> float:
    """Seconds for the pre-judge pipeline: nbgrader autograde with Execute (a kernel each)."""
    env = dict(os.environ, COURSE_CLASSROOM=str(classroom))
    students = sorted(p.name for p in (classroom / "submitted").iterdir())[:n]
    cfg = ["--Autograde.autograde_preprocessors=['nbgrader.preprocessors.Execute', "
           "'nbgrader.preprocessors.IgnorePattern', "
           "'nbconvert.preprocessors.ClearMetadataPreprocessor', "
           "'nbgrader.preprocessors.LimitOutput', 'nbgrader.preprocessors.SaveAutoGrades', "
           "'nbgrader.preprocessors.AssignLatePenalties', "
           "'nbgrader.preprocessors.CheckCellMetadata']"]
    exe = str(Path(sys.executable).parent / "nbgrader")
    with tempfile.TemporaryDirectory() as release:
        subprocess.run([exe, "generate_assignment", assignment, "--force",
                        f"--CourseDirectory.release_directory={release}"], cwd=ROOT, env=env,
                       capture_output=True)
    t0 = time.perf_counter()
    for s in students:
        subprocess.run([exe, "autograde", assignment, "--force", f"--student={s}", *cfg],
                       cwd=ROOT, env=env, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assignment", default="a01-rnn")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--serial-n", type=int, default=0, help="submissions for the serial baseline")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    classroom = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    os.environ["COURSE_CLASSROOM"] = str(classroom)
    try:
        counts = make_class(classroom, a.assignment, a.n)
        from autograder import grade
        t0 = time.perf_counter()
        results = grade.grade_class(a.assignment, a.jobs, log=lambda *_: None)
        t_grade = time.perf_counter() - t0
        fig = {"assignment": a.assignment, "n": a.n, "jobs": a.jobs, "kinds": counts,
               "make_grade_s": round(t_grade, 1),
               "per_submission_s": round(sum(r["seconds"] for r in results) / len(results), 3),
               "graded": sum(r["status"] == "graded" for r in results)}
        fig.update(isolation_overhead())
        if a.serial_n:
            (classroom / "gradebook.db").unlink(missing_ok=True)
            t_serial = serial_nbgrader(classroom, a.assignment, a.serial_n)
            fig["serial_nbgrader_s_measured"] = round(t_serial, 1)
            fig["serial_nbgrader_s_extrapolated"] = round(t_serial * a.n / a.serial_n, 1)
            fig["speedup"] = round(fig["serial_nbgrader_s_extrapolated"] / t_grade, 1)
        print(json.dumps(fig, indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(classroom, ignore_errors=True)


if __name__ == "__main__":
    main()

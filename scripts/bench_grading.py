"""Benchmark class grading: `make grade` (the trusted judge) against serial `nbgrader autograde`.

    python scripts/bench_grading.py --assignment a01-rnn --n 200 --jobs 2 [--serial-n 20]

Builds a synthetic class in a throwaway classroom (COURSE_CLASSROOM): a mix of correct
submissions (the master's answers), wrong ones (one known mistake), unanswered ones (the
release) and bad files (corrupt JSON, wrong file name); grades it with
`autograder.grade.grade_class` and, for comparison, with the pre-judge pipeline (nbgrader's
own Execute preprocessor, a kernel per notebook) on `--serial-n` of them and on a quarter
of that, extrapolated to n from the cost per submission between the two.
Also reports the isolation overhead per submission: starting a sandboxed numpy worker
(bubblewrap + Python + numpy) and forking a torch worker from the judge process's zygote, each
with a round trip and the kill and clean-up that follow it.
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
    "a05-transformer": ("block_backward", "dx = dx1 + dx_attn", "dx = dx_attn"),
    "a06-rnn-training": ("train_rnn", "batch, steps = 16, 0.05, 5.0, 32, 3000",
                         "batch, steps = 16, 0.05, 5.0, 32, 0"),
    "a07-review-classifier": ("train_classifier", "opt.step()", "pass"),
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


def gradebook_count(assignment: str) -> int:
    """Submissions of `assignment` the gradebook holds with a score (what formgrader shows)."""
    from nbgrader.api import Gradebook

    from autograder.grade import _db_url
    with Gradebook(_db_url()) as gb:
        return sum(1 for s in gb.assignment_submissions(assignment) if s.max_score > 0)


def isolation_overhead(repeat: int = 10) -> dict:
    from autograder import judge
    out = {}
    for numpy_only in (True, False):
        w = judge.Worker(numpy_only)  # warm-up: the torch zygote starts once per judge process
        w.request({"op": "exec", "source": "x = 1", "name": "probe"}, 120, "probe")
        w.kill()
        t0 = time.perf_counter()
        for _ in range(repeat):
            w = judge.Worker(numpy_only)
            w.request({"op": "exec", "source": "x = 1", "name": "probe"}, 60, "probe")
            w.kill()
        out["numpy_worker_s" if numpy_only else "torch_worker_s"] = \
            round((time.perf_counter() - t0) / repeat, 3)
    return out


def serial_nbgrader(classroom: Path, assignment: str, n: int) -> float:
    """Seconds for the pre-judge pipeline on the first n students: one `nbgrader autograde`
    with nbgrader's Execute (a kernel per notebook), as the README's instructions ran it."""
    from autograder.release import nbgrader_command, nbgrader_env
    env = nbgrader_env(COURSE_CLASSROOM=str(classroom))
    stage = classroom / f"serial-{n}"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(classroom / "autograded", ignore_errors=True)
    for d in sorted((classroom / "submitted").iterdir())[:n]:
        shutil.copytree(d, stage / d.name)
    cfg = ["--Autograde.autograde_preprocessors=['nbgrader.preprocessors.Execute', "
           "'nbgrader.preprocessors.IgnorePattern', "
           "'nbconvert.preprocessors.ClearMetadataPreprocessor', "
           "'nbgrader.preprocessors.LimitOutput', 'nbgrader.preprocessors.SaveAutoGrades', "
           "'nbgrader.preprocessors.AssignLatePenalties', "
           "'nbgrader.preprocessors.CheckCellMetadata']",
           f"--CourseDirectory.submitted_directory={os.path.relpath(stage, ROOT)}"]
    t0 = time.perf_counter()
    r = subprocess.run(nbgrader_command("autograde", assignment, "--force", *cfg), cwd=ROOT,
                       env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    # plain nbgrader fails on the corrupt and wrongly named files (that is the point of
    # intake); every well-formed one must have been graded, or the figure means nothing
    wellformed = [d.name for d in stage.iterdir()
                  if _readable(d / assignment / f"{assignment}.ipynb")]
    done = [s for s in wellformed
            if (classroom / "autograded" / s / assignment / f"{assignment}.ipynb").is_file()]
    if len(done) != len(wellformed):
        sys.exit(f"the serial baseline graded {len(done)} of {len(wellformed)} well-formed "
                 "submissions (a figure from it would be meaningless):\n" + r.stderr[-3000:])
    return seconds


def _readable(path: Path) -> bool:
    try:
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assignment", default="a01-rnn")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--serial-n", type=int, default=0,
                    help="submissions for the serial baseline (>= n: the whole class, measured)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    classroom = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    os.environ["COURSE_CLASSROOM"] = str(classroom)
    try:
        counts = make_class(classroom, a.assignment, a.n)
        from autograder import grade
        lines = []
        t0 = time.perf_counter()
        results = grade.grade_class(a.assignment, a.jobs, log=lines.append)
        t_grade = time.perf_counter() - t0
        summary = [line for line in lines if " graded, " in line][-1]
        t_judge = float(summary.split("judge ")[1].split(" s")[0])
        fig = {"assignment": a.assignment, "n": a.n, "jobs": a.jobs, "kinds": counts,
               "make_grade_s": round(t_grade, 1),
               "judge_phase_s": t_judge, "gradebook_phase_s": round(t_grade - t_judge, 1),
               "per_submission_s": round(sum(r["seconds"] for r in results) / len(results), 3),
               "graded": sum(r["status"] == "graded" for r in results),
               "in_gradebook": gradebook_count(a.assignment)}
        fig.update(isolation_overhead())
        if a.serial_n >= a.n:  # the whole class, side by side: no extrapolation
            t_all = serial_nbgrader(classroom, a.assignment, a.n)
            fig["serial_nbgrader_s_measured"] = {a.n: round(t_all, 1)}
            fig["speedup"] = round(t_all / t_grade, 1)
        elif a.serial_n:
            # two sizes, so that the fixed cost of one nbgrader run is not multiplied
            small = max(1, a.serial_n // 4)
            t_small = serial_nbgrader(classroom, a.assignment, small)
            t_big = serial_nbgrader(classroom, a.assignment, a.serial_n)
            per = (t_big - t_small) / (a.serial_n - small)
            fig["serial_nbgrader_s_measured"] = {small: round(t_small, 1),
                                                 a.serial_n: round(t_big, 1)}
            fig["serial_nbgrader_s_per_submission"] = round(per, 2)
            fig["serial_nbgrader_s_extrapolated"] = round(t_small + per * (a.n - small), 1)
            fig["speedup"] = round(fig["serial_nbgrader_s_extrapolated"] / t_grade, 1)
        print(json.dumps(fig, indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(classroom, ignore_errors=True)


if __name__ == "__main__":
    main()

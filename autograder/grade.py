"""`make grade A=<assignment> [JOBS=n]`: grade a whole class with the trusted judge.

    python -m autograder.grade a01-rnn [--jobs 2] [--student s001 ...]

1. Every submission under classroom/submitted/<student>/<assignment>/ goes through intake
   (`autograder.intake.normalize`: bad JSON, newer schemas, renamed/deleted/duplicated
   cells, huge outputs, wrong file names) and then through the judge, in a pool of `jobs`
   processes; each submission's code runs in its own sandboxed workers. Nothing a
   submission does stops the batch: a failure becomes a reason in its result file and one
   line in the log.
2. Results: classroom/results/<assignment>/<student>.json (the format the class report
   reads) and the verdicts, next to a repaired copy of each gradable notebook, under
   classroom/.judge/.
3. The gradebook: `nbgrader autograde` over the repaired copies (one per job, each over its
   own shard of the class), in which the course's `JudgeExecute` preprocessor
   (nbgrader_config.py) copies the verdicts in instead of running a kernel; nbgrader writes
   the gradebook and classroom/autograded/ itself (SQLite serialises the writers; they wait
   for its lock). `generate_feedback` and `export` work as usual after.
Re-running is safe: results, verdicts and the gradebook entries are overwritten.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .release import nbgrader_command, nbgrader_env

ROOT = Path(__file__).resolve().parent.parent


def classroom() -> Path:
    return Path(os.environ.get("COURSE_CLASSROOM", ROOT / "classroom"))


# ---------------------------------------------------------------- one submission (in the pool)
def grade_one(job: tuple) -> dict:
    """Grade one submission; write its result file. Never raises."""
    assignment, student, sub_dir, out = job
    import nbformat

    from . import judge
    from .intake import normalize
    t0 = time.perf_counter()
    master_path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    result = {"student": student, "assignment": assignment, "status": "not_graded",
              "reason": None, "notes": [], "score": 0.0, "max_score": 0.0, "seconds": 0.0,
              "tests": []}
    try:
        master = nbformat.read(str(master_path), as_version=4)
        got = normalize(Path(sub_dir) / f"{assignment}.ipynb", master_path)
        result["notes"] = list(got.notes or [])
        result["max_score"] = sum(p for _, _, p in judge.test_cells(master))
        if got.nb is None:
            result["reason"] = got.reason or "cannot be graded"
        else:
            verdicts = judge.grade_notebook(got.nb, master, assignment)
            result.update(status="graded", score=sum(v.points for v in verdicts),
                          tests=[v.as_json() for v in verdicts])
            stage = Path(out) / "submitted" / student / assignment
            stage.mkdir(parents=True, exist_ok=True)
            nb = judge.apply_verdicts(got.nb, [])  # outputs cleared; nbgrader fills them
            nbformat.write(nb, str(stage / f"{assignment}.ipynb"))
            stamp = Path(sub_dir) / "timestamp.txt"
            if stamp.is_file() and stamp.stat().st_size < 1000:
                shutil.copyfile(stamp, stage / "timestamp.txt")
            vdir = Path(out) / "verdicts" / assignment
            vdir.mkdir(parents=True, exist_ok=True)
            _write_json(vdir / f"{student}.json", {
                "answers_hash": judge.answers_hash(got.nb),
                "verdicts": [dataclasses.asdict(v) for v in verdicts]})
    except (Exception, judge.JudgeError) as exc:  # noqa: BLE001  (never stop the batch)
        result.update(status="not_graded", tests=[], score=0.0,
                      reason=f"internal error while grading: {type(exc).__name__}: {exc}"[:300])
    result["seconds"] = round(time.perf_counter() - t0, 3)
    rdir = classroom() / "results" / assignment
    rdir.mkdir(parents=True, exist_ok=True)
    _write_json(rdir / f"{student}.json", result)
    return result


def one_thread_per_job() -> None:
    """Each job is one core. Left at their defaults, torch and OpenBLAS in every job start a
    thread per core, and on 2 cores 2 jobs of 2 spinning threads each made a05 8x slower
    (3.4 s instead of 0.3 s a submission; scripts/bench_grading.py)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # for anything the job starts
    import torch
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits  # numpy's BLAS, already loaded
    threadpool_limits(1)


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- the class
def submissions(assignment: str, students=None) -> list[tuple[str, Path]]:
    base = classroom() / "submitted"
    out = []
    for d in sorted(base.glob(f"*/{assignment}")) if base.is_dir() else []:
        if d.is_dir() and (not students or d.parent.name in students):
            out.append((d.parent.name, d))
    return out


class GradebookNotWritten(RuntimeError):
    """nbgrader could not write the gradebook (the results files are written)."""


def grade_class(assignment: str, jobs: int | None = None, students=None,
                gradebook: bool = True, log=print) -> list[dict]:
    from . import judge
    jobs = jobs or os.cpu_count() or 1
    todo = submissions(assignment, students)
    if not todo:
        log(f"no submissions under {classroom() / 'submitted'}/*/{assignment}/")
        return []
    out = classroom() / ".judge"
    for private in (out, classroom() / "results"):  # instructor-only, like the gradebook
        private.mkdir(parents=True, exist_ok=True)
        os.chmod(private, 0o700)
    shutil.rmtree(out / "submitted", ignore_errors=True)
    for old in out.glob("shard-*"):
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(out / "verdicts" / assignment, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    log(f"grading {len(todo)} submissions of {assignment} with {jobs} job(s); sandbox: "
        f"{judge.sandbox_kind()}")
    # Everything the checks need is imported once here; the pool's processes inherit it.
    import nbformat  # noqa: F401
    import torch  # noqa: F401

    from . import checks, harness  # noqa: F401
    judge.course_copy()
    t0 = time.perf_counter()
    work = [(assignment, s, str(d), str(out)) for s, d in todo]
    results = []
    with mp.get_context("fork").Pool(jobs, one_thread_per_job, maxtasksperchild=50) as pool:
        for r in pool.imap_unordered(grade_one, work):
            results.append(r)
            if r["status"] != "graded":
                log(f"NOT GRADED {r['student']}: {r['reason']}")
            else:
                bad = [t["grade_id"] for t in r["tests"] if t["error_kind"] in
                       ("timeout", "limit", "forbidden_import")]
                extra = f" ({', '.join(bad)}: limits)" if bad else ""
                log(f"graded {r['student']}: {r['score']:g}/{r['max_score']:g} in "
                    f"{r['seconds']:.2f} s{extra}")
    t_judge = time.perf_counter() - t0
    problem = None
    if gradebook and any(r["status"] == "graded" for r in results):
        problem = _autograde(assignment, out, [r["student"] for r in results
                                               if r["status"] == "graded"], jobs)
    graded = sum(r["status"] == "graded" for r in results)
    log(f"{assignment}: {graded} graded, {len(results) - graded} not graded; judge "
        f"{t_judge:.1f} s, total {time.perf_counter() - t0:.1f} s")
    if problem:  # every result file is written; the gradebook is not (complete)
        raise GradebookNotWritten(f"the gradebook is not complete: {problem}")
    return results


def _gradebook_current(assignment: str) -> bool:
    """Whether the gradebook already holds this master's test cells and points."""
    import nbformat
    from nbgrader.api import Gradebook

    from . import judge
    master = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    want = {gid: points for gid, _, points in judge.test_cells(master)}
    url = _db_url()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return False
    try:
        with Gradebook(url) as gb:
            nb = gb.find_notebook(assignment, assignment)
            have = {c.name: c.max_score for c in nb.grade_cells if c.cell_type == "code"}
    except Exception:  # noqa: BLE001  (missing or unreadable: generate it)
        return False
    return have == want


def _autograde(assignment: str, out: Path, students: list[str], jobs: int) -> str | None:
    """nbgrader writes the gradebook from the judge's verdicts (no kernel runs). Returns
    what went wrong when nbgrader could not write it, else None."""
    env = nbgrader_env(JUDGE_VERDICTS=str(out / "verdicts" / assignment))
    if not _gradebook_current(assignment):
        with tempfile.TemporaryDirectory() as release:
            # records the assignment and its cells in the gradebook
            r = subprocess.run(nbgrader_command(
                "generate_assignment", assignment, "--force",
                f"--CourseDirectory.release_directory={release}"), cwd=ROOT, env=env,
                capture_output=True, text=True)
        if not _gradebook_current(assignment):
            return (f"nbgrader generate_assignment could not record {assignment} in "
                    f"{_db_url()}:\n" + (r.stdout + r.stderr)[-2000:])
    # nbgrader costs a fraction of a second per notebook even without a kernel: run one
    # `autograde` per job, each over its own shard of the class. SQLite takes one writer at a
    # time; the others wait for its lock (a generous busy timeout), so no write is lost.
    shards = [students[k::jobs] for k in range(jobs) if students[k::jobs]]
    procs = []
    for k, shard in enumerate(shards):
        stage = out / f"shard-{k}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        for student in shard:
            os.rename(out / "submitted" / student, stage / student)
        args = ["autograde", assignment, "--force", "--create",
                f"--CourseDirectory.submitted_directory={os.path.relpath(stage, ROOT)}"]
        url = _db_url()
        if url.startswith("sqlite:///") and len(shards) > 1:
            args.append(f"--CourseDirectory.db_url={url}?timeout=600")
        procs.append(subprocess.Popen(nbgrader_command(*args), cwd=ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    problems = []
    for p in procs:
        output, _ = p.communicate()
        failed = [line for line in output.splitlines() if "ERROR" in line]
        if p.returncode or failed:
            problems += failed[-20:] or [output[-2000:]]
    return "nbgrader autograde reported:\n" + "\n".join(problems) if problems else None


def _db_url() -> str:
    """The gradebook nbgrader_config.py points at (COURSE_DB_URL, else SQLite in classroom/)."""
    return os.environ.get("COURSE_DB_URL") or f"sqlite:///{classroom() / 'gradebook.db'}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("assignment")
    ap.add_argument("--jobs", type=int, default=0, help="parallel submissions (default: all cores)")
    ap.add_argument("--student", action="append", help="grade only these students")
    ap.add_argument("--no-gradebook", action="store_true", help="results files only")
    a = ap.parse_args(argv)
    try:
        grade_class(a.assignment, a.jobs or None, a.student, not a.no_gradebook)
    except GradebookNotWritten as exc:  # a bad submission is never an error of the command
        print(f"NOT WRITTEN TO THE GRADEBOOK: {exc}", flush=True)
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())

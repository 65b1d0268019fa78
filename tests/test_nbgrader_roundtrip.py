"""The nbgrader round trip of every assignment, as an instructor runs it.

For each assignment, in a throwaway course built from the repository's own config:
1. the master passes `nbgrader validate`, the release fails it (`--invert`);
2. regenerating the release gives exactly the committed assignments/ notebook;
3. autograding (a) the master gives every autograded point, (b) the untouched release
   gives 0, (c) a submission with one known mistake loses exactly the points of the cells
   that test that part, and (d) a submission whose kernel dies does not stop the batch;
4. the feedback names the mistake and shows neither hidden tests nor tracebacks;
5. grading is `make grade` (the trusted judge, autograder/grade.py): a part that kills its
   worker costs that part only, and results files, gradebook and `export` agree.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from course import (ROOT, SPECS, grades, make_course, master_path, nbgrader, release_path,
                    student_submission, submit)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=sorted(SPECS))
def graded_course(request, tmp_path_factory):
    name = request.param
    spec = SPECS[name]
    course = make_course(tmp_path_factory.mktemp(name), name)
    submit(course, "master", name, master_path(name))
    submit(course, "untouched", name, release_path(name))
    submit(course, "onemistake", name, student_submission(name, spec["mistake"]))
    submit(course, "crashes", name, student_submission(name, spec["crash"]))
    bad = course / "classroom" / "submitted" / "corrupt" / name
    bad.mkdir(parents=True)
    (bad / f"{name}.ipynb").write_text('{"cells": [{"cell_type": "code", "sour')
    start = time.perf_counter()
    # `make grade A=name`: the trusted judge, then nbgrader writes the gradebook
    env = dict(os.environ, COURSE_CLASSROOM=str(course / "classroom"))
    proc = subprocess.run([sys.executable, "-m", "autograder.grade", name, "--jobs", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"\n{name}: graded 4 submissions in {seconds:.1f} s "
          f"({seconds / 4:.1f} s per submission)")
    nbgrader(course, "generate_feedback", name, "--force", check=False)
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    return name, spec, course, proc


def _auto(scores):
    return {k: v for k, v in scores.items() if k.startswith("test_")}


def test_master_validates_and_release_fails():
    for name in SPECS:
        proc = nbgrader(master_path(name).parent.parent.parent, "validate",
                        str(master_path(name)))
        assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout
        proc = nbgrader(master_path(name).parent.parent.parent, "validate", "--invert",
                        str(release_path(name)))
        assert "Success! The notebook does not pass any tests." in proc.stdout, proc.stdout


def test_release_is_regenerated_exactly(graded_course):
    name, _, course, _ = graded_course
    generated = (course / "assignments" / name / f"{name}.ipynb").read_bytes()
    assert generated == release_path(name).read_bytes(), (
        f"assignments/{name} is stale: run `make release` and commit it with the master")


def test_master_gets_every_autograded_point(graded_course):
    name, _, course, _ = graded_course
    scores = _auto(grades(course, name, "master"))
    assert scores, "no autograded test cells found"
    lost = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not lost, f"the master loses points: {lost}"


def test_untouched_release_gets_zero(graded_course):
    name, _, course, _ = graded_course
    scores = grades(course, name, "untouched")
    assert all((v[0] or 0) == 0 for v in scores.values()), scores


def test_one_mistake_loses_exactly_its_points(graded_course):
    name, spec, course, _ = graded_course
    scores = _auto(grades(course, name, "onemistake"))
    lost = {k for k, (got, full) in scores.items() if got != full}
    assert lost == spec["loses"], f"lost {sorted(lost)}, expected {sorted(spec['loses'])}"


def test_feedback_names_the_mistake_and_hides_the_tests(graded_course):
    name, spec, course, _ = graded_course
    html = (course / "classroom" / "feedback" / "onemistake" / name / f"{name}.html").read_text()
    for word in spec["feedback_names"]:
        assert word in html, f"feedback does not mention {word!r}"
    for student in ("master", "onemistake"):
        html = (course / "classroom" / "feedback" / student / name / f"{name}.html").read_text()
        for secret in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "seed=None", "most recent call last"):
            assert secret not in html, f"{student}'s feedback shows {secret!r}"
        assert "hidden tests ran here" in html


def test_a_crashing_part_costs_that_part_only(graded_course):
    name, spec, course, proc = graded_course
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scores = _auto(grades(course, name, "crashes"))
    lost = {k for k, (got, full) in scores.items() if got != full}
    assert lost == spec["crash_loses"], f"lost {sorted(lost)}"
    for student in ("master", "untouched", "onemistake", "crashes"):
        assert (course / "classroom" / "autograded" / student / name).exists()


def test_results_files_and_export_agree_with_the_gradebook(graded_course):
    name, _, course, proc = graded_course
    rows = list(csv.DictReader(open(course / "grades.csv")))
    exported = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == name}
    for student in ("master", "untouched", "onemistake", "crashes"):
        result = json.loads((course / "classroom" / "results" / name / f"{student}.json")
                            .read_text())
        assert result["status"] == "graded"
        auto = sum(got or 0 for k, (got, _) in grades(course, name, student).items()
                   if k.startswith("test_"))
        assert result["score"] == auto == exported[student], (student, result["score"], auto)
    bad = json.loads((course / "classroom" / "results" / name / "corrupt.json").read_text())
    assert bad["status"] == "not_graded" and bad["reason"], bad
    assert "NOT GRADED corrupt" in proc.stdout


def test_make_grade_creates_the_gradebook_without_an_activated_venv(tmp_path):
    """A fresh classroom (no gradebook yet) and `make grade` run as the Makefile runs it:
    .venv/bin/python with the venv NOT on PATH. nbgrader creates the gradebook with `alembic`
    from PATH; the gradebook must still hold the graded submission."""
    name = "a01-rnn"
    classroom = tmp_path / "classroom"
    folder = classroom / "submitted" / "alice" / name
    folder.mkdir(parents=True)
    shutil.copy(master_path(name), folder / f"{name}.ipynb")
    env = dict(os.environ, COURSE_CLASSROOM=str(classroom), PATH="/usr/bin:/bin")
    proc = subprocess.run([sys.executable, "-m", "autograder.grade", name, "--jobs", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{classroom / 'gradebook.db'}") as gb:
        sub = gb.find_submission(name, "alice")
        assert sub.score == 23, sub.score                 # every autograded point of a01

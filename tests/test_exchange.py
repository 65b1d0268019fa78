"""The whole nbgrader round trip on one machine, through the local exchange under classroom/:
the instructor releases, a student (own home directory, no course checkout) fetches, answers
and submits, the instructor collects, grades, generates and releases feedback and exports the
grades, and the student fetches the feedback. Hidden tests never reach the student."""
import csv
import os
import subprocess

import nbformat
import pytest

from course import BIN, make_course, nbgrader, student_submission

NAME = "a01-rnn"
pytestmark = pytest.mark.slow


def as_student(home, exchange, *args):
    """An nbgrader command as a student runs it: from their home, with only the exchange root
    (they have no copy of the course's nbgrader_config.py)."""
    env = {"HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONWARNINGS": "ignore", "LANG": "C.UTF-8"}
    proc = subprocess.run([str(BIN / "nbgrader"), *args, "--course=seqmodels",
                           f"--Exchange.root={exchange}"], cwd=home, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_release_fetch_submit_collect_grade_feedback_export(tmp_path):
    course = make_course(tmp_path, NAME)
    exchange = course / "classroom" / "exchange"
    assert exchange.is_dir() and (exchange.stat().st_mode & 0o1777) == 0o1777

    # the formgrader's own test: its exchange is functional (today: "exchange missing", and
    # no release or collect buttons)
    probe = ("from traitlets.config.loader import PyFileConfigLoader\n"
             "from nbgrader.apps.api import NbGraderAPI\n"
             "api = NbGraderAPI(config=PyFileConfigLoader('nbgrader_config.py', path='.').load_config())\n"
             "print(bool(api.exchange_is_functional), api.exchange_root)")
    proc = subprocess.run([str(BIN / "python"), "-c", probe], cwd=course, capture_output=True,
                          text=True, env=dict(os.environ, COURSE_CLASSROOM=str(course / "classroom")))
    assert proc.stdout.split() == ["True", str(exchange)], proc.stdout + proc.stderr

    nbgrader(course, "release_assignment", NAME)
    assert (exchange / "seqmodels" / "outbound" / NAME / f"{NAME}.ipynb").is_file()

    mistake = {"rnn_backward": ("dW_hh += dWh", "dW_hh += dWh.T")}
    for student, mutations in (("s001", None), ("s002", mistake)):
        home = tmp_path / "home" / student
        home.mkdir(parents=True)
        as_student(home, exchange, "fetch_assignment", NAME)
        fetched = home / NAME / f"{NAME}.ipynb"
        released = nbformat.read(fetched, as_version=4)
        assert "BEGIN HIDDEN TESTS" not in nbformat.writes(released)
        nbformat.write(student_submission(NAME, mutations), fetched)  # the student's answers
        as_student(home, exchange, "submit", NAME, f"--student={student}")

    nbgrader(course, "collect", NAME)
    for student in ("s001", "s002"):
        assert (course / "classroom" / "submitted" / student / NAME / f"{NAME}.ipynb").is_file()

    nbgrader(course, "autograde", NAME, "--force")
    nbgrader(course, "generate_feedback", NAME, "--force")
    nbgrader(course, "release_feedback", NAME)
    nbgrader(course, "export", "--to", str(course / "grades.csv"))

    with open(course / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == NAME}
    assert set(rows) == {"s001", "s002"}
    # 23 autograded points (the written answers wait for the instructor); the mistake costs the
    # two points of test_rnn_backward_dW_hh
    assert float(rows["s001"]["raw_score"]) == 23.0, rows["s001"]
    assert float(rows["s002"]["raw_score"]) == 21.0, rows["s002"]
    assert float(rows["s001"]["max_score"]) == 29.0

    # students can reach the exchange through classroom/, and nothing else in it
    classroom = course / "classroom"
    assert classroom.stat().st_mode & 0o777 == 0o711
    for private in ("gradebook.db", "submitted", "autograded", "feedback"):
        assert (classroom / private).stat().st_mode & 0o077 == 0, private

    home = tmp_path / "home" / "s002"
    as_student(home, exchange, "fetch_feedback", NAME, "--student=s002")
    feedback = list((home / NAME / "feedback").rglob("*.html"))
    assert len(feedback) == 1, feedback
    html = feedback[0].read_text()
    assert "dW_hh" in html and "hidden tests ran here" in html
    for secret in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "seed=None", "most recent call last"):
        assert secret not in html, f"the student's feedback shows {secret!r}"

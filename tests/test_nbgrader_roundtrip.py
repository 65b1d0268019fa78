"""The nbgrader round trip of every assignment, as an instructor runs it.

For each assignment, in a throwaway course built from the repository's own config:
1. the master passes `nbgrader validate`, the release fails it (`--invert`);
2. regenerating the release gives exactly the committed assignments/ notebook;
3. autograding (a) the master gives every autograded point, (b) the untouched release
   gives 0, (c) a submission with one known mistake loses exactly the points of the cells
   that test that part, and (d) a submission whose kernel dies does not stop the batch;
4. the feedback names the mistake and shows neither hidden tests nor tracebacks.
"""
import time

import pytest

from course import (SPECS, grades, make_course, master_path, nbgrader, release_path,
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
    start = time.perf_counter()
    proc = nbgrader(course, "autograde", name, "--force", check=False)
    seconds = time.perf_counter() - start
    print(f"\n{name}: autograded 4 submissions in {seconds:.1f} s "
          f"({seconds / 4:.1f} s per submission)")
    nbgrader(course, "generate_feedback", name, "--force", check=False)
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


def test_a_dying_kernel_does_not_stop_the_batch(graded_course):
    name, _, course, proc = graded_course
    # nbgrader reports the failed submission (exit 1) and grades everyone else
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "crashes" in proc.stdout + proc.stderr
    for student in ("master", "untouched", "onemistake"):
        assert (course / "classroom" / "autograded" / student / name).exists()

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
import subprocess
import sys
import time

import pytest

from course import (ROOT, grades, make_course, master_path, nbgrader, release_path,
                    student_submission, submit)

# One entry per assignment: a mistake (answer cell -> (old, new) text) and what it must cost.
SPECS = {
    "a01-rnn": {
        "mistake": {"rnn_backward": ("dW_hh += dWh", "dW_hh += dWh.T")},
        "loses": {"test_rnn_backward_dW_hh"},
        "feedback_names": ["dW_hh", "transpose"],
        "crash": {"clip_grad_norm": ("total_norm = float(", "import os; os._exit(1); total_norm = float(")},
        "crash_loses": {"test_clip_grad_norm"},
    },
    "a02-bptt": {
        "mistake": {"jordan_backward": ("dW_yh += da.T @ y_prev", "dW_yh += da.T @ y[:, t]")},
        "loses": {"test_jordan_backward_dW_yh"},
        "feedback_names": ["dW_yh", "relative error"],
        "crash": {"clip_by_value": ("return {name:", "import os; os._exit(1)\n    return {name:")},
        "crash_loses": {"test_clip_by_value"},
    },
    "a03-lstm-gru": {  # the cell-state gradient is not carried: every lstm_backward test
        "mistake": {"lstm_backward": ("dh[:, t] + dh_carry, dc_carry, cache[t]",
                                      "dh[:, t] + dh_carry, np.zeros((N, H)), cache[t]")},
        "loses": {"test_lstm_backward_dx", "test_lstm_backward_dh0", "test_lstm_backward_dW_x",
                  "test_lstm_backward_dW_h", "test_lstm_backward_db"},
        "feedback_names": ["dW_h", "cell-state gradient dc is not carried back across time"],
        "crash": {"peephole_lstm_forward": ("N, T, _ = x.shape",
                                            "import os; os._exit(1); N, T, _ = x.shape")},
        "crash_loses": {"test_peephole_lstm_forward"},
    },
    "a04-attention": {
        "mistake": {"sdpa_backward": ("dk = (ds.transpose(0, 2, 1) @ q) * scale",
                                      "dk = ds.transpose(0, 2, 1) @ q")},
        "loses": {"test_sdpa_backward_dk"},
        "feedback_names": ["dk", "sqrt(d_k)"],
        "crash": {"additive_attention": ("e = np.tanh(", "import os; os._exit(1)\n    e = np.tanh(")},
        "crash_loses": {"test_additive_context", "test_additive_weights"},
    },
    "a05-transformer": {
        "mistake": {"causal_mask": ("torch.ones(T, T, dtype=torch.bool))",
                                    "torch.ones(T, T, dtype=torch.bool), -1)")},
        "loses": {"test_causal_mask"},
        "feedback_names": ["causal_mask", "diagonal is missing"],
        "crash": {"positional_encoding": ("pos = torch.arange", "import os; os._exit(1)\n    pos = torch.arange")},
        "crash_loses": {"test_positional_encoding"},
    },
    "a06-rnn-training": {  # a trainer that never takes a step: the training test only
        "mistake": {"train_rnn": ("batch, steps = 16, 0.05, 5.0, 32, 3000",
                                  "batch, steps = 16, 0.05, 5.0, 32, 0")},
        "loses": {"test_train_rnn"},
        "feedback_names": ["relative RMSE", "train for longer"],
        "crash": {"sgd_step": ("norm = float(", "import os; os._exit(1); norm = float(")},
        "crash_loses": {"test_sgd_step", "test_train_rnn"},
    },
    "a07-review-classifier": {  # the optimiser never steps: the training test only
        "mistake": {"train_classifier": ("opt.step()", "pass")},
        "loses": {"test_train_classifier"},
        "feedback_names": ["held-out accuracy", "optimiser step"],
        "crash": {"ReviewClassifier": ("packed = nn.utils", "import os; os._exit(1)\n        packed = nn.utils")},
        "crash_loses": {"test_model", "test_train_classifier"},
    },
}

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
    name, _, course, _ = graded_course
    rows = list(csv.DictReader(open(course / "grades.csv")))
    exported = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == name}
    for student in ("master", "untouched", "onemistake", "crashes"):
        result = json.loads((course / "classroom" / "results" / name / f"{student}.json")
                            .read_text())
        assert result["status"] == "graded"
        auto = sum(got or 0 for k, (got, _) in grades(course, name, student).items()
                   if k.startswith("test_"))
        assert result["score"] == auto == exported[student], (student, result["score"], auto)

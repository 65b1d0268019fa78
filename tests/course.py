"""Helpers shared by the tests: paths, master notebooks, nbgrader in a temporary course."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MARKER_LINE = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def master_path(name: str) -> Path:
    return ROOT / "solutions" / name / f"{name}.ipynb"


def release_path(name: str) -> Path:
    return ROOT / "assignments" / name / f"{name}.ipynb"


def strip_markers(source: str) -> str:
    return "\n".join(l for l in source.splitlines() if not MARKER_LINE.match(l))


def load_master_functions(name: str, mutations: dict | None = None) -> dict:
    """Run the master's setup and answer cells (not the tests) and return the namespace.

    mutations: {grade_id: (old, new)} replaces text in that answer cell first, to make a
    known-wrong version of the reference solution. The replacement must apply.
    """
    nb = nbformat.read(master_path(name), as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if not (meta.get("solution") or meta.get("grade_id") == "setup"):
            continue  # answers and the setup cell; not tests, demos or training runs
        source = cell.source
        if mutations and meta.get("grade_id") in mutations:
            old, new = mutations[meta["grade_id"]]
            assert old in source, f"mutation target {old!r} not in {meta['grade_id']}"
            source = source.replace(old, new)
        exec(compile(strip_markers(source), f"<{name}:{meta.get('grade_id')}>", "exec"),
             namespace)
    return namespace


def student_submission(name: str, mutations: dict | None = None):
    """The release notebook filled in as a student would: answers from the master
    (without the markers), optionally mutated, tests left as released."""
    master = {c.metadata.get("nbgrader", {}).get("grade_id"): c
              for c in nbformat.read(master_path(name), as_version=4).cells}
    nb = nbformat.read(release_path(name), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            source = strip_markers(master[meta["grade_id"]].source)
            if mutations and meta["grade_id"] in mutations:
                old, new = mutations[meta["grade_id"]]
                assert old in source, f"mutation target {old!r} not in {meta['grade_id']}"
                source = source.replace(old, new)
            cell.source = source
    return nb


def nbgrader(course: Path, *args, check=True) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` from PATH when it creates a gradebook: put the venv first
    env = dict(os.environ, COURSE_CLASSROOM=str(course / "classroom"),
               PYTHONWARNINGS="ignore", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_course(tmp: Path, name: str) -> Path:
    """A throwaway course: the repository's config and one master, released."""
    course = tmp / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbgrader(course, "generate_assignment", name, "--force")
    return course


def submit(course: Path, student: str, name: str, nb) -> None:
    folder = course / "classroom" / "submitted" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, Path):
        shutil.copy(nb, folder / f"{name}.ipynb")
    else:
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "timestamp.txt").write_text("2026-11-23 12:00:00.000000 UTC")


def grades(course: Path, name: str, student: str) -> dict:
    """{grade_id: (auto_score, max_score)} for every graded cell of a submission
    (auto_score is None for answers that wait for manual grading)."""
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(course / "classroom" / "gradebook.db")) as gb:
        sub = gb.find_submission_notebook(name, name, student)
        return {g.name: (g.auto_score, g.max_score) for g in sub.grades}


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
    "a05-transformer": {  # LN1(x) gets only the queries' gradient: two block_backward tests
        "mistake": {"block_backward": ("layernorm_backward(dh1_q + dh1_kv, ln1_cache)",
                                       "layernorm_backward(dh1_q, ln1_cache)")},
        "loses": {"test_block_backward_dx", "test_block_backward_layernorm"},
        "feedback_names": ["dx", "only the query path"],
        # block_backward is called by its tests only (no self-check or question cell)
        "crash": {"block_backward": ("ln1_cache, attn_cache, ln2_cache, h2, z, r, params = cache",
                                     "import os; os._exit(1)\n    "
                                     "ln1_cache, attn_cache, ln2_cache, h2, z, r, params = cache")},
        "crash_loses": {"test_block_backward_dx", "test_block_backward_attention",
                        "test_block_backward_layernorm", "test_block_backward_ffn"},
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

"""Notebook intake: every bad submission is repaired or refused with a one-line reason, never
crashes, and the graded notebook always carries the master's tests."""
import copy
import json
import random

import nbformat
import pytest

from autograder import intake
from autograder.intake import normalize
from course import master_path, release_path, student_submission

NAME = "a01-rnn"
MASTER = master_path(NAME)


@pytest.fixture(scope="module")
def good():
    """a01 answered as a student would (the master's answers in the release)."""
    return student_submission(NAME)


@pytest.fixture(scope="module")
def master():
    return nbformat.read(MASTER, as_version=4)


def answers(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def write(tmp_path, nb, name=f"{NAME}.ipynb"):
    path = tmp_path / name
    if isinstance(nb, (bytes, str)):
        (path.write_bytes if isinstance(nb, bytes) else path.write_text)(nb)
    else:
        path.write_text(json.dumps(nb if isinstance(nb, dict) else nbformat.from_dict(nb)))
    return path


def cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def assert_is_master_with(got, master, expected_answers):
    """The graded notebook is the master cell for cell, answers excepted, outputs stripped."""
    assert got.reason is None and got.nb is not None, got.reason
    nb = got.nb
    nbformat.validate(nb)
    assert [c.get("id") for c in nb.cells] == [c.get("id") for c in master.cells]
    for mine, theirs in zip(nb.cells, master.cells):
        assert mine.metadata == theirs.metadata
        if not theirs.metadata.get("nbgrader", {}).get("solution"):
            assert mine.source == theirs.source
        if mine.cell_type == "code":
            assert mine.outputs == []
    assert answers(nb) == expected_answers


def test_a_good_submission_passes_unchanged(tmp_path, good, master):
    got = normalize(write(tmp_path, good), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert got.notes == []


def test_the_untouched_release_is_all_stubs(tmp_path, master):
    got = normalize(release_path(NAME), MASTER)
    release = nbformat.read(release_path(NAME), as_version=4)
    assert_is_master_with(got, master, answers(release))


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"  \n\t ", "empty"),
    (b'{"cells": [{"cell_type": "code", "sou', "not valid JSON (line 1"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"metadata": {}, "nbformat": 4}', "not a Jupyter notebook"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"def rnn_forward(x):\n    return x\n", "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
])
def test_unreadable_files_get_a_one_line_reason(tmp_path, content, words):
    got = normalize(write(tmp_path, content), MASTER)
    assert got.nb is None
    assert words in got.reason and "\n" not in got.reason and len(got.reason) < 300


def test_newer_nbformat_and_schema_version_are_read(tmp_path, good, master):
    data = json.loads(nbformat.writes(good))
    data["nbformat"], data["nbformat_minor"] = 5, 1
    for c in data["cells"]:
        if "nbgrader" in c["metadata"]:
            c["metadata"]["nbgrader"]["schema_version"] = 4
            c["metadata"]["nbgrader"]["new_field"] = {"x": 1}
    got = normalize(write(tmp_path, data), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert any("format 5.1" in n for n in got.notes)
    assert any("schema_version 4" in n for n in got.notes)


def test_a_renamed_test_cell_is_restored(tmp_path, good, master):
    nb = copy.deepcopy(good)
    cell(nb, "test_rnn_backward_dW_hh").metadata.nbgrader.grade_id = "my_test"
    cell(nb, "my_test").source = "pass  # full marks please"
    cell(nb, "test_rnn_forward").metadata.nbgrader.grade_id = "z" * 2**20  # a 1 MB name
    cell(nb, "rnn_forward").metadata.nbgrader.grade_id = "r" * 2**20
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert "restored deleted cell test_rnn_backward_dW_hh" in got.notes
    assert any("my_test" in n for n in got.notes)
    assert all(len(n) < 300 for n in got.notes), [len(n) for n in got.notes]


def test_edited_and_deleted_test_cells_come_from_the_master(tmp_path, good, master):
    nb = copy.deepcopy(good)
    cell(nb, "test_rnn_forward").source = "print('all good')"
    nb.cells.remove(cell(nb, "test_clip_grad_norm"))
    nb.cells.remove(cell(nb, "setup"))
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert "restored deleted cell test_clip_grad_norm" in got.notes


def test_renamed_answer_cells_are_found(tmp_path, good, master):
    nb = copy.deepcopy(good)
    cell(nb, "rnn_forward").metadata.nbgrader.grade_id = "renamed_by_id"     # id still there
    c = cell(nb, "rnn_backward")                                              # id and gid gone
    c.metadata.nbgrader.grade_id = "renamed_by_function"
    c.id = "abcdef12"
    c = cell(nb, "q2")                                                        # written answer
    c.metadata.nbgrader.grade_id = "renamed_by_position"
    c.id = "12abcdef"
    c.source = "My own answer to question 2."
    c = cell(nb, "clip_grad_norm")                                            # metadata gone
    del c.metadata["nbgrader"]
    c.id = "fedcba21"
    expected = dict(answers(good), q2="My own answer to question 2.")
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, expected)
    text = "\n".join(got.notes)
    for how in ("rnn_forward found by its cell id", "rnn_backward found by the functions",
                "q2 found by its position", "clip_grad_norm found by the functions"):
        assert how in text, text


def test_deleted_answers_become_stubs_without_the_solution(tmp_path, good, master):
    nb = copy.deepcopy(good)
    nb.cells.remove(cell(nb, "rnn_backward"))
    nb.cells.remove(cell(nb, "q1"))
    got = normalize(write(tmp_path, nb), MASTER)
    release = answers(nbformat.read(release_path(NAME), as_version=4))
    expected = dict(answers(good), rnn_backward=release["rnn_backward"], q1=release["q1"])
    assert_is_master_with(got, master, expected)
    assert "### BEGIN SOLUTION" not in cell(got.nb, "rnn_backward").source
    assert "answer cell rnn_backward is missing: graded as unanswered" in got.notes


def test_duplicated_cells_grade_the_answered_copy_once(tmp_path, good, master):
    nb = copy.deepcopy(good)
    stub = copy.deepcopy(cell(nbformat.read(release_path(NAME), as_version=4), "rnn_forward"))
    i = nb.cells.index(cell(nb, "rnn_forward"))
    nb.cells.insert(i + 1, stub)                      # the answered copy first, then a stub
    test = cell(nb, "test_rnn_forward")
    nb.cells.insert(0, copy.deepcopy(test))           # a test cell twice
    nb.cells[0].id, nb.cells[i + 1].id = "copy0001", "copy0002"  # Jupyter gives copies new ids
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert sum(1 for c in got.nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
               == "test_rnn_forward") == 1
    assert any("rnn_forward appears 2 times" in n for n in got.notes)


def test_moved_cells_are_put_back_in_order(tmp_path, good, master):
    nb = copy.deepcopy(good)
    nb.cells.reverse()
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, answers(good))


def test_huge_outputs_are_stripped_everywhere(tmp_path, good, master):
    nb = copy.deepcopy(good)
    line = "x" * (50 * 2**20)  # one 50 MB line
    out = nbformat.v4.new_output("stream", name="stdout", text=line)
    cell(nb, "rnn_forward").outputs = [out]
    cell(nb, "test_rnn_forward").outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                                   text="y" * 2**20)]
    got = normalize(write(tmp_path, nb), MASTER)
    assert_is_master_with(got, master, answers(good))
    assert len(nbformat.writes(got.nb)) < 2 * MASTER.stat().st_size
    assert all(len(n) < 300 for n in got.notes)
    assert any("outputs of answer cell rnn_forward removed" in n for n in got.notes)


def test_absurd_sizes_are_refused(tmp_path, good, monkeypatch):
    nb = copy.deepcopy(good)
    cell(nb, "rnn_forward").source += "\n#" + "y" * (intake.MAX_ANSWER_CHARS + 1)
    got = normalize(write(tmp_path, nb), MASTER)
    assert got.nb is None and "answer cell rnn_forward" in got.reason and "limit" in got.reason
    many = json.loads(nbformat.writes(good))
    many["cells"] += [nbformat.v4.new_code_cell("x = 1")] * intake.MAX_CELLS
    got = normalize(write(tmp_path, many), MASTER)
    assert got.nb is None and "cells, over the limit" in got.reason
    monkeypatch.setattr(intake, "MAX_FILE_BYTES", 1000)
    got = normalize(write(tmp_path, good), MASTER)
    assert got.nb is None and "over the" in got.reason and len(got.reason) < 200


def test_a_renamed_notebook_is_found(tmp_path, good, master):
    write(tmp_path, good, "Untitled (1).ipynb")
    (tmp_path / "timestamp.txt").write_text("2026-11-23 12:00:00 UTC")
    got = normalize(tmp_path / f"{NAME}.ipynb", MASTER)
    assert_is_master_with(got, master, answers(good))
    assert got.notes == [f"graded Untitled (1).ipynb as {NAME}.ipynb (file renamed)"]


def test_several_notebooks_grade_the_one_that_answers(tmp_path, good, master):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, nbformat.read(release_path(NAME), as_version=4), "copy.ipynb")
    write(sub, good, "final.ipynb")
    write(sub, b"{broken", "scratch.ipynb")
    (sub / ".ipynb_checkpoints").mkdir()
    write(sub / ".ipynb_checkpoints", good, "old-checkpoint.ipynb")
    got = normalize(sub / f"{NAME}.ipynb", MASTER)
    assert_is_master_with(got, master, answers(good))
    assert any("graded final.ipynb" in n for n in got.notes)
    write(sub, good, "final2.ipynb")  # two equally good ones: the instructor must decide
    got = normalize(sub, MASTER)
    assert got.nb is None and "equally" in got.reason


def test_file_names_with_newlines_stay_one_line(tmp_path, good):
    write(tmp_path, good, "my\nnotebook.ipynb")
    got = normalize(tmp_path / f"{NAME}.ipynb", MASTER)
    assert got.nb is not None and all("\n" not in n for n in got.notes), got.notes
    other = tmp_path / "other"
    other.mkdir()
    write(other, b"", "my\nempty.ipynb")
    got = normalize(other / f"{NAME}.ipynb", MASTER)
    assert got.nb is None and "empty" in got.reason and "\n" not in got.reason


def test_no_notebook_at_all(tmp_path):
    (tmp_path / "answers.py").write_text("def f(): pass")
    got = normalize(tmp_path / f"{NAME}.ipynb", MASTER)
    assert got.nb is None and "no notebook" in got.reason and "answers.py" in got.reason
    got = normalize(tmp_path / "missing" / f"{NAME}.ipynb", MASTER)
    assert got.nb is None and "no submission" in got.reason


def test_non_utf8_and_byte_order_marks(tmp_path, good, master):
    nb = copy.deepcopy(good)
    cell(nb, "rnn_forward").source += "\n# шаг вперёд"
    text = nbformat.writes(nb)
    expected = answers(nb)
    for data, word in ((text.encode("utf-8-sig"), "UTF-8-SIG"), (text.encode("utf-16"), "UTF-16")):
        got = normalize(write(tmp_path, data), MASTER)
        assert_is_master_with(got, master, expected)
        assert any(word in n for n in got.notes)
    got = normalize(write(tmp_path, text.encode("cp1251")), MASTER)  # a Windows editor's save
    assert got.nb is not None, got.reason
    assert cell(got.nb, "rnn_forward").source.endswith("# " + "\ufffd" * 3 + " " + "\ufffd" * 5)
    assert any("not valid UTF-8" in n for n in got.notes)


def test_odd_json_shapes_never_crash(tmp_path, good):
    data = json.loads(nbformat.writes(good))
    data["cells"] += [None, 3, "text", {"cell_type": "code"},
                      {"cell_type": "code", "source": 42, "metadata": None},
                      {"cell_type": "markdown", "source": ["a", 1], "metadata": {"nbgrader": 7}},
                      {"cell_type": "code", "source": "x", "metadata": {"nbgrader": {
                          "grade_id": ["list"], "solution": True}}}]
    for c in data["cells"][:5]:
        if isinstance(c, dict):
            c["id"] = "same-id"  # duplicated cell ids: nbformat's reader would refuse the file
    got = normalize(write(tmp_path, data), MASTER)
    assert got.nb is not None, got.reason
    assert answers(got.nb) == answers(good)


def test_command_line(tmp_path, good, capsys):
    nb = copy.deepcopy(good)
    nb.cells.remove(cell(nb, "test_rnn_forward"))
    out = tmp_path / "repaired.ipynb"
    assert intake.main([str(write(tmp_path, nb)), str(MASTER), str(out)]) == 0
    assert "repaired: restored deleted cell test_rnn_forward" in capsys.readouterr().out
    assert cell(nbformat.read(out, as_version=4), "test_rnn_forward").source
    assert intake.main([str(write(tmp_path, b"")), str(MASTER)]) == 1
    assert "not graded:" in capsys.readouterr().out


def test_random_corruption_never_raises(tmp_path, good):
    """Truncations and byte flips: always an Intake, a repaired notebook or a reason."""
    raw = nbformat.writes(good).encode()
    rng = random.Random(0)
    for k in range(60):
        data = bytearray(raw)
        if k % 2:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        got = normalize(write(tmp_path, bytes(data)), MASTER)
        assert (got.nb is None) != (got.reason is None)
        if got.reason:
            assert "\n" not in got.reason and len(got.reason) < 400


def test_nbformat3_is_converted(tmp_path, good, master):
    v3 = nbformat.convert(copy.deepcopy(good), 3)
    got = normalize(write(tmp_path, nbformat.writes(v3, version=3)), MASTER)
    assert got.nb is not None, got.reason
    assert "notebook format 3 converted to 4" in got.notes
    assert answers(got.nb)["rnn_forward"] == answers(good)["rnn_forward"]


def test_images_in_written_answers(tmp_path, good, monkeypatch):
    nb = copy.deepcopy(good)
    png = {"image/png": "iVBORw0KGgo="}
    cell(nb, "q1").attachments = {"plot.png": png}
    cell(nb, "q1").source = "See ![plot](attachment:plot.png)"
    data = json.loads(nbformat.writes(nb))
    for c in data["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "q2":
            c["attachments"] = {"x.png": ["not", "a", "dict"]}  # malformed: dropped
    got = normalize(write(tmp_path, data), MASTER)
    nbformat.validate(got.nb)
    assert cell(got.nb, "q1").attachments == {"plot.png": png}
    assert "attachments" not in cell(got.nb, "q2")
    monkeypatch.setattr(intake, "MAX_ATTACHMENT_BYTES", 10)
    got = normalize(write(tmp_path, data), MASTER)
    assert "attachments" not in cell(got.nb, "q1")
    assert any("images in answer q1 dropped" in n for n in got.notes)


@pytest.mark.parametrize("name", sorted(p.name for p in (MASTER.parent.parent).iterdir()
                                        if (p / f"{p.name}.ipynb").is_file()))
def test_every_assignment_round_trips(tmp_path, name):
    """Each master: an answered release comes back as the master with the student's answers;
    with its cells shuffled and every grade_id of a test renamed, still."""
    master = nbformat.read(master_path(name), as_version=4)
    sub = student_submission(name)
    got = normalize(write(tmp_path, sub, f"{name}.ipynb"), master_path(name))
    assert_is_master_with(got, master, answers(sub))
    random.Random(1).shuffle(sub.cells)
    for c in sub.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            meta["grade_id"] = "renamed_" + meta["grade_id"]
    got = normalize(write(tmp_path, sub, f"{name}.ipynb"), master_path(name))
    assert_is_master_with(got, master, answers(sub))


def test_a_symbolic_link_is_not_followed(tmp_path):
    (tmp_path / f"{NAME}.ipynb").symlink_to(MASTER)  # the master's solutions, full marks?
    got = normalize(tmp_path / f"{NAME}.ipynb", MASTER)
    assert got.nb is None and "symbolic link" in got.reason
    (tmp_path / f"{NAME}.ipynb").unlink()
    (tmp_path / "other.ipynb").symlink_to(MASTER)
    got = normalize(tmp_path / f"{NAME}.ipynb", MASTER)
    assert got.nb is None and "no notebook" in got.reason

"""Nothing of the instructor's reaches the student release in assignments/."""
import json

import nbformat

from autograder.release import assignments, leaks
from course import ROOT, master_path, release_path


def test_release_has_no_instructor_markers():
    assert not leaks(ROOT / "assignments")


def test_every_master_has_a_release_and_vice_versa():
    masters = set(assignments())
    released = {p.name for p in (ROOT / "assignments").iterdir() if p.is_dir()}
    assert masters == released


def test_release_holds_no_solution_code_or_model_answer():
    for name in assignments():
        master = nbformat.read(master_path(name), as_version=4)
        release = nbformat.read(release_path(name), as_version=4)
        released_text = json.dumps([c.source for c in release.cells])
        for cell in master.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("solution"):
                continue
            # every line of a solution region must be gone from the release
            inside = False
            for line in cell.source.splitlines():
                if "BEGIN SOLUTION" in line:
                    inside = True
                elif "END SOLUTION" in line:
                    inside = False
                elif inside and len(line.strip()) > 12:
                    assert line.strip() not in released_text, f"{name}: leaked {line.strip()!r}"
            if cell.cell_type == "markdown":  # manually graded answers: model answer gone
                assert cell.source.strip()[:60] not in released_text


def test_release_outputs_are_stripped():
    for name in assignments():
        for cell in nbformat.read(release_path(name), as_version=4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None

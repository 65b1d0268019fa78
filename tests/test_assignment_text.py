"""What the assignments tell students agrees with what the grading does.

Static checks of the masters (no notebook is executed): the relative error that every failure
message reports is defined in each assignment and in the README with the tolerance the checks
use; the setup cells describe nbgrader's handling of stderr as nbgrader_config.py sets it up;
visible tests run one fixed case; hidden-test footers of single-step tests do not promise a
`T = 1` case; students outside JupyterLab are told how to run past a failing cell; masters carry
no outputs.
"""
import json
import math
import re
from pathlib import Path

import pytest

from autograder.checks import ATOL_ULPS, RTOL, rel_error

ROOT = Path(__file__).resolve().parent.parent
MASTERS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def by_id(path, grade_id):
    return next(source(c) for c in cells(path)
                if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _exponent():
    """checks.RTOL as 1e-k: the k the texts state."""
    k = round(-math.log10(RTOL))
    assert RTOL == 10.0 ** -k, "texts state the tolerance as a power of ten"
    return k


def test_there_are_masters():
    assert len(MASTERS) >= 5


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_intro_defines_relative_error_with_the_checks_threshold(path):
    intro = by_id(path, "intro")
    assert "*relative error*" in intro and "atol" in intro
    assert f"10^{{-{_exponent()}}}" in intro, "the stated rtol is not checks.RTOL"
    assert "--allow-errors" in intro and "nbgrader validate" in intro


def test_relative_error_is_as_described():
    assert rel_error(1.0, -1.0) == 1.0 and rel_error(0.0, 3.0) == 1.0
    assert rel_error(3.0, 1.0) == 0.5
    assert float(rel_error(1e-12, 3e-12)) == pytest.approx(0.5)  # no floor: the tolerance has it


def test_readme_defines_relative_error_and_stderr_rule():
    readme = (ROOT / "README.md").read_text()
    assert "*relative error*" in readme
    assert f"rtol = 1e-{_exponent()}" in readme and f"2**{round(math.log2(ATOL_ULPS))}" in readme
    assert "--allow-errors" in readme
    assert "IgnorePattern" in readme and "nbgrader validate" in readme


def test_nbgrader_ignores_warnings_but_not_other_stderr():
    config = (ROOT / "nbgrader_config.py").read_text()
    assert "c.IgnorePattern.enabled = True" in config
    pattern = re.search(r'c\.IgnorePattern\.pattern = r"(.*)"', config).group(1)
    assert re.search(pattern, "/x.py:3: UserWarning: careful\n  warnings.warn('careful')\n")
    assert not re.search(pattern, "something went wrong\n")


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_setup_cell_states_the_stderr_rule(path):
    setup = by_id(path, "setup")
    assert "would count as a failed test" not in setup
    assert "never cost points when the instructor grades" in setup


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_visible_tests_run_one_fixed_case(path):
    for cell in cells(path):
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("grade") or cell["cell_type"] != "code":
            continue
        visible = source(cell).split("### BEGIN HIDDEN TESTS")[0]
        for call in re.findall(r"grader\.check_\w+\(.*\)", visible):
            assert "seed=0" in call, f"{meta['grade_id']}: visible call without seed=0: {call}"


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_single_step_footers_do_not_mention_T(path):
    for cell in cells(path):
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if re.match(r"test_\w+_step_", gid):
            assert "T=1" not in source(cell), gid


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_masters_carry_no_outputs(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name}: a code cell has saved outputs; clear them before committing"

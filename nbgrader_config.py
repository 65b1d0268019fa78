"""nbgrader configuration for the course. Run every nbgrader command from the repository root.

solutions/<assignment>/   instructor masters (nbgrader "source")
assignments/<assignment>/ student release, generated from the masters and committed
classroom/                runtime state, git-ignored: submitted/, autograded/, feedback/,
                          gradebook.db (holds the hidden tests: never publish it)
"""
import os

c = get_config()  # noqa: F821  (provided by nbgrader)

ROOT = os.path.dirname(os.path.abspath(__file__))
CLASSROOM = os.environ.get("COURSE_CLASSROOM", os.path.join(ROOT, "classroom"))
os.makedirs(CLASSROOM, exist_ok=True)

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = os.path.relpath(os.path.join(CLASSROOM, "submitted"), ROOT)
c.CourseDirectory.autograded_directory = os.path.relpath(os.path.join(CLASSROOM, "autograded"), ROOT)
c.CourseDirectory.feedback_directory = os.path.relpath(os.path.join(CLASSROOM, "feedback"), ROOT)
c.CourseDirectory.solution_directory = os.path.relpath(os.path.join(CLASSROOM, "solution"), ROOT)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(CLASSROOM, "gradebook.db")
c.CourseDirectory.course_id = "seqmodels"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# KB per file a student may submit (nbgrader drops larger files silently). As large as intake
# accepts (autograder/intake.py MAX_FILE_BYTES): a notebook with huge outputs must reach intake,
# which strips them, rather than vanish on the way.
c.CourseDirectory.max_file_size = 100000

# Student-facing stubs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: a generous per-cell timeout (a hidden test takes well under a second), cells
# that a student deleted come back from the gradebook, and warnings on stderr never turn
# a passing test into a failing one.
c.Execute.timeout = 180  # the a04 training cell takes about a minute on 2 cores
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r".*(Warning|warn\().*"

# ---- BEGIN judge: trusted verdicts (issue 7, items 1-3) ----
# `nbgrader autograde` runs no kernel: JudgeExecute takes the verdict of every test cell from
# the trusted judge (student code in a sandboxed worker, the checks outside it) and nbgrader's
# SaveAutoGrades writes them to the gradebook. `make grade A=...` computes a class in parallel
# first. Replaces Execute and IgnorePattern (no kernel output to filter).
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata,  # noqa: E402
                                    LimitOutput, SaveAutoGrades)

from autograder.nbgrader_plugins import JudgeExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [JudgeExecute, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
# ---- END judge ----

# Feedback: nbgrader shows hidden-test source and full tracebacks by design; our
# preprocessor replaces hidden regions with a note and keeps only the error message.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.nbgrader_plugins import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]

# ---- BEGIN intake: local exchange and gradebook URL (issue 7, items 7 and 8) ----
# The exchange lets `release_assignment`, `fetch_assignment`, `submit` and `collect` work on one
# machine: the instructor releases into it, students (other accounts on the same machine, or
# JupyterHub users) fetch from and submit to it. It must exist and be writable by every student
# (sticky, like /tmp, so nobody can remove another's submission). Students, whose working
# directory has no copy of this file, pass the same root:
#   nbgrader fetch_assignment a01-rnn --course=seqmodels --Exchange.root=<repo>/classroom/exchange
# Students reach it through classroom/, which is therefore traverse-only for them (0711), and
# everything else in classroom/ (gradebook.db with the hidden tests, submissions, feedback)
# is made private to the instructor each time an nbgrader command loads this file.
EXCHANGE = os.path.join(CLASSROOM, "exchange")
if not os.path.isdir(EXCHANGE):
    os.makedirs(EXCHANGE, exist_ok=True)
    try:
        os.chmod(EXCHANGE, 0o1777)
    except OSError:
        pass
for _path in [CLASSROOM] + [os.path.join(CLASSROOM, n) for n in os.listdir(CLASSROOM)
                            if n != "exchange"]:
    try:
        if os.stat(_path).st_uid == os.getuid() and not os.path.islink(_path):
            os.chmod(_path, 0o711 if _path == CLASSROOM else os.stat(_path).st_mode & 0o700)
    except OSError:
        pass
c.Exchange.root = EXCHANGE
# The gradebook: SQLite in classroom/ by default; COURSE_DB_URL (e.g.
# postgresql://user@host:5432/seqmodels) points several grading machines at one PostgreSQL
# gradebook, each grading a disjoint shard of the class.
if os.environ.get("COURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["COURSE_DB_URL"]
# ---- END intake ----

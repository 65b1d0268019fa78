"""nbgrader plugins of the course.

HideHiddenTests runs when feedback is generated. nbgrader puts the hidden tests back into
every graded notebook (that is how they run) and its feedback HTML shows them, together
with tracebacks quoting their lines. This preprocessor replaces each hidden region with a
one-line note and reduces every error output to its message: the student learns what is
wrong (the checks' messages name the gradient, time step and error) but not the tests.
"""
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

NOTE = "# (hidden tests ran here at grading time; their result is shown below)"


class HideHiddenTests(Preprocessor):
    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off by default
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)

    def _strip(self, source: str) -> str:
        out, hidden = [], False
        for line in source.splitlines():
            if self.begin in line:
                hidden = True
                out.append(line[: len(line) - len(line.lstrip())] + NOTE)
            elif self.end in line:
                hidden = False
            elif not hidden:
                out.append(line)
        return "\n".join(out)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source = self._strip(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: "
                                           f"{output.get('evalue', '')}"]
        return cell, resources


class JudgeExecute(Preprocessor):
    """Replaces nbgrader's Execute in `autograde`: no kernel runs the submission.

    The verdict of every test cell comes from the trusted judge (`autograder.judge`): the
    student's answer cells run in a sandboxed worker, the master's tests run in the judge.
    Each test cell gets the judge's outcome as its output (an error output with the message
    when it failed, the checks' "OK" lines otherwise), so nbgrader's own SaveAutoGrades
    scores it and formgrader, generate_feedback and export show the trusted verdicts.

    `make grade` computes the verdicts of a whole class in parallel first and leaves them in
    JUDGE_VERDICTS (a directory of <student>.json); this preprocessor then only copies them
    in. Run as plain `nbgrader autograde`, it grades each notebook itself.
    """
    enabled = Bool(True).tag(config=True)
    masters = Unicode("solutions").tag(config=True)

    def preprocess(self, nb, resources):
        import json
        import os

        import nbformat

        from autograder import judge

        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment"), info.get("student")
        notebook = info.get("notebook")
        verdicts = None
        folder = os.environ.get("JUDGE_VERDICTS")
        if folder:
            path = os.path.join(folder, f"{student}.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    saved = json.load(f)
                if saved.get("answers_hash") == judge.answers_hash(nb):
                    verdicts = [judge.Verdict(**v) for v in saved["verdicts"]]
                    self.log.info("verdicts of %s from make grade", student)
        if verdicts is None:
            self.log.info("grading %s with the trusted judge (%s)", student, judge.sandbox_kind())
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            master = nbformat.read(os.path.join(root, self.masters, assignment,
                                                f"{notebook}.ipynb"), as_version=4)
            verdicts = judge.grade_notebook(nb, master, assignment)
        judge.apply_verdicts(nb, verdicts)
        return nb, resources

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

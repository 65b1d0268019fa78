"""Tiny helper to author nbgrader masters from Python: cells as (kind, id, source, opts).

Used once to write a master; afterwards the .ipynb in solutions/ is the source of truth
(edit it in JupyterLab with the nbgrader "Create Assignment" sidebar, or round-trip it
with jupytext). Kinds: md (read-only markdown), code (plain, editable), setup (read-only
code), answer (autograded answer), test (autograded test, opts: points), written
(manually graded markdown answer, opts: points).
"""
import nbformat


def cell(kind, grade_id, source, points=0):
    source = source.strip("\n")
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
            "solution": False, "task": False}
    if kind in ("md", "written"):
        c = nbformat.v4.new_markdown_cell(source)
    else:
        c = nbformat.v4.new_code_cell(source)
    if kind == "code":
        return c
    if kind in ("md", "setup"):
        meta["locked"] = True
    elif kind == "answer":
        meta["solution"] = True
    elif kind == "test":
        meta.update(grade=True, locked=True, points=points)
    elif kind == "written":
        meta.update(grade=True, solution=True, points=points)
    c.metadata["nbgrader"] = meta
    return c


def write(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell(*c) if isinstance(c, tuple) else c for c in cells]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)

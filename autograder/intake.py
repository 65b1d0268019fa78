"""Notebook intake: turn whatever a student handed in into a notebook that can be graded.

    from autograder.intake import normalize
    got = normalize("classroom/submitted/s001/a01-rnn/a01-rnn.ipynb", "solutions/a01-rnn/a01-rnn.ipynb")
    got.nb       # the repaired notebook, or None when the submission cannot be graded
    got.reason   # one line saying why it cannot be graded (None when nb is set)
    got.notes    # one line per repair made

The graded notebook is the master's, cell for cell: test cells and every other cell the
student may not change come from the master, so nothing a student does to them (renaming a
grade_id, deleting, duplicating or moving cells, a newer nbgrader schema in the metadata)
reaches the grader. Only the answer cells (nbgrader `solution` cells) come from the
submission, matched to the master's by grade_id, then by cell id, then by the functions the
master's cell defines, then by order. Answers lose their outputs (a 50 MB print must not
reach the graded notebook or the feedback); an answer that is missing becomes the release
stub, so it scores 0 and nothing else. The JSON is read leniently (any nbformat 4.x or a
newer major with a `cells` list, nbformat 3, a byte-order mark, a non-UTF-8 byte), never with
a validator that could reject the whole file for one odd field.

`normalize` never raises on a bad submission: it returns a reason instead.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_FILE_BYTES = 100_000_000     # refused unread (a real one is ~100 KB); = nbgrader's max_file_size
MAX_ANSWER_CHARS = 2 * 2**20     # one answer cell's source; a longer one is refused
MAX_ATTACHMENT_BYTES = 2**20     # images pasted into a written answer, all together
MAX_CELLS = 5000                 # an assignment has under a hundred
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
SCHEMA_VERSION = 3               # the nbgrader cell-metadata schema this course writes
_DEF = re.compile(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(|^class\s+([A-Za-z_]\w*)", re.M)
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*$.*?^[ \t]*### END SOLUTION[ \t]*$",
                       re.M | re.S)


@dataclass
class Intake:
    nb: nbformat.NotebookNode | None
    reason: str | None
    notes: list[str] = field(default_factory=list)


class Refused(Exception):
    """A submission that cannot be graded; str() is the one-line reason."""


def normalize(path: str | Path, master_path: str | Path) -> Intake:
    notes: list[str] = []
    try:
        master = nbformat.read(str(master_path), as_version=4)
    except Exception as exc:  # the instructor's file: say so, do not blame the student
        return Intake(None, f"master notebook {master_path} cannot be read: {_short(exc)}", notes)
    try:
        nb_path = _pick_notebook(Path(path), Path(master_path).name, master, notes)
        cells = _read_cells(nb_path, notes)
        return Intake(_merge(master, cells, notes), None, _lines(notes))
    except Refused as exc:
        return Intake(None, _lines([str(exc)])[0], _lines(notes))
    except Exception as exc:  # never stop a batch: an unforeseen shape is a reason too
        return Intake(None, f"submission could not be read ({type(exc).__name__}: {_short(exc)})",
                      _lines(notes))


def _lines(texts: list[str]) -> list[str]:
    """One line each, whatever a file name held (a newline is a valid character in one)."""
    return [" ".join(t.split()) for t in texts]


# ---------------------------------------------------------------- which file ---

def _pick_notebook(path: Path, expected: str, master, notes: list) -> Path:
    """The notebook to grade: `path` itself, or the single / best-matching notebook in its folder
    when the student renamed it or handed in several."""
    folder = path if path.is_dir() and not path.is_symlink() else path.parent
    if path.is_symlink():  # it could point at the instructor's master or another student's work
        raise Refused(f"{path.name} is a symbolic link, not a notebook file")
    if path.is_file():
        return path
    if not folder.is_dir():
        raise Refused(f"no submission found at {path}")
    found = sorted(p for p in folder.rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and p.is_file() and not p.is_symlink())
    if not found:
        others = sorted(p.name for p in folder.iterdir() if p.name != "timestamp.txt")[:5]
        raise Refused(f"no notebook in the submission (expected {expected}; found "
                      f"{', '.join(others) or 'nothing'})")
    if len(found) == 1:
        if found[0].name != expected:
            notes.append(f"graded {found[0].name} as {expected} (file renamed)")
        return found[0]
    # several notebooks: grade the one that answers most of this assignment's cells
    answers = {_gid(c) for c in master.cells if _is_answer(c)}
    scored = []
    for p in found:
        try:
            cells = _read_cells(p, [])
            score = sum(1 for c in cells if _gid(c) in answers and not _is_stub(c))
        except Refused:
            score = -1
        scored.append((score, p))
    scored.sort(key=lambda sp: -sp[0])
    best, second = scored[0], scored[1]
    names = ", ".join(p.name for _, p in scored[:5])
    if best[0] <= 0:
        raise Refused(f"{len(found)} notebooks ({names}) and none answers {expected}")
    if best[0] == second[0]:
        raise Refused(f"{len(found)} notebooks answer {expected} equally ({names}): "
                      f"hand in one named {expected}")
    notes.append(f"{len(found)} notebooks handed in ({names}): graded {best[1].name}, "
                 f"which answers the most cells")
    return best[1]


# ---------------------------------------------------------------- reading ---

def _read_cells(path: Path, notes: list) -> list[dict]:
    """The submission's cells as plain dicts (source a str, metadata a dict)."""
    size = path.stat().st_size
    if size == 0:
        raise Refused(f"{path.name} is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise Refused(f"{path.name} is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB "
                      f"limit (clear the outputs and hand it in again)")
    raw = path.read_bytes()
    text = _decode(raw, path.name, notes)
    if not text.strip():
        raise Refused(f"{path.name} is empty (only whitespace)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                      f"{exc.msg}); it may have been cut off while saving") from None
    except RecursionError:
        raise Refused(f"{path.name} is JSON nested too deeply to be a notebook") from None
    if not isinstance(data, dict):
        raise Refused(f"{path.name} is JSON but not a Jupyter notebook (a {type(data).__name__})")
    major = data.get("nbformat")
    if "cells" not in data and "worksheets" in data:  # nbformat 3
        try:
            data = nbformat.convert(nbformat.from_dict(data), 4)
            notes.append("notebook format 3 converted to 4")
        except Exception as exc:
            raise Refused(f"{path.name} is an nbformat 3 notebook that cannot be converted: "
                          f"{_short(exc)}") from None
    elif isinstance(major, int) and major > 4:
        notes.append(f"notebook format {major}.{data.get('nbformat_minor', 0)} read as 4")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise Refused(f"{path.name} is JSON but not a Jupyter notebook (no list of cells)")
    if len(cells) > MAX_CELLS:
        raise Refused(f"{path.name} has {len(cells)} cells, over the limit of {MAX_CELLS}")
    out, newer = [], set()
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        version = nbg.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            newer.add(version)
        out.append({"cell_type": str(cell.get("cell_type", "code")),
                    "id": cell.get("id") if isinstance(cell.get("id"), str) else None,
                    "source": _text(cell.get("source", "")),
                    "nbgrader": nbg,
                    "attachments": cell.get("attachments"),
                    "outputs": cell.get("outputs") or []})
    if newer:
        notes.append(f"nbgrader schema_version {max(newer)} in cell metadata read as "
                     f"{SCHEMA_VERSION} (only grade_id and the answer text are used)")
    return out


def _decode(raw: bytes, name: str, notes: list) -> str:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                       (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                       (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
                notes.append(f"{name} was saved as {codec.upper()}, read as such")
                return text
            except UnicodeDecodeError:
                break
    if b"\x00" in raw[:4096]:
        raise Refused(f"{name} is a binary file, not a notebook")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = sum(1 for _ in re.finditer(rb"[\x80-\xff]+", raw))
        notes.append(f"{name} is not valid UTF-8 (first bad byte at offset {exc.start}); "
                     f"{bad} run(s) of bytes replaced by U+FFFD")
        return raw.decode("utf-8", errors="replace")


def _text(source) -> str:
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


# ---------------------------------------------------------------- merging ---

def _merge(master, cells: list[dict], notes: list):
    """The master notebook with each answer cell's source taken from the submission."""
    nb = copy.deepcopy(master)
    master_ids = {_gid(c) for c in master.cells if _gid(c)}
    answers = [c for c in nb.cells if _is_answer(c)]
    claimed: dict[int, int] = {}  # index in nb.cells -> index in cells

    # 1. grade_id; a duplicated grade_id takes the last copy the student actually wrote in
    #    (it is the one their kernel ran last)
    by_gid: dict[str, list[int]] = {}
    for j, c in enumerate(cells):
        if _gid(c):
            by_gid.setdefault(_gid(c), []).append(j)
    for gid, js in by_gid.items():
        if len(js) > 1:
            notes.append(f"cell {_clip(gid)} appears {len(js)} times; "
                         + ("the answered copy is graded" if gid in {_gid(a) for a in answers}
                            else "the master's copy is graded"))
    for i, cell in enumerate(nb.cells):
        if _is_answer(cell) and _gid(cell) in by_gid:
            js = by_gid[_gid(cell)]
            written = [j for j in js if not _is_stub(cells[j])]
            claimed[i] = (written or js)[-1]
    used = set(claimed.values())
    # candidates for the fallbacks: cells the student may have renamed or re-created, never
    # one that carries a grade_id of another master cell (a test, a locked cell)
    free = [j for j, c in enumerate(cells) if j not in used and _gid(c) not in master_ids
            and c["source"].strip()]

    def claim(i, j, how):
        claimed[i] = j
        used.add(j)
        free.remove(j)
        old = _gid(cells[j])
        notes.append(f"answer cell {_gid(nb.cells[i])} found by {how}"
                     + (f" (its grade_id was renamed to {_clip(old)!r})" if old else
                        " (its nbgrader metadata was gone)"))

    # 2. cell id (nbformat 4.5 ids survive a renamed grade_id)
    for i, cell in enumerate(nb.cells):
        if _is_answer(cell) and i not in claimed and cell.get("id"):
            match = [j for j in free if cells[j]["id"] == cell["id"]]
            if match:
                claim(i, match[-1], "its cell id")
    # 3. the functions and classes the master's answer defines
    defined = {j: _defines(cells[j]["source"]) for j in free if cells[j]["cell_type"] == "code"}
    for i, cell in enumerate(nb.cells):
        if _is_answer(cell) and i not in claimed and cell.cell_type == "code":
            names = _defines(cell.source)
            match = [j for j in free if names and names <= defined.get(j, set())]
            if match:
                claim(i, match[-1], "the functions it defines")
    # 4. order: unclaimed answers against unclaimed cells still flagged as answers
    rest = [j for j in free if cells[j]["nbgrader"].get("solution")]
    for i, cell in enumerate(nb.cells):
        if _is_answer(cell) and i not in claimed:
            match = [j for j in rest if j in free and cells[j]["cell_type"] == cell.cell_type]
            if match:
                claim(i, match[0], "its position")

    attachments = 0
    for i, cell in enumerate(nb.cells):
        if not _is_answer(cell):
            _clear_outputs(cell)
            continue
        gid = _gid(cell)
        if i not in claimed:
            cell.source = _stub(cell)
            cell.pop("attachments", None)
            notes.append(f"answer cell {gid} is missing: graded as unanswered")
            _clear_outputs(cell)
            continue
        got = cells[claimed[i]]
        if len(got["source"]) > MAX_ANSWER_CHARS:
            raise Refused(f"answer cell {gid} is {len(got['source']) / 2**20:.1f} MB of text, over "
                          f"the {MAX_ANSWER_CHARS // 2**20} MB limit")
        if got["cell_type"] != cell.cell_type:
            notes.append(f"answer cell {gid} was turned into {got['cell_type']}: "
                         f"read back as {cell.cell_type}")
        cell.source = got["source"]
        cell.pop("attachments", None)  # the master's (a model answer's images) never stay
        if got["outputs"]:
            size = len(json.dumps(got["outputs"]))
            if size > 100_000:
                notes.append(f"outputs of answer cell {gid} removed ({size / 2**20:.1f} MB)")
        _clear_outputs(cell)
        if cell.cell_type == "markdown" and _valid_attachments(got["attachments"]):
            size = len(json.dumps(got["attachments"]))
            if attachments + size <= MAX_ATTACHMENT_BYTES:
                cell["attachments"] = got["attachments"]
                attachments += size
            else:
                notes.append(f"images in answer {gid} dropped ({size / 2**20:.1f} MB, over "
                             f"the {MAX_ATTACHMENT_BYTES // 2**20} MB limit)")

    for gid in sorted(master_ids - set(by_gid)):
        cell = next(c for c in nb.cells if _gid(c) == gid)
        if not _is_answer(cell) and cell.metadata["nbgrader"].get("grade"):
            notes.append(f"restored deleted cell {gid}")
    renamed = sorted({_gid(c) for c in cells if _gid(c) and _gid(c) not in master_ids
                      and not c["nbgrader"].get("solution")})
    if renamed:
        notes.append(f"ignored cells with unknown grade_id {', '.join(map(_clip, renamed[:5]))}"
                     + (f" and {len(renamed) - 5} more" if len(renamed) > 5 else "")
                     + " (the master's cells are graded)")
    master_cell_ids = {c.get("id") for c in master.cells}
    added = [j for j in free if cells[j]["cell_type"] == "code" and not _gid(cells[j])
             and cells[j]["id"] not in master_cell_ids]
    if added:
        notes.append(f"{len(added)} code cell(s) you added were not run: only answer cells are "
                     f"graded (put helper functions inside an answer cell)")
    return nb


def _gid(cell) -> str | None:
    meta = cell["nbgrader"] if "nbgrader" in cell and "metadata" not in cell else \
        cell.get("metadata", {}).get("nbgrader", {})
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) and gid else None


def _is_answer(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _is_stub(cell: dict) -> bool:
    src = cell["source"]
    return not src.strip() or "raise NotImplementedError()" in src or src.strip() == TEXT_STUB


def _valid_attachments(att) -> bool:
    """{name: {mime type: base64 text}}, as nbformat 4 requires (anything else is dropped)."""
    return isinstance(att, dict) and bool(att) and all(
        isinstance(k, str) and isinstance(v, dict) and v
        and all(isinstance(m, str) and isinstance(d, (str, list)) for m, d in v.items())
        for k, v in att.items())


def _defines(source: str) -> set:
    return {a or b for a, b in _DEF.findall(source)}


def _stub(cell) -> str:
    """What the release holds in this answer cell: the master's text with every solution
    region replaced by the stub (the master may be the instructor's source)."""
    if cell.cell_type != "code":
        return TEXT_STUB
    src = cell.source
    if "### BEGIN SOLUTION" not in src:
        return src if "NotImplementedError" in src else CODE_STUB
    return _SOLUTION.sub(lambda m: "\n".join(m.group(1) + line for line in CODE_STUB.split("\n")),
                         src)


def _clear_outputs(cell) -> None:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None


def _clip(name: str, limit: int = 40) -> str:
    """A name the student chose (a grade_id), cut short for a note."""
    return name if len(name) <= limit else name[:limit] + "..."


def _short(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def main(argv=None) -> int:
    """python -m autograder.intake SUBMISSION MASTER [OUT]: print the repairs or the reason,
    and write the repaired notebook to OUT if given."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print(main.__doc__)
        return 2
    got = normalize(args[0], args[1])
    for note in got.notes:
        print(f"repaired: {note}")
    if got.nb is None:
        print(f"not graded: {got.reason}")
        return 1
    if len(args) == 3:
        nbformat.write(got.nb, args[2])
    print("gradable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

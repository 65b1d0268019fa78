"""A synthetic class: per-submission result files as `make grade` writes them (INTERFACES §1).

    python scripts/synthetic_results.py a01-rnn --students 200 --seed 0 \
        --out classroom/results/a01-rnn

The tests and points come from the assignment's master; each simulated student has an
ability, fails each test with a probability that falls with it, and a failure names one of a
few known mistakes of that test (or none, or two), or is an exception / timeout / limit. A few
submissions are not graded, for the reasons intake gives. For the class report's tests and for
benchmarks of anything that reads result files (`write_class` is importable).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent

# Known mistakes by what a test checks (the last part of its grade_id); others get GENERIC.
CAUSES = {
    "dW_hh": ["tanh derivative (1 - h**2) left out", "W_hh transposed",
              "gradient not accumulated over time steps"],
    "dW_xh": ["tanh derivative (1 - h**2) left out", "W_xh transposed"],
    "dx": ["tanh derivative (1 - h**2) left out", "multiplied by W_xh.T instead of W_xh"],
    "dh0": ["dh from the next step not carried back", "tanh derivative (1 - h**2) left out"],
    "dh_prev": ["tanh derivative (1 - h**2) left out", "W_hh transposed"],
    "db_h": ["summed over the wrong axis"],
    "dlogits": ["softmax backward without the 1/N", "mask not applied to the gradient"],
    "value": ["mean over all steps instead of the masked ones"],
    "forward": ["previous hidden state not used", "tanh left out"],
}
GENERIC = ["wrong sign", "off by a factor of 2"]
NOT_GRADED = ["{name}.ipynb is not valid JSON (line 412, column 9: Expecting ',' delimiter); "
              "it may have been cut off while saving",
              "no notebook in the submission (expected {name}.ipynb; found answers.py)",
              "{name}.ipynb is empty (0 bytes)",
              "3 notebooks answer {name}.ipynb equally (a.ipynb, b.ipynb, c.ipynb): hand in one"]
NOTES = ["restored deleted cell test_rnn_forward", "outputs of answer cell rnn_forward removed "
         "(48.0 MB)", "graded Untitled.ipynb as {name}.ipynb (file renamed)",
         "nbgrader schema_version 4 in cell metadata read as 3 (only grade_id and the answer "
         "text are used)"]


def tests_of(name: str) -> list[tuple[str, float]]:
    """(grade_id, points) of the autograded test cells of an assignment's master."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    out = []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and c.cell_type == "code":
            out.append((meta["grade_id"], float(meta.get("points", 0))))
    return out


def causes_for(grade_id: str) -> list[str]:
    for key, causes in CAUSES.items():
        if grade_id.endswith(key):
            return causes
    return GENERIC


def student(name: str, sid: str, tests, rng: random.Random) -> dict:
    rec = {"student": sid, "assignment": name, "notes": [], "tests": []}
    rec["seconds"] = round(rng.lognormvariate(-0.3, 0.35) * (8 if rng.random() < 0.02 else 1), 3)
    if rng.random() < 0.04:
        rec.update(status="not_graded", reason=rng.choice(NOT_GRADED).format(name=name),
                   score=None, max_score=None, seconds=round(rng.uniform(0.01, 0.05), 3))
        return rec
    if rng.random() < 0.06:
        rec["notes"].append(rng.choice(NOTES).format(name=name))
    ability = rng.betavariate(4, 1.5)
    for gid, pts in tests:
        passed = rng.random() < ability ** 0.7
        t = {"grade_id": gid, "points": pts if passed else 0.0, "max_points": pts,
             "passed": passed, "message": "", "causes": [], "error_kind": None}
        if not passed:
            kind = rng.choices(["wrong", "exception", "timeout", "limit", "forbidden_import"],
                               [85, 9, 2, 2, 2])[0]
            t["error_kind"] = kind
            if kind == "wrong":
                known = causes_for(gid)
                draw = rng.random()
                if draw < 0.65:
                    t["causes"] = [rng.choices(known, [2 ** -i for i in range(len(known))])[0]]
                elif draw < 0.72 and len(known) > 1:
                    t["causes"] = rng.sample(known, 2)
                t["message"] = f"{gid[5:]} is wrong" + (
                    f": it matches {t['causes'][0]}" if t["causes"] else "")
            else:
                t["message"] = {"exception": "ValueError: shapes (3,4) and (5,4) not aligned",
                                "timeout": "stopped after 10 s", "limit": "memory limit (2 GB)",
                                "forbidden_import": "torch may not be used here"}[kind]
        rec["tests"].append(t)
    rec["status"], rec["reason"] = "graded", None
    rec["score"] = sum(t["points"] for t in rec["tests"])
    rec["max_score"] = sum(t["max_points"] for t in rec["tests"])
    return rec


def write_class(out: Path, name: str = "a01-rnn", students: int = 200, seed: int = 0) -> list[dict]:
    """Write `students` result files to `out` and return the records."""
    rng = random.Random(seed)
    tests = tests_of(name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(students):
        rec = student(name, f"s{k + 1:03d}", tests, rng)
        (out / f"{rec['student']}.json").write_text(json.dumps(rec, indent=1), encoding="utf-8")
        records.append(rec)
    return records


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="write a synthetic class of result files")
    ap.add_argument("assignment")
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = args.out or ROOT / "classroom" / "results" / args.assignment
    write_class(out, args.assignment, args.students, args.seed)
    print(f"{args.students} synthetic results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

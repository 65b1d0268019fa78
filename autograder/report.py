"""The class report of one assignment, from the judge's per-submission result files.

    python -m autograder.report a01-rnn        # or: make report A=a01-rnn
      reads  classroom/results/a01-rnn/*.json  (one per submission, written by `make grade`)
      writes classroom/reports/a01-rnn/index.html, *.png (the same figures, also inlined in the
             page, which needs no other file) and CSV tables: students.csv, tests.csv,
             mistakes.csv, not_graded.csv

What an instructor learns: the score distribution, the pass rate of every test, which known
mistakes the class made and how often (the checks name causes, so "dW_hh: tanh derivative
left out: 23 students" is counted, not guessed), which submissions were not graded and why,
and how long grading took. Everything a student wrote (reasons, notes, messages) is escaped.
"""
from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLASSROOM = Path(os.environ.get("COURSE_CLASSROOM", ROOT / "classroom"))
TOP_MISTAKES = 20
SLOWEST = 10
MAX_CELL = 400   # characters of student-influenced text in one table cell of the page
MAX_CSV = 2000   # and in one CSV field (spreadsheets choke on megabyte cells)


# ---------------------------------------------------------------- data ---

def load(results: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """The result records, and (file, why) for result files that cannot be read."""
    records, broken = [], []
    for path in sorted(results.glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            broken.append((path.name, f"result file unreadable: {exc}"[:200]))
            continue
        rec["student"] = str(rec.get("student") or path.stem)
        rec["tests"] = [t for t in rec.get("tests") or [] if isinstance(t, dict)]
        records.append(rec)
    return records, broken


def summarize(records: list[dict], broken: list) -> dict:
    graded = [r for r in records if r.get("status") == "graded"]
    not_graded = [(r["student"], r.get("reason") or "no reason given") for r in records
                  if r.get("status") != "graded"] + broken
    tests: dict[str, dict] = {}
    mistakes: dict[tuple[str, str], set] = defaultdict(set)
    undiagnosed: dict[str, set] = defaultdict(set)
    for r in graded:
        for t in r["tests"]:
            gid = str(t.get("grade_id"))
            row = tests.setdefault(gid, {"grade_id": gid, "max_points": t.get("max_points", 0),
                                         "n": 0, "passed": 0, "points": 0.0,
                                         "kinds": Counter()})
            row["n"] += 1
            row["points"] += float(t.get("points") or 0)
            if t.get("passed"):
                row["passed"] += 1
                continue
            row["kinds"][t.get("error_kind") or "wrong"] += 1
            causes = [str(c) for c in t.get("causes") or []]
            for cause in causes:
                mistakes[(gid, cause)].add(r["student"])
            if not causes:
                undiagnosed[gid].add(r["student"])
    for row in tests.values():
        row["pass_rate"] = row["passed"] / row["n"] if row["n"] else 0.0
    ranked = sorted(((len(s), gid, cause, sorted(s)) for (gid, cause), s in mistakes.items()),
                    key=lambda x: (-x[0], x[1], x[2]))
    seconds = [float(r["seconds"]) for r in records if isinstance(r.get("seconds"), (int, float))]
    return {"n": len(records) + len(broken), "records": records, "graded": graded, "not_graded": not_graded,
            "tests": [tests[k] for k in sorted(tests, key=_test_order(graded))],
            "mistakes": ranked, "undiagnosed": undiagnosed, "seconds": seconds}


def _test_order(graded):
    """Tests in notebook order (the order of the first result that lists them)."""
    order = {}
    for r in graded:
        for t in r["tests"]:
            order.setdefault(str(t.get("grade_id")), len(order))
    return lambda gid: order.get(gid, len(order))


def short(gid: str) -> str:
    return gid[5:] if gid.startswith("test_") else gid


def percent(r: dict) -> float | None:
    try:
        return 100.0 * float(r["score"]) / float(r["max_score"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


# ---------------------------------------------------------------- figures ---

def figures(s: dict, assignment: str) -> dict[str, bytes]:
    plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
    out = {}
    scores = [p for p in (percent(r) for r in s["graded"]) if p is not None]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(scores, bins=[i * 5 for i in range(21)], color="#3b6ea8", edgecolor="white")
    ax.set(xlabel="autograded score (% of the maximum)", ylabel="submissions",
           title=f"{assignment}: score distribution ({len(scores)} graded)", xlim=(0, 100))
    out["scores.png"] = _png(fig)

    tests = s["tests"]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(tests) + 1.2))
    rates = [100 * t["pass_rate"] for t in tests]
    ax.barh(range(len(tests)), rates, color=["#c0504d" if r < 50 else "#3b6ea8" for r in rates])
    ax.set_yticks(range(len(tests)), [short(t["grade_id"]) for t in tests])
    ax.invert_yaxis()
    ax.set(xlim=(0, 100), xlabel="passed (% of graded submissions)", title="pass rate per test")
    for i, r in enumerate(rates):
        ax.text(min(r + 1, 92), i, f"{r:.0f}%", va="center", fontsize=8)
    out["pass_rate.png"] = _png(fig)

    top = s["mistakes"][:TOP_MISTAKES]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(top) + 1.2))
    ax.barh(range(len(top)), [m[0] for m in top], color="#d08a2e")
    ax.set_yticks(range(len(top)), [_clip(f"{short(g)}: {c}", 70) for _, g, c, _ in top])
    ax.invert_yaxis()
    ax.set(xlabel="students", title="most frequent diagnosed mistakes")
    if not top:
        ax.text(0.5, 0.5, "no diagnosed mistakes", ha="center", transform=ax.transAxes)
    out["mistakes.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(s["seconds"], bins=30, color="#6a8f3b", edgecolor="white")
    ax.set(xlabel="seconds to grade one submission", ylabel="submissions",
           title="grading time per submission")
    out["time.png"] = _png(fig)
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- tables ---

def tables(s: dict) -> dict[str, list[list]]:
    students = [["student", "status", "score", "max_score", "percent", "seconds",
                 "failed_tests", "causes", "reason", "notes"]]
    for r in sorted(s["records"], key=lambda r: str(r["student"])):
        failed = [t for t in r["tests"] if not t.get("passed")]
        p = percent(r)
        students.append([r["student"], r.get("status"), r.get("score"), r.get("max_score"),
                         "" if p is None else f"{p:.1f}", r.get("seconds"),
                         ";".join(short(str(t.get("grade_id"))) for t in failed),
                         ";".join(f"{short(str(t.get('grade_id')))}: {c}" for t in failed
                                  for c in t.get("causes") or []),
                         r.get("reason") or "", ";".join(map(str, r.get("notes") or []))])
    tests = [["grade_id", "max_points", "graded", "passed", "pass_rate", "mean_points",
              "failed_wrong", "failed_exception", "failed_timeout", "failed_limit",
              "failed_forbidden_import", "failed_undiagnosed"]]
    for t in s["tests"]:
        k = t["kinds"]
        tests.append([t["grade_id"], t["max_points"], t["n"], t["passed"],
                      f"{t['pass_rate']:.3f}", f"{t['points'] / max(t['n'], 1):.3f}",
                      k["wrong"], k["exception"], k["timeout"], k["limit"],
                      k["forbidden_import"], len(s["undiagnosed"].get(t["grade_id"], ()))])
    mistakes = [["grade_id", "cause", "students", "share_of_graded", "student_ids"]]
    for n, gid, cause, who in s["mistakes"]:
        mistakes.append([gid, cause, n, f"{n / max(len(s['graded']), 1):.3f}", ";".join(who)])
    not_graded = [["student", "reason"]] + [list(x) for x in s["not_graded"]]
    return {"students.csv": students, "tests.csv": tests, "mistakes.csv": mistakes,
            "not_graded.csv": not_graded}


# ---------------------------------------------------------------- page ---

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
     padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f5f8} td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:9em}
.card b{display:block;font-size:1.5em}
img{max-width:100%;border:1px solid #eee} .muted{color:#666} code{font-size:.95em}
"""


def page(s: dict, figs: dict[str, bytes], assignment: str, csvs: list[str]) -> str:
    e = html.escape
    graded, scores = s["graded"], [p for p in (percent(r) for r in s["graded"]) if p is not None]
    secs = sorted(s["seconds"])

    def img(name, alt):
        data = base64.b64encode(figs[name]).decode()
        return f'<p><img src="data:image/png;base64,{data}" alt="{e(alt)}"></p>'

    def table(head, rows, numeric=()):
        out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr>"]
        for row in rows:
            out.append("<tr>" + "".join(  # a reason or note can hold what a student wrote
                f'<td class="n">{e(str(v))}</td>' if i in numeric else
                f"<td>{e(_clip(str(v), MAX_CELL))}</td>" for i, v in enumerate(row)) + "</tr>")
        return "\n".join(out) + "</table>"

    def stat(label, value):
        return f'<div class="card">{e(label)}<b>{e(value)}</b></div>'

    median = _quantile(scores, 0.5)
    parts = [f"<h1>Class report: {e(assignment)}</h1>",
             f'<p class="muted">{s["n"]} submissions; autograded points only (written answers '
             f"are graded by hand in the formgrader). Tables as CSV: "
             + ", ".join(f'<a href="{e(c)}">{e(c)}</a>' for c in csvs) + ".</p>",
             '<div class="cards">',
             stat("graded", str(len(graded))),
             stat("not graded", str(len(s["not_graded"]))),
             stat("median score", "–" if median is None else f"{median:.0f}%"),
             stat("full marks", f"{sum(1 for p in scores if p >= 100 - 1e-9)}"),
             stat("grading time, median", "–" if not secs else f"{_quantile(secs, .5):.2f} s"),
             stat("grading time, total", "–" if not secs else f"{sum(secs):.0f} s"),
             "</div>",
             "<h2>Score distribution</h2>", img("scores.png", "histogram of scores")]
    if scores:
        parts.append(f"<p>mean {sum(scores) / len(scores):.1f}%, quartiles "
                     f"{_quantile(scores, .25):.0f}% / {median:.0f}% / {_quantile(scores, .75):.0f}%"
                     f", lowest {min(scores):.0f}%, highest {max(scores):.0f}%.</p>")

    parts += ["<h2>Most frequent diagnosed mistakes</h2>",
              "<p>A failed test names the known mistake its wrong result matches; each row counts "
              "the students whose submission made it.</p>"]
    if s["mistakes"]:
        parts.append(img("mistakes.png", "bar chart of diagnosed mistakes"))
        parts.append(table(["test", "mistake", "students", "share of graded"],
                           [[short(g), c, n, f"{100 * n / max(len(graded), 1):.0f}%"]
                            for n, g, c, _ in s["mistakes"][:TOP_MISTAKES]], numeric=(2, 3)))
        if len(s["mistakes"]) > TOP_MISTAKES:
            parts.append(f"<p>{len(s['mistakes']) - TOP_MISTAKES} more in mistakes.csv.</p>")
    else:
        parts.append("<p>No failed test named a known mistake.</p>")
    by_cause: dict[str, set] = defaultdict(set)
    tests_of: dict[str, set] = defaultdict(set)
    for _, gid, cause, who in s["mistakes"]:
        by_cause[cause].update(who)
        tests_of[cause].add(gid)
    across = sorted(((len(w), c) for c, w in by_cause.items() if len(tests_of[c]) > 1),
                    reverse=True)
    if across:
        parts.append("<p>The same mistake in several tests (students who made it anywhere):</p>")
        parts.append(table(["mistake", "students", "tests"],
                           [[c, n, ", ".join(short(g) for g in sorted(tests_of[c]))]
                            for n, c in across[:TOP_MISTAKES]], numeric=(1,)))
    und = sorted(((len(v), k) for k, v in s["undiagnosed"].items()), reverse=True)
    if und:
        parts.append("<p>Failures that match no known mistake (worth a look for a new one): "
                     + ", ".join(f"{e(short(k))} ({n})" for n, k in und) + ".</p>")

    parts += ["<h2>Pass rate per test</h2>", img("pass_rate.png", "pass rate per test"),
              table(["test", "points", "graded", "passed", "pass rate", "wrong", "exception",
                     "timeout", "limit", "forbidden import"],
                    [[short(t["grade_id"]), t["max_points"], t["n"], t["passed"],
                      f"{100 * t['pass_rate']:.0f}%", t["kinds"]["wrong"], t["kinds"]["exception"],
                      t["kinds"]["timeout"], t["kinds"]["limit"], t["kinds"]["forbidden_import"]]
                     for t in s["tests"]], numeric=tuple(range(1, 10)))]

    parts.append(f"<h2>Not graded ({len(s['not_graded'])})</h2>")
    if s["not_graded"]:
        why = Counter(_kind(r) for _, r in s["not_graded"])
        parts.append("<p>" + "; ".join(f"{e(k)}: {n}" for k, n in why.most_common()) + ".</p>")
        parts.append(table(["student", "reason"], s["not_graded"]))
    else:
        parts.append("<p>Every submission was graded.</p>")
    repaired = [(r["student"], "; ".join(map(str, r.get("notes")))) for r in s["records"]
                if r.get("notes")]
    if repaired:
        parts += [f"<h2>Repaired at intake ({len(repaired)})</h2>",
                  "<p>Graded after a repair (cells restored from the master, outputs removed, "
                  "file renamed, ...).</p>", table(["student", "repairs"], repaired)]

    parts += ["<h2>Grading time</h2>", img("time.png", "histogram of grading times")]
    if secs:
        parts.append(f"<p>{len(secs)} submissions: median {_quantile(secs, .5):.2f} s, "
                     f"95th percentile {_quantile(secs, .95):.2f} s, slowest {secs[-1]:.2f} s, "
                     f"sum {sum(secs):.1f} s (wall time of a parallel run is less).</p>")
        slow = sorted((r for r in s["records"] if isinstance(r.get("seconds"), (int, float))),
                      key=lambda r: -r["seconds"])[:SLOWEST]
        parts.append(table(["student", "seconds", "status"],
                           [[r["student"], f"{r['seconds']:.2f}", r.get("status")] for r in slow],
                           numeric=(1,)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Class report: {e(assignment)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _kind(reason: str) -> str:
    """The gist of a reason, for counting: its first clause without file names or numbers."""
    text = reason.split(":")[0].split("(")[0]
    words = [w for w in text.split() if not any(ch.isdigit() for ch in w) and "." not in w]
    return " ".join(words)[:60] or "other"


def _quantile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ---------------------------------------------------------------- main ---

def build(assignment: str, results: Path | None = None, out: Path | None = None) -> Path:
    results = Path(results or CLASSROOM / "results" / assignment)
    out = Path(out or CLASSROOM / "reports" / assignment)
    if not results.is_dir():
        raise SystemExit(f"no results at {results}: run `make grade A={assignment}` first")
    s = summarize(*load(results))
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(s, assignment)
    for name, data in figs.items():
        (out / name).write_bytes(data)
    csvs = tables(s)
    for name, rows in csvs.items():
        with open(out / name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([[_clip(v, MAX_CSV) if isinstance(v, str) else v
                                      for v in row] for row in rows])
    (out / "index.html").write_text(page(s, figs, assignment, list(csvs)), encoding="utf-8")
    return out / "index.html"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("assignment")
    ap.add_argument("--results", type=Path, help="default: classroom/results/<assignment>")
    ap.add_argument("--out", type=Path, help="default: classroom/reports/<assignment>")
    args = ap.parse_args(argv)
    print(f"class report: {build(args.assignment, args.results, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The class report, built from a synthetic class of result files."""
import base64
import csv
import importlib.util
import json
import re
import shutil
import subprocess
from collections import Counter

import pytest

from autograder import report
from course import ROOT

spec = importlib.util.spec_from_file_location("synthetic_results",
                                              ROOT / "scripts" / "synthetic_results.py")
synthetic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(synthetic)

INJECTION = "<script>alert('x')</script><img src=http://evil.example/x.png>"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    results = tmp / "results"
    records = synthetic.write_class(results, "a01-rnn", students=80, seed=1)
    # a student-controlled reason with markup, and a result file that cannot be read
    bad = dict(records[0], student="s900", status="not_graded", reason=INJECTION + "x" * 10**6,
               tests=[], score=None, max_score=None)
    (results / "s900.json").write_text(json.dumps(bad))
    (results / "s901.json").write_text("{truncated")
    index = report.build("a01-rnn", results, tmp / "out")
    return records + [bad], index


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_mistake_counts_are_the_students_who_made_them(built):
    records, index = built
    expected = Counter()
    for r in records:
        if r["status"] == "graded":
            for t in r["tests"]:
                for c in set(t["causes"]):
                    expected[(t["grade_id"], c)] += 1
    rows = read_csv(index.parent / "mistakes.csv")
    assert {(r["grade_id"], r["cause"]): int(r["students"]) for r in rows} == dict(expected)
    counts = [int(r["students"]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    (gid, cause), n = expected.most_common(1)[0]
    html = index.read_text()
    assert re.search(rf"<td>{re.escape(report.short(gid))}</td><td>{re.escape(cause)}</td>"
                     rf'<td class="n">{n}</td>', html.replace("&#x27;", "'")), (gid, cause, n)


def test_pass_rates_and_scores(built):
    records, index = built
    graded = [r for r in records if r["status"] == "graded"]
    rows = {r["grade_id"]: r for r in read_csv(index.parent / "tests.csv")}
    assert set(rows) == {gid for gid, _ in synthetic.tests_of("a01-rnn")}
    for gid, row in rows.items():
        passed = sum(1 for r in graded for t in r["tests"] if t["grade_id"] == gid and t["passed"])
        assert int(row["passed"]) == passed and int(row["graded"]) == len(graded)
        assert float(row["pass_rate"]) == pytest.approx(passed / len(graded), abs=1e-3)
    students = {r["student"]: r for r in read_csv(index.parent / "students.csv")}
    for r in graded:
        assert float(students[r["student"]]["score"]) == r["score"]


def test_not_graded_submissions_are_listed_with_their_reason(built):
    records, index = built
    rows = {r["student"]: r["reason"] for r in read_csv(index.parent / "not_graded.csv")}
    expected = {r["student"]: r["reason"] for r in records if r["status"] != "graded"}
    assert set(rows) == set(expected) | {"s901.json"}
    assert all(rows[s] == why for s, why in expected.items() if s != "s900")
    assert rows["s900"].startswith("<script>") and len(rows["s900"]) <= report.MAX_CSV + 1
    assert "x" * (report.MAX_CELL + 1) not in index.read_text()  # clipped on the page
    assert "unreadable" in rows["s901.json"]


def test_the_page_is_self_contained_and_escapes_student_text(built):
    _, index = built
    html = index.read_text()
    assert "<script" not in html and "<link" not in html
    assert "http://" not in html.replace("http://evil.example", "")  # only the escaped text
    assert "&lt;script&gt;" in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == 4
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("scores.png", "pass_rate.png", "mistakes.png", "time.png"):
        assert (index.parent / name).read_bytes()[:4] == b"\x89PNG"
    for section in ("Score distribution", "Most frequent diagnosed mistakes", "Pass rate per test",
                    "Not graded", "Grading time", "Repaired at intake"):
        assert section in html


def test_an_empty_class_still_gives_a_page(tmp_path):
    (tmp_path / "results").mkdir()
    index = report.build("a01-rnn", tmp_path / "results", tmp_path / "out")
    assert "Every submission was graded" in index.read_text()


def test_the_page_renders_in_chromium(built, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (scripts/setup_system.sh installs it as root)")
    _, index = built
    shot = tmp_path / "shot.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,1600", index.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image
    img = Image.open(shot).convert("L")
    assert img.size == (1200, 1600)
    lo, hi = img.getextrema()
    assert hi - lo > 100, "the screenshot is blank"

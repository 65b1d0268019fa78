"""A PostgreSQL gradebook shared by two grading machines (issue 7, item 8).

The fixture starts a throwaway PostgreSQL server (Debian's `postgresql` package, installed by
scripts/setup_system.sh): `initdb` in a temporary directory, on a free local port, as an
unprivileged user when the tests run as root (PostgreSQL refuses to run as root), and stops it
afterwards. Where no server can be started the test skips and says why.

Two course checkouts stand for two machines. Each holds a disjoint shard of the class under its
own classroom/submitted/ and runs `nbgrader autograde` at the same time as the other, both with
COURSE_DB_URL pointing at the one gradebook; `nbgrader export` then sees every student.
"""
import csv
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from course import BIN, make_course, nbgrader, release_path, student_submission, submit

NAME = "a01-rnn"
pytestmark = pytest.mark.slow


def _pg_bin(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"),
                      key=lambda p: int(Path(p).parent.parent.name))  # Debian keeps them here
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
                    "/usr/lib/postgresql/*/bin); `sudo sh scripts/setup_system.sh` installs it")
    try:
        import psycopg  # SQLAlchemy 2's driver for postgresql:// URLs
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -r requirements.txt)")
    run_as = {}
    base = Path(tempfile.mkdtemp(prefix="seqmodels-pg-"))
    if os.geteuid() == 0:  # the server refuses root: run it as an unprivileged account
        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                user = None
        if user is None:
            shutil.rmtree(base)
            pytest.skip("running as root and no unprivileged account (postgres, nobody) to "
                        "run the PostgreSQL server as")
        os.chown(base, user.pw_uid, user.pw_gid)

        def demote(uid=user.pw_uid, gid=user.pw_gid):
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
        run_as = {"preexec_fn": demote}
    data, log, port = base / "data", base / "server.log", _free_port()

    def pg(*args):
        return subprocess.run(args, capture_output=True, text=True, cwd=base, timeout=120,
                              env=dict(os.environ, LC_ALL="C", LANG="C"), **run_as)

    proc = pg(initdb, "-D", str(data), "-U", "grader", "--auth=trust", "-E", "UTF8", "--no-sync")
    if proc.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    proc = pg(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    if proc.returncode != 0:
        why = log.read_text()[-300:] if log.exists() else proc.stderr[-300:]
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server did not start: {why.strip()}")
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="grader", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE seqmodels")
        yield f"postgresql://grader@127.0.0.1:{port}/seqmodels"
    finally:
        pg(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_machines_grade_disjoint_shards_into_one_postgres_gradebook(
        postgres_url, tmp_path, monkeypatch):
    mistake = {"rnn_backward": ("dW_hh += dWh", "dW_hh += dWh.T")}
    shards = {"machine1": {"s001": student_submission(NAME), "s002": student_submission(NAME, mistake)},
              "machine2": {"s003": student_submission(NAME, mistake), "s004": release_path(NAME)}}
    expected = {"s001": 23.0, "s002": 21.0, "s003": 21.0, "s004": 0.0}
    monkeypatch.setenv("COURSE_DB_URL", postgres_url)
    # machine1 records the assignment in the PostgreSQL gradebook; machine2 is a copy of the
    # course checkout (no classroom state of its own)
    courses = {"machine1": make_course(tmp_path / "machine1", NAME)}
    courses["machine2"] = tmp_path / "machine2" / "course"
    shutil.copytree(courses["machine1"], courses["machine2"], ignore=shutil.ignore_patterns("classroom"))
    for machine, students in shards.items():
        for student, nb in students.items():
            submit(courses[machine], student, NAME, nb)
    assert not (courses["machine1"] / "classroom" / "gradebook.db").exists()
    env = dict(os.environ, PYTHONWARNINGS="ignore",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    procs = {m: subprocess.Popen([str(BIN / "nbgrader"), "autograde", NAME, "--force"],
                                 cwd=courses[m], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=dict(env, COURSE_CLASSROOM=str(courses[m] / "classroom")))
             for m in shards}  # both machines at once
    for machine, proc in procs.items():
        out, _ = proc.communicate(timeout=500)
        assert proc.returncode == 0, f"{machine}:\n{out[-3000:]}"

    # machine2 exports what machine1 graded too (its local SQLite would hold only its own shard)
    nbgrader(courses["machine2"], "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)
                if r["assignment"] == NAME}
    assert rows == expected

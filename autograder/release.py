"""Regenerate the student release (assignments/) from the masters (solutions/).

    python -m autograder.release            # every assignment in solutions/
    python -m autograder.release a01-rnn    # one

Runs `nbgrader generate_assignment --force` from the repository root (nbgrader_config.py
there maps source = solutions/, release = assignments/), then checks that no solution or
hidden-test marker survived. Commit the regenerated notebooks with their master.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME")


def assignments() -> list:
    return sorted(p.name for p in (ROOT / "solutions").iterdir()
                  if p.is_dir() and list(p.glob("*.ipynb")))


def leaks(folder: Path) -> list:
    """Files under `folder` that contain an instructor-only marker."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".ipynb", ".py", ".md", ".txt", ".html"):
            text = path.read_text(errors="ignore")
            found += [f"{path}: {m}" for m in MARKERS if m in text]
    return found


def nbgrader_command(*args) -> list[str]:
    """The venv's nbgrader with `args` (the venv need not be activated)."""
    bindir = Path(sys.executable).parent
    return [str(bindir / "nbgrader") if (bindir / "nbgrader").exists() else "nbgrader", *args]


def nbgrader_env(**extra) -> dict:
    """The environment of an nbgrader command: nbgrader runs `alembic` from PATH when it
    creates a gradebook, so the venv's bin comes first even when the venv is not activated
    (the Makefile calls .venv/bin/python directly)."""
    bindir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", **extra)


def release(name: str) -> None:
    subprocess.run(nbgrader_command("generate_assignment", name, "--force"), cwd=ROOT,
                   check=True, env=nbgrader_env())


def main(argv):
    names = argv or assignments()
    for name in names:
        release(name)
    bad = leaks(ROOT / "assignments")
    if bad:
        print("instructor material in the release:\n" + "\n".join(bad))
        return 1
    print(f"released {', '.join(names)}; no solution or hidden-test marker in assignments/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

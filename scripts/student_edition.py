"""Write the student edition: the tree students clone and the published book is built from.

    python scripts/student_edition.py DEST [--url https://github.com/<org>/<edition>]

This repository is the instructor's (masters with solutions and hidden tests, grading tools).
The edition holds what a student needs and nothing else: the book sources, the released
assignments, data, the `seqlab` package, the part of `autograder` that the released notebooks
import (found by following their imports, never by listing files by hand), the requirements,
and a student README and Makefile (scripts/edition/). The repository address written into the
edition's `_config.yml` is `--url`, or else the `repository: url:` of this `_config.yml`,
which is the edition's public address (the repository button and launch links point there).

The script refuses to write an edition that contains an instructor marker, a solutions folder,
a gradebook, nbgrader's instructor config or a grading module.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "edition"

# copied whole (minus caches and paired notebooks)
TREES = ["book", "assignments", "data", "seqlab", "jupyterlab"]
FILES = ["_toc.yml", "pyproject.toml", ".gitignore", "LICENSE",
         "scripts/check_assignment.py", "scripts/install_torch.py"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "_build",
                                "*.egg-info")
# instructor-only: modules of autograder that must never be reached from a released notebook
INSTRUCTOR_MODULES = ("release", "nbgrader_plugins", "judge", "intake", "report", "grade",
                      "grading", "sandbox", "classroom", "batch")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME")
FORBIDDEN_NAMES = ("solutions", "gradebook.db", "nbgrader_config.py", "classroom")
# requirements the student never runs: the test suite and its browser driver
DEV_REQUIREMENTS = ("pytest", "pytest-xdist", "playwright")


def notebook_imports(nb_path: Path) -> set:
    """autograder modules a released notebook imports (`from autograder import a01`,
    `from autograder.gradcheck import x`, `import autograder.checks`)."""
    nb = json.loads(nb_path.read_text())
    mods = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        for m in re.finditer(r"^\s*from\s+autograder\.(\w+)\s+import", src, re.M):
            mods.add(m.group(1))
        for m in re.finditer(r"^\s*from\s+autograder\s+import\s+(.+)$", src, re.M):
            for name in m.group(1).strip("() ").split(","):
                mods.add(name.split(" as ")[0].strip())
        for m in re.finditer(r"^\s*import\s+autograder\.(\w+)", src, re.M):
            mods.add(m.group(1))
    return mods


def module_imports(path: Path) -> set:
    """Sibling modules of autograder that a module imports (relative or absolute)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("autograder"):
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("autograder."):
                    found.add(a.name.split(".")[1])
    return found


def autograder_closure(release_dir: Path) -> list:
    """Every autograder module the released notebooks need, following imports."""
    todo = set()
    for nb in release_dir.glob("*/*.ipynb"):
        todo |= notebook_imports(nb)
    needed = set()
    while todo:
        mod = todo.pop()
        if mod in needed:
            continue
        path = ROOT / "autograder" / f"{mod}.py"
        if not path.exists():
            raise SystemExit(f"a released notebook needs autograder.{mod}, which does not exist")
        needed.add(mod)
        todo |= module_imports(path) - needed
    bad = sorted(m for m in needed if m.startswith(INSTRUCTOR_MODULES))
    if bad:
        raise SystemExit(f"released notebooks reach instructor-only modules {bad}: "
                         "move what students need out of them")
    return sorted(needed)


def repository_url(config_text: str) -> str:
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", config_text, re.M)
    return m.group(1) if m else ""


def edition_config(url: str) -> str:
    text = (ROOT / "_config.yml").read_text()
    text, n = re.subn(r"^(repository:\s*\n\s+url:\s*)(\S+)", lambda m: m.group(1) + url,
                      text, flags=re.M)
    if n != 1:
        raise SystemExit("_config.yml has no `repository: url:` to rewrite")
    return text


def edition_requirements() -> str:
    keep = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = re.split(r"[<>=!~\[ ;#]", line.strip(), maxsplit=1)[0].lower()
        if name in DEV_REQUIREMENTS:
            while keep and keep[-1].startswith("#"):  # and the comment that explains it
                keep.pop()
        else:
            keep.append(line)
    return "\n".join(keep) + "\n"


def problems(dest: Path) -> list:
    """Instructor material found in a written edition (empty when clean)."""
    found = []
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest)
        if any(part in FORBIDDEN_NAMES or part.startswith("gradebook") for part in rel.parts):
            found.append(f"{rel}: instructor-only file")
        if path.is_file() and path.suffix in (".ipynb", ".py", ".md", ".txt", ".html", ".yml",
                                              ".json", ".cfg", ".toml"):
            text = path.read_text(errors="ignore")
            found += [f"{rel}: {m}" for m in MARKERS if m in text]
        if rel.parts[0] == "autograder" and path.stem.startswith(INSTRUCTOR_MODULES):
            found.append(f"{rel}: grading module")
    return found


def write(dest: Path, url: str) -> list:
    for tree in TREES:
        if (ROOT / tree).exists():
            ignore = IGNORE
            if tree == "book":  # paired notebooks of chapters are build by-products
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints",
                                                "*.ipynb", "_build")
            shutil.copytree(ROOT / tree, dest / tree, ignore=ignore)
    for name in FILES:
        if (ROOT / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    modules = autograder_closure(ROOT / "assignments")
    (dest / "autograder").mkdir()
    init = ROOT / "autograder" / "__init__.py"
    (dest / "autograder" / "__init__.py").write_text(init.read_text() if init.exists() else "")
    for mod in modules:
        shutil.copy2(ROOT / "autograder" / f"{mod}.py", dest / "autograder" / f"{mod}.py")
    (dest / "_config.yml").write_text(edition_config(url))
    (dest / "requirements.txt").write_text(edition_requirements())
    for template in ("README.md", "Makefile", "jupyterlab/zz-seqmodels-student.json"):
        text = (TEMPLATES / template).read_text().replace("@EDITION_URL@", url)
        (dest / template).write_text(text)
    return modules


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="an empty or new folder outside this repository")
    parser.add_argument("--url", default="", help="the edition's public repository address "
                        "(default: repository url in _config.yml)")
    args = parser.parse_args(argv)
    dest = args.dest.resolve()
    if dest == ROOT or ROOT in dest.parents:
        print("DEST must be outside this repository", file=sys.stderr)
        return 2
    if dest.exists() and any(p.name != ".git" for p in dest.iterdir()):
        print(f"{dest} is not empty: write the edition into a new folder (or a clone of the "
              "edition repository with its files removed, keeping .git)", file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    url = args.url or repository_url((ROOT / "_config.yml").read_text())
    modules = write(dest, url)
    bad = problems(dest)
    if bad:
        print("instructor material in the edition; nothing should be published:\n  "
              + "\n  ".join(bad), file=sys.stderr)
        return 1
    print(f"student edition written to {dest} (repository url {url}); "
          f"autograder modules: {', '.join(modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

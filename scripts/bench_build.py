"""Benchmark the book build: cold, no change, one page edited, one seqlab module edited.

    python scripts/bench_build.py [--page book/sequences/time-series.md]
                                  [--module seqlab/timeseries.py] [--keep DIR]

Works on a copy of the working tree (tracked and untracked, not ignored files) in a temporary
folder, so the edits it makes never touch the checkout. Each step runs `jupyter-book build .
-W --keep-going` (what `make book` runs) in the copy, with PYTHONPATH set to the copy so that
its seqlab is the one imported, and reports the wall time and which pages executed:

1. cold: empty _build (no jupyter-cache): every page runs;
2. no change: nothing runs;
3. one page: a comment is added to the first code cell of --page: only that page runs;
4. one seqlab module: a comment is appended to --module: exactly the pages that import it
   (directly or through other seqlab modules) run.

It fails (exit 1) when a step executes other pages than expected. Per-page execution times
come from the jupyter-cache records of the cold build (a page that ran has a new record). Page weight (HTML + demo frames) and a
search for anything loaded from another host are reported for the built site.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def build(repo: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(repo), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "-W", "--keep-going"],
                          cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(log[-8000:])
        raise SystemExit(f"build failed (exit {proc.returncode})")
    return seconds, log


def cache_records(repo: Path) -> dict[str, tuple[tuple, float]]:
    """page -> ((record id, creation time), execution seconds) in the build's jupyter-cache
    (SQLite may give a re-executed page's new record the id of the one it replaces)."""
    from jupyter_cache import get_cache

    path = repo / "_build" / ".jupyter_cache"
    if not path.exists():
        return {}
    return {str(Path(r.uri).resolve().relative_to(repo.resolve()).with_suffix("")):
            ((r.pk, r.created), r.data.get("execution_seconds"))
            for r in get_cache(str(path)).list_cache_records()}


def importers(repo: Path, module: str) -> list[str]:
    sys.path.insert(0, str(repo))
    from seqlab.book_build import seqlab_closure

    target = (repo / module).resolve()
    pages = []
    for page in sorted((repo / "book").rglob("*.md")):
        text = page.read_text()
        if text.startswith("---\njupytext") and target in [p.resolve() for p in
                                                           seqlab_closure(text)]:
            pages.append(str(page.relative_to(repo).with_suffix("")))
    return pages


def site_report(html: Path) -> dict:
    ext = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*'
                     r'["\']?((?:https?:)?//[^"\'\s>]+)', re.I)
    pages, external = {}, []
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(errors="ignore")
        external += [(str(page.relative_to(html)), u) for u in ext.findall(text)]
        demos = re.findall(r'<script type="application/json" class="seqlab-demo-data">(.*?)'
                           r"</script>", text, flags=re.S)
        if demos:
            pages[str(page.relative_to(html))] = {
                "html_kB": round(len(text.encode()) / 1e3),
                "demos": len(demos),
                "demo_kB": [round(len(d) / 1e3) for d in demos],
                "frames": [len(json.loads(d)["frames"]) for d in demos]}
    return {"demo_pages": pages, "external_loads": external}


def edit_first_code_cell(page: Path) -> None:
    text = page.read_text()
    new = re.sub(r"(```\{code-cell\}[^\n]*\n(?::[^\n]*\n)*)", r"\1# edited by bench_build\n",
                 text, count=1)
    assert new != text, f"no code cell in {page}"
    page.write_text(new)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--page", default="book/sequences/time-series.md")
    ap.add_argument("--module", default="seqlab/timeseries.py")
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)

    tmp = None
    if args.keep:
        repo = args.keep.resolve()
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_build_")
        repo = Path(tmp.name)
    copy_tree(repo)
    results, ok = {}, True
    notebooks = sorted(str(p.relative_to(repo).with_suffix("")) for p in (repo / "book").rglob("*.md")
                       if p.read_text().startswith("---\njupytext"))

    def step(name, expected):
        nonlocal ok
        before = cache_records(repo)
        seconds, _ = build(repo)
        after = cache_records(repo)
        executed = sorted(p for p, (pk, _) in after.items() if before.get(p, (None,))[0] != pk)
        good = executed == sorted(expected)
        ok &= good
        results[name] = {"seconds": round(seconds, 1), "executed": executed,
                         "expected": sorted(expected), "as_expected": good}
        print(f"{name:>18}: {seconds:6.1f} s, executed {len(executed)} page(s)"
              f"{'' if good else '  UNEXPECTED, expected ' + str(sorted(expected))}", flush=True)

    step("cold", notebooks)
    results["page_seconds"] = {p: t for p, (_, t) in cache_records(repo).items()}
    step("no change", [])
    edit_first_code_cell(repo / args.page)
    step("one page edited", [args.page[:-3]])
    with open(repo / args.module, "a") as f:
        f.write("\n# edited by bench_build\n")
    step("seqlab edited", importers(repo, args.module))
    results["site"] = site_report(repo / "_build" / "html")

    print("\nper-page execution (cold build, seconds):")
    for page, s in sorted(results["page_seconds"].items(), key=lambda kv: -(kv[1] or 0)):
        print(f"  {s:6.1f}  {page}")
    print("\npages with demos: HTML kB, demo kB each, frames each")
    for page, r in results["site"]["demo_pages"].items():
        print(f"  {r['html_kB']:5d}  {r['demo_kB']}  {r['frames']}  {page}")
    print(f"\nscripts/stylesheets/images from another host: {results['site']['external_loads'] or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if tmp:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

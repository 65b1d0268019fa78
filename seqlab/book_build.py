"""Sphinx extension for the book build (listed in `_config.yml`, `sphinx.extra_extensions`).

1. Demos: sets SEQLAB_DEMOS=static before any page runs, so every `seqlab.demos.demo` on a
   page renders its kernel-free view (the kernels MyST-NB starts inherit the environment), and
   adds `_static/seqlab-demos.js` (deferred) and `seqlab-demos.css` to the pages.
2. Incremental builds: with `execute_notebooks: cache`, MyST-NB re-executes a page when its
   code cells change, but not when course code it imports changes. For each notebook page we
   hash the `seqlab` modules it imports (followed through seqlab's own imports); a page whose
   hash differs from the last successful build loses its jupyter-cache records and is re-read,
   so it runs again. The hashes live next to the cache (`seqlab_deps.json`).
3. Parallel execution: before Sphinx reads the pages, every page without a cache record is
   executed by jupyter-cache's parallel executor (one kernel per core); MyST-NB then finds
   them all in the cache. On 2 cores this halves a cold build.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path

SEQLAB = Path(__file__).resolve().parent
STATE_FILE = "seqlab_deps.json"
READER = {"type": "plugin", "name": "myst_nb_md"}   # what MyST-NB stages .md pages with
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(seqlab(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)|"
                     r"import[ \t]+(seqlab(?:\.\w+)*))", re.M)


def _module_file(dotted: str) -> Path | None:
    parts = dotted.split(".")[1:]
    if not parts:
        return SEQLAB / "__init__.py"
    f = SEQLAB.joinpath(*parts).with_suffix(".py")
    if f.exists():
        return f
    f = SEQLAB.joinpath(*parts, "__init__.py")
    return f if f.exists() else None


def _imports_of_source(text: str) -> set[str]:
    """seqlab modules named by import statements in page code (regex: cells are not parsed)."""
    mods = set()
    for frm, names, imp in _IMPORT.findall(text):
        dotted = frm or imp
        mods.add(dotted)
        if frm:  # `from seqlab import charlm, plotting` imports submodules
            for name in re.findall(r"\w+", names):
                if _module_file(f"{frm}.{name}"):
                    mods.add(f"{frm}.{name}")
    return mods


def _imports_of_module(path: Path) -> set[str]:
    """seqlab modules imported by a seqlab module (absolute and relative imports)."""
    tree = ast.parse(path.read_text())
    pkg = "seqlab" + "".join("." + p for p in path.relative_to(SEQLAB).parent.parts)
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names if a.name.split(".")[0] == "seqlab"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                base = base + ("." + node.module if node.module else "")
            elif node.module and node.module.split(".")[0] == "seqlab":
                base = node.module
            else:
                continue
            mods.add(base)
            mods |= {f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}")}
    return mods


def seqlab_closure(source: str) -> list[Path]:
    """Files of every seqlab module a page's source imports, directly or through seqlab."""
    todo = _imports_of_source(source)
    # a submodule import runs the package __init__ and its parents first
    todo |= {".".join(m.split(".")[:i]) for m in set(todo) for i in range(1, m.count(".") + 1)}
    seen: dict[str, Path] = {}
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        f = _module_file(m)
        if f is None:
            continue
        seen[m] = f
        todo |= _imports_of_module(f) - set(seen)
    return sorted(set(seen.values()))


def deps_hash(source: str) -> str:
    h = hashlib.sha256()
    for f in seqlab_closure(source):
        h.update(str(f.relative_to(SEQLAB)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _cache_dir(app) -> Path:
    path = app.config.nb_execution_cache_path
    return Path(path) if path else Path(app.outdir).parent / ".jupyter_cache"


def _is_notebook(path: Path) -> bool:
    return path.suffix == ".md" and path.read_text(errors="ignore").startswith("---\njupytext")


def _current_hashes(app, env) -> dict[str, str]:
    out = {}
    for doc in sorted(env.found_docs):
        path = Path(env.doc2path(doc))
        if path.exists() and _is_notebook(path):
            out[str(path.resolve())] = deps_hash(path.read_text())
    return out


def _outdated(app, env, added, changed, removed):
    """Pages whose imported seqlab code changed since the last successful build: drop their
    cache records and re-read them (which executes them)."""
    if app.config.nb_execution_mode != "cache":
        return []
    cache_dir = _cache_dir(app)
    state = cache_dir / STATE_FILE
    old = json.loads(state.read_text()) if state.exists() else {}
    new = _current_hashes(app, env)
    app._seqlab_deps = new
    stale = {p for p, h in new.items() if old.get(p) != h}
    if stale and cache_dir.exists():
        _drop_cached(cache_dir, stale)
    _execute_in_parallel(app, cache_dir, list(new))
    docs = [env.path2doc(p) for p in stale]
    docs = [d for d in docs if d and d not in added and d not in changed]
    if docs:
        from sphinx.util import logging

        logging.getLogger(__name__).info(
            f"seqlab code changed for {len(docs)} page(s): {', '.join(sorted(docs))}")
    return docs


def _drop_cached(cache_dir: Path, pages) -> None:
    """Remove the cache records that MyST-NB would reuse for these pages. A record is found
    by the page's code, as MyST-NB finds it, not by the path it was cached from: a cache built
    in another checkout (a copied `_build`, a CI cache) holds other paths."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    for p in sorted(pages):
        if not Path(p).exists():
            continue
        cache.add_nb_to_project(p, read_data=READER)
        record = cache.get_cached_project_nb(p)
        while record is not None:
            cache.remove_cache(record.pk)
            record = cache.get_cached_project_nb(p)


def _execute_in_parallel(app, cache_dir: Path, pages: list[str]) -> None:
    """Run every notebook page that has no matching cache record, one kernel per CPU core,
    before Sphinx reads the pages; MyST-NB then takes their outputs from the cache. (MyST-NB
    alone runs the pages one after another while reading.) A page that fails is reported
    here with its traceback and fails the build, as MyST-NB's raise_on_error would."""
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    cache = get_cache(str(cache_dir))
    for p in pages:
        cache.add_nb_to_project(p, read_data=READER)
    todo = [r.uri for r in cache.list_unexecuted(filter_uris=pages)]
    if not todo:
        return
    logger.info(f"executing {len(todo)} page(s) in parallel ({os.cpu_count()} processes)")
    result = load_executor("local-parallel", cache, logger=None).run_and_cache(
        filter_uris=todo, timeout=app.config.nb_execution_timeout,
        allow_errors=app.config.nb_execution_allow_errors)
    failed = result.excepted + result.errored
    if failed and app.config.nb_execution_raise_on_error:
        tracebacks = {r.uri: r.traceback for r in cache.list_project_records()}
        raise ExtensionError("executing notebook(s) failed:\n" + "\n".join(
            f"{uri}\n{tracebacks.get(uri) or ''}" for uri in failed))


def _finished(app, exception):
    deps = getattr(app, "_seqlab_deps", None)
    if exception is None and deps is not None:
        cache_dir = _cache_dir(app)
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / STATE_FILE).write_text(json.dumps(deps, indent=1, sort_keys=True))


def setup(app):
    os.environ["SEQLAB_DEMOS"] = "static"
    app.add_js_file("seqlab-demos.js", loading_method="defer")
    app.add_css_file("seqlab-demos.css")
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

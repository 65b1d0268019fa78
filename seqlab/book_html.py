"""Sphinx extension for the book's HTML (listed in `_config.yml`, `sphinx.extra_extensions`).

1. The execution-statistics table (MyST-NB's `nb-exec-table`) marks each page with the emoji
   U+2705 / U+274C, which many systems without a colour-emoji font draw as empty boxes; they
   become the words "ok" / "failed".
2. Search results: Sphinx builds each snippet from the page's HTML, where a formula is still
   its TeX source (MathJax typesets it only in the page). `_static/search-no-tex.js` drops
   formulas from the snippets, so they read as text.
3. Each script is included once per page: sphinx-thebe registers its configuration script twice
   under Jupyter Book, and the second copy stops with "Identifier 'THEBE_JS_URL' has already
   been declared" on every page.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

STATUS_WORDS = {"\u2705": "ok", "\u274c": "failed"}


class PlainExecStatus(SphinxPostTransform):
    default_priority = 20  # after MyST-NB writes the table (priority 8)

    def run(self, **kwargs) -> None:
        for entry in self.document.findall(nodes.entry):
            text = entry.astext().strip()
            if text in STATUS_WORDS:
                for t in list(entry.findall(nodes.Text)):
                    if t.strip() in STATUS_WORDS:
                        t.parent.replace(t, nodes.Text(STATUS_WORDS[t.strip()]))


def unique_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        attributes = getattr(js, "attributes", {})  # the same script may differ in priority
        key = (getattr(js, "filename", str(js)) or "",
               tuple(sorted((k, str(v)) for k, v in attributes.items() if k != "priority")))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.add_post_transform(PlainExecStatus)
    app.connect("html-page-context", unique_scripts, priority=900)
    app.add_js_file("search-no-tex.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}

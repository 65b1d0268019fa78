"""Every page of the built book, opened in headless Chromium as a reader would, offline.

The session's book build (conftest.py) is served on 127.0.0.1 and each page is loaded in a
1400x1000 window with every request to another host blocked and recorded. Per page:
no console error or uncaught exception, no request to another host, math rendered by MathJax
(no raw TeX, no MathJax error), every image loaded, every widget rendered, every demo's
slider changes what it shows, and no display equation or table wider than the text column unless
it scrolls inside its own box (an equation number never covers its equation). One test
collects the faults of all pages and reports them together.

Chromium is Debian's `chromium` (scripts/setup_system.sh), driven by playwright with
`executable_path`: playwright never downloads a browser here. Skips when it cannot start.
"""
from __future__ import annotations

import functools
import re
import http.server
import shutil
import socketserver
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.slow
WINDOW = {"width": 1400, "height": 1000}
MIN_CODE_CHARS = 100  # characters of code that fit across a code cell at a 1400 px window
# A matplotlib figure at the book's 110 dpi shown below 70% of its size has 9 pt titles under
# 10 px: the char-gpt head grid and the deep-bidirectional figure (12 in wide) were at 60-67%.
MIN_FIGURE_SCALE = 0.7


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book_build):
    if book_build["returncode"] != 0:
        pytest.fail("the book build failed (see tests/test_book.py)")
    handler = functools.partial(QuietHandler, directory=str(book_build["html"]))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield book_build["html"], f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r requirements.txt)")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on PATH: run scripts/setup_system.sh (apt package chromium)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        except Exception as e:  # noqa: BLE001 - any start failure means: cannot test here
            pytest.skip(f"chromium ({exe}) does not start: {str(e).splitlines()[0]}")
        yield b
        b.close()


def pages(html: Path) -> list:
    """Every HTML page of the site, except assets and redirects (index.html is one)."""
    skip = ("_static", "_sources", "_images", "_downloads")
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not any(part in skip for part in p.relative_to(html).parts)
                  and 'http-equiv="Refresh"' not in p.read_text(errors="ignore")[:300])


# Runs in the page after load and MathJax; returns a list of fault strings.
CHECK_PAGE = r"""
async () => {
  const MIN_FIGURE_SCALE = MIN_FIGURE_SCALE_VALUE;
  const faults = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) await MathJax.typesetPromise();
  }
  const article = document.querySelector('article.bd-article') || document.querySelector('main')
                  || document.body;
  const col = article.getBoundingClientRect();
  const short = (el) => (el.textContent || el.outerHTML).trim().replace(/\s+/g, ' ').slice(0, 70);

  // math: every math node typeset, no TeX error, no raw delimiters left in the prose
  for (const el of article.querySelectorAll('span.math, div.math')) {
    if (!el.querySelector('mjx-container')) faults.push(`math not rendered: ${short(el)}`);
  }
  for (const el of article.querySelectorAll('mjx-merror, merror')) {
    faults.push(`MathJax error: ${short(el)}`);
  }
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => n.parentElement.closest('pre, code, script, style, mjx-container, '
      + '.highlight, .cell_output, textarea') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const m = n.textContent.match(/\$\$|\\\(|\\\[|\\begin\{|\\frac\{/);
    if (m) faults.push(`raw TeX in the text: "${n.textContent.trim().slice(0, 70)}"`);
  }

  // images: loaded, real alt text, and a figure not shrunk so far that its labels are unreadable
  for (const img of document.querySelectorAll('img')) {
    img.scrollIntoView();
    if (!img.complete || img.naturalWidth === 0) faults.push(`image not loaded: ${img.src.slice(0, 90)}`);
    else if (img.closest('.cell_output') && img.width / img.naturalWidth < MIN_FIGURE_SCALE)
      faults.push(`figure shown at ${Math.round(100 * img.width / img.naturalWidth)}% of its size `
        + `(labels too small; make it narrower): ${img.src.split('/').pop().slice(0, 60)}`);
    const alt = (img.getAttribute('alt') || '').trim();
    if (article.contains(img) && (!alt || /\.(png|jpe?g|svg|gif)$/i.test(alt)))
      faults.push(`image without real alt text: ${img.src.split('/').pop().slice(0, 60)} (alt="${alt.slice(0, 40)}")`);
  }
  window.scrollTo(0, 0);

  // saved ipywidgets views must have been rendered by a widget manager
  for (const s of document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')) {
    const box = s.parentElement;
    if (!box.querySelector('.jupyter-widgets, .widget-box, .lm-Widget, .widget-inline-hbox'))
      faults.push('ipywidgets view not rendered (no widget manager on the page)');
  }

  // wide display equations and tables: inside the column, or scrolling in their own box
  const scrollsInOwnBox = (el) => {
    for (let p = el.parentElement; p && p !== article.parentElement; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox === 'auto' || ox === 'scroll') return p.getBoundingClientRect().right <= col.right + 1;
      if (ox === 'hidden' || ox === 'clip') return false;
    }
    return false;
  };
  const wide = [...article.querySelectorAll('mjx-container[display="true"] > mjx-math, '
                + 'mjx-container[display="true"] > svg, table')];
  for (const el of wide) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > col.right + 1 && !scrollsInOwnBox(el))
      faults.push(`${el.tagName.toLowerCase()} wider than the column (${Math.round(r.width)} px > `
        + `${Math.round(col.width)} px), cut instead of scrolling: ${short(el.closest('div.math, table') || el)}`);
  }
  for (const eq of article.querySelectorAll('div.math')) {
    const no = eq.querySelector('.eqno'), m = eq.querySelector('mjx-math');
    if (!no || !m) continue;
    // the visible part of the formula: clipped by its own scrolling box, if it has one
    const a = no.getBoundingClientRect(), f = m.getBoundingClientRect();
    const box = m.closest('mjx-container').getBoundingClientRect();
    const b = {left: Math.max(f.left, box.left), right: Math.min(f.right, box.right),
               top: f.top, bottom: f.bottom};
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      faults.push(`equation number ${no.textContent.replace('#', '').trim()} covers its equation`);
  }

  // code: how many characters fit across a code cell
  const pre = article.querySelector('div.cell_input pre, div.highlight pre');
  let codeChars = null;
  if (pre) {
    const probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    pre.appendChild(probe);
    const cw = probe.getBoundingClientRect().width / 100;
    probe.remove();
    const st = getComputedStyle(pre);
    codeChars = (pre.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight)) / cw;
  }
  return {faults, codeChars, ranges: document.querySelectorAll('input[type=range]').length};
}
"""

# Moves the first slider of every demo one step and reports whether what the demo shows (its
# figure, or for a seqlab demo its figure and printed text) changed.
MOVE_SLIDERS = r"""
async () => {
  const out = [];
  const seen = new Set();
  for (const input of document.querySelectorAll('input[type=range]')) {
    // a seqlab demo shows a figure, printed text or both; another widget, its pictures
    let box = input.closest('.seqlab-demo');
    if (!box) {
      box = input.parentElement;
      while (box && !box.querySelector('img, svg, canvas')) box = box.parentElement;
    }
    if (!box || seen.has(box)) continue;
    seen.add(box);
    const pictures = () => [...box.querySelectorAll('img, svg, canvas, pre.seqlab-demo-text')].map(
      (e) => e.tagName === 'PRE' ? (e.hidden ? '' : e.textContent)
        : e.src || e.outerHTML.length + ':' + (e.toDataURL ? e.toDataURL().length : ''));
    const before = JSON.stringify(pictures());
    const min = parseFloat(input.min || 0), max = parseFloat(input.max || 100);
    const step = parseFloat(input.step) || 1, v = parseFloat(input.value);
    input.value = String(v + step <= max ? v + step : v - step);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new Event('change', {bubbles: true}));
    await new Promise((r) => setTimeout(r, 150));
    out.push({label: (input.getAttribute('aria-label') || input.name || input.id || 'slider'),
              changed: JSON.stringify(pictures()) !== before});
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def survey(site, browser):
    """Open every page once: {"pages", "faults": {page: [...]}, "demos": {page: [...]},
    "code_chars": {page: characters across a code cell}}."""
    html, base = site
    host = urlparse(base).netloc
    faults, demos, code_chars = {}, {}, {}
    context = browser.new_context(viewport=WINDOW)
    outside = []

    def route(r):
        if urlparse(r.request.url).netloc == host or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()
    context.route("**/*", route)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    for rel in pages(html):
        errors.clear()
        outside.clear()
        page.goto(f"{base}/{rel}", wait_until="load", timeout=30000)
        result = page.evaluate(CHECK_PAGE.replace("MIN_FIGURE_SCALE_VALUE",
                                                  str(MIN_FIGURE_SCALE)))
        page_faults = list(result["faults"])
        if result["codeChars"] is not None:
            code_chars[rel] = result["codeChars"]
        if result["ranges"]:
            demos[rel] = page.evaluate(MOVE_SLIDERS)
            page_faults += [f"demo slider {d['label']} moved but what it shows did not change"
                            for d in demos[rel] if not d["changed"]]
        page_faults += [f"console error: {e[:160]}" for e in errors]
        page_faults += [f"request to another host: {u[:120]}" for u in sorted(set(outside))]
        if page_faults:
            faults[rel] = list(dict.fromkeys(page_faults))
    context.close()
    print(f"\n{len(pages(html))} pages opened in Chromium; slider demos: "
          + (", ".join(f"{p} ({len(d)})" for p, d in demos.items()) or "none"))
    return {"pages": pages(html), "faults": faults, "demos": demos, "code_chars": code_chars}


def test_every_page_without_faults(survey):
    report = [f"{p}:\n    " + "\n    ".join(f) for p, f in survey["faults"].items()]
    assert not report, f"{len(report)} of {len(survey['pages'])} pages with faults:\n" \
        + "\n".join(report)


def test_code_cells_fit_100_characters(survey):
    assert survey["code_chars"], "no code cell found on any page"
    narrow = {p: round(c) for p, c in survey["code_chars"].items() if c < MIN_CODE_CHARS}
    assert not narrow, f"code cells narrower than {MIN_CODE_CHARS} characters at 1400 px: {narrow}"


def test_demos_respond_in_the_static_html(survey):
    """Every slider demo of the static site changes its figure when a slider moves (the
    per-page test reports each one that does not); here: there are demos at all."""
    if not survey["demos"]:
        pytest.skip("no page has a kernel-free slider demo (input type=range) yet")
    moved = [d for ds in survey["demos"].values() for d in ds]
    assert moved and all(d["changed"] for d in moved), survey["demos"]


def test_search_snippets_have_no_tex(site, browser):
    """Search results are made from the pages' HTML, where formulas are TeX source;
    _static/search-no-tex.js drops them (seqlab/book_html.py)."""
    html, base = site
    page = browser.new_page(viewport=WINDOW)
    page.goto(f"{base}/search.html?q=gradient", wait_until="load")
    page.wait_for_function("document.querySelectorAll('#search-results li').length > 0 && "
                           "!document.querySelector('#search-progress')?.textContent"
                           ".includes('Preparing')", timeout=30000)
    page.wait_for_timeout(2000)  # snippets are fetched page by page
    snippets = page.eval_on_selector_all("#search-results li p, #search-results li div",
                                         "els => els.map(e => e.textContent)")
    page.close()
    assert snippets, "no search snippet"
    tex = [t[:120] for t in snippets if re.search(r"\\\(|\\\[|\\frac|\\partial|\$\$", t)]
    assert not tex, tex

"""The demo helper (seqlab.demos): static view, live view, and how the book's pages use it.

Fast: toy demos only; the book's own demos are checked in their built HTML by test_book.py.
"""
import html as htmlmod
import json
import re
import shutil
import subprocess

import jupytext
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course import ROOT  # noqa: E402
from seqlab import demos  # noqa: E402
from seqlab.demos import Choice, Slider, Text, Toggle, demo  # noqa: E402

CALLS = []


def draw(freq=1.0, kind="sin", grid=True):
    CALLS.append((freq, kind, grid))
    fig, ax = plt.subplots(figsize=(4, 2))
    x = np.linspace(0, 6, 200)
    ax.plot(x, np.sin(freq * x) if kind == "sin" else np.cos(freq * x))
    ax.grid(grid)
    ax.set_title(f"{kind} {freq}")
    return fig


def toy(**kw):
    return demo(draw, freq=Slider(np.arange(0.5, 3.01, 0.5), value=1.0, label="f",
                                  static=[0.5, 1.0, 2.0]),
                kind=Choice(["sin", "cos"], label="kind", buttons=True),
                grid=Toggle(True, label="grid"), **kw)


def data_of(page_html):
    blocks = re.findall(r'<script type="application/json" class="seqlab-demo-data">(.*?)</script>',
                        page_html, flags=re.S)
    return [json.loads(b) for b in blocks]


def external_urls(page_html):
    return re.findall(r'(?:src|href)\s*=\s*["\']?\s*((?:https?:)?//[^"\'>\s]+)', page_html)


@pytest.fixture
def static_mode(monkeypatch):
    monkeypatch.setenv(demos.MODE_ENV, "static")


def test_mode_follows_the_environment(monkeypatch):
    monkeypatch.delenv(demos.MODE_ENV, raising=False)
    assert demos.mode() == "live"
    monkeypatch.setenv(demos.MODE_ENV, "static")
    assert demos.mode() == "static"


def test_static_view_has_controls_frames_and_no_external_url(static_mode):
    d = toy()
    bundle = d._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}, "the static view must not be a widget"
    page = bundle["text/html"]
    assert external_urls(page) == []
    assert "http://" not in page and "https://" not in page
    # one range input over the 3 static frequencies, starting at 1.0 (index 1)
    rng = re.findall(r'<input type="range" min="0" max="(\d+)" step="1" value="(\d+)"', page)
    assert rng == [("2", "1")]
    assert len(re.findall(r"<option ", page)) == 2
    assert len(re.findall(r'<input type="checkbox"[^>]*checked', page)) == 1
    assert page.count("data-control=") == 3
    (data,) = data_of(page)
    assert data["shape"] == [3, 2, 2]
    assert len(data["frames"]) == 3 * 2 * 2
    assert data["labels"][0] == ["0.5", "1", "2"]
    assert all(u.startswith("data:image/webp;base64,") for u in data["images"])
    assert len(set(data["images"])) == len(data["images"]) == 12   # every frame differs here
    # the <img> shown first is the frame of the default values (f=1, sin, grid on)
    start = np.ravel_multi_index((1, 0, 1), (3, 2, 2))
    first_src = re.search(r'<img class="seqlab-demo-frame" src="([^"]+)"', page).group(1)
    assert first_src == data["images"][data["frames"][start][0]]
    assert len(page.encode()) < demos.MAX_STATIC_BYTES


def test_static_view_draws_each_grid_point_once(static_mode):
    CALLS.clear()
    toy().static_html()
    assert sorted(CALLS) == sorted((f, k, g) for f in (0.5, 1.0, 2.0) for k in ("sin", "cos")
                                   for g in (False, True))
    assert plt.get_fignums() == [], "the demo must close the figures it draws"


def test_fallback_figure_comes_after_the_demo(static_mode):
    page = toy(fallback=[dict(freq=0.5), dict(freq=2.0, kind="cos")]).static_html()
    assert page.index('class="seqlab-demo"') < page.index('class="seqlab-demo-fallback"')
    fig = re.search(r'<figure class="seqlab-demo-fallback"><img src="data:image/png;base64,'
                    r'[^"]+" alt="([^"]+)">', page)
    assert fig and "f = 0.5" in htmlmod.unescape(fig.group(1))
    with pytest.raises(ValueError):
        toy(fallback=[dict(freq=1.5)]).static_html()      # 1.5 is not a static value


def test_text_only_demo_and_fixed_controls(static_mode):
    def show(word="abc", n=1):
        print(word * n)

    page = demo(show, word=Text("abc", label="word", presets=["xy"]),
                n=Slider(range(5), value=2, label="n", static=[2])).static_html()
    (data,) = data_of(page)
    assert data["shape"] == [2, 1] and data["images"] == []
    assert [f[1] for f in data["frames"]] == ["abcabc\n", "xyxy\n"]
    assert "n = 2" in page and 'type="hidden"' in page   # one static value: shown as text
    assert "<pre class=\"seqlab-demo-text\">abcabc\n</pre>" in page
    assert "<img" not in page   # no picture to show: no empty-src image without alt text


def test_every_image_has_a_picture_and_alt_text(static_mode):
    """A demo whose default frame only prints and whose other frames draw: the page holds no
    <img> with an empty src or alt (a broken image for the browser and a screen reader)."""
    def show(n=0):
        if n == 0:
            print("nothing to draw")
            return None
        return draw(freq=float(n))

    page = demo(show, n=Slider(range(3), value=0, label="n")).static_html()
    (data,) = data_of(page)
    assert data["frames"][0][0] is None and data["frames"][1][0] is not None
    for tag in re.findall(r"<img[^>]*>", page):
        assert re.search(r'src="data:image/[^"]+"', tag) and re.search(r'alt="[^"]+"', tag), tag


def test_budget_is_enforced(static_mode):
    with pytest.raises(ValueError, match="budget"):
        toy(max_bytes=5_000).static_html()


def test_bad_controls_are_refused():
    with pytest.raises(ValueError):
        Slider([1, 2, 3], value=4)
    with pytest.raises(ValueError):
        Slider([1, 2, 3], static=[5])
    with pytest.raises(TypeError):
        demo(draw, freq=[1, 2])


def test_live_view_is_widgets_without_output_capture(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    monkeypatch.delenv(demos.MODE_ENV, raising=False)

    def no_output(*a, **k):
        raise AssertionError("the live demo must not use an Output widget")

    monkeypatch.setattr(widgets.Output, "__init__", no_output)
    monkeypatch.setattr(widgets.Output, "__enter__", no_output)
    CALLS.clear()
    box = toy().widget()
    slider, buttons, check, image, text = box.children
    assert isinstance(slider, widgets.SelectionSlider) and len(slider.options) == 6
    assert isinstance(buttons, widgets.ToggleButtons)
    assert isinstance(check, widgets.Checkbox)
    assert isinstance(image, widgets.Image) and image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert CALLS == [(1.0, "sin", True)]
    first = image.value
    slider.value = 2.5                       # a value the static page does not have
    assert CALLS[-1] == (2.5, "sin", True) and image.value != first
    buttons.value = "cos"
    assert CALLS[-1] == (2.5, "cos", True)
    assert plt.get_fignums() == []
    bundle = toy()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def _demo_cells():
    """(page, cells, index) of every code cell of the book that calls demo(...)."""
    for page in sorted((ROOT / "book").rglob("*.md")):
        if not page.read_text().startswith("---\njupytext"):
            continue
        cells = jupytext.read(page).cells
        for i, c in enumerate(cells):
            if c.cell_type == "code" and re.search(r"^demo\(", c.source, flags=re.M):
                yield page, cells, i


def test_book_demos_use_the_helper_and_have_a_static_figure_after():
    found = list(_demo_cells())
    assert len(found) >= 20
    for page in sorted((ROOT / "book").rglob("*.md")):
        text = page.read_text()
        assert "interact(" not in text and "interactive(" not in text, page
        assert "widgets.Output" not in text and "figure_widget" not in text, page
    for page, cells, i in found:
        if "fallback=" in cells[i].source:
            continue
        after = []
        for c in cells[i + 1:]:
            if c.cell_type == "markdown" and c.source.lstrip().startswith("#"):
                break                               # the figure belongs to the demo's section
            if c.cell_type == "code":
                after.append(c.source)
        assert any(re.search(r"subplots\(|plt\.figure\(", s) for s in after[:2]), \
            f"{page.relative_to(ROOT)}: demo in cell {i} has no static figure after it"


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium package")
def test_static_demo_responds_in_a_browser(static_mode, tmp_path):
    """Headless Chromium, no network: moving the slider shows the frame for that value."""
    page = toy().static_html()
    (data,) = data_of(page)
    want = data["images"][data["frames"][np.ravel_multi_index((2, 1, 1), (3, 2, 2))][0]]
    shutil.copy(ROOT / "book" / "_static" / "seqlab-demos.js", tmp_path)
    (tmp_path / "expected.txt").write_text(want)
    (tmp_path / "t.html").write_text(
        "<!doctype html><html><head><title>wait</title>"
        '<script defer src="seqlab-demos.js"></script></head><body>' + page +
        "<script>window.addEventListener('load', function () {"
        "var r = document.querySelector('input[type=range]'); r.value = 2;"
        "r.dispatchEvent(new Event('input'));"
        "var s = document.querySelector('select'); s.value = '1';"
        "s.dispatchEvent(new Event('change'));"
        "var img = document.querySelector('img.seqlab-demo-frame');"
        "var out = document.querySelector('output').textContent;"
        "document.title = 'frame=' + document.querySelector('.seqlab-demo').dataset.frame +"
        "  ' out=' + out + ' src=' + img.src.length + ' alt=' + img.alt;"
        "document.body.setAttribute('data-src', img.src);});</script></body></html>")
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--allow-file-access-from-files", "--dump-dom",
                           (tmp_path / "t.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    title = re.search(r"<title>(.*?)</title>", dom)
    assert title, proc.stderr[-2000:]
    flat = np.ravel_multi_index((2, 1, 1), (3, 2, 2))
    assert f"frame={flat} out=2 " in title.group(1), title.group(1)
    assert "f = 2, kind = cos, grid = on" in htmlmod.unescape(title.group(1))
    assert f'data-src="{want}"' in dom


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium package")
def test_text_first_demo_shows_text_then_a_figure_in_a_browser(static_mode, tmp_path):
    """A slider over frames that print, then draw: each move changes what the demo shows."""
    def show(n=0):
        print(f"n is {n}")
        if n >= 2:
            return draw(freq=float(n))

    page = demo(show, n=Slider(range(3), value=0, label="n")).static_html()
    (data,) = data_of(page)
    want = data["images"][data["frames"][2][0]]
    for f in ("seqlab-demos.js", "seqlab-demos.css"):
        shutil.copy(ROOT / "book" / "_static" / f, tmp_path)
    (tmp_path / "t.html").write_text(
        "<!doctype html><html><head><title>wait</title>"
        '<link rel="stylesheet" href="seqlab-demos.css">'
        '<script defer src="seqlab-demos.js"></script></head><body>' + page +
        "<script>window.addEventListener('load', function () {"
        "var r = document.querySelector('input[type=range]'), seen = [];"
        "function look() { var img = document.querySelector('img.seqlab-demo-frame');"
        "  seen.push(document.querySelector('pre.seqlab-demo-text').textContent.trim() + '|' +"
        "            (img && getComputedStyle(img).display !== 'none' ? img.alt : 'no image')); }"
        "look(); [1, 2, 1].forEach(function (v) { r.value = v;"
        "  r.dispatchEvent(new Event('input')); look(); });"
        "document.title = seen.join(';');"
        "document.body.setAttribute('data-src', document.querySelector('img').src);});"
        "</script></body></html>")
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--allow-file-access-from-files", "--dump-dom",
                           (tmp_path / "t.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>(.*?)</title>", proc.stdout)
    assert title, proc.stderr[-2000:]
    assert htmlmod.unescape(title.group(1)).split(";") == [
        "n is 0|no image", "n is 1|no image", "n is 2|Demo figure for n = 2", "n is 1|no image"]
    assert f'data-src="{want}"' in proc.stdout

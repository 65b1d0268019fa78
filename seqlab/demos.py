"""One helper for every interactive demo in the book.

    from seqlab.demos import demo, Slider, Choice, Toggle, Text

    def draw(k=16, scheme="carry"):
        fig, ax = plt.subplots()
        ...                       # draw the figure for these values; print text if useful
        return fig

    demo(draw, k=Slider([1, 2, 4, 8, 16], value=16, label="k"),
         scheme=Choice([("carry state", "carry"), ("reset state", "reset")], label="scheme"))

`draw(**values)` returns a matplotlib figure (or axes), or nothing and only prints. The same
call gives two views:

- **live** (a kernel, e.g. JupyterLab): ipywidgets controls, an `Image` and an `HTML` widget.
  A control change calls `draw` again and sets the image; nothing is captured with an
  `Output` widget, so the build-time stall of nbclient issue #312 cannot happen.
- **static** (the HTML book): `draw` runs at build time over the grid of each control's
  `static` values; the page gets plain HTML controls (`<input type=range>`, `<select>`,
  checkbox) and the precomputed frames, and `_static/seqlab-demos.js` switches frames in the
  browser. No kernel, no widget state, nothing from another host. Without JavaScript (and in
  print) the default frame is an ordinary image.

The book build selects the static view by setting ``SEQLAB_DEMOS=static`` (the Sphinx
extension `seqlab.book_build` does it, `scripts/run_page.py` too); otherwise the view is live.

`fallback=[{...}, ...]` adds, after the static demo, one figure that tiles the frames for the
listed settings: the print and no-JavaScript version for a demo whose page has no figure of
its own after the demo.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import os
from contextlib import redirect_stdout

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

MODE_ENV = "SEQLAB_DEMOS"
MAX_STATIC_BYTES = 300_000      # page weight of one static demo (frames, markup, data)
STATIC_DPI = 72                 # frames are shown at most ~800 px wide on the page
STATIC_COLORS = 48              # plots have few colours; heat maps stay smooth enough


def mode() -> str:
    """'static' when the book build runs the page (SEQLAB_DEMOS=static), else 'live'."""
    return "static" if os.environ.get(MODE_ENV, "").strip().lower() == "static" else "live"


def _plain(v):
    """numpy scalars to Python (stable labels, JSON, ipywidgets)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        v = round(v, 10)
    return v


def _pairs(options):
    """[(label, value)] from a list of values or of (label, value) pairs."""
    out = []
    for o in options:
        if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str):
            out.append((o[0], _plain(o[1])))
        else:
            out.append((None, _plain(o)))
    return out


class Control:
    """A demo control: the values a reader can pick live, and the subset precomputed for the
    static page (`static`, default: all of them)."""

    kind = "choice"

    def __init__(self, options, value=None, label=None, static=None, fmt="{:g}"):
        self.fmt = fmt
        self.options = [(lab if lab is not None else self._fmt(v), v)
                        for lab, v in _pairs(options)]
        values = [v for _, v in self.options]
        if not values:
            raise ValueError("a control needs at least one option")
        self.value = values[0] if value is None else _plain(value)
        if self.value not in values:
            raise ValueError(f"value {self.value!r} is not one of the options {values}")
        self.label = label
        static = values if static is None else [_plain(s) for s in static]
        missing = [s for s in static if s not in values]
        if missing:
            raise ValueError(f"static values {missing} are not options {values}")
        # in the order of the options, with the default value (the first frame shown) included
        static = sorted(dict.fromkeys([*static, self.value]), key=values.index)
        self.static = [(self.options[values.index(s)][0], s) for s in static]

    def _fmt(self, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return str(v)
        return self.fmt.format(v)

    def static_index(self):
        return [v for _, v in self.static].index(self.value)

    def live_widget(self, name):
        import ipywidgets as widgets

        return widgets.Dropdown(options=self.options, value=self.value,
                                description=self.label or name)

    def fixed_html(self, name, n_static):
        """A control with one static value: shown as text, kept in the grid as one index."""
        return (f'<span class="seqlab-demo-control seqlab-demo-fixed">'
                f"{html.escape(self.label or name)} = {html.escape(self.static[0][0])}"
                f'<input type="hidden" data-control="{n_static}" value="0" disabled></span>')

    def static_html(self, name, index, n_static):
        opts = "".join(f'<option value="{i}"{" selected" if i == index else ""}>'
                       f"{html.escape(lab)}</option>" for i, (lab, _) in enumerate(self.static))
        return (f'<label class="seqlab-demo-control">{html.escape(self.label or name)} '
                f'<select data-control="{n_static}" disabled>{opts}</select></label>')


class Choice(Control):
    """Pick one of a few options: a dropdown (or toggle buttons with buttons=True)."""

    def __init__(self, options, value=None, label=None, static=None, buttons=False):
        super().__init__(options, value, label, static)
        self.buttons = buttons

    def live_widget(self, name):
        import ipywidgets as widgets

        cls = widgets.ToggleButtons if self.buttons else widgets.Dropdown
        return cls(options=self.options, value=self.value, description=self.label or name)


class Slider(Control):
    """A slider over an ordered list of values (live: every value; static: `static`)."""

    kind = "slider"

    def live_widget(self, name):
        import ipywidgets as widgets

        return widgets.SelectionSlider(options=self.options, value=self.value,
                                       description=self.label or name,
                                       continuous_update=False)

    def static_html(self, name, index, n_static):
        labels = json.dumps([lab for lab, _ in self.static])
        return (f'<label class="seqlab-demo-control">{html.escape(self.label or name)} '
                f'<input type="range" min="0" max="{len(self.static) - 1}" step="1" '
                f'value="{index}" data-control="{n_static}" '
                f"data-labels='{html.escape(labels, quote=True)}' disabled> "
                f"<output>{html.escape(self.static[index][0])}</output></label>")


class Toggle(Control):
    """On or off: a checkbox."""

    def __init__(self, value=True, label=None):
        super().__init__([("off", False), ("on", True)], bool(value), label)

    def live_widget(self, name):
        import ipywidgets as widgets

        return widgets.Checkbox(value=self.value, description=self.label or name)

    def static_html(self, name, index, n_static):
        return (f'<label class="seqlab-demo-control"><input type="checkbox" '
                f'data-control="{n_static}"{" checked" if index else ""} disabled> '
                f"{html.escape(self.label or name)}</label>")


class Text(Control):
    """Free text in a kernel; on the static page a choice among `presets`."""

    def __init__(self, value, label=None, presets=()):
        super().__init__([value, *[p for p in presets if p != value]], value, label)

    def live_widget(self, name):
        import ipywidgets as widgets

        return widgets.Text(value=self.value, description=self.label or name,
                            continuous_update=False,
                            layout=widgets.Layout(width="min(40rem, 95%)"))


def _render(draw, values, dpi=None):
    """Call draw(**values); return (png bytes or None, printed text). Figures are closed."""
    before = set(plt.get_fignums())
    buf = io.StringIO()
    with redirect_stdout(buf):
        result = draw(**values)
    text = buf.getvalue()
    if isinstance(result, str):
        text += result
    new = [plt.figure(n) for n in plt.get_fignums() if n not in before]
    fig = None
    if isinstance(result, matplotlib.figure.Figure):
        fig = result
    elif isinstance(result, matplotlib.axes.Axes):
        fig = result.figure
    elif isinstance(result, (list, tuple, np.ndarray)) and len(result) and \
            isinstance(np.ravel(result)[0], matplotlib.axes.Axes):
        fig = np.ravel(result)[0].figure
    elif new:
        fig = new[-1]
    png = None
    if fig is not None:
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
        png = out.getvalue()
    for f in {*new, *([fig] if fig is not None else [])}:
        plt.close(f)
    return png, text


def _compress(png):
    """A frame for the page: the plot reduced to a small palette, stored as lossless WebP
    (a quarter of the plot's RGBA PNG; every current browser shows WebP)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.quantize(colors=STATIC_COLORS, method=Image.Quantize.MEDIANCUT).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="WEBP", lossless=True, quality=50, method=4)  # effort: fast enough
    return out.getvalue(), img.size


def _data_uri(data):
    kind = "webp" if data[:4] == b"RIFF" else "png"
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


class Demo:
    """The object `demo()` returns; it displays itself in the right view."""

    def __init__(self, draw, controls, fallback=None, max_bytes=MAX_STATIC_BYTES,
                 description=""):
        self.draw = draw
        self.controls = controls
        self.fallback = list(fallback or [])
        self.max_bytes = max_bytes
        self.description = description
        for settings in self.fallback:
            unknown = set(settings) - set(controls)
            if unknown:
                raise ValueError(f"fallback names unknown controls {unknown}")

    def defaults(self):
        return {name: c.value for name, c in self.controls.items()}

    # ---- live view -------------------------------------------------------------------------
    def widget(self):
        """Controls, an Image and an HTML widget; redrawn on every change (no Output capture)."""
        import ipywidgets as widgets

        controls = {name: c.live_widget(name) for name, c in self.controls.items()}
        image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        text = widgets.HTML()

        def update(*_):
            png, printed = _render(self.draw, {n: w.value for n, w in controls.items()})
            image.value = png or b""
            image.layout.display = None if png else "none"
            text.value = f"<pre>{html.escape(printed)}</pre>" if printed else ""

        for w in controls.values():
            w.observe(update, "value")
        update()
        return widgets.VBox([*controls.values(), image, text])

    # ---- static view -----------------------------------------------------------------------
    def frames(self):
        """(grid shape, {index tuple: (png, text)}) over the controls' static values."""
        names = list(self.controls)
        shape = [len(self.controls[n].static) for n in names]
        out = {}
        for idx in itertools.product(*[range(s) for s in shape]):
            values = {n: self.controls[n].static[i][1] for n, i in zip(names, idx)}
            png, text = _render(self.draw, values, dpi=STATIC_DPI)
            out[idx] = (_compress(png)[0] if png else None, text)
        return shape, out

    def static_html(self):
        names = list(self.controls)
        shape, frames = self.frames()
        images, image_index, data_frames = [], {}, []
        for idx in itertools.product(*[range(s) for s in shape]):  # row-major, like the JS
            png, text = frames[idx]
            k = None
            if png is not None:
                key = hashlib.sha1(png).hexdigest()
                if key not in image_index:
                    image_index[key] = len(images)
                    images.append(_data_uri(png))
                k = image_index[key]
            data_frames.append([k, text])
        start = tuple(self.controls[n].static_index() for n in names)
        start_flat = int(np.ravel_multi_index(start, shape)) if shape else 0
        img0, text0 = data_frames[start_flat]
        ctrl = "".join(self.controls[n].fixed_html(n, j) if shape[j] == 1 else
                       self.controls[n].static_html(n, i, j)
                       for j, (n, i) in enumerate(zip(names, start)))
        data = {"shape": shape, "images": images, "frames": data_frames,
                "names": [self.controls[n].label or n for n in names],
                "labels": [[lab for lab, _ in self.controls[n].static] for n in names],
                "alt": self._alt("")}
        payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
        settings = self._settings_text(start)
        n_frames = len(data_frames)
        body = (
            '<div class="seqlab-demo">'
            f'<div class="seqlab-demo-controls">{ctrl}</div>'
            # no <img> without a picture (an empty src is a broken image with no alt text):
            # a demo whose first frame only prints gets its <img> from the JS when needed
            + (f'<img class="seqlab-demo-frame" src="{images[img0]}" '
               f'alt="{html.escape(self._alt(settings))}">' if img0 is not None else "")
            + f'<pre class="seqlab-demo-text"{"" if text0 else " hidden"}>'
            f"{html.escape(text0)}</pre>"
            f'<p class="seqlab-demo-note">Precomputed when the page was built, for {n_frames} '
            f"setting{'s' if n_frames != 1 else ''} of the controls; open the page as a "
            "notebook to run the demo live with every value."
            '<span class="seqlab-demo-nojs"> (The controls need JavaScript; the image shows '
            f"{html.escape(settings)}.)</span></p>"
            f'<script type="application/json" class="seqlab-demo-data">{payload}</script>'
            "</div>")
        if len(body.encode()) > self.max_bytes:
            raise ValueError(
                f"static demo is {len(body.encode()) / 1e3:.0f} kB over {n_frames} frames, above "
                f"the {self.max_bytes / 1e3:.0f} kB budget: use fewer static values")
        return body + self._fallback_html(frames)

    def _settings_text(self, idx):
        return ", ".join(f"{self.controls[n].label or n} = {self.controls[n].static[i][0]}"
                         for n, i in zip(self.controls, idx))

    def _alt(self, settings):
        return (self.description + ": " if self.description else "Demo figure for ") + settings

    def _fallback_html(self, frames):
        if not self.fallback:
            return ""
        from PIL import Image

        tiles, captions, printed = [], [], []
        for settings in self.fallback:
            idx = []
            for n, c in self.controls.items():
                values = [v for _, v in c.static]
                v = _plain(settings.get(n, c.value))
                if v not in values:
                    raise ValueError(f"fallback value {n}={v!r} is not a static value {values}")
                idx.append(values.index(v))
            png, text = frames[tuple(idx)]
            tiles.append(Image.open(io.BytesIO(png)).convert("RGB") if png else text)
            captions.append(self._settings_text(idx))
            printed.append(text)
        if all(isinstance(t, str) for t in tiles):  # a demo that only prints
            blocks = "".join(f"<p>{html.escape(c)}:</p><pre>{html.escape(t)}</pre>"
                             for c, t in zip(captions, tiles))
            return ('<figure class="seqlab-demo-fallback">' + blocks +
                    f"<figcaption>The demo above for {len(tiles)} settings: the static version "
                    "for print and for reading without JavaScript.</figcaption></figure>")
        if not all(isinstance(t, Image.Image) for t in tiles):
            raise ValueError("every fallback setting must draw a figure (or none may)")
        ncols = 2 if len(tiles) > 1 and max(t.size[0] for t in tiles) < 560 else 1
        w = max(t.size[0] for t in tiles)
        h = max(t.size[1] for t in tiles)
        nrows = -(-len(tiles) // ncols)
        sheet = Image.new("RGB", (ncols * w, nrows * h), "white")
        for i, t in enumerate(tiles):
            sheet.paste(t, ((i % ncols) * w, (i // ncols) * h))
        out = io.BytesIO()
        sheet.quantize(colors=STATIC_COLORS, method=Image.Quantize.MEDIANCUT).save(
            out, format="PNG", optimize=True)
        listing = "; ".join(captions)
        texts = "".join(f"<p>{html.escape(c)}:</p><pre>{html.escape(t)}</pre>"
                        for c, t in zip(captions, printed) if t)
        return ('<figure class="seqlab-demo-fallback">'
                f'<img src="{_data_uri(out.getvalue())}" alt="{html.escape(self._alt(listing))}">'
                + texts +
                f"<figcaption>The demo above for {len(tiles)} settings ({html.escape(listing)}): "
                "the static version for print and for reading without JavaScript.</figcaption>"
                "</figure>")

    # ---- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        if mode() == "static":
            return {"text/html": self.static_html(),
                    "text/plain": f"<demo: {', '.join(self.controls)}>"}
        return self.widget()._repr_mimebundle_(include=include, exclude=exclude)


def demo(draw, fallback=None, max_bytes=MAX_STATIC_BYTES, description="", **controls):
    """A demo of `draw(**values)` over `controls` (see the module docstring); display it by
    making it the last expression of a cell."""
    for name, c in controls.items():
        if not isinstance(c, Control):
            raise TypeError(f"control {name!r} must be a Slider, Choice, Toggle or Text")
    return Demo(draw, controls, fallback=fallback, max_bytes=max_bytes,
                description=description)

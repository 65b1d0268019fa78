/* Kernel-free demos (seqlab.demos): switch between frames precomputed at build time.
   Each .seqlab-demo holds its controls, an <img> (absent while the frame shown only prints),
   a <pre> and a JSON block with the frames of the grid over the controls' values (row-major, one index per control). No network. */
(function () {
  "use strict";
  function setup(root) {
    var dataEl = root.querySelector("script.seqlab-demo-data");
    if (!dataEl || root.classList.contains("seqlab-demo-ready")) return;
    var data = JSON.parse(dataEl.textContent);
    var controls = Array.prototype.slice.call(root.querySelectorAll("[data-control]"));
    controls.sort(function (a, b) { return a.dataset.control - b.dataset.control; });
    var img = root.querySelector("img.seqlab-demo-frame");
    var pre = root.querySelector("pre.seqlab-demo-text");
    function index(c) { return c.type === "checkbox" ? (c.checked ? 1 : 0) : parseInt(c.value, 10); }
    function update() {
      var flat = 0, parts = [];
      controls.forEach(function (c, j) {
        var i = index(c);
        flat = flat * data.shape[j] + i;
        parts.push(data.names[j] + " = " + data.labels[j][i]);
        var out = c.parentNode.querySelector("output");
        if (out) out.textContent = data.labels[j][i];
        if (c.type === "range") c.setAttribute("aria-valuetext", data.labels[j][i]);
      });
      var frame = data.frames[flat];
      if (frame[0] === null) { if (img) img.hidden = true; }
      else {
        if (!img) {  // the first frame only printed: the page has no <img> until one is needed
          img = document.createElement("img");
          img.className = "seqlab-demo-frame";
          pre.parentNode.insertBefore(img, pre);
        }
        img.hidden = false;
        img.src = data.images[frame[0]];
        img.alt = data.alt + parts.join(", ");
      }
      pre.textContent = frame[1];
      pre.hidden = !frame[1];
      root.dataset.frame = flat;
    }
    controls.forEach(function (c) {
      c.disabled = false;
      c.addEventListener("input", update);
      c.addEventListener("change", update);
    });
    root.classList.add("seqlab-demo-ready");
    update();
  }
  function setupAll() { document.querySelectorAll(".seqlab-demo").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setupAll);
  else setupAll();
})();

// Search snippets without TeX: Sphinx makes each snippet from the page's HTML, where a formula
// is still its TeX source; drop formulas (and equation numbers) before the text is extracted.
(function () {
  function patch() {
    if (typeof Search === "undefined" || Search.htmlToText.noTex) return;
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll("span.math, div.math, .eqno, mjx-container, script[type^='math/']")
        .forEach((el) => el.replaceWith(" … "));
      return htmlToText(doc.documentElement.outerHTML, anchor);
    };
    Search.htmlToText.noTex = true;
  }
  patch();
  document.addEventListener("DOMContentLoaded", patch);
})();

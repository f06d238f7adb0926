// A table or a display formula too wide for the column scrolls sideways; a
// reader on a keyboard must be able to focus it to scroll it (axe:
// scrollable-region-focusable). Material does this for code blocks, not
// for tables or MathML. Runs on every page view, instant navigation included.
document$.subscribe(function () {
  document.querySelectorAll(".md-typeset__scrollwrap").forEach(function (wrap) {
    if (wrap.scrollWidth > wrap.clientWidth && !wrap.hasAttribute("tabindex")) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", "Table, scrolls sideways");
    }
  });
  // A formula keeps its own role (screen readers read it as math); focus is all it needs.
  document.querySelectorAll('math[display="block"]').forEach(function (formula) {
    if (formula.scrollWidth > formula.clientWidth && !formula.hasAttribute("tabindex")) {
      formula.setAttribute("tabindex", "0");
    }
  });
});

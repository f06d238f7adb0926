// A table too wide for the column scrolls inside Material's wrapper; a reader
// on a keyboard must be able to focus it to scroll it (axe:
// scrollable-region-focusable). Material does this for code blocks, not
// tables. Runs on every page view, instant navigation included.
document$.subscribe(function () {
  document.querySelectorAll(".md-typeset__scrollwrap").forEach(function (wrap) {
    if (wrap.scrollWidth > wrap.clientWidth && !wrap.hasAttribute("tabindex")) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", "Table, scrolls sideways");
    }
  });
});

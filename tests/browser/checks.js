// In-page checks for the browser tests (tests/browser/site.py injects this file
// into every page of the built site and calls these functions). Each returns
// plain data; the Python tests decide what passes.
window.celossChecks = {
  // Images (made eager and awaited), the article's visible text without code,
  // math and other non-prose elements, and how the browser lays out <math>.
  async gather() {
    const images = [...document.images];
    images.forEach((img) => { img.loading = "eager"; });
    const settle = (img) => img.complete ? null : new Promise((done) => {
      img.addEventListener("load", done);
      img.addEventListener("error", done);
      setTimeout(done, 10000);
    });
    await Promise.all(images.map(settle));
    const article = document.querySelector("article") || document.body;
    const prose = article.cloneNode(true);
    prose.querySelectorAll("pre, code, script, style, math, svg, textarea, kbd")
      .forEach((node) => node.remove());
    return {
      images: images.map((img) => ({
        src: img.currentSrc || img.src, width: img.naturalWidth,
        alt: img.getAttribute("alt"), figure: !!img.closest("figure"),
      })),
      text: prose.textContent,
      math: [...document.querySelectorAll("math")].map((m) => getComputedStyle(m).display),
      codeBlocks: document.querySelectorAll(".md-content pre > code").length,
    };
  },

  // Clicks every copy button in turn and reads the clipboard after each.
  async copyAll() {
    const results = [];
    for (const button of document.querySelectorAll("button[data-md-type=copy]")) {
      const code = document.querySelector(button.getAttribute("data-clipboard-target"));
      await navigator.clipboard.writeText("(nothing was copied)");
      button.click();
      let copied = "(nothing was copied)";
      for (let tries = 0; tries < 100 && copied === "(nothing was copied)"; tries++) {
        await new Promise((done) => setTimeout(done, 10));
        copied = await navigator.clipboard.readText();
      }
      results.push({ id: code.parentElement.id, shown: code.textContent, copied });
    }
    return results;
  },

  // The colour behind each figure image in the current palette, as a relative
  // luminance (white 1, black 0): the image's own corner pixels where they are
  // opaque, else the first opaque background behind the image.
  figureGrounds() {
    const parse = (css) => (css.match(/[\d.]+/g) || []).map(Number);
    const behind = (el) => {
      for (let node = el; node; node = node.parentElement) {
        const [r, g, b, a = 1] = parse(getComputedStyle(node).backgroundColor);
        if (a > 0.5) return [r, g, b];
      }
      return [255, 255, 255];
    };
    const luminance = ([r, g, b]) => {
      const c = [r, g, b].map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    return [...document.querySelectorAll("article figure img")].map((img) => {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const w = canvas.width, h = canvas.height;
      const corners = [[1, 1], [w - 2, 1], [1, h - 2], [w - 2, h - 2]];
      const grounds = corners.map(([x, y]) => {
        const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
        return a === 255 ? luminance([r, g, b]) : luminance(behind(img));
      });
      return { src: img.getAttribute("src"), ground: Math.min(...grounds) };
    });
  },

  // axe-core (injected before this is called) on the whole document: its
  // default rules (WCAG 2.x A and AA, best practices), or only `rules`.
  async runAxe(rules) {
    const options = { resultTypes: ["violations"] };
    if (rules) options.runOnly = { type: "rule", values: rules };
    const result = await axe.run(document, options);
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")} :: ${n.failureSummary}`),
    }));
  },
};

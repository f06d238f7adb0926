/* The Playground (docs/playground.md): softmax, cross-entropy and its gradient,
 * computed live in the browser. Plain JavaScript: no framework, no network
 * but the site's own table of celoss results (assets/playground-cases.json,
 * written by hooks/playground_table.py), which the page recomputes on load.
 *
 * Every displayed number is an <output> whose text has 8 significant digits
 * and whose data-value attribute holds the full float64 (String(x) round-trips).
 */
(function () {
  "use strict";

  var MAX_CLASSES = 6;
  var SLIDER_MIN = -10;
  var SLIDER_MAX = 10;
  var script = document.currentScript;

  // ------------------------------------------------------------------ the math
  // celoss's steps, in celoss's order of operations, so that the results
  // agree to the last few bits (src/celoss/probabilities.py, loss.py, gradient.py).

  function sum(values) {
    var total = 0;
    for (var i = 0; i < values.length; i++) total += values[i];
    return total;
  }

  /* logits: C numbers; target: 0..C-1; smoothing: epsilon in [0, 1];
   * temperature: T > 0. Returns the softmax, -log p_target, the loss and
   * d loss / d logits (with its 1/T factor). */
  function crossEntropy(logits, target, smoothing, temperature) {
    var C = logits.length;
    var z = logits.map(function (x) { return x / temperature; });  // z_c = x_c / T
    var rowMax = Math.max.apply(null, z);                            // m
    var shifted = z.map(function (v) { return v - rowMax; });        // z_c - m <= 0
    var exps = shifted.map(Math.exp);                                // in (0, 1]: no overflow
    var total = sum(exps);                                           // >= 1
    var probs = exps.map(function (e) { return e / total; });
    var logTotal = Math.log(total);
    var logProbs = shifted.map(function (s) { return s - logTotal; });  // log-sum-exp
    var negLogP = -logProbs[target];
    var loss = negLogP;
    if (smoothing > 0) {
      // The loss against the uniform distribution, mixed in as torch does.
      var uniform = -sum(logProbs.map(function (lp) { return lp * (1 / C); }));
      loss = (1 - smoothing) * negLogP + smoothing * uniform;
    }
    // Target distribution q_c = (1 - eps) [c = y] + eps / C.
    var q = logits.map(function (_, c) {
      return (1 - smoothing) * (c === target ? 1 : 0) + smoothing / C;
    });
    var qTotal = sum(q);
    // d loss / d z_c = p_c sum(q) - q_c; the chain rule through z = x / T adds 1/T.
    var grad = probs.map(function (p, c) { return (p * qTotal - q[c]) / temperature; });
    return { probs: probs, negLogP: negLogP, loss: loss, grad: grad };
  }

  function relativeDifference(a, b) {
    if (a === b) return 0;  // also 0 and -0
    return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
  }

  // 8 significant digits: enough for a relative difference of 1e-6 and more.
  function format(x) {
    if (x === 0) return "0";  // also -0
    if (!isFinite(x)) return String(x);
    var a = Math.abs(x);
    var text = a >= 1e-3 && a < 1e6 ? x.toPrecision(8) : x.toExponential(7);
    return text.replace(/-/g, "\u2212");  // real minus signs
  }

  function show(output, x) {
    output.textContent = format(x);
    output.setAttribute("data-value", String(x));
  }

  // ------------------------------------------------------------------ the page

  var root = document.getElementById("pg");
  if (!root) return;
  var $ = function (id) { return document.getElementById(id); };

  var classesSelect = $("pg-classes");
  var targetSelect = $("pg-target");
  var probBars = $("pg-probs");
  var gradBars = $("pg-grad");

  /* A slider and a number field that hold one value. The number field is the
   * source of truth (it takes any value); the slider follows, clamped to its
   * range. Invalid input (empty, out of range) is flagged and ignored. */
  function Pair(range, number, isValid, onChange) {
    var self = this;
    this.range = range;
    this.number = number;
    this.value = Number(number.value);
    range.addEventListener("input", function () {
      number.value = range.value;
      self.accept(Number(range.value));
    });
    number.addEventListener("input", function () {
      var x = number.value.trim() === "" ? NaN : Number(number.value);
      if (isFinite(x) && isValid(x)) {
        self.syncRange(x);
        self.accept(x);
      } else {
        number.setAttribute("aria-invalid", "true");
      }
    });
    // Leaving an invalid field puts the value in use back.
    number.addEventListener("change", function () {
      if (number.getAttribute("aria-invalid") === "true") self.set(self.value);
    });
    this.accept = function (x) {
      number.removeAttribute("aria-invalid");
      self.value = x;
      onChange();
    };
  }
  Pair.prototype.syncRange = function (x) {
    var lo = Number(this.range.min), hi = Number(this.range.max);
    this.range.value = String(Math.min(hi, Math.max(lo, x)));
  };
  Pair.prototype.set = function (x) {  // from a preset: no event, no render
    this.value = x;
    this.number.value = String(x);
    this.number.removeAttribute("aria-invalid");
    this.syncRange(x);
  };

  // The logit rows, the probability bars and the gradient bars: one per class.
  var logitPairs = [];
  var probRows = [];
  var gradRows = [];
  var rows = $("pg-logit-rows");

  function element(tag, attributes, text) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (k) { el.setAttribute(k, attributes[k]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function barRow(container, c, signed) {
    var row = element("div", { "class": "pg-bar-row", "data-class": String(c) });
    var label = element("span", { "class": "pg-bar-label" });
    label.appendChild(document.createTextNode("class " + c));
    var badge = element("span", { "class": "pg-badge" }, "target");
    label.appendChild(badge);
    var track = element("span", { "class": "pg-track", "aria-hidden": "true" });
    var fill = element("span", { "class": "pg-fill" });
    track.appendChild(fill);
    var output = element("output", { "class": "pg-value", id: (signed ? "pg-grad-" : "pg-prob-") + c });
    row.appendChild(label);
    row.appendChild(track);
    row.appendChild(output);
    container.appendChild(row);
    return { row: row, fill: fill, output: output, badge: badge };
  }

  var defaults = [2.0, 1.0, 0.1, -1.0, 0.5, 3.0];
  for (var c = 0; c < MAX_CLASSES; c++) {
    var row = element("div", { "class": "pg-logit", "data-class": String(c) });
    var label = element("label", { "for": "pg-logit-" + c });
    label.innerHTML = "<var>x</var><sub>" + c + "</sub>, class " + c;
    var range = element("input", {
      type: "range", id: "pg-logit-" + c + "-range", min: String(SLIDER_MIN),
      max: String(SLIDER_MAX), step: "0.1", "aria-label": "Logit of class " + c + " (slider)"
    });
    var number = element("input", {
      type: "number", id: "pg-logit-" + c, step: "any", inputmode: "decimal"
    });
    number.value = String(defaults[c]);
    range.value = String(defaults[c]);
    row.appendChild(label);
    row.appendChild(range);
    row.appendChild(number);
    rows.appendChild(row);
    // Any logit, as long as logit / T is a float64 (not +-Infinity).
    logitPairs.push(new Pair(range, number,
      function (x) { return isFinite(x / temperature.value); }, render));
    probRows.push(barRow(probBars, c, false));
    gradRows.push(barRow(gradBars, c, true));
  }

  var smoothing = new Pair($("pg-smoothing-range"), $("pg-smoothing"),
    function (x) { return x >= 0 && x <= 1; }, render);
  var temperature = new Pair($("pg-temperature-range"), $("pg-temperature"), function (x) {
    return x > 0 && logitPairs.every(function (p) { return isFinite(p.value / x); });
  }, render);

  function numClasses() { return Number(classesSelect.value); }

  // The target menu lists the classes there are; a target beyond them moves to the last.
  function fillTargets() {
    var C = numClasses();
    var target = Math.min(Number(targetSelect.value) || 0, C - 1);
    targetSelect.textContent = "";
    for (var c = 0; c < C; c++) {
      var option = element("option", { value: String(c) }, "class " + c);
      targetSelect.appendChild(option);
    }
    targetSelect.value = String(target);
  }

  function render() {
    var C = numClasses();
    var target = Number(targetSelect.value);
    var T = temperature.value;
    var eps = smoothing.value;
    var logits = logitPairs.slice(0, C).map(function (p) { return p.value; });
    var r = crossEntropy(logits, target, eps, T);
    for (var c = 0; c < MAX_CLASSES; c++) {
      var used = c < C;
      logitPairs[c].range.parentNode.hidden = !used;
      probRows[c].row.hidden = !used;
      gradRows[c].row.hidden = !used;
      if (!used) continue;
      var isTarget = c === target;
      [probRows[c], gradRows[c]].forEach(function (b) {
        b.row.classList.toggle("pg-is-target", isTarget);
        b.badge.hidden = !isTarget;
      });
      show(probRows[c].output, r.probs[c]);
      probRows[c].fill.style.width = (100 * r.probs[c]) + "%";
      var g = r.grad[c];
      show(gradRows[c].output, g);
      // Scale: +-1/T is the whole half-track.
      var half = 50 * Math.min(1, Math.abs(g) * T);
      var fill = gradRows[c].fill;
      fill.style.width = half + "%";
      fill.style.left = g >= 0 ? "50%" : (50 - half) + "%";
      fill.classList.toggle("pg-negative", g < 0);
    }
    show($("pg-neg-log-p"), r.negLogP);
    show($("pg-loss"), r.loss);
    $("pg-loss-label").innerHTML = eps > 0
      ? "Loss <var>&ell;</var> with label smoothing <var>&epsilon;</var> = " + String(eps)
      : "Loss <var>&ell;</var> (no smoothing: equal to &minus;log <var>p<sub>y</sub></var>)";
    $("pg-grad-note").textContent = T === 1
      ? "Temperature T = 1: the gradient is p\u2009\u2212\u2009q. Bars span \u00b11."
      : "Temperature T = " + String(T) + ": by the chain rule through z = x / T, the " +
        "gradient is (p\u2009\u2212\u2009q) \u00d7 1/T. Bars span \u00b11/T = \u00b1" +
        String(Number((1 / T).toPrecision(4))) + ".";
  }

  // ------------------------------------------------------------------ presets

  var PRESETS = {
    // The seed walkthrough's sample 1: logits [2.0, 1.0, 0.1], target 0.
    seed: { logits: [2.0, 1.0, 0.1], target: 0, smoothing: 0, temperature: 1 },
    // exp(1000) overflows a float64: only the max-subtraction keeps this finite.
    extreme: { logits: [1000, -1000, 0], target: 1, smoothing: 0, temperature: 1 },
    equal: { logits: [0, 0, 0, 0], target: 0, smoothing: 0, temperature: 1 }
  };

  function load(setting) {
    var C = setting.logits.length;
    classesSelect.value = String(C);
    fillTargets();
    targetSelect.value = String(setting.target);
    setting.logits.forEach(function (x, c) { logitPairs[c].set(x); });
    smoothing.set(setting.smoothing);
    temperature.set(setting.temperature);
    render();
  }

  root.querySelectorAll("[data-preset]").forEach(function (button) {
    button.addEventListener("click", function () {
      load(PRESETS[button.getAttribute("data-preset")]);
    });
  });
  classesSelect.addEventListener("change", function () { fillTargets(); render(); });
  targetSelect.addEventListener("change", render);

  // ------------------------------------------------------------------ self-check

  function checkCase(row, rtol) {
    var r = crossEntropy(row.logits, row.target, row.label_smoothing, row.temperature);
    var diffs = [relativeDifference(r.negLogP, row.neg_log_p),
                 relativeDifference(r.loss, row.loss)];
    row.probs.forEach(function (p, c) { diffs.push(relativeDifference(r.probs[c], p)); });
    row.grad.forEach(function (g, c) { diffs.push(relativeDifference(r.grad[c], g)); });
    var finite = [r.negLogP, r.loss].concat(r.probs, r.grad).every(isFinite);
    var worst = Math.max.apply(null, diffs);
    return { result: r, worst: worst, passed: finite && worst <= rtol };
  }

  function casesTable(table, checks) {
    var t = element("table");
    var head = element("tr");
    ["#", "case", "logits", "y", "\u03b5", "T", "celoss loss", "this page", "largest rel. diff", "load"]
      .forEach(function (h) { head.appendChild(element("th", { scope: "col" }, h)); });
    var thead = element("thead");
    thead.appendChild(head);
    t.appendChild(thead);
    var body = element("tbody");
    table.cases.forEach(function (row, i) {
      var tr = element("tr", { "data-case": String(row.id) });
      var cells = [String(row.id), row.name, "[" + row.logits.join(", ") + "]",
                   String(row.target), String(row.label_smoothing), String(row.temperature),
                   format(row.loss), format(checks[i].result.loss),
                   (checks[i].passed ? "" : "FAIL ") + checks[i].worst.toExponential(1)];
      cells.forEach(function (text) { tr.appendChild(element("td", {}, text)); });
      var button = element("button", { type: "button", "class": "pg-load",
                                       "aria-label": "Load case " + row.id }, "Load");
      button.addEventListener("click", function () {
        load({ logits: row.logits, target: row.target,
               smoothing: row.label_smoothing, temperature: row.temperature });
        root.scrollIntoView({ behavior: "smooth", block: "start" });
      });
      var last = element("td");
      last.appendChild(button);
      tr.appendChild(last);
      body.appendChild(tr);
    });
    t.appendChild(body);
    return t;
  }

  function selfCheck(table) {
    var rtol = table.page_rtol;
    var checks = table.cases.map(function (row) { return checkCase(row, rtol); });
    var passed = checks.filter(function (c) { return c.passed; }).length;
    var worst = Math.max.apply(null, checks.map(function (c) { return c.worst; }));
    var total = checks.length;
    var banner = $("pg-check");
    banner.setAttribute("data-state", passed === total ? "pass" : "fail");
    banner.setAttribute("data-passed", String(passed));
    banner.setAttribute("data-total", String(total));
    banner.setAttribute("data-largest", String(worst));
    var failed = table.cases.filter(function (_, i) { return !checks[i].passed; })
      .map(function (row) { return row.id; });
    banner.textContent = (passed === total ? "\u2713 Self-check: " : "\u2717 Self-check: ") +
      passed + " of " + total + " cases match celoss within a relative difference of " +
      rtol.toExponential(0) + " (largest: " +
      (worst === 0 ? "0, every number equal to the last bit" : worst.toExponential(1)) + ")" +
      (failed.length ? "; cases " + failed.join(", ") + " do not" : "") +
      ". celoss " + table.celoss_version + " computed them when this site was built, " +
      "and PyTorch " + table.torch_version + " agreed in " + table.dtype + ".";
    $("pg-cases-body").appendChild(casesTable(table, checks));
  }

  fillTargets();
  render();

  var url = script && script.getAttribute("data-table");
  if (!url) {
    $("pg-check").textContent = "Self-check: this page was built without its table of celoss results.";
    $("pg-check").setAttribute("data-state", "fail");
    return;
  }
  fetch(url)
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(selfCheck)
    .catch(function (error) {
      var banner = $("pg-check");
      banner.setAttribute("data-state", "fail");
      banner.textContent = "Self-check: could not load the table of celoss results (" +
        error.message + ").";
    });
}());

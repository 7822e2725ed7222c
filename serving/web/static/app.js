// vbsp-risk pages: charts drawn as inline SVG from the page's JSON, the print button, and
// filters that submit on change. No framework, no network calls: everything is in the page.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = { low: "#2e7d32", medium: "#8a6d00", high: "#c25400", very_high: "#b3261e" };

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function svg(w, h) { return el("svg", { viewBox: "0 0 " + w + " " + h, focusable: "false", "aria-hidden": "true" }); }
  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function pct(v, lang) {
    var s = (v * 100).toFixed(1);
    return lang === "vi" ? s.replace(".", ",") + " %" : s + "%";
  }
  function monthLabel(iso) { return iso.slice(5, 7) + "/" + iso.slice(2, 4); }

  function barChart(box, data, labels) {
    var last = data.months[data.months.length - 1];
    if (!last) { return; }
    var W = 320, H = 170, pad = 28, n = labels.bands.length, bw = (W - 2 * pad) / n;
    var max = Math.max.apply(null, labels.bands.map(function (b) { return last.counts[b]; }).concat([1]));
    var s = svg(W, H);
    labels.bands.forEach(function (b, i) {
      var v = last.counts[b], h = (H - 2 * pad) * v / max, x = pad + i * bw + 6, y = H - pad - h;
      s.appendChild(el("rect", { x: x, y: y, width: bw - 12, height: Math.max(h, 1), fill: COLORS[b] || "#607d8b" }));
      s.appendChild(el("text", { x: x + (bw - 12) / 2, y: y - 4, "text-anchor": "middle" }, String(v)));
      s.appendChild(el("text", { x: x + (bw - 12) / 2, y: H - pad + 14, "text-anchor": "middle" }, labels.band_names[i]));
    });
    s.appendChild(el("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: "#5b6675" }));
    box.appendChild(s);
  }

  function lineChart(box, points, lang, bandLines) {
    if (!points.length) { return; }
    var W = 320, H = 170, L = 44, R = 18, T = 12, B = 28;
    var vals = points.map(function (p) { return p.v; });
    var max = Math.max.apply(null, vals.concat([0.05])) * 1.15, min = 0;
    var s = svg(W, H);
    function x(i) { return points.length === 1 ? (L + W - R) / 2 : L + i * (W - L - R) / (points.length - 1); }
    function y(v) { return T + (H - T - B) * (1 - (v - min) / (max - min)); }
    (bandLines || []).forEach(function (b) {
      if (b.v < max) {
        s.appendChild(el("line", { x1: L, x2: W - R, y1: y(b.v), y2: y(b.v), stroke: COLORS[b.band], "stroke-dasharray": "3 3" }));
      }
    });
    [0, max / 2, max].forEach(function (v) {
      s.appendChild(el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, pct(v, lang)));
    });
    var d = points.map(function (p, i) { return (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p.v).toFixed(1); }).join(" ");
    s.appendChild(el("path", { d: d, fill: "none", stroke: "#0b5cad", "stroke-width": 2.5 }));
    points.forEach(function (p, i) {
      s.appendChild(el("circle", { cx: x(i), cy: y(p.v), r: 3.5, fill: "#0b5cad" }));
      s.appendChild(el("text", { x: x(i), y: H - B + 15, "text-anchor": "middle" }, p.label));
    });
    s.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#5b6675" }));
    box.appendChild(s);
  }

  function drawCharts() {
    var data = readJson("chart-data");
    if (!data) { return; }
    var labels = readJson("chart-labels") || {};
    var lang = document.documentElement.lang;
    var cut = [{ band: "medium", v: 0.05 }, { band: "high", v: 0.10 }, { band: "very_high", v: 0.20 }];
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      var kind = box.getAttribute("data-chart");
      if (kind === "dist") { barChart(box, data, labels); }
      if (kind === "trend") {
        lineChart(box, data.months.map(function (m) { return { v: m.mean, label: monthLabel(m.as_of) }; }), lang, cut);
      }
      if (kind === "history") {
        lineChart(box, data.history.map(function (h) { return { v: h.probability, label: monthLabel(h.as_of) }; }), lang, cut);
      }
    });
  }

  var WIDE = "(min-width: 900px)";

  // Filters: folded on a phone (the list comes first), open on a wide screen.
  function filters() {
    if (window.matchMedia(WIDE).matches) {
      document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
    }
  }

  // The plan on a phone: one day at a time, chosen with the day tabs; every day when wide or printed.
  function planDays() {
    var box = document.querySelector(".days");
    if (!box) { return; }
    var days = Array.prototype.slice.call(box.querySelectorAll("section.day"));
    var tabs = Array.prototype.slice.call(document.querySelectorAll(".day-tabs a[data-day]"));
    function show(i) {
      days.forEach(function (d, j) { d.classList.toggle("current", i === j); });
      tabs.forEach(function (t, j) { if (i === j) { t.setAttribute("aria-current", "true"); } else { t.removeAttribute("aria-current"); } });
    }
    var current = parseInt(box.getAttribute("data-current") || "0", 10);
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    days.forEach(function (d, j) { if (target && d.contains(target)) { current = j; } });
    function layout() { box.classList.toggle("one-day", !window.matchMedia(WIDE).matches && days.length > 1); }
    tabs.forEach(function (t, j) {
      t.addEventListener("click", function (ev) {
        if (!box.classList.contains("one-day")) { return; }
        ev.preventDefault();
        show(j);
        days[j].querySelector("h2").scrollIntoView({ block: "start" });
      });
    });
    show(current);
    layout();
    window.matchMedia(WIDE).addEventListener("change", layout);
    if (target) { target.scrollIntoView({ block: "start" }); }
  }

  // Outcome forms: the "present and migrated" confirmation shows only when both are "yes".
  function outcomes() {
    document.querySelectorAll("form.outcome").forEach(function (form) {
      var box = form.querySelector(".confirm");
      if (!box) { return; }
      function update() {
        var p = form.querySelector("input[name=borrower_present]:checked");
        var m = form.querySelector("input[name=migrated]:checked");
        box.hidden = !(p && m && p.value === "yes" && m.value === "yes");
      }
      form.addEventListener("change", update);
      update();
    });
  }

  // After a form is answered (a score, an error): bring the answer into view and focus it.
  function focusAnswer() {
    var el = document.querySelector("[data-focus]") || document.getElementById("outcome-errors");
    if (!el) { return; }
    var details = el.closest("details");
    if (details) { details.open = true; }
    el.scrollIntoView({ block: "start" });
    el.focus({ preventScroll: true });
  }

  function wire() {
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () {
        var form = s.form;
        ["village_id", "group_id"].forEach(function (n) { if (form.elements[n]) { form.elements[n].value = ""; } });
        form.submit();
      });
    });
    drawCharts();
    filters();
    planDays();
    outcomes();
    focusAnswer();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", wire); } else { wire(); }
}());

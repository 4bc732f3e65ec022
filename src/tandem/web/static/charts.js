// Metric charts for the run and compare pages. Data comes from the REST API's metric history
// endpoint (the session cookie authenticates GETs); each chart loads when it scrolls into view,
// so a page with many metrics shows at once. Drag to zoom, double-click to reset (uPlot).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") return;
  var info = JSON.parse(source.textContent);
  var COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0969da",
    "#57606a", "#fb8500", "#116329", "#cf222e", "#6639ba", "#953800", "#0550ae", "#4d2d00",
    "#a40e26", "#2da44e", "#e16f24", "#5a32a3", "#1b1f24"];

  function historyUrl(runId, key) {
    return "/api/v1/runs/" + encodeURIComponent(runId) + "/metrics/" +
      encodeURIComponent(key) + "?project=" + encodeURIComponent(info.project);
  }

  function fetchHistory(run, key) {
    return fetch(historyUrl(run.id, key), {
      credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (r) {
      if (r.status === 404) return null;  // this run has no such metric
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (h) {
      // a NaN point comes as the string "NaN" (ADR 33): a gap in the line
      var value = h && h.value.map(function (v) { return typeof v === "number" ? v : null; });
      return h && { run: run, step: h.step, value: value };
    });
  }

  function message(el, text) {
    var p = document.createElement("p");
    p.className = "chart-msg";
    p.textContent = text;
    el.replaceChildren(p);
  }

  function draw(el, key, histories) {
    var found = histories.filter(function (h) { return h && h.step.length; });
    if (!found.length) { message(el, "No points."); return; }
    var data = found.length === 1 ? [found[0].step, found[0].value]
      : uPlot.join(found.map(function (h) { return [h.step, h.value]; }));
    var series = [{ label: "step" }];
    found.forEach(function (h, i) {
      series.push({
        label: h.run.name || h.run.id.slice(0, 12),
        stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
        points: { show: h.step.length < 50 }
      });
    });
    el.replaceChildren();
    var plot = new uPlot({
      width: Math.max(el.clientWidth, 280), height: 220,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, {}],
      series: series,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } }
    }, data, el);
    el.dataset.state = "loaded";
    el._plot = plot;
  }

  function load(el) {
    if (el.dataset.state) return;
    el.dataset.state = "loading";
    var key = el.dataset.key;
    message(el, "Loading…");
    Promise.all(info.runs.map(function (run) { return fetchHistory(run, key); }))
      .then(function (histories) { draw(el, key, histories); })
      .catch(function (err) { el.dataset.state = "error"; message(el, "Could not load: " + err.message); });
  }

  var charts = Array.prototype.slice.call(document.querySelectorAll(".chart[data-key]"));
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); load(e.target); }
      });
    }, { rootMargin: "200px" });
    charts.forEach(function (el) { seen.observe(el); });
  } else {
    charts.forEach(load);
  }

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      charts.forEach(function (el) {
        if (el._plot) el._plot.setSize({ width: Math.max(el.clientWidth, 280), height: 220 });
      });
    }, 150);
  });
})();

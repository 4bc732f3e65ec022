// The endpoint page's live figures: every few seconds, the endpoint's windows from the REST API
// (the session cookie authenticates GETs) redraw the four charts and refill the totals table
// beside them, the same way tandem.web.servingviews builds them on the server. The page carries
// where to ask in a JSON block (id "endpoint-live"). Text is set as text, never as HTML.
(function () {
  "use strict";
  var source = document.getElementById("endpoint-live");
  if (!source || !window.tandemCharts) return;
  var live = JSON.parse(source.textContent);

  function labels(points) {
    var seen = [];
    points.forEach(function (p) { if (seen.indexOf(p.label) < 0) seen.push(p.label); });
    return seen;
  }

  function series(points, value) {
    return labels(points).map(function (label) {
      var mine = points.filter(function (p) { return p.label === label; })
        .sort(function (a, b) { return a.start - b.start; });
      return { label: label, x: mine.map(function (p) { return p.start / 1000; }),
               y: mine.map(value) };
    });
  }

  function specs(points) {
    var base = { type: "lines", time: true, xlabel: "time (UTC)", points: true };
    return [
      ["Requests per bucket", "requests / " + live.bucket_s + " s", function (p) { return p.requests; }],
      ["Error rate", "share of requests", function (p) { return p.requests ? p.errors / p.requests : null; }],
      ["p50 latency", "ms", function (p) { return p.p50_ms; }],
      ["p99 latency", "ms", function (p) { return p.p99_ms; }]
    ].map(function (c) {
      return Object.assign({ title: c[0], ylabel: c[1], series: series(points, c[2]) }, base);
    });
  }

  function cell(text, numeric) {
    var td = document.createElement(numeric ? "td" : "th");
    if (numeric) td.className = "num"; else td.scope = "row";
    td.textContent = text;
    return td;
  }

  function fillTotals(points) {
    var body = document.querySelector("table.totals tbody");
    if (!body) return;
    var rows = labels(points).map(function (label) {
      var mine = points.filter(function (p) { return p.label === label; });
      var requests = 0, errors = 0, worst = null;
      mine.forEach(function (p) {
        requests += p.requests; errors += p.errors;
        if (p.p99_ms != null && (worst == null || p.p99_ms > worst)) worst = p.p99_ms;
      });
      var tr = document.createElement("tr");
      tr.appendChild(cell(label, false));
      tr.appendChild(cell(requests.toLocaleString("en-US"), true));
      tr.appendChild(cell(errors.toLocaleString("en-US"), true));
      tr.appendChild(cell(requests ? (100 * errors / requests).toFixed(2) + "%" : "—", true));
      tr.appendChild(cell(worst == null ? "—" : worst.toFixed(2), true));
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function tick() {
    var url = live.url + "?bucket_s=" + live.bucket_s + "&since=" + (Date.now() - live.span_s * 1000);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (points) {
        if (!points || !points.length) return;
        specs(points).forEach(function (spec, i) { window.tandemCharts.redraw(i, spec); });
        fillTotals(points);
        var stamp = document.getElementById("live-at");
        if (stamp) stamp.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      })
      .catch(function () { /* the next tick tries again */ });
  }

  setInterval(tick, live.every_s * 1000);
})();

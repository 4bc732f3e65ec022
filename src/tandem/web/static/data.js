// Charts for the dataset and model pages: a histogram or the most frequent values of each column
// of a version, two versions' distributions overlaid, and a model's ROC, precision-recall and
// calibration curves and per-group bars. The page carries the numbers in a JSON block (id
// "data-charts", built by tandem.web.datacharts and tandem.web.registry); each
// <div class="chart" data-chart="i"> draws spec i when it scrolls into view (uPlot).
//   {type: "hist", x: [edges], series: [{label, values, edges?}], y: "rows" | "share"}
//   {type: "cats", x: [labels], series: [{label, values}], y: "rows" | "share" | "value"}
//   {type: "lines", series: [{label, x, y}], xlabel, ylabel, unit: bool, points: bool, time: bool}
(function () {
  "use strict";
  var source = document.getElementById("data-charts");
  if (!source || typeof uPlot === "undefined") return;
  var specs = JSON.parse(source.textContent);
  var STROKES = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];
  var FILLS = ["rgba(31, 111, 235, 0.45)", "rgba(209, 36, 47, 0.35)"];
  var HEIGHT = 180;

  function width(el) { return Math.max(el.clientWidth, 240); }

  function number(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }

  function yValue(spec) {
    return spec.y === "share"
      ? function (u, v) { return v == null ? "" : (100 * v).toFixed(1) + "%"; }
      : function (u, v) { return v == null ? "" : spec.y === "value" ? number(v) : String(v); };
  }

  function yAxis(spec) {
    return {
      size: 52,
      values: function (u, splits) {
        return splits.map(function (v) { return spec.y === "share" ? Math.round(v * 1000) / 10 + "%" : number(v); });
      }
    };
  }

  function centers(edges) {
    var out = [];
    for (var i = 0; i + 1 < edges.length; i++) out.push((edges[i] + edges[i + 1]) / 2);
    return out;
  }

  // One histogram: bars spanning their bins.
  function histogram(spec) {
    var edges = spec.x, lo = edges[0], hi = edges[edges.length - 1];
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    var s = spec.series[0];
    return {
      opts: {
        scales: { x: { time: false, range: [lo, hi] }, y: { range: function (u, min, max) { return [0, max || 1]; } } },
        axes: [{ values: function (u, splits) { return splits.map(number); } }, yAxis(spec)],
        series: [
          { label: "bin", value: function (u, v, si, i) { return i == null ? "" : number(edges[i]) + " to " + number(edges[i + 1]); } },
          { label: s.label, stroke: STROKES[0], fill: FILLS[0], width: 1, value: yValue(spec),
            paths: uPlot.paths.bars({ size: [1, Infinity], gap: 1 }), points: { show: false } }
        ]
      },
      data: [centers(edges), s.values]
    };
  }

  // Several histograms, each maybe binned its own way: filled steps over a shared x.
  function overlaid(spec) {
    var lines = spec.series.map(function (s) {
      var edges = s.edges || spec.x;
      return [edges, s.values.concat([s.values[s.values.length - 1]])];
    });
    var data = uPlot.join(lines);
    var series = [{ label: "value", value: function (u, v) { return number(v); } }];
    spec.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: STROKES[i % 2], fill: FILLS[i % 2], width: 1.5,
        spanGaps: true, value: yValue(spec), points: { show: false },
        paths: uPlot.paths.stepped({ align: 1 }) });
    });
    var xs = data[0], lo = xs[0], hi = xs[xs.length - 1];
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    return {
      opts: {
        scales: { x: { time: false, range: [lo, hi] }, y: { range: function (u, min, max) { return [0, max || 1]; } } },
        axes: [{ values: function (u, splits) { return splits.map(number); } }, yAxis(spec)],
        series: series
      },
      data: data
    };
  }

  // Values as bars, side by side when there are two series.
  function categories(spec) {
    var labels = spec.x, n = labels.length, k = spec.series.length;
    var index = labels.map(function (l, i) { return i; });
    var series = [{ label: "value", value: function (u, v) { return v == null ? "" : labels[v]; } }];
    spec.series.forEach(function (s, i) {
      var align = k === 1 ? 0 : (i === 0 ? -1 : 1);
      series.push({ label: s.label, stroke: STROKES[i % 2], fill: FILLS[i % 2], width: 1,
        value: yValue(spec), points: { show: false },
        paths: uPlot.paths.bars({ size: [k === 1 ? 0.7 : 0.4, 48], align: align }) });
    });
    var rotate = n > 4 || labels.some(function (l) { return String(l).length > 8; });
    return {
      opts: {
        scales: { x: { time: false, range: [-0.6, n - 0.4] }, y: { range: function (u, min, max) { return [0, max || 1]; } } },
        axes: [{
          splits: function () { return index; },
          values: function (u, splits) {
            return splits.map(function (i) {
              var l = String(labels[i] == null ? "" : labels[i]);
              return l.length > 12 ? l.slice(0, 11) + "…" : l;
            });
          },
          rotate: rotate ? 30 : 0, size: rotate ? 76 : 30, gap: 4
        }, yAxis(spec)],
        series: series
      },
      data: [index].concat(spec.series.map(function (s) { return s.values; }))
    };
  }

  // Seconds since the epoch as a UTC time of day, as the pages print times.
  function clock(v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(11, 19); }

  // Curves, each with its own x values, on [0, 1] x [0, 1] when `unit`; x is a UTC time (in
  // seconds) when `time`, with every series drawn alike (versions, not a model and a reference).
  function lines(spec) {
    var data = uPlot.join(spec.series.map(function (s) { return [s.x, s.y]; }));
    var xValue = spec.time ? clock : number;
    var series = [{ label: spec.xlabel || "x", value: function (u, v) { return xValue(v); } }];
    spec.series.forEach(function (s, i) {
      var lead = spec.time || i === 0;
      series.push({ label: s.label, stroke: STROKES[i % STROKES.length], width: lead ? 2 : 1, spanGaps: !spec.time,
        dash: lead ? undefined : [4, 4], value: function (u, v) { return number(v); },
        points: { show: !!spec.points && lead, size: 6 } });
    });
    var unit = spec.unit ? { range: [0, 1] } : {};
    var xAxis = spec.time
      ? { label: spec.xlabel, values: function (u, splits) { return splits.map(function (v) { return clock(v).slice(0, 5); }); } }
      : { label: spec.xlabel, values: function (u, splits) { return splits.map(number); } };
    return {
      opts: {
        scales: { x: Object.assign({ time: false }, unit), y: spec.time ? { range: function (u, min, max) { return [0, max || 1]; } } : unit },
        axes: [xAxis, { label: spec.ylabel, size: 52, values: function (u, splits) { return splits.map(number); } }],
        series: series
      },
      data: data
    };
  }

  function build(spec) {
    if (spec.type === "lines") return lines(spec);
    if (spec.type === "hist") return spec.series.length === 1 ? histogram(spec) : overlaid(spec);
    return categories(spec);
  }

  function draw(el) {
    if (el.dataset.state) return;
    var spec = specs[+el.dataset.chart];
    if (!spec) { el.dataset.state = "error"; return; }
    var built = build(spec);
    var opts = built.opts;
    opts.width = width(el);
    opts.height = HEIGHT;
    opts.legend = { show: true };
    opts.cursor = { drag: { x: false, y: false }, points: { show: false } };
    el.replaceChildren();
    el._plot = new uPlot(opts, built.data, el);
    el.dataset.state = "loaded";
  }

  function safely(el) {
    try { draw(el); } catch (err) {
      el.dataset.state = "error";
      var p = document.createElement("p");
      p.className = "chart-msg";
      p.textContent = "Could not draw: " + err.message;
      el.replaceChildren(p);
    }
  }

  var charts = Array.prototype.slice.call(document.querySelectorAll(".chart[data-chart]"));
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); safely(e.target); }
      });
    }, { rootMargin: "200px" });
    charts.forEach(function (el) { seen.observe(el); });
  } else {
    charts.forEach(safely);
  }

  // For pages that refresh their charts (static/endpoint.js): replace spec i and draw it again.
  window.tandemCharts = {
    specs: specs,
    redraw: function (i, spec) {
      specs[i] = spec;
      var el = document.querySelector('.chart[data-chart="' + i + '"]');
      if (!el) return;
      if (el._plot) { el._plot.destroy(); el._plot = null; }
      delete el.dataset.state;
      safely(el);
    }
  };

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      charts.forEach(function (el) {
        if (el._plot) el._plot.setSize({ width: width(el), height: HEIGHT });
      });
    }, 150);
  });
})();

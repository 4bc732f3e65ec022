// Charts for the dataset and model pages: a histogram or the most frequent values of each column
// of a version, two versions' distributions overlaid, and a model's ROC, precision-recall and
// calibration curves and per-group bars. The page carries the numbers in a JSON block (id
// "data-charts", built by tandem.web.datacharts and tandem.web.registry); each
// <div class="chart" data-chart="i"> draws spec i when it scrolls into view (uPlot).
//   {type: "hist", x: [edges], series: [{label, values, edges?}], y: "rows" | "share"}
//   {type: "cats", x: [labels], series: [{label, values}], y: "rows" | "share" | "value"}
//   {type: "lines", series: [{label, x, y, low?, high?, dash?}], xlabel, ylabel, unit: bool,
//    points: bool, time: bool, solid: bool, marks?: [{x, kind, text}], xrange?: [lo, hi]}
// A series with `low` and `high` gets its band shaded; `dash` draws it dashed (an estimate, a
// reference); `marks` are vertical lines at moments (the monitoring page's deployment events).
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
      var lead = spec.time || spec.solid || i === 0;
      var dashed = s.dash != null ? !!s.dash : !lead;
      series.push({ label: s.label, stroke: STROKES[i % STROKES.length], width: dashed ? 1.5 : 2, spanGaps: !spec.time,
        dash: dashed ? [4, 4] : undefined, value: function (u, v) { return number(v); },
        points: { show: !!spec.points && (lead || s.dash === false), size: 6 } });
    });
    var unit = spec.unit ? { range: [0, 1] } : {};
    var hooks = (spec.marks && spec.marks.length) || spec.series.some(function (s) { return s.low; })
      ? { draw: [function (u) { bands(u, spec); eventMarks(u, spec.marks || []); }] } : {};
    var xAxis = spec.time
      ? { label: spec.xlabel, values: function (u, splits) { return splits.map(function (v) { return clock(v).slice(0, 5); }); } }
      : { label: spec.xlabel, values: function (u, splits) { return splits.map(number); } };
    return {
      opts: {
        scales: { x: Object.assign({ time: false }, spec.xrange ? { range: spec.xrange } : unit),
                  y: spec.time ? { range: yRange(spec) } : unit },
        axes: [xAxis, { label: spec.ylabel, size: 52, values: function (u, splits) { return splits.map(number); } }],
        series: series,
        hooks: hooks
      },
      data: data
    };
  }

  // A time chart's y range: from 0 (counts, rates), or around the values and their bands when
  // `zero` is false (a ROC AUC near 0.8 would be a flat line on [0, 1]).
  function yRange(spec) {
    if (spec.zero !== false) return function (u, min, max) { return [0, max || 1]; };
    var all = [];
    spec.series.forEach(function (s) {
      [s.y, s.low || [], s.high || []].forEach(function (vs) {
        vs.forEach(function (v) { if (v != null && isFinite(v)) all.push(v); });
      });
    });
    var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
    var pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.05 || 0.05;
    return function () { return [lo - pad, hi + pad]; };
  }

  var BANDS = ["rgba(31, 111, 235, 0.15)", "rgba(209, 36, 47, 0.13)", "rgba(26, 127, 55, 0.13)",
               "rgba(154, 103, 0, 0.13)", "rgba(130, 80, 223, 0.13)", "rgba(191, 57, 137, 0.13)"];

  // Each series' band (low to high at its own x values), shaded under the lines.
  function bands(u, spec) {
    var ctx = u.ctx;
    spec.series.forEach(function (s, i) {
      if (!s.low || !s.high) return;
      var top = [], bottom = [];
      for (var k = 0; k < s.x.length; k++) {
        if (s.low[k] == null || s.high[k] == null) continue;
        var x = u.valToPos(s.x[k], "x", true);
        top.push([x, u.valToPos(s.high[k], "y", true)]);
        bottom.push([x, u.valToPos(s.low[k], "y", true)]);
      }
      if (!top.length) return;
      if (top.length === 1) {  // one window: a short vertical bar
        top.push([top[0][0] + 3, top[0][1]]); bottom.push([bottom[0][0] + 3, bottom[0][1]]);
        top[0][0] -= 3; bottom[0][0] -= 3;
      }
      ctx.save();
      ctx.beginPath();
      top.forEach(function (p, k) { if (k === 0) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]); });
      bottom.reverse().forEach(function (p) { ctx.lineTo(p[0], p[1]); });
      ctx.closePath();
      ctx.fillStyle = BANDS[i % BANDS.length];
      ctx.fill();
      ctx.restore();
    });
  }

  // Vertical lines at moments (deployment events), each labelled with its kind.
  function eventMarks(u, marks) {
    var ctx = u.ctx, box = u.bbox, dpr = window.devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = "#57606a";
    ctx.fillStyle = "#57606a";
    ctx.lineWidth = dpr;
    ctx.setLineDash([3 * dpr, 3 * dpr]);
    ctx.font = (10 * dpr) + "px sans-serif";
    marks.forEach(function (m) {
      var x = u.valToPos(m.x, "x", true);
      if (x < box.left || x > box.left + box.width) return;
      ctx.beginPath();
      ctx.moveTo(x, box.top);
      ctx.lineTo(x, box.top + box.height);
      ctx.stroke();
      var w = ctx.measureText(m.kind).width;
      var tx = x + 3 * dpr + w > box.left + box.width ? x - 3 * dpr - w : x + 3 * dpr;
      ctx.fillText(m.kind, tx, box.top + 10 * dpr);
    });
    ctx.restore();
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

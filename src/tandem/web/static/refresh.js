// Auto-refresh of a page's live parts (the alert list, an incident, the monitoring page): a page
// that carries <meta name="tandem-refresh" content="30"> asks for its own URL again every 30 s in
// the background, and each element marked data-live (with an id) is replaced by its new version,
// unless someone is using it: focus inside, a changed field, an open <details>. So what a person
// types is never lost; the part catches up on the next round. Charts in a replaced part are drawn
// again from the new page's specs (static/data.js). Without script the page is as it was loaded.
// Text comes from the server's own escaped HTML of the same page; nothing is built from strings.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="tandem-refresh"]');
  if (!meta || !window.fetch || !window.DOMParser) return;
  var every = Math.max(5, parseInt(meta.content, 10) || 30) * 1000;
  var pending = null;

  function changed(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }

  function busy(part) {
    var active = document.activeElement;
    if (active && active !== document.body && part.contains(active)) return true;
    if (part.querySelector("details[open]")) return true;
    return Array.prototype.some.call(part.querySelectorAll("input, textarea, select"), changed);
  }

  function stamp(text) {
    var el = document.getElementById("live-at");
    if (el) { el.textContent = text; el.hidden = false; }
  }

  function apply(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var specs = null;
    var source = fresh.getElementById("data-charts");
    if (source) { try { specs = JSON.parse(source.textContent); } catch (e) { specs = null; } }
    var kept = 0;
    Array.prototype.forEach.call(document.querySelectorAll("[data-live][id]"), function (part) {
      var next = fresh.getElementById(part.id);
      if (!next || !next.hasAttribute("data-live")) return;
      if (busy(part)) { kept += 1; return; }
      var node = document.importNode(next, true);
      part.replaceWith(node);
      if (specs && window.tandemCharts) {
        Array.prototype.forEach.call(node.querySelectorAll(".chart[data-chart]"), function (el) {
          var spec = specs[+el.dataset.chart];
          if (spec) window.tandemCharts.redraw(+el.dataset.chart, spec);
        });
      }
    });
    var at = new Date().toISOString().slice(11, 19);
    stamp("Updated " + at + " UTC" + (kept ? "; parts you are editing wait for you" : "") +
          "; refreshes every " + every / 1000 + " s.");
  }

  function tick() {
    if (pending) return pending;
    pending = fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) { if (html) apply(html); })
      .catch(function () { /* the next round tries again */ })
      .then(function () { pending = null; });
    return pending;
  }

  stamp("This page refreshes every " + every / 1000 + " s; what you type stays.");
  setInterval(function () { if (!document.hidden) tick(); }, every);
  window.tandemRefresh = { now: tick };  // for tests, and a page that wants one round now
})();

// Site page: a live chart of the site's measured power against its limit,
// and each connector's allocation and draw (uPlot). It reads
// /api/v1/sites/{id} every two seconds and keeps the last ten minutes.
(function () {
  'use strict';
  var root = document.getElementById('site');
  if (!root) return;
  var id = root.getAttribute('data-site');
  var el = document.getElementById('chart-site');
  var keep = 300; // points: 10 minutes at one per 2 s
  var t = [], power = [], limit = [], conns = {}; // conns[key] = {alloc: [], draw: []}
  var chart = null, shape = '';
  var palette = ['#1d4ed8', '#15803d', '#b45309', '#7c3aed', '#be123c', '#0e7490', '#4d7c0f', '#a16207'];

  function fmt(v) { return v == null ? '–' : v.toFixed(1) + ' kW'; }
  function text(id, v) { var e = document.getElementById(id); if (e) e.textContent = v; }

  function push(s) {
    var now = Date.parse(s.at) / 1000;
    t.push(now); power.push(s.measured_kw); limit.push(s.limit_kw);
    var seen = {};
    (s.connectors || []).forEach(function (c) {
      var k = c.charger_id + '/' + c.connector_id;
      seen[k] = true;
      if (!conns[k]) {
        conns[k] = { alloc: t.slice(0, -1).map(function () { return null; }), draw: t.slice(0, -1).map(function () { return null; }) };
      }
      conns[k].alloc.push(c.state === 'uncontrolled' ? c.max_kw : c.allocated_kw);
      conns[k].draw.push(c.draw_kw == null ? null : c.draw_kw);
    });
    Object.keys(conns).forEach(function (k) {
      if (!seen[k]) { conns[k].alloc.push(null); conns[k].draw.push(null); }
    });
    if (t.length > keep) {
      t.shift(); power.shift(); limit.shift();
      Object.keys(conns).forEach(function (k) {
        conns[k].alloc.shift(); conns[k].draw.shift();
        if (conns[k].alloc.every(function (v) { return v == null; }) && conns[k].draw.every(function (v) { return v == null; })) delete conns[k];
      });
    }
    text('site-limit', s.limit_kw.toFixed(1));
    text('site-measured', s.measured_kw.toFixed(1));
    text('site-allocated', s.allocated_kw.toFixed(1));
    text('site-paused', String(s.paused));
  }

  function draw() {
    var keys = Object.keys(conns).sort();
    var cols = [t, limit, power];
    var series = [{},
      { label: 'limit', stroke: '#111827', width: 2, dash: [6, 4], value: function (u, v) { return fmt(v); } },
      { label: 'site power', stroke: '#dc2626', width: 2, fill: '#dc262614', value: function (u, v) { return fmt(v); } }];
    keys.forEach(function (k, i) {
      var c = palette[i % palette.length];
      cols.push(conns[k].alloc, conns[k].draw);
      series.push({ label: k + ' allocated', stroke: c, width: 1, dash: [3, 3], spanGaps: false, value: function (u, v) { return fmt(v); } });
      series.push({ label: k + ' draw', stroke: c, width: 2, spanGaps: false, value: function (u, v) { return fmt(v); } });
    });
    el.setAttribute('data-points', String(t.length));
    if (!window.uPlot) { el.textContent = 'chart library failed to load'; return; }
    var sh = keys.join(',');
    if (chart && sh === shape) { chart.setData(cols); return; }
    if (chart) chart.destroy();
    shape = sh;
    chart = new uPlot({
      width: Math.max(320, el.clientWidth || 640), height: 300,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1) * 1.1]; } } },
      series: series, axes: [{}, { size: 50 }], legend: { show: true }
    }, cols, el);
  }

  var busy = false;
  function load() {
    if (busy) return;
    busy = true;
    fetch('/api/v1/sites/' + encodeURIComponent(id), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { push(s); draw(); } })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  load();
  setInterval(load, 2000);
})();

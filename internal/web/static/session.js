// Session page: charts of power, energy and state of charge from the
// session's telemetry (uPlot), its OCPI and Beckn views, and its price;
// reloaded whenever the stream says the session changed.
(function () {
  'use strict';
  var root = document.getElementById('session');
  if (!root) return;
  var id = root.getAttribute('data-session');
  var charts = {};
  var defs = [
    { key: 'power', el: 'chart-power', label: 'Power', unit: 'kW', color: '#1d4ed8', digits: 1 },
    { key: 'energy', el: 'chart-energy', label: 'Energy', unit: 'kWh', color: '#15803d', digits: 2 },
    { key: 'soc', el: 'chart-soc', label: 'State of charge', unit: '%', color: '#b45309', digits: 0 }
  ];

  // series turns the API's samples (canonical units) into chart columns.
  // Only numeric, phase-less values at the outlet (or the EV, for SoC) count.
  function series(s) {
    var out = { t: [], power: [], energy: [], soc: [] };
    var start = (s.meter_start_wh || 0) / 1000;
    (s.samples || []).forEach(function (sm) {
      var p = null, e = null, soc = null;
      (sm.values || []).forEach(function (v) {
        if (!v.numeric || v.phase) return;
        switch (v.measurand) {
          case 'Power.Active.Import': p = v.value; break;
          case 'Energy.Active.Import.Register': e = Math.max(0, v.value - start); break;
          case 'SoC': if (v.value >= 0 && v.value <= 100) soc = v.value; break;
        }
      });
      if (p === null && e === null && soc === null) return;
      out.t.push(Date.parse(sm.timestamp) / 1000);
      out.power.push(p); out.energy.push(e); out.soc.push(soc);
    });
    return out;
  }

  function width(el) { return Math.max(280, el.clientWidth || 380); }

  function draw(data) {
    defs.forEach(function (d) {
      var el = document.getElementById(d.el);
      if (!el) return;
      var cols = [data.t, data[d.key]];
      var n = data[d.key].filter(function (v) { return v !== null; }).length;
      el.setAttribute('data-points', String(n));
      if (charts[d.key]) { charts[d.key].setData(cols); return; }
      if (!window.uPlot) { el.textContent = 'chart library failed to load'; return; }
      charts[d.key] = new uPlot({
        width: width(el), height: 220,
        scales: { x: { time: true }, y: d.key === 'soc' ? { range: [0, 100] } : { range: function (u, min, max) { return [0, Math.max(max || 0, d.key === 'power' ? 1 : 0.1) * 1.1]; } } },
        series: [{}, {
          label: d.label, stroke: d.color, width: 2, fill: d.color + '18', spanGaps: true,
          points: { size: 4 },
          value: function (u, v) { return v == null ? '–' : v.toFixed(d.digits) + ' ' + d.unit; }
        }],
        axes: [{}, { size: 50 }],
        legend: { show: true }
      }, cols, el);
    });
  }

  function price(s) {
    var el = document.getElementById('price');
    if (!el || !s.total_cost) return;
    var c = s.total_cost;
    el.textContent = c.excl_vat + ' ' + c.currency + ' excl. VAT, ' + c.incl_vat + ' ' + c.currency + ' incl. VAT';
  }

  var latest = null; // the last session JSON from the API
  var loading = false, again = false;
  function load() {
    if (loading) { again = true; return; }
    loading = true;
    var sid = encodeURIComponent(id);
    Promise.all([
      fetch('/api/v1/sessions/' + sid, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; }),
      fetch('/api/v1/sessions/' + sid + '/views', { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
    ]).then(function (res) {
      var s = res[0], v = res[1];
      if (s) { latest = s; draw(series(s)); price(s); }
      if (v) {
        document.getElementById('view-ocpi').textContent = JSON.stringify(v.ocpi, null, 2);
        document.getElementById('view-beckn').textContent = JSON.stringify(v.beckn, null, 2);
      }
    }).catch(function () {}).then(function () {
      loading = false;
      if (again) { again = false; setTimeout(load, 500); }
    });
  }
  load();
  document.addEventListener('cb:session', function (e) {
    var d = e.detail || {};
    if (d.id === id || (d.telemetry && d.charger_id === root.getAttribute('data-live-charger') && String(d.transaction_id) === root.getAttribute('data-live-tx'))) load();
  });
  document.addEventListener('cb:resync', load);
  document.addEventListener('cb:refreshed', function () {
    // The summary was swapped for a fresh one: show the price on it again.
    if (latest) price(latest);
  });
  window.addEventListener('resize', function () {
    defs.forEach(function (d) {
      var el = document.getElementById(d.el);
      if (charts[d.key] && el) charts[d.key].setSize({ width: width(el), height: 220 });
    });
  });
})();

// chargebridge dashboard: keeps the server-rendered page live.
//
// Elements with data-live (and an id) are live regions. When an event from
// /api/v1/stream concerns one (data-live-on lists the event kinds; optional
// data-live-charger / data-live-session narrow it), the page is fetched
// again and those regions are swapped for their fresh copies, at most once a
// second. Forms with data-command send an operator command; forms with
// data-filter re-filter the page as you type.
(function () {
  'use strict';

  var MIN_REFRESH_MS = 1000;

  // Relative times: <time data-ago datetime="…">.
  function ago(iso) {
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (isNaN(s)) return '';
    var future = s < 0; s = Math.abs(s);
    var t = s < 5 ? 'just now' : s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' :
      s < 86400 ? Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min' : Math.floor(s / 86400) + ' d';
    if (t === 'just now') return t;
    return future ? 'in ' + t : t + ' ago';
  }
  function tickTimes() {
    document.querySelectorAll('time[data-ago]').forEach(function (el) {
      if (!el.title) el.title = el.textContent;
      el.textContent = ago(el.getAttribute('datetime'));
    });
  }
  tickTimes();
  setInterval(tickTimes, 5000);

  // Live regions.
  function regions() { return Array.prototype.slice.call(document.querySelectorAll('[data-live][id]')); }
  function wants(el, kind, data) {
    var on = (el.getAttribute('data-live-on') || '').split(/\s+/);
    if (kind !== 'resync' && on.indexOf(kind) < 0) return false;
    var ch = el.getAttribute('data-live-charger'), se = el.getAttribute('data-live-session');
    if (kind === 'session' && se) return data.id === se || (data.telemetry && data.charger_id === ch && String(data.transaction_id) === el.getAttribute('data-live-tx'));
    if (ch && data && data.charger_id && data.charger_id !== ch) return false;
    return true;
  }
  var last = 0, timer = null, inflight = false, again = false;
  function schedule() {
    if (timer) return;
    var wait = Math.max(0, last + MIN_REFRESH_MS - Date.now());
    timer = setTimeout(function () { timer = null; refresh(); }, wait);
  }
  function refresh() {
    if (inflight) { again = true; return; }
    inflight = true; last = Date.now();
    fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' }).then(function (r) {
      if (r.redirected && /\/login/.test(r.url)) { location.href = r.url; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, 'text/html');
      regions().forEach(function (el) {
        var fresh = doc.getElementById(el.id);
        if (fresh) el.replaceWith(document.importNode(fresh, true));
      });
      tickTimes();
      document.dispatchEvent(new CustomEvent('cb:refreshed'));
    }).catch(function () {}).then(function () {
      inflight = false;
      if (again) { again = false; schedule(); }
    });
  }
  window.cbRefresh = schedule;

  // The event stream.
  var live = document.getElementById('live');
  function setLive(on, text) { if (live) { live.className = 'live ' + (on ? 'on' : 'off'); live.textContent = text; } }
  if (window.EventSource) {
    var es = new EventSource('/api/v1/stream'), broken = false, online = null;
    es.onopen = function () { setLive(true, 'live'); if (broken) { broken = false; schedule(); } };
    es.onerror = function () { broken = true; setLive(false, 'reconnecting…'); };
    ['session', 'connector', 'charger', 'presence', 'resync'].forEach(function (kind) {
      es.addEventListener(kind, function (e) {
        var data = {};
        try { data = JSON.parse(e.data); } catch (err) {}
        if (kind === 'presence') {
          var first = online === null; online = data.online;
          if (first) return;
        }
        document.dispatchEvent(new CustomEvent('cb:' + kind, { detail: data }));
        if (regions().some(function (el) { return wants(el, kind, data); })) schedule();
      });
    });
  } else {
    setLive(false, 'no live updates in this browser');
  }

  // Filters: re-filter as you type, keeping the URL shareable.
  document.querySelectorAll('form[data-filter]').forEach(function (form) {
    var t = null;
    function apply() {
      var q = new URLSearchParams();
      new FormData(form).forEach(function (v, k) { if (v) q.set(k, v); });
      var qs = q.toString();
      history.replaceState(null, '', form.getAttribute('action') + (qs ? '?' + qs : ''));
      last = 0; schedule();
    }
    form.addEventListener('input', function () { clearTimeout(t); t = setTimeout(apply, 250); });
    form.addEventListener('change', function () { clearTimeout(t); apply(); });
    form.addEventListener('submit', function (e) { e.preventDefault(); apply(); });
  });

  // Commands: protocol-neutral actions through the core's command port,
  // POST /api/v1/chargers/{id}/actions/{name} (or the form's data-url).
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches || !form.matches('form[data-command]')) return;
    e.preventDefault();
    var action = form.getAttribute('data-command'), charger = form.getAttribute('data-charger');
    var confirmText = form.getAttribute('data-confirm');
    if (confirmText && !window.confirm(confirmText)) return;
    var payload = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      payload[el.name] = el.hasAttribute('data-int') ? parseInt(el.value, 10) :
        el.hasAttribute('data-bool') ? el.value === 'true' : el.value;
    });
    var out = document.getElementById('command-result');
    var button = form.querySelector('button');
    if (button) button.disabled = true;
    function show(cls, text, status, answer) {
      if (!out) return;
      out.className = 'result ' + cls; out.textContent = text;
      out.setAttribute('data-http-status', String(status));
      out.setAttribute('data-answer', answer || '');
    }
    show('', action + ': sending…', 0);
    var url = form.getAttribute('data-url') ||
      '/api/v1/chargers/' + encodeURIComponent(charger) + '/actions/' + encodeURIComponent(action);
    fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Requested-By': 'dashboard' },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.text().then(function (text) {
        var body = {};
        try { body = JSON.parse(text); } catch (err) {}
        if ((r.status === 404 && !body.error) || r.status === 405 || r.status === 501) {
          show('na', action + ': ' + (body.error || 'the command endpoint is not available in this build') + ' (HTTP ' + r.status + ').', r.status);
        } else if (!r.ok || body.error) {
          show('bad', action + ' failed: ' + (body.error || ('HTTP ' + r.status)), r.status, body.answer);
        } else {
          var st = body.answer || body.status || 'sent';
          show(body.status === 'accepted' || body.status === 'scheduled' ? 'ok' : 'bad', action + ' → ' + st, r.status, st);
        }
      });
    }).catch(function (err) {
      show('bad', action + ' failed: ' + err, -1);
    }).then(function () {
      if (button) button.disabled = false;
      document.dispatchEvent(new CustomEvent('cb:command'));
      schedule();
    });
  });

  // Command log (charger page).
  var log = document.getElementById('command-log');
  function loadLog() {
    if (!log) return;
    var id = log.getAttribute('data-charger');
    fetch('/api/v1/chargers/' + encodeURIComponent(id) + '/commands', { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (r.status === 404 || r.status === 405 || r.status === 501) return r.json().catch(function () { return {}; }).then(function (b) {
        if (b && b.error && r.status === 404) throw new Error(b.error);
        log.innerHTML = '<p class="muted">The command log is not available on this server.</p>';
      });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json().then(renderLog);
    }).catch(function (err) {
      log.innerHTML = ''; var p = document.createElement('p'); p.className = 'error';
      p.textContent = 'Could not load the command log: ' + err.message; log.appendChild(p);
    });
  }
  function cell(tr, text, cls) { var td = document.createElement('td'); td.textContent = text == null ? '' : String(text); if (cls) td.className = cls; tr.appendChild(td); return td; }
  function renderLog(body) {
    var items = (body && body.items) || [];
    log.innerHTML = '';
    if (!items.length) { log.innerHTML = '<p class="muted">No commands sent yet.</p>'; return; }
    var table = document.createElement('table');
    table.innerHTML = '<thead><tr><th>sent</th><th>command</th><th>by</th><th>answer</th><th>request</th></tr></thead>';
    var tb = document.createElement('tbody');
    items.forEach(function (it) {
      var tr = document.createElement('tr');
      var at = it.sent_at || '';
      var td = cell(tr, '');
      if (at) { var t = document.createElement('time'); t.setAttribute('data-ago', ''); t.setAttribute('datetime', at); t.textContent = at; td.appendChild(t); }
      cell(tr, it.action || '');
      cell(tr, it.requested_by || '');
      var ans = (it.response && it.response.status) || it.outcome || '';
      if (it.error) ans = (ans ? ans + ': ' : '') + it.error;
      cell(tr, ans, it.error ? 'error' : '');
      var det = cell(tr, ''), pre = document.createElement('code'); pre.className = 'payload';
      pre.textContent = JSON.stringify(it.request); det.appendChild(pre);
      tb.appendChild(tr);
    });
    table.appendChild(tb); log.appendChild(table); tickTimes();
  }
  loadLog();
  document.addEventListener('cb:command', loadLog);
  // renderConfig shows a GetConfiguration answer as a table of keys, each
  // writable one with a field that fills the ChangeConfiguration form.
  function renderConfig(el, body, form) {
    el.innerHTML = '';
    var keys = (body && body.configurationKey) || [];
    var table = document.createElement('table');
    table.className = 'config';
    table.innerHTML = '<thead><tr><th>key</th><th>value</th><th></th></tr></thead>';
    var tb = document.createElement('tbody');
    keys.forEach(function (k) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-key', k.key);
      cell(tr, k.key);
      cell(tr, k.value == null ? '' : k.value, 'mono');
      var td = cell(tr, k.readonly ? 'read-only' : '', 'muted');
      if (!k.readonly) {
        var b = document.createElement('button'); b.type = 'button'; b.textContent = 'Change…';
        b.addEventListener('click', function () {
          var f = document.getElementById('change-config');
          if (!f) return;
          f.elements.key.value = k.key; f.elements.value.value = k.value || ''; f.elements.value.focus();
        });
        td.appendChild(b);
      }
      tb.appendChild(tr);
    });
    table.appendChild(tb); el.appendChild(table);
    if (body && body.unknownKey && body.unknownKey.length) {
      var p = document.createElement('p'); p.className = 'muted';
      p.textContent = 'Unknown keys: ' + body.unknownKey.join(', '); el.appendChild(p);
    }
  }

  // API forms: <form data-api="METHOD /api/v1/path/{field}"> sends its
  // fields as JSON (a textarea with data-body is sent as the body itself;
  // data-int fields as numbers; data-now fields as the current time;
  // data-datetime fields, from datetime-local inputs, as RFC 3339; empty
  // fields are left out) and shows the answer in the form's [data-result]
  // or #api-result. On success the page reloads (or goes to data-redirect),
  // unless the form has data-show (a selector) to put the answer's JSON in
  // instead. data-query fields go in the query string, not the body.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches || !form.matches('form[data-api]')) return;
    e.preventDefault();
    var spec = form.getAttribute('data-api').split(' '), method = spec[0], path = spec[1];
    var confirmText = form.getAttribute('data-confirm');
    if (confirmText && !window.confirm(confirmText)) return;
    var payload = {}, raw = null, query = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.hasAttribute('data-body')) { raw = el.value; return; }
      if (el.hasAttribute('data-query')) { if (el.type !== 'checkbox' || el.checked) query.push(encodeURIComponent(el.name) + '=' + encodeURIComponent(el.type === 'checkbox' ? 'true' : el.value)); return; }
      var v = el.value;
      if (el.hasAttribute('data-now')) v = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      if (el.type === 'checkbox') { payload[el.name] = el.checked; return; }
      if (v === '') return;
      if (el.hasAttribute('data-bool')) { payload[el.name] = v === 'true'; return; }
      if (el.hasAttribute('data-list')) v = v.split(/[\s,]+/).filter(function (x) { return x; });
      else if (el.hasAttribute('data-int')) v = parseInt(v, 10);
      else if (el.hasAttribute('data-number')) v = parseFloat(v);
      else if (el.hasAttribute('data-datetime')) v = new Date(v).toISOString().replace(/\.\d+Z$/, 'Z');
      if (path.indexOf('{' + el.name + '}') >= 0) { path = path.replace('{' + el.name + '}', encodeURIComponent(v)); if (el.hasAttribute('data-path-only')) return; }
      payload[el.name] = v;
    });
    var out = form.querySelector('[data-result]') || document.getElementById('api-result');
    var button = form.querySelector('button');
    if (button) button.disabled = true;
    function show(cls, text, status) {
      if (!out) return;
      out.className = 'result ' + cls; out.textContent = text;
      out.setAttribute('data-http-status', String(status));
    }
    show('', 'sending…', 0);
    var init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json', 'X-Requested-By': 'dashboard' } };
    if (method !== 'GET' && method !== 'DELETE') {
      init.headers['Content-Type'] = 'application/json';
      init.body = raw !== null ? raw : JSON.stringify(payload);
    }
    if (query.length) path += '?' + query.join('&');
    fetch(path, init).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (err) {}
        if (!r.ok) {
          var msg = (body && body.error) || ('HTTP ' + r.status);
          if (body && body.problems) msg += ':\n' + body.problems.map(function (p) { return (p.field ? p.field + ': ' : '') + p.problem; }).join('\n');
          show('bad', msg, r.status);
          return;
        }
        var target = form.getAttribute('data-show');
        if (target) {
          var el = document.querySelector(target);
          if (el) {
            if (el.getAttribute('data-render') === 'config') renderConfig(el, body, form);
            else el.textContent = JSON.stringify(body, null, 2);
            el.setAttribute('data-http-status', String(r.status));
          }
          show('ok', form.getAttribute('data-done') || 'done', r.status);
          return;
        }
        show('ok', form.getAttribute('data-done') || 'done', r.status);
        if (form.getAttribute('data-redirect')) location.href = form.getAttribute('data-redirect');
        else location.reload();
      });
    }).catch(function (err) {
      show('bad', 'failed: ' + err, -1);
    }).then(function () { if (button) button.disabled = false; });
  });
})();

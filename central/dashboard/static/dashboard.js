// The live dashboard. Data from the API and the SSE stream is put on the page
// with textContent / DOM nodes only: a hostile lane id, guard name or visitor
// name is shown as text, never run.
"use strict";
(function () {
  const t = GP_I18N.t;
  const FEED_MAX = 200;
  const state = { me: null, site: null, sites: [], devices: new Map(), alarms: new Map(), occupancy: null, history: [], waitingCommand: null, raiseTarget: null, results: {} };

  const $ = function (id) { return document.getElementById(id); };
  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function money(minor) {
    if (typeof minor !== "number" || !isFinite(minor)) return "—";
    const sign = minor < 0 ? "-" : "";
    const a = Math.abs(Math.trunc(minor));
    return sign + Math.floor(a / 100) + "." + String(a % 100).padStart(2, "0");
  }
  function hhmmss(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString(GP_I18N.lang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
  }
  function canSupervise() { return state.me && (state.me.role === "supervisor" || state.me.role === "admin"); }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET" && state.me) opts.headers["X-CSRF-Token"] = state.me.csrf_token;
    const res = await fetch(path, opts);
    if (res.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); throw new Error("signed out"); }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error(data && typeof data.detail === "string" ? data.detail : (res.status === 403 ? t("err.forbidden") : t("err.generic")));
      err.status = res.status;
      throw err;
    }
    return data;
  }
  function toast(text, bad) {
    const box = $("toast");
    box.textContent = text;
    box.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.className = ""; }, 5000);
  }

  // ---------------------------------------------------------------- feed
  const DETAIL_KEYS = ["serial", "plate", "badge", "reason", "kind", "guard", "by", "minutes", "method", "cause", "expected", "depth", "occupied", "name", "description"];
  function eventDetail(ev) {
    const d = ev.data || {};
    const parts = [];
    if (typeof d.fee_minor === "number") parts.push(money(d.fee_minor) + (d.currency ? " " + d.currency : ""));
    DETAIL_KEYS.forEach(function (k) { if (d[k] !== undefined && d[k] !== null && d[k] !== "") parts.push(k + "=" + String(d[k]).slice(0, 80)); });
    return parts.join(" · ");
  }
  function addFeedRow(ev, atTop) {
    const tr = node("tr", "ev ev-" + ev.type);
    tr.dataset.eventId = ev.id;
    tr.appendChild(node("td", "time", hhmmss(ev.ts)));
    tr.appendChild(node("td", "dev", ev.device));
    const type = node("td", "type", t("ev." + ev.type));
    type.dataset.type = ev.type;
    tr.appendChild(type);
    tr.appendChild(node("td", "detail", eventDetail(ev)));
    const body = $("feed");
    if (atTop) body.insertBefore(tr, body.firstChild); else body.appendChild(tr);
    while (body.rows.length > FEED_MAX) body.deleteRow(body.rows.length - 1);
  }

  // ---------------------------------------------------------------- lane tiles
  function renderTiles() {
    const box = $("lane-tiles");
    box.replaceChildren();
    Array.from(state.devices.values()).filter(function (d) { return d.site === state.site; }).forEach(function (d) { box.appendChild(tile(d)); });
  }
  function tile(d) {
    const div = node("article", "tile " + (d.online ? "online" : "offline"));
    div.dataset.device = d.device;
    const head = node("header");
    head.appendChild(node("h3", null, d.device));
    head.appendChild(node("span", "role", d.role || ""));
    head.appendChild(node("span", "status " + (d.online ? "ok" : "bad"), t(d.online ? "tile.online" : "tile.offline")));
    div.appendChild(head);
    const dl = node("dl");
    function row(label, value, cls) { dl.appendChild(node("dt", null, label)); dl.appendChild(node("dd", cls || null, value)); }
    row(t("tile.barrier"), d.barrier ? t("barrier." + d.barrier) : "—", "barrier");
    row(t("tile.last"), d.last_event ? t("ev." + d.last_event.type) + " " + hhmmss(d.last_event.ts) : "—", "last");
    row(t("tile.outbox"), d.outbox_depth === null || d.outbox_depth === undefined ? "—" : String(d.outbox_depth), "outbox");
    row(t("tile.skew"), typeof d.clock_skew_ms === "number" ? (d.clock_skew_ms / 1000).toFixed(1) + " s" + (d.clock_synced ? "" : " ⚠") : "—", "skew");
    const readers = d.readers || {};
    row(t("tile.readers"), Object.keys(readers).map(function (k) { return k + ": " + readers[k]; }).join(", ") || "—", "readers");
    if (d.guard_on_duty) row(t("tile.guard"), d.guard_on_duty, "guard");
    if (d.storage && d.storage !== "ok") row(t("tile.storage"), "⚠ " + d.storage, "storage bad");
    div.appendChild(dl);
    if ((d.active_alarms || []).length) {
      const ul = node("ul", "tile-alarms");
      d.active_alarms.forEach(function (k) { ul.appendChild(node("li", null, t("kind." + k))); });
      div.appendChild(ul);
    }
    if (canSupervise() && d.role !== "kiosk") {
      const btn = node("button", "raise", t("tile.raise"));
      btn.type = "button";
      btn.addEventListener("click", function () { openRaise(d); });
      div.appendChild(btn);
    }
    return div;
  }

  // ---------------------------------------------------------------- alarms
  function renderAlarms() {
    const list = $("alarm-list");
    list.replaceChildren();
    const items = Array.from(state.alarms.values())
      .filter(function (a) { return a.state !== "cleared"; })
      .sort(function (a, b) { return (a.state === b.state ? 0 : a.state === "active_unacknowledged" ? -1 : 1) || (b.last_at < a.last_at ? -1 : 1); });
    $("alarm-count").textContent = String(items.length);
    if (!items.length) { list.appendChild(node("li", "none", t("alarms.none"))); return; }
    items.forEach(function (a) {
      const li = node("li", "alarm " + a.severity + " " + a.state);
      li.dataset.alarmId = String(a.id);
      li.dataset.kind = a.kind;
      li.appendChild(node("span", "a-title", t("kind." + a.kind)));
      li.appendChild(node("span", "a-where", a.site + (a.device ? " / " + a.device : "")));
      li.appendChild(node("span", "a-time", hhmmss(a.last_at) + (a.count > 1 ? " ×" + a.count : "")));
      li.appendChild(node("span", "a-state", a.state === "active_acknowledged" ? t("alarms.acked") + " (" + (a.acked_by || "") + ")" : t("alarms.unacked")));
      const detail = alarmDetail(a.detail || {});
      if (detail) li.appendChild(node("span", "a-detail", detail));
      if (canSupervise()) {
        if (a.state === "active_unacknowledged") {
          const ack = node("button", "ack", t("alarms.ack"));
          ack.type = "button";
          ack.addEventListener("click", function () { ackAlarm(a.id, ack); });
          li.appendChild(ack);
        }
        const clr = node("button", "clear", t("alarms.clear"));
        clr.type = "button";
        clr.addEventListener("click", function () { clearAlarm(a.id); });
        li.appendChild(clr);
      }
      list.appendChild(li);
    });
  }
  const ALARM_KEYS = ["description", "plate", "guard", "reason", "serial", "cause", "expected", "detail", "depth", "skew_ms", "missing", "open_s", "occupied", "capacity", "lane"];
  function alarmDetail(d) {
    return ALARM_KEYS.filter(function (k) { return d[k] !== undefined && d[k] !== null && d[k] !== ""; })
      .map(function (k) { return k + "=" + String(d[k]).slice(0, 120); }).join(" · ");
  }
  async function ackAlarm(id, button) {
    button.disabled = true;
    try { updateAlarm(await api("/api/alarms/" + id + "/ack", { method: "POST", body: { note: "" } })); }
    catch (e) { toast(e.message, true); button.disabled = false; }
  }
  async function clearAlarm(id) {
    const reason = window.prompt(t("alarms.clear_reason"));
    if (!reason) return;
    try { updateAlarm(await api("/api/alarms/" + id + "/clear", { method: "POST", body: { reason: reason } })); }
    catch (e) { toast(e.message, true); }
  }
  function updateAlarm(a) {
    if (a.state === "cleared") state.alarms.delete(a.id); else state.alarms.set(a.id, a);
    renderAlarms();
    const dev = state.devices.get(a.site + "/" + a.device);
    if (dev) {
      const kinds = new Set(dev.active_alarms || []);
      if (a.state === "cleared") kinds.delete(a.kind); else kinds.add(a.kind);
      dev.active_alarms = Array.from(kinds);
      renderTiles();
    }
  }

  // ---------------------------------------------------------------- remote raise (two steps)
  function openRaise(d) {
    state.raiseTarget = d;
    $("raise-lane").textContent = d.site + " / " + d.device;
    $("raise-reason").value = "";
    $("raise-result").textContent = "";
    $("raise-step1").hidden = false;
    $("raise-step2").hidden = true;
    $("raise-confirm").disabled = false;
    delete $("raise-result").dataset.status;
    state.waitingCommand = null;
    $("raise-dialog").showModal();
  }
  function initRaiseDialog() {
    $("raise-next").addEventListener("click", function () {
      const reason = $("raise-reason").value.trim();
      if (!reason) { $("raise-result").textContent = t("raise.need_reason"); return; }
      $("raise-reason-echo").textContent = reason;
      $("raise-step1").hidden = true;
      $("raise-step2").hidden = false;
    });
    $("raise-confirm").addEventListener("click", async function () {
      const d = state.raiseTarget;
      $("raise-confirm").disabled = true;
      try {
        const res = await api("/api/devices/" + encodeURIComponent(d.site) + "/" + encodeURIComponent(d.device) + "/commands/raise",
          { method: "POST", body: { reason: $("raise-reason").value.trim() } });
        state.waitingCommand = res.id;
        $("raise-result").textContent = t("raise.sent");
        $("raise-result").dataset.requestId = res.id;
        // The lane may answer before this response reached us, or the stream may be reconnecting.
        if (state.results[res.id]) onCommand(state.results[res.id]);
        setTimeout(function () {
          if (state.waitingCommand === res.id && !$("raise-result").dataset.status) {
            api("/api/commands/" + encodeURIComponent(res.id)).then(onCommand).catch(function () {});
          }
        }, 3000);
      } catch (e) {
        $("raise-result").textContent = e.message;
        $("raise-confirm").disabled = false;
      }
    });
    document.querySelectorAll("#raise-dialog .cancel").forEach(function (b) {
      b.addEventListener("click", function () { $("raise-dialog").close(); });
    });
  }
  function onCommand(c) {
    state.results[c.id] = c;
    if (c.id === state.waitingCommand && c.status !== "sent") {
      const box = $("raise-result");
      box.textContent = c.status === "done" ? t("raise.done") : c.status + (c.result_detail ? ": " + c.result_detail : "");
      box.dataset.status = c.status;
    }
  }

  // ---------------------------------------------------------------- occupancy, revenue, guards, visitors
  function renderOccupancy() {
    const o = state.occupancy;
    $("occ-occupied").textContent = o && o.occupied !== null && o.occupied !== undefined ? String(o.occupied) : "—";
    $("occ-capacity").textContent = o && o.capacity ? String(o.capacity) : "—";
    $("occ-free").textContent = o && o.capacity ? String(Math.max(0, o.capacity - o.occupied)) : "—";
    const pct = o && o.capacity ? Math.min(100, Math.round(100 * o.occupied / o.capacity)) : 0;
    $("occ-bar").style.width = pct + "%";
    $("occ-bar").className = pct >= 100 ? "full" : pct >= 90 ? "high" : "";
    GP_CHART.draw($("occ-chart"), state.history, o ? o.capacity : null, Date.now());
    if (o && o.capacity !== null && document.activeElement !== $("cap-capacity")) {
      $("cap-capacity").value = String(o.capacity);
      $("cap-reserved").value = String(o.reserved || 0);
    }
  }
  function initCapacityForm() {
    $("capacity-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const result = $("cap-result");
      result.textContent = "";
      try {
        await api("/api/sites/" + encodeURIComponent(state.site) + "/capacity", { method: "PUT", body: {
          capacity: parseInt($("cap-capacity").value, 10), reserved: parseInt($("cap-reserved").value || "0", 10),
          reason: $("cap-reason").value.trim() } });
        result.textContent = t("cap.saved");
        result.dataset.status = "ok";
        $("cap-reason").value = "";
      } catch (e) {
        result.textContent = e.message;
        result.dataset.status = "error";
      }
    });
  }
  async function loadRevenue() {
    const r = await api("/api/reports/daily?site=" + encodeURIComponent(state.site));
    $("rev-total").textContent = money(r.revenue_minor) + " " + r.currency;
    const lanes = $("rev-lanes"); lanes.replaceChildren();
    Object.keys(r.by_lane).forEach(function (k) {
      const tr = node("tr"); tr.appendChild(node("th", null, k)); tr.appendChild(node("td", "num", money(r.by_lane[k]))); lanes.appendChild(tr);
    });
    const shifts = $("rev-shifts"); shifts.replaceChildren();
    // The shift under way: takings by the guard who confirmed them; then closed shifts with their cash variance.
    Object.keys(r.by_guard).forEach(function (g) {
      const tr = node("tr"); tr.appendChild(node("th", null, g)); tr.appendChild(node("td", "num", money(r.by_guard[g]))); tr.appendChild(node("td"));
      shifts.appendChild(tr);
    });
    r.shifts.forEach(function (s) {
      const tr = node("tr"); tr.appendChild(node("th", null, s.guard + " " + s.post));
      tr.appendChild(node("td", "num", money(s.fees_minor)));
      tr.appendChild(node("td", "num" + (s.variance_minor ? " bad" : ""), (s.variance_minor > 0 ? "+" : "") + money(s.variance_minor)));
      shifts.appendChild(tr);
    });
    $("report-print").href = "/reports/daily?site=" + encodeURIComponent(state.site) + "&day=" + r.day + "&lang=" + GP_I18N.lang();
    $("report-csv").href = "/api/reports/daily.csv?site=" + encodeURIComponent(state.site) + "&day=" + r.day;
  }
  async function loadGuards() {
    const r = await api("/api/shifts/on-duty?site=" + encodeURIComponent(state.site));
    const ul = $("guard-list"); ul.replaceChildren();
    if (!r.items.length) ul.appendChild(node("li", "none", t("guards.none")));
    r.items.forEach(function (g) { ul.appendChild(node("li", null, g.guard + " — " + g.post + " (" + hhmmss(g.since) + ")")); });
  }
  async function loadVisitors() {
    const r = await api("/api/visitors/on-site-count?site=" + encodeURIComponent(state.site));
    $("visitors-count").textContent = r.count === null || r.count === undefined ? "—" : String(r.count);
  }

  // ---------------------------------------------------------------- loading and live
  const debounced = {};
  function later(name, fn, ms) {
    clearTimeout(debounced[name]);
    debounced[name] = setTimeout(function () { fn().catch(function () {}); }, ms);
  }
  async function loadAll() {
    const site = encodeURIComponent(state.site);
    const none = Promise.resolve({ items: [], points: [] });
    const [devices, alarms, events, occ, hist] = await Promise.all([
      api("/api/devices"), api("/api/alarms?state=active&limit=500"),
      state.site ? api("/api/events?limit=50&site=" + site) : none,
      api("/api/occupancy"), state.site ? api("/api/occupancy/" + site + "/history?hours=24") : none
    ]);
    state.devices.clear();
    devices.items.forEach(function (d) { state.devices.set(d.site + "/" + d.device, d); });
    state.alarms.clear();
    alarms.items.forEach(function (a) { state.alarms.set(a.id, a); });
    $("feed").replaceChildren();
    events.items.forEach(function (e) { addFeedRow(e, false); });
    state.occupancy = occ.items.find(function (o) { return o.site === state.site; }) || null;
    state.history = hist.points.map(function (p) { return [p.at, p.occupied]; });
    renderTiles(); renderAlarms(); renderOccupancy();
    if (state.site) await Promise.all([loadRevenue(), loadGuards(), loadVisitors()]);
  }
  function adoptSite(site) {
    // The first site central hears of, when the page opened before any device spoke.
    state.site = site;
    const o = node("option", null, site); o.value = site; $("site-select").appendChild(o);
    $("site-select").value = site;
    loadAll().catch(function () {});
  }
  function connectLive() {
    const live = $("live-state");
    const source = new EventSource("/api/live");
    let planned = false;  // the server ends each stream after a while; the browser reconnects and catches up
    source.addEventListener("open", function () { planned = false; live.dataset.i18n = "live.on"; live.textContent = t("live.on"); live.className = "live on"; });
    source.addEventListener("bye", function () { planned = true; });
    source.addEventListener("error", function () {
      if (planned) return;
      live.dataset.i18n = "live.off"; live.textContent = t("live.off"); live.className = "live off";
    });
    source.addEventListener("event", function (m) {
      const ev = JSON.parse(m.data);
      if (!state.site) adoptSite(ev.site);
      if (ev.site !== state.site) return;
      addFeedRow(ev, true);
      const dev = state.devices.get(ev.site + "/" + ev.device);
      if (dev) {
        dev.last_event = { type: ev.type, ts: ev.ts, seq: ev.seq };
        const last = document.querySelector('.tile[data-device="' + CSS.escape(ev.device) + '"] dd.last');
        if (last) last.textContent = t("ev." + ev.type) + " " + hhmmss(ev.ts);
      }
      if (ev.type === "payment_confirmed" || ev.type === "shift_closed") later("rev", loadRevenue, 1500);
      if (ev.type.indexOf("guard_") === 0 || ev.type === "shift_closed") later("guards", loadGuards, 500);
      if (ev.type.indexOf("visitor_") === 0) later("visitors", loadVisitors, 500);
    });
    source.addEventListener("alarm", function (m) { updateAlarm(JSON.parse(m.data)); });
    source.addEventListener("device", function (m) {
      const d = JSON.parse(m.data);
      state.devices.set(d.site + "/" + d.device, d);
      renderTiles();
    });
    source.addEventListener("occupancy", function (m) {
      const o = JSON.parse(m.data);
      if (o.site !== state.site) return;
      state.occupancy = o;
      state.history.push([o.updated_at || new Date().toISOString(), o.occupied]);
      renderOccupancy();
    });
    source.addEventListener("visitors", function (m) {
      const v = JSON.parse(m.data);
      if (v.site === state.site) $("visitors-count").textContent = String(v.count);
    });
    source.addEventListener("command", function (m) { onCommand(JSON.parse(m.data)); });
    source.addEventListener("resync", function () { loadAll().catch(function () {}); });
  }

  async function start() {
    state.me = await api("/api/auth/me");
    $("who").textContent = state.me.name + " · " + t("role." + state.me.role);
    document.body.classList.toggle("can-supervise", canSupervise());
    const sites = await api("/api/sites");
    state.sites = sites.items.map(function (s) { return s.site; });
    const select = $("site-select");
    select.replaceChildren();
    state.sites.forEach(function (s) { const o = node("option", null, s); o.value = s; select.appendChild(o); });
    const saved = localStorage.getItem("gp.site");
    state.site = state.sites.indexOf(saved) >= 0 ? saved : (state.sites[0] || "");
    select.value = state.site;
    select.addEventListener("change", function () { state.site = select.value; localStorage.setItem("gp.site", state.site); loadAll().catch(function (e) { toast(e.message, true); }); });
    $("logout").addEventListener("click", async function () { try { await api("/api/auth/logout", { method: "POST" }); } finally { location.assign("/login"); } });
    initRaiseDialog();
    initCapacityForm();
    GP_I18N.onChange(function () {
      $("who").textContent = state.me.name + " · " + t("role." + state.me.role);
      renderTiles(); renderAlarms();
      document.querySelectorAll("#feed td.type").forEach(function (td) { td.textContent = t("ev." + td.dataset.type); });
      loadRevenue().catch(function () {});
    });
    setInterval(function () { $("clock").textContent = new Date().toLocaleString(GP_I18N.lang() === "en" ? "en-GB" : "zh-CN", { hour12: false }); }, 1000);
    connectLive();
    await loadAll();
    document.body.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { start().catch(function (e) { toast(e.message, true); }); });
})();

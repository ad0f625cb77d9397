// Shift reconciliation: expected cash (from the booth's own records), declared cash
// (counted by the outgoing guard) and the variance, per closed shift. Text only.
"use strict";
(function () {
  const OWN = {
    "zh-CN": { "shifts.title": "交接班对账", "shifts.back": "返回监控中心", "shifts.on_duty": "在岗人员", "shifts.closed": "已交班",
      "shifts.closed_at": "交班时间", "shifts.post": "岗亭", "shifts.guard": "交班人", "shifts.incoming": "接班人",
      "shifts.expected": "应有现金", "shifts.declared": "实点现金", "shifts.variance": "差额", "shifts.none": "暂无交班记录",
      "shifts.unattended": "无人值守", "shifts.nobody": "无人在岗", "app.site": "车场" },
    "en": { "shifts.title": "Shift reconciliation", "shifts.back": "Back to monitoring", "shifts.on_duty": "On duty", "shifts.closed": "Closed shifts",
      "shifts.closed_at": "Closed", "shifts.post": "Post", "shifts.guard": "Outgoing", "shifts.incoming": "Incoming",
      "shifts.expected": "Expected cash", "shifts.declared": "Declared cash", "shifts.variance": "Variance", "shifts.none": "No closed shifts",
      "shifts.unattended": "unattended", "shifts.nobody": "Nobody on duty", "app.site": "Site" }
  };
  function t(key) { const table = OWN[GP_I18N.lang()] || OWN["zh-CN"]; return table[key] || key; }
  function applyOwn() { document.querySelectorAll("[data-i18n]").forEach(function (el) { if (OWN["zh-CN"][el.dataset.i18n]) el.textContent = t(el.dataset.i18n); }); }
  const $ = function (id) { return document.getElementById(id); };
  function cell(tag, text, cls) { const n = document.createElement(tag); n.textContent = text; if (cls) n.className = cls; return n; }
  function money(minor, cur) {
    if (typeof minor !== "number") return "—";
    const a = Math.abs(Math.trunc(minor));
    return (minor < 0 ? "-" : "") + Math.floor(a / 100) + "." + String(a % 100).padStart(2, "0") + (cur ? " " + cur : "");
  }
  async function get(path) {
    const res = await fetch(path, { credentials: "same-origin" });
    if (res.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); throw new Error("signed out"); }
    if (!res.ok) throw new Error(String(res.status));
    return res.json();
  }
  let site = "";
  async function load() {
    const q = site ? "?site=" + encodeURIComponent(site) : "";
    const [duty, shifts] = await Promise.all([get("/api/shifts/on-duty" + q), get("/api/shifts" + q)]);
    const ul = $("on-duty"); ul.replaceChildren();
    if (!duty.items.length) ul.appendChild(cell("li", t("shifts.nobody")));
    duty.items.forEach(function (g) { ul.appendChild(cell("li", g.guard + " — " + g.post)); });
    const body = $("shift-rows"); body.replaceChildren();
    shifts.items.forEach(function (s) {
      const tr = document.createElement("tr");
      tr.dataset.shiftId = s.shift_id || "";
      const when = new Date(s.closed_at);
      tr.append(cell("td", isNaN(when) ? String(s.closed_at) : when.toLocaleString(GP_I18N.lang() === "en" ? "en-GB" : "zh-CN", { hour12: false })),
        cell("td", String(s.post || s.device)), cell("td", String(s.guard || "")),
        cell("td", s.incoming_guard ? String(s.incoming_guard) : t("shifts.unattended")),
        cell("td", money(s.expected_cash_minor, s.currency), "num expected"),
        cell("td", money(s.declared_cash_minor, s.currency), "num declared"),
        cell("td", (s.variance_minor > 0 ? "+" : "") + money(s.variance_minor, s.currency), "num variance" + (s.variance_minor ? " bad" : "")));
      body.appendChild(tr);
    });
    $("shifts-empty").hidden = shifts.items.length > 0;
    document.body.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", async function () {
    applyOwn();
    GP_I18N.onChange(function () { applyOwn(); load(); });
    try {
      const sites = await get("/api/sites");
      const select = $("site-select");
      const names = (sites.items || []).map(function (s) { return s.site || s.id || s; });
      names.forEach(function (n) { const o = document.createElement("option"); o.value = n; o.textContent = n; select.appendChild(o); });
      site = new URLSearchParams(location.search).get("site") || names[0] || "";
      select.value = site;
      select.addEventListener("change", function () { site = select.value; load(); });
    } catch (e) { site = ""; }
    await load();
    setInterval(load, 5000);
  });
})();

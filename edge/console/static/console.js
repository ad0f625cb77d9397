// The guard's booth console. Everything from the server goes onto the page with
// textContent only: a plate, a reason or a guard's name is shown, never run.
"use strict";
(function () {
  const STRINGS = {
    "zh-CN": {
      "app.title": "岗亭", "signon.title": "上岗签到", "signon.badge_hint": "请在读卡器上刷员工卡,或输入员工号和密码",
      "signon.staff_id": "员工号", "signon.pin": "密码", "signon.submit": "签到", "signon.done": "已签到上岗",
      "signon.badge": "已在读卡器刷卡", "signoff.submit": "退出", "signoff.done": "已退出",
      "duty.none": "无人值守", "duty.on": "值班", "link.stale": "连接中断,正在重试…",
      "lane.vehicle": "车辆", "lane.card": "停车卡", "lane.barrier": "道闸", "lane.occupancy": "车位",
      "vehicle.yes": "有车", "vehicle.no": "无车", "vehicle.under": "车辆在道闸下",
      "role.entry": "入口", "role.exit": "出口",
      "phase.idle": "空闲", "phase.waiting": "等候", "phase.refused_full": "满位拒入", "phase.issuing": "出卡中",
      "phase.checking": "验卡中", "phase.awaiting_payment": "待收费", "phase.open": "放行中", "phase.out_of_service": "故障停用",
      "card.none": "—", "card.reading": "读卡中", "card.issuing": "写卡中", "card.verified": "有效,待收费",
      "card.rejected": "被拒", "barrier.open": "已抬起", "barrier.closed": "已落下", "barrier.opening": "抬起中",
      "barrier.closing": "落下中", "barrier.fault": "故障", "lane.clock": "时钟不可信", "lane.storage": "存储故障",
      "act.pay_cash": "确认收费(现金)", "act.pay_epay": "电子支付", "act.lost_card": "遗失卡", "act.free_exit": "免费放行",
      "act.manual_raise": "手动抬杆", "act.manual_close": "手动落杆", "act.incident": "事件报告", "act.reprint": "重印收据",
      "f.reference": "电子支付单号", "f.plate": "车牌号", "f.kind": "事件类型", "f.reason": "原因(必填)",
      "f.description": "事件描述(必填)", "f.supervisor_id": "主管员工号", "f.supervisor_pin": "主管密码",
      "kind.forced_entry": "强行进入", "kind.dispute": "行车纠纷", "kind.damage": "设施损坏", "kind.other": "其他",
      "common.confirm": "确认", "common.cancel": "取消", "common.close": "关闭",
      "done.pay": "已收费,道闸抬起", "done.lost": "遗失卡费用已计算", "done.free": "已免费放行", "done.raise": "道闸已抬起",
      "done.close": "道闸已落下", "done.incident": "事件已上报", "done.reprint": "收据已重印", "done.repeat": "(重复请求,未重复执行)",
      "shift.handover": "交接班", "shift.title": "交接班", "shift.expected": "应有现金", "shift.declared": "实点现金(元)",
      "shift.incoming": "接班人员确认", "shift.use_badge": "接班人员已在读卡器刷卡", "shift.unattended": "无人接班(转为无人值守)",
      "shift.close": "交班", "shift.variance": "差额", "shift.done": "交班完成", "err.network": "无法连接岗亭主机",
      "count.cards_issued": "发卡", "count.entries": "入场", "count.exits": "出场", "count.payments": "收费笔数",
      "count.free_within_grace": "免费时段", "count.exemptions": "免费放行", "count.badge_passes": "业主/员工",
      "count.lost_cards": "遗失卡", "count.manual_raises": "手动抬杆", "count.manual_closes": "手动落杆",
      "count.incidents": "事件报告", "count.tickets_rejected": "拒绝卡", "fees.cash": "现金收入", "fees.epay": "电子支付收入"
    },
    "en": {
      "app.title": "Booth", "signon.title": "Sign on", "signon.badge_hint": "Present your staff badge at the reader, or enter staff ID and PIN",
      "signon.staff_id": "Staff ID", "signon.pin": "PIN", "signon.submit": "Sign on", "signon.done": "Signed on",
      "signon.badge": "I showed my badge", "signoff.submit": "Sign off", "signoff.done": "Signed off",
      "duty.none": "Unattended", "duty.on": "On duty", "link.stale": "Connection lost, retrying…",
      "lane.vehicle": "Vehicle", "lane.card": "Card", "lane.barrier": "Barrier", "lane.occupancy": "Spaces",
      "vehicle.yes": "Present", "vehicle.no": "None", "vehicle.under": "Under the barrier",
      "role.entry": "Entry", "role.exit": "Exit",
      "phase.idle": "Idle", "phase.waiting": "Waiting", "phase.refused_full": "Refused (full)", "phase.issuing": "Issuing",
      "phase.checking": "Checking", "phase.awaiting_payment": "Fee due", "phase.open": "Passing", "phase.out_of_service": "Out of service",
      "card.none": "—", "card.reading": "Reading", "card.issuing": "Writing", "card.verified": "Valid, fee due",
      "card.rejected": "Refused", "barrier.open": "Open", "barrier.closed": "Closed", "barrier.opening": "Opening",
      "barrier.closing": "Closing", "barrier.fault": "Fault", "lane.clock": "Clock not trusted", "lane.storage": "Storage fault",
      "act.pay_cash": "Confirm cash", "act.pay_epay": "E-payment", "act.lost_card": "Lost card", "act.free_exit": "Free exit",
      "act.manual_raise": "Manual raise", "act.manual_close": "Manual close", "act.incident": "Report incident", "act.reprint": "Reprint receipt",
      "f.reference": "E-payment reference", "f.plate": "Plate", "f.kind": "Kind", "f.reason": "Reason (required)",
      "f.description": "What happened (required)", "f.supervisor_id": "Supervisor ID", "f.supervisor_pin": "Supervisor PIN",
      "kind.forced_entry": "Forced entry", "kind.dispute": "Dispute", "kind.damage": "Damage", "kind.other": "Other",
      "common.confirm": "Confirm", "common.cancel": "Cancel", "common.close": "Close",
      "done.pay": "Paid, barrier raised", "done.lost": "Lost-card fee calculated", "done.free": "Free exit granted", "done.raise": "Barrier raised",
      "done.close": "Barrier closed", "done.incident": "Incident reported", "done.reprint": "Receipt reprinted", "done.repeat": "(repeated request, not done twice)",
      "shift.handover": "Handover", "shift.title": "Shift handover", "shift.expected": "Expected cash", "shift.declared": "Counted cash",
      "shift.incoming": "Incoming guard confirms", "shift.use_badge": "Incoming guard showed badge at the reader", "shift.unattended": "Nobody takes over (unattended)",
      "shift.close": "Close shift", "shift.variance": "Variance", "shift.done": "Shift closed", "err.network": "Cannot reach the booth computer",
      "count.cards_issued": "Cards issued", "count.entries": "Entries", "count.exits": "Exits", "count.payments": "Payments",
      "count.free_within_grace": "Free (grace)", "count.exemptions": "Exemptions", "count.badge_passes": "Badge passes",
      "count.lost_cards": "Lost cards", "count.manual_raises": "Manual raises", "count.manual_closes": "Manual closes",
      "count.incidents": "Incidents", "count.tickets_rejected": "Cards refused", "fees.cash": "Cash taken", "fees.epay": "E-payments"
    }
  };
  const ACTIONS = {
    "pay-cash": { path: "confirm-payment", fields: [], title: "act.pay_cash", done: "done.pay", needsFee: true, direct: true },
    "pay-epay": { path: "confirm-payment", fields: ["reference"], title: "act.pay_epay", done: "done.pay", needsFee: true },
    "lost-card": { path: "lost-card", fields: ["plate"], title: "act.lost_card", done: "done.lost", exitOnly: true },
    "free-exit": { path: "free-exit", fields: ["reason", "supervisor_id", "supervisor_pin"], title: "act.free_exit", done: "done.free", needsFee: true },
    "manual-raise": { path: "manual-raise", fields: ["reason"], title: "act.manual_raise", done: "done.raise" },
    "manual-close": { path: "manual-close", fields: ["reason"], title: "act.manual_close", done: "done.close" },
    "incident": { path: "incident", fields: ["kind", "description", "plate"], title: "act.incident", done: "done.incident" },
    "reprint": { path: "reprint", fields: [], title: "act.reprint", done: "done.reprint", direct: true }
  };
  const KEYS = {};
  Object.keys(ACTIONS).forEach(function (a) { const b = document.querySelector("[data-action='" + a + "']"); if (b) KEYS[b.dataset.key] = a; });

  let lang = localStorage.getItem("gp.console.lang") || document.body.dataset.lang || "zh-CN";
  if (!STRINGS[lang]) lang = "zh-CN";
  const state = { view: null, selected: 0, dialog: null, busy: false, failures: 0 };
  const $ = function (id) { return document.getElementById(id); };

  function t(key) { const table = STRINGS[lang]; return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key; }
  function apply() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.dataset.i18n) + (el.dataset.key ? " [" + el.dataset.key + "]" : "");
    });
    $("lang-toggle").textContent = lang === "en" ? "中文" : "English";
    if (state.view) render(state.view);
  }
  function requestId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function said(answer) { return lang === "en" ? answer.error : (answer.error_zh || answer.error); }
  function toast(text, bad) {
    const box = $("toast");
    box.textContent = text;
    box.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.className = ""; }, 6000);
  }

  // The session's CSRF token: from the page, then from each sign-on (which renews the session).
  let csrf = document.querySelector("meta[name='csrf-token']").getAttribute("content");
  async function call(path, body) {
    let res;
    try {
      res = await fetch(path, body === undefined ? { cache: "no-store", credentials: "same-origin" } : {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body)
      });
    } catch (e) {
      throw new Error(t("err.network"));
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok && body === undefined && res.status === 401 && data && data.code === "no_session") {
      location.reload();  // the console restarted and forgot this browser: a fresh page, a fresh session
    }
    if (!res.ok) {
      const err = new Error(data && data.error ? said(data) : t("err.network") + " (" + res.status + ")");
      err.status = res.status;
      err.code = data && data.code;
      throw err;
    }
    if (data && typeof data.csrf === "string") csrf = data.csrf;
    return data;
  }

  // ---------------------------------------------------------------- rendering
  function laneArticles() { return Array.from(document.querySelectorAll("article.lane")); }
  function articleFor(name) { return laneArticles().find(function (a) { return a.dataset.lane === name; }); }
  function set(el, text) { if (el.textContent !== text) el.textContent = text; }

  function render(view) {
    // Buttons work only for a guard signed on at THIS browser (view.me); duty is the post's shift.
    const duty = view.me ? view.duty : null;
    document.body.dataset.duty = view.me ? "on" : "off";
    set($("duty"), view.duty ? t("duty.on") + ": " + view.duty.guard : t("duty.none"));
    $("sign-on").hidden = !!view.me;
    $("sign-off-btn").hidden = !view.me;
    $("handover-btn").disabled = !duty;
    if (!view.me) document.querySelectorAll("article.lane button[data-action]").forEach(function (b) { b.disabled = true; });
    view.lanes.forEach(function (lane, index) {
      const art = articleFor(lane.name);
      if (!art) return;
      art.dataset.phase = lane.phase;
      art.dataset.serial = lane.serial || "";
      art.classList.toggle("selected", index === state.selected);
      art.classList.toggle("fee-due", !!lane.fee);
      set(art.querySelector(".role"), t("role." + lane.role));
      set(art.querySelector(".phase"), t("phase." + lane.phase));
      set(art.querySelector(".vehicle"), lane.under_barrier ? t("vehicle.under") : (lane.vehicle_present ? t("vehicle.yes") : t("vehicle.no")));
      const card = lane.card.indexOf("rejected_") === 0 ? t("card.rejected") : t("card." + lane.card);
      set(art.querySelector(".card"), card + (lane.serial ? " · " + lane.serial : ""));
      set(art.querySelector(".barrier"), t("barrier." + lane.barrier));
      set(art.querySelector(".occupancy"), lane.occupied + " / " + lane.capacity);
      const fee = art.querySelector(".fee");
      fee.hidden = !lane.fee;
      set(fee, lane.fee ? (lang === "en" ? lane.fee.en : lane.fee.zh) : "");
      set(art.querySelector(".message"), lane.message ? (lang === "en" ? lane.message.en : lane.message.zh) : "");
      const warns = [];
      if (lane.fault) warns.push(t("barrier.fault") + ": " + lane.fault);
      if (!lane.clock_trusted) warns.push(t("lane.clock"));
      if (lane.storage_error) warns.push(t("lane.storage") + ": " + lane.storage_error);
      const warn = art.querySelector(".lane-warn");
      warn.hidden = warns.length === 0;
      set(warn, warns.join(" · "));
      const ref = art.querySelector(".snapshot-ref");
      const img = art.querySelector(".snapshot");
      const base = lane.snapshot ? lane.snapshot.split("/").pop() : "";
      ref.hidden = !lane.snapshot;
      set(ref, lane.snapshot || "");
      if (/^[A-Za-z0-9._-]+\.(jpe?g|png)$/i.test(base)) {
        const src = "/api/console/lanes/" + encodeURIComponent(lane.name) + "/snapshot/" + encodeURIComponent(base);
        if (img.getAttribute("src") !== src) img.setAttribute("src", src);
        img.hidden = false;
      } else {
        img.hidden = true;
      }
      art.querySelectorAll("button[data-action]").forEach(function (b) {
        const spec = ACTIONS[b.dataset.action];
        let usable = !!duty && !state.busy;
        if (spec.needsFee) usable = usable && !!lane.fee;
        if (spec.exitOnly) usable = usable && lane.role === "exit" && lane.vehicle_present;
        if (b.dataset.action === "reprint") usable = usable && lane.last_receipt;
        b.disabled = !usable;
      });
    });
    document.body.dataset.ready = "1";
  }

  async function refresh() {
    try {
      state.view = await call("/api/console");
      state.failures = 0;
      set($("link-state"), "");
      render(state.view);
    } catch (e) {
      state.failures += 1;
      set($("link-state"), t("link.stale"));
    }
    set($("clock"), new Date().toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false }));
  }

  function laneView(name) { return state.view ? state.view.lanes.find(function (l) { return l.name === name; }) : null; }

  // ---------------------------------------------------------------- actions
  async function send(action, laneName, fields, rid) {
    const spec = ACTIONS[action];
    const body = Object.assign({ request_id: rid }, fields);
    const lane = laneView(laneName);
    if (spec.path === "confirm-payment") { body.method = action === "pay-epay" ? "epay" : "cash"; body.serial = lane ? lane.serial || "" : ""; }
    if (spec.path === "free-exit") body.serial = lane ? lane.serial || "" : "";
    state.busy = true;
    try {
      const answer = await call("/api/console/lanes/" + encodeURIComponent(laneName) + "/" + spec.path, body);
      toast(t(spec.done) + (answer.repeat ? " " + t("done.repeat") : ""));
      return answer;
    } finally {
      state.busy = false;
      refresh();
    }
  }

  function start(action, laneName) {
    const spec = ACTIONS[action];
    if (!spec || state.busy) return;
    if (spec.direct) {
      send(action, laneName, {}, requestId()).catch(function (e) { toast(e.message, true); });
      return;
    }
    const dialog = $("action-dialog");
    const form = $("action-form");
    form.reset();
    state.dialog = { action: action, lane: laneName, rid: requestId() };
    set($("action-title"), t(spec.title));
    set($("action-lane"), laneName);
    const lane = laneView(laneName);
    set($("action-fee"), lane && lane.fee ? (lang === "en" ? lane.fee.en : lane.fee.zh) : "");
    set($("action-error"), "");
    form.querySelectorAll("[data-field]").forEach(function (l) { l.hidden = spec.fields.indexOf(l.dataset.field) < 0; });
    dialog.dataset.action = action;
    dialog.showModal();
    const first = form.querySelector("[data-field]:not([hidden]) input, [data-field]:not([hidden]) textarea, [data-field]:not([hidden]) select");
    if (first) first.focus();
  }

  $("action-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const ctx = state.dialog;
    if (!ctx || state.busy) return;
    const form = ev.target;
    const fields = {};
    ACTIONS[ctx.action].fields.forEach(function (f) { fields[f] = form.elements[f].value; });
    $("action-submit").disabled = true;
    try {
      await send(ctx.action, ctx.lane, fields, ctx.rid);
      $("action-dialog").close();
      state.dialog = null;
    } catch (e) {
      set($("action-error"), e.message);
      ctx.rid = requestId();  // refused: a corrected form is a new request
    } finally {
      $("action-submit").disabled = false;
    }
  });

  document.querySelectorAll("dialog .cancel").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); state.dialog = null; });
  });

  $("lanes").addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-action]");
    const art = ev.target.closest("article.lane");
    if (!art) return;
    state.selected = laneArticles().indexOf(art);
    if (button && !button.disabled) start(button.dataset.action, art.dataset.lane);
    if (state.view) render(state.view);
  });

  // ---------------------------------------------------------------- sign-on
  let signOnRid = requestId();
  $("sign-on-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    await signOnWith({ request_id: signOnRid, staff_id: $("sign-on-id").value, pin: $("sign-on-pin").value });
  });

  async function signOnWith(body) {
    $("sign-on-submit").disabled = true;
    try {
      await call("/api/console/sign-on", body);
      toast(t("signon.done"));
      $("sign-on-form").reset();
    } catch (e) {
      toast(e.message, true);
    } finally {
      signOnRid = requestId();
      $("sign-on-pin").value = "";
      $("sign-on-submit").disabled = false;
      refresh();
    }
  }
  $("sign-on-badge").addEventListener("click", function () {
    signOnWith({ request_id: signOnRid, use_reader: true });
  });
  $("sign-off-btn").addEventListener("click", async function () {
    try { await call("/api/console/sign-off", { request_id: requestId() }); toast(t("signoff.done")); }
    catch (e) { toast(e.message, true); }
    finally { refresh(); }
  });

  // ---------------------------------------------------------------- handover
  let handoverRid = null;
  function money(minor) {
    const a = Math.abs(Math.trunc(minor));
    return (minor < 0 ? "-" : "") + Math.floor(a / 100) + "." + String(a % 100).padStart(2, "0");
  }
  async function openHandover() {
    if (!state.view || !state.view.duty) return;
    let totals;
    try { totals = await call("/api/console/shift"); } catch (e) { toast(e.message, true); return; }
    const body = $("shift-counts");
    body.replaceChildren();
    function row(label, value) {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = label;
      const td = document.createElement("td"); td.textContent = String(value);
      tr.append(th, td); body.append(tr);
    }
    Object.keys(totals.counts).forEach(function (k) { row(t("count." + k), totals.counts[k]); });
    Object.keys(totals.fees_by_method).forEach(function (k) { row(t("fees." + k), money(totals.fees_by_method[k]) + " " + totals.currency); });
    set($("shift-expected"), money(totals.expected_cash_minor) + " " + totals.currency);
    $("handover-form").reset();
    $("handover-report").hidden = true;
    $("handover-submit").hidden = false;
    set($("handover-error"), "");
    handoverRid = requestId();
    $("handover-dialog").showModal();
    $("declared-cash").focus();
  }
  $("handover-btn").addEventListener("click", openHandover);
  $("handover-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = {
      request_id: handoverRid, declared_cash: $("declared-cash").value,
      incoming_staff_id: $("incoming-id").value, incoming_pin: $("incoming-pin").value,
      use_reader: $("incoming-reader").checked, unattended: $("unattended").checked
    };
    $("handover-submit").disabled = true;
    try {
      const answer = await call("/api/console/close-shift", body);
      const r = answer.report;
      set($("report-variance"), (r.variance_minor > 0 ? "+" : "") + money(r.variance_minor) + " " + r.currency);
      set($("report-lines"), r.lines.join("\n"));
      $("handover-report").hidden = false;
      $("handover-submit").hidden = true;
      toast(t("shift.done"));
    } catch (e) {
      set($("handover-error"), e.message);
      handoverRid = requestId();
    } finally {
      $("incoming-pin").value = "";
      $("handover-submit").disabled = false;
      refresh();
    }
  });

  // ---------------------------------------------------------------- keyboard
  document.addEventListener("keydown", function (ev) {
    if (document.querySelector("dialog[open]")) return;  // Esc and Enter belong to the dialog
    const typing = ev.target && /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName);
    if (!typing && /^[1-9]$/.test(ev.key)) {
      const n = Number(ev.key) - 1;
      if (n < laneArticles().length) { state.selected = n; if (state.view) render(state.view); ev.preventDefault(); }
      return;
    }
    if (ev.key === "F9") { ev.preventDefault(); openHandover(); return; }
    const action = KEYS[ev.key];
    if (!action) return;
    ev.preventDefault();
    const art = laneArticles()[state.selected];
    const button = art && art.querySelector("[data-action='" + action + "']");
    if (button && !button.disabled) start(action, art.dataset.lane);
  });

  $("lang-toggle").addEventListener("click", function () {
    lang = lang === "en" ? "zh-CN" : "en";
    localStorage.setItem("gp.console.lang", lang);
    apply();
  });

  apply();
  refresh();
  setInterval(refresh, 1000);
})();

// Gatepost dashboard strings, zh-CN and English. Text goes into the page with
// textContent only; no string here or from the server is ever parsed as HTML.
"use strict";
(function () {
  const STRINGS = {
    "zh-CN": {
      "app.title": "监控中心", "app.site": "车场", "app.logout": "退出",
      "login.title": "监控中心登录", "login.username": "用户名", "login.password": "密码", "login.submit": "登录",
      "login.failed": "登录失败", "live.connecting": "连接中…", "live.on": "实时", "live.off": "已断开,重连中",
      "lanes.title": "车道", "feed.title": "实时事件", "feed.time": "时间", "feed.device": "设备", "feed.type": "事件", "feed.detail": "详情",
      "alarms.title": "告警", "alarms.none": "无告警", "alarms.ack": "确认", "alarms.acked": "已确认", "alarms.clear": "解除",
      "alarms.unacked": "未确认", "alarms.count": "次数", "alarms.clear_reason": "解除原因:",
      "occ.title": "车位占用", "occ.free": "空位",
      "cap.capacity": "总车位", "cap.reserved": "住户保留", "cap.reason": "原因", "cap.save": "保存并下发", "cap.saved": "已下发到各车道", "visitors.on_site": "在场访客", "visitors.log": "访客记录",
      "rev.title": "今日收入", "rev.by_lane": "按车道", "rev.by_shift": "按班次", "rev.print": "打印日报", "rev.csv": "导出 CSV",
      "guards.title": "在岗人员", "guards.none": "无人在岗",
      "raise.title": "远程抬杆", "raise.reason": "原因(必填)", "raise.next": "下一步", "raise.confirm": "确认抬杆",
      "raise.confirm_text": "确认远程抬起该车道道闸?此操作将记入审计日志。", "raise.sent": "抬杆命令已发送", "raise.done": "车道已执行抬杆",
      "raise.need_reason": "请填写原因", "common.cancel": "取消",
      "tile.online": "在线", "tile.offline": "离线", "tile.barrier": "道闸", "tile.last": "最近事件", "tile.outbox": "待发送",
      "tile.skew": "时钟偏差", "tile.readers": "读卡器", "tile.guard": "值班", "tile.storage": "存储", "tile.raise": "远程抬杆",
      "err.forbidden": "权限不足", "err.generic": "操作失败",
      "barrier.open": "已抬起", "barrier.closed": "已落下", "barrier.opening": "抬起中", "barrier.closing": "落下中", "barrier.fault": "故障",
      "role.guard": "岗亭", "role.supervisor": "主管", "role.admin": "管理员",
      "kind.device_offline": "设备离线", "kind.barrier_fault": "道闸故障", "kind.barrier_held_open": "道闸长时间未落",
      "kind.forced_entry": "车辆强行进入", "kind.incident": "岗亭事件报告", "kind.forged_or_reused_ticket": "伪造或重复使用的停车卡",
      "kind.lot_full": "车位已满", "kind.seq_gap": "事件缺失", "kind.outbox_backlog": "待发送事件积压", "kind.clock_skew": "设备时钟偏差", "kind.storage_fault": "存储故障,记录无法保存",
      "ev.vehicle_arrived": "车辆到达", "ev.entry_refused_full": "满位拒入", "ev.ticket_issued": "发卡", "ev.badge_accepted": "刷卡通过",
      "ev.badge_rejected": "刷卡拒绝", "ev.ticket_rejected": "停车卡被拒", "ev.fee_quoted": "计费", "ev.payment_confirmed": "已收费",
      "ev.lost_ticket": "遗失停车卡", "ev.free_exit": "免费放行", "ev.barrier_opened": "道闸抬起", "ev.barrier_closed": "道闸落下",
      "ev.barrier_fault": "道闸故障", "ev.manual_raise": "手动抬杆", "ev.manual_close": "手动落杆", "ev.vehicle_entered": "车辆入场",
      "ev.vehicle_exited": "车辆出场", "ev.occupancy_corrected": "车位数校正", "ev.incident_reported": "事件报告", "ev.reader_fault": "读卡器故障",
      "ev.outbox_backlog": "发送积压", "ev.guard_signed_on": "上岗", "ev.guard_signed_off": "下岗", "ev.shift_closed": "交班",
      "ev.visitor_checked_in": "访客登记", "ev.visitor_checked_out": "访客离开", "ev.visitor_blocked": "访客拦截"
    },
    "en": {
      "app.title": "Monitoring", "app.site": "Site", "app.logout": "Sign out",
      "login.title": "Monitoring sign-in", "login.username": "Username", "login.password": "Password", "login.submit": "Sign in",
      "login.failed": "Sign-in failed", "live.connecting": "Connecting…", "live.on": "Live", "live.off": "Disconnected, retrying",
      "lanes.title": "Lanes", "feed.title": "Live events", "feed.time": "Time", "feed.device": "Device", "feed.type": "Event", "feed.detail": "Detail",
      "alarms.title": "Alarms", "alarms.none": "No alarms", "alarms.ack": "Acknowledge", "alarms.acked": "Acknowledged", "alarms.clear": "Clear",
      "alarms.unacked": "Unacknowledged", "alarms.count": "count", "alarms.clear_reason": "Reason for clearing:",
      "occ.title": "Occupancy", "occ.free": "free",
      "cap.capacity": "Capacity", "cap.reserved": "Reserved (residents)", "cap.reason": "Reason", "cap.save": "Save and push", "cap.saved": "Pushed to the lanes", "visitors.on_site": "Visitors on site", "visitors.log": "Visitor log",
      "rev.title": "Today's revenue", "rev.by_lane": "By lane", "rev.by_shift": "By shift", "rev.print": "Print daily report", "rev.csv": "Export CSV",
      "guards.title": "Guards on duty", "guards.none": "Nobody on duty",
      "raise.title": "Remote raise", "raise.reason": "Reason (required)", "raise.next": "Next", "raise.confirm": "Confirm raise",
      "raise.confirm_text": "Raise this lane's barrier remotely? This is recorded in the audit log.", "raise.sent": "Raise command sent", "raise.done": "Lane raised the barrier",
      "raise.need_reason": "Enter a reason", "common.cancel": "Cancel",
      "tile.online": "online", "tile.offline": "OFFLINE", "tile.barrier": "Barrier", "tile.last": "Last event", "tile.outbox": "Outbox",
      "tile.skew": "Clock skew", "tile.readers": "Readers", "tile.guard": "Guard", "tile.storage": "Storage", "tile.raise": "Remote raise",
      "err.forbidden": "Not allowed for your role", "err.generic": "Action failed",
      "barrier.open": "open", "barrier.closed": "closed", "barrier.opening": "opening", "barrier.closing": "closing", "barrier.fault": "fault",
      "role.guard": "guard", "role.supervisor": "supervisor", "role.admin": "admin",
      "kind.device_offline": "Device offline", "kind.barrier_fault": "Barrier fault", "kind.barrier_held_open": "Barrier held open",
      "kind.forced_entry": "Forced entry", "kind.incident": "Incident reported", "kind.forged_or_reused_ticket": "Forged or reused ticket",
      "kind.lot_full": "Car park full", "kind.seq_gap": "Events missing", "kind.outbox_backlog": "Outbox backlog", "kind.clock_skew": "Clock skew", "kind.storage_fault": "Storage fault: records not saved",
      "ev.vehicle_arrived": "Vehicle arrived", "ev.entry_refused_full": "Refused: full", "ev.ticket_issued": "Ticket issued", "ev.badge_accepted": "Badge accepted",
      "ev.badge_rejected": "Badge rejected", "ev.ticket_rejected": "Ticket rejected", "ev.fee_quoted": "Fee quoted", "ev.payment_confirmed": "Paid",
      "ev.lost_ticket": "Lost ticket", "ev.free_exit": "Free exit", "ev.barrier_opened": "Barrier opened", "ev.barrier_closed": "Barrier closed",
      "ev.barrier_fault": "Barrier fault", "ev.manual_raise": "Manual raise", "ev.manual_close": "Manual close", "ev.vehicle_entered": "Vehicle entered",
      "ev.vehicle_exited": "Vehicle exited", "ev.occupancy_corrected": "Occupancy corrected", "ev.incident_reported": "Incident", "ev.reader_fault": "Reader fault",
      "ev.outbox_backlog": "Outbox backlog", "ev.guard_signed_on": "Guard signed on", "ev.guard_signed_off": "Guard signed off", "ev.shift_closed": "Shift closed",
      "ev.visitor_checked_in": "Visitor in", "ev.visitor_checked_out": "Visitor out", "ev.visitor_blocked": "Visitor blocked"
    }
  };
  let lang = localStorage.getItem("gp.lang") || document.documentElement.lang || "zh-CN";
  if (!STRINGS[lang]) lang = "zh-CN";
  const listeners = [];

  function t(key) {
    const table = STRINGS[lang];
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  }
  function apply(root) {
    document.documentElement.lang = lang;
    (root || document).querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.textContent = lang === "en" ? "中文" : "English";
  }
  function setLang(next) {
    lang = STRINGS[next] ? next : "zh-CN";
    localStorage.setItem("gp.lang", lang);
    apply();
    listeners.forEach(function (fn) { fn(lang); });
  }
  window.GP_I18N = {
    t: t, apply: apply, setLang: setLang,
    lang: function () { return lang; },
    onChange: function (fn) { listeners.push(fn); }
  };
  document.addEventListener("DOMContentLoaded", function () {
    apply();
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.addEventListener("click", function () { setLang(lang === "en" ? "zh-CN" : "en"); });
  });
})();

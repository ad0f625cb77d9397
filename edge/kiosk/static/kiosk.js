// The lobby kiosk page. Every text from the server or the visitor goes in with
// textContent (never innerHTML), so a name like <script> stays a name.
(function () {
  "use strict";
  var T = {
    "zh-CN": {
      "title": "访客登记", "welcome": "欢迎!请选择来访类别", "cat.guest": "访客 / 探访住户", "cat.official": "公务来访",
      "cat.home_buyer": "购房看房", "cat.contractor": "施工 / 送货", "invite": "我有邀请码", "checkout": "离开登记(扫通行证)",
      "consent.title": "个人信息告知", "consent.yes": "我同意", "back": "返回", "next": "下一步", "finish": "完成",
      "consent.text": "为保障小区安全,我们会记录您的姓名、来访对象、来访时间,以及您自愿提供的手机号码和照片。这些信息只用于访客管理,保存期满后自动删除,手机号码和证件号码在屏幕上以遮盖形式显示。",
      "f.name": "姓名", "f.phone": "手机号码(选填)", "f.host": "被访人", "f.unit": "房号", "f.purpose": "来访事由",
      "f.party": "人数", "f.agency": "单位 / 机关", "f.pass": "出入证件号", "f.company": "公司", "f.work_order": "工单号",
      "photo.title": "拍照(选填)", "photo.hint": "请正对摄像头", "photo.take": "拍照", "photo.retake": "重拍",
      "photo.use": "使用这张照片", "photo.skip": "跳过", "done.expires": "有效至", "done.welcome": "登记成功,欢迎!",
      "done.printed": "请取走打印的访客通行证,离开时在本机扫码。", "done.not_printed": "通行证未能打印,请到前台领取。",
      "scan.invite": "请把邀请码对准摄像头…", "scan.pass": "请把通行证二维码对准摄像头…", "busy": "请稍候…",
      "error.network": "网络错误,请重试或到前台"
    },
    "en": {
      "title": "Visitor check-in", "welcome": "Welcome! Why are you visiting?", "cat.guest": "Guest / visiting a resident",
      "cat.official": "Official visit", "cat.home_buyer": "Viewing homes for sale", "cat.contractor": "Contractor / delivery",
      "invite": "I have an invitation", "checkout": "Check out (scan your pass)", "consent.title": "Privacy notice",
      "consent.yes": "I agree", "back": "Back", "next": "Next", "finish": "Done",
      "consent.text": "For the safety of the property we record your name, who you visit and when, and the phone number and photo you choose to give. They are used only for visitor management, deleted after the retention period, and phone and ID numbers are shown masked on screens.",
      "f.name": "Name", "f.phone": "Phone (optional)", "f.host": "Visiting (name)", "f.unit": "Unit", "f.purpose": "Purpose",
      "f.party": "Party size", "f.agency": "Agency", "f.pass": "Access-pass number", "f.company": "Company", "f.work_order": "Work order",
      "photo.title": "Photo (optional)", "photo.hint": "Please face the camera", "photo.take": "Take photo", "photo.retake": "Retake",
      "photo.use": "Use this photo", "photo.skip": "Skip", "done.expires": "Valid until", "done.welcome": "You are checked in. Welcome!",
      "done.printed": "Please take your printed visitor pass and scan it here when you leave.",
      "done.not_printed": "Your pass could not be printed: please collect one at the desk.",
      "scan.invite": "Hold your invitation QR code up to the camera…", "scan.pass": "Hold your pass QR code up to the camera…",
      "busy": "One moment…", "error.network": "Network error: please try again or see the desk"
    }
  };
  var body = document.body;
  var lang = body.dataset.language === "en" ? "en" : "zh-CN";
  var site = body.dataset.site;
  var idleMs = Math.max(10, parseInt(body.dataset.idle, 10) || 60) * 1000;
  var photoOn = body.dataset.photo === "on";
  var state = { category: null, submission: null, photoId: null, busy: false };
  var idleTimer = null;

  function $(id) { return document.getElementById(id); }
  function t(key) { return T[lang][key] || T["zh-CN"][key] || key; }
  function pick(msg) { return msg ? (lang === "en" ? msg.en : msg.zh) : ""; }

  function translate() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "en" ? "中文" : "English";
    if (state.category) $("form-title").textContent = t("cat." + state.category);
  }

  function show(name) {
    document.querySelectorAll(".screen").forEach(function (s) { s.hidden = s.id !== "screen-" + name; });
    body.dataset.screen = name;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(16) + Math.random().toString(16).slice(2, 12);
  }

  function reset() {
    state = { category: null, submission: null, photoId: null, busy: false };
    $("visit-form").reset();
    $("form-error").textContent = "";
    $("photo-msg").textContent = "";
    $("photo-preview").hidden = true;
    $("photo-preview").removeAttribute("src");
    $("photo-use").hidden = true;
    setBusy(false);
    show("start");
  }

  function touch() {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(reset, idleMs);
  }

  function setBusy(on) {
    state.busy = on;
    document.querySelectorAll("button").forEach(function (b) { if (b.id !== "lang") b.disabled = on; });
  }

  async function post(path, data) {
    // The page's CSRF token goes with every POST (the kiosk refuses a POST without it).
    var csrf = document.querySelector("meta[name='csrf-token']").getAttribute("content");
    var r = await fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(data || {}) });
    var doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (doc && doc.code === "csrf") { location.reload(); }  // the kiosk restarted: a fresh page, a fresh token
    if (!doc) doc = { ok: false, message: { zh: T["zh-CN"]["error.network"], en: T.en["error.network"] } };
    return doc;
  }

  function message(text) {
    $("message").textContent = text;
    show("message");
  }

  function chooseCategory(cat) {
    state.category = cat;
    state.submission = newId();
    $("form-title").textContent = t("cat." + cat);
    document.querySelectorAll("#visit-form label").forEach(function (l) {
      var f = l.dataset["for"];
      l.hidden = !(f === "all" || f.split(" ").indexOf(cat) >= 0);
    });
    show("consent");
  }

  function formData() {
    var out = { submission_id: state.submission, site: site, category: state.category, consent: true, photo_id: state.photoId };
    document.querySelectorAll("#visit-form label").forEach(function (l) {
      if (l.hidden) return;
      var input = l.querySelector("input");
      if (input.value.trim() !== "") out[input.name] = input.value;
    });
    return out;
  }

  async function submit() {
    if (state.busy) return;
    setBusy(true);
    try {
      var doc = await post("/api/check-in", formData());
      if (doc.ok) return done(doc);
      if (doc.error === "invalid" || doc.error === "bad_request" || doc.error === "photo_gone") {
        show("form");
        $("form-error").textContent = pick(doc.message);
        if (doc.field) { var el = document.querySelector("#visit-form [name='" + doc.field + "']"); if (el) el.focus(); }
        return;
      }
      message(pick(doc.message));
    } catch (e) {
      message(t("error.network"));
    } finally {
      setBusy(false);
    }
  }

  function done(doc) {
    $("done-title").textContent = t("done.welcome");
    $("done-name").textContent = doc.name || "";
    $("done-host").textContent = [doc.host, doc.unit].filter(Boolean).join(" ");
    $("done-expires").textContent = doc.expires || "";
    $("done-notice").textContent = pick(doc.notice);
    $("done-directions").textContent = pick(doc.directions);
    $("done-printed").textContent = doc.printed ? t("done.printed") : t("done.not_printed");
    show("done");
  }

  async function takePhoto() {
    setBusy(true);
    $("photo-msg").textContent = t("busy");
    try {
      var doc = await post("/api/photo", {});
      if (doc.ok) {
        state.photoId = doc.photo_id;
        $("photo-preview").src = doc.preview;
        $("photo-preview").hidden = false;
        $("photo-msg").textContent = "";
        $("photo-use").hidden = false;
        $("photo-take").textContent = t("photo.retake");
      } else {
        state.photoId = null;
        $("photo-preview").hidden = true;
        $("photo-use").hidden = true;
        $("photo-msg").textContent = pick(doc.message);
        $("photo-take").textContent = t("photo.retake");
      }
    } catch (e) {
      $("photo-msg").textContent = t("error.network");
    } finally {
      setBusy(false);
    }
  }

  async function scan(path, hint) {
    message(t(hint));
    setBusy(true);
    try {
      var doc = await post(path, {});
      if (doc.ok && doc.visit_id && doc.name) return done(doc);
      message(pick(doc.message));
    } catch (e) {
      message(t("error.network"));
    } finally {
      setBusy(false);
    }
  }

  document.querySelectorAll("[data-category]").forEach(function (b) {
    b.addEventListener("click", function () { chooseCategory(b.dataset.category); });
  });
  document.querySelectorAll("[data-back]").forEach(function (b) { b.addEventListener("click", reset); });
  $("consent-yes").addEventListener("click", function () { show("form"); var n = $("f-name"); if (n) n.focus(); });
  $("form-next").addEventListener("click", function () {
    $("form-error").textContent = "";
    if (photoOn && !state.photoId) show("photo"); else submit();
  });
  $("photo-take").addEventListener("click", takePhoto);
  $("photo-use").addEventListener("click", submit);
  $("photo-skip").addEventListener("click", function () { state.photoId = null; submit(); });
  $("done-ok").addEventListener("click", reset);
  $("message-ok").addEventListener("click", reset);
  $("invite").addEventListener("click", function () { scan("/api/invite/scan", "scan.invite"); });
  $("checkout").addEventListener("click", function () { scan("/api/check-out/scan", "scan.pass"); });
  $("lang").addEventListener("click", function () { lang = lang === "en" ? "zh-CN" : "en"; translate(); });
  ["pointerdown", "keydown", "input"].forEach(function (ev) { document.addEventListener(ev, touch, true); });

  translate();
  reset();
  touch();
})();

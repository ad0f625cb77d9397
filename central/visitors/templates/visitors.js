// The visitor page's two forms: a host's invitation (a QR valid on one day) and,
// for supervisors, the block list. Both talk to the same API a script would use;
// what comes back is put on the page with textContent only, never as HTML.
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  let me = null;

  function fieldLabel(form, name) {
    const input = form && form.elements[name];
    const label = input && input.closest("label");
    return label ? label.firstChild.textContent.trim() : name;
  }

  // FastAPI answers a bad field with a list of {loc, msg}; name the field as the form does.
  function problem(data, status, form) {
    const detail = data && data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail) && detail.length) {
      const names = detail.map(function (d) {
        const loc = Array.isArray(d.loc) ? d.loc : [];
        return loc.length > 1 ? fieldLabel(form, String(loc[loc.length - 1])) : "";
      }).filter(Boolean);
      const which = names.length ? names.join(", ") : String(detail[0].msg || "");
      return "请检查 Please check: " + which;
    }
    if (status === 403) return "没有权限,或页面已过期请刷新 / Not allowed, or the page is stale: reload it";
    return "操作失败,请重试 / That did not work: try again";
  }

  async function api(path, options, form) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body !== undefined) {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET" && me) opts.headers["X-CSRF-Token"] = me.csrf_token;
    const res = await fetch(path, opts);
    if (res.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("signed out");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new Error(problem(data, res.status, form));
    return data;
  }

  // Times in the site's zone, as the rest of the page shows them, whatever the browser's zone.
  function local(iso) {
    const when = new Date(iso);
    if (isNaN(when)) return "";
    const parts = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: $("invite-panel").dataset.tz || undefined, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
      .formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  function show(id, text) {
    const box = $(id);
    box.textContent = text || "";
    box.hidden = !text;
  }

  function values(form) {
    const out = {};
    new FormData(form).forEach(function (value, key) {
      const v = String(value).trim();
      if (v) out[key] = v;
    });
    return out;
  }

  async function fillSites() {
    const preferred = $("invite-panel").dataset.site;
    let sites = [];
    try { sites = (await api("/api/sites")).items; } catch (e) { sites = []; }
    document.querySelectorAll(".site-select").forEach(function (select) {
      select.textContent = "";
      sites.forEach(function (s) {
        const option = document.createElement("option");
        option.value = s.site;
        option.textContent = s.name ? s.site + " " + s.name : s.site;
        option.selected = s.site === preferred;
        select.appendChild(option);
      });
      if (!sites.length) {
        const option = document.createElement("option");
        option.value = "";
        option.textContent = "尚无小区 No site yet";
        select.appendChild(option);
      }
    });
  }

  // ------------------------------------------------------------------ invitations
  async function invite(event) {
    event.preventDefault();
    const form = event.target;
    show("invite-error", "");
    $("invite-card").hidden = true;
    const button = $("invite-go");
    button.disabled = true;  // a double click makes one invitation
    try {
      const made = await api("/api/visitors/invites", { method: "POST", body: values(form) }, form);
      $("invite-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(made.qr_svg);
      $("invite-qr").dataset.qr = made.qr;
      $("invite-name").textContent = made.name;
      $("invite-site").textContent = made.site;
      $("invite-day").textContent = made.day;
      $("invite-card").hidden = false;
      form.elements.name.value = "";
    } catch (e) {
      show("invite-error", e.message);
    } finally {
      button.disabled = false;
    }
  }

  function printInvite() {
    document.body.classList.add("printing-invite");
    window.print();
  }
  window.addEventListener("afterprint", function () { document.body.classList.remove("printing-invite"); });

  // ------------------------------------------------------------------ block list
  function blockSite() { return $("block-form").elements.site.value; }

  async function loadBlocks() {
    const body = $("block-list").tBodies[0];
    const site = blockSite();
    body.textContent = "";
    if (!site) return;
    let items = [];
    try {
      items = (await api("/api/visitors/blocks?site=" + encodeURIComponent(site))).items;
    } catch (e) {
      show("block-error", e.message);
      return;
    }
    items.forEach(function (b) {
      const tr = document.createElement("tr");
      tr.dataset.block = b.id;
      [b.name || "—", b.phone || "", b.reason, b.created_by, local(b.created_at)]
        .forEach(function (text, i) {
          const td = document.createElement("td");
          td.className = ["name", "phone", "reason", "by", "at"][i];
          td.textContent = text;
          tr.appendChild(td);
        });
      const td = document.createElement("td");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "unblock";
      remove.textContent = "移除 Remove";
      remove.addEventListener("click", function () { unblock(b); });
      td.appendChild(remove);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    if (!items.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 6;
      td.textContent = "无 None";
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function pushed(answer) {
    show("block-error", answer.published ? "" : "已保存,但暂未推送到自助机(消息服务器不可用),稍后会再推送 / Saved, but not yet pushed to the kiosks (broker unavailable)");
  }

  async function block(event) {
    event.preventDefault();
    const form = event.target;
    show("block-error", "");
    const body = values(form);
    if (!body.name && !body.phone) {
      show("block-error", "请填写姓名或手机号 / Give a name or a phone number");
      return;
    }
    $("block-go").disabled = true;
    try {
      pushed(await api("/api/visitors/blocks", { method: "POST", body: body }, form));
      ["name", "phone", "reason"].forEach(function (k) { form.elements[k].value = ""; });
      await loadBlocks();
    } catch (e) {
      show("block-error", e.message);
    } finally {
      $("block-go").disabled = false;
    }
  }

  async function unblock(entry) {
    const who = entry.name || entry.phone;
    if (!window.confirm("从黑名单移除 Remove from the block list: " + who + "?")) return;
    try {
      pushed(await api("/api/visitors/blocks/" + encodeURIComponent(entry.id), { method: "DELETE" }));
    } catch (e) {
      show("block-error", e.message);
    }
    await loadBlocks();
  }

  document.addEventListener("DOMContentLoaded", async function () {
    try { me = await api("/api/auth/me"); } catch (e) { return; }
    await fillSites();
    $("invite-form").addEventListener("submit", invite);
    $("invite-print").addEventListener("click", printInvite);
    if ($("block-form")) {
      $("block-form").addEventListener("submit", block);
      $("block-form").elements.site.addEventListener("change", loadBlocks);
      await loadBlocks();
    }
    document.body.dataset.ready = "1";
  });
})();

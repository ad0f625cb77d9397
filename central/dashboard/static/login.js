"use strict";
(function () {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    error.textContent = "";
    const body = { username: document.getElementById("username").value, password: document.getElementById("password").value };
    try {
      const res = await fetch("/api/auth/login", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
      });
      if (res.ok) {
        const me = await res.json();
        if (!localStorage.getItem("gp.lang") && me.language) localStorage.setItem("gp.lang", me.language);
        const next = new URLSearchParams(location.search).get("next");
        location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/dashboard");
        return;
      }
      let detail = GP_I18N.t("login.failed");
      try { const j = await res.json(); if (typeof j.detail === "string") detail = j.detail; } catch (e) { /* keep generic */ }
      error.textContent = detail;
    } catch (e) {
      error.textContent = GP_I18N.t("login.failed");
    }
  });
})();

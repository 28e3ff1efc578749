// Copy buttons: `data-copy-target` names the element whose value or text is copied.
// Times: each `<time data-local-time>` (written in the server's zone, named) is shown in the
// browser's own zone, with that zone's name.
// Passkeys: once the passkey script has registered one, it gets the name typed beside the
// button, the backup codes of a first second factor are shown (once), and the list is redrawn.
// Loaded as a file (the Content-Security-Policy allows no inline script).
"use strict";
(function () {
  function textOf(target) {
    return target.value !== undefined ? target.value : target.innerText.trim();
  }
  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    var text = textOf(target);
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Copy failed"; });
    } else if (target.select) {
      target.select();
      document.execCommand("copy");
      done();
    }
  }
  function localTimes() {
    if (!window.Intl || !Intl.DateTimeFormat) { return; }
    var format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    var times = document.querySelectorAll("time[data-local-time]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      times[i].title = times[i].textContent;
      times[i].textContent = format.format(when);
    }
  }
  function passkeyConfig() {
    var element = document.getElementById("otp_webauthn_config");
    return element ? JSON.parse(element.textContent) : {};
  }
  function post(url, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (key) { body.append(key, fields[key]); });
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": passkeyConfig().csrfToken || "" }
    });
  }
  function showBackupCodes(codes) {
    var box = document.getElementById("passkey-backup-codes");
    var list = document.getElementById("passkey-backup-codes-list");
    if (!box || !list) { return; }
    list.textContent = "";
    codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    box.hidden = false;
  }
  function redrawPasskeys() {
    return fetch("/dashboard/security/", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("passkey-list-area");
        var area = document.getElementById("passkey-list-area");
        if (fresh && area) { area.replaceWith(document.importNode(fresh, true)); localTimes(); }
      });
  }
  function passkeyRegistered(event) {
    var detail = event.detail || {};
    var response = detail.response || {};
    var input = document.getElementById("id_passkey_name");
    var name = input ? input.value.trim() : "";
    var renamed = name && detail.id
      ? post("/dashboard/security/passkeys/" + encodeURIComponent(detail.id) + "/rename/", { name: name })
      : Promise.resolve();
    if (Array.isArray(response.backup_codes) && response.backup_codes.length) {
      showBackupCodes(response.backup_codes);
    }
    renamed.then(function () {
      if (input) { input.value = ""; }
      return redrawPasskeys();
    });
  }
  localTimes();
  document.addEventListener("otp_webauthn.register_complete", passkeyRegistered);
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });
})();

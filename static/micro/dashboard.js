// Copy buttons: `data-copy-target` names the element whose value or text is copied.
// Times: each `<time data-local-time>` (written in the server's zone, named) is shown in the
// browser's own zone, with that zone's name.
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
  localTimes();
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });
})();

// Copy buttons: `data-copy-target` names the element whose value or text is copied.
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
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });
})();

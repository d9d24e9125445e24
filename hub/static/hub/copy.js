// Copy buttons: <button data-copy="ID"> copies the value of the input ID,
// and says so in the button and in [data-copy-status="ID"] if there is one.
// navigator.clipboard needs a secure context, so fall back to a selection.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  var label = button.textContent;
  button.addEventListener("click", function () {
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    function done(ok) {
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Press Ctrl+C (⌘C) to copy.";
      button.textContent = ok ? "Copied" : label;
      setTimeout(function () { button.textContent = label; }, 2000);
    }
    function fallback() {
      input.focus();
      input.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  });
});

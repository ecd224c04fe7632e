// The studio's only script of its own (the CSP forbids inline code): when an htmx request
// is refused (403, 409, 5xx), say so in the status region instead of failing silently.
document.addEventListener("htmx:responseError", function (event) {
  var toast = document.getElementById("toast");
  if (!toast) return;
  var xhr = event.detail.xhr;
  var text = xhr.status + " " + (xhr.statusText || "error");
  var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  var reason = doc.querySelector("p");
  if (reason && reason.textContent) text += ": " + reason.textContent;
  toast.textContent = text;
  toast.classList.add("shown");
});
document.addEventListener("htmx:sendError", function () {
  var toast = document.getElementById("toast");
  if (toast) {
    toast.textContent = "The studio could not be reached; check the connection.";
    toast.classList.add("shown");
  }
});
// A secret shown once: its Copy button puts it on the clipboard (or selects it for Ctrl+C).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-copy") + "-status");
  if (!field) return;
  function say(text) { if (status) status.textContent = text; }
  field.focus();
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(
      function () { say("Copied to the clipboard."); },
      function () { say("Selected: press Ctrl+C (or Cmd+C) to copy."); }
    );
  } else {
    say("Selected: press Ctrl+C (or Cmd+C) to copy.");
  }
});

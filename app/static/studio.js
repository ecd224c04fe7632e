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

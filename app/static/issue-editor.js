// The issue editor: drag an excerpt by its handle within a section or into another
// (SortableJS). The drop is saved by the same POST the keyboard's Up and Down use, with
// the target section and position; the answer replaces the content, so the page shows what
// was stored. Loaded only by the issue page; no inline code (the CSP forbids it).
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
    } catch (error) {
      return "";
    }
  }

  function reloadContent() {
    // A refused drop (403, 409) leaves the list as dragged: show the stored order again.
    var content = document.getElementById("issue-content");
    htmx.ajax("GET", content.getAttribute("data-url"), { target: content, swap: "outerHTML" });
  }

  function saveDrop(event) {
    var item = event.item;
    if (event.from === event.to && event.oldIndex === event.newIndex) return;
    var request = htmx.ajax("POST", item.getAttribute("data-move-url"), {
      source: item,
      target: "#issue-content",
      swap: "outerHTML",
      headers: { "X-CSRF-Token": csrfToken() },
      values: { section_id: event.to.getAttribute("data-section-id"), position: event.newIndex },
    });
    request.then(function () {
      if (document.body.contains(item)) reloadContent(); // not replaced: it was refused
    });
  }

  // An excerpt open as a form would be lost if a drop replaced the content: no dragging then.
  function lockWhileEditing() {
    var editing = document.querySelector("#issue-content li.editing") !== null;
    document.querySelectorAll("ol[data-sortable]").forEach(function (list) {
      if (list.sortable) list.sortable.option("disabled", editing);
    });
  }

  htmx.onLoad(function (root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) return;
    root.querySelectorAll("ol[data-sortable]").forEach(function (list) {
      if (list.sortable) return;
      list.sortable = Sortable.create(list, {
        group: "excerpts",
        handle: ".drag-handle",
        draggable: "li",
        animation: 150,
        // Pointer events rather than the browser's native drag and drop: it behaves the
        // same with a mouse and on touch screens.
        forceFallback: true,
        fallbackOnBody: true,
        emptyInsertThreshold: 24,
        onEnd: saveDrop,
      });
    });
    lockWhileEditing();
  });
  document.addEventListener("htmx:afterSettle", lockWhileEditing);
  // Up, Down, Remove and drops replace the whole content: with a row open as a form (or its
  // framings) elsewhere, ask before its unsaved text goes. The row's own buttons just work.
  document.addEventListener("htmx:confirm", function (event) {
    var open = document.querySelector("#issue-content li.editing");
    var target = event.detail.target;
    if (!open || open.contains(event.detail.elt) || !target || target.id !== "issue-content") {
      return;
    }
    event.preventDefault();
    if (window.confirm("Discard what is open in “" + open.querySelector("h4").textContent.trim() + "”?")) {
      event.detail.issueRequest(false);
    }
  });

  // While it settles, htmx gives an element the old attributes of the one with the same id
  // it replaces (setAttribute): the inline styles SortableJS leaves on the rows (its
  // animation) would then be refused by the CSP. The stored order needs none of them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.closest("#issue-content")) return;
    target.removeAttribute("style");
    target.querySelectorAll("[style]").forEach(function (element) {
      element.removeAttribute("style");
    });
  });
})();

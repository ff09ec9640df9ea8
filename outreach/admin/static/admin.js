/* Progressive enhancement for the admin app, our own and vendored: every page works without it.
   - [data-live-src]: replace an element's text with the text a URL answers, after edits (live counts).
   - [data-sse]: follow a server-sent event stream and fill [data-field] elements from its JSON;
     when it says finished, stop and show the [data-finished] elements.
   - iframe[data-fit]: grow a preview frame to the height of the mail it shows (no inner scrollbar).
   - [data-focus]: move the keyboard focus to the answer of a form (a report that replaced the page). */
(function () {
  "use strict";
  function debounce(fn, ms) { var t; return function () { clearTimeout(t); var a = arguments; t = setTimeout(function () { fn.apply(null, a); }, ms); }; }

  document.querySelectorAll("[data-live-src]").forEach(function (target) {
    var form = target.closest("form") || document;
    var source = target.getAttribute("data-live-src");
    var refresh = debounce(function () {
      var body = new FormData(form.tagName === "FORM" ? form : undefined);
      var csrf = document.querySelector("input[name=csrf]");
      fetch(source, { method: "POST", body: body, credentials: "same-origin",
                      headers: csrf ? { "X-CSRF-Token": csrf.value } : {} })
        .then(function (r) { return r.text(); })
        .then(function (text) { target.innerHTML = text; })
        .catch(function () { target.textContent = "(could not update)"; });
    }, 400);
    form.addEventListener("input", refresh);
  });

  document.querySelectorAll("[data-sse]").forEach(function (box) {
    var source = new EventSource(box.getAttribute("data-sse"));
    source.onmessage = function (event) {
      var data = JSON.parse(event.data);
      Object.keys(data).forEach(function (key) {
        box.querySelectorAll('[data-field="' + key + '"]').forEach(function (el) {
          if (el.tagName === "PROGRESS" || el.tagName === "METER") { el.value = data[key]; }
          else { el.textContent = data[key]; }
        });
      });
      if (data.finished) {
        source.close();
        box.querySelectorAll("[data-finished]").forEach(function (el) { el.hidden = false; });
      }
    };
  });

  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      if (!doc || !doc.documentElement || doc.URL === "about:blank") { return; }
      frame.style.height = "200px";  /* shrink first: a document is never shorter than its frame */
      frame.style.height = (doc.documentElement.scrollHeight + 4) + "px";
    } catch (e) { /* a frame we cannot read keeps its fixed height and scrolls */ }
  }
  document.querySelectorAll("iframe[data-fit]").forEach(function (frame) {
    frame.addEventListener("load", function () { fit(frame); });
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") { fit(frame); }
  });

  var answer = document.querySelector("[data-focus]");
  if (answer) { answer.focus(); }
})();

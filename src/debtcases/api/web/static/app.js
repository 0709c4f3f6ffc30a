// debtcases web UI: popups (<dialog>) and loading a page's form into a popup.
// Everything works without JavaScript too: the links then open the page itself.
(function () {
  "use strict";
  var shared = document.getElementById("fragment-dialog");
  var opener = null;

  function open(dialog, from) {
    opener = from || document.activeElement;
    if (!dialog.open) dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]), textarea, select, button:not(.close)");
    if (first) first.focus();
  }

  // Fields that belong to one choice (the block form's promise to pay) are shown only when
  // it is chosen: data-shown-if="code=promise_to_pay" (data-shown-unless: the opposite).
  // Hidden fields are disabled too, so they are not sent. Without JavaScript every field is
  // shown and the server checks that they fit the choice.
  function syncShown(root) {
    var parts = root.querySelectorAll("[data-shown-if], [data-shown-unless]");
    Array.prototype.forEach.call(parts, function (el) {
      var when = el.hasAttribute("data-shown-if");
      var spec = (el.getAttribute(when ? "data-shown-if" : "data-shown-unless") || "").split("=");
      var scope = el.closest("form") || root;
      var chosen = scope.querySelector('input[name="' + spec[0] + '"]:checked, select[name="' + spec[0] + '"]');
      var matches = !!chosen && chosen.value === spec[1];
      var visible = when ? matches : !matches;
      el.hidden = !visible;
      Array.prototype.forEach.call(el.querySelectorAll("input, select, textarea"), function (f) {
        f.disabled = !visible;
      });
    });
  }

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form) syncShown(form);
  });
  syncShown(document);

  function show(html, from) {
    var body = shared.querySelector(".dialog-body");
    body.innerHTML = html;
    syncShown(body);
    var heading = body.querySelector("h1");
    if (heading) {
      heading.id = heading.id || "fragment-heading";
      shared.setAttribute("aria-labelledby", heading.id);
    }
    open(shared, from);
    // After an answer, focus what needs attention: a field with an error, else the verdict.
    var invalid = body.querySelector("[aria-invalid=true]");
    var verdict = body.querySelector("[data-verdict]");
    if (invalid) invalid.focus();
    else if (verdict) {
      verdict.setAttribute("tabindex", "-1");
      verdict.focus();
    }
  }

  function loadInto(url, from) {
    fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected || !(r.headers.get("content-type") || "").startsWith("text/html")) {
          window.location.href = url;
          return null;
        }
        return r.text();
      })
      .then(function (html) { if (html !== null) show(html, from); })
      .catch(function () { window.location.href = url; });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-dialog-open], [data-dialog-close], a[data-fragment]");
    if (!target) return;
    if (target.hasAttribute("data-dialog-open")) {
      var dialog = document.getElementById(target.getAttribute("data-dialog-open"));
      if (dialog) { event.preventDefault(); open(dialog, target); }
    } else if (target.hasAttribute("data-dialog-close")) {
      var d = target.closest("dialog");
      if (d) { event.preventDefault(); d.close(); }
    } else if (shared) {
      event.preventDefault();
      var menu = target.closest("details");
      if (menu) menu.removeAttribute("open");
      loadInto(target.getAttribute("href"), target);
    }
  });

  // A form inside a popup (the eligibility check, manual admission) answers inside the
  // popup: GET forms load their address, POST forms send their fields (with the CSRF token).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-fragment-form") || !form.closest("dialog")) return;
    event.preventDefault();
    var data = new FormData(form);
    if ((form.getAttribute("method") || "get").toLowerCase() === "post") {
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      fetch(form.getAttribute("action"), {
        method: "POST", body: data, headers: { "X-Fragment": "1" }, credentials: "same-origin"
      })
        .then(function (r) { return r.text(); })
        .then(function (html) { show(html, opener); })
        .catch(function () { form.submit(); });
      return;
    }
    var query = new URLSearchParams(data).toString();
    loadInto(form.getAttribute("action") + "?" + query, opener);
  });

  document.addEventListener("close", function (event) {
    if (event.target.tagName === "DIALOG" && opener && document.contains(opener)) opener.focus();
  }, true);
})();

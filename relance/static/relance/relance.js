/* Relance: light progressive enhancement, no framework, no inline script (the CSP forbids it).
   Every page works without this file; it only saves round trips.

   - <details data-menu>: the menu is open on wide screens, folded on phones.
   - <form data-live="URL" data-live-target="ID">: while the user types, the form is POSTed (with its
     CSRF token) to URL after a short pause and the HTML answer replaces the element ID (which should
     carry aria-live="polite"). Used by the template preview and the campaign audience count.
   - <a data-print>: prints the page.
*/
(function () {
  "use strict";

  function foldMenu() {
    var menu = document.querySelector("details[data-menu]");
    if (!menu) return;
    var narrow = window.matchMedia("(max-width: 50rem)");
    if (narrow.matches) menu.removeAttribute("open");
    narrow.addEventListener("change", function (e) {
      if (e.matches) menu.removeAttribute("open"); else menu.setAttribute("open", "");
    });
  }

  function liveForms() {
    document.querySelectorAll("form[data-live]").forEach(function (form) {
      var target = document.getElementById(form.getAttribute("data-live-target"));
      if (!target) return;
      var timer = null, sent = 0;
      function run() {
        var ticket = ++sent;
        form.setAttribute("aria-busy", "true");
        fetch(form.getAttribute("data-live"), {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: { "X-Requested-With": "fetch" }
        }).then(function (response) {
          return response.ok ? response.text() : null;
        }).then(function (html) {
          if (html !== null && ticket === sent) {  // an older answer never replaces a newer one
            target.innerHTML = html;
            form.dispatchEvent(new CustomEvent("relance:live", { bubbles: true }));
          }
        }).catch(function () { /* the page still works with the button */ })
          .finally(function () { if (ticket === sent) form.removeAttribute("aria-busy"); });
      }
      function later() { clearTimeout(timer); timer = setTimeout(run, 200); }
      form.addEventListener("input", later);
      form.addEventListener("change", later);
    });
  }

  function printLinks() {
    document.querySelectorAll("[data-print]").forEach(function (link) {
      link.addEventListener("click", function (e) { e.preventDefault(); window.print(); });
    });
  }

  function start() { foldMenu(); liveForms(); printLinks(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();

// vbsp-risk offline outbox: outcomes recorded without a connection wait on the device
// (localStorage) and are sent when it returns. Each outcome form gets a random submission_id
// when the page opens; the server stores it with the outcome, so a resend (an answer lost on a
// bad line, a second tap) never records twice. Also registers the service worker (/ui/sw.js)
// that keeps the plan pages and this site's scripts and styles for use offline, and clears its
// copies on log out. No inline script and no other host: the pages' CSP holds.
(function () {
  "use strict";
  var KEY = "vbsp-outbox-v1";
  var busy = false;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY)) || []; } catch (e) { return []; }
  }
  function store(items) { window.localStorage.setItem(KEY, JSON.stringify(items)); }
  function newKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function who() {
    var node = document.querySelector(".who");
    return node ? node.textContent.trim() : "";
  }
  function panel() { return document.getElementById("outbox"); }

  function render(note) {
    var box = panel();
    if (!box) { return; }
    var mine = load().filter(function (i) { return i.who === who(); });
    box.querySelector("[data-outbox-count]").textContent = String(mine.length);
    var text = mine.length ? box.getAttribute("data-waiting") : "";
    if (!navigator.onLine) { text += " " + box.getAttribute("data-offline"); }
    box.querySelector("[data-outbox-text]").textContent = (note ? note + " " : "") + text;
    var list = box.querySelector("[data-outbox-list]");
    list.textContent = "";
    mine.forEach(function (i) {
      var li = document.createElement("li");
      var id = document.createElement("span");  // a household id: a name, not words
      id.setAttribute("translate", "no");
      id.textContent = i.label;
      li.appendChild(id);
      li.appendChild(document.createTextNode(" · " + new Date(i.at).toLocaleString(document.documentElement.lang)));
      li.setAttribute("data-outbox-item", i.key);
      list.appendChild(li);
    });
    box.hidden = !(mine.length || note || !navigator.onLine);
    mine.forEach(markWaiting);
  }

  function markWaiting(item) {
    var li = document.getElementById("v-" + item.visit);
    var box = panel();
    if (!li || !box) { return; }
    var p = li.querySelector("[data-testid=outcome-waiting]");
    if (!p) {
      p = document.createElement("p");
      p.className = "outcome-waiting";
      p.setAttribute("data-testid", "outcome-waiting");
      li.insertBefore(p, li.querySelector("details"));
    }
    p.textContent = box.getAttribute("data-queued") + ": " + item.summary;
    var details = li.querySelector("details");
    if (details) { details.open = false; }
  }

  // The form's CSRF token is queued with it; a later page (after signing in again: a new session,
  // a new token) sends it with its own fresh token instead.
  function withFreshToken(body) {
    var meta = document.querySelector("meta[name=csrf-token]");
    if (!meta || !meta.content) { return body; }
    var params = new URLSearchParams(body);
    params.set("csrf", meta.content);
    return params.toString();
  }

  // "sent", "offline" (keep), "signin" (keep), "retry" (keep) or "failed" (the server refused).
  function send(item) {
    return window.fetch(item.action, {
      method: "POST", body: withFreshToken(item.body), credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (resp) {
      if (resp.url.indexOf("/ui/login") >= 0) { return { state: "signin" }; }
      // a token of another session (signed in again elsewhere): kept for a fresh page's token
      if (resp.headers.get("X-Form-Refused") === "csrf") { return { state: "signin" }; }
      if (resp.ok) { return { state: "sent", url: resp.url }; }
      return { state: resp.status >= 500 || resp.status === 429 ? "retry" : "failed" };
    }, function () { return { state: "offline" }; });
  }

  function flush() {
    var mine = load().filter(function (i) { return i.who === who(); });
    if (busy || !mine.length || !navigator.onLine) { render(); return; }
    busy = true;
    var sent = 0, failed = [], signin = false;
    var chain = Promise.resolve();
    mine.forEach(function (item) {
      chain = chain.then(function () {
        return send(item).then(function (r) {
          if (r.state === "signin") { signin = true; }
          if (r.state === "sent" || r.state === "failed") {
            store(load().filter(function (i) { return i.key !== item.key; }));
            if (r.state === "sent") { sent += 1; } else { failed.push(item.label); }
          }
        });
      });
    });
    chain.then(function () {
      busy = false;
      var box = panel();
      var note = "";
      if (box && signin) { note = box.getAttribute("data-signin"); }
      if (box && failed.length) { note += " " + box.getAttribute("data-failed") + " " + failed.join(", "); }
      if (box && sent && !note) { note = box.getAttribute("data-sent"); }
      render(note);
      if (sent && !failed.length && !signin && !load().length) { window.location.reload(); }
    });
  }

  function summary(form) {
    var sel = form.querySelector("select[name=use_of_funds]");
    return sel && sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex].text : "";
  }

  function prepare(form) {
    var input = form.querySelector("input[name=submission_id]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "submission_id";
      form.appendChild(input);
    }
    input.value = newKey();
    form.addEventListener("submit", function (ev) {
      if (ev.defaultPrevented) { return; }  // another check (app.js) stopped this submission
      ev.preventDefault();
      var li = form.closest("li.visit");
      var hh = li ? li.querySelector(".hh") : null;
      var item = {
        key: input.value, action: new URL(form.action, window.location.href).pathname,
        body: new URLSearchParams(new FormData(form)).toString(), who: who(),
        visit: li ? li.id.slice(2) : "", label: hh ? hh.textContent.trim() : input.value,
        summary: summary(form), at: Date.now()
      };
      var queue = function () {  // a later edit of this visit replaces it, under a new key
        store(load().filter(function (i) { return i.action !== item.action; }).concat([item]));
        input.value = newKey();
        render();
      };
      if (!navigator.onLine) { queue(); return; }
      send(item).then(function (r) {
        if (r.state === "sent") { window.location.assign(r.url); }
        else if (r.state === "offline" || r.state === "retry") { queue(); }
        else { HTMLFormElement.prototype.submit.call(form); }  // the server's own error page
      });
    });
  }

  function forgetOnLogout(form) {
    form.addEventListener("submit", function () {
      if (window.caches) {
        window.caches.keys().then(function (keys) { keys.forEach(function (k) { window.caches.delete(k); }); });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if ("serviceWorker" in navigator && window.isSecureContext) {
      navigator.serviceWorker.register("/ui/sw.js", { scope: "/ui/" }).catch(function () {});
    }
    document.querySelectorAll("form.outcome").forEach(prepare);
    document.querySelectorAll("form[action='/ui/logout']").forEach(forgetOnLogout);
    var button = panel() && panel().querySelector("[data-outbox-send]");
    if (button) { button.addEventListener("click", flush); }
    window.addEventListener("online", flush);
    window.addEventListener("offline", function () { render(); });
    flush();
  });
})();

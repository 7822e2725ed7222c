// vbsp-risk service worker (scope /ui/): keeps the visit plans and this site's scripts and
// styles so an inspector who opened today's plan can still read it and record outcomes without
// a connection (the outcomes wait in outbox.js). Plan pages: network first, the saved copy when
// offline. Styles and scripts: the saved copy first, refreshed in the background. Nothing else
// is kept, and outbox.js deletes every copy when the user logs out.
"use strict";
var VERSION = "vbsp-offline-1";
var PAGES = VERSION + "-pages";
var ASSETS = VERSION + "-assets";
var PRECACHE = ["/static/app.css", "/static/offline.css", "/static/app.js", "/static/outbox.js"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(ASSETS).then(function (c) { return c.addAll(PRECACHE); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf(VERSION) !== 0; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function isPlanPage(url) {
  return url.pathname === "/ui/plans" || url.pathname.indexOf("/ui/plans/") === 0;
}

function pageKey(url) { return url.origin + url.pathname; }

function networkFirst(request, url) {
  return fetch(request).then(function (resp) {
    if (resp.ok && resp.type === "basic" && !resp.redirected) {
      var copy = resp.clone();
      caches.open(PAGES).then(function (c) { return c.put(pageKey(url), copy); });
    }
    return resp;
  }).catch(function () {
    return caches.open(PAGES).then(function (c) { return c.match(pageKey(url)); })
      .then(function (hit) {
        return hit || new Response("Offline / Không có mạng", {
          status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" }
        });
      });
  });
}

function savedFirst(request) {
  return caches.open(ASSETS).then(function (c) {
    return c.match(request).then(function (hit) {
      var fresh = fetch(request).then(function (resp) {
        if (resp.ok) { c.put(request, resp.clone()); }
        return resp;
      });
      if (hit) { fresh.catch(function () {}); return hit; }
      return fresh;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (isPlanPage(url)) { event.respondWith(networkFirst(request, url)); return; }
  if (url.pathname.indexOf("/static/") === 0 && url.pathname.indexOf("/static/docs/") !== 0) {
    event.respondWith(savedFirst(request));
  }
});

// Starts Swagger UI on /docs and ReDoc on /redoc from the service's own copies (no CDN, no
// inline script: the pages' Content-Security-Policy allows scripts from this site only). ReDoc
// writes its styles into <style> elements: they get the nonce the server put in the page's CSP.
// Its search runs in a worker made from a blob: URL, which the CSP refuses, so it is off.
(function () {
  "use strict";
  var box = document.getElementById("swagger-ui");
  if (box && typeof window.SwaggerUIBundle === "function") {
    window.ui = window.SwaggerUIBundle({
      url: box.getAttribute("data-openapi-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  }
  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(redoc.getAttribute("data-openapi-url"),
      { nonce: redoc.getAttribute("data-nonce"), disableSearch: true }, redoc);
  }
})();

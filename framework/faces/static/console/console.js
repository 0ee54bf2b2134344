// The console's only script (the CSP allows scripts from this server alone, none inline):
// refreshes the camera thumbnails every minute so the grid stays live without reloading the page.
"use strict";
(function () {
  const REFRESH_MS = 60000;
  function refresh() {
    document.querySelectorAll("img.live").forEach(function (img) {
      const url = new URL(img.src, window.location.href);
      url.searchParams.set("at", Date.now().toString());
      img.src = url.toString();
    });
  }
  if (document.querySelector("img.live")) {
    window.setInterval(refresh, REFRESH_MS);
  }
})();

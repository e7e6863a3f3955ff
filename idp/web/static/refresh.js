// Simulator pages waiting for a request: reload every few seconds (data-refresh on the
// script tag), as the page's <noscript> meta refresh does without JavaScript. A script
// rather than a bare meta refresh, so assistive technologies are not cut off (WCAG 2.2.1).
(function () {
  var script = document.currentScript;
  var seconds = parseInt(script.getAttribute("data-refresh"), 10) || 3;
  setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();

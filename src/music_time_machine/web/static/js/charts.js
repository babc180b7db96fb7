/* Draws every <canvas data-chart='{…Chart.js config…}'> on the page with the vendored Chart.js.
   A file, not an inline script: the Content-Security-Policy allows scripts from /static only. */
(function () {
  "use strict";
  function draw(canvas) {
    var config;
    try { config = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    config.options.animation = false;
    if (canvas.chart) { canvas.chart.destroy(); }
    canvas.chart = new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "true");
  }
  function drawAll() {
    if (!window.Chart) { return; }
    var canvases = document.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) { draw(canvases[i]); }
    document.documentElement.setAttribute("data-charts-drawn", String(canvases.length));
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();

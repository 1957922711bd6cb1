/* The overview's chart is server-rendered SVG. Chart.js (210 KB) is fetched only when asked for,
   never on a connection that asked to save data. Re-run after htmx swaps the overview. */
(function () {
  function setup() {
    var button = document.getElementById("interactive-chart");
    var dataNode = document.getElementById("revenue-data");
    if (!button || !dataNode) return;
    var saveData = navigator.connection && navigator.connection.saveData;
    button.hidden = !!saveData;
    button.onclick = function () {
      button.disabled = true;
      load(button.dataset.script, function () { draw(JSON.parse(dataNode.textContent)); button.hidden = true; });
    };
  }
  function load(src, done) {
    if (window.Chart) return done();
    var script = document.createElement("script");
    script.src = src;
    script.onload = done;
    document.head.appendChild(script);
  }
  function draw(data) {
    var canvas = document.getElementById("revenue-canvas");
    canvas.hidden = false;
    var figure = canvas.parentNode.querySelector("figure");
    if (figure) figure.hidden = true;
    var money = new Intl.NumberFormat(document.documentElement.lang === "hi" ? "hi-IN" : "en-IN",
      {style: "currency", currency: data.currency});
    new window.Chart(canvas, {
      type: "bar",
      data: {labels: data.labels, datasets: data.datasets},
      options: {
        responsive: true,
        scales: {x: {stacked: true}, y: {stacked: true, ticks: {callback: function (v) { return money.format(v); }}}},
        plugins: {tooltip: {callbacks: {label: function (c) { return c.dataset.label + ": " + money.format(c.parsed.y); }}}}
      }
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();

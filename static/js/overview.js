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
    var locale = document.documentElement.lang === "hi" ? "hi-IN" : "en-IN";
    var money = new Intl.NumberFormat(locale, {style: "currency", currency: data.currency});
    var day = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short", timeZone: "UTC"});
    var labels = data.labels.map(function (iso) { return day.format(new Date(iso + "T00:00:00Z")); });
    new window.Chart(canvas, {
      type: "bar",
      data: {labels: labels, datasets: data.datasets},
      options: {
        responsive: true,
        aspectRatio: window.innerWidth < 600 ? 1.2 : 2.2,
        scales: {x: {stacked: true}, y: {stacked: true, ticks: {callback: function (v) { return money.format(v); }}}},
        plugins: {tooltip: {callbacks: {label: function (c) { return c.dataset.label + ": " + money.format(c.parsed.y); }}}}
      }
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();

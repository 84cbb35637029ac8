// Draws the dashboard's charts from the JSON the page carries (no inline script: the CSP
// forbids it). Every chart has its table on the page, so nothing is lost without JavaScript.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = { blue: "#0b6bcb", green: "#1f7a3a", orange: "#c05621", red: "#c81e1e", grey: "#9aa5b1" };
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;

  function bar(id, series, colour) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    canvas.chart = new Chart(canvas, {
      type: "bar",
      data: { labels: series.labels, datasets: [{ label: series.name, data: series.values, backgroundColor: colour }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  function flat(value, length) {
    var line = [];
    for (var i = 0; i < length; i += 1) { line.push(value); }
    return line;
  }

  var weeks = data.weeks;
  var canvas = document.getElementById("chart-weeks");
  if (canvas) {
    var n = weeks.labels.length;
    canvas.chart = new Chart(canvas, {
      data: {
        labels: weeks.labels,
        datasets: [
          { type: "bar", label: weeks.names.received, data: weeks.received, backgroundColor: "#d9e2ec", yAxisID: "count" },
          { type: "bar", label: weeks.names.breaches, data: weeks.breaches, backgroundColor: colours.red, yAxisID: "count" },
          { type: "line", label: weeks.names.response, data: weeks.response, borderColor: colours.blue,
            backgroundColor: colours.blue, spanGaps: true, yAxisID: "percent" },
          { type: "line", label: weeks.names.satisfaction, data: weeks.satisfaction, borderColor: colours.green,
            backgroundColor: colours.green, spanGaps: true, yAxisID: "percent" },
          { type: "line", label: weeks.names.target + " 90%", data: flat(weeks.targets.satisfaction, n),
            borderColor: colours.green, borderDash: [6, 4], pointRadius: 0, yAxisID: "percent" }
        ]
      },
      options: {
        scales: {
          count: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
          percent: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                     ticks: { callback: function (v) { return v + "%"; } } }
        }
      }
    });
  }
  bar("chart-scores", data.scores, colours.blue);
  bar("chart-feedback", data.feedback, colours.orange);
  bar("chart-ages", data.ages, colours.grey);
}());

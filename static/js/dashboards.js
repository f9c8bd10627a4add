/* Attaché dashboards: Chart.js charts drawn from JSON the page carries (json_script).
 * The page's CSP allows scripts from our origin only, so everything lives here.
 *
 * <canvas data-chart="ID"> reads the JSON in <script id="ID" type="application/json">:
 *   kind "stacked": one dataset per area, stacked bars per period;
 *   kind "comparison": two periods side by side, horizontal bars per relationship.
 * Each dataset carries "intensity", "count" and "links" (one per bar); clicking a bar
 * opens its link, the activity list whose total is the bar's count.
 * Buttons in [data-metric-for="CANVAS_ID"] switch between intensity and count.
 * Elements with data-align-with="CANVAS_ID" are aligned with the chart's plotting area
 * (the accreditation timeline shares the chart's time axis).
 */
(function () {
  "use strict";
  if (typeof Chart === "undefined") {
    return;
  }

  var METRIC_TITLES = { intensity: "Intensity", count: "Conducted activities" };
  var charts = {};

  var alignPlugin = {
    id: "attacheAlign",
    afterLayout: function (chart) {
      var area = chart.chartArea;
      var canvas = chart.canvas;
      canvas.dataset.chartLeft = String(Math.round(area.left));
      canvas.dataset.chartRight = String(Math.round(area.right));
      canvas.dataset.chartTop = String(Math.round(area.top));
      canvas.dataset.chartBottom = String(Math.round(area.bottom));
      document.querySelectorAll('[data-align-with="' + canvas.id + '"]').forEach(function (element) {
        element.style.marginLeft = area.left + "px";
        element.style.width = area.right - area.left + "px";
      });
    },
    afterRender: function (chart) {
      chart.canvas.dataset.rendered = chart.canvas.dataset.metric || "intensity";
    },
  };

  function datasets(data, metric) {
    return data.datasets.map(function (source) {
      return {
        label: source.label,
        data: source[metric],
        backgroundColor: source.colour,
        borderColor: source.colour,
        links: source.links,
        intensity: source.intensity,
        count: source.count,
      };
    });
  }

  function tooltipLabel(context) {
    var dataset = context.dataset;
    var index = context.dataIndex;
    var count = dataset.count[index];
    return (
      dataset.label + ": " + count + " conducted activit" + (count === 1 ? "y" : "ies") +
      ", intensity " + Number(dataset.intensity[index]).toFixed(2)
    );
  }

  function config(data, metric) {
    var horizontal = data.kind === "comparison";
    var valueAxis = horizontal ? "x" : "y";
    var categoryAxis = horizontal ? "y" : "x";
    var scales = {};
    scales[categoryAxis] = { stacked: !horizontal, ticks: { autoSkip: true } };
    scales[valueAxis] = {
      stacked: !horizontal,
      beginAtZero: true,
      title: { display: true, text: METRIC_TITLES[metric] },
      ticks: metric === "count" ? { precision: 0 } : {},
    };
    return {
      type: "bar",
      data: { labels: data.labels, datasets: datasets(data, metric) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "nearest", intersect: true },
        scales: scales,
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: tooltipLabel,
              footer: function () {
                return "Click for these activities";
              },
            },
          },
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements, chart) {
          if (!elements.length) {
            return;
          }
          var element = elements[0];
          var link = chart.data.datasets[element.datasetIndex].links[element.index];
          if (link) {
            window.location.assign(link);
          }
        },
      },
      plugins: [alignPlugin],
    };
  }

  function setMetric(canvasId, metric) {
    var chart = charts[canvasId];
    if (!chart || !METRIC_TITLES[metric]) {
      return;
    }
    chart.canvas.dataset.metric = metric;
    chart.data.datasets.forEach(function (dataset) {
      dataset.data = dataset[metric];
    });
    var valueAxis = chart.options.indexAxis === "y" ? "x" : "y";
    chart.options.scales[valueAxis].title.text = METRIC_TITLES[metric];
    chart.options.scales[valueAxis].ticks = metric === "count" ? { precision: 0 } : {};
    chart.update();
    document.querySelectorAll('[data-metric-for="' + canvasId + '"] [data-metric]').forEach(function (button) {
      var active = button.dataset.metric === metric;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    canvas.dataset.metric = "intensity";
    charts[canvas.id] = new Chart(canvas, config(data, "intensity"));
  });

  document.querySelectorAll("[data-metric-for] [data-metric]").forEach(function (button) {
    button.addEventListener("click", function () {
      setMetric(button.closest("[data-metric-for]").dataset.metricFor, button.dataset.metric);
    });
  });
})();

/* The dashboard's charts, drawn with the vendored Chart.js from the page's own data. */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function drawDaily(canvas, data) {
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.days,
        datasets: data.channels.map(function (c) {
          return { label: c.label, data: c.data, backgroundColor: c.colour, stack: "messages" };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function drawProviders(canvas, data) {
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.providers.map(function (p) { return p.label; }),
        datasets: [{
          label: "Delivered (%)",
          data: data.providers.map(function (p) { return p.rate; }),
          backgroundColor: "#25a35a",
        }],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } } },
        plugins: { legend: { display: false } },
      },
    });
  }

  function init() {
    var select = document.getElementById("dash-tenant");
    if (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    }
    var source = document.getElementById("dashboard-data");
    if (!source || !window.Chart) {
      return;
    }
    var data = JSON.parse(source.textContent);
    window.Chart.defaults.color = cssVar("--body-quiet-color", "#666");
    window.Chart.defaults.borderColor = cssVar("--hairline-color", "#e8e8e8");
    var daily = document.getElementById("chart-daily");
    if (daily) {
      drawDaily(daily, data);
    }
    var providers = document.getElementById("chart-providers");
    if (providers && data.providers.length) {
      providers.parentNode.style.height = Math.max(120, 40 + 32 * data.providers.length) + "px";
      drawProviders(providers, data);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

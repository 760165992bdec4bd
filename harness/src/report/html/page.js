// report.html's charts and tables, drawn with uPlot from the JSON in #report-data.
// drawReport(data) may be called again with a newer object of the same shape (a live
// page pushes one every second): tables are replaced, charts keep their zoom and take
// the new data. Hover a chart for its values in the legend, drag to zoom, double-click
// to zoom out, click a legend entry to hide or show its series.
(function () {
  'use strict';
  var HEIGHT = 280;
  var charts = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fmt(v, unit) {
    if (v == null || Number.isNaN(v)) return '-';
    var a = Math.abs(v);
    var s = a >= 1000 || Number.isInteger(v) ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
    if (!unit) return s;
    return unit.charAt(0) === '/' || unit === '%' ? s + unit : s + ' ' + unit;
  }

  function xText(p, v) {
    if (v == null) return '-';
    for (var i = 0; i < (p.x_ticks || []).length; i++) {
      if (Math.abs(p.x_ticks[i][0] - v) < 1e-9) return p.x_ticks[i][1];
    }
    if (p.x_unit === 'percentile') return 'p' + +(100 * (1 - Math.pow(10, -v))).toPrecision(6);
    return fmt(v, p.x_unit === 'percentile' ? '' : p.x_unit);
  }

  function table(t) {
    var box = el('section', 'card');
    box.id = t.id + '-card';
    box.appendChild(el('h3', null, t.title));
    var wide = el('div', 'wide');
    var tab = el('table');
    tab.id = t.id;
    var head = el('tr');
    t.head.forEach(function (h) { head.appendChild(el('th', null, h)); });
    tab.appendChild(head);
    t.rows.forEach(function (row) {
      var tr = el('tr');
      row.forEach(function (c, i) { tr.appendChild(el(i === 0 ? 'th' : 'td', i === 0 ? null : 'n', c)); });
      tab.appendChild(tr);
    });
    wide.appendChild(tab);
    box.appendChild(wide);
    return box;
  }

  function seriesOpts(p, line) {
    var s = {
      label: line.label,
      stroke: line.color,
      width: 2,
      spanGaps: true,
      value: function (u, v) { return fmt(v, p.y_unit); },
      points: { show: p.x.length < 40 && line.style !== 'bars', size: 5, fill: line.color },
    };
    if (line.style === 'dash') s.dash = [6, 4];
    if (line.style === 'area') s.fill = line.color + '33';
    if (line.style === 'bars') {
      s.paths = uPlot.paths.bars({ size: [0.85, 80] });
      s.fill = line.color + 'aa';
      s.width = 1;
    }
    if (line.style === 'step') s.paths = uPlot.paths.stepped({ align: 0 });
    return s;
  }

  function options(p, width) {
    var bars = p.series.some(function (s) { return s.style === 'bars'; });
    var ticks = p.x_ticks && p.x_ticks.length ? p.x_ticks.map(function (t) { return t[0]; }) : null;
    var xAxis = { label: p.x_label, values: function (u, splits) { return splits.map(function (v) { return v == null ? null : xText(p, v); }); } };
    if (ticks) xAxis.splits = function () { return ticks; };
    var x = { time: false, distr: p.x_log ? 3 : 1 };
    if (bars && !p.x_log) x.range = function (u, min, max) { return [min - 0.5, max + 0.5]; };
    if (p.x_unit === 's') x.range = function (u, min, max) { return [Math.min(0, min), max > 0 ? max : 1]; };
    return {
      width: width,
      height: HEIGHT,
      scales: { x: x, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
      axes: [xAxis, { label: p.y_label, size: 64, values: function (u, splits) { return splits.map(function (v) { return v == null ? null : fmt(v); }); } }],
      series: [{ label: p.x_label, value: function (u, v) { return xText(p, v); } }].concat(p.series.map(function (s) { return seriesOpts(p, s); })),
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
    };
  }

  function panelData(p) {
    return [p.x].concat(p.series.map(function (s) { return s.values.map(function (v) { return v == null ? null : v; }); }));
  }

  function shape(p) {
    return JSON.stringify([p.left_out || null, p.series.map(function (s) { return [s.label, s.style]; }), p.x_ticks || []]);
  }

  // Whether the reader has zoomed in on part of the x axis (then new data keeps it).
  function zoomed(plot) {
    var x = plot.data[0];
    return x.length > 1 && (plot.scales.x.min > x[0] || plot.scales.x.max < x[x.length - 1]);
  }

  // Draw panel p (or its left-out line), or give its chart p's data; true when drawn anew.
  function chart(p, grid, leftOut) {
    var old = charts[p.id];
    if (old && old.shape === shape(p)) {
      if (old.plot) old.plot.setData(panelData(p), !zoomed(old.plot));
      return false;
    }
    if (old) {
      if (old.plot) old.plot.destroy();
      old.node.remove();
    }
    if (p.left_out) {
      var li = el('li', 'left-out');
      li.id = 'panel-' + p.id;
      li.appendChild(el('b', null, p.title));
      li.appendChild(document.createTextNode(': left out because ' + p.left_out + '.'));
      leftOut.appendChild(li);
      charts[p.id] = { shape: shape(p), node: li, plot: null };
      return true;
    }
    var box = el('section', 'panel');
    box.id = 'panel-' + p.id;
    box.appendChild(el('h3', null, p.title));
    var host = el('div', 'plot');
    box.appendChild(host);
    grid.appendChild(box);
    var plot = new uPlot(options(p, Math.max(200, host.clientWidth)), panelData(p), host);
    plot.root.id = p.id;
    new ResizeObserver(function () {
      var w = Math.max(200, host.clientWidth);
      if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: HEIGHT });
    }).observe(host);
    charts[p.id] = { shape: shape(p), node: box, plot: plot };
    return true;
  }

  window.drawReport = function (data) {
    var tables = document.getElementById('tables');
    tables.replaceChildren.apply(tables, data.tables.map(table));
    var grid = document.getElementById('panels');
    var leftOut = document.getElementById('left-out');
    var anew = data.panels.map(function (p) { return chart(p, grid, leftOut); });
    if (anew.some(Boolean)) {
      // A panel drawn anew (errors appeared in a live run) goes back to its place.
      data.panels.forEach(function (p) { charts[p.id].node.parentNode.appendChild(charts[p.id].node); });
    }
  };

  window.drawReport(JSON.parse(document.getElementById('report-data').textContent));
})();

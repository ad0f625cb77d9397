// A 24-hour occupancy chart in inline SVG, drawn without any library.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs) {
    const node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }
  // points: [[isoTime, occupied], ...]; capacity may be null.
  function draw(svg, points, capacity, now) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = 480, H = 140, L = 34, R = 6, T = 8, B = 20;
    const end = now || Date.now(), start = end - 24 * 3600 * 1000;
    let top = capacity || 0;
    points.forEach(function (p) { if (p[1] > top) top = p[1]; });
    top = Math.max(10, Math.ceil(top * 1.1));
    const x = function (ms) { return L + (W - L - R) * (ms - start) / (end - start); };
    const y = function (v) { return T + (H - T - B) * (1 - v / top); };
    svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "chart-bg" }));
    for (let h = 0; h <= 24; h += 6) {
      const gx = x(start + h * 3600 * 1000);
      svg.appendChild(el("line", { x1: gx, y1: T, x2: gx, y2: H - B, class: "chart-grid" }));
      const label = el("text", { x: gx, y: H - 5, class: "chart-label", "text-anchor": "middle" });
      label.textContent = h === 24 ? "now" : "-" + (24 - h) + "h";
      svg.appendChild(label);
    }
    [0, top].forEach(function (v) {
      const label = el("text", { x: L - 4, y: y(v) + 4, class: "chart-label", "text-anchor": "end" });
      label.textContent = String(v);
      svg.appendChild(label);
    });
    if (capacity) {
      svg.appendChild(el("line", { x1: L, y1: y(capacity), x2: W - R, y2: y(capacity), class: "chart-capacity" }));
    }
    const pts = points
      .map(function (p) { return [Date.parse(p[0]), p[1]]; })
      .filter(function (p) { return p[0] >= start && p[0] <= end; });
    if (pts.length) {
      const d = pts.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); });
      d.push(x(end).toFixed(1) + "," + y(pts[pts.length - 1][1]).toFixed(1));
      svg.appendChild(el("polyline", { points: d.join(" "), class: "chart-line" }));
    }
  }
  window.GP_CHART = { draw: draw };
})();

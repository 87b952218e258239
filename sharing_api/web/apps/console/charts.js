// Grouped bar charts as inline SVG built with the DOM (no chart library): one group per day,
// one bar per series. Every bar carries data-series, data-day and data-value, and a <title>
// tooltip, so the numbers can be read back by people and by tests.
const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#3b6ea5", "#d9822b", "#4c9a5f", "#b3261e", "#7c5cbf", "#2b8a99",
  "#8a6d3b", "#c2528b"];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// title: string; days: ["2026-11-22", ...] (or months: any x keys); series: [{ key, name,
// values: [n per day] }]; xLabel: the axis text of a key; empty: the text when no data.
export function groupedBars({
  id, title, days, series, xLabel = (day) => day.slice(5), empty = "(none)",
}) {
  const width = 520;
  const left = 34;
  const top = 28;
  const plotH = 150;
  const legendRowH = 16;
  const legendRows = Math.ceil(series.length / 2);
  const height = top + plotH + 40 + legendRows * legendRowH;
  const svg = el("svg", {
    xmlns: NS, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title,
    "data-chart": id,
  });
  svg.append(el("text", { x: 0, y: 16, "font-weight": "bold", "font-size": 14 }, title));
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const plotW = width - left - 8;
  // y axis: 0 and max
  svg.append(el("line", { x1: left, y1: top, x2: left, y2: top + plotH, stroke: "#999" }));
  svg.append(el("line", { x1: left, y1: top + plotH, x2: width - 8, y2: top + plotH, stroke: "#999" }));
  svg.append(el("text", { x: left - 4, y: top + plotH, "text-anchor": "end", "font-size": 10 }, "0"));
  svg.append(el("text", { x: left - 4, y: top + 8, "text-anchor": "end", "font-size": 10 }, String(max)));
  if (days.length === 0) {
    svg.append(el("text", { x: left + 10, y: top + plotH / 2, "font-size": 12, class: "empty" }, empty));
  }
  const groupW = days.length ? plotW / days.length : plotW;
  const barW = Math.max(2, Math.min(28, (groupW - 8) / Math.max(1, series.length)));
  days.forEach((day, d) => {
    const gx = left + d * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, i) => {
      const value = s.values[d] || 0;
      if (value <= 0) return;
      const h = (plotH * value) / max;
      const rect = el("rect", {
        class: "bar", x: gx + i * barW, y: top + plotH - h, width: barW - 1, height: h,
        fill: s.color || PALETTE[i % PALETTE.length],
        "data-series": s.key, "data-day": day, "data-value": value,
      });
      rect.append(el("title", {}, `${s.name}, ${day}: ${value}`));
      svg.append(rect);
      svg.append(el("text", {
        x: gx + i * barW + barW / 2, y: top + plotH - h - 2, "text-anchor": "middle",
        "font-size": 10,
      }, String(value)));
    });
    svg.append(el("text", {
      x: left + d * groupW + groupW / 2, y: top + plotH + 14, "text-anchor": "middle",
      "font-size": 10, class: "day",
    }, xLabel(day)));
  });
  series.forEach((s, i) => {
    const x = (i % 2) * (width / 2);
    const y = top + plotH + 26 + Math.floor(i / 2) * legendRowH;
    svg.append(el("rect", { x, y, width: 10, height: 10, fill: s.color || PALETTE[i % PALETTE.length] }));
    svg.append(el("text", { x: x + 14, y: y + 9, "font-size": 11, class: "legend" }, s.name));
  });
  return svg;
}

// Pivot rows [{day, <key>: n}] into days and one series per key.
export function pivot(rows, keys) {
  const days = rows.map((r) => r.day);
  return {
    days,
    series: keys.map(({ key, name, color }) => ({ key, name, color, values: rows.map((r) => r[key] || 0) })),
  };
}

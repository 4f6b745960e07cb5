// SVG charts shared by the pages (/reports/, /public/): drawn from numbers, every
// label put in as text, each chart an <svg role="img"> with a <title> for screen readers.
import { el, svg, t } from "./common.js";

export const pct = (v) => (v === null || v === undefined ? "—" : `${(Number(v) * 100).toFixed(1)}%`);
export const num = (v) => (v === null || v === undefined ? "—" : String(Math.round(Number(v) * 100) / 100));

export function barChart(values, labels, title, { width = 640, height = 230, colour = "#0b5cad" } = {}) {
  const max = Math.max(1, ...values);
  const pad = { l: 40, b: 40, t: 16, r: 8 };
  const w = (width - pad.l - pad.r) / (values.length || 1);
  const h = height - pad.t - pad.b;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" });
  root.append(svg("title", {}, title));
  // Counts get whole-number ticks only: no "0.5 cases" on the axis.
  const whole = values.every(Number.isInteger);
  const ticks = [...new Set(whole ? [0, Math.round(max / 2), max] : [0, max / 2, max])];
  for (const tick of ticks) {
    const y = pad.t + h - (tick / max) * h;
    root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, stroke: tick ? "#e3e8ef" : "#889" }));
    root.append(svg("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round(tick * 10) / 10)));
  }
  values.forEach((v, i) => {
    const bh = (v / max) * h;
    const x = pad.l + i * w + w * 0.15;
    const bar = svg("rect", { x: x.toFixed(1), y: (pad.t + h - bh).toFixed(1), width: (w * 0.7).toFixed(1), height: bh.toFixed(1), fill: colour, class: "bar", "data-value": v });
    bar.append(svg("title", {}, `${labels[i]}: ${v}`));
    root.append(bar);
    if (v) root.append(svg("text", { x: (x + w * 0.35).toFixed(1), y: (pad.t + h - bh - 4).toFixed(1), "text-anchor": "middle", class: "value" }, String(v)));
    root.append(svg("text", { x: (x + w * 0.35).toFixed(1), y: height - pad.b + 16, "text-anchor": "middle", class: "axis" }, labels[i]));
  });
  return root;
}

// rows: [[label, value, text]]; value scaled against max; colour by good/bad.
export function hbarChart(rows, title, { width = 640, max = 1, lowerBetter = false, fmt = pct } = {}) {
  if (!rows.length) return el("p", { class: "muted" }, t("no_data"));
  const rowH = 28;
  const left = 200;
  const right = 70;
  const height = rows.length * rowH + 12;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" });
  root.append(svg("title", {}, title));
  rows.forEach(([label, value], i) => {
    const y = 6 + i * rowH;
    const known = value !== null && value !== undefined;
    const share = known ? Math.max(0, Math.min(1, Number(value) / max)) : 0;
    const good = lowerBetter ? 1 - share : share;
    const colour = good >= 0.9 ? "#1e7b34" : good >= 0.7 ? "#a86400" : "#b3261e";
    // Long names (English department names) are cut to fit; the full name is the tooltip.
    const shown = label.length > 24 ? `${label.slice(0, 23)}…` : label;
    const name = svg("g", {}, svg("title", {}, label));
    name.append(svg("text", { x: left - 8, y: y + 18, "text-anchor": "end" }, `${i + 1}. ${shown}`));
    root.append(name);
    root.append(svg("rect", { x: left, y: y + 5, width: (width - left - right).toFixed(1), height: rowH - 10, fill: "#eef2f7" }));
    if (known) root.append(svg("rect", { x: left, y: y + 5, width: ((width - left - right) * share).toFixed(1), height: rowH - 10, fill: colour, class: "bar", "data-value": value }));
    root.append(svg("text", { x: width - right + 6, y: y + 18 }, fmt(value)));
  });
  return root;
}

// Counts per hour as bars, against a baseline drawn as a dashed line (the
// hotspot rule's trailing mean) and the count that would raise an alert.
// points: [{label, count, baseline, required}]
export function windowChart(points, title, { width = 640, height = 230 } = {}) {
  const max = Math.max(1, ...points.map((p) => Math.max(p.count, p.baseline || 0, p.required || 0)));
  const pad = { l: 40, b: 40, t: 16, r: 8 };
  const w = (width - pad.l - pad.r) / (points.length || 1);
  const h = height - pad.t - pad.b;
  const y = (v) => pad.t + h - (v / max) * h;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" });
  root.append(svg("title", {}, title));
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), stroke: "#889" }));
  root.append(svg("text", { x: pad.l - 6, y: y(max) + 4, "text-anchor": "end", class: "axis" }, String(Math.round(max * 10) / 10)));
  points.forEach((p, i) => {
    const x = pad.l + i * w + w * 0.15;
    const hot = p.required && p.count >= p.required;
    const bar = svg("rect", { x: x.toFixed(1), y: y(p.count).toFixed(1), width: (w * 0.7).toFixed(1), height: (y(0) - y(p.count)).toFixed(1), fill: hot ? "#b3261e" : "#0b5cad", class: "bar", "data-value": p.count });
    bar.append(svg("title", {}, `${p.label}: ${p.count}`));
    root.append(bar);
    if (i % 3 === 0) root.append(svg("text", { x: (x + w * 0.35).toFixed(1), y: height - pad.b + 16, "text-anchor": "middle", class: "axis" }, p.label));
  });
  const path = (key) => points.map((p, i) => `${i ? "L" : "M"}${(pad.l + (i + 0.5) * w).toFixed(1)},${y(p[key] || 0).toFixed(1)}`).join(" ");
  if (points.length) {
    root.append(svg("path", { d: path("baseline"), fill: "none", stroke: "#a86400", "stroke-width": 2, "stroke-dasharray": "5 3", class: "baseline" }));
    root.append(svg("path", { d: path("required"), fill: "none", stroke: "#b3261e", "stroke-width": 1, "stroke-dasharray": "2 3", class: "threshold" }));
  }
  return root;
}

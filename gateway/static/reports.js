// /reports/ — leaders and duty office: today at a glance, 14-day trend, hotspots on
// the grid map, department and grid-worker scorecards (charts are SVG).
import {
  addStrings, api, ApiError, applyI18n, clear, el, getToken, gridMap, setToken, svg, t, wireHeader,
} from "./common.js";

addStrings({
  zh: {
    title: "社会治理运行态势", today: "今日概览", trend: "近14天新增案件", hotspots: "热点网格（近7天）",
    departments: "部门考核排名（近30天）", grid_workers: "网格员考核（近30天）",
    new_today: "今日新增", closed_today: "今日结案", overdue_now: "当前超期", p1_live: "在办 P1",
    rank: "排名", department: "部门", due: "应结案数", on_time_rate: "按期结案率", closure_rate: "结案率",
    rework_rate: "返工率", mean_satisfaction: "满意度", grid_worker: "网格员", reports: "上报数",
    verifications: "核查数", verification_pass_rate: "核查通过率", cases: "案件", trend_chart: "每日新增案件柱状图",
    dept_chart: "各部门按期结案率条形图", hot_map: "热点网格分布图",
  },
  en: {
    title: "Situation overview", today: "Today at a glance", trend: "New cases, last 14 days",
    hotspots: "Hotspot grids (7 days)", departments: "Department scorecard (30 days)",
    grid_workers: "Grid worker scorecard (30 days)", new_today: "New today", closed_today: "Closed today",
    overdue_now: "Overdue now", p1_live: "Live P1", rank: "Rank", department: "Department", due: "Due",
    on_time_rate: "On-time closure", closure_rate: "Closure rate", rework_rate: "Rework rate",
    mean_satisfaction: "Satisfaction", grid_worker: "Grid worker", reports: "Reports",
    verifications: "Verifications", verification_pass_rate: "Pass rate", cases: "cases",
    trend_chart: "Bar chart of new cases per day", dept_chart: "Bar chart of on-time closure by department",
    hot_map: "Map of hotspot grids",
  },
});

const DAY = 86400000;
const midnight = (offsetDays = 0) => {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return new Date(d.getTime() - offsetDays * DAY);
};
const pct = (v) => (v === null || v === undefined ? "—" : `${(Number(v) * (Number(v) <= 1 ? 100 : 1)).toFixed(1)}%`);
const num = (v) => (v === null || v === undefined ? "—" : String(Math.round(Number(v) * 100) / 100));

async function count(params) {
  const { data } = await api(`/api/v1/cases?${new URLSearchParams({ ...params, limit: "1" })}`);
  return data.total;
}

function tile(label, value, cls = "") {
  return el("div", { class: `tile ${cls}` }, el("div", { class: "muted" }, label), el("div", { class: "n" }, String(value)));
}

function barChart(values, labels, title, { width = 640, height = 220, colour = "#0b5cad" } = {}) {
  const max = Math.max(1, ...values);
  const pad = { l: 36, b: 36, t: 12, r: 8 };
  const w = (width - pad.l - pad.r) / (values.length || 1);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" });
  root.append(svg("title", {}, title));
  const h = height - pad.t - pad.b;
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: pad.t + h, y2: pad.t + h, stroke: "#889" }));
  root.append(svg("text", { x: pad.l - 4, y: pad.t + 10, "text-anchor": "end" }, String(max)));
  values.forEach((v, i) => {
    const bh = (v / max) * h;
    const x = pad.l + i * w + w * 0.15;
    const bar = svg("rect", { x: x.toFixed(1), y: (pad.t + h - bh).toFixed(1), width: (w * 0.7).toFixed(1), height: bh.toFixed(1), fill: colour });
    bar.append(svg("title", {}, `${labels[i]}: ${v}`));
    root.append(bar);
    if (v) root.append(svg("text", { x: (x + w * 0.35).toFixed(1), y: (pad.t + h - bh - 3).toFixed(1), "text-anchor": "middle" }, String(v)));
    root.append(svg("text", { x: (x + w * 0.35).toFixed(1), y: height - 14, "text-anchor": "middle" }, labels[i]));
  });
  return root;
}

function hbarChart(rows, title, { width = 640 } = {}) {
  const rowH = 26;
  const left = 170;
  const height = rows.length * rowH + 16;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" });
  root.append(svg("title", {}, title));
  rows.forEach(([label, value], i) => {
    const y = 8 + i * rowH;
    const v = value === null || value === undefined ? 0 : Number(value) <= 1 ? Number(value) : Number(value) / 100;
    const colour = v >= 0.9 ? "#1e7b34" : v >= 0.7 ? "#a86400" : "#b3261e";
    root.append(svg("text", { x: left - 6, y: y + 16, "text-anchor": "end" }, label));
    root.append(svg("rect", { x: left, y: y + 3, width: ((width - left - 60) * v).toFixed(1), height: rowH - 8, fill: colour }));
    root.append(svg("text", { x: left + (width - left - 60) * v + 4, y: y + 16 }, pct(value)));
  });
  return root;
}

function table(rows, columns) {
  return el("table", { class: "queue" },
    el("thead", {}, el("tr", {}, columns.map(([key]) => el("th", { scope: "col" }, t(key))))),
    el("tbody", {}, rows.map((row, i) => el("tr", {}, columns.map(([key, fmt]) => el("td", {}, fmt(row, i)))))));
}

async function load() {
  const now = new Date();
  const today = midnight();
  // Today at a glance
  const tiles = clear(document.getElementById("tiles"));
  try {
    const [newToday, queue, deptsToday] = await Promise.all([
      count({ since: today.toISOString() }),
      api("/api/v1/stats/queue").then((r) => r.data),
      api(`/api/v1/stats/departments?${new URLSearchParams({ start: today.toISOString(), end: now.toISOString() })}`).then((r) => r.data.items),
    ]);
    const p1 = Object.values(queue.by_state_priority || {}).reduce((a, row) => a + (row.P1 || 0), 0);
    const closedToday = deptsToday.reduce((a, row) => a + (row.closed || 0), 0);
    tiles.append(tile(t("new_today"), newToday), tile(t("closed_today"), closedToday),
      tile(t("overdue_now"), (queue.by_sla_state || {}).overdue || 0, "bad"), tile(t("p1_live"), p1));
  } catch (err) {
    tiles.append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
  // 14-day trend
  const days = [...Array(14).keys()].reverse();
  const totals = await Promise.all(days.map((d) => count({ since: midnight(d).toISOString(), until: midnight(d - 1).toISOString() }).catch(() => 0)));
  const labels = days.map((d) => { const x = midnight(d); return `${x.getMonth() + 1}/${x.getDate()}`; });
  clear(document.getElementById("trend")).append(barChart(totals, labels, t("trend_chart")));
  // Hotspots
  try {
    const [hot, grids] = await Promise.all([api("/api/v1/stats/hotspots?limit=20").then((r) => r.data.items), api("/api/v1/grids").then((r) => r.data)]);
    const heat = new Map();
    for (const h of hot) heat.set(h.grid_code, (heat.get(h.grid_code) || 0) + (h.cases || 0));
    const max = Math.max(1, ...heat.values());
    clear(document.getElementById("hotmap")).append(gridMap(grids, {
      title: t("hot_map"),
      style: (f) => {
        const n = heat.get((f.properties || {}).code) || 0;
        return n ? { fill: `rgba(179,38,30,${(0.2 + 0.8 * n / max).toFixed(2)})`, label: String(n), title: `${(f.properties || {}).name}: ${n}` } : {};
      },
    }));
    const list = clear(document.getElementById("hotlist"));
    for (const h of hot.slice(0, 10)) list.append(el("li", {}, `${h.grid_code} · ${h.category} · ${h.cases} ${t("cases")}`));
  } catch { /* leaders without stats rights see the rest */ }
  // Department scorecard
  try {
    const rows = (await api("/api/v1/stats/departments")).data.items;
    rows.sort((a, b) => (b.on_time_rate ?? -1) - (a.on_time_rate ?? -1) || (a.rework_rate ?? 0) - (b.rework_rate ?? 0));
    clear(document.getElementById("dept-chart")).append(hbarChart(rows.map((r) => [r.department, r.on_time_rate]), t("dept_chart")));
    clear(document.getElementById("dept-table")).append(table(rows, [
      ["rank", (_r, i) => String(i + 1)], ["department", (r) => r.department], ["due", (r) => num(r.due)],
      ["on_time_rate", (r) => pct(r.on_time_rate)], ["closure_rate", (r) => pct(r.closure_rate)],
      ["rework_rate", (r) => pct(r.rework_rate)], ["mean_satisfaction", (r) => num(r.mean_satisfaction)],
    ]));
    const workers = (await api("/api/v1/stats/grid-workers")).data.items;
    workers.sort((a, b) => (b.reports || 0) - (a.reports || 0));
    clear(document.getElementById("gw-table")).append(table(workers, [
      ["rank", (_r, i) => String(i + 1)], ["grid_worker", (r) => r.grid_worker], ["reports", (r) => num(r.reports)],
      ["verifications", (r) => num(r.verifications)], ["verification_pass_rate", (r) => pct(r.verification_pass_rate)],
    ]));
  } catch (err) {
    clear(document.getElementById("dept-table")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  load();
}

function init() {
  applyI18n();
  wireHeader(load);
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken(document.getElementById("token-input").value.trim());
    try { await api("/api/v1/cases?limit=1"); start(); } catch (err) {
      setToken("");
      const s = document.getElementById("signin-status");
      s.classList.remove("hidden");
      s.textContent = err instanceof ApiError ? t("bad_token") : t("network_error");
    }
  });
  if (getToken()) start();
  else document.getElementById("signin").classList.remove("hidden");
  setInterval(() => { if (getToken()) load(); }, 60000);
}

init();

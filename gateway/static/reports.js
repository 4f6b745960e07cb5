// /reports/ — leaders and the duty office: today at a glance, trends by day and by
// week, hotspots on the grid map, department and grid-worker scorecards ranked by
// the assessment indicators, the daily brief (HTML / PDF) and a CSV export of cases.
// Charts are SVG drawn here from the API's numbers; every label goes in as text.
import {
  addStrings, api, ApiError, applyI18n, clear, download, el, getToken, gridMap, lang, setToken, svg, t,
  wireHeader,
  gridNameIn, nameIn,
} from "./common.js";
import { barChart, hbarChart, num, pct, windowChart } from "./charts.js";

addStrings({
  zh: {
    title: "社会治理运行态势", today: "今日概览", trend: "近14天每日新增案件", weeks: "近8周每周新增案件",
    hotspots: "热点网格（近7天）", departments: "部门考核排名", grid_workers: "网格员考核",
    new_today: "今日新增", closed_today: "今日结案", overdue_now: "当前超期", p1_live: "在办 P1",
    rank: "排名", department: "部门", due: "应结案数", dispatched_n: "派遣数", closed_n: "结案数",
    on_time_rate: "按期结案率", closure_rate: "结案率", rework_rate: "返工率", mean_satisfaction: "满意度",
    mean_handling_hours: "平均处置时长（小时）", grid_worker: "网格员", reports: "上报数", verifications: "核查数",
    verification_pass_rate: "核查通过率", cases: "件", trend_chart: "每日新增案件柱状图",
    weeks_chart: "每周新增案件柱状图", dept_chart: "各部门{x}排名条形图", gw_chart: "网格员上报数条形图",
    hot_map: "热点网格分布图（颜色越深案件越多）", indicator: "排名指标", period: "统计周期", p_today: "今日",
    p_7: "近7天", p_30: "近30天", p_90: "近90天", briefs: "每日简报与导出", brief_day: "简报日期",
    brief_span: "简报周期", span_day: "日报", span_week: "周报（该日所在周）", span_month: "月报（该日所在月）",
    download_html: "下载 HTML", download_pdf: "下载 PDF", export_csv: "导出案件 CSV（所选周期）",
    downloaded: "已下载", brief_of: "{d} 简报摘要", new_cases: "新增", closed_cases: "结案", overdue_cases: "逾期未结",
    by_category: "按类别", by_street: "按街道", updated_at: "更新于 {t}", week_of: "{d} 起", no_data: "暂无数据",
    lower_better: "（越低越好）", open_cases: "在办", deferred: "缓办数", tasks_due: "任务应办数",
    task_on_time_rate: "任务按期办结率", extension_rate: "延期率",
    areas: "街道、社区考核（同一统计周期）", area_level: "层级", street: "街道", community: "社区",
    windows: "近24小时上报量（按小时，对照热点基线）", window_key: "网格 × 类别 × 来源", all_keys: "全区合计",
    windows_chart: "近24小时每小时上报数与热点基线", windows_legend: "柱：每小时上报数；虚线：热点规则的基线（此前各小时的均值）；点线：达到即报警的数量。",
  },
  en: {
    title: "Situation overview", today: "Today at a glance", trend: "New cases per day, last 14 days",
    weeks: "New cases per week, last 8 weeks", hotspots: "Hotspot grids (7 days)",
    departments: "Department scorecard", grid_workers: "Grid worker scorecard", new_today: "New today",
    closed_today: "Closed today", overdue_now: "Overdue now", p1_live: "Live P1", rank: "Rank",
    department: "Department", due: "Due", dispatched_n: "Dispatched", closed_n: "Closed",
    on_time_rate: "On-time closure", closure_rate: "Closure rate", rework_rate: "Rework rate",
    mean_satisfaction: "Satisfaction", mean_handling_hours: "Mean handling (h)", grid_worker: "Grid worker",
    reports: "Reports", verifications: "Verifications", verification_pass_rate: "Pass rate", cases: "cases",
    trend_chart: "Bar chart of new cases per day", weeks_chart: "Bar chart of new cases per week",
    dept_chart: "Bar chart of departments ranked by {x}", gw_chart: "Bar chart of reports per grid worker",
    hot_map: "Map of hotspot grids (darker: more cases)", indicator: "Rank by", period: "Period",
    p_today: "Today", p_7: "7 days", p_30: "30 days", p_90: "90 days", briefs: "Daily brief and exports",
    brief_day: "Brief of", brief_span: "Span", span_day: "Day", span_week: "Week of the day",
    span_month: "Month of the day", download_html: "Download HTML", download_pdf: "Download PDF",
    export_csv: "Export cases as CSV (chosen period)", downloaded: "Downloaded", brief_of: "Brief of {d}",
    new_cases: "New", closed_cases: "Closed", overdue_cases: "Overdue", by_category: "By category",
    by_street: "By street", updated_at: "Updated {t}", week_of: "from {d}", no_data: "No data yet",
    lower_better: " (lower is better)", open_cases: "live", deferred: "Deferred", tasks_due: "Tasks due",
    task_on_time_rate: "Tasks on time", extension_rate: "Extension rate",
    areas: "Streets and communities (same period)", area_level: "Level", street: "Street", community: "Community",
    windows: "Reports per hour, last 24 h, against the hotspot baseline", window_key: "Grid × category × source",
    all_keys: "Whole district", windows_chart: "Reports per hour in the last 24 hours against the hotspot baseline",
    windows_legend: "Bars: reports per hour; dashed: the hotspot rule's baseline (mean of the hours before); dotted: the count that raises an alert.",
  },
});

// The district's day (Asia/Shanghai, UTC+8 all year): briefs and "today" use it.
const TZ = "Asia/Shanghai";
const OFFSET = "+08:00";
const DAY = 86400000;
const localDay = (when = new Date()) => new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(when);
const dayStart = (isoDay) => new Date(`${isoDay}T00:00:00${OFFSET}`);
const addDays = (isoDay, n) => localDay(new Date(dayStart(isoDay).getTime() + n * DAY + 12 * 3600000));
const INDICATORS = {
  on_time_rate: { fmt: pct, max: 1, lowerBetter: false },
  closure_rate: { fmt: pct, max: 1, lowerBetter: false },
  rework_rate: { fmt: pct, max: 1, lowerBetter: true },
  mean_satisfaction: { fmt: num, max: 5, lowerBetter: false },
  task_on_time_rate: { fmt: pct, max: 1, lowerBetter: false },
  extension_rate: { fmt: pct, max: 1, lowerBetter: true },
};
let categories = [];
let departments = [];
let grids = null;

const catName = (code) => nameIn(categories, code);
const deptName = (code) => nameIn(departments, code);
const gridName = (code) => gridNameIn(grids, code);

async function count(params) {
  const { data } = await api(`/api/v1/cases?${new URLSearchParams({ ...params, limit: "1" })}`);
  return data.total;
}

function tile(id, label, value, cls = "") {
  return el("div", { class: `tile ${cls}`, id },
    el("div", { class: "muted" }, label), el("div", { class: "n" }, String(value)));
}

function table(rows, columns, id) {
  return el("table", { class: "queue", id },
    el("thead", {}, el("tr", {}, columns.map(([key]) => el("th", { scope: "col" }, t(key))))),
    el("tbody", {}, rows.map((row, i) => el("tr", {}, columns.map(([, fmt]) => el("td", {}, fmt(row, i)))))));
}

// ---- sections ------------------------------------------------------------------------------
async function loadToday() {
  const tiles = clear(document.getElementById("tiles"));
  const today = localDay();
  try {
    const [brief, queue] = await Promise.all([
      api(`/api/v1/briefs/${today}?format=json`).then((r) => r.data),
      api("/api/v1/stats/queue").then((r) => r.data),
    ]);
    const p1 = Object.values(queue.by_state_priority || {}).reduce((a, row) => a + (row.P1 || 0), 0);
    tiles.append(
      tile("tile-new", t("new_today"), brief.new.total),
      tile("tile-closed", t("closed_today"), brief.closed.total, "good"),
      tile("tile-overdue", t("overdue_now"), (queue.by_sla_state || {}).overdue || 0, "bad"),
      tile("tile-p1", t("p1_live"), p1, p1 ? "bad" : ""));
  } catch (err) {
    tiles.append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

async function loadTrends() {
  const today = localDay();
  const days = [...Array(14).keys()].reverse().map((n) => addDays(today, -n));
  const perDay = await Promise.all(days.map((d) => count({ since: dayStart(d).toISOString(), until: dayStart(addDays(d, 1)).toISOString() }).catch(() => 0)));
  clear(document.getElementById("trend")).append(barChart(perDay, days.map((d) => d.slice(5).replace("-", "/")), t("trend_chart")));
  // Weeks start on Monday (district time).
  // Noon in the district is the same calendar day in UTC, so getUTCDay() is its weekday.
  const thisMonday = addDays(today, -((new Date(`${today}T12:00:00${OFFSET}`).getUTCDay() + 6) % 7));
  const weeks = [...Array(8).keys()].reverse().map((n) => addDays(thisMonday, -7 * n));
  const perWeek = await Promise.all(weeks.map((w) => count({ since: dayStart(w).toISOString(), until: dayStart(addDays(w, 7)).toISOString() }).catch(() => 0)));
  clear(document.getElementById("weeks")).append(barChart(perWeek, weeks.map((w) => w.slice(5).replace("-", "/")), t("weeks_chart"), { colour: "#3a7d44" }));
}

async function loadHotspots() {
  try {
    const hot = (await api("/api/v1/stats/hotspots?limit=20")).data.items;
    const heat = new Map();
    for (const h of hot) heat.set(h.grid_code, (heat.get(h.grid_code) || 0) + (h.cases || 0));
    const max = Math.max(1, ...heat.values());
    clear(document.getElementById("hotmap")).append(gridMap(grids, {
      title: t("hot_map"),
      style: (f) => {
        const n = heat.get((f.properties || {}).code) || 0;
        const share = n / max;
        return n ? { fill: `rgba(179,38,30,${(0.25 + 0.75 * share).toFixed(2)})`, label: String(n), labelColour: share > 0.5 ? "#fff" : "#222", title: `${(f.properties || {}).name}: ${n}` } : {};
      },
    }));
    const list = clear(document.getElementById("hotlist"));
    if (!hot.length) list.append(el("li", { class: "muted" }, t("no_data")));
    for (const h of hot.slice(0, 10))
      list.append(el("li", {}, el("strong", {}, gridName(h.grid_code)), ` · ${catName(h.category)} · ${h.cases} ${t("cases")} (${t("open_cases")} ${h.open_cases})`));
  } catch (err) {
    clear(document.getElementById("hotmap")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

async function loadWindows() {
  const select = document.getElementById("window-key");
  const [grid, category, source] = (select.value || "||").split("|");
  const params = new URLSearchParams({ hours: "24", ...(grid ? { grid_code: grid } : {}), ...(category ? { category } : {}), ...(source ? { source } : {}) });
  const box = clear(document.getElementById("windows-chart"));
  try {
    const data = (await api(`/api/v1/stats/windows?${params}`)).data;
    const hour = (iso) => new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", hour12: false }).format(new Date(iso));
    box.append(windowChart(data.windows.map((w) => ({ ...w, label: `${hour(w.start)}` })), t("windows_chart")));
    if (select.options.length === 1) {
      for (const k of data.keys.slice(0, 20))
        select.append(el("option", { value: `${k.grid_code}|${k.category}|${k.source}` }, `${gridName(k.grid_code)} × ${catName(k.category)} × ${k.source} (${k.count})`));
    }
  } catch (err) {
    box.append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

function period() {
  const days = Number(document.getElementById("period").value || 30);
  const today = localDay();
  return { start: dayStart(addDays(today, 1 - days)), end: new Date() };
}

async function loadScorecards() {
  const { start, end } = period();
  const range = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  const key = document.getElementById("indicator").value;
  const spec = INDICATORS[key];
  try {
    const rows = (await api(`/api/v1/stats/departments?${range}`)).data.items;
    const score = (r) => (r[key] === null || r[key] === undefined ? null : Number(r[key]));
    rows.sort((a, b) => {
      const x = score(a), y = score(b);
      if (x === null) return y === null ? 0 : 1;
      if (y === null) return -1;
      return spec.lowerBetter ? x - y : y - x;
    });
    const label = `${t(key)}${spec.lowerBetter ? t("lower_better") : ""}`;
    clear(document.getElementById("dept-chart")).append(
      hbarChart(rows.map((r) => [deptName(r.department), r[key]]), t("dept_chart").replace("{x}", label), spec));
    clear(document.getElementById("dept-table")).append(table(rows, [
      ["rank", (_r, i) => String(i + 1)], ["department", (r) => deptName(r.department)],
      ["dispatched_n", (r) => num(r.dispatched)], ["due", (r) => num(r.due)], ["deferred", (r) => num(r.deferred)],
      ["closed_n", (r) => num(r.closed)],
      ["on_time_rate", (r) => pct(r.on_time_rate)], ["closure_rate", (r) => pct(r.closure_rate)],
      ["rework_rate", (r) => pct(r.rework_rate)], ["mean_satisfaction", (r) => num(r.mean_satisfaction)],
      ["mean_handling_hours", (r) => num(r.mean_handling_hours)], ["tasks_due", (r) => num(r.tasks_due)],
      ["task_on_time_rate", (r) => pct(r.task_on_time_rate)], ["extension_rate", (r) => pct(r.extension_rate)],
    ], "dept-scores"));
  } catch (err) {
    clear(document.getElementById("dept-table")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
  try {
    const level = document.getElementById("area-level").value;
    const areas = (await api(`/api/v1/stats/areas?${range}&level=${level}`)).data.items;
    const names = level === "street" ? streetNames() : communityNames();
    clear(document.getElementById("area-table")).append(table(areas, [
      ["rank", (_r, i) => String(i + 1)], [level, (r) => names.get(r[level]) || r[level]],
      ["due", (r) => num(r.due)], ["deferred", (r) => num(r.deferred)], ["closed_n", (r) => num(r.closed)],
      ["on_time_rate", (r) => pct(r.on_time_rate)], ["closure_rate", (r) => pct(r.closure_rate)],
      ["rework_rate", (r) => pct(r.rework_rate)], ["extension_rate", (r) => pct(r.extension_rate)],
      ["mean_satisfaction", (r) => num(r.mean_satisfaction)],
    ], "area-scores"));
  } catch (err) {
    clear(document.getElementById("area-table")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
  try {
    const workers = mergeWorkers((await api(`/api/v1/stats/grid-workers?${range}`)).data.items);
    workers.sort((a, b) => (b.reports || 0) - (a.reports || 0) || (b.verifications || 0) - (a.verifications || 0));
    const most = Math.max(1, ...workers.map((w) => w.reports || 0));
    clear(document.getElementById("gw-chart")).append(
      hbarChart(workers.slice(0, 15).map((w) => [w.grid_worker, w.reports || 0]), t("gw_chart"), { max: most, fmt: num }));
    clear(document.getElementById("gw-table")).append(table(workers, [
      ["rank", (_r, i) => String(i + 1)], ["grid_worker", (r) => r.grid_worker], ["reports", (r) => num(r.reports)],
      ["verifications", (r) => num(r.verifications)], ["verification_pass_rate", (r) => pct(r.verification_pass_rate)],
    ], "gw-scores"));
  } catch (err) {
    clear(document.getElementById("gw-table")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

function streetNames() {
  const out = new Map();
  for (const f of (grids && grids.features) || []) out.set(f.properties.street_code, f.properties.street_name);
  return out;
}

function communityNames() {
  const out = new Map();
  for (const f of (grids && grids.features) || []) out.set(f.properties.community_code, f.properties.community_name);
  return out;
}

// One row per principal (two workers of one name are two people); the server
// names each by its display name.
function mergeWorkers(items) {
  const byName = new Map();
  for (const item of items) {
    const name = String(item.principal_id || item.grid_worker || "");
    const row = byName.get(name) || { grid_worker: item.grid_worker || name, reports: 0, verifications: 0, verifications_passed: 0 };
    row.reports += item.reports || 0;
    row.verifications += item.verifications || 0;
    row.verifications_passed += item.verifications_passed || 0;
    byName.set(name, row);
  }
  for (const row of byName.values())
    row.verification_pass_rate = row.verifications ? row.verifications_passed / row.verifications : null;
  return [...byName.values()];
}

function lines(part, kind) {
  return part[kind].map((l) => el("li", {}, `${kind === "by_category" ? catName(l.code) || l.name : l.name} · ${l.count}`));
}

// The brief of the chosen day, or of the week or month it falls in.
function briefPath(day, format, download = false) {
  const params = new URLSearchParams({ format, period: document.getElementById("brief-span").value });
  if (download) params.set("download", "true");
  return `/api/v1/briefs/${day}?${params}`;
}

async function loadBrief() {
  const day = document.getElementById("brief-day").value;
  const box = clear(document.getElementById("brief-summary"));
  if (!day) return;
  try {
    const brief = (await api(briefPath(day, "json"))).data;
    box.append(el("h3", {}, t("brief_of").replace("{d}", brief.label)),
      el("div", { class: "tiles" }, ...[["new_cases", brief.new], ["closed_cases", brief.closed], ["overdue_cases", brief.overdue]].map(([key, part]) =>
        el("div", { class: "tile" }, el("div", { class: "muted" }, t(key)), el("div", { class: "n" }, String(part.total)),
          el("ul", { class: "list small" }, lines(part, "by_category")), el("ul", { class: "list small" }, lines(part, "by_street"))))));
  } catch (err) {
    box.append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
  }
}

async function save(path, name) {
  const status = document.getElementById("brief-status");
  try {
    await download(path, name);
    status.className = "status ok";
    status.textContent = `${t("downloaded")}: ${name}`;
  } catch (err) {
    status.className = "status err";
    status.textContent = `${t("error")}: ${err.detail || err}`;
  }
}

async function load() {
  try {
    [categories, grids, departments] = await Promise.all([
      api("/api/v1/categories").then((r) => r.data), api("/api/v1/grids").then((r) => r.data),
      api("/api/v1/departments").then((r) => r.data)]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setToken(""); location.reload(); return; }
  }
  await Promise.all([loadToday(), loadTrends(), loadHotspots(), loadWindows(), loadScorecards(), loadBrief()]);
  document.getElementById("updated").textContent = t("updated_at").replace("{t}", new Date().toLocaleTimeString(lang() === "en" ? "en-GB" : "zh-CN", { hour12: false }));
}

function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  document.getElementById("brief-day").value = localDay();
  document.getElementById("brief-day").max = localDay();
  load();
}

function init() {
  applyI18n();
  wireHeader(load);
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken(document.getElementById("token-input").value.trim());
    try { await api("/api/v1/stats/queue"); start(); } catch (err) {
      setToken("");
      const s = document.getElementById("signin-status");
      s.classList.remove("hidden");
      s.textContent = err instanceof ApiError ? t("bad_token") : t("network_error");
    }
  });
  document.getElementById("window-key").addEventListener("change", loadWindows);
  document.getElementById("indicator").addEventListener("change", loadScorecards);
  document.getElementById("period").addEventListener("change", loadScorecards);
  document.getElementById("area-level").addEventListener("change", loadScorecards);
  document.getElementById("brief-day").addEventListener("change", loadBrief);
  document.getElementById("brief-span").addEventListener("change", loadBrief);
  document.getElementById("brief-form").addEventListener("submit", (e) => { e.preventDefault(); loadBrief(); });
  document.getElementById("brief-html").addEventListener("click", () => {
    const day = document.getElementById("brief-day").value;
    save(briefPath(day, "html", true), `brief-${day}.html`);
  });
  document.getElementById("brief-pdf").addEventListener("click", () => {
    const day = document.getElementById("brief-day").value;
    save(briefPath(day, "pdf", true), `brief-${day}.pdf`);
  });
  document.getElementById("export-csv").addEventListener("click", () => {
    const { start: since, end: until } = period();
    save(`/api/v1/exports/cases.csv?${new URLSearchParams({ since: since.toISOString(), until: until.toISOString() })}`, "gridhub-cases.csv");
  });
  if (getToken()) start();
  else document.getElementById("signin").classList.remove("hidden");
  setInterval(() => { if (getToken() && !document.hidden) load(); }, 60000);
}

init();

// /public/ — 三公开 for anyone, no token: department and street scorecards (ranked,
// with the trend against the period before), cases by category, street and day,
// closed-case stories, and the monthly bulletin as PDF. Reads only
// /api/v1/public/..., which carries no personal data and no free text.
import { addStrings, applyI18n, clear, el, lang, t, wireHeader } from "./common.js";
import { barChart, hbarChart, num, pct } from "./charts.js";

addStrings({
  zh: {
    title: "社会治理信息公开", skip: "跳到正文", about: "关于本页",
    about_text: "本页公开本区社会治理案件的办理情况：各部门和各街道的考核指标、按类别和街道的案件数、已结案件。数据不含任何个人信息，位置只到街道。",
    period: "统计周期", week: "周", month: "月", quarter: "季度", day: "包含日期",
    bulletin: "下载本月公开月报（PDF）", departments: "部门考核排名", streets: "街道考核排名",
    by_category: "按类别", by_street: "按街道", by_day: "每日立案数", stories: "已结案件",
    rank: "名次", department: "部门", street: "街道", due: "应结案数", deferred: "缓办数", closed_n: "结案数",
    closed_on_time: "按期结案数", on_time_rate: "按期结案率", closure_rate: "结案率", rework_rate: "返工率",
    extension_rate: "延期率", mean_satisfaction: "满意度", trend: "较上期", category: "类别",
    opened: "立案日期", closed_on: "结案日期", total: "案件总数", closed_total: "已结案件",
    chart_rank: "按期结案率排名条形图", chart_cat: "各类别案件数条形图", chart_street: "各街道案件数条形图",
    chart_day: "每日立案数柱状图", no_data: "暂无数据", updated_at: "更新于 {t}", error: "出错了",
    up: "上升", down: "下降", same: "持平",
  },
  en: {
    title: "Public results", skip: "Skip to content", about: "About this page",
    about_text: "How the district's cases are handled: indicators per department and per street, cases by category and street, and cases closed. Nothing here is personal; places go no finer than a street.",
    period: "Period", week: "Week", month: "Month", quarter: "Quarter", day: "Including",
    bulletin: "Monthly bulletin (PDF)", departments: "Departments, ranked", streets: "Streets, ranked",
    by_category: "By category", by_street: "By street", by_day: "Cases opened per day", stories: "Cases closed",
    rank: "Rank", department: "Department", street: "Street", due: "Due", deferred: "Deferred", closed_n: "Closed",
    closed_on_time: "Closed on time", on_time_rate: "On-time closure", closure_rate: "Closure rate",
    rework_rate: "Rework rate", extension_rate: "Extension rate", mean_satisfaction: "Satisfaction",
    trend: "vs previous", category: "Category", opened: "Opened", closed_on: "Closed",
    total: "Cases", closed_total: "Cases closed", chart_rank: "Bar chart of on-time closure, ranked",
    chart_cat: "Bar chart of cases per category", chart_street: "Bar chart of cases per street",
    chart_day: "Bar chart of cases opened per day", no_data: "No data yet", updated_at: "Updated {t}",
    error: "Error", up: "up", down: "down", same: "same",
  },
});

let names = { categories: [], streets: {}, departments: {} };

async function get(path) {
  const response = await fetch(path);
  const data = await response.json();
  if (!response.ok) throw new Error((data && data.detail) || response.statusText);
  return data;
}

const catName = (code) => {
  const c = names.categories.find((x) => x.code === code);
  return c ? (lang() === "en" ? c.name_en : c.name_zh) : code;
};
const streetName = (code) => names.streets[code] || code;
const deptName = (code) => {
  const d = names.departments[code];
  return d ? (lang() === "en" ? d.name_en : d.name_zh) : code;
};

function trendText(v) {
  if (v === null || v === undefined) return "—";
  const word = v > 0 ? t("up") : v < 0 ? t("down") : t("same");
  return `${v > 0 ? "↑" : v < 0 ? "↓" : "→"} ${(Math.abs(v) * 100).toFixed(1)} (${word})`;
}

function scoreTable(cards, who, nameOf, id) {
  if (!cards.length) return el("p", { class: "muted" }, t("no_data"));
  const columns = [
    ["rank", (c) => String(c.rank)], [who, (c) => nameOf(c.key)], ["due", (c) => num(c.due)],
    ["deferred", (c) => num(c.deferred)], ["closed_n", (c) => num(c.closed)], ["closed_on_time", (c) => num(c.closed_on_time)],
    ["on_time_rate", (c) => pct(c.on_time_rate)], ["closure_rate", (c) => pct(c.closure_rate)],
    ["rework_rate", (c) => pct(c.rework_rate)],
    ["extension_rate", (c) => pct(c.extension_rate)],
    ["mean_satisfaction", (c) => num(c.mean_satisfaction)], ["trend", (c) => trendText(c.trend)],
  ];
  return el("table", { class: "queue", id },
    el("caption", { class: "sr-only" }, t(who === "department" ? "departments" : "streets")),
    el("thead", {}, el("tr", {}, columns.map(([key]) => el("th", { scope: "col" }, t(key))))),
    el("tbody", {}, cards.map((c) => el("tr", {}, columns.map(([, fmt]) => el("td", {}, fmt(c)))))));
}

function countChart(counts, nameOf, title) {
  const rows = Object.entries(counts).map(([code, n]) => [nameOf(code), n]);
  const most = Math.max(1, ...rows.map(([, n]) => n));
  return hbarChart(rows, title, { max: most, fmt: num });
}

async function load() {
  const status = document.getElementById("status");
  const period = document.getElementById("period").value;
  const day = document.getElementById("day").value;
  const query = new URLSearchParams({ period, ...(day ? { date: day } : {}) });
  document.getElementById("bulletin").href = `/api/v1/public/bulletin.pdf${day ? `?date=${day}` : ""}`;
  try {
    const [named, cards, counts, stories] = await Promise.all([
      get("/api/v1/public/names"), get(`/api/v1/public/scorecards?${query}`),
      get(`/api/v1/public/counts?${query}`), get(`/api/v1/public/stories?${query}`)]);
    names = named;
    status.textContent = `${cards.label} · ${cards.start} – ${cards.end}`;
    clear(document.getElementById("tiles")).append(
      el("div", { class: "tile", id: "tile-total" }, el("div", { class: "muted" }, t("total")), el("div", { class: "n" }, String(counts.total))),
      el("div", { class: "tile good", id: "tile-closed" }, el("div", { class: "muted" }, t("closed_total")), el("div", { class: "n" }, String(stories.items.length))));
    clear(document.getElementById("dept-chart")).append(
      hbarChart(cards.departments.map((c) => [deptName(c.key), c.on_time_rate]), t("chart_rank")));
    clear(document.getElementById("dept-table")).append(scoreTable(cards.departments, "department", deptName, "dept-scores"));
    clear(document.getElementById("street-chart")).append(
      hbarChart(cards.streets.map((c) => [streetName(c.key), c.on_time_rate]), t("chart_rank")));
    clear(document.getElementById("street-table")).append(scoreTable(cards.streets, "street", streetName, "street-scores"));
    clear(document.getElementById("cat-chart")).append(countChart(counts.by_category, catName, t("chart_cat")));
    clear(document.getElementById("bystreet-chart")).append(countChart(counts.by_street, streetName, t("chart_street")));
    const days = Object.keys(counts.by_day);
    clear(document.getElementById("day-chart")).append(
      barChart(days.map((d) => counts.by_day[d]), days.map((d) => d.slice(8)), t("chart_day")));
    const rows = stories.items;
    clear(document.getElementById("stories")).append(rows.length
      ? el("table", { class: "queue", id: "story-table" },
        el("thead", {}, el("tr", {}, ["category", "street", "opened", "closed_on"].map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", {}, rows.map((s) => el("tr", {}, el("td", {}, catName(s.category)), el("td", {}, streetName(s.street_code)), el("td", {}, s.opened), el("td", {}, s.closed || "—")))))
      : el("p", { class: "muted" }, t("no_data")));
    document.getElementById("updated").textContent = t("updated_at").replace("{t}", new Date().toLocaleTimeString(lang() === "en" ? "en-GB" : "zh-CN", { hour12: false }));
  } catch (err) {
    status.className = "status err";
    status.textContent = `${t("error")}: ${err.message || err}`;
  }
}

function init() {
  applyI18n();
  document.title = t("title");
  wireHeader(() => { document.title = t("title"); load(); });
  document.getElementById("period").addEventListener("change", load);
  document.getElementById("day").addEventListener("change", load);
  document.getElementById("period-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
}

init();

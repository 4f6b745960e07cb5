// /console/ — operator live queue: filters, sort, SSE live updates, detail pane with
// map, reports, timeline and actions. Keyboard: j/k move, Enter open, d/r/m/e/c act.
import {
  addStrings, api, ApiError, applyI18n, clear, el, fmtTime, getToken, gridMap, lang, mediaImg,
  setToken, streamEvents, t, wireHeader,
} from "./common.js";

addStrings({
  zh: {
    title: "值班坐席 · 实时案件队列", filters: "筛选", state: "状态", all: "全部", priority: "优先级",
    sla: "时限", category: "类别", street: "街道", department: "部门", sort: "排序",
    sort_priority: "优先级", sort_deadline: "处置时限", sort_newest: "最新",
    keys: "键盘：j/k 上下移动，Enter 打开，d 派遣，r 驳回，m 合并，e 督办升级，c 备注",
    queue: "案件队列", grid: "网格", reports: "上报数", deadline: "处置时限", detail: "案件详情",
    pick: "从队列中选择一个案件", live: "实时", reconnecting: "重连中…", denied: "无权访问实时流",
    timeline: "时间线", report_list: "上报记录", routing: "派遣依据", actions: "操作",
    dispatch: "派遣", reject: "驳回（不予立案）", merge: "合并到", escalate: "督办升级", comment: "备注",
    reason: "原因", note: "备注内容", into: "目标案件（附近同类）", done: "已提交", new_p1: "新的 P1 紧急案件",
    hotspot: "热点预警", count_of: "共 {n} 件", rework: "返工", escalation: "升级",
    respond_by: "响应时限", resolve_by: "处置时限", map: "网格位置图", photo: "照片",
  },
  en: {
    title: "Operator console · live queue", filters: "Filters", state: "State", all: "All",
    priority: "Priority", sla: "SLA", category: "Category", street: "Street", department: "Department",
    sort: "Sort", sort_priority: "Priority", sort_deadline: "Deadline", sort_newest: "Newest",
    keys: "Keys: j/k move, Enter open, d dispatch, r reject, m merge, e escalate, c comment",
    queue: "Case queue", grid: "Grid", reports: "Reports", deadline: "Resolve by", detail: "Case detail",
    pick: "Pick a case from the queue", live: "Live", reconnecting: "Reconnecting…",
    denied: "No access to the live stream", timeline: "Timeline", report_list: "Reports",
    routing: "Routing reasons", actions: "Actions", dispatch: "Dispatch", reject: "Reject",
    merge: "Merge into", escalate: "Escalate", comment: "Comment", reason: "Reason", note: "Note",
    into: "Target case (nearby, same category)", done: "Sent", new_p1: "New P1 case",
    hotspot: "Hotspot alert", count_of: "{n} cases", rework: "rework", escalation: "escalation",
    respond_by: "Respond by", resolve_by: "Resolve by", map: "Grid location map", photo: "Photo",
  },
});

const PRIO = { P1: 1, P2: 2, P3: 3, P4: 4 };
const cases = new Map(); // id -> case
let categories = [];
let grids = null;
let selected = null;
let stopStream = null;

const catName = (code) => {
  const c = categories.find((x) => x.code === code);
  return c ? (lang() === "en" ? c.name_en : c.name_zh) : code || "";
};
const slaBadge = (s) => (s ? el("span", { class: `badge sla-${s}` }, t(s)) : "");
const prioBadge = (p) => el("span", { class: `badge prio-${p}` }, p || "");

function filters() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim()) params.set(k, String(v).trim());
  return params;
}

function matches(c) {
  // The same filters, applied to live updates so the queue stays consistent.
  for (const [k, v] of filters()) {
    if (k === "street" ? !String(c.grid_code || "").startsWith(v)
      : k === "department" ? !(c.lead_department === v || (c.departments || []).includes(v))
      : String(c[k] ?? "") !== v) return false;
  }
  return true;
}

async function loadQueue() {
  const params = filters();
  params.set("limit", "200");
  try {
    const { data } = await api(`/api/v1/cases?${params}`);
    cases.clear();
    for (const c of data.items) cases.set(c.id, c);
    renderRows();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setToken(""); location.reload(); }
  }
}

function sorted() {
  const mode = document.getElementById("sort").value;
  const list = [...cases.values()];
  const time = (x) => (x ? new Date(x).getTime() : Infinity);
  if (mode === "newest") list.sort((a, b) => time(b.opened_at) - time(a.opened_at));
  else if (mode === "deadline") list.sort((a, b) => time(a.resolve_by) - time(b.resolve_by));
  else list.sort((a, b) => (PRIO[a.priority] || 9) - (PRIO[b.priority] || 9) || time(a.resolve_by) - time(b.resolve_by));
  return list;
}

function renderRows(flashId) {
  const body = clear(document.getElementById("rows"));
  const list = sorted();
  document.getElementById("count").textContent = t("count_of").replace("{n}", String(list.length));
  for (const c of list) {
    const row = el("tr", {
      tabindex: 0, class: [c.id === selected ? "sel" : "", c.id === flashId ? "flash" : ""].join(" ").trim(),
      dataset: { case: c.id }, "aria-selected": c.id === selected ? "true" : "false",
      onclick: () => openCase(c.id), onkeydown: (e) => { if (e.key === "Enter") openCase(c.id); },
    },
    el("td", {}, prioBadge(c.priority)), el("td", {}, slaBadge(c.sla_state)),
    el("td", {}, t(c.state)), el("td", {}, catName(c.category), el("div", { class: "muted" }, c.id)),
    el("td", {}, c.grid_code || ""), el("td", {}, c.lead_department || ""),
    el("td", {}, String(c.report_count ?? "")), el("td", {}, fmtTime(c.resolve_by)));
    body.append(row);
  }
  const known = new Set([...cases.values()].flatMap((c) => [c.lead_department, ...(c.departments || [])]).filter(Boolean));
  const datalist = clear(document.getElementById("departments"));
  for (const d of known) datalist.append(el("option", { value: d }));
}

function banner(text) {
  const node = document.getElementById("banner");
  node.classList.remove("hidden");
  clear(node).append(text, " ", el("button", { type: "button", onclick: () => node.classList.add("hidden") }, "×"));
}

function onEvent(type, data) {
  if (type === "reset") { loadQueue(); return; }
  if (type !== "case" || !data || !data.case) return;
  const c = { ...data.case, id: data.case.id || data.case_id };
  if (matches(c)) cases.set(c.id, c);
  else cases.delete(c.id);
  if (data.type === "opened" && c.priority === "P1") banner(`${t("new_p1")}: ${catName(c.category)} · ${c.grid_code} · ${c.id}`);
  if (data.type === "escalated" && data.data && data.data.hotspot) banner(`${t("hotspot")}: ${c.grid_code}`);
  renderRows(c.id);
  if (c.id === selected) openCase(c.id, false);
}

// ---- detail ---------------------------------------------------------------------
function nearby(c) {
  const street = String(c.grid_code || "").slice(0, 9);
  return [...cases.values()].filter((o) => o.id !== c.id && o.category === c.category &&
    ["open", "dispatched", "in_progress"].includes(o.state) && String(o.grid_code || "").startsWith(street));
}

function actionForm(c) {
  const status = el("p", { class: "status hidden", role: "status" });
  const send = async (body) => {
    try {
      const { status: code, data } = await api(`/api/v1/cases/${encodeURIComponent(c.id)}/actions`, {
        method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      status.className = "status ok";
      status.textContent = code === 202 ? `${t("done")} (${data.detail || "pending"})` : t("done");
      if (data && data.case) { cases.set(c.id, data.case); renderRows(c.id); openCase(c.id, false); }
    } catch (err) {
      status.className = "status err";
      status.textContent = `${t("error")}: ${err.detail || err}`;
    }
  };
  const field = (id, label, input) => [el("label", { for: id }, label), input];
  const dept = el("input", { id: "act-department", type: "text", list: "departments", value: c.lead_department || "" });
  const reason = el("input", { id: "act-reason", type: "text", maxlength: 1000 });
  const note = el("input", { id: "act-note", type: "text", maxlength: 2000 });
  const into = el("select", { id: "act-into" }, el("option", { value: "" }, "—"),
    nearby(c).map((o) => el("option", { value: o.id }, `${o.id} · ${t(o.state)} · ${o.grid_code}`)));
  return el("div", {},
    ...field("act-department", t("department"), dept),
    el("button", { type: "button", class: "primary", id: "do-dispatch", onclick: () => send({ action: "dispatch", department: dept.value.trim() || null }) }, t("dispatch")),
    ...field("act-reason", t("reason"), reason),
    el("button", { type: "button", class: "danger", id: "do-reject", onclick: () => send({ action: "reject", reason: reason.value.trim() }) }, t("reject")),
    ...field("act-into", t("into"), into),
    el("button", { type: "button", id: "do-merge", onclick: () => into.value && send({ action: "merge", into: into.value }) }, t("merge")),
    ...field("act-note", t("note"), note),
    el("div", { class: "row" },
      el("button", { type: "button", id: "do-escalate", onclick: () => send({ action: "escalate", note: note.value.trim() || null }) }, t("escalate")),
      el("button", { type: "button", id: "do-comment", onclick: () => note.value.trim() && send({ action: "comment", note: note.value.trim() }) }, t("comment"))),
    status);
}

async function openCase(id, focus = true) {
  selected = id;
  for (const row of document.querySelectorAll("#rows tr"))
    row.classList.toggle("sel", row.dataset.case === id);
  const pane = document.getElementById("detail");
  let c;
  try {
    c = (await api(`/api/v1/cases/${encodeURIComponent(id)}`)).data;
  } catch (err) {
    clear(pane).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
    return;
  }
  const reports = c.reports || [];
  const points = reports.filter((r) => r.location).map((r) => ({ lat: r.location.lat, lon: r.location.lon, label: r.description }));
  const map = grids ? gridMap(grids, {
    width: 420, points, title: t("map"),
    style: (f) => ((f.properties || {}).code === c.grid_code ? { fill: "#f6c3bf", stroke: "#b3261e", strokeWidth: 2, label: (f.properties || {}).name } : {}),
  }) : "";
  const routing = (c.timeline || []).filter((e) => e.type === "dispatched" || e.type === "returned");
  clear(pane).append(
    el("h2", { id: "detail-h", tabindex: -1 }, `${catName(c.category)} · ${c.id}`),
    el("div", { class: "row" }, prioBadge(c.priority), slaBadge(c.sla_state), el("span", { class: "badge" }, t(c.state)),
      c.rework_count ? el("span", { class: "badge" }, `${t("rework")} ${c.rework_count}`) : "",
      c.escalation_level ? el("span", { class: "badge" }, `${t("escalation")} ${c.escalation_level}`) : ""),
    el("p", { class: "muted" }, `${t("grid")} ${c.grid_code} · ${t("department")} ${c.lead_department || "—"} · ${t("respond_by")} ${fmtTime(c.respond_by)} · ${t("resolve_by")} ${fmtTime(c.resolve_by)}`),
    map,
    el("h3", {}, t("actions")), actionForm(c),
    el("h3", {}, t("report_list")),
    el("ul", { class: "list" }, reports.map((r) => el("li", {},
      el("div", {}, r.description || ""),
      el("div", { class: "muted" }, `${fmtTime(r.occurred_at || r.received_at)} · ${r.source || ""}${r.reporter ? ` · ${r.reporter.name || ""} ${r.reporter.phone || ""}` : ""}`),
      el("div", {}, (r.media || []).map((m) => mediaImg(m, t("photo"))))))),
    el("h3", {}, t("routing")),
    el("ul", { class: "list" }, routing.length ? routing.map((e) => el("li", {}, `${t(e.type)} · ${fmtTime(e.time)} · ${JSON.stringify(e.data || {})}`)) : el("li", { class: "muted" }, t("none"))),
    el("h3", {}, t("timeline")),
    el("ol", { class: "list" }, (c.timeline || []).map((e) => el("li", {},
      el("strong", {}, `v${e.version} ${e.type}`), ` · ${fmtTime(e.time)} · ${e.actor || ""}`,
      e.data && Object.keys(e.data).length ? el("div", { class: "muted" }, JSON.stringify(e.data)) : ""))),
  );
  if (focus) document.getElementById("detail-h").focus();
}

// ---- keyboard ---------------------------------------------------------------------
function onKey(e) {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
  const rows = [...document.querySelectorAll("#rows tr")];
  const index = rows.findIndex((r) => r.dataset.case === selected);
  if (e.key === "j" || e.key === "k") {
    const next = rows[Math.max(0, Math.min(rows.length - 1, index + (e.key === "j" ? 1 : -1)))];
    if (next) { selected = next.dataset.case; next.focus(); rows.forEach((r) => r.classList.toggle("sel", r === next)); }
  }
  const keys = { d: "act-department", r: "act-reason", m: "act-into", e: "do-escalate", c: "act-note" };
  if (keys[e.key] && document.getElementById(keys[e.key])) { e.preventDefault(); document.getElementById(keys[e.key]).focus(); }
}

// ---- start ------------------------------------------------------------------------
async function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  try {
    categories = (await api("/api/v1/categories")).data;
    grids = (await api("/api/v1/grids")).data;
  } catch { /* the queue still works without reference data */ }
  const catSelect = document.getElementById("f-category");
  for (const c of categories) catSelect.append(el("option", { value: c.code }, catName(c.code)));
  const streets = new Map();
  for (const f of (grids && grids.features) || []) {
    const p = f.properties || {};
    if (p.street_code) streets.set(p.street_code, p.street || p.street_name || p.street_code);
  }
  const streetSelect = document.getElementById("f-street");
  for (const [code, name] of streets) streetSelect.append(el("option", { value: code }, `${name}`));
  await loadQueue();
  const live = document.getElementById("live");
  stopStream = streamEvents("/api/v1/stream/cases", onEvent, (s) => {
    live.textContent = t(s);
    live.className = `badge ${s === "live" ? "sla-on_track" : "sla-warning"}`;
    if (s === "live") loadQueue(); // anything missed while reconnecting
  });
}

function init() {
  applyI18n();
  wireHeader(() => { renderRows(); if (selected) openCase(selected, false); });
  document.getElementById("filters").addEventListener("change", loadQueue);
  document.getElementById("sort").addEventListener("change", () => renderRows());
  document.addEventListener("keydown", onKey);
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
  window.addEventListener("beforeunload", () => stopStream && stopStream());
}

init();

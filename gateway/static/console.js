// /console/ — the duty office's live queue (and a department's view of its own cases):
// filters, sort, search, live updates over SSE, bulk actions on selected cases, the
// open supervision orders and pending extensions, the SLA calendar's warning, and a
// detail pane with the grid map, reports, photos, reasons, the tasks of a joint case,
// its extensions and orders, the timeline and the actions the signed-in role may take
// (the forms live in actions.js, shared with the department's handler view /d/ (d.js)).
// Keyboard: j/k move, Enter open, / search, d/r/m/e/c jump to an action.
import {
  addStrings, api, ApiError, applyI18n, clear, el, fmtTime, getToken, gridCentre, gridMap, lang,
  mediaImg, metres, profile, setToken, streamEvents, t, wireHeader,
  gridNameIn, nameIn,
} from "./common.js";
import { actionPanel, partsLists, taskTable, timelineList } from "./actions.js";

addStrings({
  zh: {
    title: "值班坐席 · 实时案件队列", filters: "筛选", state: "状态", all: "全部", live_states: "在办（全部未结）",
    priority: "优先级", sla: "时限状态", category: "类别", street: "街道", department: "部门", search: "标题搜索",
    sort: "排序", sort_priority: "优先级", sort_deadline: "处置时限", sort_newest: "最新",
    keys: "键盘：j/k 上下移动，Enter 打开，/ 搜索，d 派遣，r 驳回，m 合并，e 督办升级，c 备注",
    queue: "案件队列", queue_caption: "案件列表，按所选方式排序", case: "案件", grid: "网格", reports: "上报数",
    deadline: "处置时限", detail: "案件详情", pick: "从队列中选择一个案件", live: "实时", reconnecting: "重连中…",
    denied: "无权访问实时流", report_list: "上报记录", reasons: "定级与派遣依据", timeline: "时间线",
    new_p1: "新的 P1 紧急案件", hotspot: "热点预警", unsatisfied: "回访不满意", count_of: "共 {n} 件", rework: "返工", escalation: "升级",
    map: "网格位置图", photo: "照片", evidence: "处置反馈", dismiss: "关闭提示", open_case: "打开",
    signed_in_as: "当前：{name}（{role}）", role_operator: "坐席", role_admin: "管理员", role_leader: "领导",
    role_department: "部门", role_grid_worker: "网格员", merged_into: "已合并到",
    map_legend: "红框为案件所在网格，圆点为上报位置：", keys_basic: "键盘：j/k 上下移动，Enter 打开，/ 搜索",
    find: "查找案件", find_hint: "案件编号、案卷号、内容、地址或网格名", find_phone: "报告人电话（仅坐席，留痕）",
    find_go: "查找", find_clear: "返回队列", found_n: "找到 {n} 件", matched: "匹配：",
    select_case: "选择", select_all: "全选", bulk: "批量操作（已选 {n} 件）", bulk_go: "对所选执行",
    bulk_result: "已执行 {a} 件，拒绝 {r} 件，等待 {p} 件，未找到 {x} 件", bulk_note: "原因或备注",
    work: "督办与延期", open_orders: "待回复的督办单", pending_extensions: "待审批的延期申请",
    overdue_order: "已逾期", calendar: "SLA 日历", provisional: "{years} 年为临时节假日安排",
    deferred_badge: "缓办", m_id: "编号", m_external_ref: "案卷号", m_title: "标题", m_report: "上报内容",
    m_grid: "地点", m_phone: "电话",
  },
  en: {
    title: "Operator console · live queue", filters: "Filters", state: "State", all: "All",
    live_states: "Live (not finished)", priority: "Priority", sla: "SLA", category: "Category", street: "Street",
    department: "Department", search: "Search titles", sort: "Sort", sort_priority: "Priority",
    sort_deadline: "Deadline", sort_newest: "Newest",
    keys: "Keys: j/k move, Enter open, / search, d dispatch, r reject, m merge, e escalate, c comment",
    queue: "Case queue", queue_caption: "Cases, in the chosen order", case: "Case", grid: "Grid",
    reports: "Reports", deadline: "Resolve by", detail: "Case detail", pick: "Pick a case from the queue",
    live: "Live", reconnecting: "Reconnecting…", denied: "No access to the live stream", timeline: "Timeline",
    report_list: "Reports", reasons: "Priority and routing reasons", new_p1: "New P1 case",
    hotspot: "Hotspot alert", unsatisfied: "Reporter not satisfied", count_of: "{n} cases", rework: "rework", escalation: "escalation",
    map: "Grid location map", photo: "Photo", evidence: "Resolution", dismiss: "Dismiss", open_case: "Open",
    signed_in_as: "Signed in: {name} ({role})", role_operator: "operator", role_admin: "admin",
    role_leader: "leader", role_department: "department", role_grid_worker: "grid worker",
    merged_into: "Merged into", map_legend: "Outlined: the case's grid; dots: where it was reported —",
    keys_basic: "Keys: j/k move, Enter open, / search", find: "Find cases",
    find_hint: "Case id, case number, words, address or grid name", find_phone: "Reporter phone (operators; logged)",
    find_go: "Find", find_clear: "Back to the queue", found_n: "{n} found", matched: "matched: ",
    select_case: "Select", select_all: "Select all", bulk: "Bulk action ({n} selected)", bulk_go: "Apply to selected",
    bulk_result: "{a} applied, {r} refused, {p} pending, {x} not found", bulk_note: "Reason or note",
    work: "Orders and extensions", open_orders: "Open supervision orders", pending_extensions: "Extensions to decide",
    overdue_order: "overdue", calendar: "SLA calendar", provisional: "{years}: provisional holiday schedule",
    deferred_badge: "deferred", m_id: "id", m_external_ref: "case number", m_title: "title", m_report: "report",
    m_grid: "place", m_phone: "phone",
  },
});

const PRIO = { P1: 1, P2: 2, P3: 3, P4: 4 };
const LIVE = ["open", "dispatched", "in_progress", "resolved"];
const HOTSPOT_TYPE = "org.gridhub.alert.hotspot";
const UNSATISFIED_TYPE = "org.gridhub.feedback.unsatisfied"; // 回访不满意: the duty office must handle it
const SEEN_KEY = "gridhub.console.seen-alerts";
const cases = new Map(); // id -> case
const lastPriority = new Map(); // id -> priority seen before (a P1 banner once per case)
const streamed = new Map(); // id -> the newest snapshot the live stream brought (bounded)
let categories = [];
let departments = [];
let grids = null;
let me = { role: "", name: "" };
let selected = null;
let stopStream = null;
let detailToken = 0;
let searching = null; // {q, phone} while the queue shows search results
const matchedBy = new Map(); // id -> what a search matched
const picked = new Set(); // ids selected for a bulk action

const catName = (code) => nameIn(categories, code);
const deptName = (code) => nameIn(departments, code);
const gridName = (code) => gridNameIn(grids, code);
const slaBadge = (s) => (s ? el("span", { class: `badge sla-${s}` }, t(s)) : "");
const prioBadge = (p) => el("span", { class: `badge prio-${p}`, title: `${t("priority")} ${p}` }, p || "");
const stateBadge = (s) => el("span", { class: `badge state-${s}` }, t(s));
const isCentre = () => ["operator", "admin"].includes(me.role);

// ---- queue --------------------------------------------------------------------------
function filterParams() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(document.getElementById("filters")))
    if (String(v).trim()) params.set(k, String(v).trim());
  return params;
}

function matches(c) {
  // The queue's filters, applied to live updates so the queue stays what it says.
  for (const [k, v] of filterParams()) {
    if (k === "state" && v === "live") { if (!LIVE.includes(c.state)) return false; continue; }
    if (k === "q") { if (!String(c.title || "").toLowerCase().includes(v.toLowerCase())) return false; continue; }
    if (k === "street") { if (String(c.street_code || c.grid_code || "").slice(0, 9) !== v) return false; continue; }
    if (k === "department") { if (!(c.lead_department === v || (c.departments || []).includes(v))) return false; continue; }
    if (String(c[k] ?? "") !== v) return false;
  }
  return true;
}

let queueToken = 0;
async function loadQueue() {
  if (searching) { await runSearch(); return; }
  const mine = ++queueToken; // answers to an older set of filters are dropped
  const params = filterParams();
  params.set("limit", "200");
  const wanted = params.get("state") === "live" ? LIVE : [params.get("state") || ""];
  try {
    const pages = await Promise.all(wanted.map((state) => {
      const p = new URLSearchParams(params);
      if (state) p.set("state", state); else p.delete("state");
      return api(`/api/v1/cases?${p}`).then((r) => r.data.items);
    }));
    if (mine !== queueToken) return;
    cases.clear();
    for (const c of pages.flat()) { cases.set(c.id, c); if (!lastPriority.has(c.id)) lastPriority.set(c.id, c.priority); }
    // The live stream can be a moment ahead of the database: its newer snapshots win.
    for (const c of streamed.values()) {
      const listed = cases.get(c.id);
      if (listed && listed.version >= c.version) continue;
      if (matches(c)) cases.set(c.id, c);
      else cases.delete(c.id);
    }
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
  else list.sort((a, b) => (PRIO[a.priority] || 9) - (PRIO[b.priority] || 9) || time(a.resolve_by) - time(b.resolve_by) || time(b.opened_at) - time(a.opened_at));
  return list;
}

function renderRows(flashId) {
  const body = clear(document.getElementById("rows"));
  const list = sorted();
  const counted = searching ? t("found_n") : t("count_of");
  document.getElementById("count").textContent = counted.replace("{n}", String(list.length));
  for (const c of list) {
    const pick = el("input", {
      type: "checkbox", class: "pick", "aria-label": `${t("select_case")} ${c.id}`, checked: picked.has(c.id),
      onclick: (e) => e.stopPropagation(),
      onchange: (e) => { if (e.target.checked) picked.add(c.id); else picked.delete(c.id); renderBulk(); },
    });
    const found = matchedBy.get(c.id);
    body.append(el("tr", {
      tabindex: 0, class: [c.id === selected ? "sel" : "", c.id === flashId ? "flash" : ""].join(" ").trim(),
      dataset: { case: c.id }, "aria-selected": c.id === selected ? "true" : "false",
      onclick: () => openCase(c.id), onkeydown: (e) => { if (e.key === "Enter") openCase(c.id); },
    },
    el("td", { class: "centre-only" }, pick),
    el("td", {}, prioBadge(c.priority)), el("td", {}, slaBadge(c.sla_state)), el("td", {}, stateBadge(c.state)),
    el("td", {}, el("div", {}, catName(c.category)), el("div", { class: "muted clip" }, c.title || ""),
      el("div", { class: "muted mono" }, c.id),
      found ? el("div", { class: "muted small" }, t("matched") + found.map((m) => t(`m_${m}`)).join("、")) : ""),
    el("td", { class: "wide-only" }, gridName(c.grid_code)), el("td", { class: "wide-only" }, deptName(c.lead_department) || "—"),
    el("td", { class: "wide-only" }, String(c.report_count ?? "")), el("td", {}, fmtTime(c.resolve_by))));
  }
}

// ---- search: id, case number, words, place — and a reporter's phone (operators, audited) --
async function runSearch() {
  const mine = ++queueToken;
  const params = new URLSearchParams({ limit: "200" });
  if (searching.q) params.set("q", searching.q);
  if (searching.phone) params.set("phone", searching.phone);
  const status = document.getElementById("find-status");
  try {
    const { data } = await api(`/api/v1/search?${params}`);
    if (mine !== queueToken) return;
    cases.clear();
    matchedBy.clear();
    for (const hit of data.items) { cases.set(hit.case.id, hit.case); matchedBy.set(hit.case.id, hit.matched); }
    status.className = "status info";
    status.textContent = t("found_n").replace("{n}", String(data.items.length));
    renderRows();
  } catch (err) {
    status.className = "status err";
    status.textContent = `${t("error")}: ${err.detail || err}`;
  }
}

function wireSearch() {
  const form = document.getElementById("find");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = document.getElementById("find-q").value.trim();
    const phone = document.getElementById("find-phone").value.trim();
    if (!q && !phone) return;
    searching = { q, phone };
    document.getElementById("find-clear").classList.remove("hidden");
    loadQueue();
  });
  document.getElementById("find-clear").addEventListener("click", () => {
    searching = null;
    matchedBy.clear();
    document.getElementById("find-clear").classList.add("hidden");
    document.getElementById("find-status").className = "status hidden";
    loadQueue();
  });
}

// ---- bulk: one action on the selected cases, answered per case ---------------------------
function renderBulk() {
  const bar = document.getElementById("bulk");
  const shown = document.getElementById("bulk-result").childElementCount; // the last answer stays
  bar.classList.toggle("hidden", (!picked.size && !shown) || !isCentre());
  document.getElementById("bulk-h").textContent = t("bulk").replace("{n}", String(picked.size));
  const into = document.getElementById("bulk-into");
  const keep = into.value;
  clear(into).append(...[...picked].map((id) => el("option", { value: id, selected: id === keep }, id)));
  const action = document.getElementById("bulk-action").value;
  document.getElementById("bulk-dept-field").classList.toggle("hidden", action !== "dispatch");
  document.getElementById("bulk-into-field").classList.toggle("hidden", action !== "merge");
  document.getElementById("bulk-note-field").classList.toggle("hidden", !["reject", "comment"].includes(action));
}

async function runBulk() {
  const action = document.getElementById("bulk-action").value;
  const note = document.getElementById("bulk-note").value.trim();
  const body = { action, cases: [...picked] };
  if (action === "dispatch") body.department = document.getElementById("bulk-dept").value || null;
  if (action === "reject") body.reason = note;
  if (action === "comment") body.note = note;
  if (action === "merge") {
    body.into = document.getElementById("bulk-into").value;
    body.cases = body.cases.filter((id) => id !== body.into);
  }
  const out = document.getElementById("bulk-result");
  if ((action === "reject" || action === "comment") && !note) { document.getElementById("bulk-note").focus(); return; }
  try {
    const { data } = await api("/api/v1/cases/actions", { method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() } });
    const n = data.counts || {};
    clear(out).append(
      el("p", { class: "status ok" }, t("bulk_result").replace("{a}", n.applied || 0).replace("{r}", n.refused || 0)
        .replace("{p}", n.pending || 0).replace("{x}", n.not_found || 0)),
      el("ul", { class: "list small" }, data.items.map((i) => el("li", { dataset: { case: i.case_id, status: i.status } },
        `${i.case_id} · ${i.status}${i.rule && i.status !== "applied" ? ` (${i.rule})` : ""}${i.reason ? ` · ${i.reason}` : ""}`))));
    picked.clear();
    renderBulk();
    loadQueue();
  } catch (err) {
    clear(out).append(el("p", { class: "status err" }, `${t("refused")}: ${err.detail || err}`));
  }
}

function fillBulk() {
  const dept = document.getElementById("bulk-dept");
  const keep = dept.value;
  clear(dept).append(el("option", { value: "" }, lang() === "en" ? "(by routing rules)" : "（按派遣规则）"),
    ...departments.map((d) => el("option", { value: d.code, selected: d.code === keep }, `${deptName(d.code)} (${d.code})`)));
}

// ---- the duty office's work: open orders, extensions to decide, the calendar -----------
let workToken = 0;
async function loadWork() {
  const mine = ++workToken;
  try {
    const [orders, extensions] = await Promise.all([
      api("/api/v1/orders?state=open").then((r) => r.data),
      api("/api/v1/extensions?state=pending").then((r) => r.data),
    ]);
    if (mine !== workToken) return;
    const now = new Date(orders.now).getTime();
    const item = (x, extra) => el("li", { tabindex: 0, dataset: { case: x.case_id, part: x.id },
      onclick: () => openCase(x.case_id), onkeydown: (e) => { if (e.key === "Enter") openCase(x.case_id); } },
    el("strong", {}, `${x.id} · ${catName(x.case.category)} · ${deptName(x.department)}`), " ", extra,
    el("div", { class: "muted mono" }, x.case_id));
    clear(document.getElementById("open-orders")).append(...(orders.items.length ? orders.items.map((o) => item(o,
      el("span", {}, `${t(`level_${o.level}`)} · ${t("reply_by")} ${fmtTime(o.reply_by)} `,
        new Date(o.reply_by).getTime() < now ? el("span", { class: "badge sla-overdue" }, t("overdue_order")) : "")))
      : [el("li", { class: "muted" }, t("none"))]));
    clear(document.getElementById("pending-extensions")).append(...(extensions.items.length ? extensions.items.map((x) => item(x,
      el("span", {}, `→ ${fmtTime(x.until)} · ${x.reason}`)))
      : [el("li", { class: "muted" }, t("none"))]));
  } catch { /* the console goes on without its work lists */ }
}

async function loadCalendar() {
  try {
    const { data } = await api("/api/v1/meta");
    const years = data.calendar.provisional_years || [];
    const note = document.getElementById("calendar-note");
    if (!years.length && !data.calendar.warning) { note.classList.add("hidden"); return; }
    note.classList.remove("hidden");
    note.dataset.years = years.join(",");
    clear(note).append(el("details", {},
      el("summary", {}, el("strong", {}, `${t("calendar")}：`), t("provisional").replace("{years}", years.join("、"))),
      data.calendar.warning ? el("div", { class: "small" }, data.calendar.warning) : ""));
  } catch { /* no calendar note */ }
}

// ---- banners: new P1 cases (live stream) and hotspots (the duty office's inbox) ---------
function seenAlerts() {
  try { return new Set(JSON.parse(sessionStorage.getItem(SEEN_KEY) || "[]")); } catch { return new Set(); }
}
const BANNER_TITLES = { p1: "new_p1", hotspot: "hotspot", unsatisfied: "unsatisfied" };

// inboxId: an inbox message the banner stands for; dismissing it marks it read
// (a 回访不满意 item is handled once the operator has seen it and acted).
function banner(id, kind, text, caseId, inboxId = null) {
  const seen = seenAlerts();
  if (seen.has(id) || document.querySelector(`[data-alert="${CSS.escape(id)}"]`)) return;
  const node = el("div", { class: `banner banner-${kind}`, role: "alert", dataset: { alert: id } },
    el("strong", {}, t(BANNER_TITLES[kind])), " ", text, " ",
    caseId ? el("button", { type: "button", onclick: () => openCase(caseId) }, t("open_case")) : "",
    el("button", { type: "button", "aria-label": t("dismiss"), onclick: () => {
      seen.add(id); sessionStorage.setItem(SEEN_KEY, JSON.stringify([...seen].slice(-200))); node.remove();
      if (inboxId) api(`/api/v1/me/inbox/${encodeURIComponent(inboxId)}/read`, { method: "POST" }).catch(() => {});
    } }, "×"));
  document.getElementById("banners").append(node);
}

async function pollAlerts() {
  if (!isCentre() && me.role !== "leader") return;
  try {
    const { data } = await api("/api/v1/me/inbox?limit=50");
    const since = Date.now() - 6 * 3600 * 1000;
    for (const m of data.items.slice().reverse()) {
      if (new Date(m.time).getTime() < since) continue;
      if (m.event_type === HOTSPOT_TYPE) banner(m.notification_id, "hotspot", m.subject || m.body, null);
      if (m.event_type === UNSATISFIED_TYPE && !m.read_at)
        banner(m.notification_id, "unsatisfied", m.body || m.subject, m.case_id, m.notification_id);
    }
  } catch { /* the queue goes on without banners */ }
}

// ---- live stream ------------------------------------------------------------------------
function onEvent(type, data) {
  if (type === "reset") { loadQueue(); return; }
  if (type !== "case" || !data || !data.case) return;
  const c = { ...data.case, id: data.case.id || data.case_id };
  if (searching && !cases.has(c.id)) return; // search results stay what was found
  const known = streamed.get(c.id);
  if (known && known.version > c.version) return; // a replayed, older change
  streamed.delete(c.id);
  streamed.set(c.id, c);
  if (streamed.size > 500) streamed.delete(streamed.keys().next().value);
  if (matches(c)) cases.set(c.id, c);
  else cases.delete(c.id);
  const before = lastPriority.get(c.id);
  lastPriority.set(c.id, c.priority);
  if (c.priority === "P1" && before !== "P1" && LIVE.includes(c.state))
    banner(`p1:${c.id}`, "p1", `${catName(c.category)} · ${gridName(c.grid_code)} · ${c.title || ""} · ${c.id}`, c.id);
  renderRows(c.id);
  if (c.id === selected) openCase(c.id, false, data.version);
  scheduleWork();
}

let workTimer = null;
function scheduleWork() { // a burst of live events reloads the work lists once
  if (workTimer) return;
  workTimer = setTimeout(() => { workTimer = null; loadWork(); }, 800);
}

// ---- detail -------------------------------------------------------------------------------
async function nearbyTargets(c) {
  // Live cases of the same category in the same street, nearest first.
  const params = new URLSearchParams({ category: c.category, street: String(c.grid_code || "").slice(0, 9), limit: "100" });
  let items = [];
  try { items = (await api(`/api/v1/cases?${params}`)).data.items; } catch { return []; }
  const here = c.location || gridCentre(grids, c.grid_code);
  return items
    .filter((o) => o.id !== c.id && ["open", "dispatched", "in_progress"].includes(o.state))
    .map((o) => ({ ...o, distance: metres(here, o.location || gridCentre(grids, o.grid_code)) }))
    .sort((a, b) => a.distance - b.distance);
}

async function openCase(id, focus = true, atLeastVersion = 0) {
  selected = id;
  const mine = ++detailToken;
  for (const row of document.querySelectorAll("#rows tr")) {
    row.classList.toggle("sel", row.dataset.case === id);
    row.setAttribute("aria-selected", row.dataset.case === id ? "true" : "false");
  }
  const pane = document.getElementById("detail");
  let c;
  // The live stream can be ahead of the database by a moment: wait for the version it announced.
  for (let attempt = 0; ; attempt++) {
    try {
      c = (await api(`/api/v1/cases/${encodeURIComponent(id)}`)).data;
    } catch (err) {
      if (mine === detailToken) clear(pane).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
      return;
    }
    if (c.version >= atLeastVersion || attempt >= 20) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (mine !== detailToken) return;
  }
  if (mine !== detailToken) return;
  const reports = c.reports || [];
  const points = reports.filter((r) => r.location).map((r) => ({ lat: r.location.lat, lon: r.location.lon, label: r.description || "" }));
  if (!points.length && c.location) points.push({ lat: c.location.lat, lon: c.location.lon, label: c.title || "" });
  const map = grids ? gridMap(grids, {
    width: 420, points, title: `${t("map")}: ${gridName(c.grid_code)}`,
    style: (f) => ((f.properties || {}).code === c.grid_code || (c.grid_codes || []).includes((f.properties || {}).code)
      ? { fill: "#f6c3bf", stroke: "#b3261e", strokeWidth: 2 } : {}),
  }) : "";
  const reasons = [...(c.priority_reasons || []), ...(c.routing_reasons || [])];
  const resolution = c.resolution || null;
  // A refresh of the same case with the same actions keeps the action form as it is:
  // whatever the operator is typing (or the photo picked) survives live updates.
  const previous = document.getElementById("action-form");
  const actions = (c.actions || []).join(",");
  const keep = previous && previous.dataset.case === c.id && previous.dataset.actions === actions;
  const form = keep ? previous : await actionPanel(c, {
    departments, deptName, gridName, nearbyTargets, me,
    onDone: (caseId, version) => { loadWork(); if (caseId === selected) openCase(caseId, false, version); },
  });
  if (mine !== detailToken) return;
  Object.assign(form.dataset, { case: c.id, actions });
  form.id = "action-form";
  clear(pane).append(
    el("h2", { id: "detail-h", tabindex: -1 }, `${catName(c.category)} · ${c.id}`),
    el("p", {}, c.title || ""),
    el("div", { class: "row" }, prioBadge(c.priority), slaBadge(c.sla_state), stateBadge(c.state),
      c.rework_count ? el("span", { class: "badge" }, `${t("rework")} ${c.rework_count}`) : "",
      c.escalation_level ? el("span", { class: "badge" }, `${t("escalation")} ${c.escalation_level}`) : "",
      c.merged_into ? el("span", { class: "badge" }, `${t("merged_into")} ${c.merged_into}`) : "",
      c.deferred_at ? el("span", { class: "badge" }, t("deferred_badge")) : ""),
    el("p", { class: "muted" }, `${t("grid")} ${gridName(c.grid_code)} (${c.grid_code}) · ${t("department")} ${deptName(c.lead_department) || "—"} · ${t("respond_by")} ${fmtTime(c.respond_by) || "—"} · ${t("resolve_by")} ${fmtTime(c.resolve_by) || "—"}`),
    el("h3", {}, t("tasks")), taskTable(c, deptName),
    map, map ? el("p", { class: "muted small" }, `${t("map_legend")} ${gridName(c.grid_code)}`) : "",
    el("h3", {}, t("actions")), form,
    partsLists(c, deptName),
    el("h3", {}, t("reasons")),
    el("ul", { class: "list", id: "reasons" }, reasons.length ? reasons.map((r) => el("li", {}, r)) : el("li", { class: "muted" }, t("none"))),
    resolution ? el("h3", {}, t("evidence")) : "",
    resolution ? el("div", { id: "resolution" }, el("p", {}, resolution.note || ""), (resolution.media || []).map((m) => mediaImg(m, t("photo")))) : "",
    el("h3", {}, `${t("report_list")} (${reports.length})`),
    el("ul", { class: "list", id: "report-list" }, reports.map((r) => el("li", {},
      el("div", {}, r.description || ""),
      el("div", { class: "muted" }, `${fmtTime(r.occurred_at || r.received_at)} · ${r.submitted_by || r.source || ""}${r.reporter ? ` · ${r.reporter.name || ""} ${r.reporter.phone || ""}` : ""}`),
      el("div", {}, (r.media || []).map((m) => mediaImg(m, `${t("photo")} ${r.id}`)))))),
    el("h3", {}, t("timeline")), timelineList(c),
  );
  if (focus) document.getElementById("detail-h").focus();
}

// ---- keyboard -------------------------------------------------------------------------------
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const rows = [...document.querySelectorAll("#rows tr")];
  const index = rows.findIndex((r) => r === document.activeElement || r.dataset.case === selected);
  if (e.key === "j" || e.key === "k") {
    const next = rows[Math.max(0, Math.min(rows.length - 1, index + (e.key === "j" ? 1 : -1)))];
    if (next) next.focus();
    return;
  }
  if (e.key === "/") { e.preventDefault(); document.getElementById("f-q").focus(); return; }
  const keys = { d: "act-department", r: "act-reason", m: "act-into", e: "do-escalate", c: "act-note" };
  if (keys[e.key] && document.getElementById(keys[e.key])) { e.preventDefault(); document.getElementById(keys[e.key]).focus(); }
}

// ---- start ------------------------------------------------------------------------------------
function fillFilters() {
  const catSelect = document.getElementById("f-category");
  const keep = catSelect.value;
  catSelect.length = 1;
  for (const c of categories) catSelect.append(el("option", { value: c.code, selected: c.code === keep }, catName(c.code)));
  const streets = new Map();
  for (const f of (grids && grids.features) || []) {
    const p = f.properties || {};
    if (p.street_code) streets.set(p.street_code, p.street_name || p.street_code);
  }
  const streetSelect = document.getElementById("f-street");
  const keepStreet = streetSelect.value;
  streetSelect.length = 1;
  for (const [code, name] of streets) streetSelect.append(el("option", { value: code, selected: code === keepStreet }, name));
  const deptSelect = document.getElementById("f-department");
  const keepDept = deptSelect.value;
  deptSelect.length = 1;
  for (const d of departments) deptSelect.append(el("option", { value: d.code, selected: d.code === keepDept }, deptName(d.code)));
}

async function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  try {
    me = await profile();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setToken(""); location.reload(); return; }
  }
  document.getElementById("who").textContent = t("signed_in_as").replace("{name}", me.name || "").replace("{role}", t(`role_${me.role}`));
  const keysHint = document.querySelector("[data-i18n='keys']");
  if (!isCentre()) keysHint.dataset.i18n = "keys_basic";
  document.body.classList.toggle("centre", isCentre());
  document.getElementById("find-phone-field").classList.toggle("hidden", !isCentre());
  applyI18n();
  try {
    [categories, grids, departments] = await Promise.all([
      api("/api/v1/categories").then((r) => r.data), api("/api/v1/grids").then((r) => r.data),
      api("/api/v1/departments").then((r) => r.data)]);
  } catch { /* the queue still works without reference data */ }
  fillFilters();
  fillBulk();
  await loadQueue();
  loadWork();
  loadCalendar();
  const live = document.getElementById("live");
  stopStream = streamEvents("/api/v1/stream/cases", onEvent, (s) => {
    live.textContent = t(s);
    live.dataset.state = s;
    live.className = `badge ${s === "live" ? "sla-on_track" : "sla-warning"}`;
    if (s === "live") loadQueue(); // anything missed while (re)connecting
  });
  pollAlerts();
  setInterval(pollAlerts, 20000);
}

function init() {
  applyI18n();
  wireHeader(() => {
    fillFilters(); fillBulk(); renderRows(); renderBulk(); loadWork(); loadCalendar();
    document.getElementById("who").textContent = t("signed_in_as").replace("{name}", me.name || "").replace("{role}", t(`role_${me.role}`));
    const live = document.getElementById("live");
    if (live.dataset.state) live.textContent = t(live.dataset.state);
    if (selected) openCase(selected, false);
  });
  document.getElementById("filters").addEventListener("change", loadQueue);
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); loadQueue(); });
  document.getElementById("sort").addEventListener("change", () => renderRows());
  wireSearch();
  document.getElementById("bulk-action").addEventListener("change", renderBulk);
  document.getElementById("bulk-go").addEventListener("click", runBulk);
  document.getElementById("pick-all").addEventListener("change", (e) => {
    for (const id of cases.keys()) if (e.target.checked) picked.add(id); else picked.delete(id);
    renderRows();
    renderBulk();
  });
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

// /console/ — the operator's live queue (and a department's view of its own cases):
// filters, sort, live updates over SSE, a detail pane with the grid map, reports,
// photos, reasons and timeline, and the actions the signed-in role may take.
// Keyboard: j/k move, Enter open, / search, d/r/m/e/c jump to an action.
import {
  addStrings, api, ApiError, applyI18n, clear, el, fmtTime, getToken, gridCentre, gridMap, lang,
  mediaImg, metres, profile, setToken, streamEvents, t, wireHeader,
  gridNameIn, nameIn,
} from "./common.js";

addStrings({
  zh: {
    title: "值班坐席 · 实时案件队列", filters: "筛选", state: "状态", all: "全部", live_states: "在办（全部未结）",
    priority: "优先级", sla: "时限状态", category: "类别", street: "街道", department: "部门", search: "标题搜索",
    sort: "排序", sort_priority: "优先级", sort_deadline: "处置时限", sort_newest: "最新",
    keys: "键盘：j/k 上下移动，Enter 打开，/ 搜索，d 派遣，r 驳回，m 合并，e 督办升级，c 备注",
    queue: "案件队列", queue_caption: "案件列表，按所选方式排序", case: "案件", grid: "网格", reports: "上报数",
    deadline: "处置时限", detail: "案件详情", pick: "从队列中选择一个案件", live: "实时", reconnecting: "重连中…",
    denied: "无权访问实时流", timeline: "时间线", report_list: "上报记录", reasons: "定级与派遣依据",
    actions: "操作", dispatch: "派遣", reject: "驳回（不予立案）", merge: "合并到", escalate: "督办升级",
    comment: "备注", reason: "原因", note: "备注内容", into: "合并目标（附近同类案件）", done: "已提交",
    pending_answer: "已发送，等待处理结果", new_p1: "新的 P1 紧急案件", hotspot: "热点预警", unsatisfied: "回访不满意", count_of: "共 {n} 件",
    rework: "返工", escalation: "升级", respond_by: "响应时限", resolve_by: "处置时限", map: "网格位置图",
    photo: "照片", accept: "签收", return: "退回（非本部门职责）", resolve: "办结并反馈",
    resolve_note: "处置说明", resolve_photo: "处置照片", evidence: "处置反馈", refused: "被拒绝",
    no_targets: "附近没有可合并的同类案件", metres_away: "约 {n} 米", dismiss: "关闭提示", open_case: "打开",
    signed_in_as: "当前：{name}（{role}）", role_operator: "坐席", role_admin: "管理员", role_leader: "领导",
    role_department: "部门", role_grid_worker: "网格员", merged_into: "已合并到", read_only: "只读查看",
    t_opened: "立案", t_report_attached: "追加上报", t_dispatched: "派遣", t_accepted: "签收", t_returned: "退回",
    t_resolved: "办结", t_verified: "核查", t_reworked: "返工", t_closed: "结案", t_rejected: "不予立案",
    t_merged: "合并", t_escalated: "升级", t_commented: "备注", t_rated: "评价", t_reprioritised: "调整优先级",
    t_supervised: "督办", t_reopened: "重新打开", map_legend: "红框为案件所在网格，圆点为上报位置：",
    keys_basic: "键盘：j/k 上下移动，Enter 打开，/ 搜索",
    verify_note: "核查说明（不通过时必填）", verify_pass: "核查通过", verify_fail: "核查不通过",
    reopen: "重新打开（返工）", reprioritise: "调整优先级", rate: "评价", score: "满意度",
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
    report_list: "Reports", reasons: "Priority and routing reasons", actions: "Actions", dispatch: "Dispatch",
    reject: "Reject", merge: "Merge into", escalate: "Escalate", comment: "Comment", reason: "Reason",
    note: "Note", into: "Target case (nearby, same category)", done: "Done",
    pending_answer: "Sent; waiting for the answer", new_p1: "New P1 case", hotspot: "Hotspot alert", unsatisfied: "Reporter not satisfied",
    count_of: "{n} cases", rework: "rework", escalation: "escalation", respond_by: "Respond by",
    resolve_by: "Resolve by", map: "Grid location map", photo: "Photo", accept: "Accept",
    return: "Return (not ours)", resolve: "Resolve with evidence", resolve_note: "What was done",
    resolve_photo: "Photo of the fix", evidence: "Resolution", refused: "Refused",
    no_targets: "No nearby case of this category to merge into", metres_away: "≈ {n} m", dismiss: "Dismiss",
    open_case: "Open", signed_in_as: "Signed in: {name} ({role})", role_operator: "operator",
    role_admin: "admin", role_leader: "leader", role_department: "department", role_grid_worker: "grid worker",
    merged_into: "Merged into", read_only: "Read only",
    t_opened: "opened", t_report_attached: "report attached", t_dispatched: "dispatched", t_accepted: "accepted",
    t_returned: "returned", t_resolved: "resolved", t_verified: "verified", t_reworked: "reworked",
    t_closed: "closed", t_rejected: "rejected", t_merged: "merged", t_escalated: "escalated",
    t_commented: "comment", t_rated: "rated", t_reprioritised: "reprioritised", t_supervised: "supervised",
    t_reopened: "reopened", map_legend: "Outlined: the case's grid; dots: where it was reported —",
    keys_basic: "Keys: j/k move, Enter open, / search",
    verify_note: "Verification note (required for a fail)", verify_pass: "Verified: pass",
    verify_fail: "Verified: fail", reopen: "Reopen (rework)", reprioritise: "Reprioritise", rate: "Rate",
    score: "Satisfaction",
  },
});

const PRIO = { P1: 1, P2: 2, P3: 3, P4: 4 };
const PAST = {
  dispatch: "t_dispatched", reject: "t_rejected", merge: "t_merged", escalate: "t_escalated",
  comment: "t_commented", accept: "t_accepted", return: "t_returned", resolve: "t_resolved",
  verify: "t_verified", reopen: "t_reopened", reprioritise: "t_reprioritised", rate: "t_rated",
};
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
  document.getElementById("count").textContent = t("count_of").replace("{n}", String(list.length));
  for (const c of list) {
    body.append(el("tr", {
      tabindex: 0, class: [c.id === selected ? "sel" : "", c.id === flashId ? "flash" : ""].join(" ").trim(),
      dataset: { case: c.id }, "aria-selected": c.id === selected ? "true" : "false",
      onclick: () => openCase(c.id), onkeydown: (e) => { if (e.key === "Enter") openCase(c.id); },
    },
    el("td", {}, prioBadge(c.priority)), el("td", {}, slaBadge(c.sla_state)), el("td", {}, stateBadge(c.state)),
    el("td", {}, el("div", {}, catName(c.category)), el("div", { class: "muted clip" }, c.title || ""),
      el("div", { class: "muted mono" }, c.id)),
    el("td", {}, gridName(c.grid_code)), el("td", {}, deptName(c.lead_department) || "—"),
    el("td", {}, String(c.report_count ?? "")), el("td", {}, fmtTime(c.resolve_by))));
  }
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

function sender(c, status) {
  return async (body) => {
    status.className = "status info";
    status.textContent = "…";
    try {
      const { status: code, data } = await api(`/api/v1/cases/${encodeURIComponent(c.id)}/actions`, {
        method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      status.className = "status ok";
      status.textContent = code === 202 ? t("pending_answer") : `${t("done")}: ${t(PAST[body.action] || body.action)}`;
      status.dataset.result = code === 202 ? "pending" : "done";
    } catch (err) {
      status.className = "status err";
      status.dataset.result = "error";
      status.textContent = `${t("refused")}: ${err.detail || err}`;
    }
  };
}

const field = (id, label, input) => [el("label", { for: id }, label), input];

// A form for each action the server lists in case.actions (the case policy in
// schemas/policy.py decides who may do what, when): the console keeps no copy of
// the state machine or the role rules, it only knows how to ask for each action.
async function dispatchForm(c, send) {
  const dept = el("select", { id: "act-department" },
    el("option", { value: "" }, lang() === "en" ? "(by routing rules)" : "（按派遣规则）"),
    departments.map((d) => el("option", { value: d.code, selected: d.code === c.lead_department }, `${deptName(d.code)} (${d.code})`)));
  return el("div", { class: "action" }, ...field("act-department", t("department"), dept),
    el("button", { type: "button", class: "primary", id: "do-dispatch", onclick: () => send({ action: "dispatch", department: dept.value || null }) }, t("dispatch")));
}

function reasonForm(action, inputId, buttonClass) {
  return (c, send) => {
    const reason = el("input", { id: inputId, type: "text", maxlength: 1000 });
    const go = () => { if (reason.value.trim()) send({ action, reason: reason.value.trim() }); else reason.focus(); };
    return el("div", { class: "action" }, ...field(inputId, t("reason"), reason),
      el("button", { type: "button", class: buttonClass, id: `do-${action}`, onclick: go }, t(action)));
  };
}

async function mergeForm(c, send) {
  const targets = await nearbyTargets(c);
  const into = el("select", { id: "act-into" },
    targets.length ? targets.map((o) => el("option", { value: o.id },
      `${o.id} · ${t(o.state)} · ${gridName(o.grid_code)} · ${Number.isFinite(o.distance) ? t("metres_away").replace("{n}", String(Math.round(o.distance))) : ""} · ${o.title || ""}`))
      : el("option", { value: "" }, t("no_targets")));
  return el("div", { class: "action" }, ...field("act-into", t("into"), into),
    el("button", { type: "button", id: "do-merge", disabled: !targets.length, onclick: () => into.value && send({ action: "merge", into: into.value }) }, t("merge")));
}

function acceptForm(c, send) {
  return el("button", { type: "button", class: "primary", id: "do-accept", onclick: () => send({ action: "accept" }) }, t("accept"));
}

function resolveForm(c, send, status) {
  const note = el("textarea", { id: "act-resolve-note", maxlength: 2000 });
  const photo = el("input", { id: "act-resolve-photo", type: "file", accept: "image/jpeg,image/png,image/webp" });
  const go = async () => {
    if (!note.value.trim()) { note.focus(); return; }
    const media = [];
    try {
      if (photo.files[0]) {
        const form = new FormData();
        form.append("file", photo.files[0]);
        media.push((await api("/api/v1/media", { method: "POST", body: form })).data.id);
      }
    } catch (err) { status.className = "status err"; status.textContent = `${t("refused")}: ${err.detail || err}`; return; }
    send({ action: "resolve", note: note.value.trim(), media });
  };
  return el("div", { class: "action" }, ...field("act-resolve-note", t("resolve_note"), note),
    ...field("act-resolve-photo", t("resolve_photo"), photo),
    el("button", { type: "button", class: "primary", id: "do-resolve", onclick: go }, t("resolve")));
}

function verifyForm(c, send) {
  const note = el("input", { id: "act-verify-note", type: "text", maxlength: 1000 });
  const verify = (passed) => {
    const text = note.value.trim();
    if (!passed && !text) { note.focus(); return; }
    send(passed ? { action: "verify", passed, note: text || null } : { action: "verify", passed, reason: text, note: text });
  };
  return el("div", { class: "action" }, ...field("act-verify-note", t("verify_note"), note),
    el("div", { class: "row" },
      el("button", { type: "button", class: "primary", id: "do-verify-pass", onclick: () => verify(true) }, t("verify_pass")),
      el("button", { type: "button", class: "danger", id: "do-verify-fail", onclick: () => verify(false) }, t("verify_fail"))));
}

function reopenForm(c, send) {
  return el("button", { type: "button", id: "do-reopen", onclick: () => send({ action: "reopen" }) }, t("reopen"));
}

function reprioritiseForm(c, send) {
  const priority = el("select", { id: "act-priority" },
    Object.keys(PRIO).map((p) => el("option", { value: p, selected: p === c.priority }, p)));
  return el("div", { class: "action" }, ...field("act-priority", t("priority"), priority),
    el("button", { type: "button", id: "do-reprioritise", onclick: () => send({ action: "reprioritise", priority: priority.value }) }, t("reprioritise")));
}

function rateForm(c, send) {
  const score = el("select", { id: "act-score" }, [5, 4, 3, 2, 1].map((n) => el("option", { value: n }, "★".repeat(n))));
  return el("div", { class: "action" }, ...field("act-score", t("score"), score),
    el("button", { type: "button", id: "do-rate", onclick: () => send({ action: "rate", score: Number(score.value) }) }, t("rate")));
}

// Escalate and comment share one note field.
function noteForm(actions, send) {
  const note = el("input", { id: "act-note", type: "text", maxlength: 2000 });
  const buttons = [];
  if (actions.includes("escalate"))
    buttons.push(el("button", { type: "button", id: "do-escalate", onclick: () => send({ action: "escalate", note: note.value.trim() || null }) }, t("escalate")));
  if (actions.includes("comment"))
    buttons.push(el("button", { type: "button", id: "do-comment", onclick: () => { if (note.value.trim()) send({ action: "comment", note: note.value.trim() }); else note.focus(); } }, t("comment")));
  return el("div", { class: "action" }, ...field("act-note", t("note"), note), el("div", { class: "row" }, ...buttons));
}

const ACTION_FORMS = {
  dispatch: dispatchForm,
  accept: acceptForm,
  resolve: resolveForm,
  verify: verifyForm,
  return: reasonForm("return", "act-return-reason", "danger"),
  reject: reasonForm("reject", "act-reason", "danger"),
  merge: mergeForm,
  reopen: reopenForm,
  reprioritise: reprioritiseForm,
  rate: rateForm,
};

async function actionForm(c) {
  const status = el("p", { class: "status hidden", role: "status", id: "act-status" });
  const send = sender(c, status);
  const actions = c.actions || [];
  const parts = [];
  for (const action of actions)
    if (ACTION_FORMS[action]) parts.push(await ACTION_FORMS[action](c, send, status));
  if (actions.includes("escalate") || actions.includes("comment")) parts.push(noteForm(actions, send));
  if (!parts.length) parts.push(el("p", { class: "muted" }, t("read_only")));
  return el("div", {}, ...parts, status);
}

function eventText(e) {
  const d = e.data || {};
  const bits = [];
  for (const key of ["department", "into", "reason", "note", "passed", "priority", "score", "mark", "report_id"])
    if (d[key] !== undefined && d[key] !== null && d[key] !== "") bits.push(`${key}: ${typeof d[key] === "object" ? JSON.stringify(d[key]) : d[key]}`);
  return bits.join(" · ");
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
  const form = keep ? previous : await actionForm(c);
  if (mine !== detailToken) return;
  Object.assign(form.dataset, { case: c.id, actions });
  form.id = "action-form";
  clear(pane).append(
    el("h2", { id: "detail-h", tabindex: -1 }, `${catName(c.category)} · ${c.id}`),
    el("p", {}, c.title || ""),
    el("div", { class: "row" }, prioBadge(c.priority), slaBadge(c.sla_state), stateBadge(c.state),
      c.rework_count ? el("span", { class: "badge" }, `${t("rework")} ${c.rework_count}`) : "",
      c.escalation_level ? el("span", { class: "badge" }, `${t("escalation")} ${c.escalation_level}`) : "",
      c.merged_into ? el("span", { class: "badge" }, `${t("merged_into")} ${c.merged_into}`) : ""),
    el("p", { class: "muted" }, `${t("grid")} ${gridName(c.grid_code)} (${c.grid_code}) · ${t("department")} ${deptName(c.lead_department) || "—"} · ${t("respond_by")} ${fmtTime(c.respond_by) || "—"} · ${t("resolve_by")} ${fmtTime(c.resolve_by) || "—"}`),
    map, map ? el("p", { class: "muted small" }, `${t("map_legend")} ${gridName(c.grid_code)}`) : "",
    el("h3", {}, t("actions")), form,
    el("h3", {}, t("reasons")),
    el("ul", { class: "list", id: "reasons" }, reasons.length ? reasons.map((r) => el("li", {}, r)) : el("li", { class: "muted" }, t("none"))),
    resolution ? el("h3", {}, t("evidence")) : "",
    resolution ? el("div", { id: "resolution" }, el("p", {}, resolution.note || ""), (resolution.media || []).map((m) => mediaImg(m, t("photo")))) : "",
    el("h3", {}, `${t("report_list")} (${reports.length})`),
    el("ul", { class: "list", id: "report-list" }, reports.map((r) => el("li", {},
      el("div", {}, r.description || ""),
      el("div", { class: "muted" }, `${fmtTime(r.occurred_at || r.received_at)} · ${r.submitted_by || r.source || ""}${r.reporter ? ` · ${r.reporter.name || ""} ${r.reporter.phone || ""}` : ""}`),
      el("div", {}, (r.media || []).map((m) => mediaImg(m, `${t("photo")} ${r.id}`)))))),
    el("h3", {}, t("timeline")),
    el("ol", { class: "list", id: "timeline" }, (c.timeline || []).map((e) => el("li", {},
      el("strong", {}, `v${e.version} ${t(`t_${e.type}`)}`), ` · ${fmtTime(e.time)} · ${e.actor_name || e.actor || ""}`,
      eventText(e) ? el("div", { class: "muted" }, eventText(e)) : ""))),
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
  applyI18n();
  try {
    [categories, grids, departments] = await Promise.all([
      api("/api/v1/categories").then((r) => r.data), api("/api/v1/grids").then((r) => r.data),
      api("/api/v1/departments").then((r) => r.data)]);
  } catch { /* the queue still works without reference data */ }
  fillFilters();
  await loadQueue();
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
    fillFilters(); renderRows();
    document.getElementById("who").textContent = t("signed_in_as").replace("{name}", me.name || "").replace("{role}", t(`role_${me.role}`));
    const live = document.getElementById("live");
    if (live.dataset.state) live.textContent = t(live.dataset.state);
    if (selected) openCase(selected, false);
  });
  document.getElementById("filters").addEventListener("change", loadQueue);
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); loadQueue(); });
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
